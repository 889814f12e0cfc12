import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusServer

@Suite("Stall detector", .ownThread)
struct StallDetectorTests {
    @Test("silent for the timeout by the server's clock → stalled and streamed; the next event resumes it")
    func stallAndResume() async throws {
        let srv = try await InProcessServer()
        let token = try srv.token()
        let c = srv.client(token)
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 1]))
            try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        }
        let sub = SSECollector(url: "\(srv.url)/api/sse?channels=batch:b", token: token)
        defer { sub.stop() }
        try await offPool { try sub.waitUntilConnected() }

        srv.clock.advance(seconds: 14 * 60 + 59)
        #expect(try await srv.services.checkStalls() == [])
        #expect(try await offPool { try c.mustGet("/api/batches/b")["status"] } == "running")

        srv.clock.advance(seconds: 1)
        #expect(try await srv.services.checkStalls() == ["b"])
        #expect(try await srv.services.checkStalls() == [], "a stalled batch is not stalled again")
        try await offPool {
            #expect(try c.mustGet("/api/batches/b")["status"] == "stalled")
            #expect(try c.mustGet("/api/jobs/b/j")["telemetry"]?["status"] == "stalled")
            try sub.wait(until: { $0.contains { $0.type == "batch_stalled" } })
        }
        let stalled = try JSON.parse(sub.dataEvents.first { $0.type == "batch_stalled" }!.data)
        #expect(stalled["data"]?["silent_s"] == 900)
        #expect(stalled["data"]?["timeout_min"] == 15)
        let detail = try await offPool { try c.mustGet("/api/batches/b") }
        #expect(detail["last_received"] != nil && detail["last_received"] == stalled["data"]?["last_received"])

        // The run speaks again (with its own, skewed clock: receive time is what counts).
        srv.clock.advance(seconds: 600)
        let old = Timestamp(micros: Timestamp.now().micros - 86_400_000_000).iso
        try await offPool {
            try c.mustPost(Ev.make("log_line", batch: "b", job: "j", data: ["line": "back", "level": "info"], ts: old))
            #expect(try c.mustGet("/api/batches/b")["status"] == "running")
            try sub.wait(until: { $0.contains { $0.type == "log_line" } })
        }
        let order = sub.dataEvents.map(\.type)
        #expect(order == ["batch_stalled", "batch_resumed", "log_line"])
        let resumed = try JSON.parse(sub.dataEvents.first { $0.type == "batch_resumed" }!.data)
        #expect(resumed["data"]?["silent_s"] == 1500)
        // Heard from just now, so not stalled, even though the event's own timestamp is a day old.
        srv.clock.advance(seconds: 60)
        #expect(try await srv.services.checkStalls() == [])
        await srv.stop()
    }

    @Test("finished batches never stall; a stopping one that speaks again stays stopping; Stop itself is not news")
    func whichBatchesStall() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 1 }
        let c = srv.client(try srv.token())
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "done"))
            try c.mustPost(Ev.make("batch_done", batch: "done", data: ["n_done": 0, "n_failed": 0]))
            try c.mustPost(Ev.make("batch_start", batch: "stop"))
        }
        srv.clock.advance(seconds: 50)
        // Pressing Stop is not the run being heard from: the stall clock keeps running.
        #expect(try await offPool { try c.post("/api/batches/stop/stop", json: [:]).status } == 200)
        try await offPool { try c.mustPost(Ev.make("log_line", batch: "stop", data: ["line": "shutting down", "level": "info"])) }
        srv.clock.advance(seconds: 59)
        #expect(try await srv.services.checkStalls() == [], "heard from 59 s ago")
        try await offPool {
            #expect(try c.mustGet("/api/batches/done")["status"] == "done")
            #expect(try c.mustGet("/api/batches/stop")["status"] == "stopping")
            try c.mustPost(Ev.make("batch_failed", batch: "stop", data: ["reason": "stopped"]))
            #expect(try c.mustGet("/api/batches/stop")["status"] == "stopped")
        }
        srv.clock.advance(seconds: 3600)
        #expect(try await srv.services.checkStalls() == [])
        await srv.stop()
    }

    @Test("a run the server ends (silent Stop → stopped, mark failed) ends at its last event: ELAPSED leaves out the silence")
    func serverEndingsEndAtLastActivity() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 1 }
        let c = srv.client(try srv.token())
        let t0 = srv.clock.nowUs  // the server's (injected) clock: a slow start must not put the run before it
        let at: @Sendable (Int64) -> String = { Timestamp(micros: t0 + $0 * 1_000_000).iso }
        try await offPool {
            for b in ["dead", "lost"] {
                try c.mustPost(Ev.make("batch_start", batch: b, ts: at(0)))
                try c.mustPost(Ev.make("job_start", batch: b, job: "j", ts: at(0)))
                try c.mustPost(Ev.make("log_line", batch: b, job: "j", data: ["line": "last words", "level": "info"], ts: at(20)))
            }
            #expect(try c.post("/api/batches/dead/stop", json: [:]).status == 200)
        }
        // "dead" ends stopped at the stall timeout; "lost" stalls, and is marked failed ten minutes later.
        srv.clock.advance(seconds: 60)
        #expect(Set(try await srv.services.checkStalls()) == ["dead", "lost"])
        srv.clock.advance(seconds: 600)
        try await offPool {
            #expect(try c.post("/api/batches/lost/mark-failed", json: [:]).status == 200)
            for (b, status) in [("dead", "stopped"), ("lost", "failed")] {
                let batch = try c.mustGet("/api/batches/\(b)")
                #expect(batch["status"] == .string(status))
                #expect(batch["end_time"] == .string(at(20)), "ended when last heard from, not when the server acted")
                let job = try c.mustGet("/api/jobs/\(b)/j")
                #expect(job["status"] == .string(status))
                #expect(job["end_time"] == .string(at(20)))
                #expect(job["elapsed_s"] == 20)
                #expect(job["telemetry"]?["elapsed_s"] == 20)
            }
        }
        await srv.stop()
    }

    @Test("Stop on a run that is already dead: stopping, then stopped after the stall timeout, with its running jobs")
    func stopOnDeadRun() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 1 }
        let token = try srv.token()
        let c = srv.client(token)
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "dead"))
            try c.mustPost(Ev.make("job_start", batch: "dead", job: "j"))
            try c.mustPost(Ev.make("job_start", batch: "dead", job: "finished"))
            try c.mustPost(Ev.make("job_done", batch: "dead", job: "finished", data: ["elapsed_s": 1]))
        }
        let sub = SSECollector(url: "\(srv.url)/api/sse?channels=batch:dead", token: token)
        defer { sub.stop() }
        try await offPool { try sub.waitUntilConnected() }
        srv.clock.advance(seconds: 30)
        #expect(try await offPool { try c.post("/api/batches/dead/stop", json: [:]).status } == 200)
        srv.clock.advance(seconds: 29)
        #expect(try await srv.services.checkStalls() == [])
        srv.clock.advance(seconds: 1)
        #expect(try await srv.services.checkStalls() == ["dead"])
        #expect(try await srv.services.checkStalls() == [], "a stopped batch is finished")
        try await offPool {
            let b = try c.mustGet("/api/batches/dead")
            #expect(b["status"] == "stopped", "it must not sit in stopping or stalled forever")
            #expect(b["end_time"] != .null)
            #expect(try c.mustGet("/api/jobs/dead/j")["status"] == "stopped")
            #expect(try c.mustGet("/api/jobs/dead/finished")["status"] == "done")
            try sub.wait(until: { $0.contains { $0.type == "batch_stopped" } })
        }
        #expect(!sub.dataEvents.contains { $0.type == "batch_stalled" })
        let ev = try JSON.parse(sub.dataEvents.first { $0.type == "batch_stopped" }!.data)
        #expect(ev["data"]?["previous_status"] == "stopping")
        #expect(
            ev["data"]?["reason"]
                == "Stopped without confirmation: the run had sent nothing for 1 min and did not answer the Stop within 30 s.")
        // The agent's later word that it stopped the process replaces the guess; so does the run's own end, which
        // leaves no reason of the server's (helper-87 saw the guess stay beside both).
        let confirmed = StoppedReason.agentStop(signal: "SIGTERM", alreadyGone: false)
        let outcome = try await srv.services.pipeline.submitServerEvent(
            ServerEventTypes.batchStopped, batchID: "dead",
            data: JSONObject([("process_exit_code", .null), ("reason", .string(confirmed))]))
        let accepted = { (o: IngestOutcome) -> Bool in
            if case .accepted = o { return true }
            return false
        }
        #expect(accepted(outcome), "\(outcome)")
        try await offPool {
            #expect(try c.mustGet("/api/batches/dead")["end_reason"] == .string(confirmed))
            try c.mustPost(Ev.make("batch_start", batch: "guess"))
            #expect(try c.post("/api/batches/guess/stop", json: [:]).status == 200)
        }
        srv.clock.advance(seconds: 60)
        #expect(try await srv.services.checkStalls() == ["guess"])
        try await offPool {
            #expect(StoppedReason.isUnconfirmed(try c.mustGet("/api/batches/guess")["end_reason"]?.stringValue))
            try c.mustPost(Ev.make("batch_done", batch: "guess"))
            let b = try c.mustGet("/api/batches/guess")
            #expect(b["status"] == "stopped" && b["end_reason"] == .null, "\(b)")
        }
        // A batch the agent stopped keeps its reason: a second word from the agent (the run's exit report) is refused.
        let again = try await srv.services.pipeline.submitServerEvent(
            ServerEventTypes.batchStopped, batchID: "dead",
            data: JSONObject([("process_exit_code", JSON(143)), ("reason", .string("another"))]))
        #expect(!accepted(again), "\(again)")

        // Stop on a batch that had already stalled: stopping at once, and stopped once the run had its grace to see
        // the Stop and answer (30 s, three of the SDK's checks), not at the detector's next look.
        try await offPool { try c.mustPost(Ev.make("batch_start", batch: "quiet")) }
        srv.clock.advance(seconds: 61)
        #expect(try await srv.services.checkStalls() == ["quiet"])
        try await offPool { () throws in
            #expect(try c.mustGet("/api/batches/quiet")["status"] == "stalled")
            #expect(try c.post("/api/batches/quiet/stop", json: [:]).status == 200)
            #expect(try c.mustGet("/api/batches/quiet")["status"] == "stopping")
        }
        #expect(try await srv.services.checkStalls() == [])
        srv.clock.advance(seconds: 29)
        #expect(try await srv.services.checkStalls() == [])
        srv.clock.advance(seconds: 1)
        #expect(try await srv.services.checkStalls() == ["quiet"])
        #expect(try await offPool { try c.mustGet("/api/batches/quiet")["status"] } == "stopped")
        // The sentence gives the silence as it was (91 s), not the timeout (helper-88).
        #expect(
            try await offPool { try c.mustGet("/api/batches/quiet")["end_reason"] }
                == "Stopped without confirmation: the run had sent nothing for 1.5 min and did not answer the Stop within 30 s.")
        await srv.stop()
    }

    @Test("mark failed: the owner ends a stalled run and its running jobs as failed, with the reason; 409 once finished")
    func markFailed() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 1 }
        let token = try srv.token(user: "alice")
        let c = srv.client(token)
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "b"))
            try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
            // Still reporting: nothing to mark, the action says why.
            let early = try c.post("/api/batches/b/mark-failed", json: [:])
            #expect(early.status == 409)
            #expect(early.json?["detail"] == "Batch 'b' cannot be marked failed: the run is still reporting.")
            #expect(
                try c.mustGet("/api/jobs/b/j/view")["actions"]?["mark_failed"] == [
                    "enabled": false, "reason": "the run is still reporting",
                ])
        }
        let sub = SSECollector(url: "\(srv.url)/api/sse?channels=batch:b", token: token)
        defer { sub.stop() }
        try await offPool { try sub.waitUntilConnected() }
        srv.clock.advance(seconds: 60)
        #expect(try await srv.services.checkStalls() == ["b"])
        try await offPool {
            #expect(try c.mustGet("/api/jobs/b/j/view")["actions"]?["mark_failed"] == ["enabled": true])
            // Bad bodies are one sentence, and change nothing.
            let number = try c.post("/api/batches/b/mark-failed", json: ["reason": 42])
            #expect(number.status == 422 && number.detail == "reason must be text, like {\"reason\": \"the node died\"}.")
            #expect(try c.post("/api/batches/b/mark-failed", json: ["reason": .string(String(repeating: "x", count: 2001))]).status == 422)
            #expect(try c.post("/api/batches/b/mark-failed", json: [1, 2]).status == 422)
            #expect(try c.mustGet("/api/batches/b")["status"] == "stalled")
            // Another user cannot see it; a viewer token cannot act.
            #expect(try srv.client(try srv.token(user: "bob")).post("/api/batches/b/mark-failed", json: [:]).status == 404)
            let r = try c.post("/api/batches/b/mark-failed", json: ["reason": "node gpu-7 lost power"])
            #expect(r.status == 200)
            #expect(r.json == ["status": "failed", "batch_id": "b"])
            let b = try c.mustGet("/api/batches/b")
            #expect(b["status"] == "failed")
            #expect(b["failure_reason"] == "Marked failed by alice: node gpu-7 lost power")
            #expect(b["n_failed"] == 1)
            let j = try c.mustGet("/api/jobs/b/j")
            #expect(j["status"] == "failed")
            #expect(j["failure_reason"] == "Marked failed by alice: node gpu-7 lost power")
            #expect(j["end_time"] != .null)
            try sub.wait(until: { $0.contains { $0.type == "batch_marked_failed" } })
            let again = try c.post("/api/batches/b/mark-failed", json: [:])
            #expect(again.status == 409)
            #expect(again.json?["detail"] == "Batch 'b' cannot be marked failed: batch already failed.")
        }
        let ev = try JSON.parse(sub.dataEvents.first { $0.type == "batch_marked_failed" }!.data)
        #expect(ev["data"]?["marked_by"] == "alice")
        #expect(ev["data"]?["previous_status"] == "stalled")
        #expect(sub.dataEvents.filter { $0.type == "batch_marked_failed" }.count == 1)

        // A stopping run still heard from is still running: marked failed, a Rerun could start a second copy.
        let admin = srv.client(try srv.token(user: "root", admin: true))
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "s"))
            #expect(try c.post("/api/batches/s/stop", json: [:]).status == 200)
            try c.mustPost(Ev.make("log_line", batch: "s", job: "j", data: ["line": "epoch 3", "level": "info"]))
            let early = try admin.request("POST", "/api/batches/s/mark-failed")
            #expect(early.status == 409)
            let why =
                "the run is still reporting (last heard 0 s ago): it ends stopped when it stops, or can be marked failed after 60 s of silence"
            #expect(early.detail == "Batch 's' cannot be marked failed: \(why).")
            #expect(try c.mustGet("/api/batches/s/actions")["mark_failed"] == ["enabled": false, "reason": .string(why)])
        }
        srv.clock.advance(seconds: 59)
        try await offPool {
            let still = try admin.request("POST", "/api/batches/s/mark-failed")
            #expect(still.status == 409)
        }
        // Quiet for a minute: without a reason the server says what it knows; an admin may do it too.
        srv.clock.advance(seconds: 1)
        try await offPool {
            #expect(try c.mustGet("/api/batches/s/actions")["mark_failed"] == ["enabled": true])
            #expect(try admin.request("POST", "/api/batches/s/mark-failed").status == 200)
            let reason = try c.mustGet("/api/batches/s")["failure_reason"]?.stringValue ?? ""
            // The time as people read it, not the ISO form with microseconds.
            #expect(
                reason.range(
                    of: #"^Marked failed by root: no word from the run since \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$"#,
                    options: .regularExpression) != nil, "\(reason)")
        }
        await srv.stop()
    }

    @Test("after a restart every run gets one full timeout to reach the server again before it is called stalled")
    func graceAfterRestart() throws {
        let first = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        let token = try first.token()
        try first.client(token).mustPost(Ev.make("batch_start", batch: "b"))
        let (dir, port) = (first.dataDir, first.port)
        first.stop()
        sleep(4)  // down for longer than the 3 s timeout
        let second = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"], dataDir: dir, port: port)
        let c = second.client(token)
        usleep(1_500_000)
        #expect(try c.mustGet("/api/batches/b")["status"] == "running", "stalled before it had a chance to reconnect")
        let t0 = Date()
        while Date().timeIntervalSince(t0) < 8, try c.mustGet("/api/batches/b")["status"] != "stalled" { usleep(100_000) }
        #expect(try c.mustGet("/api/batches/b")["status"] == "stalled")
    }

    @Test("ARGUS_STALL_TIMEOUT_MIN=0 turns the detector off")
    func disabled() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 0 }
        let c = srv.client(try srv.token())
        try await offPool { try c.mustPost(Ev.make("batch_start", batch: "b")) }
        srv.clock.advance(seconds: 86_400 * 30)
        #expect(try await srv.services.checkStalls() == [])
        #expect(try await offPool { try c.mustGet("/api/batches/b")["status"] } == "running")
        await srv.stop()
    }

    @Test("end to end: the real server with ARGUS_STALL_TIMEOUT_MIN=0.05 marks a silent batch stalled on its own")
    func realServerTinyTimeout() throws {
        // The watchdog interval stays at its 60 s default: the watchdog also wakes at the next deadline.
        let s = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        let token = try s.token()
        let c = s.client(token)
        let t0 = Date()
        try c.mustPost(Ev.make("batch_start", batch: "b"))
        let sub = SSECollector(url: "\(s.url)/api/sse?channels=batch:b", token: token)
        defer { sub.stop() }
        var status = ""
        while Date().timeIntervalSince(t0) < 10 {
            status = try c.mustGet("/api/batches/b")["status"]?.stringValue ?? ""
            if status == "stalled" { break }
            usleep(100_000)
        }
        let took = Date().timeIntervalSince(t0)
        #expect(status == "stalled")
        #expect(took >= 2.9, "stalled after \(took) s, before the 3 s timeout")
        #expect(took < 5, "stalled only after \(took) s")
        try sub.wait(until: { $0.contains { $0.type == "batch_stalled" } })
        try c.mustPost(Ev.make("log_line", batch: "b", data: ["line": "hello again", "level": "info"]))
        #expect(try c.mustGet("/api/batches/b")["status"] == "running")
        try sub.wait(until: { $0.contains { $0.type == "batch_resumed" } })
        #expect(s.log.contains("batch b stalled"))
    }
}

@Suite("How the stopped sentence says a stretch of time")
struct StoppedReasonSpanTests {
    @Test("seconds under a minute, whole minutes bare, else tenths: never float noise (2.01 min read 2.0099999833333335)")
    func span() {
        #expect(StoppedReason.span(3) == "3 s")
        #expect(StoppedReason.span(30) == "30 s")
        #expect(StoppedReason.span(900) == "15 min")
        #expect(StoppedReason.span(150) == "2.5 min")
        #expect(StoppedReason.span(2.01 * 60) == "2 min")
        #expect(StoppedReason.span(261) == "4.4 min")
        #expect(StoppedReason.span(Double(Int64(4.35 * 60_000_000)) / 1e6) == "4.4 min")
        #expect(StoppedReason.span(0.3) == "1 s", "never '0 s'")
        #expect(StoppedReason.span(Double(Int64(0.3333333333 * 60_000_000)) / 1e6) == "20 s")
    }
}
