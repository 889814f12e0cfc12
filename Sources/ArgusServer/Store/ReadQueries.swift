import Dispatch
import Shared
import Synchronization

/// Which batches a request may read: a user's own (all for admins), or exactly one (a share link).
enum ReadScope: Sendable {
    case user(UserPrincipal)
    case batch(String)

    func allows(_ b: BatchRecord) -> Bool {
        switch self {
        case .user(let u): return u.canSee(b)
        case .batch(let id): return b.id == id
        }
    }
}

extension ArgusStore {
    /// The batches the scope may read, each with its owner's name (the Argus user whose token created it), newest
    /// first. `goingFirst`: those not ended (running, stopping, stalled) first, then the ended ones, each group newest
    /// first, so a run that is still going is never cut off by `limit` behind hundreds of batches created after it
    /// (what the pickers ask for).
    func listBatches(scope: ReadScope, status: String?, limit: Int, goingFirst: Bool = false) async throws -> [(
        BatchRecord, String?
    )] {
        try await database.read { db in
            var sql =
                "SELECT batches.*, users.name AS owner_name FROM batches LEFT JOIN users ON users.id = batches.owner_id WHERE 1=1"
            var args: [any SQLBindable] = []
            switch scope {
            case .user(let u) where !u.isAdmin:
                sql += " AND batches.owner_id = ?"
                args += [u.id]
            case .batch(let id):
                sql += " AND batches.id = ?"
                args += [id]
            default: break
            }
            func fetch(_ condition: String, _ values: [any SQLBindable], limit: Int) throws -> [(BatchRecord, String?)] {
                guard limit > 0 else { return [] }
                return try db.fetchAll(
                    sql + condition + " ORDER BY batches.created_us DESC, batches.id LIMIT ?", args + values + [limit]
                ).map { row in (BatchRecord(row: row), row["owner_name"] as String?) }
            }
            if let status { return try fetch(" AND batches.status = ?", [status], limit: limit) }
            guard goingFirst else { return try fetch("", [], limit: limit) }
            // Both by index: the few going ones through batches_status, the ended ones by walking batches_created
            // (`IN` the terminal statuses would sort every ended batch: 40 ms at 100k batches, against 0.5).
            let going = BatchStatus.going.sorted()
            let marks = going.map { _ in "?" }.joined(separator: ", ")
            let first = try fetch(" AND batches.status IN (\(marks))", going, limit: limit)
            return first + (try fetch(" AND batches.status NOT IN (\(marks))", going, limit: limit - first.count))
        }
    }

    /// The batch, if it exists and the scope may read it (else nil: callers answer 404 either way).
    static func visibleBatch(_ db: SQLConnection, _ id: String, scope: ReadScope) throws -> BatchRecord? {
        guard let b = try BatchRecord.fetch(db, id: id), scope.allows(b) else { return nil }
        return b
    }

    /// Whether the database answers (`GET /health`, `/metrics`, the watchdog): one trivial read, unless a write or a
    /// read like this one succeeded less than a second ago (a load balancer polling `/health` should not add a read of
    /// its own each time). Throws `DatabaseSilent` after `pingWaitS` without an answer: a PostgreSQL that hangs, or a
    /// network cut that sends no reset, would otherwise hold each caller until TCP gives up, minutes later. One read
    /// at a time: while it waits, later callers wait on the same one (each at most `pingWaitS`), so a hung database
    /// does not collect a read per probe.
    func ping() async throws {
        let now = DispatchTime.now().uptimeNanoseconds
        if now &- answeredAtNs.load(ordering: .relaxed) < 1_000_000_000 { return }
        let read = pingInFlight.withLock { current in
            if let current { return current }
            let t = Task { [self] in
                defer { pingInFlight.withLock { $0 = nil } }
                try await database.ping()
                answeredAtNs.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
            }
            current = t
            return t
        }
        try await Self.outcome(of: read, within: Self.pingWaitS)
    }

