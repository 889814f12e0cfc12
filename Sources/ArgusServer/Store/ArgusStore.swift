import Foundation
import GRDB
import Logging
import ServiceLifecycle
import Shared
import Synchronization

/// The server's storage: every SQL statement lives in this type and its extensions, written once for both backends
/// (`SQLDatabase`: SQLite by default, PostgreSQL for replicas). It returns typed records; HTTP renders them.
public final class ArgusStore: Sendable {
    let database: any SQLDatabase
    /// The SQLite file's pool (nil on PostgreSQL): WAL checkpoints and the file's size.
    let pool: DatabasePool?
    /// "Now" for the stall detector, retention and the receive time stamped on events.
    public let clock: ServerClock

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A second connection that only checkpoints the WAL (see `checkpoint()`); nil when commits checkpoint.
    let checkpointer: DatabaseQueue?

    /// The newest event id when the store was opened: where a replica's `EventTail` starts streaming (PostgreSQL).
    let newestEventIDAtOpen: Int64

    /// What the owner should tell the user at start (e.g. a data dir other users can read).
    public let startupWarnings: [String]

    /// Where the SQLite database lives (nil on PostgreSQL): a disk fault is judged by its file system (`StorageFault`).
    let dataDir: String?
    /// The SQLite file the pool opened (nil on PostgreSQL): writes stop when the path names another (`refuseIfDamaged`).
    let fileIdentity: DatabaseFileIdentity?
    /// Jobs' epochs as last read, topped up on the next read (`ARGUS_EPOCH_CACHE_MB`; set by `ArgusServices`).
    let epochCache = EpochCache(budgetBytes: ServerConfig().epochCacheBytes)
    /// Wakes agents' long-polls when a command is queued for them.
    let agentWakeups = AgentWakeups()
    /// Whether the last write failed for a disk fault, for `/health`.
    let writeHealth = WriteHealth()
    /// When the database last answered a write or `ping()` (monotonic nanoseconds), so that `/health` asks it at most
    /// once a second while it answers.
    let answeredAtNs = Atomic<UInt64>(0)
    /// The `ping()` read under way, shared by every caller while it waits (`ping`).
    let pingInFlight = Mutex<Task<Void, any Error>?>(nil)
    /// How long `ping()` waits for the database's answer before it says the database is silent.
    static let pingWaitS = 5.0
    let logger = Logger(label: "argus-server")

    /// Opens (creating if needed) the data dir and `argus.sqlite`, and migrates it. With `backgroundCheckpoints`
    /// (the server) commits never checkpoint; the owner must call `checkpoint()` regularly instead.
    /// `fsyncEachCommit` (ARGUS_FSYNC): each commit waits until it is on disk (`synchronous=FULL`); otherwise WAL
    /// frames reach the disk at checkpoints (`NORMAL`: a crash of this process loses nothing, a power cut may).
    public init(
        dataDir: String, clock: ServerClock = .system, backgroundCheckpoints: Bool = false, fsyncEachCommit: Bool = true
    ) throws(OpenError) {
        self.clock = clock
        self.dataDir = dataDir
        startupWarnings = try DataDirPermissions.prepare(dataDir)
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            // Only takes effect while the file is still empty: lets retention hand freed pages back to the OS
            // bit by bit (PRAGMA incremental_vacuum) instead of a VACUUM that locks everything.
            if !db.configuration.readonly { try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
            try db.execute(sql: "PRAGMA synchronous = \(fsyncEachCommit ? "FULL" : "NORMAL"); PRAGMA foreign_keys = ON")
            // A checkpoint run by a commit makes that commit wait while the WAL is copied and fsynced. The server
            // copies from another connection beside the writer (`checkpoint()`), so when a commit does reach the
            // threshold only the last few frames are left to copy; that commit then lets the WAL start over
            // (a side connection alone never can while writes keep coming). Other tools checkpoint every ~32 MB.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = \(backgroundCheckpoints ? 2000 : 8000)")
            // After a big retention sweep the WAL may have grown; keep at most 64 MB of it on disk.
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        config.maximumReaderCount = 4
        let path = ServerConfig.databasePath(in: dataDir)
        if let refusal = ArgusStore.foreignOrNewer(path) {
            throw OpenError(description: "Cannot open the database \(path): \(refusal).")
        }
        do {
            let pool = try DatabasePool(path: path, configuration: config)
            self.pool = pool
            newestEventIDAtOpen = 0
            var quickConfig = Configuration()
            quickConfig.readonly = true
            quickConfig.busyMode = .timeout(10)
            database = SQLiteDatabase(pool: pool, quick: try DatabaseQueue(path: path, configuration: quickConfig))
            // GRDB turns WAL on for the writer after `prepareDatabase`, and sets NORMAL with it: set ours again. Only
            // the writer's setting matters (it is the connection that commits).
            try pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = \(fsyncEachCommit ? "FULL" : "NORMAL")")
            }
            try Schema.migrator.migrate(pool)
            // The migrations' pages go into the database file now, while nothing else runs, and the WAL starts empty.
            // Left to the first background checkpoint, a new database's schema (~140 KB) was copied after the first
            // requests, taking room a nearly full disk had for them. It may fail on a full disk: that checkpoint
            // tries again and says so.
            _ = try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
            var side = Configuration()
            side.busyMode = .timeout(10)
            checkpointer = backgroundCheckpoints ? try DatabaseQueue(path: path, configuration: side) : nil
            fileIdentity = DatabaseFileIdentity(path: path)
        } catch {
            // A disk fault in one sentence (a read-only or full data dir); anything else as SQLite said it.
            // A recognised fault says what to do, not which statement met it.
            let why = StorageFault(error, dataDir: dataDir).map { $0.reason + $0.advice(dataDir: dataDir) } ?? "\(error)"
            throw OpenError(description: "Cannot open the database \(path): \(why).")
        }
    }

