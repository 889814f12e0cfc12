import Dispatch
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// PostgreSQL cannot be reached, or dropped the connection (server down, restarted, connection killed, too many
/// connections, bad password): the request may succeed later, so HTTP answers 503. One sentence.
struct PostgresUnavailable: Error, CustomStringConvertible {
    let description: String
    /// PostgreSQL's SQLSTATE when it refused the connection itself (e.g. 53300: no connection slot left).
    var sqlState: String? = nil
    /// A statement got no answer within the statement timeout, and its connection was dropped.
    var timedOut = false
    /// Met before the transaction's body ran (connecting, BEGIN, the write lock): nothing of it was stored.
    var beforeBody = false
}

extension PostgresConnection {
    /// Closes the connection without waiting, and keeps it until it has closed: postgres-nio asserts that a
    /// connection is closed before it is freed.
    @discardableResult
    func closeKeepingAlive() -> EventLoopFuture<Void> {
        let closing: EventLoopFuture<Void> = close()
        closing.whenComplete { _ in withExtendedLifetime(self) {} }
        return closing
    }
}

extension PostgresUnavailable {
    /// A connection to `url` that could not be opened.
    init(connecting url: PostgresURL, _ error: any Error) {
        self.init(
            description: "Cannot connect to PostgreSQL at \(url.redacted): \(PostgresDatabase.reason(error)).",
            sqlState: (error as? PSQLError)?.serverInfo?[.sqlState])
    }
}

/// A statement PostgreSQL refused: its message and SQLSTATE (e.g. 23505 for a unique violation) are kept.
struct PostgresSQLError: Error, CustomStringConvertible {
    let sqlState: String
    let message: String
    let detail: String?
    let sql: String

    var description: String {
        let d = detail.map { " (\($0.hasSuffix(".") ? String($0.dropLast()) : $0))" } ?? ""
        return "PostgreSQL refused a statement (SQLSTATE \(sqlState)): \(message)\(d)."
    }
    var isUniqueViolation: Bool { sqlState == "23505" }
}

/// The server's rows in a PostgreSQL that several replicas share.
///
/// The store's logic is synchronous code shared with SQLite, so each transaction runs on a connection of its own, on
/// that connection's dispatch queue (never on a NIO event loop nor on the Swift concurrency pool), and each statement
/// blocks that thread until PostgreSQL answers. Connections are opened when first needed and replaced when broken:
/// one writer and up to `maxReaders` readers per instance.
///
/// Every write takes one advisory lock shared by every replica before its body runs
/// (`pg_advisory_xact_lock(writeLockKey)`), so writes take turns across replicas and commit in the order they drew
/// their ids: a reader that has seen event N committed never later sees a smaller id appear. Reads are consistent
/// snapshots (REPEATABLE READ, READ ONLY).
final class PostgresDatabase: SQLDatabase, Sendable {
    /// The advisory lock every write takes (an arbitrary constant: "argus-w1").
    static let writeLockKey: Int64 = 0x6172_6775_732D_7731
    /// Statements keep their SQL text's translation (`?` → `$n`) in a cache of at most this many entries.
    static let statementCacheLimit = 2000

    let dialect = SQLDialect.postgres
    let url: PostgresURL
    let logger: Logger
    let configuration: PostgresConnection.Configuration
    private let writers: SessionPool
    private let readers: SessionPool
    private let statements = Mutex<[String: String]>([:])
    private let listeners = Mutex<[PostgresListener]>([])
    /// Which periodic work this replica runs (`SharedDatabase.holdsLease`).
    let leases: PostgresLeases
    /// Paces the readers', the writer's and the lease's attempts to connect while PostgreSQL cannot be reached.
    let pacing: ConnectPacing
    /// Closes readers idle for `readerIdle` seconds (all but the one used last). (A dispatch source is thread-safe;
    /// Dispatch does not say so to the compiler.)
    nonisolated(unsafe) private let readerSweep: DispatchSourceTimer

    /// How long a reader connection may sit idle before it is closed (the last one used stays open). Replicas share
    /// `max_connections`: readers a burst of reads opened, kept for ever, held slots a sibling replica's writer
    /// needed (its `freeSlots` can close only its own).
    static let readerIdle: Double = 60

    /// How long a statement may go unanswered before its connection is dropped and the statement fails as
    /// `PostgresUnavailable` (a request then answers 503, which the SDK retries). A connection whose network path
    /// died without a reset (a NAT or firewall that forgot it, a frozen server) never answers, and without this a
    /// write waited on it for ever, with every write behind it. Migrations are exempt (`writeUnhurried`).
    let statementTimeout: Double

