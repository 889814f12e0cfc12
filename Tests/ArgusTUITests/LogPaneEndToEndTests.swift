import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The log pane of the real `argus-tui` in tmux against the real server (issue 9: items 15 and 18).
@Suite("argus-tui log pane end to end (tmux)", .ownThread)
struct LogPaneEndToEndTests {
    func tui(_ s: TestServer, _ token: String, _ target: String) throws -> Tmux {
        try TUIEndToEndTests().tui(s, token, [target])
    }

    /// 500 lines "step N: fine", but five (all older than the 200-line tail the view loads) are about errors.
    static let errors: [Int: (level: String, line: String)] = [
        3: ("info", "step 3: ERROR in shard 1"), 40: ("error", "step 40: loss is nan"),
        77: ("warning", "step 77: retrying after error"), 150: ("info", "step 150: Error budget spent"),
        222: ("info", "step 222: eRRoR again"),
    ]

    static func seedLog(_ c: HTTPClient, batch: String, job: String) throws {
        try TUIEndToEndTests.seedJob(c, batch: batch, job: job)
        let events: [JSON] = (0..<500).map { i in
            let (level, line) = errors[i] ?? ("info", "step \(i): fine")
            return Ev.make("log_line", batch: batch, job: job, data: ["line": .string(line), "level": .string(level)])
        }
        for start in stride(from: 0, to: events.count, by: 250) {
            let r = try c.postBatch(Array(events[start..<start + 250]))
            guard r.json?["accepted"]?.intValue == 250 else { throw TestFailure("seeding failed: \(r.text)") }
        }
    }

    @Test("/ERROR finds the job's five error lines in its whole history; Home pages older lines in up to the first")
    func searchAndPageBack() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedLog(s.client(token), batch: "b1", job: "j1")
        let t = try tui(s, token, "b1/j1")
        try t.wait("the live tail") { $0.contains("● live") && $0.contains("step 499: fine") }
        #expect(!t.capture().contains("step 3: ERROR"), "the loaded tail is the newest 200 lines")
        t.send("/")
        t.send("-l", "ERROR")
        t.send("Enter")
        // The lines are part of the wait: a capture can catch the frame half drawn, its header already counting the
        // matches and the pane not yet showing them.
        let found = try t.wait("the server's matches") { screen in
            screen.contains("filter \"ERROR\": 5 matches") && Self.errors.values.allSatisfy { screen.contains($0.line) }
        }
        for (_, e) in Self.errors { #expect(found.contains(e.line), "\(e.line)") }
        #expect(!found.contains("no line matches"))
        t.send("Escape")
        try t.wait("the tail again") { $0.contains("LOG  (following)") && $0.contains("step 499: fine") }
        t.send("Home")
        try t.wait("the page before the tail") { $0.contains("step 100: fine") && !$0.contains("loading older") }
        t.send("Home")
        // The pane settles full from the top: lines 0 to 5 on consecutive rows, no run of empty rows under line 0
        // (the old bug). The condition is part of the wait: a capture may catch the frame before the page lands.
        let top = try t.wait("the first line of the log, the pane full beneath it") { screen in
            let rows = screen.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            guard screen.contains("start of the log"), let first = rows.firstIndex(where: { $0.contains("step 0: fine") }),
                first + 5 < rows.count
            else { return false }
            return rows[first + 1].contains("step 1: fine") && rows[first + 5].contains("step 5: fine")
        }
        #expect(top.contains("step 2: fine"))
        t.send("End")
        try t.wait("following again") { $0.contains("LOG  (following)") && $0.contains("step 499: fine") }
        t.send("q")
    }

    @Test("a log line delivered late (an SDK's spill after an outage) shows where it was written, not at the bottom")
    func lateLine() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try TUIEndToEndTests.seedJob(c, batch: "b1", job: "j1")
        let now = Timestamp.now()
        func line(_ text: String, _ seconds: Double) -> JSON {
            Ev.make("log_line", batch: "b1", job: "j1", data: ["line": .string(text)], ts: now.adding(seconds: seconds).iso)
        }
        try c.mustPost(line("LATE live at +0", 0))
        let t = try tui(s, token, "b1/j1")
        try t.wait("the live tail") { $0.contains("● live") && $0.contains("LATE live at +0") }
        try c.mustPost(line("LATE live at +2", 2))
        try t.wait("the second live line") { $0.contains("LATE live at +2") }
        #expect(try c.postBatch([line("LATE spilled at +1", 1)]).status == 200)
        let screen = try t.wait("the late line between the two it was written between") { screen in
            let rows = screen.split(separator: "\n").map(String.init)
            let at = ["+0", "+1", "+2"].map { mark in rows.firstIndex { $0.contains("at \(mark)") } }
            guard let a = at[0], let b = at[1], let c = at[2] else { return false }
            return a < b && b < c
        }
        #expect(screen.contains("LATE spilled at +1"))
        t.send("q")
    }

    @Test("a long log line is read to its end with →; a long failure reason wraps instead of being cut")
    func longLinesAndFailureReason() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try TUIEndToEndTests.seedJob(c)
        let long = "BEGIN " + (0..<60).map { String(format: "w%03d", $0) }.joined(separator: " ") + " THE-END"
        try c.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": .string(long), "level": "warning"]))
        let reason =
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity; 75.01 GiB already allocated; 1.2 GiB free; 77.0 GiB reserved in total by PyTorch) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid fragmentation. REASON-END"
        try c.mustPost(Ev.make("job_failed", batch: "b1", job: "j1", data: ["reason": .string(reason), "elapsed_s": 3]))
        let t = try tui(s, token, "b1/j1")
        let first = try t.wait("the failed job") { $0.contains("● live") && $0.contains("BEGIN w000") }
        #expect(first.contains("REASON-END"), "the whole reason, wrapped:\n\(first)")
        #expect(first.contains("Failed: RuntimeError: CUDA out of memory."))
        #expect(first.contains("→ reads long lines"))
        #expect(!first.contains("THE-END"))
        for _ in 0..<6 { t.send("Right") }
        let shifted = try t.wait("the end of the long line") { $0.contains("w059 THE-END") }
        #expect(shifted.contains("b1 / j1"), "→ scrolls; it does not leave the job screen")
        t.send("?")
        let help = try t.wait("the help overlay") { $0.contains("scroll long log lines right") }
        #expect(help.contains(" keys on the job screen ") && !help.contains("filter the list as you type"), "\(help)")
        t.send("x")
        for _ in 0..<6 { t.send("Left") }
        try t.wait("back at the start of the lines") { $0.contains("BEGIN w000") && $0.contains("→ reads long lines") }
        t.send("q")
    }
}
