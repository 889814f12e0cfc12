import FoundationEssentials
import Shared

public enum ConnectionState: Equatable, Sendable {
    case connecting
    /// Connected, and receiving what happened while it was not (the replay after `Last-Event-ID`): not yet live.
    case catchingUp
    case live
    /// The job's stream is down and being retried (capped exponential backoff, resuming with Last-Event-ID).
    case reconnecting(attempt: Int, problem: ConnectionProblem)
    /// A list could not be loaded; the next refresh (every 5 s) tries again.
    case offline(ConnectionProblem)

    public var problem: ConnectionProblem? {
        switch self {
        case .connecting, .catchingUp, .live: return nil
        case .reconnecting(_, let p), .offline(let p): return p
        }
    }
}

/// What is wrong with the server or the connection to it, said the way the status line says it.
public enum ConnectionProblem: Equatable, Sendable {
    /// No connection could be made (refused, no route, unknown host).
    case unreachable
    /// The server answered with an error status, and its own `detail` sentence when the reply had one.
    case serverError(status: Int, detail: String?)
    /// A reply or an event that is not valid JSON; `what` names it ("the job's view", "event 42").
    case malformed(String)
    /// The server accepted the connection but no complete reply came within `seconds`.
    case noReply(seconds: Double)
    /// The live stream went silent — nothing, not even a keepalive — for `seconds`.
    case stalled(seconds: Double)
    /// The stream broke or was closed; `why` says how.
    case dropped(String)

    public var sentence: String {
        switch self {
        case .unreachable: return "server unreachable"
        case .serverError(let status, let detail):
            let head = status >= 500 ? "server error \(status)" : "the server answered \(status)"
            guard let detail, !detail.isEmpty else {
                // argus-server explains each of its 404s; a bare one comes from something else at that address.
                let hint = status == 404 ? ": \(ServerSentences.notAnArgusServer)" : ""
                return "\(head) \(ConnectionProblem.reason(status)) (the reply gave no detail\(hint))"
            }
            // The server's sentence ends with its own full stop; what follows it here ("; retrying") must not.
            return "\(head): \(detail.hasSuffix(".") ? String(detail.dropLast()) : detail)"
        case .malformed(let what): return "\(what) from the server is not valid JSON"
        case .noReply(let seconds): return "the server accepted the connection but sent no reply in \(Fmt.duration(seconds))"
        case .stalled(let seconds): return "stream stalled: nothing from the server for \(Fmt.duration(seconds))"
        case .dropped(let why): return "stream dropped: \(why)"
        }
    }

    var isStall: Bool {
        if case .stalled = self { return true }
        return false
    }

    /// A few words for the header, where the sentence does not fit.
    /// The server answered, in its own words, that it has no such batch or job (yet): a run that has not reported,
    /// not a server in trouble.
    public var isNotReportedYet: Bool {
        if case .serverError(404, .some) = self { return true }
        return false
    }

    public var label: String {
        switch self {
        case .unreachable: return "offline"
        case .serverError(let status, _): return status >= 500 ? "server error \(status)" : "HTTP \(status)"
        case .malformed: return "bad reply"
        case .noReply: return "no reply"
        case .stalled: return "stalled"
        case .dropped: return "dropped"
        }
    }

    static func reason(_ status: Int) -> String {
        [
            400: "Bad Request", 403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 409: "Conflict",
            413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
        ][status] ?? "error"
    }
}

public enum Screen: Equatable, Sendable {
    /// Recent batches, running first.
    case batches
    /// The jobs of one batch.
    case jobs(String)
    /// One job's detail screen.
    case job
    /// The marked jobs' curves overlaid (`AppState.compare`).
    case compare

    /// What the `?` overlay's title calls it ("keys on the job screen").
    var name: String {
        switch self {
        case .batches: return "the picker"
        case .jobs: return "the batch screen"
        case .job: return "the job screen"
        case .compare: return "the compare overlay"
        }
    }
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
    /// The Argus user whose token created it (the picker shows the column to admins, who see everyone's).
    public var owner: String