    /// How long a statement may wait for a lock (PostgreSQL's `lock_timeout`, set on every connection): a little less
    /// than `statementTimeout`, so that a write queued behind another write's lock is told so by PostgreSQL (SQLSTATE
    /// 55P03: `StorageFault.busy`, at once 503) rather than taken for a silent connection, dropped and tried again
    /// behind the same lock (two timeouts, a minute at the default).
    static func lockTimeoutMs(statementTimeout t: Double) -> Int { Int(max(t * 0.9, t - 1) * 1000) }

    /// Fails only on a bad URL or TLS settings; connections open on first use.
    init(
        url: String, maxReaders: Int = 4, readerIdle: Double = PostgresDatabase.readerIdle,
        statementTimeout: Double = ServerConfig().pgStatementTimeoutS,
        logger: Logger = Logger(label: "argus.postgres")
    ) throws {
        let parsed = try PostgresURL(url)
        self.url = parsed
        self.statementTimeout = statementTimeout
        var config = try parsed.configuration()
        // A replica that stops mid-transaction (frozen, partitioned) must not hold the write lock for ever.
        config.options.additionalStartupParameters = [
            ("application_name", "argus-server"), ("idle_in_transaction_session_timeout", "60000"),
            ("lock_timeout", "\(Self.lockTimeoutMs(statementTimeout: statementTimeout))"),
        ]
        self.configuration = config
        self.logger = logger
        writers = SessionPool(max: 1, label: "argus.pg.writer", first: true)
        readers = SessionPool(max: max(1, maxReaders), label: "argus.pg.reader", first: false)
        let pacing = ConnectPacing()
        self.pacing = pacing
        leases = PostgresLeases(
            url: parsed, configuration: Self.configuration(config, role: "lease"), pacing: pacing, logger: logger)
        let readers = readers
        // A queue of its own (dispatch gives it a thread even when the global queues' threads are all blocked: a
        // test run with many blocked threads left the sweep unrun).
        readerSweep = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "argus.pg.reader-sweep"))
        readerSweep.schedule(deadline: .now() + readerIdle / 2, repeating: readerIdle / 2, leeway: .milliseconds(100))
        readerSweep.setEventHandler { readers.closeIdle(idleFor: readerIdle, keep: 1) }
        readerSweep.resume()
    }

    /// `config` for one of a replica's connections: `pg_stat_activity.application_name` says which (`argus-server
    /// writer`, `reader`, `listen`, `lease`), for an admin counting what holds their `max_connections`.
    static func configuration(_ config: PostgresConnection.Configuration, role: String) -> PostgresConnection.Configuration {
        var c = config
        c.options.additionalStartupParameters = c.options.additionalStartupParameters.map {
            $0.0 == "application_name" ? ($0.0, "argus-server \(role)") : $0
        }
        return c
    }

    deinit {
        readerSweep.cancel()
        close()
    }

    /// Closes every connection, lease and listener (a later call opens new connections).
    func close() {
        for l in listeners.withLock({ l in
            defer { l = [] }; return l
        }) { l.stop() }
        leases.close()
        writers.closeIdle()
        readers.closeIdle()
    }

    // MARK: SQLDatabase

    @discardableResult
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        do {
            return try await run(readers, write: false, body)
        } catch let e as PostgresUnavailable where e.sqlState != nil {
            // PostgreSQL answered but refused a reader (no slot left; the database not accepting new connections):
            // the read runs on the writer's connection, in a read-only transaction (a write's checks read too, and the
            // writer may hold the one slot this replica has). Slower beside writes, but answered.
            return try await run(writers, write: false, body)
        }
    }

    @discardableResult
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await run(writers, write: true, body)
    }

    @discardableResult
    func readNow<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        let s = readers.acquireBlocking(self)
        defer { readers.release(s) }
        return try s.transaction(write: false, body)
    }

    @discardableResult
    func writeNow<T>(_ body: (SQLConnection) throws -> T) throws -> T { try writeNow(unhurried: false, body) }

    /// `writeNow` whose statements may take as long as they need (no `statementTimeout`): migrations, which may build
    /// an index on millions of rows, or wait for another replica's.
    @discardableResult
    func writeUnhurried<T>(_ body: (SQLConnection) throws -> T) throws -> T { try writeNow(unhurried: true, body) }

    private func writeNow<T>(unhurried: Bool, _ body: (SQLConnection) throws -> T) throws -> T {
        let s = writers.acquireBlocking(self)
        defer { writers.release(s) }
        return try s.transaction(write: true, unhurried: unhurried, body)
    }

    private func run<T: Sendable>(
        _ pool: SessionPool, write: Bool, _ body: @escaping @Sendable (SQLConnection) throws -> T
    ) async throws -> T {
        let s = await pool.acquire(self)
        defer { pool.release(s) }
        return try await withCheckedThrowingContinuation { c in
            s.queue.async { c.resume(with: Result { try s.transaction(write: write, body) }) }
        }
    }

    // MARK: LISTEN / NOTIFY

    /// Calls `onNotify` with the payload of each notification on `channel` (sent by `SELECT pg_notify(?, ?)` in a
    /// write: delivered when that write commits, never when it rolls back), in order, on a serial queue of its own.
    /// Listens on a dedicated connection that is reopened when it breaks; each time listening (re)starts, including
    /// the first, `onNotify("")` is called: whatever was sent meanwhile may have been missed, so re-read.
    @discardableResult
    func listen(_ channel: String, _ onNotify: @escaping @Sendable (String) -> Void) -> PostgresListener {
        let l = PostgresListener(
            channel: channel, configuration: Self.configuration(configuration, role: "listen"), logger: logger,
            freeSlots: { [weak self] in self?.freeSlots() ?? false },
            onNotify: onNotify)
        listeners.withLock { $0.append(l) }
        l.start()
        return l
    }

    // MARK: Statements

    /// A new connection. `first`: the writer's (ingest waits on it): when the server has no slot left, this
    /// replica's idle readers give theirs back first (`freeSlots`).
    func connect(first: Bool = false) throws -> PostgresConnection {
        let configuration = Self.configuration(configuration, role: first ? "writer" : "reader")
        func open() throws -> PostgresConnection {
            do {
                return try PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                    id: Self.nextConnectionID.add(1, ordering: .relaxed).newValue, logger: logger
                ).wait()
            } catch {
                throw PostgresUnavailable(connecting: url, error)
            }
        }
        try pacing.check()
        do {
            let c: PostgresConnection
            do {
                c = try open()
            } catch let e as PostgresUnavailable where first && e.sqlState == Self.noSlotLeft {
                guard freeSlots() else { throw e }
                c = try open()
            }
            pacing.succeeded()
            return c
        } catch let e as PostgresUnavailable {
            pacing.failed(e)
            throw e
        }
    }

    /// PostgreSQL's SQLSTATE for a connection refused because every `max_connections` slot is taken.
    static let noSlotLeft = "53300"

    /// Closes this replica's idle reader connections and waits (at most a second) until PostgreSQL has let them go,
    /// so that the writer and the LISTEN connections, which ingest and the live streams need, come before readers
    /// when `max_connections` is short: idle readers held the slots, and a replica without its writer answered every
    /// write 503 for good. Readers reconnect when next needed. False when no reader was idle.
    func freeSlots() -> Bool {
        let closing = readers.closeIdle()
        guard !closing.isEmpty else { return false }
        logger.warning(
            "PostgreSQL has no connection slot left (raise max_connections): closed \(closing.count) idle reader connection(s) for the writer or LISTEN"
        )
        let deadline = DispatchTime.now() + 1
        for f in closing {
            let done = DispatchSemaphore(value: 0)
            f.whenComplete { _ in done.signal() }
            _ = done.wait(timeout: deadline)
        }
        // The backend exits just after the socket closes; its slot is free a moment later.
        Thread.sleep(forTimeInterval: 0.05)
        return true
    }

    private static let nextConnectionID = Atomic<Int>(0)

    /// Blocks until `future` completes, or fails once the watched connection has closed without completing it:
    /// postgres-nio drops a statement written to a channel that has just closed (killed backend, server gone), leaving
    /// its future pending for ever. With a `timeout`, throws `StatementTimedOut` when no answer came within it (the
    /// caller drops the connection).
    static func wait<T: Sendable>(for future: EventLoopFuture<T>, watch: CloseWatch, timeout: Double? = nil) throws -> T {
        let o = PendingStatement<T>()
        future.whenComplete { r in
            o.result.withLock { $0 = r }
            o.done.signal()
        }
        let deadline: DispatchTime = timeout.map { .now() + $0 } ?? .distantFuture
        let timedOut = watch.waitingHere(o.done) && o.done.wait(timeout: deadline) == .timedOut
        watch.doneWaiting()
        if timedOut, let timeout { throw StatementTimedOut(seconds: timeout) }
        if let r = o.result.withLock({ $0 }) { return try r.get() }
        // Closed first: a statement in flight fails right after; one that was dropped never does.
        _ = o.done.wait(timeout: .now() + 0.05)
        if let r = o.result.withLock({ $0 }) { return try r.get() }
        throw ConnectionDropped()
    }

    struct ConnectionDropped: Error, CustomStringConvertible {
        var description: String { "the server closed the connection" }
    }

    struct StatementTimedOut: Error, CustomStringConvertible {
        let seconds: Double
        var description: String {
            "gave no answer within \(seconds.formatted(.number.precision(.fractionLength(0...1)))) s, so the connection was dropped"
        }
    }

    /// `sql` with its `?` placeholders numbered `$1…$n`, cached per SQL text.
    func translated(_ sql: String) -> String {
        if let t = statements.withLock({ $0[sql] }) { return t }
        let t = Self.numberPlaceholders(sql)
        statements.withLock {
            if $0.count >= Self.statementCacheLimit { $0.removeAll(keepingCapacity: true) }
            $0[sql] = t
        }
        return t
    }

    /// Replaces each `?` by `$1`, `$2`, … except inside '…' literals, "…" identifiers and -- or /* */ comments.
    static func numberPlaceholders(_ sql: String) -> String {
        enum State { case code, literal, identifier, lineComment, blockComment }
        var out = ""
        out.reserveCapacity(sql.utf8.count + 8)
        var state = State.code
        var n = 0
        var previous: Character = " "
        for ch in sql {
            switch state {
            case .code:
                if ch == "?" {
                    n += 1
                    out += "$\(n)"
                    previous = " "
                    continue
                }
                if ch == "'" {
                    state = .literal
                } else if ch == "\"" {
                    state = .identifier
                } else if ch == "-" && previous == "-" {
                    state = .lineComment
                } else if ch == "*" && previous == "/" {
                    state = .blockComment
                }
            case .literal: if ch == "'" { state = .code }
            case .identifier: if ch == "\"" { state = .code }
            case .lineComment: if ch == "\n" { state = .code }
            case .blockComment: if ch == "/" && previous == "*" { state = .code }
            }
            out.append(ch)
            // A comment's opening characters must not also close it ("/*/" is not a whole comment).
            previous = (state == .blockComment && ch == "*" && previous == "/") ? " " : ch
        }
        return out
    }

    /// The part of a postgres-nio error worth showing (its own description hides the server's message).
    static func reason(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let m = e.serverInfo?[.message] { return m }
            if let u = e.underlying {
                if let c = u as? NIOConnectionError, let first = c.connectionErrors.first {
                    if let io = first.error as? IOError { return String(cString: strerror(io.errnoCode)) }
                    return "\(first.error)"
                }
                if let io = u as? IOError { return String(cString: strerror(io.errnoCode)) }
                return "\(u)"
            }
            switch e.code {
            case .authMechanismRequiresPassword:
                return "it asks for a password and none was given (put it in the URL, or in PGPASSWORD to keep it out of `ps`)"
            case .serverClosedConnection, .uncleanShutdown: return "the server closed the connection"
            case .clientClosedConnection: return "the connection was closed"
            case .sslUnsupported: return "the server does not support TLS, which sslmode requires"
            default: return "\(e.code)"
            }
        }
        if let e = error as? PostgresUnavailable { return e.description }
        return "\(error)"
    }

    /// A statement's failure as the store sees it: PostgresUnavailable when the connection or server is at fault,
    /// PostgresSQLError when the statement was refused.
    func classify(_ error: any Error, sql: String) -> any Error {
        if error is PostgresUnavailable || error is PostgresSQLError { return error }
        if let t = error as? StatementTimedOut {
            return PostgresUnavailable(description: "PostgreSQL at \(url.redacted) \(t.description).", timedOut: true)
        }
        if let e = error as? PSQLError, e.code == .server, let info = e.serverInfo {
            let state = info[.sqlState] ?? "XX000"
            // 08: connection exception; 57P01-3: admin/crash shutdown, cannot connect now; 53300: too many connections.
            let unavailable = state.hasPrefix("08") || state.hasPrefix("57P") || state == Self.noSlotLeft
            if !unavailable {
                return PostgresSQLError(
                    sqlState: state, message: info[.message] ?? "unknown error", detail: info[.detail], sql: sql)
            }
        }
        return PostgresUnavailable(
            description: "Lost the connection to PostgreSQL at \(url.redacted): \(Self.reason(error)).",
            sqlState: (error as? PSQLError)?.serverInfo?[.sqlState])
    }
}

