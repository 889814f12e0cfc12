import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// `argus-server db copy`: a SQLite history moved into PostgreSQL (issue 12, "Moving up").
@Suite("db copy: SQLite into PostgreSQL", .enabled(if: TestBackend.isPostgres), .timeLimit(.minutes(2)), .ownThread)
struct DatabaseCopyTests {
    @Test("the copy keeps ids, tokens, shares and summaries; a rerun copies nothing more; clients resume on the new server")
    func copyAndMoveUp() throws {
        let src = try TestServer(sqlite: true)
        let token = try src.token(user: "alice")
        let revoked = try src.token(user: "bob", scope: "viewer")
        let c = src.client(token)
        try ReadAPITests.seed(c, batch: "b1")
        for n in 1...40 { try c.mustPost(Ev.epoch("b1", "j1", n)) }
        try c.mustPost(Ev.make("batch_done", batch: "b1"))
        let share = try #require(try ShareTests.mint(c, "b1")["token"]?.stringValue)
        #expect(try src.client(revoked).get("/api/batches").status == 200)
        let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + src.databaseArgs)
        let bobID = try #require(list.split(separator: "\n").first { $0.contains("bob") }?.split(separator: " ").first)
        _ = try runTool(Binaries.path("argus-server"), ["token", "revoke", String(bobID)] + src.databaseArgs)
        var viewBefore = try c.mustGet("/api/jobs/b1/j1/view")
        var lastID = try #require(viewBefore["last_event_id"]?.intValue)
        src.stop()

