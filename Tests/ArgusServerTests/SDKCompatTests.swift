import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The published Python SDK, unchanged, against a live server.
enum PythonSDK {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// `ARGUS_SDK_PYTHON`, or `.build/sdk-venv/bin/python` (created with argus-reporter==0.1.3 from PyPI when missing).
    static func python() throws -> String {
        if let p = ProcessInfo.processInfo.environment["ARGUS_SDK_PYTHON"], !p.isEmpty { return p }
        let venv = packageRoot.appendingPathComponent(".build/sdk-venv")
        let py = venv.appendingPathComponent("bin/python").path
        let check = try? runTool(
            py, ["-c", "import argus, sys; sys.exit(0 if argus.__version__ == '0.1.3' else 1)"])
        if check?.0 == 0 { return py }
        let (rc, _, err) = try runTool("/usr/bin/env", ["python3", "-m", "venv", venv.path])
        guard rc == 0 else { throw TestFailure("python3 -m venv failed: \(err)") }
        let (rc2, _, err2) = try runTool(py, ["-m", "pip", "install", "-q", "argus-reporter==0.1.3"])
        guard rc2 == 0 else { throw TestFailure("pip install argus-reporter==0.1.3 failed: \(err2)") }
        return py
    }
}

@Suite("Real SDK: argus-reporter 0.1.3", .ownThread)
struct SDKCompatTests {
    static let script = """
        import logging, sys
        from argus import Reporter
        logging.basicConfig(level=logging.WARNING)
        with Reporter("sdk", experiment_type="test", source_project="sdk-proj", n_total=2,
                      command="python train.py --lr 0.1", heartbeat=0.2, stop_polling=0.5,
                      resource_snapshot=0.3) as r:
            with r.job("j1", model="mlp", dataset="toy") as j:
                for ep in range(6):
                    j.epoch(ep, train_loss=1.0 / (ep + 1), val_loss=1.2 / (ep + 1), lr=0.1, acc=0.5 + ep * 0.05)
                    if ep == 2:
                        j.log("halfway there")
                j.log("about to finish", level="WARNING")
                j.metrics({"MSE": 0.25})
            try:
                with r.job("j2", model="mlp", dataset="toy") as j:
                    for ep in range(3):
                        # Not NaN: requests serialises with allow_nan=False, so SDK 0.1.3 cannot send one.
                        j.epoch(ep, train_loss=0.5 + ep, grad_norm=2.0)
                    raise ValueError("loss exploded at step 3")
            except ValueError:
                pass
        print(r.batch_id)
        """

    /// Runs `script` with the real SDK against a new server, as user sdk-user (its HOME the server's data dir, for the
    /// spill file): the server, the token, and what the script printed (its last line is the batch id it prints).
    static func runScript(_ script: String) throws -> (s: TestServer, token: String, rc: Int32, out: String, err: String) {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token(user: "sdk-user")
        let (rc, out, err) = try runTool(python, ["-c", script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path])
        return (s, token, rc, out, err)
    }

