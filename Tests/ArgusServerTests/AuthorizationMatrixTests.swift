import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Every route × every kind of caller → the expected status (nothing else is reachable with a share or agent token).
@Suite("Authorization matrix", .ownThread)
struct AuthorizationMatrixTests {
    enum Caller: String, CaseIterable {
        case none, viewer, otherReporter, owner, admin, shareOfThis, shareOfOther, revokedShare, agent
    }

    @Test("each route answers each caller as specified")
    func matrix() throws {
        let s = try TestServer()
        let ownerToken = try s.token(user: "alice")
        let owner = s.client(ownerToken)
        try ReadAPITests.seed(owner, batch: "b1")
        try ReadAPITests.seed(owner, batch: "b2")
        func mint(_ b: String) throws -> JSON { try owner.post("/api/batches/\(b)/shares", json: [:]).json ?? .null }
        let shareThis = try mint("b1")["token"]!.stringValue!
        let shareOther = try mint("b2")["token"]!.stringValue!
        let revoked = try mint("b1")
        #expect(try owner.request("DELETE", "/api/batches/b1/shares/\(revoked["id"]!.intValue!)").status == 200)
        let reg = try owner.post("/api/agents/register", json: ["hostname": "elsewhere"])
        let long = try owner.post("/api/agents/register", json: ["hostname": .string(String(repeating: "h", count: 300))])
        #expect(long.status == 422 && long.detail == "hostname is 300 characters long; a host name has at most 255.", "\(long.text)")
        let agentToken = reg.json!["agent_token"]!.stringValue!
        let tokens: [Caller: String?] = [
            .none: nil, .viewer: try s.token(user: "alice", scope: "viewer"), .otherReporter: try s.token(user: "bob"), .owner: ownerToken,
            .admin: try s.token(user: "root", admin: true), .shareOfThis: shareThis, .shareOfOther: shareOther,
            .revokedShare: revoked["token"]!.stringValue!, .agent: agentToken,
        ]
        let reads = [
            "GET /api/batches/b1", "GET /api/batches/b1/jobs", "GET /api/jobs/b1/j1", "GET /api/jobs/b1/j1/epochs",
            "GET /api/batches/b1/log-lines", "GET /api/jobs/b1/j1/log-lines", "GET /api/batches/b1/resources", "GET /api/jobs/b1/j1/view",
            "GET /api/batches/b1/stop-requested",
        ]
        // Expected status per caller, in Caller.allCases order.
        var table: [(String, [Int])] = reads.map { ($0, [401, 200, 404, 200, 200, 200, 404, 401, 403]) }
        table += [
            ("GET /api/batches", [401, 200, 200, 200, 200, 403, 403, 401, 403]),
            ("POST /api/events", [401, 403, 200, 200, 200, 403, 403, 401, 403]),
            ("GET /api/batches/b1/shares", [401, 403, 404, 200, 200, 403, 403, 401, 403]),
            ("POST /api/batches/b1/shares", [401, 403, 404, 201, 201, 403, 403, 401, 403]),
            ("POST /api/batches/b1/stop", [401, 403, 404, 409, 409, 403, 403, 401, 403]),
            ("POST /api/batches/b1/rerun", [401, 403, 404, 409, 409, 403, 403, 401, 403]),
            ("POST /api/batches/b1/mark-failed", [401, 403, 404, 409, 409, 403, 403, 401, 403]),
            ("POST /api/agents/register", [401, 403, 201, 201, 201, 403, 403, 401, 403]),
            ("GET /api/agents/\(reg.json!["agent_id"]!.intValue!)/jobs", [401, 403, 403, 403, 403, 403, 403, 401, 200]),
            ("GET /api/sse?channels=batch:b2", [401, 200, 404, 200, 200, 404, 200, 401, 403]),
        ]
        for (route, expected) in table {
            let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
            for (caller, want) in zip(Caller.allCases, expected) {
                let c = s.client(tokens[caller]!)
                let status: Int
                if route.contains("/api/sse") {
                    // A stream that is allowed never ends: ask curl for the status line only.
                    var args = ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "1"]
                    if let t = tokens[caller]! { args += ["-H", "Authorization: Bearer \(t)"] }
                    status = Int(try runTool("/usr/bin/curl", args + ["\(s.url)\(parts[1])"]).1) ?? 0
                } else if parts[0] == "POST" {
                    let body: JSON =
                        parts[1] == "/api/events"
                        ? Ev.make("log_line", batch: "mine-\(caller)", job: "j", data: ["line": "x", "level": "info"])
                        : parts[1] == "/api/agents/register" ? ["hostname": "h"] : [:]
                    status = try c.post(parts[1], json: body).status
                } else {
                    status = try c.get(parts[1]).status
                }
                #expect(status == want, "\(route) as \(caller): \(status), expected \(want)")
            }
        }
        // Secrets: share and agent tokens carry at least 32 random bytes and never reach the database in plaintext.
        #expect(shareThis.count >= 3 + 43 && agentToken.count >= 3 + 43)
        for (f, bytes) in try s.storedData() {
            for secret in [shareThis, agentToken] {
                #expect(bytes.range(of: Data(secret.dropFirst(3).utf8)) == nil, "a secret is stored in \(f)")
            }
        }
    }
}
