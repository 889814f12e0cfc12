import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// `GET /metrics`: what a Prometheus scrape sees (issue 11, operability).
@Suite("Metrics (Prometheus text format)", .ownThread)
struct MetricsTests {
    /// The value of one sample line (`name{labels} value`), or nil.
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    @Test("ingest, refusals by status, commits, SSE subscribers, database size and guardrails are counted")
    func scrape() throws {
        let s = try TestServer(env: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "0.02"])
        let alice = s.client(try s.token(user: "alice"))
        let bob = s.client(try s.token(user: "bob"))
        let dup = Ev.make("log_line", batch: "b", job: "j", data: ["line": "x"])
        try alice.mustPost(dup)
        try alice.mustPost(dup)
        #expect(try alice.postBatch((0..<10).map { Ev.epoch("b", "j", $0) }).json?["accepted"] == 10)
        #expect(try bob.post("/api/events", json: Ev.make("log_line", batch: "b", data: ["line": "not yours"])).status == 403)
        // An idle job: two quiet snapshots a window apart raise the idle flag (a guardrail firing).
        let t0 = Date().addingTimeInterval(1)  // after the job started (snapshots before it are not its own)
        for k in 0..<3 {
            let ts = Timestamp(seconds: t0.timeIntervalSince1970 + Double(k) * 1.0).iso
            try alice.mustPost(Ev.make("resource_snapshot", batch: "b", job: "j", data: ["gpu_util_pct": 0], ts: ts))
        }
        let sub = SSECollector(url: s.url + APIPath.sse([.batch("b")]), token: try s.token(user: "alice"))
        defer { sub.stop() }
        try sub.waitUntilConnected()
        let r = try s.client(nil).get("/metrics")
        #expect(r.status == 200)
        #expect(r.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true, "\(r.headers)")
        let text = r.text
        #expect(Self.sample(text, "argus_events_ingested_total") == 14, "\(text)")
        #expect(Self.sample(text, "argus_events_deduplicated_total") == 1)
        #expect(Self.sample(text, #"argus_events_rejected_total{status="403"}"#) == 1)
        #expect((Self.sample(text, "argus_commit_seconds_count") ?? 0) >= 5)
        #expect(Self.sample(text, #"argus_commit_group_size_bucket{le="10.0"}"#) != nil, "\(text)")
        #expect(Self.sample(text, "argus_sse_subscribers") == 1)
        #expect((Self.sample(text, "argus_database_bytes") ?? 0) > 10_000)
        #expect(Self.sample(text, #"argus_guardrail_firings_total{event="job_idle_flagged"}"#) == 1, "\(text)")
        #expect(text.contains("# TYPE argus_events_ingested_total counter"))
    }

    @Test("ARGUS_METRICS=token: a scrape needs a token; a bad value is a startup error")
    func access() throws {
        let s = try TestServer(env: ["ARGUS_METRICS": "token"])
        #expect(try s.client(nil).get("/metrics").status == 401)
        #expect(try s.client(try s.token()).get("/metrics").status == 200)
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", s.dataDir.path + "-x"],
            env: ["ARGUS_METRICS": "public"])
        #expect(rc != 0)
        #expect(err.contains("ARGUS_METRICS must be 'loopback', 'token' or 'open', got 'public'."), "\(err)")
    }
}
