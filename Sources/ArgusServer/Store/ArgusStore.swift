import Foundation
import GRDB
import Shared

/// Owns the one `DatabasePool` (WAL). All SQL lives in this type and its extensions.
public final class ArgusStore: Sendable {
    let pool: DatabasePool

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (creating if needed) the data dir and `argus.sqlite`, and migrates it.
    public init(dataDir: String) throws(OpenError) {
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            throw OpenError(description: "Cannot create the data directory \(dataDir): \(error.localizedDescription)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // WAL + NORMAL: a commit survives a crash of this process; fsync happens at checkpoints.
            try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
        }
        config.maximumReaderCount = 4
        let path = (dataDir as NSString).appendingPathComponent("argus.sqlite")
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Schema.migrator.migrate(pool)
        } catch {
            throw OpenError(description: "Cannot open the database \(path): \(error)")
        }
    }

    static func nowUs() -> Int64 { Timestamp.now().micros }
}

/// The authenticated user behind a token.
public struct UserPrincipal: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var isAdmin: Bool
    public var scope: String

    func canSee(_ b: BatchRecord) -> Bool { isAdmin || b.ownerID == id }
}

/// One event to store on behalf of a user.
struct IngestItem: Sendable {
    var event: IncomingEvent
    var user: UserPrincipal
}

enum IngestOutcome: Sendable {
    case accepted(Int64)
    case deduplicated(Int64)
    case rejected(EventRejection)
}

/// A committed event as the SSE hub and replay see it.
struct StoredEvent: Sendable {
    var id: Int64
    var batchID: String
    var jobID: String?
    var type: String
    var tsUs: Int64
    var body: String
    var channel: String
    /// For batch-level resource snapshots: the jobs running when it was taken.
    var snapshotJobs: [String]

    /// `{"id":N,"channel":"…",<rest of the stored envelope>}`: the data line of an SSE frame.
    var streamedJSON: String {
        var s = "{\"id\":\(id),\"channel\":"
        var bytes: [UInt8] = []
        JSON.writeString(channel, into: &bytes)
        s += String(decoding: bytes, as: UTF8.self)
        if body.utf8.count > 2 { s += "," + body.dropFirst() } else { s += "}" }
        return s
    }

    var sseFrame: String { SSEEncoder.frame(id: id, event: type, data: streamedJSON) }
}

extension ArgusStore {
    /// Stores events in one transaction: dedupe, insert, summaries. Returns one outcome per item, in order,
    /// and the newly stored events in id order (for streaming after commit).
    func ingest(_ items: [IngestItem]) async throws -> ([IngestOutcome], [StoredEvent]) {
        try await pool.write { db in
            var t = IngestTransaction(db: db)
            return try t.run(items)
        }
    }
}

/// The body of one write transaction. Batch and job rows are loaded once, updated in memory, and
/// written back once at the end, so a 500-epoch request costs 500 inserts and two upserts.
struct IngestTransaction {
    let db: Database
    let receivedUs = ArgusStore.nowUs()
    var batches: [String: BatchRecord] = [:]
    var jobs: [String: [String: JobRecord]] = [:]
    var allJobsLoaded: Set<String> = []
    var dirtyBatches: Set<String> = []
    var dirtyJobs: [String: Set<String>] = [:]

    init(db: Database) { self.db = db }

    mutating func run(_ items: [IngestItem]) throws -> ([IngestOutcome], [StoredEvent]) {
        var outcomes: [IngestOutcome] = []
        var stored: [StoredEvent] = []
        outcomes.reserveCapacity(items.count)
        for item in items {
            let outcome = try ingestOne(item.event, user: item.user, stored: &stored)
            outcomes.append(outcome)
        }
        try flush()
        return (outcomes, stored)
    }

    mutating func batch(_ id: String) throws -> BatchRecord? {
        if let b = batches[id] { return b }
        let b = try BatchRecord.fetch(db, id: id)
        batches[id] = b
        return b
    }

    mutating func job(_ batchID: String, _ id: String) throws -> JobRecord? {
        if let j = jobs[batchID]?[id] { return j }
        if allJobsLoaded.contains(batchID) { return nil }
        let j = try JobRecord.fetch(db, batchID: batchID, id: id)
        if let j { jobs[batchID, default: [:]][id] = j }
        return j
    }