    /// Why an existing file must not be opened as this server's database, or nil. Looked at read-only, before the pool
    /// turns it to WAL and the migrator writes to it: another program's SQLite file (its tables, no Argus schema), or a
    /// database a newer argus-server migrated (this one would write rows that miss what the newer schema expects).
    static func foreignOrNewer(_ path: String) -> String? {
        guard let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int, size > 0 else { return nil }
        var config = Configuration()
        config.readonly = true
        guard
            let found = try? DatabaseQueue(path: path, configuration: config).read({ db in
                (
                    tables: try String.fetchAll(
                        db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"),
                    applied: try db.tableExists("grdb_migrations")
                        ? Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")) : nil
                )
            })
        else {
            // Not readable: another kind of file altogether, or an SQLite file that opening will call damaged.
            let head = FileManager.default.contents(atPath: path)?.prefix(16)
            guard let head, Array(head) != Array("SQLite format 3\0".utf8) else { return nil }
            return "it is not an Argus database (not an SQLite file at all); give argus-server a data directory of its own"
        }
        guard let applied = found.applied else {
            if found.tables.isEmpty { return nil }
            return "it is not an Argus database (it holds other tables: \(found.tables.prefix(5).joined(separator: ", ")))"
                + "; give argus-server a data directory of its own"
        }
        let unknown = applied.subtracting(Schema.migrator.migrations).sorted()
        guard !unknown.isEmpty else { return nil }
        return "a newer argus-server has upgraded it (its migrations \(unknown.map { "'\($0)'" }.joined(separator: ", ")) are "
            + "unknown to this one, \(ArgusVersion.string)): run that version or a newer one"
    }

    /// Connects to a PostgreSQL shared by replicas (`postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=…]`) and brings
    /// its schema up to date (once, even when several replicas start together).
    /// `create` false: a database without Argus's tables is an error rather than one made Argus's (a mistyped name
    /// of an existing database, the `postgres` maintenance one, given to `token list`).
    /// `statementTimeout`: `ARGUS_PG_STATEMENT_TIMEOUT_S` (`PostgresDatabase.statementTimeout`).
    public init(
        databaseURL: String, clock: ServerClock = .system, create: Bool = true, offerInit: Bool = false,
        statementTimeout: Double = ServerConfig().pgStatementTimeoutS
    ) throws(OpenError) {
        self.clock = clock
        dataDir = nil
        fileIdentity = nil
        pool = nil
        checkpointer = nil
        startupWarnings = []
        do {
            let pg = try PostgresDatabase(url: databaseURL, statementTimeout: statementTimeout)
            if !create, try pg.readNow({ try $0.scalar(String.self, "SELECT to_regclass('argus_schema')::text") }) == nil {
                throw OpenError(
                    description: "no Argus database at \(PostgresURL.redacted(databaseURL)): start `argus-server serve` on it first"
                        + (offerInit ? " (or pass --init to create one)." : "."))
            }
            try PostgresSchema.migrate(pg)
            newestEventIDAtOpen = try pg.readNow { try ArgusStore.maxEventID($0) }
            database = pg
        } catch let error as OpenError {
            throw error
        } catch {
            // PostgresUnavailable and a bad URL name the URL already.
            let text = "\(error)"
            throw OpenError(
                description: error is PostgresUnavailable || error is DatabaseURLError
                    ? text : "Cannot use the database at \(PostgresURL.redacted(databaseURL)): \(text)")
        }
    }

    /// Every write of the server goes through here, in one transaction: a disk fault (full, read-only, I/O error)
    /// is thrown as a `StorageFault`, which requests answer with 503, and is remembered for `/health` until a write
    /// succeeds again. Each change between working and failing is logged once, not once per request.
    /// A file found damaged takes no more writes: what SQLite cannot see is broken may already be (`refuseIfDamaged`).
    func write<T: Sendable>(_ updates: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try refuseIfDamaged()
        let value: T
        do {
            value = try await database.write(updates)
        } catch {
            throw noteWriteFailure(error)
        }
        // Committed to a file deleted or replaced meanwhile: not stored where the next start will look.
        try refuseIfReplaced(afterCommit: true)
        return noteWriteSuccess(value)
    }

    /// The same, blocking the calling thread until it commits (the ingest pipeline: `IngestPipeline`).
    func writeNow<T>(_ updates: (SQLConnection) throws -> T) throws -> T {
        try refuseIfDamaged()
        let value: T
        do {
            value = try database.writeNow(updates)
        } catch {
            throw noteWriteFailure(error)
        }
        try refuseIfReplaced(afterCommit: true)
        return noteWriteSuccess(value)
    }

    /// Once a read or write met a fault that does not heal (a damaged file, `StorageFault.heals`), every write is
    /// refused with it: a write that misses the bad pages would still add to a file that needs restoring. So is one
    /// to a database file that was deleted or replaced under the server (`refuseIfReplaced`).
    private func refuseIfDamaged() throws {
        if let (fault, _) = writeHealth.current, !fault.heals { throw fault }
        try refuseIfReplaced(afterCommit: false)
    }

    /// When the server has stopped serving: on PostgreSQL, stops listening and closes this replica's connections (its
    /// leases are released at once, and a server stopped inside a process that goes on leaves nothing retrying).
    public func close() { (database as? SharedDatabase)?.close() }

    /// At exit: when the database's path names another file than the one opened (replaced with nothing written
    /// since, so nobody noticed), its `-wal` and `-shm` are set aside, so the next start does not apply them to it.
    public func setAsideOrphanedFiles() -> [String] { fileIdentity?.setAsideCompanions() ?? [] }

    /// Throws (and remembers, for `/health` and every later write) when the database's path no longer names the file
    /// the server opened. `afterCommit`: a write just committed to the old file, so whether it is stored is not for
    /// this server to say (the old file still holds it until the process exits).
    private func refuseIfReplaced(afterCommit: Bool) throws {
        guard let fileIdentity, !fileIdentity.isStillThere else { return }
        let fault = StorageFault(.replaced)
        if writeHealth.failed(fault, atUs: clock.nowUs()) {
            let aside = fileIdentity.setAsideCompanions()
            logger.critical(
                "Writes to the database stop because \(fault.reason); requests that write get 503.\(aside.isEmpty ? "" : " Set aside: \(aside.joined(separator: ", ")).")"
            )
        }
        throw afterCommit ? StorageFault(.replaced, nothingStored: false) : fault
    }

    /// The database failed a request: `/health` asks it again instead of trusting its last answer.
    func noteDatabaseFailure() { answeredAtNs.store(0, ordering: .relaxed) }

    /// A request or stream that failed: the fault it met when it is about the disk, or nil (a read's arrives as SQLite's
    /// error, a write's as the `StorageFault` `write` made of it). One that does not heal (a damaged file, found by a
    /// read) is remembered as a write's is, so `/health` says so and writes are refused.
    func noteFailure(_ error: any Error) -> StorageFault? {
        guard let fault = StorageFault(error, dataDir: dataDir) else { return nil }
        noteDatabaseFailure()
        if !fault.heals { _ = noteWriteFailure(error) }
        return fault
    }

    private func noteWriteSuccess<T>(_ value: T) -> T {
        answeredAtNs.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        if let ended = writeHealth.succeeded() {
            logger.notice("Writes to the database work again (they failed because \(ended.reason)).")
        }
        return value
    }

    /// The error a failed write throws on: a `StorageFault` when it is about the disk (and then remembered).
    func noteWriteFailure(_ error: any Error) -> any Error {
        guard let fault = StorageFault(error, dataDir: dataDir) else { return error }
        noteDatabaseFailure()
        if writeHealth.failed(fault, atUs: clock.nowUs()) {
            logger.error(
                "Writes to the database fail because \(fault.reason) (\(error)); requests that write get 503 until they work again.")
        }
        return fault
    }

    /// Whether the database can be written now, for `/health` after a failed write: one tiny real commit (the header's
    /// user_version, set to itself: one page in the WAL), tried at most every `StorageFault.healProbeEveryS` after the last failure
    /// (one pace for `/health`, a new stream and the watchdog). Returns the fault still in force, or nil.
    ///
    /// A disk with less than `StorageFault.fullBelowBytes` free is full, whatever the last write did: small commits
    /// still fit in the room the WAL file holds while real ones fail, and `/health` and the live streams that
    /// followed each of them would flap between working and not every few seconds.
    func writeFault() async -> StorageFault? {
        // A file deleted under an idle server is found here, before the next write would be answered 2xx.
        do { try refuseIfReplaced(afterCommit: false) } catch { return error as? StorageFault }
        let current = writeHealth.current
        if let fs = dataDir.flatMap(StorageFault.fileSystem(of:)), !fs.readOnly, fs.freeBytes < StorageFault.fullBelowBytes {
            return current?.fault.kind == .full ? current?.fault : StorageFault(.lowSpace)
        }
        guard let (fault, atUs) = current else { return nil }
        guard fault.heals, Double(clock.nowUs() - atUs) / 1e6 >= StorageFault.healProbeEveryS else { return fault }
        do {
            try await write { db in
                switch db.dialect {
                case .sqlite:
                    let v = try db.scalar(Int.self, "PRAGMA user_version") ?? 0
                    try db.execute("PRAGMA user_version = \(v)")
                case .postgres:
                    try db.execute("UPDATE argus_schema SET applied_us = applied_us WHERE version = 1")
                }
            }
            return nil
        } catch {
            return (error as? StorageFault) ?? fault
        }
    }

    static func nowUs() -> Int64 { Timestamp.now().micros }

    /// Whether this replica runs the periodic work `lease` names now (always, on SQLite: one server per file).
    func holdsLease(_ lease: ReplicaSignals.Lease) async -> Bool {
        guard let shared = database as? SharedDatabase else { return true }
        return await shared.holdsLease(lease.rawValue)
    }

    /// Copies committed WAL frames into the database file (SQLite's PASSIVE checkpoint). From the side
    /// connection this takes no write lock, so ingest keeps committing meanwhile; once all frames are copied,
    /// the next commit starts the WAL over. Without one (tools), it runs on the writer. Returns frames copied.
    @discardableResult
    func checkpoint() async throws -> Int {
        let passive = { (db: Database) throws -> Int in
            try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)")?[2] ?? 0
        }
        if let checkpointer { return try await checkpointer.writeWithoutTransaction(passive) }
        guard let pool else { return 0 }
        return try await pool.writeWithoutTransaction(passive)
    }
}

