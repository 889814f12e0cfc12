import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Retention sweeper", .ownThread)
struct RetentionTests {
    /// A finished batch with a bit of everything, stamped "now" by the manual clock's start.
    static func seed(_ c: HTTPClient, batch b: String = "b") throws {
        try c.mustPost(
            Ev.make(
                "batch_start", batch: b,
                data: ["n_total_jobs": 1, "command": "python train.py --lr 3e-4", "cwd": "/work/run"],
                source: ["project": "proj", "host": "gpu-box-1", "user": "alice", "commit": "0123456789abcdef"]))
        try c.mustPost(Ev.make("job_start", batch: b, job: "j", data: ["model": "resnet"]))
        var events: [JSON] = []
        for i in 1...20 { events.append(Ev.epoch(b, "j", i, train: 1.0 / Double(i), val: 2.0 / Double(i))) }
        for i in 0..<30 { events.append(Ev.make("log_line", batch: b, job: "j", data: ["line": "step \(i)", "level": "info"])) }
        for _ in 0..<10 {
            events.append(Ev.make("resource_snapshot", batch: b, data: ["gpu_util_pct": 90, "gpu_mem_mb": 20_000]))
        }
        #expect(try c.postBatch(events).status == 200)
        try c.mustPost(
            Ev.make(
                "job_failed", batch: b, job: "j",
                data: ["status": "FAILED", "reason": "RuntimeError: CUDA out of memory", "elapsed_s": 100]))
        try c.mustPost(Ev.make("batch_done", batch: b, data: ["n_done": 0, "n_failed": 1]))
    }

    static func counts(_ c: HTTPClient, _ b: String = "b") throws -> [String: Int] {
        [
            "log_line": try c.mustGet("/api/jobs/\(b)/j/log-lines?limit=2000").arrayValue?.count ?? -1,
            "job_epoch": try c.mustGet("/api/jobs/\(b)/j/epochs").arrayValue?.count ?? -1,
            "resource_snapshot": try c.mustGet("/api/batches/\(b)/resources?limit=2000").arrayValue?.count ?? -1,
        ]
    }

    @Test("each class goes at its own age, by the server's clock; summaries survive every sweep")
    func classesAndSummaries() async throws {
        let srv = try await InProcessServer()
        let c = srv.client(try srv.token())
        try await offPool { try Self.seed(c) }
        let summaryBefore = try await offPool { try c.mustGet("/api/jobs/b/j") }
        #expect(try await offPool { try Self.counts(c) } == ["log_line": 30, "job_epoch": 20, "resource_snapshot": 10])

        srv.clock.advance(seconds: 6.9 * 86_400)
        #expect(try await srv.services.sweepRetention().total == 0)
        srv.clock.advance(seconds: 0.2 * 86_400)  // 7.1 days: snapshots (7 d) go
        var r = try await srv.services.sweepRetention()
        #expect(r.deleted[.snapshot] == 10 && r.total == 10)
        #expect(try await offPool { try Self.counts(c) } == ["log_line": 30, "job_epoch": 20, "resource_snapshot": 0])

        srv.clock.advance(seconds: 7 * 86_400)  // 14.1 days: log lines (14 d) go
        r = try await srv.services.sweepRetention()
        #expect(r.deleted[.logLine] == 30 && r.total == 30)
        srv.clock.advance(seconds: 16 * 86_400)  // 30.1 days: epochs (30 d) go
        r = try await srv.services.sweepRetention()
        #expect(r.deleted[.jobEpoch] == 20 && r.total == 20)
        #expect(try await offPool { try Self.counts(c) } == ["log_line": 0, "job_epoch": 0, "resource_snapshot": 0])
        srv.clock.advance(seconds: 60 * 86_400)  // 90.1 days: everything else (batch_start, job_start, ...) goes
        r = try await srv.services.sweepRetention()
        #expect(r.deleted[.other] == 4)

        // The summaries the screen shows are intact: status, metrics, latest loss, GPU mem peak, failure, env.
        try await offPool {
            let job = try c.mustGet("/api/jobs/b/j")
            #expect(job == summaryBefore)
            #expect(job["status"] == "failed")
            #expect(job["failure_reason"] == "RuntimeError: CUDA out of memory")
            #expect(job["telemetry"]?["train_loss"] == 0.05)
            #expect(job["telemetry"]?["gpu_mem_peak_mb"] == 20_000)
            let batch = try c.mustGet("/api/batches/b")
            #expect(batch["status"] == "failed")  // its only job failed
            #expect(batch["env_snapshot"]?["command"] == "python train.py --lr 3e-4")
            #expect(batch["env_snapshot"]?["git_sha_short"] == "0123456")
            let view = try c.mustGet("/api/jobs/b/j/view")
            #expect(view["job"]?["telemetry"]?["train_loss"] == 0.05)
            #expect(view["epochs"]?.arrayValue?.isEmpty == true)
        }
        await srv.stop()
    }

    @Test("0 keeps a class forever; the others still go")
    func zeroDisablesAClass() async throws {
        let srv = try await InProcessServer {
            $0.retentionLogLineDays = 0
            $0.retentionSnapshotDays = 0
        }
        let c = srv.client(try srv.token())
        try await offPool { try Self.seed(c) }
        srv.clock.advance(seconds: 365 * 86_400)
        let r = try await srv.services.sweepRetention()
        #expect(r.deleted[.logLine] == nil && r.deleted[.snapshot] == nil)
        #expect(r.deleted[.jobEpoch] == 20)
        #expect(try await offPool { try Self.counts(c) } == ["log_line": 30, "job_epoch": 0, "resource_snapshot": 10])
        await srv.stop()
    }