/// A connection's close, told to the statement waiting on it. One callback on `closeFuture` per connection: one per
/// statement would pile up, each holding its statement's rows, for as long as the connection lives (the replicas' RSS
/// grew by 7 MB/s under bench/soak.sh until this).
final class CloseWatch: Sendable {
    private let state = Mutex<(closed: Bool, waiting: DispatchSemaphore?)>((false, nil))

    init(_ connection: PostgresConnection) {
        connection.closeFuture.whenComplete { [self] _ in
            state.withLock {
                $0.closed = true
                $0.waiting?.signal()
            }
        }
    }

    /// Registers `done` to be signalled when the connection closes; false when it already has (then do not wait).
    func waitingHere(_ done: DispatchSemaphore) -> Bool {
        state.withLock {
            if $0.closed { return false }
            $0.waiting = done
            return true
        }
    }

    func doneWaiting() { state.withLock { $0.waiting = nil } }
}

/// A statement's outcome, handed from an event loop to the thread waiting for it.
final class PendingStatement<T: Sendable>: Sendable {
    let done = DispatchSemaphore(value: 0)
    let result = Mutex<Result<T, any Error>?>(nil)

    init() { PendingStatements.alive.add(1, ordering: .relaxed) }
    deinit { PendingStatements.alive.subtract(1, ordering: .relaxed) }
}