/// The authenticated user behind a token.
public struct UserPrincipal: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var isAdmin: Bool
    public var scope: String
    /// The token the user authenticated with (0 for the server itself): revoking it ends its streams.
    public var tokenID: Int64 = 0
    /// Set when the request came with a web session cookie instead of the token itself (see `WebSession`).
    public var session: SessionRef? = nil

    public struct SessionRef: Sendable, Equatable {
        public var id: Int64
        public var expiresUs: Int64
    }

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
    /// For a `summary` frame (SummaryFrame): the records it shows. Its JSON is built only when a stream wants it.
    var summary: BatchSummary? = nil

    /// `{"id":N,"channel":"…",<rest of the stored envelope>}`: the data line of an SSE frame.
    var streamedJSON: String {
        if let summary { return summary.json(id: id, channel: channel).serialized() }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.utf8.count + channel.utf8.count + 32)
        bytes.append(contentsOf: "{\"id\":\(id),\"channel\":".utf8)
        JSON.writeString(channel, into: &bytes)
        let rest = body.utf8.dropFirst()
        if rest.count > 1 { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: rest)
        return String(decoding: bytes, as: UTF8.self)
    }

    var sseFrame: String { SSEEncoder.frame(id: id, event: type, data: streamedJSON) }

    /// `events` with each summary frame (ascending ids, each its batch's newest event id) placed right after that
    /// event: ids never go down along a stream, so a client's resume point (the last id it saw) never moves back.
    static func interleave(_ events: [StoredEvent], summaries: [StoredEvent]) -> [StoredEvent] {
        var pending = summaries[...]
        var out: [StoredEvent] = []
        out.reserveCapacity(events.count + pending.count)
        for e in events {
            while let s = pending.first, s.id < e.id {
                out.append(s)
                pending.removeFirst()
            }
            out.append(e)
        }
        out += pending
        return out
    }

    /// The `summary` frame of a batch (SummaryFrame), on its batch channel; job channels of the batch match it too.
    static func summary(_ b: BatchRecord, jobs: [JobRecord], id: Int64) -> StoredEvent {
        StoredEvent(
            id: id, batchID: b.id, jobID: nil, type: SummaryFrame.eventType, tsUs: 0, body: "",
            channel: Channel.batch(b.id).name, snapshotJobs: [], summary: BatchSummary(batch: b, jobs: jobs))
    }
}

