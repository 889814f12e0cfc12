import Shared

/// One row of `batches`: the batch's summary, kept current on ingest so it survives retention.
struct BatchRecord: Sendable {
    var id: String
    var ownerID: Int64
    var project: String?
    var status: String
    var experimentType: String?
    var host: String?
    var user: String?
    var gitSHA: String?
    var command: String?
    var cwd: String?
    var nTotal: Int?
    var nDone = 0
    var nFailed = 0
    var startUs: Int64?
    var endUs: Int64?
    var lastActivityUs: Int64?
    var lastReceivedUs: Int64
    var failureReason: String?
    /// Why the server ended a stopped batch (batch_stopped's reason: the signal the agent's Stop took, or the
    /// silence after a Stop), shown to whoever opens it later; clients show it while the batch is `stopped`.
    var endReason: String?
    var stopRequested = false
    var stopRequestedUs: Int64?
    var stopRequestedBy: String?
    var sourceBatchID: String?
    var createdUs: Int64

    static let terminalStatuses = BatchStatus.terminal
    var isFinished: Bool { BatchRecord.terminalStatuses.contains(status) }
    /// Statuses in which the run is expected to keep reporting (the stall detector watches these).
    static let liveStatuses: Set<String> = [RunStatus.running, RunStatus.stopping]
    /// Statuses in which the agent's word that the run's process died with a failure ends the batch `failed`
    /// (`AgentController.rerunExited`): a stopping one ends `stopped` instead, an ended one keeps its end.
    static let failsWhenItsProcessDies = BatchStatus.going.subtracting([RunStatus.stopping])

    init(id: String, ownerID: Int64, now: Int64) {
        self.id = id
        self.ownerID = ownerID
        self.status = RunStatus.running
        self.lastReceivedUs = now
        self.createdUs = now
    }

    init(row: SQLRow) {
        id = row["id"]
        ownerID = row["owner_id"]
        project = row["project"]
        status = row["status"]
        experimentType = row["experiment_type"]
        host = row["host"]
        user = row["user"]
        gitSHA = row["git_sha"]
        command = row["command"]
        cwd = row["cwd"]
        nTotal = row["n_total"]
        nDone = row["n_done"]
        nFailed = row["n_failed"]
        startUs = row["start_us"]
        endUs = row["end_us"]
        lastActivityUs = row["last_activity_us"]
        lastReceivedUs = row["last_received_us"]
        failureReason = row["failure_reason"]
        endReason = row["end_reason"]
        stopRequested = row["stop_requested"]
        stopRequestedUs = row["stop_requested_us"]
        stopRequestedBy = row["stop_requested_by"]
        sourceBatchID = row["source_batch_id"]
        createdUs = row["created_us"]
    }

    static func fetch(_ db: SQLConnection, id: String) throws -> BatchRecord? {
        try db.fetchOne("SELECT * FROM batches WHERE id = ?", [id])
            .map(BatchRecord.init(row:))
    }

    func save(_ db: SQLConnection) throws {
        let sql = """
            INSERT INTO batches(id, owner_id, project, status, experiment_type, host, "user", git_sha, command, cwd,
              n_total, n_done, n_failed, start_us, end_us, last_activity_us, last_received_us, failure_reason,
              stop_requested, stop_requested_us, stop_requested_by, source_batch_id, created_us, end_reason)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(id) DO UPDATE SET project=excluded.project, status=excluded.status,
              experiment_type=excluded.experiment_type, host=excluded.host, "user"=excluded."user",
              git_sha=excluded.git_sha, command=excluded.command, cwd=excluded.cwd, n_total=excluded.n_total,
              n_done=excluded.n_done, n_failed=excluded.n_failed, start_us=excluded.start_us, end_us=excluded.end_us,
              last_activity_us=excluded.last_activity_us, last_received_us=excluded.last_received_us,
              failure_reason=excluded.failure_reason, stop_requested=excluded.stop_requested,
              stop_requested_us=excluded.stop_requested_us, stop_requested_by=excluded.stop_requested_by,
              source_batch_id=excluded.source_batch_id, end_reason=excluded.end_reason
            """
        let args: [any SQLBindable] = [
            id, ownerID, project, status, experimentType, host, user, gitSHA, command, cwd,
            nTotal, nDone, nFailed, startUs, endUs, lastActivityUs, lastReceivedUs, failureReason,
            stopRequested, stopRequestedUs, stopRequestedBy, sourceBatchID, createdUs, endReason,
        ]
        try db.execute(sql, args)
    }

