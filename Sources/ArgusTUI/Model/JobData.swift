import Foundation
import Shared

/// The epoch series of one job, column-oriented so the chart can scan 100k epochs without allocating.
/// A missing value is NaN; a value the script reported as non-finite is +infinity (so it can be marked).
public struct EpochSeries: Sendable {
    public private(set) var epochs: [Int] = []
    /// Metric names in first-seen order: train_loss and val_loss first.
    public private(set) var names: [String] = ["train_loss", "val_loss"]
    /// One column per name, same order, each as long as `epochs`.
    private var columns: [[Double]] = [[], []]
    private var columnOfName: [String: Int] = ["train_loss": 0, "val_loss": 1]
    private var indexOfEpoch: [Int: Int] = [:]

    public static let nonFinite = Double.infinity
    static let skipped: Set<String> = ["epoch", "timestamp", "nonfinite", "_nonfinite"]

    public init() {}

    public var count: Int { epochs.count }

    public func column(_ name: String) -> [Double]? { columnOfName[name].map { columns[$0] } }

    /// Adds or replaces one epoch from a JSON object (`/epochs` rows and job_epoch `data` both work).
    public mutating func upsert(_ o: JSONObject) {
        guard let epoch = o["epoch"]?.intValue else { return }
        let nonfinite = (o["nonfinite"] ?? o["_nonfinite"])?.arrayValue?.compactMap(\.stringValue) ?? []
        let row: Int
        if let existing = indexOfEpoch[epoch] {
            row = existing
            for c in columns.indices { columns[c][row] = .nan }
        } else if let last = epochs.last, epoch < last {
            // Out of order (rare): insert in place and rebuild the index.
            let at = epochs.firstIndex { $0 > epoch } ?? epochs.count
            epochs.insert(epoch, at: at)
            for c in columns.indices { columns[c].insert(.nan, at: at) }
            indexOfEpoch = Dictionary(uniqueKeysWithValues: epochs.enumerated().map { ($1, $0) })
            row = at
        } else {
            row = epochs.count
            epochs.append(epoch)
            indexOfEpoch[epoch] = row
            for c in columns.indices { columns[c].append(.nan) }
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
    }

    public func latest(_ name: String) -> Double? {
        guard let col = column(name) else { return nil }
        for v in col.reversed() where !v.isNaN { return v }
        return nil
    }
}

public struct LogLine: Sendable, Equatable {
    public var id: Int64
    public var ts: String
    public var level: String
    public var line: String
    public var jobID: String?

    public init(id: Int64, ts: String, level: String, line: String, jobID: String?) {
        self.id = id
        self.ts = ts
        self.level = level
        // Tabs become spaces here, so the pane's sideways scrolling counts the columns a terminal would draw.
        self.line = LogLine.capped(TextWidth.expandingTabs(line))
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
            if col + w > maxColumns { return String(kept) + " … [line cut: \(line.utf8.count) bytes in all]" }
            kept.append(c)
            col += w
        }
        return line
    }

    var isHeartbeat: Bool { line == "heartbeat" && level == "debug" }
}

/// Everything the job-detail screen shows, kept current from the `/view` load and the SSE stream.
public struct JobData: Sendable {
    public var batchID: String
    public var jobID: String
    /// Whether the server's `/view` has arrived. Until then every other field is a placeholder, and the
    /// screen says that nothing is known yet instead of showing them.
    public var loaded = false
    public var batchStatus = "running"
    /// When the run was last heard from, as of the view load (seconds since the epoch).
    public var batchLastActivity: Double?
    public var jobStatus = "running"
    public var stopRequested = false
    public var model: String?
    public var dataset: String?
    public var startUs: Int64?
    /// When the job ended (its telemetry stops changing then).
    public var endUs: Int64?
    public var lastActivityUs: Int64?
    public var elapsedFinal: Double?
    public var gpuUtil: Double?
    /// The most-loaded GPU's memory peak, its capacity, and every GPU's peak (as the server folds them).
    public var gpuMemPeak: Double?
    public var gpuMemTotal: Double?
    public var gpuMem = GPUMemPeaks()
    public var epoch: Int?
    public var trainLoss: Double?
    public var valLoss: Double?
    public var failureReason: String?
    public var idleFlagged = false
    public var idleSinceUs: Int64?
    public var gitSHA: String?
    public var command: String?
    public var cwd: String?
    public var host: String?
    public var user: String?
    public var actions: [String: (enabled: Bool, reason: String?)] = [:]
    public var series = EpochSeries()
    public var logs: [LogLine] = []
    /// The server has log lines older than `logs.first` (the tail was a full page, or the cap dropped some).
    public var olderLogsExist = false
    public var lastEventID: Int64 = 0
    /// The batch a rerun of this one started as (from a `rerun_started` event).
    public var rerunBatchID: String?

    public static let maxLogLines = 10_000

    public init(batchID: String, jobID: String) {
        self.batchID = batchID
        self.jobID = jobID
    }