/// A batch's summary and some of its jobs', as a `summary` frame shows them.
struct BatchSummary: Sendable {
    var batch: BatchRecord
    var jobs: [JobRecord]

    /// `{"id", "channel", "event_type": "summary", "batch", "jobs"}`; the frame that opens a stream has no id.
    func json(id: Int64?, channel: String?) -> JSON {
        var o = JSONObject()
        if let id { o["id"] = JSON(id) }
        if let channel { o["channel"] = .string(channel) }
        // Like every other frame's data, it names its type (EventSource hands the data to a generic handler too).
        o["event_type"] = .string(SummaryFrame.eventType)
        o["batch"] = batch.summaryJSON
        o["jobs"] = .array(
            jobs.sorted { ($0.createdUs, $0.id) < ($1.createdUs, $1.id) }.map { $0.json(batchStatus: batch.status) })
        return .object(o)
    }
}

extension ArgusStore {
    /// Stores events in one transaction: dedupe, insert, summaries. Returns one outcome per item, in order,
    /// and the newly stored events in id order (for streaming after commit).
    /// Commits `items` in one transaction, blocking the calling thread (`IngestPipeline`).
    func ingestNow(_ items: [IngestItem], idleWindowUs: Int64) throws -> ([IngestOutcome], [StoredEvent]) {
        try writeNow { [clock] db in
            var t = IngestTransaction(db: db, receivedUs: clock.nowUs(), idleWindowUs: idleWindowUs)
            let (outcomes, stored) = try t.run(items)
            // Replicas: wake every replica's EventTail, once this commits (PostgreSQL delivers it at commit).
            if db.dialect == .postgres, let newest = stored.map(\.id).max() {
                _ = try db.fetchOne("SELECT pg_notify(?, ?)", [ReplicaSignals.events, String(newest)])
            }
            return (outcomes, stored)
        }
    }
}