    @Test("SSE ids are never reused after a sweep, and a client resuming from a deleted id loses nothing new")
    func idsAfterSweep() async throws {
        let srv = try await InProcessServer()
        let token = try srv.token()
        let c = srv.client(token)
        try await offPool { try Self.seed(c) }
        let lastBefore = try await offPool { try c.mustGet("/api/jobs/b/j/view")["last_event_id"]?.intValue ?? 0 }
        srv.clock.advance(seconds: 100 * 86_400)
        #expect(try await srv.services.sweepRetention().total == 64)
        try await offPool { try c.mustPost(Ev.make("batch_start", batch: "b2")) }
        let sub = SSECollector(url: "\(srv.url)/api/sse?channels=batch:b2", token: token, lastEventID: "5")
        defer { sub.stop() }
        try await offPool { try sub.wait(until: { $0.contains { $0.type == "batch_start" } }) }
        #expect(Int(sub.dataEvents.first!.id ?? "") ?? 0 > lastBefore)
        await srv.stop()
    }

    @Test("`argus-server retention sweep` beside a running server prints counts per class; flags override")
    func cliSweep() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let old = Timestamp(micros: Timestamp.now().micros - 20 * 86_400_000_000).iso
        var events: [JSON] = [Ev.make("batch_start", batch: "b", ts: old), Ev.make("job_start", batch: "b", job: "j", ts: old)]
        for i in 0..<250 { events.append(Ev.make("log_line", batch: "b", job: "j", data: ["line": "old \(i)", "level": "info"], ts: old)) }
        for i in 0..<5 { events.append(Ev.make("resource_snapshot", batch: "b", data: ["gpu_util_pct": JSON(i)], ts: old)) }
        events.append(Ev.epoch("b", "j", 1))
        events.append(Ev.make("log_line", batch: "b", job: "j", data: ["line": "fresh", "level": "info"]))
        #expect(try c.postBatch(events).status == 200)
        let bin = Binaries.path("argus-server")
        // Keep snapshots via the flag; the environment sets the log-line limit.
        let (rc, out, err) = try runTool(
            bin, ["retention", "sweep"] + s.databaseArgs + ["--snapshot-days", "0"],
            env: ["ARGUS_RETENTION_LOG_LINE_DAYS": "19.5"])
        #expect(rc == 0, "\(err)")
        let rows = Dictionary(
            uniqueKeysWithValues: out.split(separator: "\n").compactMap { line -> (String, [String])? in
                let cols = line.split(separator: " ").map(String.init)
                return cols.count >= 3 ? (cols[0], Array(cols.dropFirst())) : nil
            })
        #expect(rows["log_line"] == ["19.5", "d", "250"], "\(out)")
        #expect(rows["resource_snapshot"] == ["kept", "-"], "\(out)")
        #expect(rows["job_epoch"] == ["30", "d", "0"], "\(out)")
        #expect(rows["other"] == ["90", "d", "0"], "\(out)")
        #expect(out.contains("total 250 events"))
        let logs = try c.mustGet("/api/jobs/b/j/log-lines?limit=2000").arrayValue ?? []
        #expect(logs.map { $0["line"] } == ["fresh"])
        #expect(try c.mustGet("/api/batches/b/resources").arrayValue?.count == 5)

        // Clear one-sentence errors.
        let (rc2, _, err2) = try runTool(bin, ["retention", "sweep", "--data-dir", s.dataDir.appendingPathComponent("nope").path])
        #expect(rc2 == 1 && err2.contains("no Argus database in"), "\(err2)")
        let (rc3, _, err3) = try runTool(
            bin, ["retention", "sweep"] + s.databaseArgs, env: ["ARGUS_RETENTION_JOB_EPOCH_DAYS": "a month"])
        #expect(rc3 == 1 && err3.contains("ARGUS_RETENTION_JOB_EPOCH_DAYS") && err3.split(separator: "\n").count == 1)
        let (rc4, _, err4) = try runTool(bin, ["retention", "sweep"] + s.databaseArgs + ["--other-days", "-1"])
        #expect(rc4 != 0 && err4.contains("--other-days"))
        // 1e300 days once overflowed the Int64 cutoff and crashed the sweep.
        let (rc5, _, err5) = try runTool(bin, ["retention", "sweep"] + s.databaseArgs + ["--log-line-days", "1e300"])
        #expect(rc5 != 0 && err5.contains("--log-line-days must be a number of days from 0 to 3650"), "\(err5)")
    }

    @Test("the in-process sweeper runs every ARGUS_RETENTION_SWEEP_MINUTES and logs what it deleted")
    func inProcessSweeper() throws {
        let s = try TestServer(env: ["ARGUS_RETENTION_SWEEP_MINUTES": "0.005"])
        let c = s.client(try s.token())
        let old = Timestamp(micros: Timestamp.now().micros - 15 * 86_400_000_000).iso
        try c.mustPost(Ev.make("batch_start", batch: "b"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let deadline = Date().addingTimeInterval(10)
        // Post expired lines twice, a sweep apart: both batches go without anyone asking.
        for round in 0..<2 {
            let lines = (0..<40).map {
                Ev.make("log_line", batch: "b", job: "j", data: ["line": "r\(round) \($0)", "level": "info"], ts: old)
            }
            #expect(try c.postBatch(lines).status == 200)
            while Date() < deadline, try c.mustGet("/api/jobs/b/j/log-lines").arrayValue?.isEmpty == false { usleep(50_000) }
            #expect(try c.mustGet("/api/jobs/b/j/log-lines").arrayValue?.isEmpty == true)
        }
        #expect(s.log.contains("retention sweep deleted 40 log_line"))
    }
}