    /// Builds the screen's data from `GET /api/jobs/{b}/{j}/view`.
    public init(view v: JSON) {
        let batch = v["batch"] ?? .null
        let job = v["job"] ?? .null
        self.init(batchID: batch["id"]?.stringValue ?? "", jobID: job["id"]?.stringValue ?? "")
        loaded = true
        batchStatus = batch["status"]?.stringValue ?? "running"
        batchLastActivity = batch["last_activity"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }
        stopRequested = batch["stop_requested"]?.boolValue ?? false
        jobStatus = job["status"]?.stringValue ?? "running"
        model = job["model"]?.stringValue
        dataset = job["dataset"]?.stringValue
        startUs = job["start_time"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        endUs = job["end_time"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        lastActivityUs = job["last_activity"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        if JobData.finished.contains(jobStatus) { elapsedFinal = job["elapsed_s"]?.doubleValue }
        let t = job["telemetry"] ?? .null
        gpuUtil = t["gpu_util_pct"]?.doubleValue
        gpuMemPeak = t["gpu_mem_peak_mb"]?.doubleValue
        gpuMemTotal = t["gpu_mem_total_mb"]?.doubleValue
        gpuMem = GPUMemPeaks(json: t["gpus"])
        epoch = t["epoch"]?.intValue
        trainLoss = t["train_loss"]?.doubleValue
        valLoss = t["val_loss"]?.doubleValue
        failureReason = job["failure_reason"]?.stringValue
        idleFlagged = job["is_idle_flagged"]?.boolValue ?? false
        idleSinceUs = t["idle_since"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        let env = v["env_snapshot"] ?? .null
        gitSHA = env["git_sha_short"]?.stringValue ?? env["git_sha"]?.stringValue
        command = env["command"]?.stringValue
        cwd = env["cwd"]?.stringValue
        host = env["hostname"]?.stringValue
        user = env["user"]?.stringValue
        if let a = v["actions"]?.objectValue {
            for p in a {
                actions[p.key] = (p.value["enabled"]?.boolValue ?? false, p.value["reason"]?.stringValue)
            }
        }
        for e in v["epochs"]?.arrayValue ?? [] { if let o = e.objectValue { series.upsert(o) } }
        let rows = v["log_tail"]?.arrayValue ?? []
        logs = JobData.logLines(rows)
        olderLogsExist = rows.count >= LogFilter.pageSize
        if let latest = v["resources_latest"], latest.objectValue != nil, gpuUtil == nil {
            gpuUtil = GPUFigures(latest.objectValue!).util
        }
        lastEventID = v["last_event_id"]?.intValue.map(Int64.init) ?? 0
    }

    static let finished: Set<String> = ["done", "failed", "stopped"]
    /// Every status the screen can show, for columns and tiles as wide as the longest.
    static let statuses: [String] = ["running", "stalled", "stopping"] + finished.sorted()

    /// Log-lines rows (newest first, as the server sends them) as the pane keeps them: oldest first, no heartbeats.
    static func logLines(_ rows: [JSON]) -> [LogLine] {
        rows.compactMap(JobData.logLine(row:)).filter { !$0.isHeartbeat }.sorted { $0.id < $1.id }
    }

    /// Adds a page of older lines above the loaded ones. The cap on live lines is not applied here: paging
    /// back is the user's choice, one page per key press.
    public mutating func prependOlder(_ rows: [JSON]) {
        let oldest = logs.first?.id ?? .max
        logs.insert(contentsOf: JobData.logLines(rows).filter { $0.id < oldest }, at: 0)
        olderLogsExist = rows.count >= LogFilter.pageSize
    }

    static func logLine(row: JSON) -> LogLine? {
        guard let id = row["id"]?.intValue else { return nil }
        return LogLine(
            id: Int64(id), ts: row["ts"]?.stringValue ?? "",
            level: (row["level"]?.stringValue ?? "info").lowercased(),
            line: row["line"]?.stringValue ?? "", jobID: row["job_id"]?.stringValue)
    }

    /// Elapsed: job_start to last activity (or the final figure once it ended).
    public var elapsed: Double? {
        if let elapsedFinal { return elapsedFinal }
        guard let s = startUs, let a = lastActivityUs else { return nil }
        return Double(a - s) / 1e6
    }

    /// The status the Status tile shows: the job's, or the batch's while the job still runs.
    public var shownStatus: String {
        if !JobData.finished.contains(jobStatus), ["stopping", "stalled"].contains(batchStatus) {
            return batchStatus
        }
        if !JobData.finished.contains(jobStatus), stopRequested { return "stopping" }
        return jobStatus
    }

    /// Folds one streamed event (the SSE `data` JSON) into the screen's data. Returns whether anything changed.
    @discardableResult
    public mutating func apply(event e: JSON) -> Bool {
        guard let id = e["id"]?.intValue.map(Int64.init), id > lastEventID else { return false }
        lastEventID = id
        guard e["batch_id"]?.stringValue == batchID else { return true }
        let type = e["event_type"]?.stringValue ?? ""
        let data = e["data"]?.objectValue ?? JSONObject()
        let ts = e["timestamp"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
        let job = e["job_id"]?.stringValue
        let mine = job == jobID
        let statusBefore = batchStatus
        if mine, let ts {
            lastActivityUs = max(lastActivityUs ?? ts, ts)
            if startUs == nil { startUs = ts }  // as the server: a job's first event starts it
        }
        switch type {
        case "job_start" where mine:
            if let ts { startUs = min(startUs ?? ts, ts) }
            model = data["model"]?.stringValue ?? model
            dataset = data["dataset"]?.stringValue ?? dataset
            if !JobData.finished.contains(jobStatus) { jobStatus = "running" }
        case "job_epoch" where mine:
            series.upsert(data)
            if let ep = data["epoch"]?.intValue, ep >= (epoch ?? Int.min) {
                epoch = ep
                if data["train_loss"] != nil { trainLoss = data["train_loss"]?.doubleValue }
                if data["val_loss"] != nil { valLoss = data["val_loss"]?.doubleValue }
            }
        case "job_done" where mine, "job_failed" where mine:
            jobStatus = type == "job_done" ? "done" : "failed"
            if let ts { endUs = endUs ?? ts }
            elapsedFinal = data["elapsed_s"]?.doubleValue ?? elapsed
            if type == "job_failed" {
                failureReason = data["reason"]?.stringValue ?? data["error"]?.stringValue ?? failureReason
            }
            idleFlagged = false
        case "log_line":
            guard mine else { break }
            let line = LogLine(
                id: id, ts: e["timestamp"]?.stringValue ?? "",
                level: (data["level"]?.stringValue ?? "info").lowercased(),
                line: data["line"]?.stringValue ?? "", jobID: job)
            if !line.isHeartbeat {
                logs.append(line)
                if logs.count > JobData.maxLogLines {
                    logs.removeFirst(logs.count - JobData.maxLogLines)
                    olderLogsExist = true
                }
            }
        case "resource_snapshot":
            // Only snapshots taken while this job ran: a later job's must not move a finished job's tiles.
            if job == nil || mine, let ts, JobSpan.covers(ts, start: startUs, end: endUs) {
                let g = GPUFigures(data)
                if let u = g.util { gpuUtil = u }
                gpuMem.observe(g)
                gpuMemPeak = gpuMem.peakMB ?? gpuMemPeak
                gpuMemTotal = gpuMem.totalMB ?? gpuMemTotal
            }
        case "batch_start":
            command = command ?? data["command"]?.stringValue
            cwd = cwd ?? data["cwd"]?.stringValue
        case "batch_done", "batch_failed", ServerEventTypes.batchStopped, ServerEventTypes.batchMarkedFailed:
            // The server's rules (BatchStatus), applied to what streams in between loads.
            let failedJobs = data["n_failed"]?.intValue ?? 0
            batchStatus =
                type == ServerEventTypes.batchStopped
                ? "stopped"
                : type == ServerEventTypes.batchMarkedFailed
                    ? "failed" : BatchStatus.ended(by: type, stopRequested: stopRequested, failedJobs: failedJobs)
            actions["stop"] = (false, "batch already \(batchStatus)")
            if BatchStatus.isRerunWait(actions["rerun"]?.reason) {
                actions["rerun"] = command == nil ? (false, "no command recorded") : (true, nil)
            }
            // A stopping batch that ends takes its running jobs with it; so does marking the run failed.
            let jobEnd =
                batchStatus == "stopped" && stopRequested ? "stopped" : (type == ServerEventTypes.batchMarkedFailed ? "failed" : nil)
            if let jobEnd, !JobData.finished.contains(jobStatus) {
                jobStatus = jobEnd
                if let ts { endUs = ts }
                elapsedFinal = elapsed
                idleFlagged = false
                if jobEnd == "failed" { failureReason = data["reason"]?.stringValue ?? failureReason }
            }
        case "stop_requested":
            stopRequested = true
            if !JobData.finished.contains(batchStatus) { batchStatus = "stopping" }
            actions["stop"] = (false, "stop already requested")
        case "rerun_started": rerunBatchID = data["new_batch_id"]?.stringValue ?? rerunBatchID
        case "batch_stalled": batchStatus = "stalled"
        case "batch_resumed" where batchStatus == "stalled": batchStatus = stopRequested ? "stopping" : "running"
        case "job_idle_flagged" where mine:
            idleFlagged = true
            idleSinceUs = data["since"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros } ?? ts
        case "job_idle_recovered" where mine:
            idleFlagged = false
            idleSinceUs = nil
        default: break
        }
        if batchStatus != statusBefore { followMarkFailed(from: statusBefore) }
        return true
    }

    /// Mark failed is offered while the batch is stalled or stopping (BatchStatus.markFailedRefusal), so it follows
    /// the status as events stream in; a refusal the status does not explain (who you are) stays as the server said.
    mutating func followMarkFailed(from oldStatus: String) {
        guard let current = actions["mark_failed"],
            current.enabled || current.reason == BatchStatus.markFailedRefusal(oldStatus)
        else { return }
        let refusal = BatchStatus.markFailedRefusal(batchStatus)
        actions["mark_failed"] = (refusal == nil, refusal)
    }
}
