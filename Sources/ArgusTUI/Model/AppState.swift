import Foundation
import Shared

public enum ConnectionState: Equatable, Sendable {
    case connecting
    case live
    case reconnecting(attempt: Int, reason: String)
    case offline(String)
}

public enum Screen: Equatable, Sendable {
    /// Recent batches, running first.
    case batches
    /// The jobs of one batch.
    case jobs(String)
    /// One job's detail screen.
    case job
}

public struct BatchRow: Equatable, Sendable {
    public var id: String
    public var project: String
    public var status: String
    public var host: String
    public var nDone: Int
    public var nFailed: Int
    public var nTotal: Int?
    public var lastActivity: String

    init(_ j: JSON) {
        id = j["id"]?.stringValue ?? "?"
        project = j["project"]?.stringValue ?? ""
        status = j["status"]?.stringValue ?? ""
        host = j["host"]?.stringValue ?? ""
        nDone = j["n_done"]?.intValue ?? 0
        nFailed = j["n_failed"]?.intValue ?? 0
        nTotal = j["n_total"]?.intValue
        lastActivity = j["last_activity"]?.stringValue ?? ""
    }

    static let activeFirst: [String: Int] = ["running": 0, "stalled": 1, "stopping": 2]
}

public struct JobRow: Equatable, Sendable {
    public var id: String
    public var status: String
    public var model: String
    public var epoch: Int?
    public var trainLoss: Double?
    public var valLoss: Double?

    init(_ j: JSON) {
        id = j["id"]?.stringValue ?? "?"
        let t = j["telemetry"] ?? .null
        status = t["status"]?.stringValue ?? j["status"]?.stringValue ?? ""
        model = j["model"]?.stringValue ?? ""
        epoch = t["epoch"]?.intValue
        trainLoss = t["train_loss"]?.doubleValue
        valLoss = t["val_loss"]?.doubleValue
    }
}

public enum Glyphs: Sendable { case braille, ascii }

/// Everything the screen is drawn from. Only `update` changes it.
public struct AppState: Sendable {
    public var screen: Screen
    public var width = 80
    public var height = 24
    public var glyphs: Glyphs = .braille
    public var color = true
    public var readOnly = false
    /// False for `--dump`: one frame with no keys, so it must not offer any.
    public var interactive = true
    /// Set for share links: the one batch this view may show (Esc never leaves it).
    public var pinnedBatch: String?
    public var serverLabel = ""

    public var batches: [BatchRow] = []
    public var batchesLoaded = false
    public var batchCursor = 0
    public var jobs: [JobRow] = []
    public var jobsLoaded = false
    public var jobCursor = 0

    public var job: JobData?
    public var connection: ConnectionState = .connecting
    /// Unix seconds of the last event (or load) from the server; the header shows its age.
    public var lastEventAt: Double?
    public var now: Double = Date().timeIntervalSince1970

    public var hiddenSeries: Set<String> = []
    public var shownExtras: Set<String> = []
    public var ema = false
    public var logY = false
    public var chartBounds: ClosedRange<Double>?
    /// The series chooser's cursor (an index into the series names) while it is open.
    public var chooserCursor: Int?

    /// Lines scrolled up from the bottom of the log; 0 follows the tail.
    public var logScroll = 0
    public var filter = ""
    public var filterEditing = false
    public var showHelp = false
    /// Rows the help overlay is scrolled down, when the terminal is too short for every key.
    public var helpScroll = 0
    public var status: String?
    public var statusIsError = false
    public var statusUntil: Double = 0
    /// A banner for guardrails firing while you watch (idle, stall).
    public var banner: String?
    /// An action waiting for `y` (Stop and Rerun ask first).
    public var confirming: Command?
    /// Text shown in a popup for manual selection (the copied command).
    public var popup: (title: String, text: String)?

    public init(screen: Screen) { self.screen = screen }

    /// The chart's visible series, in legend order.
    public var visibleSeries: [String] {
        guard let names = job?.series.names else { return [] }
        return names.filter { isVisible($0) }
    }

    public func isVisible(_ name: String) -> Bool {
        if name == "train_loss" || name == "val_loss" { return !hiddenSeries.contains(name) }
        return shownExtras.contains(name)
    }

    /// Log lines after the `/` filter (over the whole loaded buffer).
    public var filteredLogs: [LogLine] {
        guard let logs = job?.logs else { return [] }
        if filter.isEmpty { return logs }
        let needle = filter.lowercased()
        return logs.filter { $0.line.lowercased().contains(needle) || $0.level.contains(needle) }
    }
}
