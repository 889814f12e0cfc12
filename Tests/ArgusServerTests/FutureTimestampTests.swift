import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// A timestamp far ahead of the server's clock would pin a batch first forever and make ELAPSED absurd.
@Suite("Timestamps from the future, or from before 2000, are refused", .ownThread)
struct FutureTimestampTests {
    @Test("more than 24 h ahead of the server's clock: 422 alone, or that item rejected in a batch; 23 h ahead is fine")
    func refusedBeyondADay() async throws {
        let srv = try await InProcessServer()
        let c = srv.client(try srv.token())
        let now = srv.clock.nowUs
        let hour: Int64 = 3_600_000_000
        let ahead25 = Timestamp(micros: now + 25 * hour).iso
        try await offPool {
            try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
            let far = try c.post(
                "/api/events", json: Ev.make("log_line", batch: "b", job: "j", data: ["line": "x"], ts: "9999-12-31T23:59:59Z"))
            #expect(far.status == 422)
            #expect(far.detail.contains("more than 24 hours ahead of the server's clock"), "\(far.detail)")
            #expect(try c.post("/api/events", json: Ev.make("log_line", batch: "b", job: "j", ts: ahead25)).status == 422)
            let ok = Timestamp(micros: now + 23 * hour).iso
            #expect(try c.post("/api/events", json: Ev.make("log_line", batch: "b", job: "j", data: ["line": "y"], ts: ok)).status == 200)
            let mixed = try c.postBatch([
                Ev.epoch("b", "j", 1), Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": 2], ts: "9999-12-31T00:00:00Z"),
            ])
            #expect(mixed.status == 200)
            #expect(mixed.json?["accepted"]?.intValue == 1)
            #expect(mixed.json?["rejected"]?.intValue == 1)
            let item = mixed.json?["results"]?.arrayValue?[1]
            #expect(item?["status"] == "rejected")
            #expect(item?["error"]?.stringValue?.contains("9999-12-31T00:00:00Z is more than 24 hours ahead") == true)
            #expect(try c.mustGet("/api/jobs/b/j/epochs").arrayValue?.count == 1)
        }
        // Judged by the server's clock, which tests move: two hours later, 25 h ahead is only 23 h ahead.
        srv.clock.advance(seconds: 2 * 3600)
        let later = try await offPool { try c.post("/api/events", json: Ev.make("log_line", batch: "b", job: "j", ts: ahead25)) }
        #expect(later.status == 200)
        await srv.stop()
    }

    @Test("before 2000 (a clock that came up at 1970, a zero date): 422 with one sentence; the job's start stays put")
    func refusedBefore2000() async throws {
        let srv = try await InProcessServer()
        let c = srv.client(try srv.token())
        try await offPool {
            try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
            for ts in ["1970-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"] {
                let old = try c.post("/api/events", json: Ev.make("log_line", batch: "b", job: "j", data: ["line": "x"], ts: ts))
                #expect(old.status == 422)
                #expect(old.detail == "timestamp \(ts) is before 2000-01-01; fix the sending host's clock.", "\(old.detail)")
            }
            #expect(
                try c.post("/api/events", json: Ev.make("log_line", batch: "b", job: "j", ts: "2000-01-01T00:00:00Z")).status == 200)
            let elapsed = try c.mustGet("/api/jobs/b/j")["telemetry"]?["elapsed_s"]?.doubleValue ?? 0
            #expect(elapsed < 1e9, "a job's start is no older than 2000: \(elapsed)")
        }
        await srv.stop()
    }
}
