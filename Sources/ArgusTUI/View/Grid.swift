import Shared

/// The screen as plain data: every panel draws into a `Grid`, and the terminal backend only blits it.
/// That makes every panel testable by rendering into a grid and comparing text.

public enum Color: UInt8, Sendable, CaseIterable {
    case none = 0
    case red, green, yellow, blue, magenta, cyan, white, black
}

public struct Style: Equatable, Sendable {
    public var fg: Color = .none
    public var bold = false
    public var dim = false
    public var reverse = false
    public var underline = false

    public init(
        fg: Color = .none, bold: Bool = false, dim: Bool = false, reverse: Bool = false,
        underline: Bool = false
    ) {
        self.fg = fg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    public static let plain = Style()
    public static let dimmed = Style(dim: true)
    public static let bold = Style(bold: true)
    public static func fg(_ c: Color, bold: Bool = false) -> Style { Style(fg: c, bold: bold) }
}

public struct Cell: Equatable, Sendable {
    /// The scalar shown; `nil` marks the right half of a double-width character.
    public var scalar: Unicode.Scalar?
    public var style: Style
    /// Combining marks drawn on `scalar` (é written as e + U+0301), at most `Cell.maxMarks`: curses keeps a
    /// few per cell, and more only stack into an unreadable smear.
    public var marks: [Unicode.Scalar] = []

    public static let maxMarks = 3

    public static let blank = Cell(scalar: " ", style: .plain)
}

public struct Rect: Equatable, Sendable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }

    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var isEmpty: Bool { width <= 0 || height <= 0 }

    /// Splits off `rows` rows from the top; returns (top, rest).
    public func takeTop(_ rows: Int) -> (Rect, Rect) {
        let r = min(max(0, rows), height)
        return (
            Rect(x: x, y: y, width: width, height: r),
            Rect(x: x, y: y + r, width: width, height: height - r)
        )
    }

    public func takeBottom(_ rows: Int) -> (Rect, Rect) {
        let r = min(max(0, rows), height)
        return (
            Rect(x: x, y: y + height - r, width: width, height: r),
            Rect(x: x, y: y, width: width, height: height - r)
        )
    }

    public func inset(dx: Int, dy: Int) -> Rect {
        Rect(x: x + dx, y: y + dy, width: width - 2 * dx, height: height - 2 * dy)
    }
}

