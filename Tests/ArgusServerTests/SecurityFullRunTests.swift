import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

/// Two checks that need a server that has seen everything: every kind of credential issued and used, a stop and a
/// rerun pending, a share link opened, a web session signed in. Then no GET changes any stored state, and no
/// secret issued along the way is anywhere in the server's log.
@Suite("Security after a full run", .ownThread)
struct SecurityFullRunTests {
    /// Everything a run leaves behind, and every secret handed out for it.
    struct Seeded {
        let server: TestServer
        let batch = "seed-batch"
        var userToken = "", viewerToken = "", adminToken = "", agentToken = "", shareToken = "", session = ""
        var agentID = 0

        var secrets: [String] { [userToken, viewerToken, adminToken, agentToken, shareToken, session] }
    }

    /// A batch with a job and telemetry, an agent of the owner on the batch's host, a rerun queued for it, Stop asked
    /// for, a share link (opened once), a signed-in web session, and a revoked token.
    static func seed(_ s: TestServer) throws -> Seeded {
        var out = Seeded(server: s)
        out.userToken = try s.token(user: "alice")
        out.viewerToken = try s.token(user: "bob", scope: "viewer")
        out.adminToken = try s.token(user: "root", admin: true)
        let alice = s.client(out.userToken)
        try OpenAPITests.seed(alice, batch: out.batch)
        let agent = try alice.post(
            "/api/agents/register", json: ["hostname": "gpu-box-1", "version": "test", "capabilities": ["rerun"]])
        out.agentID = try #require(agent.json?["agent_id"]?.intValue, "\(agent.text)")
        out.agentToken = try #require(agent.json?["agent_token"]?.stringValue)
        // A finished batch on the agent's host, rerun: the command waits for the agent.
        try alice.mustPost(
            Ev.make(
                "batch_start", batch: "done-batch", data: ["command": "python train.py", "cwd": "/tmp"],
                source: ["project": "proj", "host": "gpu-box-1"]))
        try alice.mustPost(Ev.make("batch_done", batch: "done-batch"))
        let rerun = try alice.post("/api/batches/done-batch/rerun", json: [:])
        #expect(rerun.status == 202 || rerun.status == 200, "rerun: \(rerun.text)")
        let share = try alice.post("/api/batches/\(out.batch)/shares", json: [:])
        out.shareToken = try #require(share.json?["token"]?.stringValue, "\(share.text)")
        #expect(try s.client(nil).get("/share/\(out.shareToken)").status == 200)
        (_, out.session) = try WebRoutesTests.signIn(s, out.userToken)
        let stop = try s.client(nil).request(
            "POST", "/api/batches/\(out.batch)/stop", body: Array("{}".utf8),
            headers: WebRoutesTests.withCookie(
                out.session, ["Origin": s.url, "X-Argus-CSRF": "1", "Content-Type": "application/json"]))
        #expect(stop.status == 202 || stop.status == 200, "stop through the web session: \(stop.text)")
        return out
    }

