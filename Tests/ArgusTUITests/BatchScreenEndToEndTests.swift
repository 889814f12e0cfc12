import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The batch screen, the compare overlay and export, in the real `argus-tui` (tmux) against the real server.
@Suite("Batch screen, compare and export end to end (tmux)", .ownThread)
struct BatchScreenEndToEndTests {
    func tui(_ s: TestServer, _ token: String, _ args: [String]) throws -> Tmux {
        try Tmux([Binaries.path("argus-tui")] + args, env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
    }

    /// The rows of the batch screen's table, by job id, top to bottom.
    static func order(_ pane: String, _ ids: [String]) -> [String] {
        pane.split(separator: "\n").compactMap { line in ids.first { line.contains(" \($0) ") } }
    }

    @Test("a batch the server stopped says why on its batch screen, opened after it ended")
    func stoppedReason() throws {
        // A Stop nobody answers: the stall detector ends it stopped, with its reason, after 3 s.
        let s = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "halt"))
        try c.mustPost(Ev.make("job_start", batch: "halt", job: "j1"))
        #expect(try c.post("/api/batches/halt/stop", json: [:]).status == 200)
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, try c.mustGet("/api/batches/halt")["status"] != "stopped" { usleep(200_000) }
        let reason = try #require(try c.mustGet("/api/batches/halt")["end_reason"]?.stringValue)
        #expect(
            reason.hasPrefix("Stopped without confirmation: the run had sent nothing for ")
                && reason.hasSuffix(" s and did not answer the Stop within 3 s."))
        let t = try tui(s, token, ["halt"])
        try t.wait("the batch screen with the reason") { $0.contains("● live") && $0.contains("⚠ Stopped without confirmation") }
        t.send("q")
        // One frame of the batch screen says it too (it gets no summary frame to learn it from).
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "120", "--height", "24", "halt"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0 && out.contains("⚠ Stopped without confirmation: the run had sent nothing for "), "\(out)\(err)")
    }

    @Test("sorted by val loss, the rows re-sort live as epochs arrive over SSE; / narrows them; Enter opens the job")
    func liveSort() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "sweep", data: ["n_total_jobs": 3]))
        let vals = ["seed-a": 0.9, "seed-b": 0.5, "seed-c": 0.7]
        for (job, val) in vals.sorted(by: { $0.key < $1.key }) {
            try c.mustPost(Ev.make("job_start", batch: "sweep", job: job, data: ["model": "mlp"]))
            try c.mustPost(Ev.epoch("sweep", job, 1, val: val))
        }
        let ids = vals.keys.sorted()
        let t = try tui(s, token, ["sweep"])
        try t.wait("the batch screen, live") { $0.contains("● live") && $0.contains("VAL LOSS") && $0.contains("seed-c") }
        // > steps through status, job, model, epoch, elapsed to val loss.
        for _ in 0..<6 { t.send(">") }
        // (A capture can fall between two rows' updates: wait for the whole order, not only the header.)
        var pane = try t.wait("sorted by val loss") { $0.contains("VAL LOSS▲") && Self.order($0, ids) == ["seed-b", "seed-c", "seed-a"] }
        #expect(Self.order(pane, ids) == ["seed-b", "seed-c", "seed-a"], "\(pane)")
        // seed-a improves past the others: its row moves to the top with no key pressed.
        try c.mustPost(Ev.epoch("sweep", "seed-a", 2, val: 0.1))
        pane = try t.wait("seed-a re-sorted to the top") { Self.order($0, ids) == ["seed-a", "seed-b", "seed-c"] }
        #expect(Self.order(pane, ids) == ["seed-a", "seed-b", "seed-c"], "\(pane)")
        #expect(pane.contains("0.1 @2"), "the best val loss and its epoch: \(pane)")
        // A job that starts while you watch appears.
        try c.mustPost(Ev.make("job_start", batch: "sweep", job: "seed-d", data: ["model": "mlp"]))
        try t.wait("the new job's row") { $0.contains(" seed-d ") }
        t.send("I")
        pane = try t.wait("descending") {
            $0.contains("VAL LOSS▼") && Self.order($0, ids + ["seed-d"]) == ["seed-c", "seed-b", "seed-a", "seed-d"]
        }
        // Largest first; a job with no val loss yet stays last either way.
        #expect(Self.order(pane, ids + ["seed-d"]) == ["seed-c", "seed-b", "seed-a", "seed-d"], "\(pane)")
        t.send("/")
        t.send("-l", "seed-c")
        t.send("Enter")
        try t.wait("filtered to seed-c") { Self.order($0, ids + ["seed-d"]) == ["seed-c"] }
        t.send("Enter")
        try t.wait("seed-c's job screen") { $0.contains("sweep / seed-c") && $0.contains("train_loss") }
    }

    @Test("a long paste into / on a 200-job batch stops at 256 characters and says so; the screen keeps answering")
    func pastedFilter() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "wide"))
        for chunk in stride(from: 0, to: 200, by: 100) {
            #expect(try c.postBatch((chunk..<chunk + 100).map { Ev.make("job_start", batch: "wide", job: "j\($0)") }).status == 200)
        }
        let t = try tui(s, token, ["wide"])
        try t.wait("the batch screen") { $0.contains(" j0 ") && $0.contains("● live") }
        t.send("/")
        // Before, each character split the whole query again for every row: this paste froze the screen for minutes.
        t.send("-l", String(repeating: "j1 日本🚀", count: 600))
        let pane = try t.wait("the full filter said") { $0.contains("A filter holds at most 256 characters.") }
        #expect(pane.contains("No job matches"), "\(pane)")
        t.send("Escape")
        try t.wait("every row back") { $0.contains(" j0 ") && !$0.contains("No job matches") }
    }

    @Test("compare: jobs marked in two batches overlay on one chart with a legend entry and row each; m switches the metric")
    func compareAcrossBatches() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        for (batch, jobs) in [("sweep-a", ["lr1", "lr2"]), ("sweep-b", ["lr3"])] {
            try c.mustPost(Ev.make("batch_start", batch: batch))
            for job in jobs {
                try c.mustPost(Ev.make("job_start", batch: batch, job: job))
                // lrK's train loss is (K+1)/(epoch+1).
                let k = Double(String(job.last!))!
                for n in 0..<20 {
                    let train = (k + 1) / Double(n + 1)
                    try c.mustPost(Ev.epoch(batch, job, n, train: train, val: train + 0.05))
                }
            }
        }
        let t = try tui(s, token, [])
        try t.wait("the picker") { $0.contains("sweep-a") && $0.contains("sweep-b") }
        // The picker lists the newest first: sweep-b, then sweep-a.
        t.send("Down")
        t.send("Enter")
        try t.wait("sweep-a's jobs") { $0.contains(" lr1 ") && $0.contains(" lr2 ") }
        t.send("Space")
        t.send("Space")
        try t.wait("two marks") { $0.contains("2 jobs marked") }
        t.send("Escape")
        try t.wait("the picker, sweep-a marked") { $0.contains("◆") && $0.contains("sweep-b") }
        t.send("Up")
        t.send("Enter")
        try t.wait("sweep-b's jobs") { $0.contains(" lr3 ") }
        t.send("Space")
        t.send("C")
        // Each job's epochs arrive on their own: wait until no row says it is still loading.
        var pane = try t.wait("the overlay") {
            $0.contains("compare 3 jobs · train_loss") && $0.contains("1━lr1") && $0.contains("3━lr3")
                && $0.contains("LOWEST") && !$0.contains("loading")
        }
        #expect(pane.contains("0.1 @19"), "lr1's lowest train loss, 2/20: \(pane)")
        #expect(pane.contains("0.2 @19"), "lr3's: 4/20: \(pane)")
        t.send("m")
        try t.wait("the metric chooser") { $0.contains("metric to compare") && $0.contains("( ) val_loss") }
        t.send("Down")
        t.send("Enter")
        pane = try t.wait("val loss overlaid") { $0.contains("compare 3 jobs · val_loss") }
        #expect(pane.contains("0.15 @19"))
        t.send("Escape")
        try t.wait("back on sweep-b's batch screen") { $0.contains(" lr3 ") && $0.contains("VAL LOSS") }
    }

    @Test("x on the job screen writes the job's epochs to BATCH_JOB.csv in the current directory, never over a file")
    func exportKey() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b1"))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1"))
        for n in 0..<5 { try c.mustPost(Ev.epoch("b1", "j1", n, train: Double(10 - n), extra: [("lr", 0.5)])) }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "someone else's file\n".write(to: dir.appendingPathComponent("b1_j1.csv"), atomically: true, encoding: .utf8)
        let t = try Tmux(
            ["/bin/sh", "-c", "cd '\(dir.path)' && exec '\(Binaries.path("argus-tui"))' b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        try t.wait("the job screen") { $0.contains("b1 / j1") && $0.contains("● live") && $0.contains("train_loss") }
        t.send("x")
        let saved = dir.appendingPathComponent("b1_j1-1.csv").path
        try t.wait("the status line naming the file") { $0.contains("Saved the epochs to \(saved)") }
        let csv = try String(contentsOfFile: saved, encoding: .utf8)
        let lines = csv.split(separator: "\r\n").map(String.init)
        #expect(lines.first == "epoch,timestamp,lr,train_loss,val_loss", "\(csv)")
        #expect(lines.count == 6 && lines[5].hasPrefix("4,") && lines[5].contains(",0.5,6,"), "\(csv)")
        #expect(try String(contentsOfFile: dir.appendingPathComponent("b1_j1.csv").path, encoding: .utf8) == "someone else's file\n")
    }

    @Test(
        "--compare B/J,B/J opens the overlay; with --dump it prints one frame (exit 1 when a job cannot be shown); bad lists are one sentence and exit 1"
    )
    func compareFlag() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        for job in ["lr1", "lr2"] {
            try c.mustPost(Ev.make("job_start", batch: "b", job: job))
            for n in 0..<10 { try c.mustPost(Ev.epoch("b", job, n, train: (job == "lr1" ? 1.0 : 2.0) / Double(n + 1))) }
        }
        let env = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let bin = Binaries.path("argus-tui")
        let (rc, out, err) = try runTool(bin, ["--dump", "--width", "100", "--height", "24", "--compare", "b/lr1,b/lr2,b/gone"], env: env)
        // One job of three cannot be shown: the frame shows the other two and says why; the exit says it to a script.
        #expect(rc == 1 && err == "argus-tui: Job 'gone' of batch 'b' not found.\n", "\(rc) \(err)")
        #expect(out.contains("compare 3 jobs · train_loss") && out.contains("1━lr1 0.1") && out.contains("2━lr2 0.2"), "\(out)")
        #expect(out.contains("0.1 @9") && out.contains("0.2 @9"), "\(out)")
        #expect(out.contains("gone      ✗ Job 'gone' of batch 'b' not found."), "\(out)")
        // None of them to show is an error, as for one job: one sentence and exit 1, not a frame saying "● live".
        let (rcNone, outNone, errNone) = try runTool(bin, ["--dump", "--compare", "b/gone,b/gone2"], env: env)
        #expect(rcNone == 1 && outNone.isEmpty && errNone == "argus-tui: Job 'gone' of batch 'b' not found.\n", "\(errNone)")
        let (rcDown, outDown, errDown) = try runTool(
            bin, ["--dump", "--compare", "b/lr1,b/lr2"], env: ["ARGUS_URL": "http://127.0.0.1:9", "ARGUS_TOKEN": token])
        #expect(rcDown == 1 && outDown.isEmpty && errDown.hasPrefix("argus-tui: Cannot reach http://127.0.0.1:9"), "\(errDown)")
        // https to this plain-http server: the sentence says what to try.
        let tls = "https://" + s.url.dropFirst("http://".count)
        let (rcTLS, _, errTLS) = try runTool(bin, ["--dump", "--compare", "b/lr1,b/lr2"], env: ["ARGUS_URL": tls, "ARGUS_TOKEN": token])
        #expect(rcTLS == 1 && errTLS.contains("Is the server plain http? Try \(s.url)."), "\(errTLS)")
        for (args, sentence) in [
            (["--compare", "b/lr1"], "--compare needs at least two different jobs"),
            (["--compare", "b/lr1,b"], "--compare needs BATCH/JOB items separated by commas, got 'b'."),
            (["--compare", "b/lr1,b/lr2", "b/lr1"], "--compare takes the jobs itself"),
        ] {
            let (rc, _, err) = try runTool(bin, ["--dump"] + args, env: env)
            #expect(rc == 1 && err.contains(sentence), "\(args): \(err)")
        }
        // Interactive: the overlay opens at once, and Esc goes on to the picker.
        let t = try tui(s, token, ["--compare", "b/lr1,b/lr2"])
        try t.wait("the overlay") { $0.contains("compare 2 jobs") && $0.contains("1━lr1") }
        t.send("Escape")
        try t.wait("the picker") { $0.contains("recent batches") }
    }
}