/// How many statements' outcomes (each holding its rows) are alive in this process: those in flight, and any that
/// something still holds after its statement returned. Tests check that the second kind stays none.
enum PendingStatements {
    static let alive = Atomic<Int>(0)
}

/// One connection's slot: its connection (opened lazily, dropped when broken) and the queue its transactions run on.
/// Used by one thread at a time (the pool hands a slot to one holder), hence `@unchecked Sendable`.
final class PostgresSession: SQLConnection, @unchecked Sendable {
    let dialect = SQLDialect.postgres
    let queue: DispatchQueue
    private unowned let db: PostgresDatabase
    private var connection: PostgresConnection?
    private var watch: CloseWatch?
    /// The backend process of `connection`: its pid and start time (together they name it, even once the pid is
    /// reused).
    private var backend: (pid: Int32, start: String)?
    /// Backends of connections dropped for a statement timeout. PostgreSQL does not notice such a client leaving while
    /// the backend waits (on a lock, or idle in a transaction, holding the write lock until
    /// `idle_in_transaction_session_timeout`): the next connection ends them first (`pg_terminate_backend`, which a
    /// role may do to its own backends), or the retry would wait on the lock its own first try still held.
    private var abandoned: [(pid: Int32, start: String)] = []

    /// The writer's session: its connection comes first when PostgreSQL has no slot left (`connect(first:)`).
    let first: Bool

