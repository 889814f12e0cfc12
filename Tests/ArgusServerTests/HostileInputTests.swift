import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// A corpus of hostile requests on every write route (issue 11): each is refused with a 4xx and one sentence, and
/// the server stays up and keeps working. Misbehaving connections are cut off within the configured deadlines.
@Suite("Hostile input on every write route", .ownThread)
struct HostileInputTests {
    struct Case: CustomStringConvertible {
        var name: String
        var method = "POST"
        var path: String
        var body: [UInt8]?
        var headers = ["Content-Type": "application/json"]
        /// Which credential: the owner's token, the agent's, or none.
        var auth = Auth.owner
        enum Auth { case owner, agent, none }
        var description: String { "\(name): \(method) \(path.prefix(80))" }
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// Bodies no JSON route may take.
    static let badBodies: [(String, [UInt8])] = [
        ("truncated object", bytes("{")),
        ("truncated after a key", bytes("{\"event_type\":")),
        ("truncated string", bytes("{\"a\": \"abc")),
        ("deep array nesting", bytes(String(repeating: "[", count: 5000))),
        ("deep object nesting", bytes(String(repeating: "{\"a\":", count: 300) + "1" + String(repeating: "}", count: 300))),
        ("trailing garbage", bytes("{} {}")),
        ("a bare string", bytes("\"just a string\"")),
        ("an array", bytes("[1, 2, 3]")),
        ("null", bytes("null")),
        ("a number", bytes("12345")),
        ("invalid UTF-8", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0xC0, 0x22, 0x7D]),
        ("a raw NUL inside a string", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0x78, 0x00, 0x79, 0x22, 0x7D]),
        ("single quotes", bytes("{'a': 1}")),
        ("a comment", bytes("{/* hi */}")),
        ("wrong types everywhere", bytes("{\"event_type\": 5, \"batch_id\": [], \"status\": {}, \"hostname\": 7}")),
        ("a huge string over the body limit", bytes("{\"x\": \"" + String(repeating: "a", count: 1_200_000) + "\"}")),
    ]

    static func corpus(agentID: Int) -> [Case] {
        var cases: [Case] = []
        let jsonRoutes: [(String, Case.Auth)] = [
            ("/api/events", .owner), ("/api/events/batch", .owner), ("/api/batches/b1/mark-failed", .owner),
            ("/api/batches/b1/shares", .owner), ("/api/agents/register", .owner),
            ("/api/agents/\(agentID)/jobs/1/ack", .agent), ("/api/session", .none),
        ]
        for (path, auth) in jsonRoutes {
            for (name, body) in badBodies { cases.append(Case(name: name, path: path, body: body, auth: auth)) }
            cases.append(
                Case(name: "text/plain", path: path, body: bytes("{}"), headers: ["Content-Type": "text/plain"], auth: auth))
        }
        func event(_ change: (inout JSONObject) -> Void) -> [UInt8] {
            guard case .object(var o) = Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "x"]) else { return [] }
            change(&o)
            return Array(JSON.object(o).serialized().utf8)
        }
        let events: [(String, [UInt8])] = [
            ("unknown event type", event { $0["event_type"] = "drop_table" }),
            ("no schema_version", event { $0["schema_version"] = nil }),
            ("schema_version 9", event { $0["schema_version"] = "9.0" }),
            ("no batch_id", event { $0["batch_id"] = nil }),
            ("batch_id with a slash", event { $0["batch_id"] = "a/b" }),
            ("batch_id '..'", event { $0["batch_id"] = ".." }),
            ("an empty batch_id", event { $0["batch_id"] = "" }),
            ("a 10 kB batch_id", event { $0["batch_id"] = .string(String(repeating: "b", count: 10_000)) }),
            ("event_id too short", event { $0["event_id"] = "abc" }),
            ("timestamp from the year 9999", event { $0["timestamp"] = "9999-12-31T00:00:00Z" }),
            ("timestamp that is no date", event { $0["timestamp"] = "yesterday" }),
            ("timestamp as a number", event { $0["timestamp"] = 1e300 }),
            ("data as an array", event { $0["data"] = [1, 2] }),
            (
                "epoch out of range",
                bytes(
                    #"{"event_id":"e-0000000001","schema_version":"1.1","event_type":"job_epoch","timestamp":"2026-01-01T00:00:00Z","batch_id":"b1","job_id":"j1","source":{},"data":{"epoch":1e999}}"#
                )
            ),
            (
                "duplicate keys, the last one invalid",
                bytes(
                    #"{"event_id":"e-0000000002","schema_version":"1.1","schema_version":"7","event_type":"log_line","timestamp":"2026-01-01T00:00:00Z","batch_id":"b1","source":{},"data":{}}"#
                )
            ),
        ]
        for (name, body) in events { cases.append(Case(name: name, path: "/api/events", body: body)) }
        cases += [
            Case(
                name: "batch of 501 events", path: "/api/events/batch",
                body: bytes("{\"events\": [" + Array(repeating: "{}", count: 501).joined(separator: ",") + "]}")),
            Case(name: "events not an array", path: "/api/events/batch", body: bytes("{\"events\": {}}")),
            Case(name: "no events key", path: "/api/events/batch", body: bytes("{\"items\": []}")),
            Case(name: "ack status bogus", path: "/api/agents/\(agentID)/jobs/1/ack", body: bytes(#"{"status":"bogus"}"#), auth: .agent),
            Case(
                name: "ack duplicate status, last bogus", path: "/api/agents/\(agentID)/jobs/1/ack",
                body: bytes(#"{"status":"started","status":"bogus"}"#), auth: .agent),
            Case(
                name: "ack of an unknown command", path: "/api/agents/\(agentID)/jobs/999999/ack", body: bytes(#"{"status":"started"}"#),
                auth: .agent),
            Case(
                name: "ack of a command that is no number", path: "/api/agents/\(agentID)/jobs/1%3B--/ack",
                body: bytes(#"{"status":"started"}"#), auth: .agent),
            Case(
                name: "ack as another agent", path: "/api/agents/\(agentID + 1)/jobs/1/ack", body: bytes(#"{"status":"started"}"#),
                auth: .agent),
            Case(name: "ack with the owner's token", path: "/api/agents/\(agentID)/jobs/1/ack", body: bytes(#"{"status":"started"}"#)),
            Case(name: "heartbeat of agent -1", path: "/api/agents/-1/heartbeat", body: nil, auth: .agent),
            Case(name: "register without a token", path: "/api/agents/register", body: bytes(#"{"hostname":"x"}"#), auth: .none),
            Case(
                name: "register with a 10 kB hostname", path: "/api/agents/register",
                body: bytes("{\"hostname\":\"" + String(repeating: "h", count: 10_000) + "\"}")),
            Case(name: "share expiring in -5 s", path: "/api/batches/b1/shares", body: bytes(#"{"expires_in_s": -5}"#)),
            Case(name: "share expiring in a string", path: "/api/batches/b1/shares", body: bytes(#"{"expires_in_s": "soon"}"#)),
            Case(name: "share expiring in 1e300 s", path: "/api/batches/b1/shares", body: bytes(#"{"expires_in_s": 1e300}"#)),
            Case(
                name: "mark failed with a 10 kB reason", path: "/api/batches/b1/mark-failed",
                body: bytes("{\"reason\":\"" + String(repeating: "r", count: 10_000) + "\"}")),
            Case(name: "SQL in a batch id", path: "/api/batches/x'%3B%20DROP%20TABLE%20events%3B--/stop", body: nil),
            Case(name: "dot segments", path: "/api/batches/..%2F..%2Fetc%2Fpasswd/stop", body: nil),
            Case(name: "a bad escape in a path", path: "/api/batches/%zz/rerun", body: nil),
            Case(name: "a 20 kB id", path: "/api/batches/" + String(repeating: "x", count: 20_000) + "/stop", body: nil),
            Case(name: "rerun without a token", path: "/api/batches/b1/rerun", body: nil, auth: .none),
            Case(name: "stop with the agent's token", path: "/api/batches/b1/stop", body: nil, auth: .agent),
            Case(name: "delete a share that is no number", method: "DELETE", path: "/api/batches/b1/shares/1%20OR%201=1", body: nil),
            Case(name: "ingest with the agent's token", path: "/api/events", body: event { _ in }, auth: .agent),
            Case(name: "PUT on an ingest route", method: "PUT", path: "/api/events", body: bytes("{}")),
            Case(name: "sign in with an unknown token", path: "/api/session", body: bytes(#"{"token":"ak_nonsense"}"#), auth: .none),
            Case(name: "sign in with a share token", path: "/api/session", body: bytes(#"{"token":"sh_nonsense"}"#), auth: .none),
            Case(name: "sign in with a token as a number", path: "/api/session", body: bytes(#"{"token":42}"#), auth: .none),
        ]
        return cases
    }

    @Test("at least 80 hostile requests: each a 4xx with one sentence; the server stays up and nothing leaks in")
    func corpus() throws {
        let s = try TestServer(env: ["ARGUS_MAX_BODY_MB": "1"])
        let token = try s.token(user: "alice")
        let owner = s.client(token)
        try owner.mustPost(Ev.make("batch_start", batch: "b1", data: ["command": "python train.py"]))
        try owner.mustPost(Ev.make("job_start", batch: "b1", job: "j1"))
        let reg = try owner.post("/api/agents/register", json: ["hostname": "gpu-box-1"])
        let agentID = try #require(reg.json?["agent_id"]?.intValue)
        let agent = s.client(try #require(reg.json?["agent_token"]?.stringValue))
        let anonymous = s.client(nil)
        let before = try owner.mustGet(APIPath.batch("b1"))
        let cases = Self.corpus(agentID: agentID)
        #expect(cases.count >= 80, "\(cases.count) cases")
        var failures: [String] = []
        for c in cases {
            let client = c.auth == .owner ? owner : c.auth == .agent ? agent : anonymous
            let r: HTTPResult
            do { r = try client.request(c.method, c.path, body: c.body, headers: c.headers) } catch {
                failures.append("\(c): no answer (\(error))")
                continue
            }
            let detail = r.json?["detail"]?.stringValue ?? ""
            if !(400..<500).contains(r.status) || detail.isEmpty || detail.contains("\n") || detail.count > 400 {
                failures.append("\(c) → \(r.status) \(r.text.prefix(200))")
            }
        }
        #expect(failures.isEmpty, "\(failures.count) of \(cases.count):\n\(failures.joined(separator: "\n"))")
        // Still up, still working, and the batch is as it was (no hostile request changed it).
        #expect(try anonymous.get("/health").status == 200)
        try owner.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "still fine"]))
        var after = try owner.mustGet(APIPath.batch("b1"))
        if case .object(var o) = after {
            for k in ["last_activity", "last_received", "last_seen"] { o[k] = before[k] }
            after = .object(o)
        }
        #expect(after == before)
        #expect(try owner.mustGet(APIPath.jobs("b1")).arrayValue?.count == 1)
    }

    @Test("broken framing: a short body, an endless chunked body and garbage are cut off in time; the server stays up")
    func framing() throws {
        let s = try TestServer(env: ["ARGUS_HEADER_TIMEOUT_S": "1", "ARGUS_BODY_TIMEOUT_S": "1"])
        let token = try s.token()
        let auth = "Authorization: Bearer \(token)\r\nContent-Type: application/json\r\n"
        let requests = [
            "POST /api/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 100000\r\n\r\n{\"a\":1}",
            "POST /api/events HTTP/1.1\r\nHost: x\r\n\(auth)Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n",
            "POST /api/events HTTP/1.1\r\nHost: x\r\n\(auth)Content-Length: 2\r\n\r\n{\"event_type\": \"log_line\"}",
            "GARBAGE\r\n\r\n",
            "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{}",
            "POST /api/events HTTP/1.1\r\n" + String(repeating: "X-Pad: \(String(repeating: "p", count: 1000))\r\n", count: 200) + "\r\n",
        ]
        for text in requests {
            let conn = try RawConnection(port: s.port)
            conn.send(text)
            let (answer, closed, seconds) = conn.readUntilClosed(timeout: 6)
            #expect(closed, "cut off: \(text.prefix(60))")
            #expect(seconds < 5)
            #expect(!answer.hasPrefix("HTTP/1.1 5"), "\(text.prefix(60)) → \(answer.prefix(80))")
        }
        #expect(try s.client(nil).get("/health").status == 200)
        try s.client(token).mustPost(Ev.make("log_line", batch: "b1", data: ["line": "after"]))
    }

    @Test("a NUL or other control character: refused in an id with a 422; a NUL is stored as U+FFFD anywhere else, on either backend")
    func nulCharacters() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        for (key, value) in [("batch_id", "a\u{0}b"), ("job_id", "j\u{0}"), ("event_id", "abcdefgh\u{0}")] {
            guard case .object(var e) = Ev.make("log_line", batch: "nul", job: "j", data: ["line": "x"]) else { return }
            e[key] = .string(value)
            let r = try c.post("/api/events", json: .object(e))
            #expect(r.status == 422 && r.detail == "\(key) must not contain a NUL character (\\u0000).", "\(key): \(r.status) \(r.text)")
        }
        // Other control characters (C0, DEL, C1, bidi controls) in the ids people read and type.
        for (key, value, code) in [
            ("batch_id", "a\u{7}b", "0007"), ("job_id", "j\u{1B}[31m", "001B"), ("job_id", "j\u{85}", "0085"),
            ("batch_id", "b\u{202E}lave", "202E"),
        ] {
            guard case .object(var e) = Ev.make("log_line", batch: "ctl", job: "j", data: ["line": "x"]) else { return }
            e[key] = .string(value)
            let r = try c.post("/api/events", json: .object(e))
            #expect(r.status == 422 && r.detail == "\(key) must not contain control characters (found U+\(code)).", "\(r.text)")
        }
        // Invisible ones: a zero-width space would make two jobs that look the same.
        for (key, value, code) in [
            ("job_id", "zw\u{200B}sp", "200B"), ("batch_id", "\u{FEFF}b", "FEFF"), ("job_id", "a\u{2060}b", "2060"),
            ("job_id", "a\u{AD}b", "00AD"), ("job_id", "a\u{3164}", "3164"),
        ] {
            guard case .object(var e) = Ev.make("log_line", batch: "ctl", job: "j", data: ["line": "x"]) else { return }
            e[key] = .string(value)
            let r = try c.post("/api/events", json: .object(e))
            #expect(r.status == 422 && r.detail == "\(key) must not contain invisible characters (found U+\(code)).", "\(r.text)")
        }
        try c.mustPost(
            Ev.make(
                "log_line", batch: "nul", job: "j", data: ["line": "before\u{0}after", "le\u{0}vel": "warn"],
                source: ["project": "p\u{0}", "host": "h"]))
        let lines = try c.mustGet("/api/jobs/nul/j/log-lines").arrayValue ?? []
        #expect(lines.first?["line"] == "before\u{FFFD}after")
        #expect(try c.mustGet("/api/batches/nul")["project"] == "p\u{FFFD}")
    }
}