    mutating func allJobs(_ batchID: String) throws -> [JobRecord] {
        if !allJobsLoaded.contains(batchID) {
            var loaded = jobs[batchID] ?? [:]
            for j in try JobRecord.fetchAll(db, batchID: batchID) where loaded[j.id] == nil { loaded[j.id] = j }
            jobs[batchID] = loaded
            allJobsLoaded.insert(batchID)
        }
        return Array(jobs[batchID]!.values)
    }

    mutating func put(_ b: BatchRecord) {
        batches[b.id] = b
        dirtyBatches.insert(b.id)
    }

    mutating func put(_ j: JobRecord) {
        jobs[j.batchID, default: [:]][j.id] = j
        dirtyJobs[j.batchID, default: []].insert(j.id)
    }

    /// Inserts the raw event; nil when its event_id is already stored.
    func insertEvent(_ e: IncomingEvent) throws -> Int64? {
        let stmt = try db.cachedStatement(
            sql: """
                INSERT INTO events(event_id, batch_id, job_id, event_type, ts_us, received_us, hidden, body)
                VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(event_id) DO NOTHING
                """)
        try stmt.execute(arguments: [e.eventID, e.batchID, e.jobID, e.type, e.ts.micros, receivedUs, e.isHeartbeat, e.body])
        return db.changesCount == 0 ? nil : db.lastInsertedRowID
    }

    func existingID(_ eventID: String) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM events WHERE event_id = ?"), arguments: [eventID]) ?? 0
    }

    mutating func ingestOne(_ e: IncomingEvent, user: UserPrincipal, stored: inout [StoredEvent]) throws -> IngestOutcome {
        let existing = try batch(e.batchID)
        if let existing, !user.canSee(existing) {
            return .rejected(EventRejection(status: 403, message: "Batch '\(e.batchID)' belongs to another user."))
        }
        guard let id = try insertEvent(e) else { return .deduplicated(try existingID(e.eventID)) }
        var b = existing ?? BatchRecord(id: e.batchID, ownerID: user.id, now: receivedUs)
        let wasStopping = b.stopRequested && !b.isFinished
        b.apply(e, receivedUs: receivedUs)
        var snapshotJobs: [String] = []
        if let jobID = e.effectiveJobID {
            var j = try job(e.batchID, jobID) ?? JobRecord(batchID: e.batchID, id: jobID, now: receivedUs)
            switch j.apply(e) {
            case "done"?: b.nDone += 1
            case "failed"?: b.nFailed += 1
            default: break
            }
            if e.type == "resource_snapshot" {
                let g = GPUFigures(e.data)
                j.applySnapshot(util: g.util, memMB: g.memMB)
                snapshotJobs = [jobID]
            }
            put(j)
        } else if e.type == "resource_snapshot" {
            let g = GPUFigures(e.data)
            for var j in try allJobs(e.batchID) where j.covers(e.ts.micros) {
                j.applySnapshot(util: g.util, memMB: g.memMB)
                snapshotJobs.append(j.id)
                put(j)
            }
            snapshotJobs.sort()
        }
        if wasStopping, b.status == "stopped" {
            // SPEC §6: a stopping batch that ends takes its still-running jobs with it.
            for var j in try allJobs(e.batchID) where !j.isFinished {
                j.status = "stopped"
                j.endUs = e.ts.micros
                j.elapsedS = j.startUs.map { Double(e.ts.micros - $0) / 1e6 }
                put(j)
            }
        }
        put(b)
        stored.append(
            StoredEvent(
                id: id, batchID: e.batchID, jobID: e.effectiveJobID, type: e.type, tsUs: e.ts.micros, body: e.body,
                channel: e.channel, snapshotJobs: snapshotJobs))
        return .accepted(id)
    }

    func flush() throws {
        // Batches first: jobs reference them.
        for id in dirtyBatches.sorted() { try batches[id]?.save(db) }
        for (batchID, ids) in dirtyJobs {
            for id in ids { try jobs[batchID]?[id]?.save(db) }
        }
    }
}