public struct Grid: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
    }

    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            cells[y * width + x] = newValue
        }
    }

    public mutating func set(_ x: Int, _ y: Int, _ scalar: Unicode.Scalar, _ style: Style) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        cells[y * width + x] = Cell(scalar: scalar, style: style)
    }

    public mutating func fill(_ r: Rect, _ scalar: Unicode.Scalar = " ", _ style: Style = .plain) {
        for yy in max(0, r.y)..<min(height, r.maxY) {
            for xx in max(0, r.x)..<min(width, r.maxX) {
                cells[yy * width + xx] = Cell(scalar: scalar, style: style)
            }
        }
    }

    /// Writes `text` at (x, y), clipped to `maxWidth` columns (and the grid). Returns the columns used.
    /// Control characters show as spaces; double-width characters take two columns.
    @discardableResult
    public mutating func put(
        _ x: Int, _ y: Int, _ text: String, _ style: Style = .plain, maxWidth: Int? = nil
    ) -> Int {
        guard y >= 0, y < height else { return 0 }
        let limit = min(maxWidth ?? width, width - x)
        var col = 0
        // The cell the last character of this text went to, which a following combining mark joins.
        var base: Int? = nil
        for s in text.unicodeScalars {
            if s == "\t" {
                base = nil
                // A tab reaches the next tab stop of the text, like a terminal's, clipped to the space given.
                let stop = min(limit, col + TextWidth.tabWidth(at: col))
                while col < stop {
                    if x + col >= 0 { cells[y * width + x + col] = Cell(scalar: " ", style: style) }
                    col += 1
                }
                if col >= limit { break }
                continue
            }
            let w = TextWidth.of(s)
            if w == 0 {
                if TextWidth.isCombining(s), let b = base, cells[b].marks.count < Cell.maxMarks {
                    cells[b].marks.append(s)
                }
                continue
            }
            if col + w > limit { break }
            // The one gate between text from the network and the terminal: controls (C0, DEL, C1) and bidi
            // overrides/isolates/marks become spaces, so no line can move the cursor, ring, or reorder the row.
            let shown: Unicode.Scalar = TerminalText.isControl(s) ? " " : s
            base = nil
            if x + col >= 0 {
                cells[y * width + x + col] = Cell(scalar: shown, style: style)
                if shown == s { base = y * width + x + col }
                if w == 2, x + col + 1 < width {
                    cells[y * width + x + col + 1] = Cell(scalar: nil, style: style)
                }
            }
            col += w
        }
        return col
    }

    /// For terminals without UTF-8: every non-ASCII glyph becomes its ASCII stand-in (or '?').
    public mutating func downgradeToASCII() {
        let map: [UInt32: Unicode.Scalar] = [
            0x2026: ".", 0x00B7: "|", 0x2502: "|", 0x2500: "-", 0x2501: "-", 0x250C: "+", 0x2510: "+",
            0x2514: "+", 0x2518: "+",
            0x2524: "+", 0x25CF: "*", 0x25CC: "~", 0x2715: "x", 0x2717: "x", 0x2713: "+", 0x25D0: "*",
            0x25A0: "#", 0x00D7: "x",
            0x2191: "^", 0x2193: "v", 0x2190: "<", 0x2192: ">", 0x258F: "_", 0x26A0: "!", 0x2014: "-", 0x2013: "-",
        ]
        for i in cells.indices {
            cells[i].marks = []
            // The right half of a double-width character, which is now one column: a space, so the renderer
            // writes it (left empty, the terminal's old character there would stay).
            guard let sc = cells[i].scalar else {
                cells[i].scalar = " "
                continue
            }
            guard sc.value > 0x7E else { continue }
            cells[i].scalar = map[sc.value] ?? "?"
        }
    }

    /// The grid as text, one line per row, trailing spaces trimmed: what `--dump` prints and tests compare.
    public var text: String {
        var lines: [String] = []
        lines.reserveCapacity(height)
        for y in 0..<height {
            var line = String.UnicodeScalarView()
            for x in 0..<width {
                guard let s = cells[y * width + x].scalar else { continue }
                line.append(s)
                line.append(contentsOf: cells[y * width + x].marks)
            }
            var str = String(line)
            while str.last == " " { str.removeLast() }
            lines.append(str)
        }
        return lines.joined(separator: "\n")
    }

    public func row(_ y: Int) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[y]
    }

    /// Style of the first cell of the first occurrence of `needle`, for tests that check colours.
    public func style(of needle: String) -> Style? {
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (y, r) in rows.enumerated() {
            if let range = r.firstRange(of: needle) {
                let col = TextWidth.of(String(r[r.startIndex..<range.lowerBound]))
                return self[col, y].style
            }
        }
        return nil
    }
}

/// Terminal column widths, without depending on the process locale.
public enum TextWidth {
    /// The mark a cut text ends with (or begins with, or has in its middle): "…", and "..." on an ASCII terminal,
    /// where a one-column "…" would become a "." that reads as a full stop (`del.kappa`, "…the disk is f."). Every cut
    /// below uses it; `ScreenView.render` sets it for its frame.
    @TaskLocal public static var cutMark = "…"

    /// `cutMark`, or as much of it as `width` columns hold.
    static func cutMark(within width: Int) -> String { fitting(cutMark, width) }

    /// A mark, or as much of it as `width` columns hold (the marks are ASCII or one column wide).
    static func fitting(_ mark: String, _ width: Int) -> String {
        of(mark) <= width ? mark : String(mark.unicodeScalars.prefix(max(0, width)))
    }