        let target = try TestPostgres.freshDatabase()
        defer { target.drop() }
        let copy = ["db", "copy", "--from-data-dir", src.dataDir.path, "--to-database-url", target.url]
        let (rc, out, err) = try runTool(Binaries.path("argus-server"), copy)
        #expect(rc == 0, "\(err)")
        #expect(out.contains("verified: all ") && out.contains("events: "), "\(out)")
        #expect(!out.contains(target.url.split(separator: ":")[2].split(separator: "@")[0]), "the password is printed")
        // Safe to run again: nothing more to copy, still verified. Here with the password out of the command line: the
        // target in ARGUS_DATABASE_URL, its password in PGPASSWORD, as libpq reads it.
        let password = String(target.url.split(separator: ":")[2].split(separator: "@")[0])
        let bare = target.url.replacingOccurrences(of: ":\(password)@", with: "@")
        let (rc2, out2, err2) = try runTool(
            Binaries.path("argus-server"), ["db", "copy", "--from-data-dir", src.dataDir.path],
            env: ["ARGUS_DATABASE_URL": bare, "PGPASSWORD": password.removingPercentEncoding ?? password])
        #expect(rc2 == 0 && out2.contains("(0 copied now)"), "\(out2)\(err2)")
        let (rcNoPass, _, errNoPass) = try runTool(Binaries.path("argus-server"), ["token", "list", "--database-url", bare])
        #expect(
            rcNoPass == 1 && errNoPass.contains("it asks for a password and none was given (put it in the URL, or in PGPASSWORD"),
            "\(errNoPass)")
        // The SQLite server ran on after the copy: what it stored since, and the summary rows it changed (the
        // batch's last activity, the job's latest epoch), reach the target when the copy runs again.
        let later = try TestServer(dataDir: src.dataDir, sqlite: true)
        let l = later.client(token)
        for n in 41...45 { try l.mustPost(Ev.epoch("b1", "j1", n)) }
        try l.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "after the first copy"]))
        viewBefore = try l.mustGet("/api/jobs/b1/j1/view")
        lastID = try #require(viewBefore["last_event_id"]?.intValue)
        let (rcDave, _, errDave) = try runTool(Binaries.path("argus-server"), ["token", "create", "--user", "dave"] + later.databaseArgs)
        #expect(rcDave == 0, "\(errDave)")
        later.stop()
        let (rc3, out3, err3) = try runTool(Binaries.path("argus-server"), copy)
        #expect(rc3 == 0 && out3.contains("verified: all ") && out3.contains("events: "), "\(out3)\(err3)")
        #expect(out3.contains("batches: 1 row, 1 copied now") && out3.contains("jobs: 2 rows, 1 copied now"), "\(out3)")
        // A token revoked on the target stays revoked when the copy runs again: copying never brings a credential back.
        func daveLine() throws -> String {
            let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list", "--database-url", target.url])
            return String(list.split(separator: "\n").first { $0.contains("dave") } ?? "")
        }
        let daveID = try #require(try daveLine().split(separator: " ").first)
        _ = try runTool(Binaries.path("argus-server"), ["token", "revoke", String(daveID), "--database-url", target.url])
        #expect(try daveLine().contains("revoked"))
        let (rc5, out5, err5) = try runTool(Binaries.path("argus-server"), copy)
        #expect(rc5 == 0 && out5.contains("verified: all "), "\(out5)\(err5)")
        let daveAfter = try daveLine()
        #expect(daveAfter.contains("revoked"), "the copy brought a revoked token back: \(daveAfter)")

        let dst = try TestServer(replicaOf: target.url)
        let d = dst.client(token)
        let viewAfter = try d.mustGet("/api/jobs/b1/j1/view")
        #expect(viewAfter == viewBefore)
        #expect(try dst.client(share).get("/api/batches/b1").status == 200, "the share link still opens")
        #expect(try dst.client(revoked).get("/api/batches").status == 401, "a revoked token stays revoked")
        // A client resumes its stream from where it was on the old server; new ids go on after the old ones.
        let resume = SSECollector(url: dst.url + "/api/sse?channels=batch:b1", token: token, lastEventID: String(lastID - 5))
        defer { resume.stop() }
        try resume.wait("the last five events") { _ in resume.dataEvents.count >= 5 }
        #expect(resume.dataEvents.compactMap { Int64($0.id) } == Array(Int64(lastID - 4)...Int64(lastID)))
        // Once servers have written to the target (here only to a batch the source has too), copying the old history
        // again would undo what they stored. New ids go on after the old ones.
        try d.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "on PostgreSQL"]))
        let newest = try d.mustGet("/api/jobs/b1/j1/view")["last_event_id"]?.intValue ?? 0
        #expect(newest > lastID)
        let (rc4, _, err4) = try runTool(Binaries.path("argus-server"), copy)
        #expect(
            rc4 == 1 && err4.hasPrefix("argus-server: nothing was copied: the target has events the source never had (ids up to "),
            "\(err4)")
        #expect(try d.mustGet("/api/jobs/b1/j1/view")["last_event_id"]?.intValue == newest)
        try d.mustPost(Ev.make("batch_start", batch: "b2"))
    }

    @Test("a copy that did not finish (Ctrl-C, a lost connection): no server serves the target until the copy runs again")
    func unfinishedCopy() throws {
        let bin = Binaries.path("argus-server")
        let src = try TestServer(sqlite: true)
        try src.client(try src.token(user: "erin")).mustPost(Ev.make("batch_start", batch: "b"))
        src.stop()
        let target = try TestPostgres.freshDatabase()
        defer { target.drop() }
        let copy = ["db", "copy", "--from-data-dir", src.dataDir.path, "--to-database-url", target.url]
        #expect(try runTool(bin, copy).0 == 0)
        // With a server still on the source, the copy says what that means.
        let running = try TestServer(dataDir: src.dataDir, sqlite: true)
        let (rcBeside, _, errBeside) = try runTool(bin, copy)
        #expect(
            rcBeside == 0
                && errBeside.contains("warning: a server (pid \(running.process.processIdentifier)) is serving \(src.dataDir.path)"),
            "\(errBeside)")
        running.stop()
        // What a copy stopped halfway leaves: its mark, set before the first row was written.
        let pg = try PostgresDatabase(url: target.url)
        try pg.writeNow { db in
            try db.execute("CREATE TABLE \(DatabaseCopy.unfinishedTable)(since_us BIGINT NOT NULL, source TEXT NOT NULL)")
            try db.execute("INSERT INTO \(DatabaseCopy.unfinishedTable) VALUES (0, ?)", [src.dataDir.path])
        }
        pg.close()
        // Nor does a token or retention command write into it (a user made there would make the copy refuse it).
        let (rcToken, _, errToken) = try runTool(bin, ["token", "create", "--user", "eve", "--database-url", target.url])
        #expect(rcToken == 1 && errToken.contains("did not finish"), "\(errToken)")
        let (rc, _, err) = try runTool(bin, ["serve", "--port", "0", "--database-url", target.url])
        #expect(
            rc == 1
                && err
                    == "argus-server: this database is the target of an `argus-server db copy` that did not finish (started 1970-01-01T00:00:00Z from \(src.dataDir.path)): run the copy again to finish it; until then no argus-server command uses it.\n",
            "\(err)")
        // Copied again and verified: the mark goes, and a server starts on it.
        #expect(try runTool(bin, copy).0 == 0)
        let served = try TestServer(replicaOf: target.url)
        defer { served.stop() }
        #expect(try served.client(nil).get("/health").status == 200)
    }

    @Test("clear one-sentence errors: no database in the data dir, a bad URL, an unreachable server")
    func errors() throws {
        let bin = Binaries.path("argus-server")
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("argus-copy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let (rc1, _, err1) = try runTool(
            bin, ["db", "copy", "--from-data-dir", empty.path, "--to-database-url", "postgres://x@127.0.0.1/y"])
        #expect(rc1 == 1 && err1.hasPrefix("argus-server: there is no Argus database in \(empty.path)"), "\(err1)")
        // A URL given as the data dir is said to be one, its password not echoed.
        let (rcURL, _, errURL) = try runTool(
            bin,
            ["db", "copy", "--from-data-dir", "postgres://argus:pgpass123@127.0.0.1/a1", "--to-database-url", "postgres://x@127.0.0.1/y"])
        #expect(rcURL == 1 && errURL.contains("--from-data-dir takes the SQLite server's data directory, not a database URL"), "\(errURL)")
        #expect(!errURL.contains("pgpass123"), "\(errURL)")
        for typo in ["postgres:argus:pgpass123@h", "argus:pgpass123@host:5432/db"] {
            let (rcTypo, _, errTypo) = try runTool(
                bin, ["db", "copy", "--from-data-dir", typo, "--to-database-url", "postgres://x@127.0.0.1/y"])
            #expect(rcTypo == 1 && !errTypo.contains("pgpass123"), "\(errTypo)")
        }
        let src = try TestServer(sqlite: true)
        try src.client(try src.token(user: "erin")).mustPost(Ev.make("batch_start", batch: "mine"))
        src.stop()
        // A target that holds another history is refused before anything is written.
        let other = try TestServer()
        try other.client(try other.token(user: "zoe")).mustPost(Ev.make("batch_start", batch: "theirs"))
        let before = try TestPostgres.psql(try #require(other.databaseURL), "SELECT count(*) FROM users")
        let (rc0, _, err0) = try runTool(
            bin, ["db", "copy", "--from-data-dir", src.dataDir.path, "--to-database-url", try #require(other.databaseURL)])
        #expect(
            rc0 == 1
                && err0.hasPrefix(
                    "argus-server: nothing was copied: the target holds users the source does not (1): another Argus history, or one servers have written to since the last copy"
                ),
            "\(err0)")
        #expect(try TestPostgres.psql(try #require(other.databaseURL), "SELECT count(*) FROM users") == before)
        for (url, says) in [
            ("mysql://u@h/db", "postgres://"),
            ("postgres://u@127.0.0.1:1/db", "Cannot connect to PostgreSQL at postgres://u@127.0.0.1:1/db: "),
            ("postgres://u@%2Ftmp%2Fpg/db", "Unix-socket directory"),
        ] {
            let (rc, _, err) = try runTool(bin, ["db", "copy", "--from-data-dir", src.dataDir.path, "--to-database-url", url])
            #expect(rc == 1 && err.hasPrefix("argus-server: ") && err.contains(says), "\(url): \(err)")
            #expect(err.split(separator: "\n").count == 1, "\(url): one line: \(err)")
        }
    }
}
