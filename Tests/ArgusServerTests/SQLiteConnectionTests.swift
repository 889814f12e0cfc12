import Foundation
import GRDB
import TestSupport
import Testing

@testable import ArgusServer

/// The SQLite backend's own shortcuts: column maps kept per statement text, and the quick read's transaction.
@Suite("SQLite connection: column maps and quick reads", .ownThread)
struct SQLiteConnectionTests {
    /// A pool and a read-only queue on one fresh database file, as `ArgusStore` opens them.
    static func database() throws -> (SQLiteDatabase, URL) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-sqlite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("t.sqlite").path
        let pool = try DatabasePool(path: path)
        var quick = Configuration()
        quick.readonly = true
        return (SQLiteDatabase(pool: pool, quick: try DatabaseQueue(path: path, configuration: quick)), dir)
    }

    @Test("a statement's columns are read again when the table changes under the same text")
    func columnsFollowTheSchema() async throws {
        let (db, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(at: dir) }
        try db.writeNow { c in
            try c.execute("CREATE TABLE t(a INTEGER, b TEXT)")
            try c.execute("INSERT INTO t VALUES (1, 'x')")
        }
        func row() async throws -> SQLRow? { try await db.quickRead { c in try c.fetchOne("SELECT * FROM t") } }
        let first = try #require(try await row())
        #expect(first.columns.names == ["a", "b"] && first.value("b") == .text("x"))
        // Same number of columns, other names: a map kept by the statement's text alone would read `b` from `c`.
        try db.writeNow { c in try c.execute("ALTER TABLE t RENAME COLUMN b TO c") }
        let renamed = try #require(try await row())
        #expect(renamed.columns.names == ["a", "c"] && renamed.value("c") == .text("x") && renamed.value("b") == nil)
        try db.writeNow { c in try c.execute("ALTER TABLE t ADD COLUMN d REAL DEFAULT 2.5") }
        let added = try #require(try await row())
        #expect(added.columns.names == ["a", "c", "d"] && added.value("d") == .double(2.5))
    }

    @Test("a quick read that throws ends its transaction: the next one reads, and sees later writes")
    func quickReadAfterAThrow() async throws {
        let (db, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(at: dir) }
        try db.writeNow { c in try c.execute("CREATE TABLE t(a INTEGER)") }
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.quickRead { c -> Int in
                _ = try c.fetchOne("SELECT count(*) FROM t")
                throw Boom()
            }
        }
        try db.writeNow { c in try c.execute("INSERT INTO t VALUES (7)") }
        let n = try await db.quickRead { c in try c.fetchOne("SELECT count(*) AS n FROM t").map { $0["n"] as Int } }
        #expect(n == 1)
    }
}