    /// Code points terminals draw two columns wide (East Asian Wide/Fullwidth), sorted for a binary search:
    /// CJK and Hangul, and the emoji with Emoji_Presentation (🚀 ✅ ⚡ …), which counted as one column
    /// let a log line overflow its pane.
    static let wide: [ClosedRange<UInt32>] = [
        0x1100...0x115F, 0x231A...0x231B, 0x23E9...0x23EC, 0x23F0...0x23F0, 0x23F3...0x23F3,
        0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F...0x267F, 0x2693...0x2693,
        0x26A1...0x26A1, 0x26AA...0x26AB, 0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE...0x26CE,
        0x26D4...0x26D4, 0x26EA...0x26EA, 0x26F2...0x26F3, 0x26F5...0x26F5, 0x26FA...0x26FA,
        0x26FD...0x26FD, 0x2705...0x2705, 0x270A...0x270B, 0x2728...0x2728, 0x274C...0x274C,
        0x274E...0x274E, 0x2753...0x2755, 0x2757...0x2757, 0x2795...0x2797, 0x27B0...0x27B0,
        0x27BF...0x27BF, 0x2B1B...0x2B1C, 0x2B50...0x2B50, 0x2B55...0x2B55, 0x2E80...0xA4CF,
        0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
        0x1F200...0x1F2FF,
        0x20000...0x3FFFD,
    ]

