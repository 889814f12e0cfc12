import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// A revoked credential stops working everywhere within a second: open SSE streams end, requests are refused.
@Suite("Revocation closes what the credential holds open")
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
        // Streams of other credentials are untouched.
        try owner.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "still here", "level": "info"]))
        try other.wait(until: { $0.contains { $0.data.contains("still here") } })
        #expect(other.ended == nil)
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
