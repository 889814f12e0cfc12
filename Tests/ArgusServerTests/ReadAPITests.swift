import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Read API and summaries", .ownThread)
struct ReadAPITests {
    /// A small but complete run: batch_start, two jobs, epochs, logs (incl. a heartbeat), multi-GPU snapshots, a failure.
    static func seed(_ c: HTTPClient, batch: String = "b1") throws {
        let t0 = Timestamp(iso: "2026-04-23T09:00:00Z")!
        func at(_ s: Double) -> String { t0.adding(seconds: s).iso }
        try c.mustPost(
            Ev.make(
                "batch_start", batch: batch,
                data: [
                    "experiment_type": "forecast", "n_total_jobs": 2, "command": "python train.py --epochs 3",
                    "cwd": "/srv/exp",
                ],
                ts: at(0),
                source: [
                    "project": "proj", "host": "gpu-box-1", "user": "alice", "commit": "0123456789abcdef",
                ]))
        try c.mustPost(
            Ev.make(
                "job_start", batch: batch, job: "j1", data: ["model": "patchtst", "dataset": "etth1"],
                ts: at(1)))
        for n in 0..<3 {
            var e = Ev.epoch(
                batch, "j1", n, train: 1.0 - Double(n) * 0.2, val: 1.1 - Double(n) * 0.2,
                extra: [("val_acc", JSON(0.5 + Double(n) / 10))])
            if case .object(var o) = e {
                o["timestamp"] = .string(at(10 + Double(n) * 10))
                e = .object(o)
            }
            try c.mustPost(e)
        }
        let gpus: JSON = [
            ["index": 0, "util_pct": 80, "mem_mb": 1000], ["index": 1, "util_pct": 60, "mem_mb": 3000],
        ]
        try c.mustPost(Ev.make("resource_snapshot", batch: batch, data: ["gpus": gpus], ts: at(15)))
        try c.mustPost(
            Ev.make(
                "resource_snapshot", batch: batch, data: ["gpu_util_pct": 10, "gpu_mem_mb": 2500],
                ts: at(25)))
        try c.mustPost(
            Ev.make(
                "log_line", batch: batch, job: "j1", data: ["line": "hello", "level": "INFO"], ts: at(26)))
        try c.mustPost(
            Ev.make(
                "log_line", batch: batch, job: batch, data: ["line": "heartbeat", "level": "debug"],
                ts: at(27)))
        try c.mustPost(
            Ev.make(
                "log_line", batch: batch, job: "j1", data: ["line": "careful", "level": "warning"],
                ts: at(28)))
        try c.mustPost(
            Ev.make(
                "job_done", batch: batch, job: "j1",
                data: ["status": "DONE", "elapsed_s": 40, "metrics": ["MSE": 0.2]], ts: at(41)))
        try c.mustPost(Ev.make("job_start", batch: batch, job: "j2", ts: at(42)))
        try c.mustPost(
            Ev.make(
                "job_failed", batch: batch, job: "j2",
                data: ["status": "FAILED", "reason": "ValueError: boom", "elapsed_s": 3], ts: at(45)))
        try c.mustPost(
            Ev.make(
                "batch_done", batch: batch, data: ["n_done": 1, "n_failed": 1, "total_elapsed_s": 50],
                ts: at(50)))
    }