    static func isWide(_ v: UInt32) -> Bool {
        var lo = 0
        var hi = wide.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if v < wide[mid].lowerBound {
                hi = mid - 1
            } else if v > wide[mid].upperBound {
                lo = mid + 1
            } else {
                return true
            }
        }
        return false
    }

    public static func of(_ s: Unicode.Scalar) -> Int {
        let v = s.value
        if v < 0x300 { return v == 0 ? 0 : 1 }
        // Bidi controls are format characters too, but `Grid.put` draws every control as a space, visibly.
        if TerminalText.isControl(s) { return 1 }
        if isCombining(s) || isInvisible(s) { return 0 }
        if v < 0x1100 { return 1 }
        // The pictographs' plane: two columns for what Unicode shows as emoji by default (🟢 🆗 🀄 🚀), one for the
        // text-style symbols among them (🖥 🛠 🌡) and the regional indicators a flag is made of, as libc and
        // tmux measure them.
        if (0x1F000...0x1FAFF).contains(v), !(0x1F200...0x1F2FF).contains(v) {
            return s.properties.isEmojiPresentation && !(0x1F1E6...0x1F1FF).contains(v) ? 2 : 1
        }
        return isWide(v) ? 2 : 1
    }

    /// Invisible characters, drawn as nothing (`Grid.put` skips them): format characters and Unicode's default
    /// ignorables — zero-width space and joiners, word joiner, the byte-order mark (the first line of a file
    /// written on Windows), interlinear annotation marks, tags, variation selectors, Hangul fillers, musical and
    /// hieroglyph format controls. Terminals disagree on their width (tmux gives some a column), so a row that kept
    /// them would be misaligned and leave stray characters behind; one that never sends them cannot be.
    static func isInvisible(_ s: Unicode.Scalar) -> Bool {
        guard s.value >= 0x300 else { return false }
        let p = s.properties
        return p.isDefaultIgnorableCodePoint || p.generalCategory == .format
    }

    /// Combining marks of every script (Unicode's nonspacing and enclosing marks: Latin diacritics, Devanagari
    /// viramas and vowel signs, Thai, Hebrew and Arabic points …): no column of their own, drawn on the character
    /// before them, as terminals do.
    /// (Variation selectors and the combining grapheme joiner are marks too, but invisible: never drawn.)
    public static func isCombining(_ s: Unicode.Scalar) -> Bool {
        guard s.value >= 0x300 else { return false }
        let p = s.properties
        switch p.generalCategory {
        case .nonspacingMark, .enclosingMark: return !p.isDefaultIgnorableCodePoint
        default: return false
        }
    }

    /// Columns a tab at column `col` of a text takes: up to the next multiple of 8.
    public static func tabWidth(at col: Int) -> Int { 8 - col % 8 }

    public static func of(_ s: String) -> Int {
        var col = 0
        for c in s.unicodeScalars { col += c == "\t" ? tabWidth(at: col) : of(c) }
        return col
    }

    /// `s` with its tabs expanded to spaces, for text measured and cut column by column (log lines).
    public static func expandingTabs(_ s: String) -> String {
        guard s.utf8.contains(0x09) else { return s }
        var out = String.UnicodeScalarView()
        var col = 0
        for c in s.unicodeScalars {
            if c == "\t" {
                let n = tabWidth(at: col)
                out.append(contentsOf: repeatElement(" ", count: n))
                col += n
            } else {
                out.append(c)
                col += of(c)
            }
        }
        return String(out)
    }

    /// Cuts `s` to `width` columns by taking out its middle (`exp-2026-…-seed3`), so ids that share a prefix
    /// stay apart and both ends stay readable.
    public static func truncateMiddle(_ s: String, _ width: Int) -> String {
        guard width > 1 else { return width == 1 && !s.isEmpty ? (of(s) <= 1 ? s : cutMark(within: 1)) : "" }
        if of(s) <= width { return s }
        let mark = cutMark(within: width - 1)
        let tailWidth = (width - of(mark)) / 2
        let headWidth = width - of(mark) - tailWidth
        func take(_ scalars: some Sequence<Unicode.Scalar>, _ limit: Int) -> [Unicode.Scalar] {
            var out: [Unicode.Scalar] = []
            var col = 0
            for c in scalars {
                if col + of(c) > limit { break }
                out.append(c)
                col += of(c)
            }
            return out
        }
        let head = take(s.unicodeScalars, headWidth)
        // A mark that combined with a character cut away does not sit on the "…".
        let tail = take(s.unicodeScalars.reversed(), tailWidth).reversed().drop { of($0) == 0 }
        return String(String.UnicodeScalarView(head)) + mark + String(String.UnicodeScalarView(Array(tail)))
    }

    /// A path in `width` columns: its last component whole where it fits (`/home/alice/…/run-42`), the columns
    /// before it from the start; otherwise `truncateMiddle`.
    public static func truncatePath(_ path: String, _ width: Int) -> String {
        let s = expandingTabs(path)
        guard of(s) > width else { return s }
        guard let slash = s.lastIndex(of: "/"), slash > s.startIndex else { return truncateMiddle(s, width) }
        let last = String(s[slash...])
        let headRoom = width - 1 - of(last)
        guard headRoom >= 4 else { return truncateMiddle(s, width) }
        return truncate(String(s[..<slash]), headRoom + 1) + last
    }

    /// Cuts `s` to `width` columns, ending with `ellipsis` (as much of it as fits) when cut.
    public static func truncate(_ s: String, _ width: Int, ellipsis: String = cutMark) -> String {
        guard width > 0 else { return "" }
        if of(s) <= width { return s }
        var out = String.UnicodeScalarView()
        var col = 0
        let ellipsis = fitting(ellipsis, width)
        let ew = of(ellipsis)
        for c in s.unicodeScalars {
            let w = of(c)
            if col + w > width - ew { break }
            out.append(c)
            col += w
        }
        return String(out) + ellipsis
    }

    /// Cuts a sentence to `width` columns after its last whole word that fits, ending with `ellipsis` right after
    /// it ("the volume…", not "the vo…" or "the …"); a first word wider than that is cut where the room ends.
    public static func truncateAtWord(_ s: String, _ width: Int, ellipsis: String = cutMark) -> String {
        if of(s) <= width { return s }
        var head = Substring(truncate(s, max(0, width - of(ellipsis)), ellipsis: ""))
        // Unless the text went on with a space right there, the last word is cut: drop it.
        let next = s.unicodeScalars.dropFirst(head.unicodeScalars.count).first
        if next != " ", let space = head.lastIndex(of: " "), head[..<space].contains(where: { $0 != " " }) {
            head = head[..<space]
        }
        // Nor a comma or colon that led into what was cut ("failed,…" reads as a list going on).
        while let last = head.last, last == " " || ",;:".contains(last) { head = head.dropLast() }
        return head.isEmpty ? truncate(s, width, ellipsis: ellipsis) : head + ellipsis
    }

    /// Cuts `s` to `width` columns from its start, beginning with "…" when cut: its end stays (a caret after it). Whole
    /// characters go, so a flag's two code points stay together.
    public static func truncateStart(_ s: String, _ width: Int) -> String {
        guard width > 0, of(s) > width else { return width > 0 ? s : "" }
        let mark = cutMark(within: width)
        var (kept, start) = (0, s.endIndex)
        for i in s.indices.reversed() {
            let w = of(String(s[i]))
            if kept + w > width - of(mark) { break }
            (kept, start) = (kept + w, i)
        }
        return mark + s[start...]
    }
}