    /// Makes `n_done` and `n_failed` the counts of its jobs that ended so, after one ended, ended differently (a
    /// later job_failed) or runs again (a retry); they replace a script's own numbers from a batch_done that came
    /// before its jobs' events. A batch its script ended `done` that now has a failed job is `failed`; one that failed
    /// through its jobs alone (its reason is theirs) follows them, back to `done` when none is failed any more.
    mutating func recount(_ jobs: [JobRecord]) {
        nDone = jobs.lazy.filter { $0.status == RunStatus.done }.count
        nFailed = jobs.lazy.filter { $0.status == RunStatus.failed }.count
        count(jobs: jobs.count)
        if status == RunStatus.done, nFailed > 0 {
            status = RunStatus.failed
            failureReason = failureReason ?? failedJobsReason
        } else if status == RunStatus.failed, let reason = failureReason, BatchRecord.isFailedJobsReason(reason) {
            if nFailed > 0 {
                failureReason = failedJobsReason
            } else {
                status = RunStatus.done
                failureReason = nil
            }
        }
    }

    /// A total announced at the start is at least the jobs that reported ("6 of 4" reads as a bug): raised as each
    /// new job reports, and when the total is announced after some have.
    mutating func count(jobs n: Int) {
        if let t = nTotal, n > t { nTotal = n }
    }

    /// How a job that has not ended ends once its run has: the script is over, so nothing of it runs on. A stopped
    /// run's jobs stop with it; a run that failed of itself (batch_failed, marked failed) fails them; a run that
    /// reported it was done (batch_done, also when it counts as failed through other jobs' failures alone) ends them
    /// done. Nil while the run goes on. Applied when the run ends, and to a job whose events arrive after that (a
    /// spill file replayed late); the job's own job_done or job_failed, arriving later still, wins.
    var endOfUnfinishedJobs: String? {
        switch status {
        case RunStatus.stopped: return RunStatus.stopped
        case RunStatus.done: return RunStatus.done
        case RunStatus.failed:
            return failureReason.map(BatchRecord.isFailedJobsReason) == true ? RunStatus.done : RunStatus.failed
        default: return nil
        }
    }

    /// The failure reason of a batch that ended with failed jobs and gave none of its own.
    var failedJobsReason: String { "\(nFailed) of \(max(nTotal ?? 0, nDone + nFailed)) jobs failed" }

    /// Whether `reason` is a `failedJobsReason` (whatever the counts were): the batch failed through its jobs alone.
    static func isFailedJobsReason(_ reason: String) -> Bool {
        guard reason.hasSuffix(" jobs failed") else { return false }
        let counts = reason.dropLast(" jobs failed".count).split(separator: " ")
        return counts.count == 3 && counts[1] == "of" && Int(counts[0]) != nil && Int(counts[2]) != nil
    }

    /// A recorded working directory: blank text (a script that sent "") is none, so a rerun runs where a batch with
    /// none does, and the prompts say so, instead of failing on a directory named "".
    static func directory(_ value: JSON?) -> String? {
        value?.stringValue.flatMap { $0.allSatisfy(\.isWhitespace) ? nil : $0 }
    }

