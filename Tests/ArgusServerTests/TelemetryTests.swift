import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// What the telemetry strip and the batch list say about GPU memory, finished jobs and failed batches.
@Suite("Telemetry and batch outcome", .ownThread)
struct TelemetryTests {
    static func fourGPUs(_ mems: [Double], total: Double = 81_559) -> JSON {
        .array(
            mems.enumerated().map { i, m in
                ["index": JSON(i), "util_pct": 90, "mem_mb": JSON(m), "mem_total_mb": JSON(total)]
            })
    }

    @Test("GPU memory peak is the most-loaded GPU's peak against its capacity, with every GPU's peak listed")
    func gpuMemPeakPerDevice() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        // Four 80 GB cards; GPU 2 peaks highest (63 390 MiB), though not in the snapshot with the highest sum.
        try c.mustPost(Ev.make("resource_snapshot", batch: "b", data: ["gpus": Self.fourGPUs([60_000, 61_000, 63_390, 60_500])]))
        try c.mustPost(Ev.make("resource_snapshot", batch: "b", data: ["gpus": Self.fourGPUs([62_000, 62_500, 61_000, 62_900])]))
        let t = try #require(try c.mustGet("/api/jobs/b/j")["telemetry"])
        #expect(t["gpu_mem_peak_mb"] == 63_390, "the sum over GPUs (248 GiB) is no card's memory")
        #expect(t["gpu_mem_total_mb"] == 81_559)
        #expect(t["gpu_count"] == 4)
        #expect(
            t["gpus"]?.arrayValue?.map { $0["mem_peak_mb"] } == [62_000, 62_500, 63_390, 62_900])
        #expect(t["gpus"]?.arrayValue?.map { $0["index"] } == [0, 1, 2, 3])
        // The SDK's flat keys describe GPU 0 alone: one GPU, its own capacity.
        try c.mustPost(Ev.make("batch_start", batch: "sdk"))
        try c.mustPost(Ev.make("job_start", batch: "sdk", job: "j"))
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "sdk", data: ["gpu_util_pct": 50, "gpu_mem_mb": 30_000, "gpu_mem_total_mb": 40_960]))
        let sdk = try #require(try c.mustGet("/api/jobs/sdk/j")["telemetry"])
        #expect(sdk["gpu_mem_peak_mb"] == 30_000)
        #expect(sdk["gpu_mem_total_mb"] == 40_960)
        #expect(sdk["gpu_count"] == 1)
    }

    @Test("a snapshot listing 100,000 GPUs is taken at once and the job keeps the first 256 (the fold was quadratic)")
    func hundredThousandGPUs() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "b"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let many = JSON.array((0..<100_000).map { ["index": JSON($0), "mem_mb": JSON(1000 + $0)] })
        try c.mustPost(Ev.make("resource_snapshot", batch: "b", job: "j", data: ["gpus": many]))
        // More GPUs in a later snapshot are not added either: the list a job keeps stays bounded.
        let more = JSON.array((100_000..<100_300).map { ["index": JSON($0), "mem_mb": 1] })
        try c.mustPost(Ev.make("resource_snapshot", batch: "b", job: "j", data: ["gpus": more]))
        let t = try #require(try c.mustGet("/api/jobs/b/j")["telemetry"])
        #expect(t["gpu_count"] == 256)
        #expect(t["gpus"]?.arrayValue?.map { $0["index"]?.intValue ?? -1 } == Array(0..<256))
        #expect(t["gpu_mem_peak_mb"] == 1255)
    }

    @Test("once a job has ended, later snapshots (the batch's or naming it) no longer change its telemetry")
    func finishedJobTelemetryIsFrozen() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let t0 = Timestamp.now().micros - 600_000_000
        func at(_ sec: Double) -> String { Timestamp(micros: t0 + Int64(sec * 1e6)).iso }
        try c.mustPost(Ev.make("batch_start", batch: "b", ts: at(0)))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j1", ts: at(1)))
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "b", data: ["gpus": Self.fourGPUs([10_000, 10_000, 10_000, 10_000])], ts: at(2)))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j1", data: ["elapsed_s": 2], ts: at(3)))
        let before = try c.mustGet("/api/jobs/b/j1")
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j2", ts: at(4)))
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "b", data: ["gpus": Self.fourGPUs([70_000, 70_000, 70_000, 70_000])], ts: at(5)))
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "b", job: "j1", data: ["gpu_util_pct": 3, "gpu_mem_mb": 75_000], ts: at(6)))
        #expect(try c.mustGet("/api/jobs/b/j1")["telemetry"] == before["telemetry"])
        #expect(before["telemetry"]?["gpu_mem_peak_mb"] == 10_000)
        #expect(try c.mustGet("/api/jobs/b/j2")["telemetry"]?["gpu_mem_peak_mb"] == 70_000)
    }

    @Test("a job resumed from an earlier checkpoint shows its newest epoch and loss; a spill replayed late does not move it")
    func resumedFromCheckpoint() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        func at(_ s: Double) -> String { Timestamp(seconds: 1_780_000_000 + s).iso }
        func epoch(_ n: Int, loss: Double, _ t: Double) throws {
            try c.mustPost(Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": JSON(n), "train_loss": JSON(loss)], ts: at(t)))
        }
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: at(0)))
        try epoch(9, loss: 0.9, 9)
        try epoch(10, loss: 1.0, 10)
        // The SDK's spill file, replayed by the next run: older than what was heard since, so not the latest.
        try epoch(5, loss: 0.5, 5)
        var t = try #require(try c.mustGet("/api/jobs/b/j")["telemetry"])
        #expect(t["epoch"] == 10 && t["train_loss"] == 1.0, "\(t)")
        // Preempted, resumed from the checkpoint of epoch 7: what it reports now is the latest.
        try epoch(8, loss: 0.8, 20)
        try epoch(9, loss: 0.7, 21)
        t = try #require(try c.mustGet("/api/jobs/b/j")["telemetry"])
        #expect(t["epoch"] == 9 && t["train_loss"] == 0.7, "\(t)")
        // The newest by time, in whatever order and grouping they arrive: the old run's epochs in the same request
        // as the resumed run's, or replayed after them, and an older report of the same epoch, change nothing.
        func batch(_ job: String, _ epochs: [(Int, Double, Double)]) throws {
            let events: [JSON] = epochs.map { n, loss, t in
                Ev.make("job_epoch", batch: "b", job: job, data: ["epoch": JSON(n), "train_loss": JSON(loss)], ts: at(t))
            }
            #expect(try c.post("/api/events/batch", json: ["events": .array(events)]).status == 200)
        }
        try batch("one-request", [(8, 0.8, 20), (9, 0.7, 21), (9, 0.9, 10), (10, 1.0, 11)])
        try batch("replayed", [(8, 0.8, 20), (9, 0.7, 21)])
        try batch("replayed", [(9, 0.9, 10), (10, 1.0, 11)])
        try batch("same-epoch", [(9, 0.95, 20)])
        try batch("same-epoch", [(9, 0.9, 10)])
        for (job, n, loss) in [("one-request", 9, 0.7), ("replayed", 9, 0.7), ("same-epoch", 9, 0.95)] {
            let t = try #require(try c.mustGet("/api/jobs/b/\(job)")["telemetry"])
            #expect(t["epoch"] == JSON(n) && t["train_loss"] == JSON(loss), "\(job): \(t)")
        }
    }

    @Test("a batch with a failed job is failed, whether the script said batch_done or never said more")
    func batchWithFailedJobIsFailed() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        // Its only job died; the script caught the exception and finished with batch_done.
        try c.mustPost(Ev.make("batch_start", batch: "oom", data: ["n_total_jobs": 1]))
        try c.mustPost(Ev.make("job_start", batch: "oom", job: "j"))
        try c.mustPost(Ev.make("job_failed", batch: "oom", job: "j", data: ["reason": "RuntimeError: CUDA out of memory"]))
        try c.mustPost(Ev.make("batch_done", batch: "oom", data: ["n_done": 0, "n_failed": 1]))
        let b = try c.mustGet("/api/batches/oom")
        #expect(b["status"] == "failed")
        #expect(b["failure_reason"] == "1 of 1 jobs failed")
        #expect(b["n_failed"] == 1)
        // The script's own count is believed when fewer job events reached us.
        try c.mustPost(Ev.make("batch_start", batch: "told", data: ["n_total_jobs": 3]))
        try c.mustPost(Ev.make("batch_done", batch: "told", data: ["n_done": 2, "n_failed": 1]))
        let told = try c.mustGet("/api/batches/told")
        #expect(told["status"] == "failed")
        #expect(told["n_done"] == 2 && told["n_failed"] == 1)
        #expect(told["failure_reason"] == "1 of 3 jobs failed")
        // All jobs done: done. An exception out of the batch: failed with its reason.
        try c.mustPost(Ev.make("batch_start", batch: "ok"))
        try c.mustPost(Ev.make("batch_done", batch: "ok", data: ["n_done": 1, "n_failed": 0]))
        #expect(try c.mustGet("/api/batches/ok")["status"] == "done")
        #expect(try c.mustGet("/api/batches/ok")["failure_reason"] == .null)
        try c.mustPost(Ev.make("batch_start", batch: "boom"))
        try c.mustPost(Ev.make("batch_failed", batch: "boom", data: ["reason": "KeyError: 'lr'"]))
        #expect(try c.mustGet("/api/batches/boom")["failure_reason"] == "KeyError: 'lr'")
        let list = try #require(try c.mustGet("/api/batches?status=failed").arrayValue)
        #expect(Set(list.compactMap { $0["id"]?.stringValue }) == ["oom", "told", "boom"])
    }

    @Test("the simulator, as a user runs it: four GPUs, flat keys are GPU 0's, --fail on one job fails the batch")
    func simulator() throws {
        let s = try TestServer()
        let token = try s.token()
        let (rc, out, err) = try runTool(
            Binaries.path("argus-server"),
            [
                "simulate", "--url", s.url, "--token", token, "--jobs", "1", "--epochs", "3", "--speed", "20",
                "--fail", "--batch-id", "sim", "--seed", "7",
            ])
        #expect(rc == 0, "\(err)")
        #expect(out.contains("0 done, 1 failed"))
        let c = s.client(token)
        #expect(try c.mustGet("/api/batches/sim")["status"] == "failed")
        let rows = try #require(try c.mustGet("/api/batches/sim/resources?limit=2000").arrayValue)
        #expect(!rows.isEmpty)
        for r in rows {
            #expect(r["gpus"]?.arrayValue?.count == 4)
            #expect(r["gpu_mem_mb"] == r["gpus"]?.arrayValue?.first?["mem_mb"], "flat gpu_mem_mb must be GPU 0's")
        }
        let job = try #require(try c.mustGet("/api/batches/sim/jobs").arrayValue?.first)
        let t = try #require(job["telemetry"])
        let peaks = try #require(t["gpus"]?.arrayValue?.compactMap { $0["mem_peak_mb"]?.doubleValue })
        #expect(peaks.count == 4)
        #expect(t["gpu_mem_peak_mb"]?.doubleValue == peaks.max())
        #expect(t["gpu_count"] == 4)
        #expect((t["gpu_mem_peak_mb"]?.doubleValue ?? .infinity) < (t["gpu_mem_total_mb"]?.doubleValue ?? 0))
    }
}
