import ArgusServer
import Foundation
import GRDBSQLite

/// `argus-bench raw-sqlite SOURCE_DB [PER_COMMIT=500]`: the ceiling for batched ingest (issue 13). Reads every event
/// row the server stored in SOURCE_DB (read-only), then inserts the same rows into a new database with the same
/// `events` table and indexes, through SQLite's C API alone: the server's own insert statement, prepared once,
/// PER_COMMIT rows per transaction, WAL with fsync per commit as the server does. Prints `rows=… events_per_s=…`, then
/// the same rows twice more, to show what holds the ceiling where it is: `without_dedupe_key events_per_s=…` (no
/// `UNIQUE(batch_id, event_id)`, which the API's idempotency rule needs) and `random_uuid_event_ids events_per_s=…`
/// (event ids as the SDK makes them, random UUIDs; the benchmark's own ids follow insertion order). Random keys
/// land on a different page of the key's index each, so a commit writes about one index page per row.
enum RawSQLite {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static func run(_ args: [String]) throws {
        let source = args[2]
        guard args.count <= 4 else { throw BenchUsage("raw-sqlite: takes SERVER_DB and PER_COMMIT only.") }
        guard args.count < 4 || Int(args[3]).map({ $0 > 0 }) == true else {
            throw BenchUsage("raw-sqlite: PER_COMMIT must be a whole number above 0, not '\(args[3])'.")
        }
        let perCommit = args.count > 3 ? Int(args[3])! : 500
        var src: OpaquePointer?
        let opened = sqlite3_open_v2("file:\(source)?mode=ro", &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nil)
        defer { sqlite3_close(src) }
        // Read-only, so what goes wrong is the file: missing, unreadable, not a database, not a server's.
        func unreadable(_ why: String) -> Failure { Failure(description: "raw-sqlite: cannot read \(source): \(why).") }
        guard opened == SQLITE_OK else { throw unreadable(String(cString: sqlite3_errstr(opened))) }
        let schema: [String]
        let rows: [[Value]]
        do {
            schema = try strings(src, "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL")
            guard !schema.isEmpty else { throw Failure(description: "it has no events table (not a server's argus.sqlite)") }
            rows = try fetchRows(src)
        } catch { throw unreadable("\(error)") }
        guard !rows.isEmpty else {
            throw Failure(description: "raw-sqlite: \(source) holds no events to insert again (run the batch benchmark first).")
        }

        let key = #/,\s*UNIQUE\(batch_id, event_id\)/#
        guard schema.contains(where: { $0.contains(key) }) else {
            throw Failure(description: "raw-sqlite: the events table has no UNIQUE(batch_id, event_id) as expected")
        }
        let withoutKey = schema.map { $0.replacing(key, with: "") }
        let random = rows.map { row in
            var row = row
            row[0] = .text(UUID().uuidString.lowercased())
            return row
        }
        let seconds = try insert(rows, schema: schema, perCommit: perCommit)
        print(
            String(
                format: "rows=%d per_commit=%d seconds=%.3f events_per_s=%.0f", rows.count, perCommit, seconds,
                Double(rows.count) / seconds))
        let unkeyed = try insert(
            rows, schema: withoutKey, perCommit: perCommit,
            sql: IngestTransaction.insertEventSQL.replacing(" ON CONFLICT(batch_id, event_id) DO NOTHING", with: ""))
        print(String(format: "without_dedupe_key events_per_s=%.0f", Double(rows.count) / unkeyed))
        let randomly = try insert(random, schema: schema, perCommit: perCommit)
        print(String(format: "random_uuid_event_ids events_per_s=%.0f", Double(rows.count) / randomly))
    }

    /// Seconds to insert `rows` into a new database made by `schema`, `perCommit` rows per transaction, WAL with
    /// fsync per commit as the server does.
    static func insert(
        _ rows: [[Value]], schema: [String], perCommit: Int, sql: String = IngestTransaction.insertEventSQL
    ) throws -> Double {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-raw-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var db: OpaquePointer?
        guard sqlite3_open(dir.appendingPathComponent("raw.sqlite").path, &db) == SQLITE_OK else {
            throw Failure(description: "cannot create a database in \(dir.path)")
        }
        defer { sqlite3_close(db) }
        try exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL")
        for statement in schema { try exec(db, statement) }
        var insert: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &insert, nil) == SQLITE_OK else {
            throw Failure(description: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(insert) }

        let start = DispatchTime.now().uptimeNanoseconds
        var k = 0
        while k < rows.count {
            try exec(db, "BEGIN IMMEDIATE")
            for row in rows[k..<min(k + perCommit, rows.count)] {
                for (i, value) in row.enumerated() {
                    let n = Int32(i + 1)
                    switch value {
                    case .int(let v): sqlite3_bind_int64(insert, n, v)
                    case .text(let t): sqlite3_bind_text(insert, n, t, -1, transient)
                    case .null: sqlite3_bind_null(insert, n)
                    }
                }
                guard sqlite3_step(insert) == SQLITE_ROW || sqlite3_errcode(db) == SQLITE_DONE else {
                    throw Failure(description: String(cString: sqlite3_errmsg(db)))
                }
                sqlite3_reset(insert)
            }
            try exec(db, "COMMIT")
            k += perCommit
        }
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    enum Value { case int(Int64), text(String), null }
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// The server's rows, in id order, as its insert statement binds them.
    static func fetchRows(_ db: OpaquePointer?) throws -> [[Value]] {
        var stmt: OpaquePointer?
        let sql = "SELECT event_id, batch_id, job_id, event_type, ts_us, received_us, hidden, body FROM events ORDER BY id"
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw Failure(description: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(stmt) }
        var rows: [[Value]] = []
        while sqlite3_step(stmt) == SQLITE_ROW {
            rows.append(
                (0..<8).map { c in
                    switch sqlite3_column_type(stmt, Int32(c)) {
                    case SQLITE_INTEGER: .int(sqlite3_column_int64(stmt, Int32(c)))
                    case SQLITE_NULL: .null
                    default: .text(String(cString: sqlite3_column_text(stmt, Int32(c))))
                    }
                })
        }
        return rows
    }

    static func strings(_ db: OpaquePointer?, _ sql: String) throws -> [String] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
            throw Failure(description: String(cString: sqlite3_errmsg(db)))
        }
        defer { sqlite3_finalize(stmt) }
        var out: [String] = []
        while sqlite3_step(stmt) == SQLITE_ROW { out.append(String(cString: sqlite3_column_text(stmt, 0))) }
        return out
    }

    static func exec(_ db: OpaquePointer?, _ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else {
            throw Failure(description: "\(sql): \(String(cString: sqlite3_errmsg(db)))")
        }
    }
}
