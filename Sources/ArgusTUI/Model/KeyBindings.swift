/// A key press, decoded by the terminal backend.
public enum Key: Equatable, Hashable, Sendable {
    case char(Character)
    case up, down, left, right, pageUp, pageDown, home, end, enter, escape, backspace, tab
    case ctrlC
    /// A key nothing is bound to (a function key, Insert, Delete, a control character): it cancels a prompt and
    /// closes an overlay, as the prompt's "any other key" says, and does nothing else.
    case other
}

public enum Command: Equatable, Sendable {
    case quit, interrupt, help, back, open, up, down, pageUp, pageDown, top, bottom, scrollLeft, scrollRight,
        filter, ema, emaFactor, logScale, toggleSeries, chooseSeries, gpus, sort, sortInvert, mark, compare,
        unmarkAll, export
    case stop, rerun, share, copyCommand, openRerun, markFailed
}

extension Command {
    /// Stop, Rerun, Mark failed, Share and Copy command: what a read-only view refuses (`Update.tryAction`).
    var actsOnTheRun: Bool {
        switch self {
        case .stop, .rerun, .share, .markFailed, .copyCommand: return true
        default: return false
        }
    }
}

/// The screens a binding acts on: `lists` are the picker and the batch screen, `charts` the job screen and the
/// compare overlay.
public struct KeyContext: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let picker = KeyContext(rawValue: 1)
    public static let batch = KeyContext(rawValue: 2)
    public static let job = KeyContext(rawValue: 4)
    public static let compare = KeyContext(rawValue: 8)
    public static let lists: KeyContext = [.picker, .batch]
    public static let charts: KeyContext = [.job, .compare]
    public static let everywhere: KeyContext = [.picker, .batch, .job, .compare]

    static func of(_ screen: Screen) -> KeyContext {
        switch screen {
        case .batches: return .picker
        case .jobs: return .batch
        case .job: return .job
        case .compare: return .compare
        }
    }
}

public struct KeyBinding: Sendable {
    public var keys: [Key]
    public var label: String
    /// What it does, in the words of the screens it is listed on (`listed`).
    public var help: String
    public var context: KeyContext
    public var command: Command
    /// Where the `?` overlay lists it, when that is not everywhere it acts: sorting and marks act on the picker
    /// only to say that they are the batch screen's.
    public var listed: KeyContext? = nil
}