    init(_ j: JSON) {
        id = j["id"]?.stringValue ?? "?"
        owner = j["owner"]?.stringValue ?? ""
        project = j["project"]?.stringValue ?? ""
        status = j["status"]?.stringValue ?? ""
        host = j["host"]?.stringValue ?? ""
        nDone = j["n_done"]?.intValue ?? 0
        nFailed = j["n_failed"]?.intValue ?? 0
        nTotal = j["n_total"]?.intValue
        // The server's word for when the run was last active (`last_seen`, BatchRecord.lastSeenUs).
        lastActivity = j["last_seen"]?.stringValue ?? ""
    }

    static let activeFirst: [String: Int] = [RunStatus.running: 0, RunStatus.stalled: 1, RunStatus.stopping: 2]
    /// Batches the picker asks for (`GET /api/batches?limit=`): the server sends the running, stalled and stopping
    /// ones first, then the newest ended ones.
    public static let listLimit = 500
    /// The request for them (the picker's refresh and `--dump`).
    public static let listPath = "/api/batches?limit=\(listLimit)&order=going_first"
}

/// One job on the batch screen, as the server's summary of it says (JobOut and its `telemetry`).
public struct JobRow: Equatable, Sendable {
    public var id: String
    public var status: String
    public var model: String
    public var epoch: Int?
    /// How many epochs the run said it would train (job_start's `total_epochs`, or job_done's count).
    public var totalEpochs: Int?
    public var elapsedS: Double?
    public var trainLoss: Double?
    public var valLoss: Double?
    public var bestValLoss: Double?
    public var bestValEpoch: Int?
    public var gpuUtilPct: Double?
    /// The server's short summary of the loss curve (at most a few dozen points), drawn as a sparkline.
    public var lossSpark: [Double]

    init(_ j: JSON) {
        id = j["id"]?.stringValue ?? "?"
        let t = j["telemetry"] ?? .null
        status = t["status"]?.stringValue ?? j["status"]?.stringValue ?? ""
        model = j["model"]?.stringValue ?? ""
        epoch = t["epoch"]?.intValue
        totalEpochs = t["total_epochs"]?.intValue
        elapsedS = t["elapsed_s"]?.doubleValue ?? j["elapsed_s"]?.doubleValue
        (trainLoss, valLoss) = EpochSeries.latestLosses(t)
        bestValLoss = t["best_val_loss"]?.doubleValue
        bestValEpoch = t["best_val_epoch"]?.intValue
        gpuUtilPct = t["gpu_util_pct"]?.doubleValue
        lossSpark = (t["loss_spark"]?.arrayValue ?? []).map { $0.doubleValue ?? .nan }
    }
}

public enum Glyphs: Sendable {
    case braille, ascii

    /// The mark of a cut text, and the dots of a text in progress ("loading…"): "…", or "..." on an ASCII terminal,
    /// where the one-column "…" would be drawn as a lone "." that reads as a full stop.
    var cutMark: String { self == .ascii ? "..." : "…" }
}

/// Everything the screen is drawn from. Only `update` changes it.
public struct AppState: Sendable {
    public var screen: Screen
    public var width = 80
    public var height = 24
    public var glyphs: Glyphs = .braille
    public var color = true
    public var readOnly = false
    /// Set for share links: the one batch this view may show (Esc never leaves it).
    public var pinnedBatch: String?
    public var serverLabel = ""

