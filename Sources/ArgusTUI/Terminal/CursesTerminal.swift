import CNcursesw
import FoundationEssentials
import Glibc

/// The ncursesw backend: blits a `Grid` (only the cells that changed) and decodes keys.
/// Touched from the UI thread only.
final class CursesTerminal {
    private var previous: Grid?
    let colors: Bool
    private(set) var started = false

    /// Why the screen cannot be drawn on this terminal, in one sentence.
    struct Unusable: Error, CustomStringConvertible {
        var description: String
    }

    /// `colors` false honours NO_COLOR (attributes like bold and reverse still work). Throws, with nothing
    /// written to the terminal, when `TERM` is unknown or names a terminal that cannot move the cursor.
    init(colors wanted: Bool) throws(Unusable) {
        let term = ProcessInfo.processInfo.environment["TERM"].flatMap { $0.isEmpty ? nil : $0 }
        switch cn_start() {
        case 0: break
        case 1:
            throw Unusable(
                description: (term.map { "the terminal type '\($0)' is not known here (no terminfo entry)" }
                    ?? "TERM is not set, so the terminal type is unknown")
                    + "; set TERM (e.g. xterm-256color), or use --dump for one plain-text frame.")
        default:
            throw Unusable(
                description:
                    "this terminal (TERM=\(term ?? "")) cannot move the cursor, so the live screen cannot be drawn; "
                    + "use a full-screen terminal (e.g. TERM=xterm-256color), or --dump for one plain-text frame.")
        }
        started = true
        cbreak()
        noecho()
        _ = nonl()
        keypad(cn_stdscr(), true)
        // Home and End as tmux, screen, rxvt and the Linux console send them, where TERM's entry does not list them
        // (tmux run with TERM=xterm-256color inside sends ESC [4~ for End: read as Esc, it left the screen).
        let homeEnd: [(String, Int32)] = [
            ("\u{1B}[1~", KEY_HOME), ("\u{1B}[4~", KEY_END), ("\u{1B}[7~", KEY_HOME), ("\u{1B}[8~", KEY_END),
            ("\u{1B}[H", KEY_HOME), ("\u{1B}[F", KEY_END), ("\u{1B}OH", KEY_HOME), ("\u{1B}OF", KEY_END),
        ]
        for (sequence, key) in homeEnd where key_defined(sequence) == 0 { _ = define_key(sequence, key) }
        nodelay(cn_stdscr(), true)
        set_escdelay(25)
        _ = curs_set(0)  // ERR on some terminals; harmless
        var useColors = false
        if wanted, has_colors() {
            start_color()
            use_default_colors()
            let map: [(Color, Int32)] = [
                (.red, COLOR_RED), (.green, COLOR_GREEN), (.yellow, COLOR_YELLOW), (.blue, COLOR_BLUE),
                (.magenta, COLOR_MAGENTA), (.cyan, COLOR_CYAN), (.white, COLOR_WHITE),
                (.black, COLOR_BLACK),
            ]
            for (c, curses) in map { init_pair(Int16(c.rawValue), Int16(curses), -1) }
            useColors = true
        }
        colors = useColors
    }

    var size: (width: Int, height: Int) { (Int(cn_cols()), Int(cn_lines())) }

    func restore() {
        guard started else { return }
        started = false
        endwin()
    }

    /// Draws `grid`, writing only cells that differ from the last frame, then one `doupdate`.
    func draw(_ grid: Grid) {
        let full = previous == nil || previous!.width != grid.width || previous!.height != grid.height
        if full { erase() }
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let cell = grid[x, y]
                if !full, previous![x, y] == cell { continue }
                guard let scalar = cell.scalar else { continue }
                var attr = cn_A_NORMAL()
                if cell.style.bold { attr |= cn_A_BOLD() }
                if cell.style.dim { attr |= cn_A_DIM() }
                if cell.style.reverse { attr |= cn_A_REVERSE() }
                if cell.style.underline { attr |= cn_A_UNDERLINE() }
                let pair: Int16 = colors ? Int16(cell.style.fg.rawValue) : 0
                func mark(_ i: Int) -> wchar_t { i < cell.marks.count ? wchar_t(bitPattern: cell.marks[i].value) : 0 }
                _ = cn_put_cell(Int32(y), Int32(x), wchar_t(bitPattern: scalar.value), mark(0), mark(1), mark(2), attr, pair)
            }
        }
        previous = grid
        wnoutrefresh(cn_stdscr())
        doupdate()
    }

    /// Writes an escape sequence straight to the terminal, outside curses (OSC 52). Curses has flushed by now.
    func writeRaw(_ s: String) {
        let bytes = Array(s.utf8)
        bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
    }

    /// Forces a full repaint on the next draw (after a resize).
    func invalidate() { previous = nil }

    enum Input {
        case key(Key)
        case resize
    }

    /// Reads every pending key (non-blocking).
    func readInput() -> [Input] {
        var out: [Input] = []
        var ch: wint_t = 0
        while true {
            let rc = get_wch(&ch)
            if rc == ERR { break }
            if rc == KEY_CODE_YES {
                switch Int32(ch) {
                case cn_key_resize(): out.append(.resize)
                case KEY_UP: out.append(.key(.up))
                case KEY_DOWN: out.append(.key(.down))
                case KEY_LEFT: out.append(.key(.left))
                case KEY_RIGHT: out.append(.key(.right))
                case KEY_PPAGE: out.append(.key(.pageUp))
                case KEY_NPAGE: out.append(.key(.pageDown))
                case KEY_HOME: out.append(.key(.home))
                case KEY_END: out.append(.key(.end))
                case KEY_ENTER: out.append(.key(.enter))
                case KEY_BACKSPACE: out.append(.key(.backspace))
                default: out.append(.key(.other))
                }
                continue
            }
            switch ch {
            case 27: out.append(.key(.escape))
            case 13, 10: out.append(.key(.enter))
            case 127, 8: out.append(.key(.backspace))
            case 9: out.append(.key(.tab))
            case 3: out.append(.key(.ctrlC))
            default:
                if let s = Unicode.Scalar(UInt32(ch)), ch >= 32 { out.append(.key(.char(Character(s)))) } else { out.append(.key(.other)) }
            }
        }
        return out
    }
}

/// Whether the terminal can show UTF-8 (braille) glyphs: the locale's codeset after `setlocale`.
func terminalIsUTF8() -> Bool {
    guard let cs = cn_codeset() else { return false }
    let name = String(cString: cs).uppercased()
    return name == "UTF-8" || name == "UTF8"
}
