import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Every route reads bodies the same way: 415 for a non-JSON Content-Type, 422 for malformed JSON, never a 500.
@Suite("Request bodies", .ownThread)
struct RequestDecodingTests {
    @Test("a non-JSON Content-Type on ingest is 415 with one sentence; application/json with a charset is fine")
    func unsupportedMediaType() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let body = Array(Ev.make("batch_start", batch: "b").serialized().utf8)
        let plain = try c.request("POST", "/api/events", body: body, headers: ["Content-Type": "text/plain"])
        #expect(plain.status == 415)
        #expect(plain.detail == "The body must be JSON, sent with Content-Type: application/json (got 'text/plain').")
        let form = try c.request(
            "POST", "/api/events/batch", body: Array(#"{"events":[]}"#.utf8),
            headers: ["Content-Type": "application/x-www-form-urlencoded"])
        #expect(form.status == 415)
        #expect(try c.get("/api/batches").json?.arrayValue?.isEmpty == true, "nothing was stored")
        let charset = try c.request("POST", "/api/events", body: body, headers: ["Content-Type": "application/json; charset=utf-8"])
        #expect(charset.status == 200)
        // A gzipped body is named as such, not called invalid JSON at byte 0.
        let gzip = try c.request(
            "POST", "/api/events", body: [0x1F, 0x8B, 0x08, 0x00],
            headers: ["Content-Type": "application/json", "Content-Encoding": "gzip"])
        #expect(gzip.status == 415)
        #expect(gzip.detail == "Compressed bodies are not accepted (Content-Encoding: gzip); send the JSON as it is.")
    }

    @Test("an epoch number too large to hold says so; a negative n_total_jobs is no count")
    func outOfRange() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let huge = try c.post("/api/events", json: Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": 9.2e18]))
        #expect(huge.status == 422)
        #expect(huge.detail.contains("data.epoch is out of range: it must be between -9e15 and 9e15."), "\(huge.detail)")
        let text = try c.post("/api/events", json: Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": "3"]))
        #expect(text.status == 422 && text.detail.contains("data.epoch must be an integer."), "\(text.detail)")
        try c.mustPost(Ev.make("batch_start", batch: "n", data: ["n_total_jobs": -5]))
        #expect(try c.mustGet("/api/batches/n")["n_total"] == .null)
    }

    @Test("malformed JSON to the agent ack route is 422, not 500")
    func agentAckMalformed() throws {
        let s = try TestServer()
        let reg = try s.client(try s.token()).post("/api/agents/register", json: ["hostname": "h"])
        let id = try #require(reg.json?["agent_id"]?.intValue)
        let agent = s.client(reg.json?["agent_token"]?.stringValue)
        let r = try agent.request("POST", "/api/agents/\(id)/jobs/1/ack", body: Array("{not json".utf8))
        #expect(r.status == 422)
        #expect(r.detail.hasPrefix("The body is not valid JSON"))
        let plain = try agent.request(
            "POST", "/api/agents/\(id)/jobs/1/ack", body: Array("x".utf8), headers: ["Content-Type": "text/plain"])
        #expect(plain.status == 415)
    }
}
