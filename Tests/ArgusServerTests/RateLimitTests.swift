import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Per-token token buckets on ingest and actions (issue 11): 429 with Retry-After, which the Python SDK honours.
@Suite("Rate limits per token", .enabled(if: TestBackend.firstPass), .ownThread)
struct RateLimitTests {
    @Test("ingest: a batch that does not fit the bucket is 429 with Retry-After; another token is unaffected; it refills")
    func ingest() throws {
        let s = try TestServer(env: ["ARGUS_INGEST_RATE": "20"])  // 200 saved up
        let alice = s.client(try s.token(user: "alice"))
        let events = (0..<200).map { Ev.epoch("b", "j", $0) }
        #expect(try alice.postBatch(events).json?["accepted"] == 200)
        let refused = try alice.postBatch((200..<250).map { Ev.epoch("b", "j", $0) })
        #expect(refused.status == 429)
        #expect(refused.detail.hasPrefix("Rate limit: this token may send 20 events a second (ARGUS_INGEST_RATE); retry in "))
        let wait = try #require(Int(refused.headers["retry-after"] ?? refused.headers["Retry-After"] ?? ""), "\(refused.headers)")
        #expect((1...3).contains(wait))
        let single = try alice.post("/api/events", json: Ev.epoch("b", "j", 999))
        #expect(single.status == 429 || single.status == 200)
        let bob = s.client(try s.token(user: "bob"))
        #expect(try bob.postBatch((0..<100).map { Ev.epoch("c", "j", $0) }).json?["accepted"] == 100)
        Thread.sleep(forTimeInterval: Double(wait) + 0.1)
        #expect(try alice.postBatch((200..<220).map { Ev.epoch("b", "j", $0) }).status == 200)
        // Nothing refused was stored: the batch holds the 200 (+ maybe 999) and the 20.
        let epochs = try alice.mustGet(APIPath.job("b", "j") + "/epochs").arrayValue ?? []
        #expect(epochs.filter { ($0["epoch"]?.intValue ?? 0) < 999 }.count == 220)
    }

    @Test("ingest bytes: long lines within the events' budget are 429 past ARGUS_INGEST_MB_RATE; another token is unaffected")
    func ingestBytes() throws {
        let s = try TestServer(env: ["ARGUS_INGEST_MB_RATE": "0.2"])  // 2 MB saved up, then 0.2 MB a second
        let alice = s.client(try s.token(user: "alice"))
        let line = String(repeating: "x", count: 100_000)
        let lines = { (n: Int, batch: String) in
            (0..<n).map { _ in Ev.make("log_line", batch: batch, job: "j", data: ["line": .string(line)]) }
        }
        #expect(try alice.postBatch(lines(25, "b")).json?["accepted"] == 25)
        let refused = try alice.postBatch(lines(25, "b"))
        #expect(refused.status == 429, "\(refused.text)")
        #expect(
            refused.detail.hasPrefix("Rate limit: this token may send 0.2 MB a second (ARGUS_INGEST_MB_RATE); retry in "),
            "\(refused.detail)")
        #expect(refused.headers["retry-after"] != nil)
        let bob = s.client(try s.token(user: "bob"))
        #expect(try bob.postBatch(lines(25, "c")).json?["accepted"] == 25)
        let stored = try alice.mustGet(APIPath.batch("b") + "/log-lines?limit=100").arrayValue ?? []
        #expect(stored.count == 25, "nothing of the refused batch was stored")
    }

    @Test("actions: stop, rerun, share and mark failed share one bucket per token")
    func actions() throws {
        let s = try TestServer(env: ["ARGUS_ACTION_RATE": "0.1"])  // 3 saved up
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["command": "python train.py"]))
        for _ in 0..<3 { #expect(try c.post(APIPath.shares("b"), json: [:]).status == 201) }
        let r = try c.post(APIPath.stop("b"), json: [:])
        #expect(r.status == 429)
        #expect(r.detail.contains("actions a second (ARGUS_ACTION_RATE)"))
        #expect(try c.get(APIPath.shares("b")).status == 200, "reads are not actions")
    }

    @Test("the Python SDK sleeps for Retry-After and sends again: every epoch lands")
    func sdkHonoursRetryAfter() throws {
        let s = try TestServer(env: ["ARGUS_INGEST_RATE": "50"])  // 500 saved up, then 50 a second
        let token = try s.token()
        // 600 epochs at once overflow the bucket; the run goes on a few seconds more, as training does (at exit the
        // SDK only waits briefly before spilling what it still holds to disk for its next start).
        let script = """
            import time
            from argus import Reporter
            with Reporter("rl", source_project="p", n_total=1) as r:
                with r.job("j1") as j:
                    for n in range(600):
                        j.epoch(n, train_loss=1.0 / (n + 1))
                    time.sleep(6)
                print(r.batch_id)
            """
        let (rc, out, err) = try runTool(
            try PythonSDK.python(), ["-c", script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path])
        #expect(rc == 0, "\(err)")
        #expect(err.contains("rate-limited, sleeping"), "the limit was met: \(err)")
        let batch = out.trimmingCharacters(in: .whitespacesAndNewlines)
        let epochs = try s.client(token).mustGet(APIPath.job(batch, "j1") + "/epochs").arrayValue ?? []
        #expect(epochs.count == 600, "\(epochs.count) epochs; the SDK said: \(err.suffix(800))")
    }
}
