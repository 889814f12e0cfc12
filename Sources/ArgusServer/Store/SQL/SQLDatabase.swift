import Foundation

/// Where the server's rows live: SQLite in the data dir (the default) or a PostgreSQL shared by replicas.
/// The store's logic (ingest folding, guardrails, actions, reads) is written once against `SQLConnection`; the two
/// backends differ only in how a statement reaches the database and in the few spellings `SQLDialect` names.
enum SQLDialect: Sendable {
    case sqlite
    case postgres

    /// A JSON member of a TEXT column, as text (objects as their JSON text; JSON null as NULL): `body` → `data` →
    /// `line`. A step of digits is an array index (`"gpus", "0"`).
    func jsonText(_ column: String, _ path: String...) -> String {
        func isIndex(_ s: String) -> Bool { !s.isEmpty && s.allSatisfy(\.isASCII) && s.allSatisfy(\.isNumber) }
        switch self {
        case .sqlite:
            let p = path.map { isIndex($0) ? "[\($0)]" : ".\($0)" }.joined()
            return "json_extract(\(column), '$\(p)')"
        case .postgres:
            let step = { (s: String) in isIndex(s) ? s : "'\(s)'" }
            return "((\(column))::json\(path.dropLast().map { "->" + step($0) }.joined())->>\(step(path.last!)))"
        }
    }

    /// `column`, kept from steering the planner to its index (SQLite's unary `+`; PostgreSQL plans well as is).
    func unindexed(_ column: String) -> String { self == .sqlite ? "+\(column)" : column }
}

/// One value bound to a statement or read from a row. Booleans are stored as 0/1 in both backends.
enum SQLValue: Sendable, Hashable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
}

/// What can be bound to a `?`.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension Int64: SQLBindable { var sqlValue: SQLValue { .int(self) } }
extension Int: SQLBindable { var sqlValue: SQLValue { .int(Int64(self)) } }
extension Int32: SQLBindable { var sqlValue: SQLValue { .int(Int64(self)) } }
extension Bool: SQLBindable { var sqlValue: SQLValue { .int(self ? 1 : 0) } }
extension Double: SQLBindable { var sqlValue: SQLValue { .double(self) } }
/// Text never holds a NUL character in either backend (PostgreSQL's text cannot): each becomes U+FFFD. Ids with one
/// are refused before they get here (`EventValidator`), so no two names become one.
extension String: SQLBindable {
    var sqlValue: SQLValue { .text(utf8.contains(0) ? replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : self) }
}
extension SQLValue: SQLBindable { var sqlValue: SQLValue { self } }
extension Optional: SQLBindable where Wrapped: SQLBindable {
    var sqlValue: SQLValue { self?.sqlValue ?? .null }
}

/// What a column can be read as. A NULL read as a non-optional type, or a text read as a number, is a bug in our
/// SQL, not in the data: it traps with the column's name.
protocol SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Self
}

extension Int64: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Int64 {
        switch v {
        case .int(let i): return i
        case .double(let d) where d == d.rounded(): return Int64(d)
        case .text(let t) where Int64(t) != nil: return Int64(t)!
        default: fatalError("Column \(column) holds \(v), not an integer.")
        }
    }
}
extension Int: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Int { Int(Int64.decode(v, column: column)) }
}
extension Bool: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Bool { Int64.decode(v, column: column) != 0 }
}
extension Double: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Double {
        switch v {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .text(let t) where Double(t) != nil: return Double(t)!
        default: fatalError("Column \(column) holds \(v), not a number.")
        }
    }
}
extension String: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> String {
        switch v {
        case .text(let t): return t
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .null: fatalError("Column \(column) is NULL, not text.")
        }
    }
}
extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    static func decode(_ v: SQLValue, column: String) -> Wrapped? {
        v == .null ? nil : Wrapped.decode(v, column: column)
    }
}

/// One result row; columns by name (`row["id"]`) or position.
struct SQLRow: Sendable {
    final class Columns: Sendable {
        let names: [String]
        let index: [String: Int]
        init(_ names: [String]) {
            self.names = names
            var index: [String: Int] = [:]
            for (i, n) in names.enumerated() where index[n] == nil { index[n] = i }
            self.index = index
        }
    }

    let columns: Columns
    let values: [SQLValue]

    subscript<T: SQLDecodable>(_ name: String) -> T {
        guard let i = columns.index[name] else { fatalError("No column \(name) in \(columns.names).") }
        return T.decode(values[i], column: name)
    }

    subscript<T: SQLDecodable>(_ position: Int) -> T {
        T.decode(values[position], column: columns.names[position])
    }

    /// The raw value of a column (nil when the query has no such column).
    func value(_ name: String) -> SQLValue? { columns.index[name].map { values[$0] } }
}