    public var batches: [BatchRow] = []
    public var batchesLoaded = false
    /// The server has more batches than the picker asks for (`BatchRow.listLimit`): the list says so.
    public var batchesCut = false
    public var batchCursor = 0
    public var jobs: [JobRow] = []
    public var jobsLoaded = false
    /// The status of the batch on the batch screen, from its stream's summary frames (nil until the first).
    public var openBatchStatus: String?
    /// Why the server ended that batch (`end_reason`), from the same frames.
    public var openBatchEndReason: String?
    /// When the batch list and the batch's rows were last received: what "showing … as of" says when offline.
    public var batchesAsOf: Double?
    public var jobsAsOf: Double?
    /// An index into `shownJobs` (the rows as filtered and sorted).
    public var jobCursor = 0
    public var jobSort = JobSort()
    /// The list screens' `/` filter (the job screen's `filter` searches its log instead). Kept while a job
    /// opened from the filtered list is on screen, so Esc comes back to the same rows.
    public var listFilter = ""
    /// The picker's `/` filter, kept while a batch opened from it is on screen: Esc comes back to the same rows.
    public var pickerFilter = ""
    /// The row Esc came back from (a job, or a batch on the picker): the list puts its cursor there once its rows
    /// arrive.
    public var returnToRow: String?
    /// Jobs marked (Space) for the compare overlay, in the order they were marked; kept across batches.
    public var marked: [JobRef] = []
    /// The caller is an admin (`GET /api/session`): the picker shows whose each batch is.
    public var isAdmin = false
    /// Whether the server has said who the caller is (asked at start; asked again when the list arrives, if the
    /// server was away then).
    public var sessionKnown = false
    /// The compare overlay, while it is open.
    public var compare: CompareState?

    public var job: JobData?
    public var connection: ConnectionState = .connecting
    /// When the connection stopped being live (nil while live), or, for a stream that fails before it was ever
    /// live, when the job's view on screen was loaded: what is on screen is the state as of then, and the status
    /// line says so.
    public var connectionLostAt: Double?
    /// When the job's view on screen was loaded.
    public var viewLoadedAt: Double?
    /// Unix seconds of the last event (or load) from the server; the header shows its age.
    public var lastEventAt: Double?
    public var now: Double = Date().timeIntervalSince1970

    public var hiddenSeries: Set<String> = []
    public var shownExtras: Set<String> = []
    public var ema = false
    /// The EMA smoothing factor (`ChartScale.smoothingFactors`, the weight on the previous value); `E` cycles it.
    public var emaFactor = ChartScale.defaultSmoothing
    public var logY = false
    /// The GPUs panel on the job screen (`G`, or `--gpus`).
    public var showGPUs = false
    public var chartBounds: ClosedRange<Double>?
    /// The series chooser's cursor (an index into the series names) while it is open.
    public var chooserCursor: Int?

    /// Lines scrolled up from the bottom of the log; 0 follows the tail.
    public var logScroll = 0
    /// Columns the log text is scrolled sideways (→/←), so a long line can be read to its end.
    public var logShift = 0
    /// The page of older log lines (or search matches) being fetched, if any: one at a time.
    public var logFetch: LogPageRequest?
    /// Lines still to scroll up once that page arrives (PgUp or Home went past the oldest loaded line).
    public var pendingScrollUp = 0
    /// The server's matches for `filter`, over the job's whole history.
    public var search: LogSearch?
    public var filter = ""
    public var filterEditing = false
    public var showHelp = false
    /// Rows the help overlay is scrolled down, when the terminal is too short for every key.
    public var helpScroll = 0
    public var status: String?
    public var statusIsError = false
    public var statusUntil: Double = 0
    /// A notice across the job screen while you watch (idle, stall, an agent failure), and what raised it.
    public var notice: Banner?
    /// The notice's text.
    /// What the banner says: the notice, and why the server stopped the batch on screen (`stoppedReason`), which
    /// stays while the batch says so, beside any notice (a rerun that failed later, say).
    public var banner: String? {
        let parts = [notice?.text, stoppedReason].compactMap { $0 }
        return parts.isEmpty ? nil : parts.joined(separator: "  ·  ")
    }
    /// Why the server stopped the batch on screen, while it says so: the job screen's from its job's summary, the
    /// batch screen's from its frames. It goes when the batch stops saying so (the run's own end, after the server
    /// had to assume its Stop was done).
    public var stoppedReason: String? {
        switch screen {
        case .job: return job?.batchStatus == RunStatus.stopped ? job?.endReason : nil
        case .jobs: return openBatchStatus == RunStatus.stopped ? openBatchEndReason : nil
        case .batches, .compare: return nil
        }
    }
    /// The key of the agent failure last raised as the notice (`Update.raiseAgentFailure`): raised once per failure.
    public var agentFailureShown: String?
    /// An action waiting for `y` (Stop and Rerun ask first).
    public var confirming: Command?
    /// An action key pressed while the actions on screen said no: it is decided again when fresh ones arrive.
    public var actionAfterRecheck: Command?
    /// When the caller's actions were last asked for (`Effect.fetchActions`).
    public var actionsAskedAt: Double = 0
    /// Text shown in a popup for manual selection (the copied command).
    public var popup: (title: String, text: String)? {
        didSet { popupScroll = 0 }
    }
    /// The popup's first row shown, when its text is taller than the box (the arrows and pages scroll it).
    public var popupScroll = 0