/// The body of one write transaction. Batch and job rows are loaded once, updated in memory, and
/// written back once at the end, so a 500-epoch request costs 500 inserts and two upserts.
public struct IngestTransaction {
    let db: SQLConnection
    /// Server receive time of everything in this transaction (the stall detector's clock).
    let receivedUs: Int64
    /// The idle detector's window; 0 turns it off.
    let idleWindowUs: Int64
    var batches: [String: BatchRecord] = [:]
    var jobs: [String: [String: JobRecord]] = [:]
    var allJobsLoaded: Set<String> = []
    var dirtyBatches: Set<String> = []
    var dirtyJobs: [String: Set<String>] = [:]
    /// Each batch's `actionState` when this transaction first loaded it (absent: the batch is new).
    var actionStateAtLoad: [String: String] = [:]

    init(db: SQLConnection, receivedUs: Int64, idleWindowUs: Int64) {
        self.db = db
        self.receivedUs = receivedUs
        self.idleWindowUs = idleWindowUs
    }

    mutating func run(_ items: [IngestItem]) throws -> ([IngestOutcome], [StoredEvent]) {
        var outcomes: [IngestOutcome] = []
        var stored: [StoredEvent] = []
        outcomes.reserveCapacity(items.count)
        for item in items {
            let outcome = try ingestOne(item.event, user: item.user, stored: &stored)
            outcomes.append(outcome)
        }
        try flush()
        return (outcomes, try withSummaries(stored))
    }