/// One connection, inside a transaction (`SQLDatabase.write`) or a consistent snapshot (`read`). Statements use `?`
/// placeholders in both backends. Not to be kept beyond the closure it was handed to.
protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs a statement; returns how many rows it changed.
    @discardableResult func execute(_ sql: String, _ args: [SQLValue]) throws -> Int
    /// Runs a query and hands each row to `row` until it returns false.
    func query(_ sql: String, _ args: [SQLValue], _ row: (SQLRow) throws -> Bool) throws
}

extension SQLConnection {
    @discardableResult func execute(_ sql: String, _ args: [any SQLBindable] = []) throws -> Int {
        try execute(sql, args.map(\.sqlValue))
    }

    func fetchAll(_ sql: String, _ args: [any SQLBindable] = []) throws -> [SQLRow] {
        var rows: [SQLRow] = []
        try query(sql, args.map(\.sqlValue)) { r in
            rows.append(r)
            return true
        }
        return rows
    }

    func fetchOne(_ sql: String, _ args: [any SQLBindable] = []) throws -> SQLRow? {
        var first: SQLRow?
        try query(sql, args.map(\.sqlValue)) { r in
            first = r
            return false
        }
        return first
    }

    /// The first column of the first row (nil when there is no row or it is NULL).
    func scalar<T: SQLDecodable>(_ type: T.Type, _ sql: String, _ args: [any SQLBindable] = []) throws -> T? {
        guard let r = try fetchOne(sql, args), r.values.first != .null else { return nil }
        return r[0] as T
    }

    /// The first column of every row.
    func column<T: SQLDecodable>(_ type: T.Type, _ sql: String, _ args: [any SQLBindable] = []) throws -> [T] {
        var out: [T] = []
        try query(sql, args.map(\.sqlValue)) { r in
            out.append(r[0] as T)
            return true
        }
        return out
    }

    /// Each row, streamed: for scans that stop early or build their output as they go.
    func forEach(_ sql: String, _ args: [any SQLBindable] = [], _ body: (SQLRow) throws -> Bool) throws {
        try query(sql, args.map(\.sqlValue), body)
    }
}

/// A database the server reads and writes. Every write is one transaction, and writes are serialised: SQLite has one
/// writer; PostgreSQL takes one lock shared by every replica first, so that ids are committed in id order and the
/// fold of each event into its batch's summary sees every earlier event (see `PostgresDatabase`).
protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    func read<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T
    func write<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T
    /// The same, for command-line tools that have no async context.
    func readNow<T>(_ body: (SQLConnection) throws -> T) throws -> T
    func writeNow<T>(_ body: (SQLConnection) throws -> T) throws -> T
    /// A short read by key (a token, a batch, a job) done on the calling thread where the backend can do that safely,
    /// rather than on a reader's queue and back: for a lone request, those two thread switches cost more than the
    /// query. Elsewhere the same as `read`.
    func quickRead<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T
    /// A trivial statement: throws when the database does not answer (`ArgusStore.ping`, which bounds the wait).
    func ping() async throws
}

extension SQLDatabase {
    func ping() async throws { try await pingByRead() }

    /// `SELECT 1` as an ordinary read (queued behind the others).
    func pingByRead() async throws { _ = try await read { c in try c.scalar(Int.self, "SELECT 1") } }

    func quickRead<T: Sendable>(_ body: @escaping @Sendable (SQLConnection) throws -> T) async throws -> T {
        try await read(body)
    }
}

/// What a database shared by several replicas offers beyond `SQLDatabase` (PostgreSQL).
protocol SharedDatabase: SQLDatabase {
    /// Calls `onNotify` with the payload of each NOTIFY on `channel`, by any replica, once its transaction committed;
    /// and with "" after the listening connection had to reconnect (whatever was notified meanwhile is lost).
    func onNotify(_ channel: String, _ body: @escaping @Sendable (String) -> Void)
    /// Whether this process holds the lease `key` now, taking it when it is free: periodic work that must run on one
    /// replica at a time runs where this is true. The lease ends when the process or its connection dies.
    func holdsLease(_ key: Int64) async -> Bool
    /// Stops listening, lets go of the leases and closes the connections: for a server that has stopped serving.
    func close()
}

/// The NOTIFY channels and lease keys the replicas share (one home for their names).
enum ReplicaSignals {
    /// Notified by each commit that stored events (payload: the newest id).
    static let events = "argus_events"
    /// Notified when a command is queued for an agent (payload: the agent's id).
    static let agents = "argus_agents"
    /// Periodic work one replica at a time runs (`PeriodicService`).
    enum Lease: Int64 {
        case stallWatchdog = 0x4152_4755_5301
        case retentionSweeper = 0x4152_4755_5302
    }
}
