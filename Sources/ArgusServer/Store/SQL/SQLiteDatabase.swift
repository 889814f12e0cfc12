import GRDB
import GRDBSQLite
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// SQLITE_TRANSIENT: SQLite copies the bound text (a C macro cast, so spelled out here).
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The SQLite backend: GRDB's `DatabasePool` (WAL; one writer, concurrent readers). Statements are GRDB's cached
/// prepared statements, bound and stepped through the C API (GRDB's argument boxing cost ~8% of ingest).
final class SQLiteDatabase: SQLDatabase {
    let pool: DatabasePool
    /// A read-only connection of its own for `quickRead`: never shared with the pool's readers, so a read on it waits
    /// only for another quick read (microseconds), never for a long read whose end needs this thread.
    let quick: DatabaseQueue
    var dialect: SQLDialect { .sqlite }

    init(pool: DatabasePool, quick: DatabaseQueue) {
        self.pool = pool
        self.quick = quick
    }

    func quickRead<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try SQLiteDatabase.readHere(quick, body)
    }

    /// The body runs on the calling thread (a serial queue's sync), in a read transaction. (From an async function
    /// the compiler would pick GRDB's async read, which hops.) The transaction is begun and ended by cached
    /// statements: GRDB's `read` prepares BEGIN and COMMIT anew each time, a tenth of a lone job read's CPU.
    private static func readHere<T>(_ quick: DatabaseQueue, _ body: (SQLConnection) throws -> T) throws -> T {
        try quick.inDatabase { db in
            let c = SQLiteConnection(db)
            try c.execute("BEGIN DEFERRED")
            do {
                let result = try body(c)
                try c.execute("COMMIT")
                return result
            } catch {
                _ = try? c.execute("ROLLBACK")
                throw error
            }
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteConnection(db)) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await pool.write { db in try body(SQLiteConnection(db)) }
    }

    func readNow<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteConnection(db)) }
    }

    func writeNow<T>(_ body: (SQLConnection) throws -> T) throws -> T {
        try pool.write { db in try body(SQLiteConnection(db)) }
    }
}

/// One GRDB `Database` as the store sees it.
final class SQLiteConnection: SQLConnection {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    init(_ db: Database) { self.db = db }

    func execute(_ sql: String, _ args: [SQLValue]) throws -> Int {
        let h = try prepare(sql, args)
        defer { sqlite3_reset(h) }
        var rc = sqlite3_step(h)
        while rc == SQLITE_ROW { rc = sqlite3_step(h) }
        guard rc == SQLITE_DONE else { throw error(rc) }
        return Int(sqlite3_changes(db.sqliteConnection))
    }

    func query(_ sql: String, _ args: [SQLValue], _ row: (SQLRow) throws -> Bool) throws {
        let h = try prepare(sql, args)
        defer { sqlite3_reset(h) }
        var n: Int32 = 0
        var columns: SQLRow.Columns?
        while true {
            let rc = sqlite3_step(h)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            // After the first step: a statement prepared before another connection changed the schema is compiled
            // again by its step, and only then names the table's columns as they are now.
            if columns == nil {
                n = sqlite3_column_count(h)
                columns = Self.columns(of: h, sql: sql)
            }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(n))
            for i in 0..<n {
                switch sqlite3_column_type(h, i) {
                case SQLITE_NULL: values.append(.null)
                case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(h, i)))
                case SQLITE_FLOAT: values.append(.double(sqlite3_column_double(h, i)))
                default:
                    let count = Int(sqlite3_column_bytes(h, i))
                    let text = sqlite3_column_text(h, i).map {
                        String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
                    }
                    values.append(.text(text ?? ""))
                }
            }
            guard try row(SQLRow(columns: columns!, values: values)) else { return }
        }
    }

    /// Each statement's column names and their index, made once per statement text rather than per query (27 names
    /// hashed into a dictionary on every read of a job row). A cached entry is used only while the statement still
    /// names the same columns (a migration may change what `SELECT *` returns); statements built with a varying
    /// text (IN lists) could fill the cache, so it starts over past 1,024 texts.
    private static let columnCache = Mutex<[String: SQLRow.Columns]>([:])

    private static func columns(of h: OpaquePointer, sql: String) -> SQLRow.Columns {
        let n = Int(sqlite3_column_count(h))
        if let cached = columnCache.withLock({ $0[sql] }), cached.names.count == n,
            cached.names.indices.allSatisfy({ i in cached.names[i].withCString { strcmp($0, sqlite3_column_name(h, Int32(i))) == 0 } })
        {
            return cached
        }
        let made = SQLRow.Columns((0..<Int32(n)).map { String(cString: sqlite3_column_name(h, $0)) })
        columnCache.withLock { cache in
            if cache.count >= 1024 { cache.removeAll() }
            cache[sql] = made
        }
        return made
    }

    private func prepare(_ sql: String, _ args: [SQLValue]) throws -> OpaquePointer {
        let h = try db.cachedStatement(sql: sql).sqliteStatement
        sqlite3_reset(h)
        sqlite3_clear_bindings(h)
        for (i, v) in args.enumerated() {
            let index = Int32(i + 1)
            switch v {
            case .null: sqlite3_bind_null(h, index)
            case .int(let x): sqlite3_bind_int64(h, index, x)
            case .double(let x): sqlite3_bind_double(h, index, x)
            case .text(let t):
                var s = t
                s.withUTF8 { buf in
                    // A nil pointer would bind NULL: an empty text is bound as "".
                    guard let base = buf.baseAddress, buf.count > 0 else {
                        _ = sqlite3_bind_text(h, index, "", 0, sqliteTransient)
                        return
                    }
                    _ = sqlite3_bind_text(
                        h, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self), Int32(buf.count),
                        sqliteTransient)
                }
            }
        }
        return h
    }

    private func error(_ rc: Int32) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: rc), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
    }
}