    init(db: PostgresDatabase, label: String, first: Bool) {
        self.first = first
        self.db = db
        queue = DispatchQueue(label: label)
    }

    /// Whether it holds a connection that has not closed (read by the pool while the session is idle: only its
    /// holder changes it).
    var isConnected: Bool { connection.map { !$0.isClosed } ?? false }

    /// Drops the connection (without waiting: this may run wherever the database is released, even an event loop);
    /// returns its closing, if it had one.
    @discardableResult
    func close() -> EventLoopFuture<Void>? {
        let closing = connection?.closeKeepingAlive()
        connection = nil
        watch = nil
        backend = nil
        return closing
    }

    /// Whether this transaction's statements may take as long as they need (`writeUnhurried`).
    private var unhurried = false

    /// BEGIN (taking the write lock for a write, a read-only snapshot for a read), the body, COMMIT; ROLLBACK when the
    /// body throws. A connection found dead at BEGIN (killed while idle, or silent) is replaced once: nothing has run
    /// yet. Each statement waits at most the database's `statementTimeout`, unless `unhurried`.
    func transaction<T>(write: Bool, unhurried: Bool = false, _ body: (SQLConnection) throws -> T) throws -> T {
        self.unhurried = unhurried
        defer { self.unhurried = false }
        var retried = false
        while true {
            var connected = false
            do {
                if connection == nil || connection!.isClosed {
                    let c = try db.connect(first: first)
                    connection = c
                    watch = CloseWatch(c)
                    try endAbandoned()
                }
                connected = true
                try run(write ? "BEGIN" : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", [])
                // A migration may wait for another replica's as long as it takes.
                if unhurried { try run("SET LOCAL lock_timeout = 0", []) }
                if write { try run("SELECT pg_advisory_xact_lock(\(PostgresDatabase.writeLockKey))", []) }
                break
            } catch var e as PostgresUnavailable {
                close()
                if retried {
                    e.beforeBody = true
                    throw e
                }
                retried = true
                // Dropped or silent at BEGIN, not refused while connecting (that one says so where it is answered).
                if connected { db.logger.warning("\(e.description) Trying once more on a new connection.") }
            } catch {
                if connection != nil { _ = try? run("ROLLBACK", []) }
                throw error
            }
        }
        let result: T
        do {
            result = try body(self)
        } catch {
            if connection != nil {
                do { try run("ROLLBACK", []) } catch { close() }
            }
            throw error
        }
        do {
            try run("COMMIT", [])
        } catch {
            // A COMMIT that fails with the transaction aborted (a statement failed and the body went on) ends it.
            if connection != nil && !(error is PostgresUnavailable) { _ = try? run("ROLLBACK", []) }
            throw error
        }
        return result
    }

    /// Learns the new connection's backend, and ends those of connections dropped for a statement timeout.
    private func endAbandoned() throws {
        let me = try run("SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()", [])
        backend = me.rows.first.flatMap { row in
            let cells = Array(row)
            guard cells.count == 2, let pid = try? cells[0].decode(Int32.self), let start = try? cells[1].decode(String.self)
            else { return nil }
            return (pid, start)
        }
        while let b = abandoned.first {
            _ = try run(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ?::int AND backend_start::text = ?",
                [.int(Int64(b.pid)), .text(b.start)])
            abandoned.removeFirst()
            db.logger.info("Ended PostgreSQL backend \(b.pid), whose connection was dropped for a statement timeout.")
        }
    }

    @discardableResult
    private func run(_ sql: String, _ args: [SQLValue]) throws -> PostgresQueryResult {
        guard let c = connection, let watch else {
            throw PostgresUnavailable(
                description: "Lost the connection to PostgreSQL at \(db.url.redacted) mid-transaction.")
        }
        var binds = PostgresBindings(capacity: args.count)
        for a in args {
            switch a {
            case .null: binds.appendNull()
            case .int(let i): binds.append(i)
            case .double(let d): binds.append(d)
            case .text(let t): binds.append(t)
            }
        }
        let query = PostgresQuery(unsafeSQL: args.isEmpty ? sql : db.translated(sql), binds: binds)
        do {
            return try PostgresDatabase.wait(
                for: c.query(query, logger: db.logger), watch: watch, timeout: unhurried ? nil : db.statementTimeout)
        } catch {
            if error is PostgresDatabase.StatementTimedOut, let backend, !abandoned.contains(where: { $0 == backend }) {
                abandoned.append(backend)
            }
            let e = db.classify(error, sql: sql)
            if e is PostgresUnavailable { close() }
            throw e
        }
    }

    // MARK: SQLConnection

    func execute(_ sql: String, _ args: [SQLValue]) throws -> Int {
        try run(sql, args).metadata.rows ?? 0
    }

    func query(_ sql: String, _ args: [SQLValue], _ row: (SQLRow) throws -> Bool) throws {
        let result = try run(sql, args)
        guard let first = result.rows.first else { return }
        let columns = SQLRow.Columns(first.map(\.columnName))
        for r in result.rows {
            var values: [SQLValue] = []
            values.reserveCapacity(columns.names.count)
            for cell in r { values.append(try Self.value(cell, sql: sql)) }
            if try !row(SQLRow(columns: columns, values: values)) { break }
        }
    }

    /// A cell as an SQLValue: integers as .int, floats as .double, numeric as .int when integral (SUM of BIGINT)
    /// and .double otherwise, bool as 0/1, text-like types as .text.
    static func value(_ cell: PostgresCell, sql: String) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        do {
            switch cell.dataType {
            case .int2, .int4, .int8: return .int(try cell.decode(Int64.self))
            case .float4, .float8: return .double(try cell.decode(Double.self))
            case .numeric:
                // Exact: "12345" is an integer (SUM and COUNT-like results), anything else a double.
                let d = try cell.decode(Decimal.self)
                if let i = Int64(d.description) { return .int(i) }
                return .double(Double(d.description) ?? (d as NSDecimalNumber).doubleValue)
            case .bool: return .int(try cell.decode(Bool.self) ? 1 : 0)
            case .void: return .null
            case .text, .varchar, .bpchar, .name, .json, .jsonb, .uuid:
                return .text(try cell.decode(String.self))
            default:
                throw PostgresSQLError(
                    sqlState: "42804",
                    message: "column \(cell.columnName) has type \(cell.dataType), which the store does not read",
                    detail: nil, sql: sql)
            }
        } catch let e as PostgresSQLError {
            throw e
        } catch {
            throw PostgresSQLError(
                sqlState: "22000", message: "column \(cell.columnName) did not decode (\(error))", detail: nil, sql: sql)
        }
    }
}

