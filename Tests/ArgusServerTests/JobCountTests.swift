import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// A batch counts the jobs the server shows: its done and failed numbers, its status and failure reason follow how
/// each job ended (lastly), whatever the script's batch_done says it counted.
@Suite("A batch's job counts follow its jobs", .ownThread)
struct JobCountTests {
    static func at(_ s: Double) -> String { Timestamp(seconds: 1_780_000_000 + s).iso }

    @Test("batch_done's own counts do not override the jobs seen: one done job is n_done 1, n_failed 0, done")
    func scriptCountsDoNotOverride() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 3], ts: Self.at(0)))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j1", data: ["elapsed_s": 1], ts: Self.at(1)))
        try c.mustPost(Ev.make("batch_done", batch: "b", data: ["n_done": 0, "n_failed": 7], ts: Self.at(2)))
        let b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "done" && b["n_done"] == 1 && b["n_failed"] == 0, "\(b)")
        #expect(b["failure_reason"] == .null)
        // A script that reported no job at all is taken at its word.
        try c.mustPost(Ev.make("batch_done", batch: "nojobs", data: ["n_done": 2, "n_failed": 1], ts: Self.at(3)))
        let n = try c.mustGet("/api/batches/nojobs")
        #expect(n["status"] == "failed" && n["n_done"] == 2 && n["n_failed"] == 1 && n["failure_reason"] == "1 of 3 jobs failed", "\(n)")
    }

    @Test(
        "a run that ends while jobs still run takes them with it, at their last activity: batch_failed fails them with its reason, batch_done ends them done; their own late end still wins; a job first heard from after its run ended ends too"
    )
    func unfinishedJobsEndWithTheirRun() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        // A script that sends batch_failed itself while a job runs (ExperimentReporter, no `with` block).
        try c.mustPost(Ev.make("batch_start", batch: "f", ts: Self.at(0)))
        try c.mustPost(Ev.make("job_start", batch: "f", job: "a", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_epoch", batch: "f", job: "a", data: ["epoch": 0, "train_loss": 1.0], ts: Self.at(3)))
        try c.mustPost(Ev.make("batch_failed", batch: "f", data: ["reason": "SIGKILL"], ts: Self.at(10)))
        let a = try c.mustGet("/api/jobs/f/a")
        #expect(a["status"] == "failed" && a["failure_reason"] == "SIGKILL", "\(a)")
        #expect(a["end_time"] == .string(Self.at(3)) && a["elapsed_s"]?.doubleValue == 2, "\(a)")
        #expect(try c.mustGet("/api/jobs/f/a/view")["job"]?["telemetry"]?["status"] == "failed")
        let f = try c.mustGet("/api/batches/f")
        #expect(f["status"] == "failed" && f["n_failed"] == 1 && f["failure_reason"] == "SIGKILL", "\(f)")

        // batch_done: the job that never said it ended is done, at its last activity; its own end, later, wins.
        try c.mustPost(Ev.make("batch_start", batch: "d", ts: Self.at(0)))
        try c.mustPost(Ev.make("job_start", batch: "d", job: "x", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_start", batch: "d", job: "y", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_done", batch: "d", job: "y", ts: Self.at(3)))
        try c.mustPost(Ev.make("batch_done", batch: "d", ts: Self.at(4)))
        let x = try c.mustGet("/api/jobs/d/x")
        #expect(x["status"] == "done" && x["end_time"] == .string(Self.at(1)), "\(x)")
        var d = try c.mustGet("/api/batches/d")
        #expect(d["status"] == "done" && d["n_done"] == 2 && d["n_failed"] == 0, "\(d)")
        // More jobs than batch_start announced: the total is at least the jobs that reported.
        try c.mustPost(Ev.make("batch_start", batch: "more", data: ["n_total_jobs": 1], ts: Self.at(0)))
        for j in ["j1", "j2", "j3"] { try c.mustPost(Ev.make("job_done", batch: "more", job: j, ts: Self.at(1))) }
        let more = try c.mustGet("/api/batches/more")
        #expect(more["n_total"] == 3 && more["n_done"] == 3, "\(more)")
        // As soon as each reports, not only when one ends; also when the total is announced after them.
        try c.mustPost(Ev.make("batch_start", batch: "early", data: ["n_total_jobs": 1], ts: Self.at(0)))
        for j in ["j1", "j2"] { try c.mustPost(Ev.make("job_start", batch: "early", job: j, ts: Self.at(1))) }
        #expect(try c.mustGet("/api/batches/early")["n_total"] == 2)
        try c.mustPost(Ev.make("job_epoch", batch: "late", job: "j1", data: ["epoch": 0], ts: Self.at(1)))
        try c.mustPost(Ev.make("job_epoch", batch: "late", job: "j2", data: ["epoch": 0], ts: Self.at(1)))
        try c.mustPost(Ev.make("batch_start", batch: "late", data: ["n_total_jobs": 1], ts: Self.at(0)))
        #expect(try c.mustGet("/api/batches/late")["n_total"] == 2)
        try c.mustPost(Ev.make("job_failed", batch: "d", job: "x", data: ["reason": "OOM"], ts: Self.at(3.5)))
        d = try c.mustGet("/api/batches/d")
        #expect(try c.mustGet("/api/jobs/d/x")["status"] == "failed")
        #expect(d["status"] == "failed" && d["n_done"] == 1 && d["n_failed"] == 1 && d["failure_reason"] == "1 of 2 jobs failed", "\(d)")

        // A job heard from only after its run ended (its events replayed late from a spill file) is not left
        // running in a finished batch; its own end, when it comes, says how it ended.
        try c.mustPost(Ev.make("batch_start", batch: "r", ts: Self.at(0)))
        try c.mustPost(Ev.make("batch_done", batch: "r", ts: Self.at(5)))
        try c.mustPost(Ev.make("job_start", batch: "r", job: "z", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_epoch", batch: "r", job: "z", data: ["epoch": 0, "train_loss": 1.0], ts: Self.at(2)))
        let z = try c.mustGet("/api/jobs/r/z")
        #expect(z["status"] == "done", "\(z)")
        #expect(try c.mustGet("/api/batches/r")["n_done"] == 1)
        try c.mustPost(Ev.make("job_done", batch: "r", job: "z", data: ["elapsed_s": 2.5], ts: Self.at(3)))
        #expect(try c.mustGet("/api/jobs/r/z")["elapsed_s"]?.doubleValue == 2.5)
    }

    @Test("a job that ends again ends as it said last: done then failed counts once, as failed, and fails its batch")
    func laterEndWins() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 3], ts: Self.at(0)))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j1", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_failed", batch: "b", job: "j1", data: ["reason": "NaN in eval"], ts: Self.at(2)))
        // One from before its end (a spill file replayed late) changes nothing.
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j1", ts: Self.at(1.5)))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j2", ts: Self.at(3)))
        var b = try c.mustGet("/api/batches/b")
        #expect(b["n_done"] == 0 && b["n_failed"] == 1, "\(b)")
        try c.mustPost(Ev.make("batch_done", batch: "b", data: ["n_done": 2, "n_failed": 0], ts: Self.at(4)))
        b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "failed" && b["failure_reason"] == "1 of 3 jobs failed", "\(b)")
        let j1 = try c.mustGet("/api/jobs/b/j1")
        #expect(j1["status"] == "failed" && j1["failure_reason"] == "NaN in eval")

        // A job that fails after its script said the batch was done fails the batch.
        try c.mustPost(Ev.make("batch_start", batch: "late", ts: Self.at(0)))
        try c.mustPost(Ev.make("job_done", batch: "late", job: "j", ts: Self.at(1)))
        try c.mustPost(Ev.make("batch_done", batch: "late", ts: Self.at(2)))
        #expect(try c.mustGet("/api/batches/late")["status"] == "done")
        try c.mustPost(Ev.make("job_failed", batch: "late", job: "j", data: ["error": "eval crashed"], ts: Self.at(3)))
        let late = try c.mustGet("/api/batches/late")
        #expect(late["status"] == "failed" && late["n_done"] == 0 && late["n_failed"] == 1, "\(late)")
        #expect(late["failure_reason"] == "1 of 1 jobs failed")
    }

    @Test("a job started again after it failed runs again: its old failure is gone, and it counts as it ends now")
    func retriedJob() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 1], ts: Self.at(0)))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j1", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_failed", batch: "b", job: "j1", data: ["error": "transient NCCL error"], ts: Self.at(2)))
        // A job_start from before the failure (replayed late) does not reopen it.
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j1", ts: Self.at(1.5)))
        #expect(try c.mustGet("/api/jobs/b/j1")["status"] == "failed")
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j1", ts: Self.at(3)))
        var j = try c.mustGet("/api/jobs/b/j1")
        #expect(j["status"] == "running" && j["failure_reason"] == .null && j["end_time"] == .null, "\(j)")
        #expect(try c.mustGet("/api/batches/b")["n_failed"] == 0)
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j1", ts: Self.at(5)))
        try c.mustPost(Ev.make("batch_done", batch: "b", data: ["n_done": 1, "n_failed": 1], ts: Self.at(6)))
        j = try c.mustGet("/api/jobs/b/j1")
        #expect(j["status"] == "done" && j["failure_reason"] == .null && j["elapsed_s"] == 2, "\(j)")
        let b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "done" && b["n_done"] == 1 && b["n_failed"] == 0 && b["failure_reason"] == .null, "\(b)")
    }

    @Test("job events that arrive after batch_done replace its numbers instead of adding to them")
    func lateJobsReplaceScriptCounts() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 2], ts: Self.at(0)))
        try c.mustPost(Ev.make("batch_done", batch: "b", data: ["n_done": 2, "n_failed": 0], ts: Self.at(100)))
        for (job, start, end) in [("j1", 1.0, 50.0), ("j2", 51.0, 99.0)] {
            try c.mustPost(Ev.make("job_start", batch: "b", job: job, ts: Self.at(start)))
            try c.mustPost(Ev.make("job_done", batch: "b", job: job, ts: Self.at(end)))
        }
        let b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "done" && b["n_done"] == 2 && b["n_failed"] == 0, "\(b)")
    }

    @Test("a retry in the same second as the failure (the SDK stamps whole seconds) runs again; back to done, so is its batch")
    func sameSecondRetryAndBackToDone() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_failed", batch: "b", job: "j", data: ["error": "RuntimeError: flaky"], ts: Self.at(2)))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: Self.at(2)))
        let j = try c.mustGet("/api/jobs/b/j")
        #expect(j["status"] == "running" && j["failure_reason"] == .null, "\(j)")
        #expect(try c.mustGet("/api/batches/b")["n_failed"] == 0)

        // Failed after batch_done, then retried and done: the batch that failed through its job alone is done again.
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j", ts: Self.at(10)))
        try c.mustPost(Ev.make("batch_done", batch: "b", ts: Self.at(20)))
        try c.mustPost(Ev.make("job_failed", batch: "b", job: "j", data: ["error": "E: late"], ts: Self.at(30)))
        var b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "failed" && b["failure_reason"] == "1 of 1 jobs failed", "\(b)")
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: Self.at(40)))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j", ts: Self.at(50)))
        b = try c.mustGet("/api/batches/b")
        #expect(b["status"] == "done" && b["failure_reason"] == .null && b["n_done"] == 1 && b["n_failed"] == 0, "\(b)")
        // A batch its script failed with a reason of its own stays failed.
        try c.mustPost(Ev.make("job_done", batch: "own", job: "j", ts: Self.at(1)))
        try c.mustPost(Ev.make("batch_failed", batch: "own", data: ["reason": "OOM in eval"], ts: Self.at(2)))
        try c.mustPost(Ev.make("job_done", batch: "own", job: "j", ts: Self.at(3)))
        let own = try c.mustGet("/api/batches/own")
        #expect(own["status"] == "failed" && own["failure_reason"] == "OOM in eval", "\(own)")
    }

    @Test(
        "late or stale events do not undo what the run said: batch_failed stands, a start after the batch ended or an end before the restart is ignored"
    )
    func staleEventsDoNotUndo() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        // batch_failed with no reason of its own: failed it stays, with a reason that says so, whatever its jobs do.
        try c.mustPost(Ev.make("batch_start", batch: "bf", data: ["n_total_jobs": 2], ts: Self.at(0)))
        try c.mustPost(Ev.make("job_start", batch: "bf", job: "j2", ts: Self.at(1)))
        try c.mustPost(Ev.make("batch_failed", batch: "bf", data: ["total_elapsed_s": 4], ts: Self.at(4)))
        try c.mustPost(Ev.make("job_done", batch: "bf", job: "j2", ts: Self.at(5)))
        let bf = try c.mustGet("/api/batches/bf")
        #expect(bf["status"] == "failed" && bf["failure_reason"] == "The run reported that it failed.", "\(bf)")

        // Failed through its jobs, then n_total changes (a late batch_start): it still follows its jobs.
        try c.mustPost(Ev.make("job_done", batch: "nt", job: "j1", ts: Self.at(2)))
        try c.mustPost(Ev.make("job_failed", batch: "nt", job: "j2", ts: Self.at(2)))
        try c.mustPost(Ev.make("batch_done", batch: "nt", ts: Self.at(4)))
        try c.mustPost(Ev.make("batch_start", batch: "nt", data: ["n_total_jobs": 3], ts: Self.at(0)))
        #expect(try c.mustGet("/api/batches/nt")["failure_reason"] == "1 of 2 jobs failed")
        try c.mustPost(Ev.make("job_done", batch: "nt", job: "j2", ts: Self.at(6)))
        let nt = try c.mustGet("/api/batches/nt")
        #expect(nt["status"] == "done" && nt["failure_reason"] == .null && nt["n_done"] == 2, "\(nt)")

        // A job_start that arrives after its batch ended (replayed from a spill file) does not reopen the job.
        try c.mustPost(Ev.make("job_start", batch: "late", job: "j1", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_failed", batch: "late", job: "j1", ts: Self.at(2)))
        try c.mustPost(Ev.make("batch_done", batch: "late", ts: Self.at(4)))
        try c.mustPost(Ev.make("job_start", batch: "late", job: "j1", ts: Self.at(2)))
        #expect(try c.mustGet("/api/jobs/late/j1")["status"] == "failed")
        #expect(try c.mustGet("/api/batches/late")["n_failed"] == 1)

        // An end from before the retry began (the first attempt's, arriving late) does not close the retry.
        try c.mustPost(Ev.make("job_start", batch: "retry", job: "j1", ts: Self.at(1)))
        try c.mustPost(Ev.make("job_failed", batch: "retry", job: "j1", ts: Self.at(3)))
        try c.mustPost(Ev.make("job_start", batch: "retry", job: "j1", ts: Self.at(10)))
        try c.mustPost(Ev.make("job_done", batch: "retry", job: "j1", ts: Self.at(2)))
        let j = try c.mustGet("/api/jobs/retry/j1")
        #expect(j["status"] == "running" && j["end_time"] == .null, "\(j)")
    }

    @Test("a run marked failed that then finishes well reads done without the failure reason")
    func markedFailedThenDone() async throws {
        let srv = try await InProcessServer { $0.stallTimeoutMin = 1 }
        let c = srv.client(try srv.token())
        let t0 = srv.clock.nowUs
        let at: @Sendable (Int64) -> String = { Timestamp(micros: t0 + $0 * 1_000_000).iso }
        try await offPool { try c.mustPost(Ev.make("job_start", batch: "mf", job: "j", ts: at(0))) }
        srv.clock.advance(seconds: 120)
        #expect(try await srv.services.checkStalls() == ["mf"])
        let b = try await offPool { () throws -> JSON in
            let marked = try c.post("/api/batches/mf/mark-failed", json: [:])
            #expect(marked.status == 200, "\(marked.text)")
            // The run was only cut off: its last events arrive, it ended well.
            try c.mustPost(Ev.make("job_done", batch: "mf", job: "j", ts: at(130)))
            try c.mustPost(Ev.make("batch_done", batch: "mf", ts: at(131)))
            return try c.mustGet("/api/batches/mf")
        }
        #expect(b["status"] == "done" && b["failure_reason"] == .null && b["n_done"] == 1 && b["n_failed"] == 0, "\(b)")
        await srv.stop()
    }

    @Test("the real SDK retrying a job after an exception: the job and its batch end done, with no stale failure")
    func sdkRetry() throws {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token()
        let script = """
            import logging
            from argus import Reporter
            logging.basicConfig(level=logging.WARNING)
            with Reporter("retry", source_project="v", n_total=1, heartbeat=0, resource_snapshot=False) as r:
                print(r.batch_id, flush=True)
                for attempt in range(2):
                    try:
                        with r.job("j1") as j:
                            j.epoch(0, train_loss=1.0)
                            if attempt == 0:
                                raise RuntimeError("transient NCCL error")
                            j.epoch(1, train_loss=0.5)
                        break
                    except RuntimeError:
                        pass
            """
        let (rc, out, err) = try runTool(
            python, ["-c", script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path])
        #expect(rc == 0, "python failed: \(err)")
        let batch = out.trimmingCharacters(in: .whitespacesAndNewlines)
        let c = s.client(token)
        let j = try c.mustGet(APIPath.job(batch, "j1"))
        #expect(j["status"] == "done" && j["failure_reason"] == .null, "\(j)")
        let b = try c.mustGet(APIPath.batch(batch))
        #expect(b["status"] == "done" && b["n_done"] == 1 && b["n_failed"] == 0 && b["failure_reason"] == .null, "\(b)")
    }
}
