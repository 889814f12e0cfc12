import Shared
import Synchronization

/// Jobs' epochs as last read (`EpochTable`), so that reading a big job again — a second viewer, the TUI's compare
/// overlay re-reading every 10 s, a browser reload, `argus-tui` opened once more — reads only the epochs stored
/// since instead of every row again (100k envelopes are most of a 100k-epoch job's `/view`).
///
/// An entry is used only while the database still holds every event it was built from: the job's `job_epoch`
/// events up to the entry's last id are counted (on the job's index, in the same read transaction) and must be as
/// many as it read, since retention deletes by timestamp, from this process or another (`retention sweep`, another
/// replica). Then the events after that id are added. Ids commit in id order on both backends (one writer on
/// SQLite, the ingest lock on PostgreSQL), so no event can later appear below an id already read.
///
/// Bounded by an estimate of the tables' bytes (`ARGUS_EPOCH_CACHE_MB`), the least recently used first out.
final class EpochCache: Sendable {
    /// The ids' bytes, as the database compares them (Swift's `String` equality would take two spellings of "é",
    /// stored before ids were kept in one form, for one job).
    struct Key: Hashable, Sendable {
        var batchID: [UInt8]
        var jobID: [UInt8]

        init(batchID: String, jobID: String) {
            self.batchID = Array(batchID.utf8)
            self.jobID = Array(jobID.utf8)
        }
    }

    struct Entry: Sendable {
        var table = EpochTable()
        /// The newest event id read into `table`, and how many events were read.
        var throughID: Int64 = 0
        var events = 0
        fileprivate var used: UInt64 = 0
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var budget: Int
        var tick: UInt64 = 0
    }

    private let state: Mutex<State>

    init(budgetBytes: Int) { state = Mutex(State(budget: budgetBytes)) }

    func setBudget(_ bytes: Int) {
        state.withLock {
            $0.budget = bytes
            EpochCache.evict(&$0, toFit: 0)
        }
    }

    var bytes: Int { state.withLock { $0.bytes } }

    /// The job's entry, taken out (the reader adds to it, then `put`s it back); nil when there is none.
    func take(_ key: Key) -> Entry? {
        state.withLock { s in
            guard let e = s.entries.removeValue(forKey: key) else { return nil }
            s.bytes -= e.table.approximateBytes
            return e
        }
    }

    func put(_ key: Key, _ entry: Entry) {
        let size = entry.table.approximateBytes
        state.withLock { s in
            guard entry.events > 0, size <= s.budget else { return }
            if let old = s.entries.removeValue(forKey: key) { s.bytes -= old.table.approximateBytes }
            EpochCache.evict(&s, toFit: size)
            s.tick += 1
            var e = entry
            e.used = s.tick
            s.entries[key] = e
            s.bytes += size
        }
    }

    private static func evict(_ s: inout State, toFit size: Int) {
        while s.bytes + size > s.budget, let oldest = s.entries.min(by: { $0.value.used < $1.value.used }) {
            s.entries.removeValue(forKey: oldest.key)
            s.bytes -= oldest.value.table.approximateBytes
        }
    }
}

extension ArgusStore {
    /// The job's epochs (`EpochTable`: rows for `/epochs` and `/view`, or columns for `/view?epochs=columns`), from
    /// the cache topped up with what was stored since (`EpochCache`), or read whole.
    /// Hot for big jobs (the view of a 100k-epoch run): the stored envelopes are read as text and their `data`
    /// copied from it, not extracted by the database (SQLite's json_extract was most of the time) nor parsed
    /// into JSON trees.
    func epochs(_ db: SQLConnection, batchID: String, jobID: String) throws -> EpochTable {
        let key = EpochCache.Key(batchID: batchID, jobID: jobID)
        var entry = epochCache.take(key) ?? EpochCache.Entry()
        if entry.events > 0 {
            let still = try db.scalar(
                Int64.self,
                """
                SELECT COUNT(*) FROM events
                WHERE batch_id = ? AND job_id = ? AND event_type = 'job_epoch' AND id <= ?
                """, [batchID, jobID, entry.throughID])
            if still != Int64(entry.events) { entry = EpochCache.Entry() }
        }
        try db.forEach(
            """
            SELECT id, ts_us, body FROM events
            WHERE batch_id = ? AND job_id = ? AND event_type = 'job_epoch' AND id > ? ORDER BY id
            """, [batchID, jobID, entry.throughID]
        ) { r in
            if let body: String = r["body"] { entry.table.add(envelope: body, tsUs: r["ts_us"]) }
            entry.throughID = r["id"]
            entry.events += 1
            return true
        }
        epochCache.put(key, entry)
        return entry.table
    }
}