/// Up to `max` sessions, created when first needed; a holder has one to itself until it releases it.
final class SessionPool: Sendable {
    private struct State {
        /// Each idle session with when it was released (uptime ns), the last released last.
        var idle: [(session: PostgresSession, since: UInt64)] = []
        var created = 0
        var waiters: [@Sendable (PostgresSession) -> Void] = []
    }
    let max: Int
    let label: String
    private let state = Mutex(State())

    /// Its sessions are the writer's (`PostgresSession.first`).
    let first: Bool

    init(max: Int, label: String, first: Bool) {
        self.first = first
        self.max = max
        self.label = label
    }

    private func take(_ db: PostgresDatabase, orWait waiter: @escaping @Sendable (PostgresSession) -> Void)
        -> PostgresSession?
    {
        state.withLock { st in
            // One with a live connection first: a session whose connect failed (no slot left, say) goes back idle
            // without one, and taken first it would fail again while a working one waits under it.
            if let i = st.idle.lastIndex(where: { $0.session.isConnected }) ?? st.idle.indices.last {
                return st.idle.remove(at: i).session
            }
            if st.created < max {
                st.created += 1
                return PostgresSession(db: db, label: "\(label).\(st.created)", first: first)
            }
            st.waiters.append(waiter)
            return nil
        }
    }