    public init(screen: Screen) { self.screen = screen }

    /// The EMA factor the chart and its range use, nil while smoothing is off: what `ChartScale` takes.
    public var smoothing: Double? { ema ? emaFactor : nil }

    /// The chart's visible series, in legend order.
    public var visibleSeries: [String] {
        guard let names = job?.series.names else { return [] }
        return names.filter { isVisible($0) }
    }

    public func isVisible(_ name: String) -> Bool {
        if name == "train_loss" || name == "val_loss" { return !hiddenSeries.contains(name) }
        return shownExtras.contains(name)
    }

    /// The log pane's lines, oldest first. Without a filter: the loaded tail (and older pages). With one: the
    /// server's matches over the whole history, plus the loaded lines that match, without a gap — a loaded
    /// line older than the oldest server match is left out until the page that reaches it arrives.
    public var filteredLogs: [LogLine] {
        guard let logs = job?.logs else { return [] }
        let f = LogFilter(filter)
        if f.isEmpty { return logs }
        let local = logs.filter { f.matches(line: $0.line, level: $0.level) }
        guard let search, search.query == filter, search.loaded else { return local }
        let floor = search.complete ? nil : search.hits.first
        var seen = Set(search.hits.map(\.id))
        var merged = search.hits
        for l in local where floor.map({ l >= $0 }) != false && seen.insert(l.id).inserted { merged.append(l) }
        return merged.sorted()
    }

    /// Whether the server holds lines above the top of `filteredLogs`.
    public var olderLogsExist: Bool {
        guard let job else { return false }
        if filter.isEmpty { return job.olderLogsExist }
        guard let search, search.query == filter else { return false }
        return !search.loaded || !search.complete
    }
}

/// One page of a job's log lines to fetch: newest first, before `beforeID`, matching `query` if not empty.
public struct LogPageRequest: Equatable, Sendable {
    public var batchID: String
    public var jobID: String
    public var query: String
    public var beforeID: Int64?
}

/// The server's answers to the `/` filter, oldest first.
public struct LogSearch: Equatable, Sendable {
    public var query: String
    public var hits: [LogLine] = []
    /// The first page has arrived.
    public var loaded = false
    /// Every match is in `hits` (the last page came back short).
    public var complete = false
    /// When the first page could not be fetched (the status line said why); it is asked for again when the
    /// connection is live again, or after `Update.searchRetryS` when it stayed live.
    public var failedAt: Double?
}

/// A banner and what raised it, so a later event takes down only its own kind: the run's silence (stalled, resumed)
/// goes once the run ended, an agent's failure once the actions no longer report it; anything else stays until
/// replaced.
public struct Banner: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case notice
        case silence
        /// The job's GPUs idle: it goes when the server's summary says the job is no longer flagged (it ended).
        case idle
        /// The job's GPUs busy again after an idle spell: it goes when the job ends.
        case busyAgain
        case agentFailure
    }
    public var kind: Kind
    public var text: String

    public init(_ kind: Kind, _ text: String) {
        self.kind = kind
        self.text = text
    }

    public init(_ text: String) { self.init(.notice, text) }
}
