import Logging
import Shared

/// Replicas on one PostgreSQL: the SSE hub of every replica is fed from the database, in id order, instead of from the
/// replica's own commits. Whenever an event may have committed (a local commit, or a NOTIFY from another replica's
/// commit) the tail reads every event after the last one it published and hands them to the hub with their batches'
/// summary frames. Every write takes the one lock shared by all replicas before it draws ids (`SQLDatabase`), so ids
/// commit in id order: once the tail has read id N, no id below N can commit later, and a subscriber on any replica
/// receives every event exactly once, in id order, whichever replica wrote it.
actor EventTail {
    private let store: ArgusStore
    private let publish: @Sendable ([StoredEvent]) -> Void
    private let logger: Logger
    /// The newest id published.
    private(set) var cursor: Int64
    /// Each batch's `actionState` when its last summary frame was published (SummaryFrame: all its jobs when it changes).
    private var actionStates: [String: String] = [:]
    private var reading = false
    private var again = false
    /// When reads began to fail and when that was last logged (nil: the last read worked).
    private var failing: (since: ContinuousClock.Instant, logged: ContinuousClock.Instant)?
    private let pageSize = 2000

    init(store: ArgusStore, startAfter: Int64, logger: Logger, publish: @escaping @Sendable ([StoredEvent]) -> Void) {
        self.store = store
        self.cursor = startAfter
        self.logger = logger
        self.publish = publish
    }

    /// Something may have committed: read it (once more after the current read if one is running).
    nonisolated func poke() { Task { await self.readNew() } }

    private func readNew() async {
        if reading {
            again = true
            return
        }
        reading = true
        defer { reading = false }
        repeat {
            again = false
            do {
                while true {
                    let (events, states) = try await store.tail(
                        after: cursor, limit: pageSize, actionStates: actionStates)
                    guard let last = events.last else { break }
                    actionStates.merge(states) { $1 }
                    cursor = max(cursor, last.id)
                    publish(events)
                    if events.count < pageSize { break }
                }
                if let f = failing {
                    logger.info("Reading new events for streaming again after \(f.since.secondsAgo) s.")
                    failing = nil
                }
            } catch {
                // The next commit or NOTIFY (or the listener's re-read while it cannot listen) reads again. Logged
                // as `LastingFailureLog` says, not at each of those tries.
                if let f = failing {
                    if f.logged.secondsAgo >= LastingFailureLog.everyS {
                        logger.warning(
                            "Still cannot read new events for streaming (\(f.since.secondsAgo) s): \(error)")
                        failing = (f.since, .now)
                    }
                } else {
                    logger.warning("Could not read new events for streaming: \(error)")
                    failing = (.now, .now)
                }
            }
        } while again
    }
}

extension ArgusStore {
    /// Every event after `after` (at most `limit`, in id order) with one summary frame per batch placed after that
    /// batch's newest event, as an ingest commit hands them to the hub. A summary shows the jobs the events touched,
    /// and all the batch's jobs when its `actionState` differs from `actionStates[batch]` (returned updated).
    func tail(after: Int64, limit: Int, actionStates: [String: String]) async throws -> (
        [StoredEvent], [String: String]
    ) {
        try await database.read { db in
            var events = try db.fetchAll(
                "SELECT id, batch_id, job_id, event_type, ts_us, body FROM events WHERE id > ? ORDER BY id LIMIT ?",
                [after, limit]
            ).map { StoredEvent(row: $0) }
            var jobs: [String: [String: JobRecord]] = [:]
            func allJobs(_ bid: String) throws -> [String: JobRecord] {
                if let js = jobs[bid] { return js }
                let js = Dictionary(try JobRecord.fetchAll(db, batchID: bid).map { ($0.id, $0) }) { $1 }
                jobs[bid] = js
                return js
            }
            var touched: [String: Set<String>] = [:]
            for i in events.indices {
                let e = events[i]
                if e.type == "resource_snapshot", e.jobID == nil {
                    events[i].snapshotJobs = JobRecord.running(at: e.tsUs, among: try allJobs(e.batchID).values)
                }
                touched[e.batchID, default: []].formUnion(events[i].snapshotJobs)
                if let j = e.jobID { touched[e.batchID, default: []].insert(j) }
            }
            var newest: [String: Int64] = [:]
            for e in events { newest[e.batchID] = max(newest[e.batchID] ?? 0, e.id) }
            var states: [String: String] = [:]
            var summaries: [StoredEvent] = []
            for (bid, id) in newest.sorted(by: { $0.value < $1.value }) {
                guard let b = try BatchRecord.fetch(db, id: bid) else { continue }
                states[bid] = b.actionState
                // Every job when the batch's status or stop flag changed (SummaryFrame), else those the events touched
                // (read one by one unless the batch's jobs were read already).
                let shown =
                    actionStates[bid] != b.actionState
                    ? Array(try allJobs(bid).values)
                    : try (touched[bid] ?? []).sorted().compactMap { id in
                        if let js = jobs[bid] { return js[id] }
                        return try JobRecord.fetch(db, batchID: bid, id: id)
                    }
                summaries.append(StoredEvent.summary(b, jobs: shown, id: id))
            }
            return (StoredEvent.interleave(events, summaries: summaries), states)
        }
    }
}