    func acquire(_ db: PostgresDatabase) async -> PostgresSession {
        await withCheckedContinuation { (c: CheckedContinuation<PostgresSession, Never>) in
            if let s = take(db, orWait: { c.resume(returning: $0) }) { c.resume(returning: s) }
        }
    }

    func acquireBlocking(_ db: PostgresDatabase) -> PostgresSession {
        let handed = Handoff()
        if let s = take(db, orWait: { handed.put($0) }) { return s }
        return handed.take()
    }

    func release(_ s: PostgresSession) {
        let waiter: (@Sendable (PostgresSession) -> Void)? = state.withLock { st in
            if st.waiters.isEmpty {
                st.idle.append((s, DispatchTime.now().uptimeNanoseconds))
                return nil
            }
            return st.waiters.removeFirst()
        }
        waiter?(s)
    }

    /// Closes the idle sessions' connections (new ones are opened when needed again); returns their closings.
    /// `idleFor`: only those idle at least that long (seconds), and never the `keep` used last.
    @discardableResult
    func closeIdle(idleFor: Double = 0, keep: Int = 0) -> [EventLoopFuture<Void>] {
        let now = DispatchTime.now().uptimeNanoseconds
        let threshold = UInt64(Swift.max(0, idleFor) * 1e9)
        let closing = state.withLock { st in
            // Released last is at the end: the first `count - keep` may go.
            var closing: [PostgresSession] = []
            var staying: [(session: PostgresSession, since: UInt64)] = []
            for (k, e) in st.idle.enumerated() {
                if k < st.idle.count - keep && now - e.since >= threshold { closing.append(e.session) } else { staying.append(e) }
            }
            st.idle = staying
            st.created -= closing.count
            return closing
        }
        return closing.compactMap { $0.close() }
    }
}

/// One session handed from a releasing thread to a blocked one.
private final class Handoff: @unchecked Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private var session: PostgresSession?
    func put(_ s: PostgresSession) {
        session = s
        semaphore.signal()
    }
    func take() -> PostgresSession {
        semaphore.wait()
        return session!
    }
}

/// A LISTEN on its own connection, reopened (with backoff) when it breaks; see `PostgresDatabase.listen`. Runs on a
/// thread of its own, so that it needs neither a free thread of the Swift concurrency pool nor a NIO event loop.
/// While it cannot listen, each failed attempt (at most `PostgresListener.maxBackoffS` apart) calls `onNotify("")`
/// as a reconnect would: the caller re-reads, so what other replicas commit still arrives, a little late, instead
/// of not at all. The outage is logged when it starts, every `relogEveryS` while it lasts, and when it ends.
///
/// A connection that dies without a word (a NAT or firewall that forgets an idle one; a network cut with no reset)
/// would never close here, and nothing more would be heard on it: after `keepaliveS` of quiet it asks the connection
/// `SELECT 1`, and one that gives no answer within `answerWaitS` is closed and replaced (with a re-read).
final class PostgresListener: Sendable {
    let channel: String
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let relogEveryS: Int
    private let keepaliveS: Double
    private let answerWaitS: Double
    private let onNotify: @Sendable (String) -> Void
    /// The database's `freeSlots`: tried once when PostgreSQL has no slot left for this connection.
    private let freeSlots: @Sendable () -> Bool
    private let deliveries: DispatchQueue
    /// Signalled by `stop()`: cuts the backoff between two attempts short.
    private let wake = DispatchSemaphore(value: 0)
    private let state = Mutex<(stopped: Bool, connection: PostgresConnection?)>((false, nil))

    init(
        channel: String, configuration: PostgresConnection.Configuration, logger: Logger, relogEveryS: Int = LastingFailureLog.everyS,
        keepaliveS: Double = PostgresListener.keepaliveS, answerWaitS: Double = PostgresListener.answerWaitS,
        freeSlots: @escaping @Sendable () -> Bool = { false }, onNotify: @escaping @Sendable (String) -> Void
    ) {
        self.freeSlots = freeSlots
        self.relogEveryS = relogEveryS
        self.keepaliveS = keepaliveS
        self.answerWaitS = answerWaitS
        self.channel = channel
        self.configuration = configuration
        self.logger = logger
        self.onNotify = onNotify
        deliveries = DispatchQueue(label: "argus.pg.listen.\(channel)")
        deliveries.setSpecific(key: Self.deliveryKey, value: ())
    }

