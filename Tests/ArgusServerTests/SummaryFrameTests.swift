import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The server is the one place that folds events into run state, and streams the result (issue 10).
@Suite("SSE summary frames: the server's fold, streamed", .ownThread)
struct SummaryFrameTests {
    func sseURL(_ s: TestServer, _ channels: [Channel]) -> String { s.url + APIPath.sse(channels) }

    /// `GET /api/batches/{b}` without `agent_online`: what a summary frame's `batch` must equal.
    func batchSummary(_ c: HTTPClient, _ b: String) throws -> JSON {
        guard case .object(var o) = try c.mustGet(APIPath.batch(b)) else { throw TestFailure("no batch \(b)") }
        o["agent_online"] = nil
        return .object(o)
    }

    @Test("after each commit a summary follows the batch's events with the same id; it equals the read API")
    func followsEachCommit() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["command": "python train.py", "n_total_jobs": 2]))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let sub = SSECollector(url: sseURL(s, [.batch("b")]), token: token)
        defer { sub.stop() }
        try sub.waitUntilConnected()
        try c.mustPost(Ev.epoch("b", "j", 0, train: 0.5, val: 0.6))
        try sub.wait("the epoch's summary", until: { $0.contains { $0.type == "job_epoch" } && $0.last?.type == "summary" })
        let epochFrame = try #require(sub.received.first { $0.type == "job_epoch" })
        let frames = sub.received.filter { $0.type == SummaryFrame.eventType }
        let live = try #require(frames.last)
        #expect(live.id == epochFrame.id, "the summary carries the id of the commit's newest event of the batch")
        let summary = try JSON.parse(live.data)
        #expect(summary["event_type"] == .string(SummaryFrame.eventType))
        #expect(summary["channel"] == "batch:b")
        #expect(summary["batch"] == (try batchSummary(c, "b")))
        #expect(summary["jobs"] == [try c.mustGet(APIPath.job("b", "j"))])
        #expect(summary["jobs"]?.arrayValue?.first?["telemetry"]?["train_loss"] == 0.5)
        // A null train_loss at a later epoch: clients show exactly what the server keeps (one rule, here).
        try c.mustPost(Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": 1, "train_loss": nil, "val_loss": 0.4]))
        try sub.wait("the second summary", until: { $0.filter { $0.type == "summary" }.count >= frames.count + 1 })
        let second = try #require(sub.summaries.last)
        #expect(second["jobs"]?.arrayValue?.first?["telemetry"]?["epoch"] == 1)
        #expect(second["jobs"]?.arrayValue?.first?["telemetry"]?["val_loss"] == 0.4)
        #expect(
            second["jobs"]?.arrayValue?.first?["telemetry"]?["train_loss"]
                == (try c.mustGet(APIPath.job("b", "j")))["telemetry"]?["train_loss"])
    }

    @Test("a stream opens with the current state after its replay: the last id sent, or none before any")
    func opensWithState() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "k"))
        try c.mustPost(Ev.epoch("b", "j", 3, train: 0.25))
        let replaying = SSECollector(url: sseURL(s, [.batch("b")]), token: token, lastEventID: "0")
        defer { replaying.stop() }
        try replaying.wait("the opening summary", until: { $0.contains { $0.type == "summary" } })
        let lastReplayed = try #require(replaying.dataEvents.last)
        let opening = try #require(replaying.received.first { $0.type == "summary" })
        #expect(replaying.received.last?.type == "summary", "after the replay")
        #expect(opening.id == lastReplayed.id, "the id of the last event sent")
        let state = try JSON.parse(opening.data)
        #expect(state["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["j", "k"])
        #expect(state["jobs"]?.arrayValue?.first == (try c.mustGet(APIPath.job("b", "j"))))
        // Live only, on one job's channel: no id yet, only that job.
        let fresh = SSECollector(url: sseURL(s, [.job("b", "k")]), token: token)
        defer { fresh.stop() }
        try fresh.wait("the opening summary", until: { $0.contains { $0.type == "summary" } })
        let first = try #require(fresh.received.first { $0.type == "summary" })
        #expect(first.id == "", "nothing was sent yet, so the frame names no id")
        #expect(try JSON.parse(first.data)["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["k"])
        #expect(try JSON.parse(first.data)["batch"] == (try batchSummary(c, "b")))
    }

    @Test("a job's change carries that job; a change of the batch's status carries every job's shown status")
    func whichJobs() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "k"))
        let sub = SSECollector(url: sseURL(s, [.job("b", "k")]), token: token)
        defer { sub.stop() }
        try sub.wait(until: { $0.contains { $0.type == "summary" } })
        try c.mustPost(Ev.epoch("b", "j", 0))
        try sub.wait("j's summary", until: { $0.filter { $0.type == "summary" }.count >= 2 })
        #expect(sub.summaries.last?["jobs"]?.arrayValue?.compactMap { $0["id"]?.stringValue } == ["j"])
        #expect(sub.dataEvents.isEmpty, "k's channel gets the batch's summary, not j's events")
        #expect(try c.post(APIPath.stop("b"), json: [:]).status == 200)
        try sub.wait("the stop's summary", until: { $0.filter { $0.type == "summary" }.count >= 3 })
        let stopped = try #require(sub.summaries.last)
        #expect(stopped["batch"]?["status"] == "stopping")
        #expect(stopped["batch"]?["stop_requested"] == true)
        #expect(stopped["jobs"]?.arrayValue?.map { $0["telemetry"]?["status"] } == ["stopping", "stopping"])
    }

    @Test("ids never go down along a stream when one commit touches two batches")
    func idsNeverGoDown() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("job_start", batch: "a", job: "j"))
        try c.mustPost(Ev.make("job_start", batch: "z", job: "j"))
        let sub = SSECollector(url: sseURL(s, [.batch("z"), .batch("a")]), token: token)
        defer { sub.stop() }
        try sub.waitUntilConnected()
        let events = (0..<6).map { n in Ev.epoch(n % 2 == 0 ? "z" : "a", "j", n) }
        #expect(try c.postBatch(events).json?["accepted"] == 6)
        try sub.wait("both summaries", until: { r in r.filter { $0.type == "job_epoch" }.count == 6 && r.last?.type == "summary" })
        Thread.sleep(forTimeInterval: 0.2)
        let ids = sub.received.filter { !$0.id.isEmpty }.map { Int($0.id)! }
        #expect(ids == ids.sorted(), "\(sub.received.map { "\($0.type)#\($0.id)" })")
        #expect(sub.summaries.filter { $0["id"] != nil }.count == 2, "one per batch for the commit")
    }

    @Test("GET /api/batches/{b}/actions is the view's actions for the caller, and follows the batch")
    func actionsRoute() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["command": "python train.py"]))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let actions = try c.mustGet(APIPath.actions("b"))
        #expect(actions == (try c.mustGet(APIPath.view("b", "j")))["actions"])
        #expect(actions["stop"]?["enabled"] == true)
        #expect(try c.post(APIPath.stop("b"), json: [:]).status == 200)
        let after = try c.mustGet(APIPath.actions("b"))
        #expect(after["stop"] == ["enabled": false, "reason": "stop already requested"])
        // A run that was just heard from is still running: mark failed waits for a minute of silence.
        #expect(after["mark_failed"]?["enabled"] == false)
        let share = try ShareTests.mint(c, "b")
        let guest = s.client(share["token"]?.stringValue)
        #expect(try guest.mustGet(APIPath.actions("b"))["stop"]?["reason"] == "read-only share link")
        let bob = s.client(try s.token(user: "bob"))
        #expect(try bob.get(APIPath.actions("b")).status == 404)
    }
}
