import Foundation
import TestSupport
import Testing

@Suite("argus-server token", .ownThread)
struct TokenCommandTests {
    /// A forgotten or mistyped --data-dir once made a fresh empty database and printed a token the running server
    /// rejected with 401; now the command refuses, and --init is the explicit way to mint before the first start.
    @Test(
        "token create/list/revoke refuse a data dir without a database; --init creates one the server then uses",
        .enabled(if: TestBackend.sqlite))
    func refusesMissingDatabase() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("argus-tok-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let empty = parent.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let bin = Binaries.path("argus-server")
        for dir in [empty.path, parent.appendingPathComponent("typo").path] {
            let (rc, out, err) = try runTool(bin, ["token", "create", "--data-dir", dir, "--user", "alice"])
            #expect(rc == 1 && out.isEmpty, "\(out)")
            #expect(
                err.contains(
                    "no Argus database in \(dir): start `argus-server serve --data-dir \(dir)` first (or pass --init to create one)."),
                "\(err)")
            #expect(err.split(separator: "\n").count == 1, "\(err)")
            for args in [["token", "list", "--data-dir", dir], ["token", "revoke", "1", "--data-dir", dir]] {
                let (rc, _, err) = try runTool(bin, args)
                #expect(rc == 1 && err.contains("no Argus database in \(dir): start `argus-server serve"), "\(args): \(err)")
                #expect(!err.contains("--init"), "\(args) has no --init: \(err)")
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/argus.sqlite"), "\(dir) got a database")
        }
        #expect(!FileManager.default.fileExists(atPath: parent.appendingPathComponent("typo").path))

        // --init mints before the first start, and the server started on that dir accepts the token.
        let fresh = parent.appendingPathComponent("fresh")
        let (rc, out, err) = try runTool(bin, ["token", "create", "--init", "--data-dir", fresh.path, "--user", "alice"])
        #expect(rc == 0, "\(err)")
        let s = try TestServer(dataDir: fresh)
        #expect(try s.client(out.trimmingCharacters(in: .whitespacesAndNewlines)).get("/api/batches").status == 200)
        // Once the server has made its database, no flag is needed (how scripts/demo.sh and TestServer mint).
        #expect(try s.client(try s.token(user: "bob")).get("/api/batches").status == 200)
    }

    @Test(
        "--admin on an existing user says that it made them an admin, with all their tokens; a token for an admin says it sees every batch")
    func promotionIsSaid() throws {
        let s = try TestServer()
        let bin = Binaries.path("argus-server")
        func create(_ user: String, admin: Bool = false) throws -> (String, String) {
            let (rc, out, err) = try runTool(bin, ["token", "create"] + s.databaseArgs + ["--user", user] + (admin ? ["--admin"] : []))
            #expect(rc == 0, "\(err)")
            return (out.trimmingCharacters(in: .whitespacesAndNewlines), err)
        }
        let (_, first) = try create("bob")
        let (_, second) = try create("bob")
        #expect(first.isEmpty && second.isEmpty, "a plain token says nothing more: \(first) \(second)")
        let (_, promoted) = try create("bob", admin: true)
        #expect(
            promoted
                == "argus-server: bob is now an admin: this token sees and acts on every batch; so do their 2 other tokens (their viewer tokens only read).\n",
            "\(promoted)")
        let (_, again) = try create("bob")
        #expect(again == "argus-server: bob is an admin, so this token too sees and acts on every batch.\n", "\(again)")
        let (rc, _, viewer) = try runTool(bin, ["token", "create"] + s.databaseArgs + ["--user", "bob", "--scope", "viewer"])
        #expect(rc == 0 && viewer == "argus-server: bob is an admin, so this token too sees every batch (it only reads).\n", "\(viewer)")
        let (_, newAdmin) = try create("carol", admin: true)
        #expect(newAdmin.isEmpty, "a new user made an admin is what was asked: \(newAdmin)")
        // And taken back: bob's tokens keep working, on his own batches only (a running server sees it within 2 s).
        let (aliceToken, _) = try create("alice")
        try s.client(aliceToken).mustPost(Ev.make("batch_start", batch: "hers"))
        let (bobToken, _) = try create("bob")
        #expect(try s.client(bobToken).get("/api/batches/hers").status == 200, "an admin sees every batch")
        let stream = try CurlStream(url: "\(s.url)/api/sse?channels=batch:hers", headers: ["Authorization": "Bearer \(bobToken)"])
        defer { stream.stop() }
        try stream.wait(for: "event: hello")
        let (rc2, out2, err2) = try runTool(bin, ["token", "demote"] + s.databaseArgs + ["--user", "bob"])
        #expect(
            rc2 == 0
                && out2
                    == "bob is no longer an admin: their 6 tokens see and act on their own batches only (within 2 s on a running server).\n",
            "\(out2)\(err2)")
        // The stream he opened as an admin on her batch ends (he may open his own again).
        #expect(stream.secondsUntilEnded() < 3, "the demoted admin's stream of another user's batch must end")
        let seen = Date()
        while try s.client(bobToken).get("/api/batches/hers").status != 404, Date().timeIntervalSince(seen) < 5 { usleep(200_000) }
        #expect(try s.client(bobToken).get("/api/batches/hers").status == 404, "still an admin after the demotion")
        #expect(try s.client(bobToken).get("/api/batches").status == 200)
        let (rc3, out3, _) = try runTool(bin, ["token", "demote"] + s.databaseArgs + ["--user", "bob"])
        #expect(rc3 == 0 && out3 == "bob is not an admin; nothing changed.\n", "\(out3)")
        let (rc4, _, err4) = try runTool(bin, ["token", "demote"] + s.databaseArgs + ["--user", "nobody"])
        #expect(rc4 == 1 && err4 == "argus-server: there is no user 'nobody' (see `argus-server token list`).\n", "\(err4)")
        let (_, list, _) = try runTool(bin, ["token", "list"] + s.databaseArgs)
        #expect(list.split(separator: "\n").filter { $0.contains(" bob ") }.allSatisfy { $0.contains(" no ") }, "\(list)")
    }
}