    private static let deliveryKey = DispatchSpecificKey<Void>()

    func start() {
        let t = Thread { [self] in loop() }
        t.name = "argus.pg.listen.\(channel)"
        t.start()
    }

    /// Stops listening and closes the connection; no call to `onNotify` starts after it returns (unless called from
    /// `onNotify` itself).
    func stop() {
        let connection = state.withLock { st in
            st.stopped = true
            return st.connection
        }
        wake.signal()
        connection?.closeKeepingAlive()
        if DispatchQueue.getSpecific(key: Self.deliveryKey) == nil { deliveries.sync {} }
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func deliver(_ payload: String) {
        deliveries.async { [self] in
            if !stopped { onNotify(payload) }
        }
    }

    /// The longest wait between two attempts to listen again (and so between two re-reads while it cannot).
    static let maxBackoffS = 2.0
    /// How long a listening connection may stay quiet before it is asked whether it still answers, and how long it
    /// has to answer: a silently dead one is found within about 40 s.
    static let keepaliveS = 30.0
    static let answerWaitS = 10.0

    /// Returns when `c` closes, or after closing it when it gave no answer to the `SELECT 1` it is asked every
    /// `keepaliveS` within `answerWaitS`.
    private func watch(_ c: PostgresConnection) {
        let closed = DispatchSemaphore(value: 0)
        c.closeFuture.whenComplete { _ in closed.signal() }
        while closed.wait(timeout: .now() + keepaliveS) == .timedOut {
            let answered = DispatchSemaphore(value: 0)
            let asked: EventLoopFuture<PostgresQueryResult> = c.query(PostgresQuery(unsafeSQL: "SELECT 1"), logger: logger)
            asked.whenComplete { _ in answered.signal() }
            if answered.wait(timeout: .now() + answerWaitS) == .timedOut {
                if state.withLock({ $0.stopped }) { break }
                logger.warning(
                    "LISTEN \(channel): the connection gave no answer in \(Int(answerWaitS)) s; listening on a new one")
                c.closeKeepingAlive()
                break
            }
        }
    }

    private func loop() {
        var backoff = 0.05
        var failures = 0
        var freed = false
        var lostSince = ContinuousClock.now
        var loggedAt = ContinuousClock.now
        while !stopped {
            do {
                let c = try PostgresConnection.connect(
                    on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger
                ).wait()
                let keep = state.withLock { st in
                    if st.stopped { return false }
                    st.connection = c
                    return true
                }
                guard keep else {
                    try? c.close().wait()
                    return
                }
                c.addListener(channel: channel) { [self] _, n in deliver(n.payload) }
                let quoted = "\"" + channel.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                let listening: EventLoopFuture<PostgresQueryResult> = c.query(
                    PostgresQuery(unsafeSQL: "LISTEN \(quoted)"), logger: logger)
                _ = try PostgresDatabase.wait(for: listening, watch: CloseWatch(c))
                if failures > 0 {
                    logger.info(
                        "listening on \(channel) again after \(lostSince.secondsAgo) s (\(failures) failed attempts)")
                }
                backoff = 0.05
                failures = 0
                freed = false
                deliver("")
                watch(c)
            } catch {
                // No slot left: this replica's idle readers give theirs back, and the next try comes at once.
                if !freed, (error as? PSQLError)?.serverInfo?[.sqlState] == PostgresDatabase.noSlotLeft, freeSlots() {
                    freed = true
                    continue
                }
                failures += 1
                if stopped { return }
                if failures == 1 {
                    lostSince = .now
                    loggedAt = .now
                    logger.warning(
                        "LISTEN \(channel) failed, retrying; until it is back this replica re-reads every \(Int(Self.maxBackoffS)) s instead of being told: \(PostgresDatabase.reason(error))"
                    )
                } else if loggedAt.secondsAgo >= relogEveryS {
                    loggedAt = .now
                    logger.warning(
                        "LISTEN \(channel) still failing after \(lostSince.secondsAgo) s (\(failures) attempts): \(PostgresDatabase.reason(error))"
                    )
                }
                // Not told of other replicas' commits meanwhile: the caller re-reads now, as after a reconnect.
                deliver("")
            }
            state.withLock { $0.connection = nil }
            if stopped { return }
            _ = wake.wait(timeout: .now() + backoff)
            backoff = min(backoff * 2, Self.maxBackoffS)
        }
    }
}