    /// `task`'s outcome, or `DatabaseSilent` when `seconds` pass first (the task runs on).
    static func outcome(of task: Task<Void, any Error>, within seconds: Double) async throws {
        final class Waiting: Sendable {
            let c = Mutex<CheckedContinuation<Void, any Error>?>(nil)
            func resume(with r: Result<Void, any Error>) { c.withLock { $0.take() }?.resume(with: r) }
        }
        let waiting = Waiting()
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
            waiting.c.withLock { $0 = c }
            let timer = Task {
                try await Task.sleep(for: .seconds(seconds))
                waiting.resume(with: .failure(DatabaseSilent(waitedS: seconds)))
            }
            Task {
                let r = await task.result
                timer.cancel()
                waiting.resume(with: r)
            }
        }
    }

    func batch(_ id: String, scope: ReadScope) async throws -> BatchRecord? {
        try await database.quickRead { db in try ArgusStore.visibleBatch(db, id, scope: scope) }
    }

    func jobs(batchID: String, scope: ReadScope) async throws -> (BatchRecord, [JobRecord])? {
        try await database.quickRead { db in
            guard let b = try ArgusStore.visibleBatch(db, batchID, scope: scope) else { return nil }
            return (b, try JobRecord.fetchAll(db, batchID: batchID))
        }
    }

    func job(batchID: String, jobID: String, scope: ReadScope) async throws -> (
        BatchRecord, JobRecord
    )? {
        try await database.quickRead { db in
            guard let b = try ArgusStore.visibleBatch(db, batchID, scope: scope),
                let j = try JobRecord.fetch(db, batchID: batchID, id: jobID)
            else { return nil }
            return (b, j)
        }
    }

    // MARK: Raw event reads

    /// Log lines, newest first by timestamp (then id): `limit` of them before the line `beforeID`, only those
    /// `filter` matches. The filter runs here rather than in SQL so that the server and the TUI share one rule
    /// (`LogFilter`); the scan reads just the two fields it needs and stops at `limit` matches.
    ///
    /// Lines are in the order they were written (their timestamps), not the order they arrived: lines an SDK kept
    /// through an outage arrive late and belong above the lines that came live meanwhile. The cursor stays an id; the
    /// lines before it are those before its (ts, id). A cursor that names no line of this batch (purged since) falls
    /// back to arrival order.
    static func logLines(
        _ db: SQLConnection, batchID: String, jobID: String?, limit: Int, beforeID: Int64?,
        includeHidden: Bool, filter: LogFilter = LogFilter("")
    ) throws
        -> [JSON]
    {
        var before: LogCursor?
        if let beforeID {
            let cursor = "SELECT ts_us FROM events WHERE id = ? AND batch_id = ? AND event_type = 'log_line'"
            before = LogCursor(id: beforeID, ts: try db.fetchOne(cursor, [beforeID, batchID])?[0] as Int64?)
        }
        func read(_ job: String?) throws -> [(ts: Int64, id: Int64, row: JSON)] {
            try logLines(
                db, batchID: batchID, job: job, limit: limit, before: before, includeHidden: includeHidden, filter: filter)
        }
        if let jobID { return try read(jobID).map(\.row) }
        // A whole batch: each job's newest, merged. The one index (LogOrderIndexes) keeps each job's lines in order;
        // a second one across jobs cost every log line's insert another 10 % of SQLite's CPU (`bench/log-index.sh`), for a
        // route only the API uses.
        // A batch's lines belong to its jobs, to none, or to the batch's own id (the SDK's batch-level log).
        let jobs = try db.fetchAll("SELECT id FROM jobs WHERE batch_id = ?", [batchID]).map { $0["id"] as String? }
        var all: [(ts: Int64, id: Int64, row: JSON)] = []
        for job in Set(jobs + [nil, batchID]) { all += try read(job) }
        return all.sorted { ($0.ts, $0.id) > ($1.ts, $1.id) }.prefix(limit).map(\.row)
    }

    /// Where a page of log lines ends: the line `id`, at `ts` when it is a log line of the batch.
    struct LogCursor {
        var id: Int64
        var ts: Int64?
    }

    /// One job's log lines (`job` nil: the batch's lines that name none), newest first, as `logLines` pages them.
    private static func logLines(
        _ db: SQLConnection, batchID: String, job: String?, limit: Int, before: LogCursor?, includeHidden: Bool,
        filter: LogFilter
    ) throws -> [(ts: Int64, id: Int64, row: JSON)] {
        var sql = """
            SELECT id, ts_us, job_id, \(db.dialect.jsonText("body", "data", "line")) AS line,
              \(db.dialect.jsonText("body", "data", "level")) AS level
            FROM events WHERE batch_id = ? AND event_type = 'log_line'
            """
        var args: [any SQLBindable] = [batchID]
        if let job {
            sql += " AND job_id = ?"
            args += [job]
        } else {
            sql += " AND job_id IS NULL"
        }
        if let before {
            if let ts = before.ts {
                // The first condition bounds the index range, the second places the lines of the same microsecond.
                sql += " AND ts_us <= ? AND (ts_us < ? OR id < ?)"
                args += [ts, ts, before.id]
            } else {
                sql += " AND id < ?"
                args += [before.id]
            }
        }
        if !includeHidden { sql += " AND hidden = 0" }
        sql += " ORDER BY ts_us DESC, id DESC"
        if filter.isEmpty {
            sql += " LIMIT ?"
            args += [limit]
        }
        var out: [(ts: Int64, id: Int64, row: JSON)] = []
        try db.forEach(sql, args) { r in
            // A line or level that is not text (a number, an object) is shown as its JSON text.
            let line = r["line"] as String? ?? ""
            let level = (r["level"] as String? ?? "info").lowercased()
            guard filter.matches(line: line, level: level) else { return true }
            let (id, ts): (Int64, Int64) = (r["id"], r["ts_us"])
            out.append(
                (
                    ts, id,
                    [
                        "id": JSON(id), "ts": .string(Timestamp(micros: ts).iso), "job_id": JSON(r["job_id"] as String?),
                        "level": .string(level), "line": .string(line),
                    ]
                ))
            return out.count < limit
        }
        return out
    }

    static func resources(_ db: SQLConnection, batchID: String, job: JobRecord?, limit: Int) throws
        -> [JSON]
    {
        var sql =
            "SELECT id, ts_us, job_id, body FROM events WHERE batch_id = ? AND event_type = 'resource_snapshot'"
        var args: [any SQLBindable] = [batchID]
        if let job {
            // The job's own snapshots, plus batch-level ones taken while it ran.
            sql += " AND (job_id = ? OR (job_id IS NULL AND ts_us >= ? AND ts_us <= ?))"
            args += [job.id, job.startUs ?? Int64.max, job.endUs ?? Int64.max]
        }
        sql += " ORDER BY id DESC LIMIT ?"
        args += [limit]
        return try db.fetchAll(sql, args).map { r in
            var o = JSONObject([
                ("id", JSON(r["id"] as Int64)), ("ts", .string(Timestamp(micros: r["ts_us"]).iso)),
            ])
            o["job_id"] = JSON(r["job_id"] as String?)
            let data = (try? JSON.parse(r["body"] as String))?["data"]?.objectValue ?? JSONObject()
            for p in data where o[p.key] == nil { o[p.key] = p.value }
            if data["gpus"] != nil {
                // Util: the mean over the listed GPUs. Memory: the flat key means GPU 0, as the SDK sends it,
                // so it is kept as sent, or taken from the list (the per-GPU figures stay in `gpus`).
                let g = GPUFigures(data)
                o["gpu_util_pct"] = JSON(g.util)
                if data["gpu_mem_mb"] == nil { o["gpu_mem_mb"] = JSON(g.devices.first { $0.index == 0 }?.memMB) }
            }
            return .object(o)
        }
    }

    /// The newest event id committed now.
    func newestEventID() async throws -> Int64 {
        try await database.read { try ArgusStore.maxEventID($0) }
    }

    /// The newest event id ever handed out (ids are never reused, even after retention deletes).
    static func maxEventID(_ db: SQLConnection) throws -> Int64 {
        switch db.dialect {
        case .sqlite: return try db.scalar(Int64.self, "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
        case .postgres: return try db.scalar(Int64.self, "SELECT COALESCE(MAX(id), 0) FROM events") ?? 0
        }
    }

    func epochs(batchID: String, jobID: String, scope: ReadScope) async throws -> EpochTable? {
        try await database.read { db in
            guard try ArgusStore.visibleBatch(db, batchID, scope: scope) != nil,
                try JobRecord.fetch(db, batchID: batchID, id: jobID) != nil
            else { return nil }
            return try self.epochs(db, batchID: batchID, jobID: jobID)
        }
    }

    func logLines(
        batchID: String, jobID: String?, requireJob: Bool, limit: Int, beforeID: Int64?,
        includeHidden: Bool, filter: LogFilter, scope: ReadScope
    )
        async throws -> [JSON]?
    {
        try await database.read { db in
            guard try ArgusStore.visibleBatch(db, batchID, scope: scope) != nil else { return nil }
            if requireJob, let jobID, try JobRecord.fetch(db, batchID: batchID, id: jobID) == nil {
                return nil
            }
            return try ArgusStore.logLines(
                db, batchID: batchID, jobID: jobID, limit: limit, beforeID: beforeID,
                includeHidden: includeHidden, filter: filter)
        }
    }

    func resources(batchID: String, jobID: String?, limit: Int, scope: ReadScope) async throws
        -> [JSON]?
    {
        try await database.read { db in
            guard try ArgusStore.visibleBatch(db, batchID, scope: scope) != nil else { return nil }
            var job: JobRecord? = nil
            if let jobID {
                guard let j = try JobRecord.fetch(db, batchID: batchID, id: jobID) else { return nil }
                job = j
            }
            return try ArgusStore.resources(db, batchID: batchID, job: job, limit: limit)
        }
    }

    /// Everything the job-detail screen needs, read in one snapshot so `last_event_id` matches the data; the epochs
    /// as rows, or as columns when `epochColumns` (`?epochs=columns`).
    func view(
        batchID: String, jobID: String, scope: ReadScope, agentOnlineS: Double, epochColumns: Bool = false,
        actions: @escaping @Sendable (BatchRecord, AgentAssignment) -> JSON
    )
        async throws -> JSON?
    {
        try await database.read { db in
            guard let b = try ArgusStore.visibleBatch(db, batchID, scope: scope),
                let j = try JobRecord.fetch(db, batchID: batchID, id: jobID)
            else { return nil }
            let lastID = try ArgusStore.maxEventID(db)
            let agent = try ArgusStore.agentAssignment(db, for: b, withinS: agentOnlineS, forActions: true)
            let table = try self.epochs(db, batchID: batchID, jobID: jobID)
            return [
                "batch": b.detailJSON(agentOnline: agent.agentID != nil),
                "job": j.json(batchStatus: b.status),
                "epochs": epochColumns ? table.columnsJSON : table.rowsJSON,
                "log_tail": .array(
                    try ArgusStore.logLines(
                        db, batchID: batchID, jobID: jobID, limit: LogFilter.pageSize, beforeID: nil, includeHidden: false)),
                "resources_latest": try ArgusStore.resources(db, batchID: batchID, job: j, limit: 1).first
                    ?? .null,
                "env_snapshot": b.envSnapshotJSON,
                "actions": actions(b, agent),
                "last_event_id": JSON(lastID),
            ]
        }
    }
}
