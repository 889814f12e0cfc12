import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// A revoked credential stops working everywhere within a second: open SSE streams end, requests are refused.
@Suite("Revocation closes what the credential holds open", .ownThread)
struct RevocationTests {
    /// Waits until the stream has ended; returns how long that took.
    static func secondsUntilEnded(_ stream: SSECollector, limit: TimeInterval = 5) -> TimeInterval {
        let t0 = Date()
        while stream.ended == nil && Date().timeIntervalSince(t0) < limit { usleep(10_000) }
        return Date().timeIntervalSince(t0)
    }

    @Test("DELETE of a share link ends its open SSE streams at once; the link 404s and its token is refused")
    func shareDeleteEndsStreams() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try ShareTests.mint(owner, "b1")
        let token = try #require(share["token"]?.stringValue)
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(token)", token: nil)
        defer { stream.stop() }
        try stream.waitUntilConnected()
        try owner.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "before", "level": "info"]))
        try stream.wait(until: { $0.contains { $0.type == "log_line" } })

        #expect(try owner.request("DELETE", "/api/batches/b1/shares/\(share["id"]!.intValue!)").status == 200)
        #expect(Self.secondsUntilEnded(stream) < 1.0, "the stream must end within 1 s")
        try owner.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "after", "level": "info"]))
        #expect(!stream.dataEvents.contains { $0.data.contains("after") })
        #expect(try s.client(nil).get("/share/\(token)").status == 404)
        let refused = try s.client(token).get("/api/batches/b1")
        #expect(refused.status == 401)
        #expect(refused.detail == "This share link was revoked, has expired, or never existed.")
        #expect(try s.client(token).get("/api/sse?channels=batch:b1").status == 401)
    }

    @Test("`argus-server token revoke` in another process ends that token's streams and requests within 1 s")
    func cliRevokeEndsStreams() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        let viewerToken = try s.token(user: "alice", scope: "viewer")
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let viewer = s.client(viewerToken)
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1", token: viewerToken)
        defer { stream.stop() }
        let other = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1", token: try s.token(user: "alice", scope: "viewer"))
        defer { other.stop() }
        try stream.waitUntilConnected()
        try other.waitUntilConnected()
        #expect(try viewer.get("/api/batches/b1").status == 200)  // the token is now in the server's 2 s cache

        let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        let row = try #require(list.split(separator: "\n").first { $0.contains("viewer") })
        let id = String(row.split(separator: " ")[0])
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["token", "revoke", id] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        let t0 = Date()
        #expect(Self.secondsUntilEnded(stream) < 1.0, "the stream must end within 1 s")
        var refused = try viewer.get("/api/batches/b1").status
        while refused == 200 && Date().timeIntervalSince(t0) < 5 { refused = try viewer.get("/api/batches/b1").status }
        #expect(refused == 401)
        #expect(Date().timeIntervalSince(t0) < 1.0, "requests must be refused within 1 s")
        // The refusal says why, and argus-tui passes the sentence on; an unknown token still gets the generic one.
        #expect(try viewer.get("/api/batches/b1").detail == "This token was revoked.")
        let (tuiRC, _, tuiErr) = try runTool(
            Binaries.path("argus-tui"), ["--url", s.url, "--dump", "b1"], env: ["ARGUS_TOKEN": viewerToken])
        #expect(tuiRC == 1)
        #expect(tuiErr.contains("This token was revoked."), "\(tuiErr)")
        #expect(try s.client("em_view_never-issued").get("/api/batches/b1").detail.hasPrefix("Missing or unknown token"))
        // Streams of other credentials are untouched.
        try owner.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "still here", "level": "info"]))
        try other.wait(until: { $0.contains { $0.data.contains("still here") } })
        #expect(other.ended == nil)
    }

    @Test("`argus-server token revoke` also revokes the share links that token minted (a thief's links end with it); others stay")
    func tokenRevokeEndsItsShares() throws {
        let s = try TestServer()
        let alice = try s.token(user: "alice")
        let leaked = try s.token(user: "alice")
        let owner = s.client(alice)
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let stolen = try #require(try ShareTests.mint(s.client(leaked), "b1")["token"]?.stringValue)
        let kept = try #require(try ShareTests.mint(owner, "b1")["token"]?.stringValue)
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(stolen)", token: nil)
        defer { stream.stop() }
        try stream.waitUntilConnected()
        #expect(try s.client(stolen).get("/api/batches/b1").status == 200)

        let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        let id = try #require(list.split(separator: "\n").last { $0.contains("alice") }.map { String($0.split(separator: " ")[0]) })
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["token", "revoke", id] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        #expect(Self.secondsUntilEnded(stream) < 1.5, "the link's stream must end with its token")
        let refused = try s.client(stolen).get("/api/batches/b1")
        #expect(refused.status == 401 && refused.detail == ServerSentences.deadShareLink, "\(refused.text)")
        #expect(try s.client(nil).get("/share/\(stolen)").status == 404)
        // The owner's own link, minted with the token still in use, still opens; the listing says which ended.
        #expect(try s.client(kept).get("/api/batches/b1").status == 200)
        let shares = try owner.mustGet("/api/batches/b1/shares").arrayValue ?? []
        #expect(shares.map { $0["revoked"] } == [true, false], "\(shares)")
    }

    @Test("revoking the token that registered a real argus-agent, or the agent itself, stops it within a second (401, one sentence)")
    func revocationStopsAgents() throws {
        let s = try TestServer()
        let bobToken = try s.token(user: "bob")
        let work = try AgentTests.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let revokedAgent = "This agent was revoked, or the token that registered it was: register it again with a valid token."

        /// Registers and runs an agent with `token`; returns the process, its state file and its own token.
        func agent(_ name: String, _ token: String) throws -> (Process, String, HTTPClient) {
            let state = work.appendingPathComponent("\(name).json").path
            _ = try AgentTests.register(s, token, state: state)
            let secret = try #require(try JSON.parse(Array(Data(contentsOf: URL(fileURLWithPath: state))))["agent_token"]?.stringValue)
            let p = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
            return (p, state, s.client(secret))
        }
        /// Waits until the agent process has exited; returns how long that took.
        func secondsUntilExit(_ p: Process) -> TimeInterval {
            let t0 = Date()
            while p.isRunning && Date().timeIntervalSince(t0) < 10 { usleep(10_000) }
            return Date().timeIntervalSince(t0)
        }

        let (first, firstState, firstClient) = try agent("first", bobToken)
        defer { stopProcess(first) }
        try AgentTests.finishedBatch(s.client(bobToken), "b", command: "true", cwd: "/tmp")
        try AgentTests.waitOnline(s.client(bobToken), "b")
        #expect(try s.client(bobToken).mustGet("/api/batches/b")["agent_online"] == true)
        Thread.sleep(forTimeInterval: 0.5)  // the agent now waits in its 10 s long-poll

        let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        let row = try #require(list.split(separator: "\n").first { $0.contains("bob") })
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["token", "revoke", String(row.split(separator: " ")[0])] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        #expect(secondsUntilExit(first) < 1.5, "the agent must be refused within about a second, mid long-poll")
        #expect(first.terminationStatus == 1)
        let log = try String(contentsOfFile: firstState + ".log", encoding: .utf8)
        #expect(log.contains(revokedAgent), "\(log)")
        let heartbeat = try firstClient.post("/api/agents/1/heartbeat", json: [:])
        #expect(heartbeat.status == 401)
        #expect(heartbeat.detail == revokedAgent)
        let bob = s.client(try s.token(user: "bob"))
        #expect(try bob.mustGet("/api/batches/b")["agent_online"] == false, "a revoked agent serves nothing")
        #expect(try bob.post("/api/batches/b/rerun", json: [:]).status == 409)

        // An agent registered with bob's new token: `argus-server agent revoke` stops it alone.
        let (second, secondState, _) = try agent("second", try s.token(user: "bob"))
        defer { stopProcess(second) }
        try AgentTests.waitOnline(bob, "b")
        #expect(try bob.mustGet("/api/batches/b")["agent_online"] == true)
        Thread.sleep(forTimeInterval: 0.5)
        let (_, agents, _) = try runTool(Binaries.path("argus-server"), ["agent", "list"] + s.databaseArgs)
        #expect(agents.contains("token revoked"), "\(agents)")
        let active = try #require(agents.split(separator: "\n").first { $0.hasSuffix("active") })
        let (rc2, out2, err2) = try runTool(
            Binaries.path("argus-server"), ["agent", "revoke", String(active.split(separator: " ")[0])] + s.databaseArgs)
        #expect(rc2 == 0, "\(err2)")
        #expect(out2.hasPrefix("revoked agent 2"))
        #expect(secondsUntilExit(second) < 1.5)
        #expect(try String(contentsOfFile: secondState + ".log", encoding: .utf8).contains(revokedAgent))
        #expect(try bob.mustGet("/api/batches/b")["agent_online"] == false)
        #expect(try bob.get("/api/batches/b").status == 200, "bob's new token still works")
        let (rc3, _, err3) = try runTool(Binaries.path("argus-server"), ["agent", "revoke", "2"] + s.databaseArgs)
        #expect(rc3 == 1)
        #expect(err3 == "argus-server: there is no active agent with id 2.\n")
    }

    @Test("a share link's stream ends when the link expires")
    func expiryEndsStreams() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try ShareTests.mint(owner, "b1", body: ["expires_in_s": 1.5])
        let token = try #require(share["token"]?.stringValue)
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(token)", token: nil)
        defer { stream.stop() }
        try stream.waitUntilConnected()
        #expect(stream.ended == nil)
        #expect(Self.secondsUntilEnded(stream) < 3.0)
        #expect(try s.client(token).get("/api/batches/b1").status == 401)
    }
}
