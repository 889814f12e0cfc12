import ArgusClient
import FoundationEssentials
import Shared

/// The epoch series of one job, column-oriented so the chart can scan 100k epochs without allocating.
/// A missing value is NaN; a value the script reported as non-finite is +infinity (so it can be marked).
public struct EpochSeries: Sendable {
    public private(set) var epochs = EpochNumbers()
    /// Metric names in first-seen order: train_loss and val_loss first.
    public private(set) var names: [String] = ["train_loss", "val_loss"]
    /// One column per name, same order, each as long as `epochs`.
    private var columns: [[Double]] = [[], []]
    private var columnOfName: [String: Int] = ["train_loss": 0, "val_loss": 1]
    /// What the chart works out from these values (DrawnSeries); a change to them starts afresh.
    private(set) var drawn = DrawnSeries()

    public static let nonFinite = Double.infinity

    /// A telemetry's latest train and val loss: `nonFinite` for one it lists in `nonfinite`.
    static func latestLosses(_ t: JSON) -> (train: Double?, val: Double?) {
        let flagged = Set(t["nonfinite"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        func loss(_ key: String) -> Double? { flagged.contains(key) ? nonFinite : t[key]?.doubleValue }
        return (loss("train_loss"), loss("val_loss"))
    }
    static let skipped: Set<String> = ["epoch", "timestamp", "nonfinite", "_nonfinite"]

    public init() {}

    /// From the columns form of `/view?epochs=columns`: the same series the rows would build, without a JSON
    /// value per epoch (a reported non-finite value is +infinity, as from a row).
    public init(columns c: EpochColumns) {
        let n = c.count
        epochs = EpochNumbers(c.epochs)
        columns = [[Double](repeating: .nan, count: n), [Double](repeating: .nan, count: n)]
        func column(_ name: String) -> Int {
            if let existing = columnOfName[name] { return existing }
            columnOfName[name] = columns.count
            names.append(name)
            columns.append([Double](repeating: .nan, count: n))
            return columns.count - 1
        }
        for (name, values) in zip(c.names, c.values) where !EpochSeries.skipped.contains(name) {
            let k = column(name)
            columns[k] = values.map { $0.isNaN || $0.isFinite ? $0 : EpochSeries.nonFinite }
        }
        for (name, rows) in zip(c.nonfiniteNames, c.nonfiniteRows) where !EpochSeries.skipped.contains(name) {
            let k = column(name)
            for r in rows { columns[k][r] = EpochSeries.nonFinite }
        }
        // The server sends them ascending, each once; anything else is put in order (the last of a repeated epoch wins).
        if zip(epochs, epochs.dropFirst()).contains(where: { $0 >= $1 }) {
            var keep: [Int: Int] = [:]
            for (r, e) in epochs.enumerated() { keep[e] = r }
            let order = keep.keys.sorted().map { keep[$0]! }
            epochs = EpochNumbers(order.map { epochs[$0] })
            columns = columns.map { col in order.map { col[$0] } }
        }
    }

    /// One column per named series over the union of their epochs, NaN where a series has no value (the compare
    /// overlay: one series per job). No other names, so the legend lists exactly these.
    public init(overlay: [(name: String, epochs: EpochNumbers, values: [Double])]) {
        // Each series' epochs are ascending, each once: their union is a merge, and each column is filled by
        // walking its series alongside it (no hashing; 4 × 100k epochs in a few ms). Series that share their
        // epochs, the usual case, share the union as it is.
        var all = EpochNumbers()
        for s in overlay where s.epochs != all {
            var merged: [Int] = []
            merged.reserveCapacity(max(all.count, s.epochs.count))
            var (i, j) = (0, 0)
            while i < all.count || j < s.epochs.count {
                if j == s.epochs.count || (i < all.count && all[i] < s.epochs[j]) {
                    merged.append(all[i])
                    i += 1
                } else if i == all.count || s.epochs[j] < all[i] {
                    merged.append(s.epochs[j])
                    j += 1
                } else {
                    merged.append(all[i])
                    i += 1
                    j += 1
                }
            }
            all = EpochNumbers(merged)
        }
        epochs = all
        names = []
        columns = []
        columnOfName = [:]
        for s in overlay where columnOfName[s.name] == nil {
            var col: [Double]
            if s.epochs == all {
                col = s.values
            } else {
                col = [Double](repeating: .nan, count: all.count)
                var r = 0
                for (e, v) in zip(s.epochs, s.values) {
                    while all[r] < e { r += 1 }
                    col[r] = v
                }
            }
            columnOfName[s.name] = columns.count
            names.append(s.name)
            columns.append(col)
        }
    }

    /// Where `epoch` is (`epochs` is ascending, each once), or where it would go.
    func position(of epoch: Int) -> (index: Int, found: Bool) {
        var (lo, hi) = (0, epochs.count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if epochs[mid] < epoch { lo = mid + 1 } else { hi = mid }
        }
        return (lo, lo < epochs.count && epochs[lo] == epoch)
    }

    public var count: Int { epochs.count }

    public func column(_ name: String) -> [Double]? { columnOfName[name].map { columns[$0] } }

    /// Adds or replaces one epoch from a JSON object (`/epochs` rows and job_epoch `data` both work).
    public mutating func upsert(_ o: JSONObject) {
        guard let epoch = o["epoch"]?.intValue else { return }
        drawn = DrawnSeries()
        let nonfinite = (o["nonfinite"] ?? o["_nonfinite"])?.arrayValue?.compactMap(\.stringValue) ?? []
        let row: Int
        let at = position(of: epoch)
        if at.found {
            row = at.index
            for c in columns.indices { columns[c][row] = .nan }
        } else {
            // Usually at the end; out of order (rare), in place.
            row = at.index
            epochs.insert(epoch, at: row)
            for c in columns.indices { columns[c].insert(.nan, at: row) }
        }
        for p in o where !EpochSeries.skipped.contains(p.key) {
            let v: Double
            if nonfinite.contains(p.key) {
                v = EpochSeries.nonFinite
            } else if case .number(let d) = p.value {
                v = d.isFinite ? d : EpochSeries.nonFinite
            } else {
                continue
            }
            let c: Int
            if let existing = columnOfName[p.key] {
                c = existing
            } else {
                c = columns.count
                columnOfName[p.key] = c
                names.append(p.key)
                columns.append(Array(repeating: .nan, count: epochs.count))
            }
            columns[c][row] = v
        }
        // A key reported as non-finite that the row does not carry (a rows reply lists only numbers besides the
        // three named metrics): marked all the same, as it is from an event's data or the columns form.
        for key in nonfinite where o[key] == nil && !EpochSeries.skipped.contains(key) {
            let c: Int
            if let existing = columnOfName[key] {
                c = existing
            } else {
                c = columns.count
                columnOfName[key] = c
                names.append(key)
                columns.append(Array(repeating: .nan, count: epochs.count))
            }
            columns[c][row] = EpochSeries.nonFinite
        }
    }

    public func latest(_ name: String) -> Double? {
        guard let col = column(name) else { return nil }
        for v in col.reversed() where !v.isNaN { return v }
        return nil
    }
}

/// A log line as the pane keeps it. Lines sort in the order they were written: by timestamp, then by id (arrival)
/// for lines of the same microsecond, the order the server's log-lines pages use. Lines an SDK kept through an
/// outage arrive late and sort above the lines that came live meanwhile.
public struct LogLine: Sendable, Equatable, Comparable {
    public var id: Int64
    public var ts: String
    /// `ts` in microseconds since 1970 (0 when it does not parse: such a line sorts first).
    public var tsMicros: Int64
    public var level: String
    public var line: String
    public var jobID: String?

    public init(id: Int64, ts: String, level: String, line: String, jobID: String?) {
        self.id = id
        self.ts = ts
        self.tsMicros = Timestamp(iso: ts)?.micros ?? 0
        self.level = level
        // Escape sequences go (a coloured logger's), and tabs become spaces here, so the pane's sideways scrolling
        // counts the columns a terminal would draw.
        self.line = LogLine.capped(TextWidth.expandingTabs(TerminalText.withoutEscapes(line)))
        self.jobID = jobID
    }

    /// The columns of a log line the TUI keeps. The pane measures and draws the lines it shows on every frame,
    /// so a 15 MB line kept whole made each frame take seconds; nobody reads past this sideways anyway.
    public static let maxColumns = 8192

    /// `line` cut to `maxColumns` columns, with a marker that says it was cut and how long it was.
    static func capped(_ line: String) -> String {
        // Every column takes at least one UTF-8 byte, so a short line needs no scan.
        if line.utf8.count <= maxColumns { return line }
        var kept = String.UnicodeScalarView()
        var col = 0
        for c in line.unicodeScalars {
            let w = TextWidth.of(c)
            if col + w > maxColumns { return String(kept) + " [line cut: \(line.utf8.count) bytes in all]" }
            kept.append(c)
            col += w
        }
        return line
    }

    var isHeartbeat: Bool { line == "heartbeat" && level == "debug" }

    public static func < (a: LogLine, b: LogLine) -> Bool { (a.tsMicros, a.id) < (b.tsMicros, b.id) }
}

/// Everything the job-detail screen shows, kept current from the `/view` load and the SSE stream. Run state
/// (statuses, loss, elapsed, GPU figures, idle flag, failure reason) is only ever taken from the server's fold:
/// the `/view` load and the `summary` frames (SummaryFrame). The raw events add chart points and log lines.
public struct JobData: Sendable {
    public var batchID: String
    public var jobID: String
    /// Whether the server's `/view` has arrived. Until then every other field is a placeholder, and the
    /// screen says that nothing is known yet instead of showing them.
    public var loaded = false
    public var batchStatus = RunStatus.running
    /// When the run was last heard from (`last_received`, else `last_activity`), in seconds since the epoch.
    public var batchLastActivity: Double?
    /// The newest JobOut taken: the batch screen's row of this job when Esc goes back to it (its rows are as of
    /// before the job opened until they reload, which fails offline).
    public var summary: JSON?
    public var jobStatus = RunStatus.running
    /// The Status tile: the job's status, or the batch's while the job runs and the batch is stopping or stalled.
    public var shownStatus = RunStatus.running
    public var stopRequested = false
    public var model: String?
    public var dataset: String?
    /// Elapsed, as the server folds it (job_start to last activity, or the final figure once it ended).
    public var elapsed: Double?
    public var gpuUtil: Double?
    /// The most-loaded GPU's memory peak, its capacity, and every GPU's peak (as the server folds them).
    public var gpuMemPeak: Double?
    public var gpuMemTotal: Double?
    public var gpuMem = GPUMemPeaks()
    public var epoch: Int?
    public var trainLoss: Double?
    public var valLoss: Double?
    /// What the run reported as the job's final metrics (`job_done`'s `metrics`, the SDK's `j.metrics({...})`), in its
    /// order; nil for a value that is not a number (a NaN the server stored as null).
    public var finalMetrics: [(name: String, value: Double?)] = []
    /// The lowest val_loss the server saw and its epoch (kept when retention deletes the epochs).
    public var bestValLoss: Double?
    public var bestValEpoch: Int?
    public var failureReason: String?
    public var idleFlagged = false
    public var idleSinceUs: Int64?
    public var gitSHA: String?
    public var command: String?
    public var cwd: String?
    /// Where a rerun would run, as the server says (`actions.rerun.runs_in`): the prompt names it.
    public var rerunRunsIn: String?
    public var host: String?
    public var user: String?
    public var actions: [String: (enabled: Bool, reason: String?)] = [:]
    public var series = EpochSeries()
    public var logs: [LogLine] = []
    /// The highest id among the lines kept: the last to arrive (the newest by time is `logs.last`).
    public private(set) var newestLogID: Int64 = 0
    /// The server has log lines older than `logs.first` (the tail was a full page, or the cap dropped some).
    public var olderLogsExist = false
    public var lastEventID: Int64 = 0
    /// Why the server ended a stopped batch (the signal the agent's Stop took, or the silence after a Stop).
    public var endReason: String?
    /// The batch a rerun of this one started as (from a `rerun_started` event).
    public var rerunBatchID: String?
    /// When the job started and ended (microseconds; `JobSpan`): which batch-level snapshots are its own.
    public var startUs: Int64?
    public var endUs: Int64?
    /// The GPUs panel's snapshots.
    public var gpuHistory = GPUHistory()

    /// Live log lines kept (older ones are paged in from the server on demand): from this many up to `logTrimStep` more.
    public static let maxLogLines = 10_000
    static let logTrimStep = 1_000

    public init(batchID: String, jobID: String) {
        self.batchID = batchID
        self.jobID = jobID
    }

    /// Builds the screen's data from `GET /api/jobs/{b}/{j}/view`; its epochs from `epochs` when they came in the
    /// columns form (`JobData.loadView`), else from the view's rows.
    public init(view v: JSON, epochs: EpochColumns? = nil) {
        let batch = v["batch"] ?? .null
        let job = v["job"] ?? .null
        self.init(batchID: batch["id"]?.stringValue ?? "", jobID: job["id"]?.stringValue ?? "")
        loaded = true
        take(batch: batch, env: v["env_snapshot"])
        take(job: job)
        takeActions(v["actions"] ?? .null)
        if let epochs {
            series = EpochSeries(columns: epochs)
        } else {
            for e in v["epochs"]?.arrayValue ?? [] { if let o = e.objectValue { series.upsert(o) } }
        }
        let rows = v["log_tail"]?.arrayValue ?? []
        logs = JobData.logLines(rows)
        newestLogID = logs.lazy.map(\.id).max() ?? 0
        olderLogsExist = rows.count >= LogFilter.pageSize
        // The GPU tiles are the job's telemetry alone (`take(job:)`), as on the web page: `resources_latest` picks a
        // batch-wide snapshot by its second, and showed another job's utilisation beside "no data" for its memory.
        lastEventID = v["last_event_id"]?.intValue.map(Int64.init) ?? 0
    }

    /// Fetches the job's view with its epochs in the columns form, read by their own decoder (`EpochColumns`):
    /// a 100k-epoch job arrives in a fraction of the rows' bytes, without a JSON value per epoch. A server that
    /// does not know the form sends rows, which are taken as they are.
    public static func loadView(_ client: HTTPClient, batchID: String, jobID: String) throws(ClientError) -> Action {
        let view = try client.getJSON(APIPath.view(batchID, jobID, epochColumns: true), rawMembers: ["epochs"])
        guard case .object(var o) = view else { throw ClientError(.decoding, "The job's view is not a JSON object.") }
        guard case .raw(let bytes)? = o["epochs"] else { return .viewLoaded(view) }
        do throws(JSONParseError) {
            if bytes.first(where: { $0 > 0x20 }) == UInt8(ascii: "[") {
                o["epochs"] = try JSON.parse(bytes)
                return .viewLoaded(.object(o))
            }
            let columns = try EpochColumns(decoding: bytes)
            o["epochs"] = .null
            return .viewLoaded(.object(o), epochs: columns)
        } catch {
            throw ClientError(.decoding, "The job's epochs in the view are malformed (\(error)).")
        }
    }

    /// The batch's summary (`/view`'s `batch`, or a summary frame's).
    mutating func take(batch: JSON, env: JSON? = nil) {
        batchStatus = batch["status"]?.stringValue ?? batchStatus
        // When the server last received word from the run, by the server's clock: the run's own timestamps come
        // from the training host's clock, which may be off by an hour (`last_activity` is by that clock).
        let received = batch["last_received"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }
        batchLastActivity = received ?? batch["last_activity"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }
        stopRequested = batch["stop_requested"]?.boolValue ?? false
        endReason = batch["end_reason"]?.stringValue
        let env = batch["env_snapshot"] ?? env ?? .null
        gitSHA = env["git_sha_short"]?.stringValue ?? env["git_sha"]?.stringValue
        command = env["command"]?.stringValue
        cwd = env["cwd"]?.stringValue
        host = env["hostname"]?.stringValue
        user = env["user"]?.stringValue
    }

    /// The job's summary, a JobOut (`/view`'s `job`, or one of a summary frame's `jobs`).
    mutating func take(job: JSON) {
        summary = job
        jobStatus = job["status"]?.stringValue ?? jobStatus
        model = job["model"]?.stringValue
        dataset = job["dataset"]?.stringValue
        failureReason = job["failure_reason"]?.stringValue
        finalMetrics = (job["metrics"]?.objectValue ?? JSONObject()).map { (name: $0.key, value: $0.value.doubleValue) }
        idleFlagged = job["is_idle_flagged"]?.boolValue ?? false
        let t = job["telemetry"] ?? .null
        shownStatus = t["status"]?.stringValue ?? jobStatus
        elapsed = t["elapsed_s"]?.doubleValue ?? job["elapsed_s"]?.doubleValue
        gpuUtil = t["gpu_util_pct"]?.doubleValue
        gpuMemPeak = t["gpu_mem_peak_mb"]?.doubleValue
        gpuMemTotal = t["gpu_mem_total_mb"]?.doubleValue
        gpuMem = GPUMemPeaks(json: t["gpus"])
        epoch = t["epoch"]?.intValue
        (trainLoss, valLoss) = EpochSeries.latestLosses(t)
        bestValLoss = t["best_val_loss"]?.doubleValue
        bestValEpoch = t["best_val_epoch"]?.intValue
        idleSinceUs = t["idle_since"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        startUs = job["start_time"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros } ?? startUs
        endUs = job["end_time"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
    }

    /// The caller's actions (`/view`'s `actions`, or `GET /api/batches/{b}/actions`).
    public mutating func takeActions(_ a: JSON) {
        guard let a = a.objectValue else { return }
        actions = [:]
        for p in a { actions[p.key] = (p.value["enabled"]?.boolValue ?? false, p.value["reason"]?.stringValue) }
        rerunRunsIn = a["rerun"]?["runs_in"]?.stringValue
        agentFailure = JobData.agentFailure(in: .object(a))
    }

    /// What the host's agent did not carry out for a batch, as its actions say (`{stop,rerun}.failed`, given only
    /// while it matters), as a banner and the key it is raised once by.
    static func agentFailure(in actions: JSON) -> (key: String, banner: String)? {
        var found: (key: String, banner: String)? = nil
        for key in ["rerun", "stop"] {
            guard let failed = actions[key]?["failed"], let reason = failed["reason"]?.stringValue else { continue }
            let at = failed["at"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }
            let banner = Update.agentFailedBanner(key == "stop" ? "Stop" : "Rerun", reason, at: at)
            found = (key: "\(key)@\(failed["at"]?.stringValue ?? "")", banner: banner)
        }
        return found
    }

    /// The banner for what the host's agent last failed to do for this batch (`actions.{stop,rerun}.failed`), keyed so
    /// it is raised once, not again on every recheck of the actions after it was replaced or the screen changed.
    public var agentFailure: (key: String, banner: String)?

    /// What the server's action rules depend on; when a summary changes it, the actions are fetched again.
    var actionState: String { "\(batchStatus)|\(stopRequested)" }

    static let finished: Set<String> = BatchStatus.terminal
    /// Every status the screen can show, for columns and tiles as wide as the longest.
    static let statuses: [String] = [RunStatus.running, RunStatus.stalled, RunStatus.stopping] + finished.sorted()

    /// Log-lines rows (newest first, as the server sends them) as the pane keeps them: oldest first, no heartbeats.
    static func logLines(_ rows: [JSON]) -> [LogLine] {
        rows.compactMap(JobData.logLine(row:)).filter { !$0.isHeartbeat }.sorted()
    }

    /// Adds a page of older lines above the loaded ones. The cap on live lines is not applied here: paging
    /// back is the user's choice, one page per key press.
    public mutating func prependOlder(_ rows: [JSON]) {
        let page = JobData.logLines(rows)
        let older = logs.first.map { first in page.filter { $0 < first } } ?? page
        logs.insert(contentsOf: older, at: 0)
        newestLogID = max(newestLogID, older.lazy.map(\.id).max() ?? 0)
        olderLogsExist = rows.count >= LogFilter.pageSize
    }

    /// A streamed `log_line` event as the pane keeps it.
    static func logLine(event e: JSON) -> LogLine {
        let data = e["data"]?.objectValue ?? JSONObject()
        return LogLine(
            id: Int64(e["id"]?.intValue ?? 0), ts: e["timestamp"]?.stringValue ?? "",
            level: (data["level"]?.stringValue ?? "info").lowercased(),
            line: data["line"]?.stringValue ?? "", jobID: e["job_id"]?.stringValue)
    }

    static func logLine(row: JSON) -> LogLine? {
        guard let id = row["id"]?.intValue else { return nil }
        return LogLine(
            id: Int64(id), ts: row["ts"]?.stringValue ?? "",
            level: (row["level"]?.stringValue ?? "info").lowercased(),
            line: row["line"]?.stringValue ?? "", jobID: row["job_id"]?.stringValue)
    }

    /// Takes a `summary` frame (SummaryFrame) of this batch: the server's fold replaces ours. Returns nil when the
    /// frame is about another batch or older than what the screen shows, else whether the batch's action state
    /// changed (the caller then fetches the actions again).
    public mutating func apply(summary e: JSON) -> Bool? {
        guard let batch = e["batch"], batch["id"]?.stringValue == batchID else { return nil }
        // Live frames carry the id of the commit's newest event; the frame that opens a stream carries none.
        if let id = e["id"]?.intValue.map(Int64.init) {
            guard id >= lastEventID else { return nil }
            lastEventID = id
        }
        let before = actionState
        take(batch: batch)
        if let job = e["jobs"]?.arrayValue?.first(where: { $0["id"]?.stringValue == jobID }) { take(job: job) }
        return actionState != before
    }

    /// Adds what a streamed event brings beyond the summaries: a chart point, a log line, where a rerun went.
    /// Returns whether it was new (events at or before `lastEventID` were already shown).
    @discardableResult
    public mutating func apply(event e: JSON) -> Bool {
        guard let id = e["id"]?.intValue.map(Int64.init), id > lastEventID else { return false }
        lastEventID = id
        guard e["batch_id"]?.stringValue == batchID else { return true }
        let data = e["data"]?.objectValue ?? JSONObject()
        let job = e["job_id"]?.stringValue
        switch e["event_type"]?.stringValue ?? "" {
        case "job_epoch" where job == jobID:
            series.upsert(data)
        case "log_line" where job == jobID:
            let line = JobData.logLine(event: e)
            if !line.isHeartbeat {
                logs.place(line, olderExist: olderLogsExist)
                newestLogID = max(newestLogID, line.id)
                // Trimmed a thousand at a time: one line at a time would move all the others for every line.
                if logs.count > JobData.maxLogLines + JobData.logTrimStep {
                    logs.removeFirst(logs.count - JobData.maxLogLines)
                    olderLogsExist = true
                }
            }
        case ServerEventTypes.rerunStarted: rerunBatchID = data["new_batch_id"]?.stringValue ?? rerunBatchID
        case "resource_snapshot":
            // The job's own snapshots, and the batch's taken while it ran (the rule the server's `/resources` uses).
            let ts = e["timestamp"]?.stringValue.flatMap { Timestamp(iso: $0) }
            if job == jobID || (job == nil && ts.map { JobSpan.covers($0.micros, start: startUs, end: endUs) } == true) {
                gpuHistory.add(id: id, ts: ts?.seconds, data: data)
            }
        default: break
        }
        return true
    }
}

extension [LogLine] {
    /// Puts a line that came live where it sorts: at the end unless it was written before the newest one shown (an
    /// SDK's spill delivered after an outage). A line older than every one kept, while older ones are left on the
    /// server, is not kept: the page that reaches it brings it, and keeping it would leave a gap above it. A line
    /// already kept (a page fetched while the stream was behind brought it) is not kept twice.
    mutating func place(_ line: LogLine, olderExist: Bool) {
        guard let last, line < last else {
            if last?.id != line.id { append(line) }
            return
        }
        if olderExist, let first, line < first { return }
        var lo = startIndex
        var hi = endIndex
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid] < line { lo = mid + 1 } else { hi = mid }
        }
        if lo < endIndex, self[lo].id == line.id { return }
        insert(line, at: lo)
    }
}
