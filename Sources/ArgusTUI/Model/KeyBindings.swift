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

/// Where a binding applies: `charts` on the job screen and the compare overlay alike.
public enum KeyContext: Sendable { case everywhere, lists, job, charts }

public struct KeyBinding: Sendable {
    public var keys: [Key]
    public var label: String
    public var help: String
    public var context: KeyContext
    public var command: Command
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
            keys: [.escape, .left], label: "Esc", help: "back / close (← too, in lists)", context: .everywhere,
            command: .back),
        KeyBinding(
            keys: [.enter, .right], label: "Enter", help: "open the selected batch or job",
            context: .lists, command: .open),
        KeyBinding(
            keys: [.up, .char("k")], label: "↑/k", help: "move up (lists) / scroll the log up",
            context: .everywhere, command: .up),
        KeyBinding(
            keys: [.down, .char("j")], label: "↓/j", help: "move down / scroll the log down",
            context: .everywhere, command: .down),
        KeyBinding(
            keys: [.pageUp], label: "PgUp", help: "page up", context: .everywhere, command: .pageUp),
        KeyBinding(
            keys: [.pageDown], label: "PgDn", help: "page down", context: .everywhere, command: .pageDown),
        KeyBinding(
            keys: [.home], label: "Home", help: "first item / older log lines (a page from the server each time)",
            context: .everywhere, command: .top),
        KeyBinding(
            keys: [.end], label: "End", help: "newest log line: follow the tail again",
            context: .everywhere, command: .bottom),
        KeyBinding(
            keys: [.char("/")], label: "/", help: "search the job's whole log (Enter keeps, Esc clears)",
            context: .job, command: .filter),
        KeyBinding(
            keys: [.char("/")], label: "/", help: "filter the list as you type (Enter keeps, Esc clears)",
            context: .lists, command: .filter),
        KeyBinding(
            keys: [.char("<"), .char(">"), .char(","), .char(".")], label: "< >",
            help: "sort the batch screen by the column to the left / right", context: .lists, command: .sort),
        KeyBinding(
            keys: [.char("I")], label: "I", help: "invert the sort order", context: .lists, command: .sortInvert),
        KeyBinding(
            keys: [.char(" ")], label: "Space", help: "mark the job for comparing (marks stay across batches)",
            context: .lists, command: .mark),
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
            help: "show/hide chart series 1-9 (see legend; jobs on the compare overlay)", context: .charts,
            command: .toggleSeries),
        KeyBinding(
            keys: [.char("m")], label: "m",
            help: "choose chart series from a list (any number; the compared metric on the overlay)",
            context: .charts, command: .chooseSeries),
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

    /// The bindings the `?` overlay lists on `screen`: those that act there. A read-only view (a share link,
    /// `--readonly`) leaves out the keys that act on the run or share it, which it refuses.
    /// A share link's view (`pinned`) leaves out opening a rerun's batch too: the link shows its one batch.
    static func shown(on screen: Screen, readOnly: Bool, pinned: Bool = false) -> [KeyBinding] {
        all.filter {
            applies($0.context, on: screen) && !(readOnly && $0.command.actsOnTheRun)
                && !(pinned && $0.command == .openRerun)
        }
    }

    static func lookup(_ key: Key, on screen: Screen) -> KeyBinding? {
        all.first { b in b.keys.contains(key) && applies(b.context, on: screen) }
    }

    static func applies(_ context: KeyContext, on screen: Screen) -> Bool {
        switch (context, screen) {
        case (.everywhere, _), (.job, .job), (.charts, .job), (.charts, .compare): return true
        case (.lists, .batches), (.lists, .jobs): return true
        default: return false
        }
    }
}
