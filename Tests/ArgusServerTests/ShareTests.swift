import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Share links", .ownThread)
struct ShareTests {
    static func mint(_ c: HTTPClient, _ batch: String, body: JSON = [:]) throws -> JSON {
        let r = try c.post("/api/batches/\(batch)/shares", json: body)
        guard r.status == 201, let j = r.json else { throw TestFailure("mint → \(r.status): \(r.text)") }
        return j
    }

    @Test("a share token reads exactly its batch (REST and SSE) and nothing else")
    func readOnlyBearerForOneBatch() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try ReadAPITests.seed(owner, batch: "b1")
        try ReadAPITests.seed(owner, batch: "other")
        let share = try Self.mint(owner, "b1")
        let token = try #require(share["token"]?.stringValue)
        #expect(token.count >= 43)  // 32 random bytes, base64url
        #expect(share["url"] == .string("\(s.url)/share/\(token)"))
        #expect(share["id"]?.intValue != nil && share["created_at"]?.stringValue != nil)
        let viaLink = try s.client(nil).mustGet("/share/\(token)")
        #expect(viaLink["batch_id"] == "b1")
        let guest = s.client(token)
        for path in [
            "/api/batches/b1", "/api/batches/b1/jobs", "/api/jobs/b1/j1", "/api/jobs/b1/j1/epochs", "/api/batches/b1/log-lines",
            "/api/jobs/b1/j1/log-lines", "/api/batches/b1/resources", "/api/jobs/b1/j1/view", "/api/batches/b1/stop-requested",
        ] {
            #expect(try guest.get(path).status == 200, "\(path)")
        }
        let actions = try guest.mustGet("/api/jobs/b1/j1/view")["actions"]
        for a in ["stop", "rerun", "share"] { #expect(actions?[a]?["reason"] == "read-only share link", "\(a)") }
        #expect(try guest.get("/api/batches").status == 403)
        #expect(try guest.get("/api/batches/other").status == 404)
        #expect(try guest.get("/api/jobs/other/j1/view").status == 404)
        #expect(try guest.post("/api/events", json: Ev.make("batch_start", batch: "b1")).status == 403)
        #expect(try guest.post("/api/batches/b1/stop", json: [:]).status == 403)
        #expect(try guest.post("/api/batches/b1/shares", json: [:]).status == 403)
        #expect(try guest.get("/api/batches/b1/shares").status == 403)
        #expect(try guest.get("/api/sse?channels=batch:other").status == 404)
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(token)", token: nil, lastEventID: "0")
        defer { stream.stop() }
        try stream.wait(until: { $0.contains { $0.type == "share_created" } })
        #expect(stream.dataEvents.contains { $0.type == "batch_done" })
        #expect(!stream.received.contains { $0.data.contains(token) }, "the secret is never streamed")
    }

    @Test("a share link's URL is made from the Host the request named; a Host that is no host name is a 400 and mints nothing")
    func linkOriginFromHost() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let good = try owner.request("POST", "/api/batches/b1/shares", body: Array("{}".utf8), headers: ["Host": "gpu-monitor.lab:8000"])
        #expect(
            good.status == 201 && good.json?["url"]?.stringValue?.hasPrefix("http://gpu-monitor.lab:8000/share/") == true, "\(good.text)")
        for host in ["a b<script>", "x\"/y", "host:abc", "x:99999", "foo..bar", "-foo"] {
            let r = try owner.request("POST", "/api/batches/b1/shares", body: Array("{}".utf8), headers: ["Host": host])
            #expect(
                r.status == 400 && r.serverDetail?.hasPrefix("The request's Host header is not a host name") == true, "\(host): \(r.text)")
        }
        for host in ["127.0.0.1:8000", "[::1]:8000", "localhost"] {
            let r = try owner.request("POST", "/api/batches/b1/shares", body: Array("{}".utf8), headers: ["Host": host])
            #expect(r.status == 201 && r.json?["url"]?.stringValue?.hasPrefix("http://\(host)/share/") == true, "\(host): \(r.text)")
        }
        #expect(try owner.mustGet("/api/batches/b1/shares").arrayValue?.count == 4, "the refused requests minted nothing")
    }

    @Test("listing shows no secrets; revoking makes the link 404 at once; expired links 404 too")
    func listRevokeExpire() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try Self.mint(owner, "b1")
        let token = share["token"]!.stringValue!
        let id = share["id"]!.intValue!
        #expect(try s.client(token).get("/api/batches/b1").status == 200)  // warms the auth cache
        let list = try owner.mustGet("/api/batches/b1/shares")
        #expect(list.arrayValue?.count == 1)
        #expect(!list.serialized().contains(token))
        #expect(list.arrayValue?.first?["revoked"] == false)
        let del = try owner.request("DELETE", "/api/batches/b1/shares/\(id)")
        #expect(del.status == 200)
        #expect(try s.client(nil).get("/share/\(token)").status == 404)
        #expect(try s.client(token).get("/api/batches/b1").status == 401)
        #expect(try owner.mustGet("/api/batches/b1/shares").arrayValue?.first?["revoked"] == true)
        #expect(try owner.request("DELETE", "/api/batches/b1/shares/999").status == 404)
        #expect(try s.client(try s.token(user: "bob")).post("/api/batches/b1/shares", json: [:]).status == 404)
        let brief = try Self.mint(owner, "b1", body: ["expires_in_s": 0.3])
        #expect(brief["expires_at"]?.stringValue != nil)
        Thread.sleep(forTimeInterval: 0.5)
        #expect(try s.client(nil).get("/share/\(brief["token"]!.stringValue!)").status == 404)
        #expect(try owner.post("/api/batches/b1/shares", json: ["expires_in_s": -1]).status == 422)
        // Huge lifetimes once overflowed Int64 microseconds and killed the server.
        for huge in [1e13, 1e308, 315_360_001] {
            let r = try owner.post("/api/batches/b1/shares", json: ["expires_in_s": JSON(huge)])
            #expect(
                r.status == 422 && r.json?["detail"]?.stringValue?.contains("at most 315360000 (10 years)") == true, "\(huge): \(r.text)")
        }
        #expect(try s.client(nil).get("/health").status == 200)
        #expect(try Self.mint(owner, "b1", body: ["expires_in_s": 315_360_000])["expires_at"]?.stringValue != nil)
        // Only hashes at rest.
        for (f, bytes) in try s.storedData() {
            #expect(bytes.range(of: Data(token.dropFirst(3).utf8)) == nil, "share token found in \(f)")
        }
    }
}