    @Test("batch list and detail carry the summary and the env snapshot")
    func batches() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let list = try #require(try c.mustGet("/api/batches").arrayValue)
        #expect(list.count == 1)
        let b = list[0]
        for key in [
            "id", "project", "status", "host", "user", "command", "n_total", "n_done", "n_failed",
            "start_time", "end_time", "last_activity", "last_received", "last_seen",
        ] {
            #expect(b[key] != nil, "missing \(key)")
        }
        // What lists show as last active: an ended run's own last event (its events, dated 2026-04-23, arrived now).
        #expect(b["last_seen"] == b["last_activity"] && b["last_seen"] == "2026-04-23T09:00:50Z")
        // batch_done, but one of its two jobs failed: the batch says so (it is not "done").
        #expect(b["status"] == "failed")
        #expect(b["n_total"]?.intValue == 2)
        #expect(b["n_done"]?.intValue == 1)
        #expect(b["n_failed"]?.intValue == 1)
        #expect(b["start_time"] == "2026-04-23T09:00:00Z")
        #expect(b["end_time"] == "2026-04-23T09:00:50Z")
        let d = try c.mustGet("/api/batches/b1")
        #expect(
            d["env_snapshot"] == [
                "git_sha": "0123456789abcdef", "git_sha_short": "0123456",
                "command": "python train.py --epochs 3", "cwd": "/srv/exp", "hostname": "gpu-box-1",
                "user": "alice",
            ])
        #expect(d["stop_requested"] == false)
        #expect(d["agent_online"] == false)
        #expect(d["source_batch_id"] == .null)
        #expect(try c.mustGet("/api/batches?status=running").arrayValue?.isEmpty == true)
        #expect(try c.mustGet("/api/batches?status=failed").arrayValue?.count == 1)
        #expect(try c.mustGet("/api/batches?status=done").arrayValue?.isEmpty == true)
        #expect(d["failure_reason"] == "1 of 2 jobs failed")
        #expect(try c.get("/api/batches?status=bogus").status == 422)
        #expect(try c.get("/api/batches?limit=0").status == 422)
        // A commit that is not a hex SHA (a tag, a branch) is shown whole: its first 7 characters would name another.
        for (commit, short) in [("v1.2.3-rc1", "v1.2.3-rc1"), ("release/2026-12", "release/2026-12"), ("ABCDEF0123", "ABCDEF0")] {
            let source: JSON = ["project": "proj", "host": "gpu-box-1", "commit": .string(commit)]
            try c.mustPost(Ev.make("batch_start", batch: "tag-\(short.count)", data: ["n_total_jobs": 1], source: source))
            #expect(try c.mustGet("/api/batches/tag-\(short.count)")["env_snapshot"]?["git_sha_short"] == .string(short))
        }
        // A running run's, by the server's clock (its host's clock an hour behind here).
        try c.mustPost(Ev.make("batch_start", batch: "slow-clock", ts: Timestamp.now().adding(seconds: -3600).iso))
        let running = try c.mustGet(APIPath.batch("slow-clock"))
        #expect(running["last_seen"] == running["last_received"] && running["last_seen"] != running["last_activity"])
    }

    @Test("jobs list in the order they started; jobs that started in one request, in their ids' natural order")
    func jobOrder() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "sweep"))
        try c.mustPost(Ev.make("job_start", batch: "sweep", job: "warmup"))
        // A spill file's replay or `simulate`: one request, so one start time. As text, seed10 came before seed2.
        let r = try c.postBatch(["seed10", "seed2", "Seed3", "seed1", "x07", "x7"].map { Ev.make("job_start", batch: "sweep", job: $0) })
        #expect(r.status == 200, "\(r.text)")
        let ids = try #require(try c.mustGet("/api/batches/sweep/jobs").arrayValue).compactMap { $0["id"]?.stringValue }
        #expect(ids == ["warmup", "seed1", "seed2", "Seed3", "seed10", "x07", "x7"])
    }

    @Test("a job in a batch that does not exist is the batch's 404; in one that does, the job's")
    func jobNotFoundNamesWhatIsMissing() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "here"))
        for path in ["/api/jobs/nope/j", "/api/jobs/nope/j/view", "/api/jobs/nope/j/epochs"] {
            let r = try c.get(path)
            #expect(r.status == 404 && r.serverDetail == "Batch 'nope' not found.", "\(path): \(r.text)")
        }
        for path in ["/api/jobs/here/j", "/api/jobs/here/j/view", "/api/jobs/here/j/epochs"] {
            let r = try c.get(path)
            #expect(r.status == 404 && r.serverDetail == "Job 'j' of batch 'here' not found.", "\(path): \(r.text)")
        }
        // Another user's batch is not theirs to see: the same 404 as none.
        let bob = s.client(try s.token(user: "bob"))
        #expect(try bob.get("/api/jobs/here/j/view").serverDetail == "Batch 'here' not found.")
    }

    @Test(
        "the batch list is newest first (SPEC); order=going_first puts those not ended first, so a run still going is never cut off by limit behind newer ones"
    )
    func listOrder() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "long-run"))
        try c.mustPost(Ev.make("batch_start", batch: "stalled-ish"))
        for n in 0..<5 {
            try c.mustPost(Ev.make("batch_start", batch: "short-\(n)"))
            try c.mustPost(Ev.make("batch_done", batch: "short-\(n)"))
        }
        #expect(try c.post("/api/batches/stalled-ish/stop", json: [:]).status == 200)
        func ids(_ path: String) throws -> [String] { (try c.mustGet(path).arrayValue ?? []).compactMap { $0["id"]?.stringValue } }
        #expect(try ids("/api/batches") == ["short-4", "short-3", "short-2", "short-1", "short-0", "stalled-ish", "long-run"])
        #expect(try ids("/api/batches?limit=2") == ["short-4", "short-3"])
        #expect(try ids("/api/batches?order=newest&limit=1") == ["short-4"])
        #expect(try ids("/api/batches?order=going_first&limit=3") == ["stalled-ish", "long-run", "short-4"])
        #expect(
            try ids("/api/batches?order=going_first") == ["stalled-ish", "long-run", "short-4", "short-3", "short-2", "short-1", "short-0"])
        #expect(try ids("/api/batches?order=going_first&limit=1") == ["stalled-ish"])
        #expect(try ids("/api/batches?status=done&limit=2") == ["short-4", "short-3"])
        let bad = try c.get("/api/batches?order=oldest")
        #expect(bad.status == 422 && bad.serverDetail == "order must be newest or going_first.")
        // Other query values that mean nothing are a sentence too, not taken as a default.
        let keepalive = try c.get("/api/sse?channels=batch:short-0&keepalive=bogus")
        #expect(keepalive.status == 422 && keepalive.serverDetail == "keepalive must be event or comment, got 'bogus'.")
    }

    @Test(
        "jobs carry the telemetry strip: mean GPU util over GPUs, per-GPU memory peaks, latest loss, failure reason"
    )
    func jobsAndTelemetry() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let jobs = try #require(try c.mustGet("/api/batches/b1/jobs").arrayValue)
        #expect(jobs.map { $0["id"] } == ["j1", "j2"])
        let j1 = try c.mustGet("/api/jobs/b1/j1")
        #expect(j1["status"] == "done")
        #expect(j1["model"] == "patchtst")
        #expect(j1["metrics"] == ["MSE": 0.2])
        #expect(j1["elapsed_s"]?.doubleValue == 40)
        let t = try #require(j1["telemetry"])
        #expect(t["status"] == "done")
        #expect(t["gpu_util_pct"]?.doubleValue == 10)  // latest snapshot
        // Per GPU: GPU 0 peaked at 2500 (the flat keys are GPU 0's), GPU 1 at 3000; the strip shows GPU 1's.
        #expect(t["gpu_mem_peak_mb"]?.doubleValue == 3000)
        #expect(t["gpu_count"]?.intValue == 2)
        #expect(
            t["gpus"]
                == [
                    ["index": 0, "mem_peak_mb": 2500, "mem_total_mb": .null],
                    ["index": 1, "mem_peak_mb": 3000, "mem_total_mb": .null],
                ])
        #expect(t["epoch"]?.intValue == 2)
        #expect(abs((t["train_loss"]?.doubleValue ?? 0) - 0.6) < 1e-9)
        #expect(abs((t["val_loss"]?.doubleValue ?? 0) - 0.7) < 1e-9)
        let j2 = try c.mustGet("/api/jobs/b1/j2")
        #expect(j2["status"] == "failed")
        #expect(j2["failure_reason"] == "ValueError: boom")
        #expect(j2["telemetry"]?["gpu_util_pct"] == .null)  // no snapshot while it ran
        // The heartbeat whose job_id is the batch id must not have created a job.
        #expect(try c.get("/api/jobs/b1/b1").status == 404)
    }

    @Test(
        "a snapshot delivered late (a spill file, after the run) keeps the peaks but not the tile's util; readings no GPU can have are not shown"
    )
    func lateAndImplausibleSnapshots() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let t0 = Timestamp(iso: "2026-04-23T09:00:00Z")!
        func at(_ s: Double) -> String { t0.adding(seconds: s).iso }
        try c.mustPost(Ev.make("batch_start", batch: "b1", ts: at(0)))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1", ts: at(1)))
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpu_util_pct": 81, "gpu_mem_mb": 1000], ts: at(30)))
        try c.mustPost(Ev.make("job_done", batch: "b1", job: "j1", ts: at(40)))
        try c.mustPost(Ev.make("batch_done", batch: "b1", ts: at(41)))
        // Delivered now, taken while the job ran: an older reading, one of them with the run's memory peak.
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpu_util_pct": 80, "gpu_mem_mb": 1500], ts: at(20)))
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", job: "j1", data: ["gpu_util_pct": 5], ts: at(25)))
        var tele = try #require(try c.mustGet("/api/jobs/b1/j1")["telemetry"])
        #expect(tele["gpu_util_pct"]?.doubleValue == 81, "the newest reading stays: \(tele)")
        #expect(tele["gpu_mem_peak_mb"]?.doubleValue == 1500)
        // Nonsense: a util over 100 %, negative memory and a negative index are no readings at all.
        try c.mustPost(Ev.make("batch_start", batch: "b2", ts: at(0)))
        try c.mustPost(Ev.make("job_start", batch: "b2", job: "j1", ts: at(1)))
        try c.mustPost(
            Ev.make(
                "resource_snapshot", batch: "b2", data: ["gpu_util_pct": 1e308, "gpu_mem_mb": 1e308, "gpu_mem_total_mb": -1],
                ts: at(10)))
        let bad: JSON = [["index": -1, "util_pct": -50, "mem_mb": -1, "mem_total_mb": 0]]
        try c.mustPost(Ev.make("resource_snapshot", batch: "b2", data: ["gpus": bad], ts: at(20)))
        try c.mustPost(Ev.make("resource_snapshot", batch: "b2", data: ["gpu_util_pct": "high"], ts: at(25)))
        tele = try #require(try c.mustGet("/api/jobs/b2/j1")["telemetry"])
        #expect(tele["gpu_util_pct"] == .null && tele["gpu_mem_peak_mb"] == .null, "\(tele)")
        #expect(tele["gpus"]?.arrayValue?.allSatisfy { $0["index"]?.intValue == 0 } ?? true, "\(tele)")
    }

    @Test("epochs ascend and carry every numeric metric")
    func epochs() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let e = try #require(try c.mustGet("/api/jobs/b1/j1/epochs").arrayValue)
        #expect(e.map { $0["epoch"]?.intValue } == [0, 1, 2])
        #expect(e[1]["val_acc"]?.doubleValue == 0.6)
        #expect(e[0]["timestamp"] == "2026-04-23T09:00:10Z")
        #expect(e[0]["lr"] == .null)
    }

    @Test("log lines: newest first, paged by before_id, heartbeats hidden, limit bounded")
    func logLines() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let all = try #require(try c.mustGet("/api/batches/b1/log-lines").arrayValue)
        #expect(all.map { $0["line"] } == ["careful", "hello"])
        #expect(all[0]["level"] == "warning")
        #expect(all[1]["level"] == "info")  // lower-cased
        let withHB = try c.mustGet("/api/batches/b1/log-lines?include_heartbeats=1").arrayValue ?? []
        #expect(withHB.count == 3)
        let page = try c.mustGet("/api/batches/b1/log-lines?limit=1").arrayValue ?? []
        #expect(page.map { $0["line"] } == ["careful"])
        let next =
            try c.mustGet("/api/batches/b1/log-lines?limit=1&before_id=\(page[0]["id"]!.intValue!)")
            .arrayValue ?? []
        #expect(next.map { $0["line"] } == ["hello"])
        #expect(try c.mustGet("/api/jobs/b1/j1/log-lines").arrayValue?.count == 2)
        #expect(try c.mustGet("/api/batches/b1/log-lines?job_id=j2").arrayValue?.count == 0)
        #expect(try c.get("/api/batches/b1/log-lines?limit=2001").status == 422)
        #expect(try c.get("/api/batches/b1/log-lines?before_id=x").status == 422)
    }

    @Test("resources: newest first, with the mean util over a gpus list; flat gpu_mem_mb is GPU 0's")
    func resources() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let r = try #require(try c.mustGet("/api/batches/b1/resources").arrayValue)
        #expect(r.count == 2)
        #expect(r[0]["gpu_util_pct"]?.doubleValue == 10)
        #expect(r[1]["gpu_util_pct"]?.doubleValue == 70)
        #expect(r[1]["gpu_mem_mb"]?.doubleValue == 1000)
        #expect(try c.mustGet("/api/batches/b1/resources?job_id=j1").arrayValue?.count == 2)
        #expect(try c.mustGet("/api/batches/b1/resources?job_id=j2").arrayValue?.count == 0)
    }

    @Test(
        "the view is one round trip with everything the screen needs, and the SSE id to resume from")
    func view() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let v = try c.mustGet("/api/jobs/b1/j1/view")
        for key in [
            "batch", "job", "epochs", "log_tail", "resources_latest", "env_snapshot", "actions",
            "last_event_id",
        ] {
            #expect(v[key] != nil, "missing \(key)")
        }
        #expect(v["epochs"]?.arrayValue?.count == 3)
        #expect(v["log_tail"]?.arrayValue?.map { $0["line"] } == ["careful", "hello"])
        #expect(v["resources_latest"]?["gpu_util_pct"]?.doubleValue == 10)
        #expect(v["env_snapshot"]?["git_sha_short"] == "0123456")
        #expect(v["last_event_id"]?.intValue == 14)
        let actions = try #require(v["actions"])
        #expect(actions["stop"]?["enabled"] == false)
        #expect(actions["stop"]?["reason"] == "batch already failed")
        #expect(actions["mark_failed"]?["enabled"] == false)
        #expect(actions["mark_failed"]?["reason"] == "batch already failed")
        #expect(actions["rerun"]?["enabled"] == false)
        #expect(actions["rerun"]?["reason"] == "no agent online for host gpu-box-1 registered by alice, the batch's owner")
        #expect(actions["copy_command"]?["enabled"] == true)
        #expect(actions["share"]?["enabled"] == true)
    }

    @Test("unknown batches and jobs are 404 with a sentence")
    func notFound() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        for path in [
            "/api/batches/nope", "/api/batches/nope/jobs", "/api/jobs/b1/nope",
            "/api/jobs/nope/j1/epochs", "/api/jobs/b1/nope/view",
            "/api/batches/nope/log-lines", "/api/jobs/b1/nope/log-lines", "/api/batches/nope/resources",
            "/api/batches/b1/resources?job_id=nope", "/api/batches/b1/log-lines?job_id=nope",
        ] {
            let r = try c.get(path)
            #expect(r.status == 404, "\(path)")
            #expect(r.json?["detail"]?.stringValue?.contains("not found") == true, "\(path)")
        }
        // A job of a batch that is not there: the batch is what is missing, whichever route asks.
        for path in [
            "/api/jobs/nope/j1/log-lines", "/api/batches/nope/resources?job_id=j1", "/api/batches/nope/log-lines?job_id=j1",
        ] {
            #expect(try c.get(path).json?["detail"] == "Batch 'nope' not found.", "\(path)")
        }
        #expect(try c.get("/api/batches/b1/log-lines?job_id=nope").json?["detail"] == "Job 'nope' of batch 'b1' not found.")
        #expect(try c.mustGet("/health") == ["status": "ok"])
        #expect(try s.client(nil).mustGet("/health") == ["status": "ok"])
    }

    @Test("HEAD /health answers as GET does, without the body; a known path asked with another method is 405 with Allow")
    func headAndWrongMethod() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let head = try s.client(nil).request("HEAD", "/health")
        #expect(head.status == 200 && head.text.isEmpty)
        #expect(head.headers["content-type"] == "application/json" && head.headers["content-length"] == "15")
        for (method, path, allow) in [
            ("DELETE", "/health", "GET, HEAD"), ("PUT", "/api/events", "POST"), ("GET", "/api/events", "POST"),
            ("POST", "/api/jobs/b1/j1", "GET"), ("GET", "/api/batches/b1/stop", "POST"),
            ("PATCH", "/api/batches/nope/shares/3", "DELETE"),
        ] {
            let r = try c.request(method, path)
            #expect(r.status == 405, "\(method) \(path): \(r.text)")
            #expect(r.headers["allow"] == allow, "\(method) \(path)")
            #expect(r.detail == "Method \(method) is not allowed on \(path).", "\(method) \(path)")
        }
        // Paths no route has stay 404.
        #expect(try c.request("DELETE", "/api/jobs/b1/j1/nothing").status == 404)
        #expect(try c.request("GET", "/api/nothing").status == 404)
    }

    @Test("an env_snapshot event fills what batch_start left out, without overwriting")
    func envSnapshot() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "b", data: ["n_total_jobs": 1],
                source: ["project": "p", "host": "h1"]))
        try c.mustPost(
            Ev.make(
                "env_snapshot", batch: "b",
                data: ["git_sha": "abcdef1234", "cwd": "/w", "command": "run.sh", "hostname": "other"]))
        let env = try c.mustGet("/api/batches/b")["env_snapshot"]
        #expect(env?["git_sha_short"] == "abcdef1")
        #expect(env?["cwd"] == "/w")
        #expect(env?["command"] == "run.sh")
        #expect(env?["hostname"] == "h1")
    }
}

