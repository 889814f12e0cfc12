import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The job screen's smoothing factor and GPUs panel, in the real `argus-tui` against the real server.
extension TUIEndToEndTests {
    @Test("E sets the EMA factor: the legend says EMA 0.9, then 0.95; e turns smoothing off")
    func emaFactorKey() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedJob(s.client(token), epochs: 10)
        let t = try tui(s, token, ["b1/j1"])
        try t.wait("the live job screen") { $0.contains("● live") && $0.contains("1━train_loss") && !$0.contains("[EMA") }
        t.send("E")
        try t.wait("EMA at the default factor") {
            $0.contains("[EMA 0.9]") && $0.contains("EMA smoothing factor 0.9 (E cycles 0.6/0.8/0.9/0.95/0.99")
        }
        t.send("E")
        try t.wait("the next factor") { $0.contains("[EMA 0.95]") && $0.contains("EMA smoothing factor 0.95") }
        t.send("e")
        try t.wait("smoothing off") { $0.contains("EMA smoothing off") && !$0.contains("[EMA") }
        t.send("q")
        try t.wait("the TUI to exit") { _ in t.exitStatus != nil }
    }

    /// Waits (polling the API) until the batch has stored at least `count` resource snapshots.
    static func waitForSnapshots(_ c: HTTPClient, batch: String, count: Int, timeout: TimeInterval = 20) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let rows = try? c.getJSON(APIPath.resources(batch, limit: count)), (rows.arrayValue?.count ?? 0) >= count { return }
            usleep(100_000)
        }
        throw TestFailure("timed out waiting for \(count) resource snapshots of \(batch)")
    }

    /// "util over the last N snapshots" in the panel's title.
    static func historyLength(_ pane: String) -> Int? {
        guard let r = pane.range(of: #"util over the last \d+ snapshot"#, options: .regularExpression) else { return nil }
        return Int(pane[r].split(separator: " ")[4])
    }

    @Test("G opens the GPUs panel: the simulator's four GPUs with their history, which grows as snapshots stream in")
    func gpusPanelFromTheSimulator() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        // 0.4 s an epoch and a snapshot every 0.6 s: long enough to watch, short enough for a quick test.
        let sim = try startProcess(
            Binaries.path("argus-server"),
            [
                "simulate", "--url", s.url, "--token", token, "--jobs", "1", "--epochs", "60", "--speed", "5",
                "--batch-id", "sim", "--seed", "7",
            ])
        defer { _ = stopProcess(sim) }
        try Self.waitForSnapshots(c, batch: "sim", count: 2)
        let t = try tui(s, token, ["sim/resnet50-lr3e-4-seed0"])
        try t.wait("the live job screen") { $0.contains("● live") && $0.contains("1━train_loss") }
        #expect(!t.capture().contains("GPUS"))
        t.send("G")
        let pane = try t.wait("the GPUs panel with four GPUs") {
            $0.contains("GPUS · 4 GPUs") && $0.contains(" GPU 3 ") && Self.historyLength($0) ?? 0 >= 2
        }
        let lines = pane.split(separator: "\n").filter { $0.hasPrefix(" GPU ") }
        #expect(lines.count == 4, "\(pane)")
        for (i, line) in lines.enumerated() {
            #expect(line.hasPrefix(" GPU \(i) "))
            #expect(line.contains("/ 79.6 GiB") && line.contains("°C") && line.contains("%"), "\(line)")
            #expect(line.unicodeScalars.contains { (0x2581...0x2588).contains($0.value) }, "a util bar or history: \(line)")
        }
        let first = try #require(Self.historyLength(pane))
        try t.wait("the history growing from the stream") { (Self.historyLength($0) ?? 0) > first }
        t.send("G")
        try t.wait("the panel closed") { !$0.contains("GPUS ·") && $0.contains("1━train_loss") }
        t.send("q")
        try t.wait("the TUI to exit") { _ in t.exitStatus != nil }
    }

    @Test("--dump --gpus: 80×24 with eight GPUs shows five lines and the rest on one; --ascii draws it in ASCII")
    func dumpWithGPUs() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c, epochs: 5)
        for k in 0..<3 {
            let gpus: [JSON] = (0..<8).map { i in
                ["index": JSON(i), "util_pct": JSON(10 * i + k), "mem_mb": 20_480, "mem_total_mb": 81_559, "temp_c": JSON(50 + i)]
            }
            try c.mustPost(Ev.make("resource_snapshot", batch: "b1", data: ["gpus": .array(gpus)]))
        }
        let env = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let (rc, out, err) = try runTool(
            Binaries.path("argus-tui"), ["--dump", "--gpus", "--width", "80", "--height", "24", "b1/j1"], env: env)
        #expect(rc == 0, "\(err)")
        let rows = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(rows[4].hasPrefix("GPUS · 8 GPUs · last snapshot") && rows[4].contains("util over the last 3 snapshots"), "\(out)")
        #expect(rows[5].hasPrefix(" GPU 0 ") && rows[5].contains("20.0 / 79.6 GiB  50°C"), "\(out)")
        #expect(rows[9].hasPrefix(" GPU 4 ") && rows[9].contains("42.0%"), "\(out)")
        #expect(rows[10].hasPrefix(" +3 more (a taller terminal shows each): 5 52.0% 55°C · 6 62.0% 56°C"), "\(out)")
        #expect(rows.contains { $0.contains("1━train_loss") } && rows.contains { $0.hasPrefix("LOG") })
        #expect(rows.allSatisfy { TextWidthCheck.columns($0) <= 80 })
        let (rc2, ascii, _) = try runTool(Binaries.path("argus-tui"), ["--dump", "--gpus", "--ascii", "b1/j1"], env: env)
        #expect(rc2 == 0)
        #expect(ascii.unicodeScalars.allSatisfy { $0.value < 0x7F })
        #expect(ascii.contains("GPUS | 8 GPUs") && ascii.contains(" GPU 7 [") && ascii.contains("57C"), "\(ascii)")
        let (_, plain, _) = try runTool(Binaries.path("argus-tui"), ["--dump", "b1/j1"], env: env)
        #expect(!plain.contains("GPUS"), "the panel is off unless asked for")
    }
}