    /// Applies one ingested event to the summary (the run-state rules; ARCHITECTURE.md). `jobsSeen`: whether any job event of the batch
    /// reached the server (asked only for the events that end it).
    mutating func apply(_ e: IncomingEvent, receivedUs: Int64, jobsSeen: Bool = true) {
        let ts = e.ts.micros
        if e.isFromClient {
            // Server-made events (stop_requested, batch_stalled, ...) are not news from the run.
            lastActivityUs = max(lastActivityUs ?? ts, ts)
            lastReceivedUs = max(lastReceivedUs, receivedUs)
            if project == nil { project = e.source["project"]?.stringValue }
        }
        switch e.type {
        case "batch_start":
            startUs = min(startUs ?? ts, ts)
            project = e.source["project"]?.stringValue ?? project
            experimentType = e.data["experiment_type"]?.stringValue ?? experimentType
            // A negative count (a script's "unknown") is no count.
            nTotal = e.data["n_total_jobs"]?.intValue.flatMap { $0 >= 0 ? $0 : nil } ?? nTotal
            host = e.source["host"]?.stringValue ?? host
            user = e.source["user"]?.stringValue ?? user
            gitSHA = e.source["commit"]?.stringValue ?? gitSHA
            command = e.data["command"]?.stringValue ?? e.source["command"]?.stringValue ?? command
            cwd = BatchRecord.directory(e.data["cwd"]) ?? cwd
        case "env_snapshot":
            // Fills what batch_start left out; never overwrites it.
            host = host ?? e.data["hostname"]?.stringValue ?? e.source["host"]?.stringValue
            user = user ?? e.data["user"]?.stringValue ?? e.source["user"]?.stringValue
            gitSHA =
                gitSHA ?? e.data["git_sha"]?.stringValue ?? e.data["commit"]?.stringValue
                ?? e.source["commit"]?.stringValue
            command = command ?? e.data["command"]?.stringValue ?? e.source["command"]?.stringValue
            cwd = cwd ?? BatchRecord.directory(e.data["cwd"])
        case ServerEventTypes.stopRequested:
            // Server-made (POST /stop). A batch that already ended keeps its status.
            stopRequested = true
            stopRequestedUs = stopRequestedUs ?? ts
            stopRequestedBy = stopRequestedBy ?? e.data["requested_by"]?.stringValue
            // Also a stalled run: it is now `stopping`, and if it stays silent the stall detector ends it
            // `stopped` (without confirmation) instead of leaving it stalled forever.
            if !isFinished { status = RunStatus.stopping }
        case ServerEventTypes.batchStalled:
            // Server-made by the stall detector, which checked that nothing arrived since (serverEventRefusal).
            status = RunStatus.stalled
        case "batch_resumed":
            status = stopRequested ? RunStatus.stopping : RunStatus.running
        case "batch_done", "batch_failed":
            // The jobs the server saw are what it counts: the SDK counts attempts (a job retried after a failure
            // counts as failed and done), and its numbers can exceed the jobs shown. Only a script that reported
            // no job at all is taken at its word. Not its done count after a stop: the SDK counts a job it broke out
            // of early as done (`BatchStatus.jobDone` says stopped).
            if !jobsSeen {
                if !stopRequested { nDone = max(0, e.data["n_done"]?.intValue ?? 0) }
                nFailed = max(0, e.data["n_failed"]?.intValue ?? 0)
            }
            status = BatchStatus.ended(by: e.type, stopRequested: stopRequested, failedJobs: nFailed)
            endUs = ts
            // The run's own end says more than the server's guess that its Stop was done.
            if StoppedReason.isUnconfirmed(endReason) { endReason = nil }
            failureReason = BatchRecord.reportedReason(e.data) ?? failureReason
            if status == RunStatus.done {
                failureReason = nil  // a run marked failed that then finished well
            } else if status == RunStatus.failed, failureReason == nil {
                // The run's own word that it failed stands, whatever its jobs do later; only batch_done with failed
                // jobs fails through them alone (`recount`).
                failureReason =
                    e.type == "batch_failed"
                    ? "The run reported that it failed\(nFailed > 0 ? " (\(failedJobsReason))" : "")." : failedJobsReason
            }
        case ServerEventTypes.batchStopped:
            // Server-made by the stall detector, which checked that the batch was stopping and silent (serverEventRefusal).
            status = RunStatus.stopped
            endUs = BatchRecord.serverEndUs(e, lastActivityUs: lastActivityUs)
            endReason = e.data["reason"]?.stringValue
        case ServerEventTypes.batchMarkedFailed:
            // Server-made by POST /mark-failed, which checked the status (markFailedRefusal).
            status = RunStatus.failed
            endUs = BatchRecord.serverEndUs(e, lastActivityUs: lastActivityUs)
            failureReason = e.data["reason"]?.stringValue ?? failureReason
        default:
            guard e.isFromClient else { break }
            if startUs == nil { startUs = ts }
            host = host ?? e.source["host"]?.stringValue
            user = user ?? e.source["user"]?.stringValue
            gitSHA = gitSHA ?? e.source["commit"]?.stringValue
            command = command ?? e.source["command"]?.stringValue
        }
    }

    /// Whole seconds since the run was last heard from (an event of its own received), as of `nowUs`.
    func silentS(at nowUs: Int64) -> Int64 { (nowUs - lastReceivedUs) / 1_000_000 }