/// The one table that both dispatches keys and generates the `?` overlay; the first binding that matches wins.
/// Actions that change a run (Stop, Rerun) sit on letters never used for navigation, and ask first.
public enum KeyBindings {
    public static let all: [KeyBinding] = [
        KeyBinding(
            keys: [.char("q")], label: "q", help: "quit", context: .everywhere, command: .quit),
        KeyBinding(
            keys: [.ctrlC], label: "Ctrl-C", help: "quit (exit status 130, like any interrupted program)",
            context: .everywhere, command: .interrupt),
        KeyBinding(
            keys: [.char("?")], label: "?", help: "this help", context: .everywhere, command: .help),
        // On the job screen the arrows scroll long log lines; Esc still goes back.
        KeyBinding(
            keys: [.right], label: "→", help: "scroll long log lines right (read past the edge)", context: .job,
            command: .scrollRight),
        KeyBinding(
            keys: [.left], label: "←", help: "scroll log lines back left", context: .job, command: .scrollLeft),
        KeyBinding(
            keys: [.escape, .left], label: "Esc", help: "clear the filter", context: .picker, command: .back),
        KeyBinding(
            keys: [.escape, .left], label: "Esc", help: "back to the picker (← too; a filter is cleared first)",
            context: .batch, command: .back),
        KeyBinding(
            keys: [.escape], label: "Esc", help: "back to the batch screen (a search is cleared first)",
            context: .job, command: .back),
        KeyBinding(
            keys: [.escape, .left], label: "Esc", help: "back to where C was pressed (← too)", context: .compare,
            command: .back),
        KeyBinding(
            keys: [.enter, .right], label: "Enter", help: "open the selected batch (→ too)", context: .picker,
            command: .open),
        KeyBinding(
            keys: [.enter, .right], label: "Enter", help: "open the selected job (→ too)", context: .batch,
            command: .open),
        KeyBinding(keys: [.up, .char("k")], label: "↑/k", help: "move up", context: .lists, command: .up),
        KeyBinding(keys: [.down, .char("j")], label: "↓/j", help: "move down", context: .lists, command: .down),
        KeyBinding(keys: [.up, .char("k")], label: "↑/k", help: "scroll the log up", context: .job, command: .up),
        KeyBinding(
            keys: [.down, .char("j")], label: "↓/j", help: "scroll the log down", context: .job, command: .down),
        KeyBinding(keys: [.pageUp], label: "PgUp", help: "page up", context: .lists, command: .pageUp),
        KeyBinding(keys: [.pageDown], label: "PgDn", help: "page down", context: .lists, command: .pageDown),
        KeyBinding(
            keys: [.pageUp], label: "PgUp", help: "scroll the log a page up (past the top: older lines from the server)",
            context: .job, command: .pageUp),
        KeyBinding(
            keys: [.pageDown], label: "PgDn", help: "scroll the log a page down", context: .job, command: .pageDown),
        KeyBinding(keys: [.home], label: "Home", help: "first row", context: .lists, command: .top),
        KeyBinding(keys: [.end], label: "End", help: "last row", context: .lists, command: .bottom),
        KeyBinding(
            keys: [.home], label: "Home", help: "older log lines (a page from the server each time)", context: .job,
            command: .top),
        KeyBinding(
            keys: [.end], label: "End", help: "newest log line: follow the tail again", context: .job, command: .bottom),
        KeyBinding(
            keys: [.char("/")], label: "/", help: "search the job's whole log (Enter keeps, Esc clears)",
            context: .job, command: .filter),
        KeyBinding(
            keys: [.char("/")], label: "/", help: "filter the list as you type (Enter keeps, Esc clears)",
            context: .lists, command: .filter),
        KeyBinding(
            keys: [.char("<"), .char(">"), .char(","), .char(".")], label: "< >",
            help: "sort by the column to the left / right (, and . too)", context: .lists, command: .sort,
            listed: .batch),
        KeyBinding(
            keys: [.char("I")], label: "I", help: "invert the sort order", context: .lists, command: .sortInvert,
            listed: .batch),
        KeyBinding(
            keys: [.char(" ")], label: "Space", help: "mark the job for comparing (marks stay across batches)",
            context: .lists, command: .mark, listed: .batch),
        KeyBinding(
            keys: [.char("C")], label: "C", help: "compare the marked jobs' curves on one chart", context: .lists,
            command: .compare),
        KeyBinding(keys: [.char("u")], label: "u", help: "unmark every job", context: .lists, command: .unmarkAll),
        KeyBinding(
            keys: [.char("e")], label: "e", help: "EMA smoothing on the chart, on/off", context: .charts,
            command: .ema),
        KeyBinding(
            keys: [.char("E")], label: "E",
            help: "EMA smoothing factor: "
                + ChartScale.smoothingFactors.map(ChartScale.label).joined(separator: " → ") + " (turns it on)",
            context: .charts, command: .emaFactor),
        KeyBinding(
            keys: [.char("g")], label: "g", help: "log-scale y axis", context: .charts, command: .logScale),
        KeyBinding(
            keys: [.char("G")], label: "G", help: "GPUs panel: util, memory, temperature and history per GPU",
            context: .job, command: .gpus),
        KeyBinding(
            keys: (1...9).map { .char(Character(String($0))) }, label: "1-9",
            help: "show/hide chart series 1-9 (see legend)", context: .job, command: .toggleSeries),
        KeyBinding(
            keys: (1...9).map { .char(Character(String($0))) }, label: "1-9", help: "show/hide job 1-9 (see legend)",
            context: .compare, command: .toggleSeries),
        KeyBinding(
            keys: [.char("m")], label: "m", help: "choose chart series from a list (any number)", context: .job,
            command: .chooseSeries),
        KeyBinding(
            keys: [.char("m")], label: "m", help: "choose the metric the jobs are compared on", context: .compare,
            command: .chooseSeries),
        KeyBinding(
            keys: [.char("s")], label: "s", help: "Stop the batch (asks first)", context: .job,
            command: .stop),
        KeyBinding(
            keys: [.char("r")], label: "r", help: "Rerun the batch on its host (asks first)",
            context: .job, command: .rerun),
        KeyBinding(
            keys: [.char("F")], label: "F",
            help: "mark a dead run Failed (when stalled or stopping; asks first)", context: .job,
            command: .markFailed),
        KeyBinding(
            keys: [.char("S")], label: "S", help: "Share: mint a read-only link", context: .job,
            command: .share),
        KeyBinding(
            keys: [.char("c")], label: "c", help: "Copy the run's command (OSC 52)", context: .job,
            command: .copyCommand),
        KeyBinding(
            keys: [.char("x")], label: "x", help: "export the job's epochs (every key) to BATCH_JOB.csv here",
            context: .job, command: .export),
        KeyBinding(keys: [.char("o")], label: "o", help: "open the batch a rerun started as", context: .job, command: .openRerun),
    ]

