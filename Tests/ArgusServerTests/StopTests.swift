import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Stop", .ownThread)
struct StopTests {
    @Test("the owner stops a running batch: flag, status, streamed event; the SDK's poll sees both keys")
    func stopRunningBatch() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 2]))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j1"))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j2"))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "j2", data: ["elapsed_s": 1]))
        let before = try c.mustGet("/api/batches/b/stop-requested")
        #expect(before["stop_requested"] == false && before["requested"] == false)
        let sub = SSECollector(url: "\(s.url)/api/sse?channels=batch:b", token: token)
        defer { sub.stop() }
        try sub.waitUntilConnected()
        let r = try c.post("/api/batches/b/stop", json: [:])
        #expect(r.status == 200)
        // How the stop reaches the run: a run no agent started hears it at its next poll.
        let poll = "the run stops at its next check (every 10 s)"
        #expect(r.json == ["status": "stopping", "batch_id": "b", "detail": .string(poll)])
        #expect(try c.mustGet("/api/batches/b")["stop_detail"] == .string(poll))
        let after = try c.mustGet("/api/batches/b/stop-requested")
        #expect(after["stop_requested"] == true && after["requested"] == true)
        #expect(after["requested_by"] == "alice")
        #expect(after["requested_at"]?.stringValue?.hasSuffix("Z") == true)
        #expect(try c.mustGet("/api/batches/b")["status"] == "stopping")
        #expect(try c.mustGet("/api/jobs/b/j1")["telemetry"]?["status"] == "stopping")
        try sub.wait(until: { $0.contains { $0.type == "stop_requested" } })
        let ev = try JSON.parse(sub.dataEvents.first { $0.type == "stop_requested" }!.data)
        #expect(ev["data"]?["requested_by"] == "alice")
        // Stopping twice is fine; the run then ends as `stopped`, taking its running job with it.
        #expect(try c.post("/api/batches/b/stop", json: [:]).status == 200)
        try c.mustPost(Ev.make("batch_done", batch: "b", data: ["n_done": 1, "n_failed": 0]))
        #expect(try c.mustGet("/api/batches/b")["status"] == "stopped")
        #expect(try c.mustGet("/api/jobs/b/j1")["status"] == "stopped")
        #expect(try c.mustGet("/api/jobs/b/j2")["status"] == "done")
        let again = try c.post("/api/batches/b/stop", json: [:])
        #expect(again.status == 409)
        #expect(again.json?["detail"]?.stringValue?.contains("already stopped") == true)
    }

    @Test(
        "a job the SDK ends with job_done after a stop, short of the epochs it announced (or announcing none), ends stopped; one that trained them all ends done"
    )
    func jobDoneAfterStop() throws {
        let s = try TestServer()
        let c = s.client(try s.token(user: "alice"))
        try c.mustPost(Ev.make("batch_start", batch: "s", data: ["n_total_jobs": 4]))
        for (j, total) in [("short", 10), ("whole", 3), ("untold", nil), ("counted", 10)] as [(String, Int?)] {
            try c.mustPost(Ev.make("job_start", batch: "s", job: j, data: total.map { ["total_epochs": JSON($0)] } ?? [:]))
        }
        for n in 0..<3 {
            for j in ["short", "whole", "untold", "counted"] { try c.mustPost(Ev.epoch("s", j, n)) }
        }
        #expect(try c.post("/api/batches/s/stop", json: [:]).status == 200)
        // What the SDK's JobContext sends when the loop broke out on j.stopped: job_done with the epochs it saw.
        try c.mustPost(Ev.make("job_done", batch: "s", job: "short", data: ["status": "DONE", "train_epochs": 3]))
        try c.mustPost(Ev.make("job_done", batch: "s", job: "whole", data: ["status": "DONE", "train_epochs": 3]))
        try c.mustPost(Ev.make("job_done", batch: "s", job: "untold", data: ["status": "DONE", "train_epochs": 3]))
        try c.mustPost(Ev.make("job_done", batch: "s", job: "counted", data: ["status": "DONE"]))  // 3 epochs reported
        try c.mustPost(Ev.make("batch_done", batch: "s", data: ["n_done": 4, "n_failed": 0]))
        #expect(try c.mustGet("/api/batches/s")["status"] == "stopped")
        for (j, status) in [("short", "stopped"), ("whole", "done"), ("untold", "stopped"), ("counted", "stopped")] {
            let job = try c.mustGet("/api/jobs/s/\(j)")
            #expect(job["status"] == .string(status) && job["telemetry"]?["status"] == .string(status), "\(j): \(job)")
        }
        #expect(try c.mustGet("/api/batches/s")["n_done"] == 1)
    }

    @Test("who may stop: owner and admin yes; another user 404; a viewer token 403; no token 401")
    func permissions() throws {
        let s = try TestServer()
        let alice = s.client(try s.token(user: "alice"))
        try alice.mustPost(Ev.make("batch_start", batch: "b"))
        try alice.mustPost(Ev.make("batch_start", batch: "b2"))
        #expect(try s.client(try s.token(user: "bob")).post("/api/batches/b/stop", json: [:]).status == 404)
        let viewer = s.client(try s.token(user: "alice", scope: "viewer"))
        #expect(try viewer.post("/api/batches/b/stop", json: [:]).status == 403)
        // One sentence for every action a viewer token tries, naming them all, not only Stop.
        for path in ["/api/batches/b/rerun", "/api/batches/b/shares", "/api/batches/b/mark-failed"] {
            let r = try viewer.post(path, json: [:])
            #expect(
                r.status == 403
                    && r.detail
                        == "This token can only read (scope 'viewer'); acting on a batch (stop, rerun, share, mark failed) needs a reporter token.",
                "\(path): \(r.text)")
        }
        #expect(try s.client(nil).post("/api/batches/b/stop", json: [:]).status == 401)
        #expect(try s.client(nil).get("/api/batches/b/stop-requested").status == 401)
        #expect(try alice.post("/api/batches/nope/stop", json: [:]).status == 404)
        #expect(try s.client(try s.token(user: "root", admin: true)).post("/api/batches/b/stop", json: [:]).status == 200)
        #expect(try alice.post("/api/batches/b2/stop", json: [:]).status == 200)
        let view = try alice.mustGet("/api/batches/b2")
        #expect(view["stop_requested"] == true)
    }

    @Test("the published SDK's Reporter sees r.stopped after a stop")
    func sdkSeesStop() throws {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token()
        let script = """
            import sys, time
            from argus import Reporter
            with Reporter("stopme", source_project="p", n_total=1, heartbeat=False, resource_snapshot=False, stop_polling=0.2) as r:
                print(r.batch_id, flush=True)
                with r.job("j") as j:
                    deadline = time.time() + 20
                    ep = 0
                    while not j.stopped and time.time() < deadline:
                        j.epoch(ep, train_loss=1.0 / (ep + 1))
                        ep += 1
                        time.sleep(0.05)
                print("stopped" if r.stopped else "not stopped", flush=True)
            """
        let out = OutputFile()
        let p = try startProcess(
            python, ["-c", script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path], stdout: out.path)
        let deadline = Date().addingTimeInterval(15)
        var batchID = ""
        while batchID.isEmpty && Date() < deadline {
            batchID = out.text.split(separator: "\n").first.map(String.init) ?? ""
            usleep(50_000)
        }
        let c = s.client(token)
        while Date() < deadline, (try? c.mustGet("/api/jobs/\(batchID)/j")) == nil { usleep(50_000) }
        #expect(try c.post("/api/batches/\(batchID)/stop", json: [:]).status == 200)
        p.waitUntilExit()
        #expect(out.text.contains("stopped\n") && !out.text.contains("not stopped"), "\(out.text)")
        #expect(try c.mustGet("/api/batches/\(batchID)")["status"] == "stopped")
    }
}

/// A temp file to capture a child's stdout without pipes (so reading never blocks the child).
final class OutputFile {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("argus-out-\(UUID().uuidString)").path
    init() { FileManager.default.createFile(atPath: path, contents: nil) }
    var text: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