    /// The reason a run's or job's failure event gives (`reason`, else `error`), as the SDK writes it: `f"{type}: {e}"`
    /// leaves `KeyboardInterrupt: ` for an exception with no message, shown without its dangling colon. Nil for none.
    static func reportedReason(_ data: JSONObject) -> String? {
        guard let text = data["reason"]?.stringValue ?? data["error"]?.stringValue else { return nil }
        var t = Substring(text)
        while let last = t.last, last == ":" || last.isWhitespace { t = t.dropLast() }
        return t.isEmpty ? nil : String(t)
    }

    /// When a run the server ended (batch_stopped, batch_marked_failed) ended, for the batch and its running jobs:
    /// at its last activity (the last event it sent), not when the server acted, so a dead run's ELAPSED does not
    /// gain the stall timeout or the hours before someone marked it failed. The agent's word that the process
    /// exited (`process_exit_code`) is the end itself.
    static func serverEndUs(_ e: IncomingEvent, lastActivityUs: Int64?) -> Int64 {
        guard e.data["process_exit_code"] == nil, let last = lastActivityUs else { return e.ts.micros }
        return min(last, e.ts.micros)
    }

    // MARK: API shapes (openapi.json: BatchOut, BatchDetail)

    var listJSON: JSON {
        [
            "id": .string(id), "project": JSON(project), "status": .string(status), "host": JSON(host),
            "user": JSON(user), "command": JSON(command), "n_total": JSON(nTotal), "n_done": JSON(nDone),
            "n_failed": JSON(nFailed), "start_time": isoJSON(startUs), "end_time": isoJSON(endUs),
            "last_activity": isoJSON(lastActivityUs),
            // When the server last heard from the run, by its own clock (what the stall detector judges; the run's
            // own timestamps, and so last_activity, come from its host's clock).
            "last_received": isoJSON(lastReceivedUs),
            "last_seen": isoJSON(lastSeenUs),
        ]
    }

    /// When the run was last active, as lists show it: while it goes, when the server last heard from it (by the
    /// server's clock); once it ended, its own last event, so that a spill file delivered late does not make it look
    /// active.
    var lastSeenUs: Int64 { isFinished ? lastActivityUs ?? lastReceivedUs : lastReceivedUs }

    /// A commit as a screen shows it: a hex SHA by its first 7 characters; anything else a run calls its commit (a
    /// tag, `v1.2.3-rc1`; a branch) whole, since its first 7 characters would name something else.
    static func shortCommit(_ commit: String) -> String {
        let hex = commit.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0 | 0x20) }
        return hex ? String(commit.prefix(7)) : commit
    }

    var envSnapshotJSON: JSON {
        [
            "git_sha": JSON(gitSHA), "git_sha_short": JSON(gitSHA.map(Self.shortCommit)),
            "command": JSON(command), "cwd": JSON(cwd), "hostname": JSON(host), "user": JSON(user),
        ]
    }

    /// Everything the server folds from the batch's events: `GET /api/batches/{b}` without `agent_online`, and
    /// the `batch` of an SSE `summary` frame.
    var summaryJSON: JSON {
        guard case .object(var o) = listJSON else { return listJSON }
        o["experiment_type"] = JSON(experimentType)
        o["failure_reason"] = JSON(failureReason)
        o["end_reason"] = JSON(endReason)
        o["env_snapshot"] = envSnapshotJSON
        o["stop_requested"] = .bool(stopRequested)
        o["stop_requested_at"] = isoJSON(stopRequestedUs)
        o["source_batch_id"] = JSON(sourceBatchID)
        o["stop_detail"] = stopRequested ? .string(stopDetail) : .null
        return .object(o)
    }

    func detailJSON(agentOnline: Bool) -> JSON {
        guard case .object(var o) = summaryJSON else { return summaryJSON }
        o["agent_online"] = .bool(agentOnline)
        return .object(o)
    }

    /// How a stop asked for reaches the run, as the clients say it: the SDK's poll always; a rerun that an agent
    /// started (linked to its source batch) is also signalled by that agent (`ActionController.stop`).
    var stopDetail: String {
        sourceBatchID == nil
            ? "the run stops at its next check (every 10 s)"
            : "the agent that started this rerun signals it (SIGTERM, then SIGKILL), and the run checks every 10 s"
    }

    /// What the clients' action rules depend on: when it changes, every job's shown status may change too, and
    /// clients fetch the actions again.
    var actionState: String { "\(status)|\(stopRequested)" }
}

func isoJSON(_ us: Int64?) -> JSON {
    us.map { .string(Timestamp(micros: $0).iso) } ?? .null
}