@Suite("Auth and visibility", .ownThread)
struct AuthTests {
    @Test("a batch is visible to its owner and admins, and 404 to everyone else")
    func visibility() throws {
        let s = try TestServer()
        let alice = s.client(try s.token(user: "alice"))
        let bob = s.client(try s.token(user: "bob"))
        let admin = s.client(try s.token(user: "root", admin: true))
        let aliceViewer = s.client(try s.token(user: "alice", scope: "viewer"))
        try ReadAPITests.seed(alice)
        #expect(try bob.get("/api/batches/b1").status == 404)
        #expect(try bob.get("/api/jobs/b1/j1/view").status == 404)
        #expect(try bob.mustGet("/api/batches").arrayValue?.isEmpty == true)
        #expect(try admin.get("/api/batches/b1").status == 200)
        #expect(try admin.mustGet("/api/batches").arrayValue?.count == 1)
        #expect(try aliceViewer.get("/api/jobs/b1/j1/view").status == 200)
        // Bob cannot write into Alice's batch.
        let r = try bob.post(
            "/api/events",
            json: Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "x", "level": "info"]))
        #expect(r.status == 403)
        let batch = try bob.postBatch([
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "x", "level": "info"]),
            Ev.make("batch_start", batch: "bob1"),
        ])
        #expect(batch.json?["results"]?.arrayValue?[0]["status"] == "rejected")
        #expect(batch.json?["results"]?.arrayValue?[1]["status"] == "accepted")
        #expect(try s.client(nil).get("/api/batches").status == 401)
        // The list names each batch's owner, the Argus user whose token created it (`user` is what the run said).
        let all = try admin.mustGet("/api/batches").arrayValue ?? []
        #expect(Set(all.map { "\($0["id"]?.stringValue ?? "")=\($0["owner"]?.stringValue ?? "")" }) == ["b1=alice", "bob1=bob"])
        // Bob's events said `"user": "alice"` (Ev's default source): the owner is still bob.
        let bob1 = all.first { $0["id"] == "bob1" }
        #expect(bob1?["user"] == "alice" && bob1?["owner"] == "bob")
    }

    @Test("token list shows no secrets; a revoked token is refused")
    func listAndRevoke() throws {
        let s = try TestServer()
        let keep = try s.token(user: "alice")
        let gone = try s.token(user: "alice", scope: "viewer")
        #expect(keep.hasPrefix("em_live_"))
        #expect(gone.hasPrefix("em_view_"))
        let (rc, out, _) = try runTool(
            Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        #expect(rc == 0)
        #expect(!out.contains(keep) && !out.contains(gone))
        #expect(out.contains("alice"))
        let (rc2, _, _) = try runTool(
            Binaries.path("argus-server"), ["token", "revoke"] + s.databaseArgs + ["2"])
        #expect(rc2 == 0)
        #expect(try s.client(gone).get("/api/batches").status == 401)
        #expect(try s.client(keep).get("/api/batches").status == 200)
        let (rc3, _, err) = try runTool(
            Binaries.path("argus-server"), ["token", "revoke"] + s.databaseArgs + ["99"])
        #expect(rc3 != 0)
        #expect(err.contains("no active token with id 99"))
    }

    @Test("tokens are stored only as hashes")
    func hashedAtRest() throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b"))
        let files = try s.storedData()
        #expect(!files.isEmpty && files.allSatisfy { !$0.bytes.isEmpty })
        let secretPart = Data(token.dropFirst(8).utf8)
        for (f, bytes) in files {
            #expect(bytes.range(of: secretPart) == nil, "token found in \(f)")
        }
    }
}