    /// The bindings the `?` overlay lists on `screen`: those listed there. A read-only view (a share link,
    /// `--readonly`) leaves out the keys that act on the run or share it, which it refuses.
    /// A share link's view (`pinned`) leaves out opening a rerun's batch too (the link shows its one batch), and the
    /// batch screen's way back (there is none).
    static func shown(on screen: Screen, readOnly: Bool, pinned: Bool = false) -> [KeyBinding] {
        all.filter {
            applies($0.listed ?? $0.context, on: screen) && !(readOnly && $0.command.actsOnTheRun)
                && !(pinned && ($0.command == .openRerun || ($0.command == .back && KeyContext.of(screen) == .batch)))
        }
    }

    /// A label or help text without arrow glyphs, for an ASCII terminal: drawn as < > ^ v, they would read as those
    /// keys (and < and > sort the batch screen). Arrows between values (the EMA factors) are left to the glyph table.
    static func asciiWords(_ text: String) -> String {
        var t = text
        for (glyph, word) in [("↑", "Up"), ("↓", "Down"), ("← too", "Left too"), ("→ too", "Right too")] {
            t = t.replacing(glyph, with: word)
        }
        if t == "←" { return "Left" }
        if t == "→" { return "Right" }
        return t
    }

    /// What a key that does nothing on `screen` does elsewhere, or that it does nothing, as a sentence; nil for a key
    /// that is no character (a function key, a stray sequence), which stays silent.
    static func elsewhere(_ key: Key, from screen: Screen) -> String? {
        guard case .char(let c) = key, !c.isWhitespace else { return nil }
        guard let b = all.first(where: { $0.keys.contains(key) }) else { return "\(c) does nothing here: ? lists the keys." }
        let places = [(KeyContext.picker, "batch list"), (.batch, "batch screen"), (.job, "job screen"), (.compare, "compare overlay")]
            .filter { b.context.contains($0.0) }.map(\.1)
        return "\(b.label) works on the \(places.joined(separator: " and ")) (\(b.help)); ? lists this screen's keys."
    }

    static func lookup(_ key: Key, on screen: Screen) -> KeyBinding? {
        all.first { b in b.keys.contains(key) && applies(b.context, on: screen) }
    }

    static func applies(_ context: KeyContext, on screen: Screen) -> Bool { context.contains(.of(screen)) }
}