extension TextWidth {
    /// `s` without its first `columns` columns (a double-width character cut in half goes entirely).
    public static func drop(_ s: String, columns: Int) -> String {
        guard columns > 0 else { return s }
        var col = 0
        var rest = s.unicodeScalars[...]
        while let c = rest.first, col < columns {
            col += of(c)
            rest = rest.dropFirst()
        }
        // Zero-width marks that belonged to a dropped character go with it.
        while let c = rest.first, of(c) == 0 { rest = rest.dropFirst() }
        return String(String.UnicodeScalarView(rest))
    }

    /// `s` cut into rows of at most `width` columns with every character kept, spaces included (text to select
    /// by hand across rows); a zero-width mark stays with the character before it.
    public static func chop(_ s: String, _ width: Int) -> [String] {
        guard width > 0 else { return [] }
        var rows: [String] = []
        var line = String.UnicodeScalarView()
        var used = 0
        for c in s.unicodeScalars {
            let w = of(c)
            if used + w > width, !line.isEmpty {
                rows.append(String(line))
                line = String.UnicodeScalarView()
                used = 0
            }
            line.append(c)
            used += w
        }
        if !line.isEmpty { rows.append(String(line)) }
        return rows
    }

    /// Word-wraps `s` into rows of at most `width` columns: breaks at spaces where it can, inside a word
    /// where it must, and at every newline. With `maxRows`, the last row kept ends with "…" if text was left.
    public static func wrap(_ s: String, _ width: Int, maxRows: Int = .max) -> [String] {
        guard width > 0, maxRows > 0 else { return [] }
        var rows: [String] = []
        for paragraph in s.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String.UnicodeScalarView()
            var lineWidth = 0
            var lastSpace: String.UnicodeScalarView.Index? = nil
            var broke = false
            let scalars = Array(paragraph.unicodeScalars)
            for (i, c) in scalars.enumerated() {
                // A tab is as wide as `put` draws it: to the next tab stop of its row.
                var w = c == "\t" ? tabWidth(at: lineWidth) : of(c)
                if c == " ", lineWidth + w > width {
                    // The row is full at a space: break right there.
                    rows.append(String(line))
                    line = String.UnicodeScalarView()
                    lineWidth = 0
                    lastSpace = nil
                    broke = true
                    continue
                }
                while lineWidth + w > width, !line.isEmpty {
                    // A word wider than a row is broken where the room ends, not first moved to a row of its own
                    // (a long path); so is text in wide characters (Chinese, Japanese), which may break between any
                    // two of them and has no spaces to break at.
                    let wide = of(c) > 1 || line.last.map { of($0) > 1 } == true
                    let wordFits =
                        !wide
                        && lastSpace.map { sp in
                            let tail = of(String(String.UnicodeScalarView(line[line.index(after: sp)...])))
                            let rest = scalars[i...].prefix { $0 != " " && $0 != "\t" }.reduce(0) { $0 + of($1) }
                            return tail + rest <= width
                        } ?? false
                    if let sp = lastSpace, wordFits {
                        // Break after the last space; what follows it starts the next row.
                        rows.append(String(String.UnicodeScalarView(line[..<sp])))
                        line = String.UnicodeScalarView(line[line.index(after: sp)...])
                        lineWidth = of(String(line))
                    } else {
                        rows.append(String(line))
                        line = String.UnicodeScalarView()
                        lineWidth = 0
                    }
                    lastSpace = nil
                    broke = true
                    if c == "\t" { w = tabWidth(at: lineWidth) }
                }
                // A space where a row was broken is not carried to the start of the next one.
                if c == " " && line.isEmpty && broke { continue }
                if c == " " { lastSpace = line.endIndex }
                line.append(c)
                lineWidth += w
            }
            rows.append(String(line))
        }
        while rows.count > 1, rows.last?.isEmpty == true { rows.removeLast() }
        guard rows.count > maxRows else { return rows }
        var kept = Array(rows.prefix(maxRows))
        // The last row kept says text was left: after its last word where the mark fits, else after the last word
        // that leaves it room.
        var last = Substring(kept[maxRows - 1])
        while last.last == " " { last = last.dropLast() }
        let mark = cutMark
        kept[maxRows - 1] =
            of(String(last)) + of(mark) <= width ? last + mark : truncateAtWord(last + " " + rows[maxRows], width)
        return kept
    }
}
