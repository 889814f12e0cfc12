import Shared

/// The channels of one SSE connection: `batch:<b>` and `job:<b>:<j>`, OR-ed together.
struct ChannelFilter: Sendable {
    var names: [String] = []
    var wholeBatches: Set<String> = []
    var jobs: [String: Set<String>] = [:]

    var batchIDs: Set<String> { wholeBatches.union(jobs.keys) }

    /// Parses `batch:b,job:b:j` (`Channel`: ids inside a name are percent-encoded, so ',' only separates names).
    /// `names` are the canonical names, as every frame's `channel` spells them.
    static func parse(_ text: String) throws(APIError) -> ChannelFilter {
        var f = ChannelFilter()
        let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
        guard !parts.isEmpty else {
            throw APIError.unprocessable(
                "Name at least one channel: channels=batch:<batch_id> or job:<batch_id>:<job_id>.")
        }
        guard parts.count <= 64 else {
            throw APIError.unprocessable("At most 64 channels per connection.")
        }
        for p in parts {
            let channel: Channel
            do { channel = try Channel(parsing: p) } catch { throw APIError.unprocessable(error.description) }
            switch channel {
            case .batch(let b): f.wholeBatches.insert(b)
            case .job(let b, let j): f.jobs[b, default: []].insert(j)
            }
            f.names.append(channel.name)
        }
        return f
    }

    /// The indices of the `events` this filter matches, ascending. `byBatch` holds the events' indices by batch id,
    /// so a whole-batch channel costs one lookup, whatever the number of events.
    func matching(_ events: [StoredEvent], byBatch: [String: [Int]]) -> [Int] {
        var out: [Int] = []
        var parts = 0
        for b in wholeBatches {
            guard let ks = byBatch[b] else { continue }
            out += ks
            parts += 1
        }
        for b in jobs.keys where !wholeBatches.contains(b) {
            guard let ks = byBatch[b] else { continue }
            let m = ks.filter { matches(events[$0]) }
            guard !m.isEmpty else { continue }
            out += m
            parts += 1
        }
        if parts > 1 { out.sort() }
        return out
    }

    func matches(_ e: StoredEvent) -> Bool {
        if wholeBatches.contains(e.batchID) { return true }
        guard let js = jobs[e.batchID] else { return false }
        if let j = e.jobID { return js.contains(j) }
        if e.type == SummaryFrame.eventType { return true }
        if e.type == "resource_snapshot" { return e.snapshotJobs.contains(where: js.contains) }
        return false
    }
}

extension StoredEvent {
    init(row r: SQLRow, snapshotJobs: [String] = []) {
        let batchID: String = r["batch_id"]
        let type: String = r["event_type"]
        let rawJob: String? = r["job_id"]
        let job = (type == "log_line" && rawJob == batchID) ? nil : rawJob
        self.init(
            id: r["id"], batchID: batchID, jobID: job, type: type, tsUs: r["ts_us"], body: r["body"],
            channel: (job.map { Channel.job(batchID, $0) } ?? Channel.batch(batchID)).name, snapshotJobs: snapshotJobs)
    }
}

extension ArgusStore {
    /// One page of stored events after `after` that match `filter`, in id order. `done` is false when more may follow.
    func replay(_ filter: ChannelFilter, after: Int64, pageSize: Int = 1000) async throws -> (
        events: [StoredEvent], done: Bool
    ) {
        try await database.read { db in
            var all: [StoredEvent] = []
            var horizon = Int64.max
            for b in filter.batchIDs.sorted() {
                // `+batch_id` keeps SQLite on the rowid range after the cursor (short for a reconnect).
                var sql =
                    "SELECT id, batch_id, job_id, event_type, ts_us, body FROM events WHERE id > ? AND \(db.dialect.unindexed("batch_id")) = ?"
                var args: [any SQLBindable] = [after, b]
                var windows: [JobRecord] = []
                if !filter.wholeBatches.contains(b), let js = filter.jobs[b] {
                    sql +=
                        " AND (job_id IN (\(js.map { _ in "?" }.joined(separator: ","))) OR (event_type = 'resource_snapshot' AND job_id IS NULL))"
                    for j in js.sorted() { args += [j] }
                    windows = try js.compactMap { try JobRecord.fetch(db, batchID: b, id: $0) }
                }
                sql += " ORDER BY id LIMIT ?"
                args += [pageSize]
                let rows = try db.fetchAll(sql, args)
                for r in rows {
                    var e = StoredEvent(row: r)
                    if e.type == "resource_snapshot", e.jobID == nil, !windows.isEmpty {
                        e.snapshotJobs = JobRecord.running(at: e.tsUs, among: windows)
                    }
                    if filter.matches(e) { all.append(e) }
                }
                if rows.count == pageSize, let last = rows.last {
                    horizon = min(horizon, last["id"] as Int64)
                }
            }
            all.sort { $0.id < $1.id }
            if horizon != .max { all.removeAll { $0.id > horizon } }
            return (all, horizon == .max)
        }
    }

    /// One `summary` frame per batch of `filter` with its current state (SummaryFrame): the whole batch's jobs for a
    /// `batch:` channel, the named ones for `job:` channels. Sent when a stream opens, after the replay.
    func currentSummaries(_ filter: ChannelFilter) async throws -> [BatchSummary] {
        try await database.read { db in
            try filter.batchIDs.sorted().compactMap { bid -> BatchSummary? in
                guard let b = try BatchRecord.fetch(db, id: bid) else { return nil }
                var jobs = try JobRecord.fetchAll(db, batchID: bid)
                if !filter.wholeBatches.contains(bid) { jobs.removeAll { !(filter.jobs[bid] ?? []).contains($0.id) } }
                return BatchSummary(batch: b, jobs: jobs)
            }
        }
    }
}
