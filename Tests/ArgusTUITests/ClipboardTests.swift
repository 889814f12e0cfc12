import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

@Suite("Copy command (OSC 52)", .ownThread)
struct ClipboardTests {
    @Test("the escape is OSC 52 with base64 text; inside tmux it is sent as is and again wrapped in the passthrough")
    func sequences() {
        let plain = OSC52.sequence(for: "python train.py --lr 3e-4", inTmux: false)
        #expect(plain == "\u{1B}]52;c;cHl0aG9uIHRyYWluLnB5IC0tbHIgM2UtNA==\u{07}")
        let wrapped = OSC52.sequence(for: "python train.py --lr 3e-4", inTmux: true)
        #expect(wrapped == plain + "\u{1B}Ptmux;\u{1B}\u{1B}]52;c;cHl0aG9uIHRyYWluLnB5IC0tbHIgM2UtNA==\u{07}\u{1B}\\")
    }

    @Test("c copies the recorded command and shows it for manual selection; without one it says why")
    func copyKey() {
        var s = Fixture.state(Fixture.view())
        #expect(Update.apply(&s, .key(.char("c"))) == [.copy("python train.py --lr 3e-4")])
        #expect(ScreenView.render(s).text.contains("python train.py --lr 3e-4"))
        #expect(ScreenView.render(s).text.contains("OSC 52"))
        _ = Update.apply(&s, .key(.char("x")))
        #expect(s.popup == nil)
        var none = Fixture.state(Fixture.view())
        none.job?.command = nil
        none.job?.actions["copy_command"] = (false, "no command recorded")
        #expect(Update.apply(&none, .key(.char("c"))) == [])
        #expect(none.status?.contains("no command recorded") == true)
    }

    @Test("the popup cuts a wide command by the columns its characters take: inside the box, nothing lost")
    func popupWithWideText() throws {
        var s = Fixture.state(Fixture.view())
        let command = "python 训练脚本.py --名前 " + String(repeating: "日本語テキスト", count: 12) + " cafe\u{301} café"
        s.job?.command = command
        s.width = 80
        s.height = 24
        _ = Update.apply(&s, .key(.char("c")))
        let rows = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        // The box spans columns 4..<76: each of its rows, cut there, keeps both borders.
        let top = try #require(rows.firstIndex { TextWidth.drop($0, columns: 4).hasPrefix("┌─ Command") })
        let bottom = try #require(rows.firstIndex { TextWidth.drop($0, columns: 4).hasPrefix("└─ q quits · any other key closes") })
        let box = rows[(top + 1)..<bottom].map { TextWidth.truncate(TextWidth.drop($0, columns: 4), 72, ellipsis: "") }
        for row in box { #expect(TextWidth.of(row) == 72 && row.hasPrefix("│ ") && row.hasSuffix("│"), "\(row)") }
        // Every character is on a row of the box (the first is blank), in order: the rows are the command cut at
        // 68 columns, each character whole.
        let cut = TextWidth.chop(command, 68)
        #expect(cut.count == 3 && cut.joined() == command)
        for (k, part) in cut.enumerated() { #expect(box[1 + k].hasPrefix("│ " + part), "\(box[1 + k])") }
        for row in TextWidth.chop(command, 9) { #expect(TextWidth.of(row) <= 9 && TextWidth.of(row) >= 8, "\(row)") }
        #expect(TextWidth.chop(command, 9).joined() == command)
    }

    @Test("a command taller than the popup is never cut silently: the footer says which rows show, the arrows scroll to its end")
    func longCommandScrolls() throws {
        var s = Fixture.state(Fixture.view())
        let command = (0..<150).map { "--arg\($0) value\($0)" }.joined(separator: " ") + " --end FINALE"
        s.job?.command = command
        s.width = 80
        s.height = 24
        _ = Update.apply(&s, .key(.char("c")))
        let first = ScreenView.render(s).text
        #expect(first.contains("--arg0 value0") && !first.contains("FINALE"))
        let footer = try #require(first.split(separator: "\n").first { $0.contains("└─ rows 1–") })
        #expect(footer.contains("↑↓ scroll · any other key closes"), "\(footer)")
        _ = Update.apply(&s, .key(.down))
        #expect(s.popup != nil && ScreenView.render(s).text.contains("└─ rows 2–"))
        for _ in 0..<10 { _ = Update.apply(&s, .key(.pageDown)) }
        let last = ScreenView.render(s).text
        #expect(last.contains("--end FINALE"), "\(last)")
        let rows = TextWidth.chop(command, 68).count
        #expect(last.contains("of \(rows) ·") && last.contains("–\(rows) of"))
        // Scrolled past the end, one step up still moves the window (the position stops at the last full window).
        let visible = ScreenView.popupLayout(s, command).visible
        #expect(s.popupScroll == rows - visible)
        _ = Update.apply(&s, .key(.up))
        #expect(ScreenView.render(s).text.contains("rows \(rows - visible)–\(rows - 1) of \(rows)"))
        s.glyphs = .ascii
        #expect(ScreenView.render(s).text.contains("rows \(rows - visible)-\(rows - 1) of \(rows) | up/down scroll |"))
        _ = Update.apply(&s, .key(.char("x")))
        #expect(s.popup == nil && s.popupScroll == 0)
    }

    @Test("in tmux, pressing c writes OSC 52 as is and wrapped in the passthrough; a tmux with set-clipboard on has it in its buffer")
    func copyInTmux() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(
            Ev.make("batch_start", batch: "b1", data: ["command": "python train.py --epochs 50", "cwd": "/srv/run"]))
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1"))
        let t = try Tmux([Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        try t.wait("live") { $0.contains("● live") && $0.contains("[c] Copy command") }
        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("argus-pipe-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: raw) }
        try runTool("/usr/bin/env", ["tmux", "-L", t.socket, "pipe-pane", "-O", "-t", t.session, "cat > '\(raw.path)'"])
        // A tmux that takes OSC 52 from its panes (set-clipboard on) puts the command in its own buffer.
        try runTool("/usr/bin/env", ["tmux", "-L", t.socket, "set", "-s", "set-clipboard", "on"])
        t.send("c")
        try t.wait("the popup") { $0.contains("copied to the clipboard") && $0.contains("python train.py --epochs 50") }
        let expected = OSC52.sequence(for: "python train.py --epochs 50", inTmux: true)
        var bytes = ""
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline {
            bytes = (try? String(contentsOf: raw, encoding: .utf8)) ?? ""
            if bytes.contains(expected) { break }
            usleep(100_000)
        }
        #expect(bytes.contains(expected))
        var buffer = ""
        let bufferDeadline = Date().addingTimeInterval(15)
        while Date() < bufferDeadline, buffer != "python train.py --epochs 50" {
            buffer = (try? runTool("/usr/bin/env", ["tmux", "-L", t.socket, "show-buffer"]))?.1 ?? ""
            usleep(100_000)
        }
        #expect(buffer == "python train.py --epochs 50", "tmux's buffer: \(buffer)")
        t.send("q")
    }
}