    @Test("the SDK's artifact uploads are told in one sentence that this server does not store artifacts; the run is unharmed")
    func artifactUploads() throws {
        let script = """
            import logging, os, sys, argus
            from argus import Reporter, ExperimentReporter
            seen = []
            class Keep(logging.Handler):
                def emit(self, record): seen.append(record.getMessage())
            logging.getLogger("argus").addHandler(Keep()); logging.getLogger("argus").setLevel(logging.DEBUG)
            d = os.path.join(os.environ["HOME"], "plots"); os.makedirs(d, exist_ok=True)
            open(os.path.join(d, "loss.png"), "wb").write(b"\\x89PNG fake")
            with Reporter("art", heartbeat=False, stop_polling=False, resource_snapshot=False) as r:
                with r.job("j") as j:
                    j.epoch(0, train_loss=1.0)
                    print(j.upload(d))
            print(r.batch_id)
            print("\\n".join(m for m in seen if "artifact" in m or "upload" in m), file=sys.stderr)
            """
        let (s, token, rc, out, err) = try Self.runScript(script)
        #expect(rc == 0, "\(err)")
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "0", "no upload counted: \(out)")
        #expect(err.contains("This server does not store artifacts (files the SDK uploads): they stay where the run wrote them."), "\(err)")
        let batch = try #require(lines.last)
        #expect(try s.client(token).mustGet(APIPath.job(batch, "j"))["status"] == "done")
        // The low-level reporter's route (a job id alone) and the batch's: the same sentence, not 405.
        for path in ["/api/jobs/j/artifacts", "/api/batches/\(batch)/artifacts"] {
            let r = try s.client(token).post(path, json: [:])
            #expect(r.status == 404 && r.serverDetail?.hasPrefix("This server does not store artifacts") == true, "\(path): \(r.text)")
        }
    }

    @Test("Ctrl-C in a job (KeyboardInterrupt, no message) reads 'KeyboardInterrupt' on the job and its batch, not with a dangling colon")
    func interrupted() throws {
        let script = """
            from argus import Reporter
            try:
                with Reporter("ctrlc", heartbeat=False, stop_polling=False, resource_snapshot=False) as r:
                    with r.job("j") as j:
                        j.epoch(0, train_loss=1.0)
                        raise KeyboardInterrupt()
            except KeyboardInterrupt:
                pass
            print(r.batch_id)
            """
        let (s, token, rc, out, err) = try Self.runScript(script)
        #expect(rc == 0, "\(err)")
        let batch = try #require(out.split(separator: "\n").last.map(String.init))
        let c = s.client(token)
        let job = try c.mustGet(APIPath.job(batch, "j"))
        #expect(job["status"] == "failed" && job["failure_reason"] == "KeyboardInterrupt", "\(job)")
        let b = try c.mustGet(APIPath.batch(batch))
        #expect(b["failure_reason"]?.stringValue?.hasSuffix(":") == false, "\(b["failure_reason"] ?? .null)")
    }

    @Test(
        "a training loop using the SDK lands every epoch exactly once, with the right statuses and failure reason"
    )
    func trainingLoop() throws {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token(user: "sdk-user")
        let (rc, out, err) = try runTool(
            python, ["-c", Self.script],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path])
        #expect(rc == 0, "python failed: \(err)")
        let batchID = try #require(out.split(separator: "\n").last.map(String.init))
        #expect(batchID.hasPrefix("sdk-"))
        #expect(!err.contains("spilled"), "the SDK spilled events: \(err)")
        #expect(!err.contains("schema mismatch"), "\(err)")
        let c = s.client(token)
        let batch = try c.mustGet("/api/batches/\(batchID)")
        // The script finished its loop (batch_done), but a job failed: the batch is failed.
        #expect(batch["status"] == "failed")
        #expect(batch["n_done"]?.intValue == 1)
        #expect(batch["n_failed"]?.intValue == 1)
        #expect(batch["project"] == "sdk-proj")
        #expect(batch["env_snapshot"]?["command"] == "python train.py --lr 0.1")
        let jobs = try #require(try c.mustGet("/api/batches/\(batchID)/jobs").arrayValue)
        #expect(
            Set(jobs.compactMap { $0["id"]?.stringValue }) == ["j1", "j2"],
            "no phantom job from heartbeats")
        let j1 = try c.mustGet("/api/jobs/\(batchID)/j1")
        #expect(j1["status"] == "done")
        #expect(j1["metrics"] == ["MSE": 0.25])
        let j2 = try c.mustGet("/api/jobs/\(batchID)/j2")
        #expect(j2["status"] == "failed")
        #expect(j2["failure_reason"] == "ValueError: loss exploded at step 3")
        let e1 = try #require(try c.mustGet("/api/jobs/\(batchID)/j1/epochs").arrayValue)
        #expect(e1.compactMap { $0["epoch"]?.intValue } == [0, 1, 2, 3, 4, 5])
        #expect(e1[5]["acc"]?.doubleValue == 0.75)
        let e2 = try #require(try c.mustGet("/api/jobs/\(batchID)/j2/epochs").arrayValue)
        #expect(e2.compactMap { $0["epoch"]?.intValue } == [0, 1, 2])
        #expect(e2[1]["train_loss"]?.doubleValue == 1.5)
        #expect(e2[1]["grad_norm"]?.doubleValue == 2.0)
        #expect(
            try c.mustGet("/api/jobs/\(batchID)/j2")["telemetry"]?["train_loss"]?.doubleValue == 2.5)
        // Every epoch event landed exactly once: the raw stream has 9 job_epoch frames.
        let sub = SSECollector(
            url: "\(s.url)/api/sse?channels=batch:\(batchID)", token: token, lastEventID: "0")
        defer { sub.stop() }
        try sub.wait(until: { $0.contains { $0.type == "batch_done" } })
        #expect(sub.dataEvents.filter { $0.type == "job_epoch" }.count == 9)
        let logs = try #require(try c.mustGet("/api/jobs/\(batchID)/j1/log-lines").arrayValue)
        #expect(logs.map { $0["line"] } == ["about to finish", "halfway there"])
        #expect(logs.first?["level"] == "warning")
        let visible = try c.mustGet("/api/batches/\(batchID)/log-lines?limit=2000").arrayValue ?? []
        #expect(!visible.contains { $0["line"] == "heartbeat" })
        let withHB =
            try c.mustGet("/api/batches/\(batchID)/log-lines?limit=2000&include_heartbeats=1").arrayValue
            ?? []
        #expect(withHB.contains { $0["line"] == "heartbeat" })
    }
}