    /// Every row of every table, as text. The agent's `last_seen_us` is left out: an agent's poll is its presence,
    /// the one thing a GET is meant to record.
    static func snapshot(_ dataDir: URL) throws -> [String: [String]] {
        var config = Configuration()
        config.readonly = true
        let db = try DatabaseQueue(path: dataDir.appendingPathComponent("argus.sqlite").path, configuration: config)
        return try db.read { db in
            let tables = try String.fetchAll(
                db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            var out: [String: [String]] = [:]
            for table in tables {
                out[table] = try Row.fetchAll(db, sql: "SELECT * FROM \(table)").map { row in
                    row.columnNames.filter { !(table == "agents" && $0 == "last_seen_us") }
                        .map { "\($0)=\(row[$0] as DatabaseValue)" }.joined(separator: " ")
                }.sorted()
            }
            return out
        }
    }

    @Test(
        "no GET changes stored state: every GET of openapi.json, with each kind of credential", .enabled(if: TestBackend.sqlite),
        .timeLimit(.minutes(2)))
    func getIsSafe() throws {
        let s = try TestServer()
        let seeded = try Self.seed(s)
        let before = try Self.snapshot(s.dataDir)
        #expect(before["agent_commands"]?.contains { $0.contains("pending") } == true, "the rerun is not pending")

        let page = try s.client(nil).get("/").text
        let hash = try #require(page.range(of: #"/assets/[0-9a-f]{12}"#, options: .regularExpression).map { page[$0].dropFirst(8) })
        let asset = try #require(try WebRoutesTests.assetNames().first)
        let values = [
            "{b}": seeded.batch, "{j}": "j1", "{id}": "\(seeded.agentID)", "{token}": seeded.shareToken,
            "{hash}": String(hash), "{name}": asset,
        ]
        let userCredentials: [(String, [String: String])] = [
            ("token", ["Authorization": "Bearer \(seeded.userToken)"]),
            ("viewer token", ["Authorization": "Bearer \(seeded.viewerToken)"]),
            ("admin token", ["Authorization": "Bearer \(seeded.adminToken)"]),
            ("share token", ["Authorization": "Bearer \(seeded.shareToken)"]),
            ("session", WebRoutesTests.withCookie(seeded.session)),
            ("none", [:]),
        ]
        var requests = 0
        for route in try OpenAPITests.documentedRoutes().sorted() where route.hasPrefix("GET ") {
            var path = String(route.dropFirst(4))
            for (name, value) in values { path = path.replacingOccurrences(of: name, with: value) }
            #expect(!path.contains("{"), "no value for a parameter of \(route)")
            let credentials =
                path.hasPrefix("/api/agents/")
                ? [("agent token", ["Authorization": "Bearer \(seeded.agentToken)"])] : userCredentials
            for (what, headers) in credentials {
                if path == "/api/sse" {
                    let token = headers["Authorization"].map { String($0.dropFirst(7)) }
                    let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:\(seeded.batch)", token: token)
                    Thread.sleep(forTimeInterval: 0.1)
                    stream.stop()
                } else {
                    let r = try s.client(nil).request("GET", path, headers: headers)
                    #expect(r.status < 500, "\(route) with \(what): \(r.status) \(r.text.prefix(200))")
                }
                requests += 1
            }
        }
        #expect(requests > 60, "only \(requests) GET requests were made")
        Thread.sleep(forTimeInterval: 0.3)  // let a stray write, if any, land before looking
        let after = try Self.snapshot(s.dataDir)
        for table in Set(before.keys).union(after.keys).sorted() {
            let (b, a) = (before[table] ?? [], after[table] ?? [])
            #expect(a == b, "GET requests changed table \(table):\nbefore \(b.suffix(3))\nafter \(a.suffix(3))")
        }
    }

    @Test("after a full run at trace level, no secret issued along the way is in the server log", .timeLimit(.minutes(2)))
    func noSecretInLogAfterFullRun() throws {
        let s = try TestServer(serveArgs: ["--log-level", "trace"])
        let seeded = try Self.seed(s)
        // The real SDK reports a run with the token (and polls stop-requested with it).
        let (rc, _, err) = try runTool(
            try PythonSDK.python(), ["-c", SDKCompatTests.script],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": seeded.userToken, "HOME": s.dataDir.path])
        #expect(rc == 0, "the SDK run failed: \(err)")
        // The agent polls, acks and heartbeats with its token.
        let agent = s.client(seeded.agentToken)
        let commands = try agent.getJSON("/api/agents/\(seeded.agentID)/jobs?wait=0").arrayValue ?? []
        for c in commands {
            if let id = c["id"]?.intValue {
                _ = try agent.post("/api/agents/\(seeded.agentID)/jobs/\(id)/ack", json: ["status": "failed", "error": "test"])
            }
        }
        #expect(try agent.post("/api/agents/\(seeded.agentID)/heartbeat", json: [:]).status == 204)
        // Streams with ?token= (user and share), a viewer reading, an admin listing.
        for token in [seeded.userToken, seeded.shareToken] {
            let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:\(seeded.batch)&token=\(token)", token: nil)
            try stream.waitUntilConnected()
            stream.stop()
        }
        _ = try s.client(seeded.viewerToken).get("/api/batches/\(seeded.batch)")
        _ = try s.client(seeded.adminToken).get("/api/batches")
        // Signing out, revoking the token, then using the dead credentials and secrets in the wrong places.
        let out = try s.client(nil).request(
            "DELETE", "/api/session",
            headers: WebRoutesTests.withCookie(seeded.session, ["Origin": s.url, "X-Argus-CSRF": "1"]))
        #expect(out.status == 204, "sign out: \(out.text)")
        let list = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        let viewerID = list.1.split(separator: "\n").first { $0.contains("bob") }?.split(separator: " ").first
        if let viewerID {
            _ = try runTool(Binaries.path("argus-server"), ["token", "revoke", String(viewerID)] + s.databaseArgs)
        }
        _ = try s.client(seeded.viewerToken).get("/api/batches")
        _ = try s.client(nil).request("GET", "/api/session", headers: WebRoutesTests.withCookie(seeded.session))
        _ = try s.client(seeded.userToken).get("/api/batches/\(seeded.agentToken)")
        _ = try s.client(nil).get("/share/\(seeded.userToken)")
        _ = try s.client(nil).request("POST", "/api/session", body: Array(#"{"token": "\#(seeded.agentToken)"}"#.utf8))
        Thread.sleep(forTimeInterval: 0.3)  // an SSE request's line is written when it ends
        let log = s.log
        #expect(log.split(separator: "\n").count > 40, "the log is suspiciously short:\n\(log)")
        for secret in seeded.secrets {
            #expect(secret.count >= 16, "a secret was not issued: '\(secret)'")
            #expect(!log.contains(secret), "a secret reached the log")
            #expect(!log.contains(String(secret.suffix(12))), "part of a secret reached the log")
        }
    }
}