    mutating func withSummaries(_ stored: [StoredEvent]) throws -> [StoredEvent] {
        StoredEvent.interleave(stored, summaries: try summaries(after: stored))
    }

    /// One `summary` frame per batch this transaction stored events for (SummaryFrame): the batch and the jobs whose
    /// summary changed, every job when the batch's status or stop flag changed (each job's shown status follows
    /// them). Its id is the batch's newest event id in this commit, so it sorts after them and never moves a
    /// client's resume point past an event it has not been sent.
    mutating func summaries(after stored: [StoredEvent]) throws -> [StoredEvent] {
        var newest: [String: Int64] = [:]
        for e in stored { newest[e.batchID] = max(newest[e.batchID] ?? 0, e.id) }
        var out: [StoredEvent] = []
        for (bid, id) in newest.sorted(by: { $0.value < $1.value }) {
            guard let b = try batch(bid) else { continue }
            let changed = actionStateAtLoad[bid] != b.actionState
            let shown = changed ? try allJobs(bid) : (dirtyJobs[bid] ?? []).compactMap { jobs[bid]?[$0] }
            out.append(StoredEvent.summary(b, jobs: shown, id: id))
        }
        return out
    }

    mutating func batch(_ id: String) throws -> BatchRecord? {
        if let b = batches[id] { return b }
        let b = try BatchRecord.fetch(db, id: id)
        batches[id] = b
        if let b { actionStateAtLoad[id] = b.actionState }
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
            for j in try JobRecord.fetchAll(db, batchID: batchID) where loaded[j.id] == nil {
                loaded[j.id] = j
            }
            jobs[batchID] = loaded
            allJobsLoaded.insert(batchID)
        }
        return Array(jobs[batchID]!.values)
    }

    mutating func put(_ j: JobRecord) {
        jobs[j.batchID, default: [:]][j.id] = j
        dirtyJobs[j.batchID, default: []].insert(j.id)
    }

    /// Inserts the raw event; nil when its batch already holds that event_id (dedupe is per batch, so one
    /// user's ids never collide with another's). The hottest statement of ingest.
    func insertEvent(_ e: IncomingEvent) throws -> Int64? {
        try db.scalar(
            Int64.self, IngestTransaction.insertEventSQL,
            [e.eventID, e.batchID, e.jobID, e.type, e.ts.micros, receivedUs, e.isHeartbeat, e.body])
    }

    /// The statement behind `insertEvent` (also what `argus-bench raw-sqlite` runs, the ceiling ingest is measured against).
    public static let insertEventSQL = """
        INSERT INTO events(event_id, batch_id, job_id, event_type, ts_us, received_us, hidden, body)
        VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(batch_id, event_id) DO NOTHING RETURNING id
        """

    /// The stored row id of this event's earlier copy in its batch, or 0.
    func existingID(_ e: IncomingEvent) throws -> Int64 {
        try db.scalar(
            Int64.self, "SELECT id FROM events WHERE batch_id = ? AND event_id = ?",
            [e.batchID, e.eventID])
            ?? 0
    }

    mutating func ingestOne(_ e: IncomingEvent, user: UserPrincipal, stored: inout [StoredEvent])
        throws -> IngestOutcome
    {
        // Records are mutated in place in the dictionaries: copying them per event costs more than the SQL.
        let bid = e.batchID
        // An admin too: it may act on any batch (stop, rerun, share, mark failed: server-made events, which their
        // routes authorised) but not report into one, where a batch_start would rewrite the command the owner's
        // agent reruns.
        // (`batch` also loads the record that the rest of this function mutates in place.)
        let owner = try batch(bid)?.ownerID
        if e.isFromClient, let owner, owner != user.id {
            return .rejected(
                EventRejection(
                    status: 403,
                    message: user.isAdmin
                        ? "Batch '\(bid)' \(ServerSentences.anotherUsersBatch): an admin acts on it but does not report into it."
                        : "Batch '\(bid)' \(ServerSentences.anotherUsersBatch)."))
        }
        if let refusal = try serverEventRefusal(e) {
            return .rejected(EventRejection(status: 409, message: refusal))
        }
        // A stalled batch hears from its script again: stream batch_resumed first, then the event itself.
        if e.isFromClient, batches[bid]?.status == RunStatus.stalled, try existingID(e) == 0 {
            try resume(bid, by: e, stored: &stored)
        }
        guard let id = try insertEvent(e) else { return .deduplicated(try existingID(e)) }
        if batches[bid] == nil {
            batches[bid] = BatchRecord(id: bid, ownerID: user.id, now: receivedUs)
        }
        if batches[bid]!.sourceBatchID == nil, e.type == "batch_start" || e.type == "resource_snapshot" {
            try linkRerun(e, into: bid, stored: &stored)
        }
        let wasFinished = batches[bid]!.isFinished
        let ends = e.type == "batch_done" || e.type == "batch_failed"
        batches[bid]!.apply(e, receivedUs: receivedUs, jobsSeen: ends ? try !allJobs(bid).isEmpty : true)
        if e.type == "batch_start", batches[bid]!.nTotal != nil { batches[bid]!.count(jobs: try allJobs(bid).count) }
        dirtyBatches.insert(bid)
        var snapshotJobs: [String] = []
        var idleChanges: [(String, JobRecord.IdleChange)] = []
        let gpu = e.type == "resource_snapshot" ? GPUFigures(e.data) : nil
        if let jobID = e.effectiveJobID {
            if try job(bid, jobID) == nil {
                jobs[bid, default: [:]][jobID] = JobRecord(batchID: bid, id: jobID, now: receivedUs)
                if batches[bid]!.nTotal != nil { batches[bid]!.count(jobs: try allJobs(bid).count) }
            }
            // A stopped run's job that reports its end late still ended on a stop (`BatchStatus.jobDone`).
            let batch = batches[bid]!
            if jobs[bid]![jobID]!.apply(e, stopRequested: batch.stopRequested, batchEnded: batch.isFinished) != nil {
                batches[bid]!.recount(try allJobs(bid))
            }
            // A snapshot that names a job still counts only while the job runs (JobSpan).
            if let gpu, jobs[bid]![jobID]!.covers(e.ts.micros) {
                if let c = try foldSnapshot(bid, jobID, e.ts.micros, gpu) { idleChanges.append((jobID, c)) }
                snapshotJobs = [jobID]
            }
            dirtyJobs[bid, default: []].insert(jobID)
        } else if let gpu {
            snapshotJobs = JobRecord.running(at: e.ts.micros, among: try allJobs(bid))
            for id in snapshotJobs {
                if let c = try foldSnapshot(bid, id, e.ts.micros, gpu) { idleChanges.append((id, c)) }
                dirtyJobs[bid, default: []].insert(id)
            }
        }
        // A run that ends takes its jobs that have not ended with it (`endOfUnfinishedJobs`), each at its own last
        // activity, so that a late job_done of its own still counts; so does a job heard from after its run ended.
        if let end = batches[bid]!.endOfUnfinishedJobs {
            let endingNow = !wasFinished
            let unfinished = try (endingNow ? allJobs(bid) : e.effectiveJobID.flatMap { jobs[bid]?[$0] }.map { [$0] } ?? [])
                .filter { !$0.isFinished }
            for var j in unfinished {
                let endUs =
                    e.isFromClient
                    ? j.lastActivityUs ?? e.ts.micros
                    : BatchRecord.serverEndUs(e, lastActivityUs: j.lastActivityUs ?? batches[bid]!.lastActivityUs)
                j.status = end
                j.endUs = endUs
                j.elapsedS = j.startUs.map { Double(max($0, endUs) - $0) / 1e6 }
                j.isIdleFlagged = false
                if end == RunStatus.failed { j.failureReason = batches[bid]!.failureReason }
                put(j)
            }
            if !unfinished.isEmpty { batches[bid]!.recount(try allJobs(bid)) }
        }
        stored.append(
            StoredEvent(
                id: id, batchID: bid, jobID: e.effectiveJobID, type: e.type, tsUs: e.ts.micros,
                body: e.body,
                channel: e.channel, snapshotJobs: snapshotJobs))
        for (jobID, change) in idleChanges.sorted(by: { $0.0 < $1.0 }) {
            try emitIdle(change, batch: bid, job: jobID, at: e.ts, util: gpu?.peakUtil, stored: &stored)
        }
        return .accepted(id)
    }

    /// Stores and queues for streaming one server-made event, written in this transaction.
    mutating func emit(
        _ type: String, batch bid: String, job: String? = nil, project: String?, data: JSONObject, at ts: Timestamp,
        stored: inout [StoredEvent]
    ) throws -> IncomingEvent? {
        let note = IncomingEvent.server(type: type, batchID: bid, jobID: job, project: project, data: data, at: ts)
        guard let id = try insertEvent(note) else { return nil }
        stored.append(
            StoredEvent(
                id: id, batchID: bid, jobID: job, type: type, tsUs: ts.micros, body: note.body, channel: note.channel,
                snapshotJobs: []))
        return note
    }

    /// A batch that starts on a host where its owner's agent just started a rerun is that rerun: link it to the batch
    /// it reruns (source_batch_id), and remember it on the command (Stop then reaches the pid). Either of two things
    /// says so:
    /// - its batch_start names the command that was rerun;
    /// - (its script reports another command: one built at run time, say) a resource snapshot of a batch that appeared
    ///   after the rerun started names a pid of the rerun's processes, as the agent lists them in its heartbeats
    ///   (`run_pids`). Linked at the first such snapshot (the SDK sends one every 30 s). The pid is the stronger word:
    ///   a batch linked by the command alone (a run started by hand with the same command, reporting first) gives
    ///   the link up to the one whose pid is the rerun's.
    mutating func linkRerun(_ e: IncomingEvent, into bid: String, stored: inout [StoredEvent]) throws {
        let match: String
        let value: String
        let after: Int64
        let host: String?
        if e.type == "batch_start" {
            guard let command = e.data["command"]?.stringValue ?? e.source["command"]?.stringValue else { return }
            (match, value, after, host) = (
                "c.linked_batch_id IS NULL AND c.command = ?", command, receivedUs, e.source["host"]?.stringValue
            )
        } else {
            guard let pid = e.data["pid"]?.intValue, pid > 1, !batches[bid]!.isFinished else { return }
            // The host its batch_start named.
            let b = batches[bid]!
            (match, value, after, host) = ("c.run_pids LIKE ?", "% \(pid) %", b.createdUs, b.host ?? e.source["host"]?.stringValue)
        }
        guard let host else { return }
        let row = try db.fetchOne(
            """
            SELECT c.id, c.batch_id, c.agent_id, c.pid, c.linked_batch_id FROM agent_commands c JOIN agents a ON a.id = c.agent_id
            WHERE c.kind = 'rerun' AND c.status = 'started' AND a.hostname = ?
              AND a.user_id = ? AND \(match) AND c.acked_us <= ? AND c.batch_id != ?
            ORDER BY c.id DESC LIMIT 1
            """, [host, batches[bid]!.ownerID, value, after, bid])
        guard let row else { return }
        let commandID: Int64 = row["id"]
        let source: String = row["batch_id"]
        if let taken: String = row["linked_batch_id"], taken != bid, try batch(taken) != nil {
            // Linked by the command alone to a run whose processes are not the rerun's: no longer its rerun.
            batches[taken]!.sourceBatchID = nil
            dirtyBatches.insert(taken)
        }
        batches[bid]!.sourceBatchID = source
        try db.execute("UPDATE agent_commands SET linked_batch_id = ? WHERE id = ?", [bid, commandID])
        // A Stop asked for before it was known as the rerun (its snapshot came later) reaches the agent now, as
        // `ActionController.stop` queues it for a linked one (picked up at the agent's next poll).
        if batches[bid]!.stopRequested, let pid: Int = row["pid"] {
            _ = try ArgusStore.insertCommand(db, agentID: row["agent_id"], batchID: bid, kind: "stop", targetPID: pid)
        }
        // Tell whoever watches the old batch where its rerun went (the TUI offers to jump there).
        _ = try emit(
            ServerEventTypes.rerunStarted, batch: source, project: e.source["project"]?.stringValue,
            data: JSONObject([("new_batch_id", .string(bid)), ("command_id", JSON(commandID))]), at: e.ts,
            stored: &stored)
    }

    func flush() throws {
        // Batches first: jobs reference them.
        for id in dirtyBatches.sorted() { try batches[id]?.save(db) }
        for (batchID, ids) in dirtyJobs {
            for id in ids { try jobs[batchID]?[id]?.save(db) }
        }
    }
}
