import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

@Suite("Copy command (OSC 52)")
struct ClipboardTests {
    @Test("the escape is OSC 52 with base64 text; inside tmux it is wrapped in the passthrough with ESCs doubled")
    func sequences() {
        let plain = OSC52.sequence(for: "python train.py --lr 3e-4", inTmux: false)
        #expect(plain == "\u{1B}]52;c;cHl0aG9uIHRyYWluLnB5IC0tbHIgM2UtNA==\u{07}")
        let wrapped = OSC52.sequence(for: "python train.py --lr 3e-4", inTmux: true)
        #expect(wrapped == "\u{1B}Ptmux;\u{1B}\u{1B}]52;c;cHl0aG9uIHRyYWluLnB5IC0tbHIgM2UtNA==\u{07}\u{1B}\\")
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

    @Test("in tmux, pressing c writes the wrapped OSC 52 sequence to the terminal")
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
        t.send("c")
        try t.wait("the popup") { $0.contains("copied to the clipboard") && $0.contains("python train.py --epochs 50") }
        let expected = OSC52.sequence(for: "python train.py --epochs 50", inTmux: true)
        var bytes = ""
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            bytes = (try? String(contentsOf: raw, encoding: .utf8)) ?? ""
            if bytes.contains(expected) { break }
            usleep(100_000)
        }
        #expect(bytes.contains(expected))
        t.send("q")
    }
}
