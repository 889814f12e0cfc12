import Foundation
import GRDB
import Shared
import TestSupport
import Testing

/// A data dir whose `argus.sqlite` another program made, or a newer argus-server upgraded: every command refuses it
/// in one sentence before writing anything to it (no WAL switch, no migration), instead of adding Argus's tables to
/// someone else's file or writing rows a newer schema does not expect.
@Suite("Foreign or newer SQLite databases are refused", .enabled(if: TestBackend.sqlite), .ownThread)
struct ForeignDatabaseTests {
    static func dataDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-foreign-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("another program's SQLite file: serve and token list refuse it, and the file is left as it was")
    func foreign() throws {
        let dir = try Self.dataDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("argus.sqlite").path
        try DatabaseQueue(path: file).write { db in
            try db.execute(sql: "CREATE TABLE foo(x); INSERT INTO foo VALUES (1)")
        }
        let before = try Data(contentsOf: URL(fileURLWithPath: file))
        for args in [["serve", "--port", "0", "--data-dir", dir.path], ["token", "list", "--data-dir", dir.path]] {
            let (rc, _, err) = try runTool(Binaries.path("argus-server"), args)
            #expect(rc == 1, "\(args): \(err)")
            #expect(
                err == "argus-server: Cannot open the database \(file): it is not an Argus database (it holds other tables: foo); "
                    + "give argus-server a data directory of its own.\n", "\(args): \(err)")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == before, "the file was written to")
        #expect(!FileManager.default.fileExists(atPath: file + "-wal"))
    }

    @Test("a file that is not SQLite at all is called that, not a damaged database, and left as it was")
    func notSQLite() throws {
        let dir = try Self.dataDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("argus.sqlite").path
        try Data("these are my notes, not a database\n".utf8).write(to: URL(fileURLWithPath: file))
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["token", "list", "--data-dir", dir.path])
        #expect(rc == 1)
        #expect(
            err == "argus-server: Cannot open the database \(file): it is not an Argus database (not an SQLite file at all); "
                + "give argus-server a data directory of its own.\n", "\(err)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "these are my notes, not a database\n")
    }

    @Test("a database a newer argus-server upgraded: refused, naming the migrations this one does not know")
    func newer() throws {
        let s = try TestServer(sqlite: true)
        let dir = s.dataDir
        defer { try? FileManager.default.removeItem(at: dir) }
        try s.client(try s.token()).mustPost(Ev.make("batch_start", batch: "b"))
        #expect(s.stop() < 10)
        let file = dir.appendingPathComponent("argus.sqlite").path
        try DatabaseQueue(path: file).write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations(identifier) VALUES ('v99 from the future')")
        }
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dir.path])
        #expect(rc == 1)
        #expect(
            err == "argus-server: Cannot open the database \(file): a newer argus-server has upgraded it (its migrations "
                + "'v99 from the future' are unknown to this one, \(ArgusVersion.string)): run that version or a newer one.\n",
            "\(err)")
    }
}