@Suite("Real SDK and argus-tui: a run named freely can be stopped", .ownThread)
struct SDKStopOddNameTests {
    static let script = """
        import logging, sys, time
        from argus import Reporter
        logging.basicConfig(level=logging.WARNING)
        with Reporter("my run ü 東京", experiment_type="test", source_project="p", n_total=1,
                      command="python train.py", heartbeat=0.2, stop_polling=0.3, resource_snapshot=False) as r:
            print(r.batch_id, flush=True)
            with r.job("job ✓ 1", model="mlp") as j:
                for ep in range(600):
                    j.epoch(ep, train_loss=1.0 / (ep + 1))
                    if r.stopped:
                        break
                    time.sleep(0.1)
            print("STOPPED" if r.stopped else "NOT STOPPED", flush=True)
        """

    @Test("Reporter(\"my run ü 東京\"): the TUI opens it, Stop reaches it, and the SDK's r.stopped flips")
    func stopFromTheTUI() throws {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token()
        let out = s.dataDir.appendingPathComponent("sdk-out.txt").path
        let err = s.dataDir.appendingPathComponent("sdk-err.txt").path
        let sdk = try startProcess(
            python, ["-c", Self.script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path],
            stdout: out, stderr: err)
        defer { stopProcess(sdk) }
        func printed() -> [String] {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let deadline = Date().addingTimeInterval(20)
        while printed().isEmpty && Date() < deadline { usleep(50_000) }
        let batchID = try #require(printed().first)
        #expect(batchID.hasPrefix("my run ü 東京-"))
        let t = try Tmux([Binaries.path("argus-tui"), "\(batchID)/job ✓ 1"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        try t.wait("the live job screen of the oddly named run") {
            $0.contains("\(batchID) / job ✓ 1") && $0.contains("● live") && $0.contains("● running") && $0.contains("[s] Stop  ")
        }
        t.send("s")
        try t.wait("the confirmation") { $0.contains("Stop batch \(batchID)?") }
        t.send("y")
        try t.wait("Stop acknowledged") { $0.contains("Stop requested for \(batchID)") }
        // The SDK's own poll of GET /api/batches/<id>/stop-requested sees it and the script leaves its loop.
        let end = Date().addingTimeInterval(20)
        while sdk.isRunning && Date() < end { usleep(50_000) }
        #expect(printed().last == "STOPPED", "stderr: \((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        try t.wait("the batch ends as stopped on screen") { $0.contains("[s] Stop (batch already stopped)") }
        t.send("q")
    }
}
