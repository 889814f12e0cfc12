import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// End-to-end checks of what the screen shows in hard cases: extreme values, many series, long ids, tiny frames.
extension TUIEndToEndTests {
    /// Posts an epoch whose `train_loss` is written literally (e.g. `NaN`, `-Infinity`, as Python's json emits).
    static func postRawEpoch(_ c: HTTPClient, _ batch: String, _ job: String, _ n: Int, trainLoss literal: String)
        throws
    {
        let body = Ev.make(
            "job_epoch", batch: batch, job: job, data: ["epoch": JSON(n), "train_loss": "@@", "val_loss": 0.5]
        ).serialized().replacingOccurrences(of: "\"@@\"", with: literal)
        let r = try c.request("POST", "/api/events", body: Array(body.utf8))
        guard r.status == 200 else { throw TestFailure("POST \(literal) → \(r.status): \(r.text)") }
    }

    @Test("extreme values (1e308, -5.5, NaN, ±Infinity): the curve keeps its shape, outliers are marked")
    func extremeValuesOnScreen() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c, epochs: 0)
        for n in 0..<40 {
            let literal =
                switch n {
                case 10: "1e308"
                case 20: "-5.5"
                case 25: "NaN"
                case 30: "Infinity"
                case 35: "-Infinity"
                default: String(2.0 * exp(-Double(n) / 12) + 0.2)
                }
            try Self.postRawEpoch(c, "b1", "j1", n, trainLoss: literal)
        }
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "100", "--height", "40", "b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0, "\(err)")
        let rows = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let legend = try #require(rows.firstIndex { $0.contains("1━train_loss") })
        #expect(rows[legend].contains("1 off-scale ▲") && rows[legend].contains("3 non-finite ✕"), "\(rows[legend])")
        #expect(rows[legend + 1].contains("▲") && rows[legend + 1].filter { $0 == "✕" }.count == 3)
        // The y labels: whole finite numbers, the bottom one below -5.5.
        let labels = rows[(legend + 1)...].prefix(20).compactMap { row -> Double? in
            guard let tick = row.firstIndex(of: "┤") else { return nil }
            return Double(row[..<tick].trimmingCharacters(in: .whitespaces))
        }
        #expect(labels.count == 3 && labels.allSatisfy(\.isFinite) && labels.last! <= -5.5, "\(labels)")
        // The curve spreads over many rows (before the fix every finite point sat on one).
        let curveRows = rows[(legend + 1)...].prefix(20).filter { row in
            row.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) }
        }
        #expect(curveRows.count >= 8, "\(out)")
    }

    @Test("absurd figures (elapsed 1e300 s, util/memory 1e308) do not crash --dump; the tiles say >100y, and no data for what no GPU has")
    func absurdFiguresOnScreen() throws {
        let (s, token, c) = try Self.seededServer()
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "b1", data: ["gpus": [["util_pct": 1e308, "mem_mb": 1e308]]]))
        try c.mustPost(Ev.make("job_done", batch: "b1", job: "j1", data: ["elapsed_s": 1e300]))
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "100", "--height", "30", "b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0, "\(err)")
        let rows = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let values = try #require(rows.first { $0.contains(">100y") }, "\(out)")
        // No GPU has them (`GPUFigures.figure`): no reading, where they once read ">999%" and ">1 PiB".
        #expect(values.components(separatedBy: "no data").count == 3 && !values.contains(">999%"), "\(values)")
        #expect(!out.contains("inf") && !out.contains("Fatal"), "\(out)")
    }

    @Test("a log line of emoji (🚀 ✅ ⚡) fits the pane in a real terminal: its › marker is in the last column")
    func emojiLogLine() throws {
        let (s, token, c) = try Self.seededServer()
        try c.mustPost(
            Ev.make(
                "log_line", batch: "b1", job: "j1",
                data: ["line": .string("EMOJI " + String(repeating: "🚀✅⚡ ", count: 40)), "level": "info"]))
        try c.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "AFTER-MARK", "level": "info"]))
        let t = try tui(s, token, ["b1/j1"], env: [:])
        let pane = try t.wait("the emoji line") { $0.contains("AFTER-MARK") }
        let rows = pane.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let row = try #require(rows.first { $0.contains("EMOJI") }, "\(pane)")
        // tmux draws each of these emoji two columns wide: counted as one, the line ran past the edge.
        #expect(row.hasSuffix("›"), "\(row)")
        let next = try #require(rows.firstIndex(of: row)).advanced(by: 1)
        #expect(rows[next].contains("AFTER-MARK"), "\(pane)")
    }

    /// A log line that tries every trick: set the title (OSC), clear the screen (CSI), a C1 CSI, BEL, and bidi
    /// overrides, isolates and marks that would reorder the row; plus a tab.
    static let hostileLine =
        "T1\u{1B}]0;PWNED\u{07}T2\u{1B}[2JT3\u{9B}31mT4\u{85}T5\u{202E}evil\u{202C}T6\u{2066}x\u{2069}"
        + "\u{200E}\u{200F}\u{061C}\u{202A}\u{202B}\u{202D}\u{2067}\u{2068}T7\tTAB"

    /// Code points that must not reach the terminal from network text (curses's own ESC sequences aside).
    static func forbidden(_ c: Unicode.Scalar) -> Bool {
        (0x80...0x9F).contains(c.value) || [0x061C, 0x200E, 0x200F].contains(c.value)
            || (0x202A...0x202E).contains(c.value) || (0x2066...0x2069).contains(c.value)
    }

    @Test(
        "--dump: escape sequences in a log line go whole; other controls, C1 and bidi overrides are drawn as spaces; a tab reaches the next multiple of 8"
    )
    func hostileLogLineDump() throws {
        let (s, token, c) = try Self.seededServer()
        try c.mustPost(
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": .string(Self.hostileLine), "level": "info"]))
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "120", "--height", "30", "b1/j1"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc == 0, "\(err)")
        #expect(!out.unicodeScalars.contains { Self.forbidden($0) || ($0.value < 0x20 && $0 != "\n") }, "\(out)")
        let row = try #require(out.split(separator: "\n").first { $0.contains("T1") }, "\(out)")
        // The title (OSC), the clear (CSI) and the C1 CSI go with their text; each other control is one space; the tab
        // reaches the next multiple of 8 of the line's columns.
        #expect(row.hasSuffix("T1T2T3T4 T5 evil T6 x         T7        TAB"), "\(row)")
    }

    @Test("tmux pipe-pane: no bidi or C1 code point and no injected escape reaches the terminal from a log line")
    func hostileLogLineTerminal() throws {
        let (s, token, c) = try Self.seededServer()
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the live job screen") { $0.contains("● live") }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("argus-pipe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try t.recordOutput(to: file)
        try c.mustPost(
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": .string(Self.hostileLine), "level": "info"]))
        try t.wait("the hostile line") { $0.contains("TAB") }
        // tmux hands the pane's output to the recording's `cat` a moment after drawing it.
        var written = ""
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !written.contains("TAB") {
            written = String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self)
            usleep(50_000)
        }
        #expect(written.contains("T1T2T3T4"), "the line was drawn while recording")
        #expect(!written.contains("PWNED"), "the title sequence's text is not shown either")
        #expect(!written.unicodeScalars.contains { Self.forbidden($0) })
        #expect(!written.contains("\u{1B}]0;PWNED") && !written.contains("\u{07}T2") && !written.contains("\u{1B}[2JT3"))
        t.send("q")
    }

    /// `hostileLine` with a field's own marker in front, so each field's text can be found on screen.
    static func hostile(_ marker: String) -> String { marker + "\u{1B}]0;PWNED\u{07}\u{9B}2J\u{202E}\u{1B}[5mZ" }

    @Test("every text the server sends (command, cwd, host, commit, model, failure reason, metric key) is made safe")
    func hostileFieldsEverywhere() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "b1",
                data: ["command": .string(Self.hostile("CMD")), "cwd": .string(Self.hostile("CWD"))],
                source: ["project": "p", "host": .string(Self.hostile("HST")), "commit": .string(Self.hostile("SHA"))]))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1", data: ["model": .string(Self.hostile("MDL"))]))
        try c.mustPost(Ev.epoch("b1", "j1", 0, extra: [(Self.hostile("KEY"), 1.5)]))
        try c.mustPost(Ev.make("job_failed", batch: "b1", job: "j1", data: ["reason": .string(Self.hostile("WHY"))]))
        let env = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "160", "--height", "40", "b1/j1"], env: env)
        #expect(rc == 0, "\(err)")
        for marker in ["CMD", "CWD", "HST", "WHY", "KEY"] { #expect(out.contains(marker), "\(marker) is on screen:\n\(out)") }
        #expect(!out.unicodeScalars.contains { Self.forbidden($0) || ($0.value < 0x20 && $0 != "\n") }, "\(out)")
        // The TUI starts a second late, so its very first frame (everything drawn at once) is recorded.
        let t = try Tmux(["/bin/sh", "-c", "sleep 1; exec \"$0\" \"$@\"", Binaries.path("argus-tui"), "b1/j1"], env: env)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("argus-pipe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try t.recordOutput(to: file)
        try t.wait("the job screen") { $0.contains("CMD") && $0.contains("WHY") }
        var written = ""
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !(written.contains("CMD") && written.contains("WHY")) {
            written = String(decoding: (try? Data(contentsOf: file)) ?? Data(), as: UTF8.self)
            usleep(50_000)
        }
        #expect(written.contains("CMD") && written.contains("WHY"), "the fields were drawn while recording")
        #expect(!written.unicodeScalars.contains { Self.forbidden($0) })
        #expect(!written.contains("\u{1B}]0;PWNED") && !written.contains("\u{1B}[5mZ") && !written.contains("\u{07}"))
        t.send("q")
    }

    @Test("a combining accent (e + U+0301) reaches the terminal on its letter: tmux shows Café, not Cafe")
    func combiningMarkOnScreen() throws {
        let (s, token, c) = try Self.seededServer()
        try c.mustPost(
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": "ACCENT Cafe\u{301} ok", "level": "info"]))
        let t = try tui(s, token, ["b1/j1"])
        let pane = try t.wait("the accented line") { $0.contains("ACCENT") }
        #expect(pane.contains("ACCENT Cafe\u{301} ok") || pane.contains("ACCENT Café ok"), "\(pane)")
        t.send("q")
    }

    @Test("log lines show their time in the local zone, as the status line's clocks do (TZ=IST-5:30)")
    func logTimesInLocalTime() throws {
        let (s, token, c) = try Self.seededServer()
        try c.mustPost(
            Ev.make(
                "log_line", batch: "b1", job: "j1", data: ["line": "ZONED line", "level": "info"],
                ts: "2026-12-04T18:19:10Z"))
        // POSIX zone strings: no time zone database needed ("IST-5:30" is UTC+5:30).
        for (zone, shown) in [("UTC0", "18:19:10"), ("IST-5:30", "23:49:10")] {
            let (rc, out, err) = try runTool(
                Binaries.path("argus-tui"), ["--dump", "--width", "120", "--height", "30", "b1/j1"],
                env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "TZ": zone])
            #expect(rc == 0, "\(err)")
            let line = out.split(separator: "\n").first { $0.contains("ZONED line") }
            #expect(line?.contains("\(shown) INFO") == true, "\(zone): \(line ?? "no log line")")
        }
    }

    @Test("End and Home work under tmux with TERM=xterm-256color inside (ESC [4~ and ESC [1~), not read as Esc")
    func homeEndUnderTmuxWithXtermTerm() throws {
        let (s, token, _) = try Self.seededServer()
        let t = try tui(s, token, ["b1/j1"], env: ["TERM": "xterm-256color"])
        try t.wait("the job screen") { $0.contains("b1 / j1") && $0.contains("1━train_loss") }
        t.send("Tab")
        t.send("End")
        t.send("Home")
        Thread.sleep(forTimeInterval: 0.6)
        let pane = t.capture()
        // Read as Esc, either key went back to the batch screen (its header names no job).
        #expect(pane.contains("b1 / j1") && pane.contains("1━train_loss"), "\(pane)")
        t.send("q")
    }

    @Test("fourteen series: the legend says +N hidden; m opens a chooser that reaches every one; NO_COLOR has markers")
    func manySeries() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c, epochs: 0)
        for n in 0..<5 {
            let extra = (1...12).map { (String(format: "metric_%02d", $0), JSON(Double($0) + Double(n) / 10)) }
            try c.mustPost(Ev.epoch("b1", "j1", n, extra: extra))
        }
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the legend with more series than fit") {
            $0.contains("1━train_loss") && $0.range(of: #"\+\d+ hidden \(m\)"#, options: .regularExpression) != nil
        }
        t.send("m")
        try t.wait("the chooser") { $0.contains("chart series: 2 of 14 shown") && $0.contains("metric_01") }
        t.send("End")
        t.send("Space")
        try t.wait("metric_12 toggled on") { $0.contains("chart series: 3 of 14 shown") && $0.contains("[✓]   ━ metric_12") }
        t.send("Escape")
        let pane = try t.wait("the chooser closed, metric_12 in the legend") {
            !$0.contains("chart series:") && $0.contains("━metric_12 12.4")
        }
        #expect(pane.contains("1━train_loss"))
        t.send("q")
        try t.wait("the TUI to exit") { _ in t.exitStatus != nil }
        #expect(t.exitStatus == 0)
        // Without colour each series has its own marker in the legend.
        let plain = try tui(s, token, ["b1/j1"], env: ["NO_COLOR": "1"])
        try plain.wait("distinct legend markers") { $0.contains("●1━train_loss") && $0.contains("■2━val_loss") }
        plain.send("q")
    }

    @Test("long ids keep their ends (exp-…-seed3 vs exp-…-seed4); no status is cut in the picker")
    func longIDs() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let batch = "exp-2026-04-23-sweep-learning-rate-warmup-cosine-restarts"
        let prefix = "exp-2026-04-23-patchtst-etth1-lr3e-4-warmup-cosine-"
        try Self.seedJob(c, batch: batch, job: prefix + "seed3", epochs: 1)
        try c.mustPost(Ev.make("job_start", batch: batch, job: prefix + "seed4"))
        // A stop request turns the batch (and its running jobs) to "stopping", the longest status there is.
        #expect(try c.post(APIPath.stop(batch), json: [:]).status == 200)
        let env = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let (rc, jobs, err) = try runTool(Binaries.path("argus-tui"), ["--dump", "--width", "80", "--height", "20", batch], env: env)
        #expect(rc == 0, "\(err)")
        #expect(jobs.contains("seed3") && jobs.contains("seed4") && jobs.contains("…"), "\(jobs)")
        let (_, screen, _) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--width", "80", "--height", "24", "\(batch)/\(prefix)seed3"], env: env)
        let header = String(screen.split(separator: "\n").first ?? "")
        #expect(header.contains("…") && header.contains("● live") && header.contains("seed3"), "\(header)")
        // The connection text drops whole parts ("· last event 0s ago") rather than ending in "last event 0s a…".
        #expect(header.range(of: #"● live( · last event [0-9]+[smhd] ago)? *$"#, options: .regularExpression) != nil, "\(header)")
        let (_, picker, _) = try runTool(Binaries.path("argus-tui"), ["--dump", "--width", "80", "--height", "20"], env: env)
        #expect(picker.contains("◐ stopping"), "\(picker)")
    }

    @Test("the live screen with its output or input redirected is one sentence pointing at --dump, not escape codes")
    func notATerminal() throws {
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["b1/j1"], env: ["ARGUS_URL": "http://127.0.0.1:9", "ARGUS_TOKEN": "unused"],
            stdin: "q")
        #expect(rc == 1 && out.isEmpty, "\(rc) \(out)")
        #expect(
            err
                == "argus-tui: the live screen needs a terminal on standard input and output: use --dump for one frame as text, or --export for the epochs.\n",
            "\(err)")
    }

    @Test(
        "--width/--height below 60×20 (negative too), past 1000×500 or not a number are one sentence naming the range, before any request")
    func dumpTooSmall() throws {
        // A negative number is taken as the option's value (not as an unknown option) and judged by the same rule.
        for size in [
            ["50", "12"], ["59", "40"], ["120", "19"], ["1001", "40"], ["-5", "40"], ["120", "-1"], ["abc", "40"],
            ["120", "30.5"], ["", "40"],
        ] {
            let (rc, out, err) = try runTool(
                Binaries.path("argus-tui"), ["--dump", "--width", size[0], "--height", size[1], "b1/j1"],
                env: ["ARGUS_URL": "http://127.0.0.1:9", "ARGUS_TOKEN": "unused"])
            #expect(rc == 1 && out.isEmpty, "\(size): \(rc) \(out)")
            #expect(
                err == "argus-tui: --width must be 60 to 1000 and --height 20 to 500: the screen needs at least 60×20.\n",
                "\(size): \(err)")
        }
    }
}
