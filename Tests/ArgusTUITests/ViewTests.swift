import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// Builds `/view` documents shaped like the server's.
enum Fixture {
    static func view(
        status: String = "running", batchStatus: String = "running", epochs: Int = 30,
        failure: String? = nil, idle: Bool = false,
        gpu: Bool = true,
        logs: [(String, String)] = [
            ("info", "epoch 1 done"), ("warning", "lr warmup ends"), ("error", "NaN in grads"),
        ],
        lastEventID: Int = 100, epochValues: ((Int) -> JSONObject)? = nil, lastActivity: String? = nil,
        lastReceived: String? = nil,
        shownStatus: String? = nil, nonFinite: [String] = []
    ) -> JSON {
        let epochRows: [JSON] = (0..<epochs).map { n in
            if let f = epochValues { return .object(f(n)) }
            return [
                "epoch": JSON(n), "train_loss": JSON(2.0 * exp(-Double(n) / 10) + 0.1),
                "val_loss": JSON(2.2 * exp(-Double(n) / 10) + 0.15),
                "lr": 0.001, "val_acc": JSON(0.5 + Double(n) / 100),
            ]
        }
        // A second apart, the newest at 09:04:00: before the lines tests stream (09:05:00), as a live tail is.
        let newest = Timestamp(iso: "2026-04-23T09:04:00Z")!
        let logRows: [JSON] = logs.enumerated().reversed().map { i, l in
            [
                "id": JSON(i + 1), "ts": .string(newest.adding(seconds: Double(i - logs.count + 1)).iso), "job_id": "j1",
                "level": .string(l.0), "line": .string(l.1),
            ]
        }
        let telemetry: JSON = [
            "status": .string(shownStatus ?? status), "elapsed_s": 3723, "gpu_util_pct": gpu ? 87.5 : .null,
            "gpu_mem_peak_mb": gpu ? 40960 : .null,
            "train_loss": epochs > 0 && !nonFinite.contains("train_loss") ? 0.2 : .null,
            "val_loss": epochs > 0 && !nonFinite.contains("val_loss") ? 0.25 : .null,
            "nonfinite": .array(nonFinite.map { .string($0) }),
            "epoch": epochs > 0 ? JSON(epochs - 1) : .null,
            "is_idle_flagged": .bool(idle), "idle_since": idle ? "2026-04-23T08:50:00Z" : .null,
        ]
        return [
            "batch": [
                "id": "b1", "status": .string(batchStatus), "stop_requested": false, "agent_online": false,
                "last_activity": JSON(lastActivity), "last_received": JSON(lastReceived),
                "env_snapshot": [
                    "git_sha": "0123456789", "git_sha_short": "0123456",
                    "command": "python train.py --lr 3e-4", "cwd": "/srv/exp", "hostname": "gpu-box-1",
                    "user": "alice",
                ],
            ],
            "job": [
                "id": "j1", "batch_id": "b1", "model": "patchtst", "dataset": "etth1",
                "status": .string(status),
                "start_time": "2026-04-23T08:00:00Z", "end_time": .null, "elapsed_s": 3723,
                "metrics": .null,
                "failure_reason": failure.map { .string($0) } ?? .null, "is_idle_flagged": .bool(idle),
                "last_activity": "2026-04-23T09:02:03Z", "telemetry": telemetry,
            ],
            "epochs": .array(epochRows),
            "log_tail": .array(logRows),
            "resources_latest": .null,
            "env_snapshot": [
                "git_sha": "0123456789", "git_sha_short": "0123456", "command": "python train.py --lr 3e-4",
                "cwd": "/srv/exp", "hostname": "gpu-box-1", "user": "alice",
            ],
            "actions": [
                "stop": ["enabled": true], "rerun": ["enabled": false, "reason": "batch is still running"],
                "share": ["enabled": true],
                "copy_command": ["enabled": true],
                "mark_failed": ["enabled": false, "reason": "the run is still reporting"],
            ],
            "last_event_id": JSON(lastEventID),
        ]
    }

    /// A `summary` frame as the server streams it: the view's batch and job with `batch`, `job` and `telemetry`
    /// changed. `id` is the commit's newest event id (nil: the frame that opens a stream).
    static func summary(
        id: Int? = nil, from view: JSON = view(), batch: JSON = [:], job: JSON = [:], telemetry: JSON = [:]
    ) -> JSON {
        func merged(_ base: JSON?, _ changes: JSON) -> JSON {
            guard case .object(var o)? = base else { return .null }
            for p in changes.objectValue ?? JSONObject() { o[p.key] = p.value }
            return .object(o)
        }
        var j = merged(view["job"], job)
        j = merged(j, ["telemetry": merged(j["telemetry"], telemetry)])
        var frame = JSONObject([
            ("event_type", .string(SummaryFrame.eventType)), ("batch", merged(view["batch"], batch)), ("jobs", [j]),
        ])
        if let id { frame["id"] = JSON(id) }
        return .object(frame)
    }

    static func state(_ view: JSON, width: Int = 120, height: Int = 40, ascii: Bool = false)
        -> AppState
    {
        var s = AppState(screen: .job)
        s.width = width
        s.height = height
        s.glyphs = ascii ? .ascii : .braille
        s.now = Timestamp(iso: "2026-04-23T09:10:00Z")!.seconds
        _ = Update.apply(&s, .viewLoaded(view))
        _ = Update.apply(&s, .connection(.live))
        return s
    }

    static func braille(_ text: String) -> Int {
        text.unicodeScalars.filter { (0x2801...0x28FF).contains($0.value) }.count
    }
}

@Suite("Job screen rendering", .ownThread)
struct ViewTests {
    @Test(
        "a running job: telemetry strip, chart, log tail, action bar and environment, top to bottom")
    func runningJob() {
        let g = ScreenView.render(Fixture.state(Fixture.view()))
        let text = g.text
        let rows = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(rows[0].contains("b1 / j1"))
        #expect(rows[0].contains("● live"))
        #expect(
            rows[1].contains("STATUS") && rows[1].contains("ELAPSED") && rows[1].contains("GPU UTIL")
                && rows[1].contains("GPU MEM PEAK"))
        #expect(rows[2].contains("● running"))
        #expect(rows[2].contains("1h 02m"))  // 3723 s
        #expect(rows[2].contains("87.5%"))
        #expect(rows[2].contains("40.0 GiB"))
        #expect(rows[2].contains("0.2 / 0.25 @29"))
        #expect(text.contains("1━train_loss"))
        #expect(text.contains("2━val_loss"))
        // Hidden by default, so after "hidden:" and without a line: a plain-text frame tells them apart too.
        #expect(text.contains("2━val_loss 0.2711  hidden: 3 lr 0.001  4 val_acc"), "\(text)")
        #expect(Fixture.braille(text) > 50)
        #expect(text.contains("LOG  (following)"))
        #expect(text.contains("NaN in grads"))
        #expect(g.style(of: "NaN in grads")?.fg == .red)
        #expect(g.style(of: "lr warmup ends")?.fg == .yellow)
        #expect(text.contains("[s] Stop"))
        #expect(text.contains("[r] Rerun (batch is still running)"))
        #expect(text.contains("commit 0123456"))
        #expect(text.contains("host gpu-box-1"))
        #expect(text.contains("command python train.py --lr 3e-4"))
        // Order on screen: telemetry, chart, log, actions, environment.
        let order = ["STATUS", "1━train_loss", "LOG", "[s] Stop", "commit"].map { key in
            rows.firstIndex { $0.contains(key) } ?? -1
        }
        #expect(order == order.sorted() && !order.contains(-1), "\(order)")
        #expect(!text.contains("Failed:"))
    }

    @Test("a failed job shows its reason above the log tail")
    func failedJob() {
        let s = Fixture.state(
            Fixture.view(status: "failed", failure: "RuntimeError: CUDA out of memory"))
        let rows = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        let fail = rows.firstIndex { $0.hasPrefix("Failed: RuntimeError: CUDA out of memory") }
        let log = rows.firstIndex { $0.hasPrefix("LOG") }
        #expect(fail != nil && log != nil && fail! + 1 == log!)
        #expect(rows[2].contains("✗ failed"))
    }

    @Test("an empty chart says why: waiting, none reported, purged by retention while the summary stays, or every series hidden")
    func emptyChartSaysWhy() {
        // Fixture: `epochs: 0` has no rows and no summary epoch.
        #expect(ScreenView.render(Fixture.state(Fixture.view(epochs: 0))).text.contains("waiting for the first epoch…"))
        // On an ASCII terminal a text in progress ends with "...", not a lone "." that reads as a full stop.
        var waiting = Fixture.state(Fixture.view(epochs: 0))
        waiting.glyphs = .ascii
        waiting.connection = .connecting
        let ascii = ScreenView.render(waiting).text
        #expect(ascii.contains("waiting for the first epoch...") && ascii.contains("~ connecting..."))
        #expect(
            ScreenView.render(Fixture.state(Fixture.view(status: "done", batchStatus: "done", epochs: 0))).text
                .contains("this job reported no epochs"))
        var s = Fixture.state(Fixture.view(status: "done", batchStatus: "done", epochs: 0))
        s.job?.epoch = 41
        s.job?.trainLoss = 0.12
        let text = ScreenView.render(s).text
        #expect(text.contains("epoch rows purged by retention; the latest loss above is kept"))
        #expect(text.contains("0.12"))
        // Both losses hidden with their digits (the extras are hidden already): not "every visible series is empty".
        var hidden = Fixture.state(Fixture.view())
        for k: Character in ["1", "2"] { _ = Update.apply(&hidden, .key(.char(k))) }
        #expect(ScreenView.render(hidden).text.contains("nothing to plot: every series is hidden (1-9 or m shows one)"))
    }

    @Test("an idle-flagged job wears an IDLE badge with how long")
    func idleJob() {
        let g = ScreenView.render(Fixture.state(Fixture.view(idle: true)))
        // Under the idle banner (a job opened while flagged shows it) and the tiles' labels.
        let labels = (0..<g.height).first { g.row($0).contains("STATUS") } ?? 0
        #expect(g.row(1).contains("GPU idle since") && g.row(labels + 1).contains("IDLE 20m"), "\(g.text)")
        #expect(g.style(of: "IDLE")?.reverse == true)
    }

    @Test("the final metrics the run reported (j.metrics, job_done's metrics) show in one row above the log tail")
    func finalMetrics() {
        var v = Fixture.view(status: "done", batchStatus: "done")
        if case .object(var o) = v, case .object(var job)? = o["job"] {
            job["metrics"] = ["top1": 0.761, "MSE": 0.21, "acc": .null]
            o["job"] = .object(job)
            v = .object(o)
        }
        let screen = ScreenView.render(Fixture.state(v))
        let text = (0..<40).map { screen.row($0) }
        #expect(text.contains { $0.hasPrefix("Final: top1 0.761 · MSE 0.21 · acc –") }, "\(text.joined(separator: "\n"))")
        // None reported: no row.
        let plain = ScreenView.render(Fixture.state(Fixture.view()))
        #expect(!(0..<40).contains { plain.row($0).contains("Final:") })
    }

    @Test("GPU UTIL is the job's telemetry alone: a batch-wide snapshot in resources_latest does not stand in for it")
    func gpuUtilFromTelemetry() {
        var v = Fixture.view(gpu: false)
        if case .object(var o) = v {
            o["resources_latest"] = ["gpu_util_pct": 45, "gpu_mem_used_mb": 1000, "job_id": .null]
            v = .object(o)
        }
        let data = JobData(view: v)
        #expect(data.gpuUtil == nil)
        #expect(ScreenView.render(Fixture.state(v)).row(2).contains("45.0%") == false)
    }

    @Test("GPU MEM PEAK shows the most-loaded GPU against its capacity and how many GPUs, as the server says")
    func gpuMemTile() {
        var v = Fixture.view()
        if case .object(var o) = v, case .object(var job)? = o["job"], case .object(var t)? = job["telemetry"] {
            t["gpu_mem_peak_mb"] = 63_390
            t["gpu_mem_total_mb"] = 81_559
            t["gpu_count"] = 4
            t["gpus"] = .array(
                [61_000, 62_500, 63_390, 62_900].enumerated().map { i, m in
                    ["index": JSON(i), "mem_peak_mb": JSON(m), "mem_total_mb": 81_559]
                })
            job["telemetry"] = .object(t)
            o["job"] = .object(job)
            v = .object(o)
        }
        #expect(ScreenView.render(Fixture.state(v)).row(2).contains("61.9 / 79.6 GiB ×4"))
        #expect(ScreenView.render(Fixture.state(v, ascii: true)).row(2).contains("61.9 / 79.6 GiB x4"))
        // Fmt: one GPU has no count; a small card stays in MiB; no capacity known, just the peak.
        #expect(Fmt.gpuMemory(peak: 30_000, total: 40_960, gpus: 1, ascii: false) == "29.3 / 40.0 GiB")
        #expect(Fmt.gpuMemory(peak: 700, total: 1000, gpus: 2, ascii: false) == "700 / 1000 MiB ×2")
        #expect(Fmt.gpuMemory(peak: 40_960, total: nil, gpus: 0, ascii: false) == "40.0 GiB")
        #expect(Fmt.gpuMemory(peak: nil, total: 81_559, gpus: 4, ascii: false) == "no data")
    }

    @Test("absurd figures from the network (1e300 s, NaN, ±Inf, 1e308 %/MiB) are shown honestly, never trap")
    func absurdFigures() {
        #expect(Fmt.duration(1e300) == ">100y")
        #expect(Fmt.duration(.infinity) == "–")
        #expect(Fmt.duration(.nan) == "–")
        #expect(Fmt.duration(-5) == "–")
        #expect(Fmt.duration(Double(Int.max)) == ">100y")
        #expect(Fmt.duration(3_155_759_999) == "36524d 23h")
        #expect(Fmt.duration(90061) == "1d 1h")
        #expect(Fmt.age(1e300) == ">100y ago")
        #expect(Fmt.age(-1e300) == "0s ago")
        #expect(Fmt.age(.nan) == "–")
        #expect(Fmt.age(-.infinity) == "0s ago")
        #expect(Fmt.clock(1e300) == "--:--:--")
        #expect(Fmt.clock(.nan) == "--:--:--")
        #expect(Fmt.percent(1e308) == ">999%")
        #expect(Fmt.percent(.infinity) == ">999%")
        #expect(Fmt.percent(-.infinity) == "<0%")
        #expect(Fmt.percent(.nan) == "–")
        #expect(Fmt.percent(97.25) == "97.2%" || Fmt.percent(97.25) == "97.3%")
        #expect(Fmt.memory(1e308) == ">1 PiB")
        #expect(Fmt.memory(.infinity) == ">1 PiB")
        #expect(Fmt.memory(.nan) == "–")
        #expect(Fmt.memory(-1) == "–")
        #expect(Fmt.gpuMemory(peak: 1e308, total: 81_559, gpus: 1, ascii: false) == ">1 PiB")
        #expect(Fmt.gpuMemory(peak: 1000, total: 1e308, gpus: 1, ascii: false) == "1000 MiB")
    }

    @Test("a job with no GPU data says so instead of showing zeros")
    func noGPU() {
        let g = ScreenView.render(Fixture.state(Fixture.view(gpu: false)))
        #expect(g.row(2).contains("no data"))
        #expect(!g.row(2).contains("0.0%"))
    }

    @Test("a job with no epochs yet waits for one")
    func noEpochs() {
        let g = ScreenView.render(Fixture.state(Fixture.view(epochs: 0)))
        #expect(g.text.contains("waiting for the first epoch"))
    }

    @Test("100k epochs: every dot column keeps min and max, so a spike and a NaN stay visible")
    func hundredThousandEpochs() throws {
        let view = Fixture.view(epochs: 100_000) { n in
            var o = JSONObject([("epoch", JSON(n)), ("train_loss", JSON(1.0 + 0.01 * sin(Double(n))))])
            if n == 50_000 { o["train_loss"] = 9.0 }  // one spike
            if n == 75_000 {
                o["train_loss"] = .null
                o["nonfinite"] = ["train_loss"]
            }
            o["val_loss"] = JSON(1.2)
            return o
        }
        let s = Fixture.state(view, width: 200, height: 60)
        let g = ScreenView.render(s)
        let rows = g.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let chart = try ChartReading(g)
        let plotTop = chart.legendRow + 1
        let plotX = chart.tickColumn + 1
        func braille(_ row: String) -> [Int] {
            let u = Array(row.unicodeScalars)
            return u.indices.filter { (0x2801...0x28FF).contains(u[$0].value) }
        }
        // The spike is the highest thing plotted, and sits near the middle of the epoch axis.
        let spikeRow = try #require((plotTop..<rows.count).first { !braille(rows[$0]).isEmpty })
        let mid = plotX + chart.plotWidth / 2
        #expect(
            braille(rows[spikeRow]).contains { abs($0 - mid) <= 3 },
            "spike row \(spikeRow): \(braille(rows[spikeRow]))")
        #expect(spikeRow < plotTop + 5)
        // The ordinary curve (around 1.0) sits far below it.
        let curveRows = (plotTop..<rows.count).filter { braille(rows[$0]).count > 100 }
        #expect(
            !curveRows.isEmpty && curveRows.allSatisfy { $0 > spikeRow + 15 }, "\(curveRows) \(spikeRow)")
        // The NaN is marked in the top row at three quarters of the axis.
        let top = Array(rows[plotTop].unicodeScalars)
        let marks = top.indices.filter { top[$0] == "✕" }
        #expect(marks.contains { abs($0 - (plotX + chart.plotWidth * 3 / 4)) <= 3 }, "NaN marks \(marks)")
        #expect(g.text.contains("99999"))
    }

    @Test("the y range does not jitter as epochs arrive")
    func stableAxis() {
        var s = Fixture.state(Fixture.view(epochs: 20))
        let first = s.chartBounds
        for n in 20..<40 {
            let e: JSON = [
                "id": JSON(1000 + n), "event_type": "job_epoch", "batch_id": "b1", "job_id": "j1",
                "timestamp": "2026-04-23T09:05:00Z",
                "data": [
                    "epoch": JSON(n), "train_loss": JSON(2.0 * exp(-Double(n) / 10) + 0.1),
                    "val_loss": JSON(2.2 * exp(-Double(n) / 10) + 0.15),
                ],
            ]
            _ = Update.apply(&s, .streamEvent(e))
            #expect(s.chartBounds == first, "bounds moved at epoch \(n)")
        }
        #expect(s.job?.series.count == 40)
    }

    @Test("a tiny terminal gets a notice instead of a broken layout; 60×20 is still the full screen")
    func tinyTerminal() {
        let small = ScreenView.render(Fixture.state(Fixture.view(), width: 59, height: 20)).text
        #expect(small.contains("terminal too small"))
        #expect(small.contains("need 60×20"))
        let ok = ScreenView.render(Fixture.state(Fixture.view(), width: 60, height: 20)).text
        #expect(!ok.contains("too small"))
        #expect(
            ok.contains("STATUS") && ok.contains("LOG") && ok.contains("[s] Stop")
                && ok.contains("commit"))
        #expect(Fixture.braille(ok) > 10)
    }

    @Test("ASCII mode uses no character beyond 7-bit ASCII")
    func asciiMode() {
        var s = Fixture.state(Fixture.view(idle: true), ascii: true)
        s.showHelp = false
        let text = ScreenView.render(s).text
        let wide = text.unicodeScalars.filter { $0.value > 0x7E }
        #expect(wide.isEmpty, "non-ASCII: \(String(String.UnicodeScalarView(wide)).prefix(40))")
        #expect(text.contains("*"))  // the plot
        #expect(text.contains("> running"))
    }

    @Test("a status message longer than the terminal is wrapped above the bottom row, taking rows from the log")
    func longStatusWraps() {
        var s = Fixture.state(Fixture.view())
        s.width = 80
        let before = ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s)).logRows
        let sentence =
            "Rerun is not available: the agent on gpu-box-7 has not been heard from for 3 minutes (is `argus-agent run` "
            + "still running there?); its last error was: the working directory /home/alice/runs/exp-42 is gone."
        s.status = sentence
        s.statusIsError = true
        let lines = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let bottom = lines.suffix(3).joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(bottom == sentence, "\(lines.suffix(3))")
        #expect(ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s)).logRows < before)
        // A short one keeps the one row.
        s.status = "Exported 30 epochs."
        #expect(ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s)).logRows == before)
    }

    @Test("the Rerun prompt says where the rerun runs, as the server's actions say")
    func rerunPromptSaysWhere() {
        var s = Fixture.state(Fixture.view())
        s.confirming = .rerun
        s.job?.rerunRunsIn = "the agent's home directory (no working directory was recorded)"
        // On an 80-column terminal too: wrapped over the bottom rows, the keys that answer it last.
        s.width = 80
        let rows = ScreenView.render(s).text.split(separator: "\n").suffix(2).joined(separator: " ")
        #expect(
            rows.split(whereSeparator: \.isWhitespace).joined(separator: " ")
                == "Rerun batch b1 on its host, in the agent's home directory (no working directory was recorded)? y confirms · any other key cancels",
            "\(rows)")
        s.width = 120
        s.job?.takeActions(["rerun": ["enabled": true, "runs_in": "/srv/proj"]])
        #expect(ScreenView.render(s).text.contains("Rerun batch b1 on its host, in /srv/proj?  y confirms · any other key cancels"))
        // The answer keys stay together on one row, whatever the width; a newline in the place is a space.
        for (place, width) in (60...140).map({ ("the agent's home (no working directory was recorded)", $0) })
            + [("/home/alice/proj\nrm -rf x/final", 200)]
        {
            s.width = width
            s.job?.takeActions(["rerun": ["enabled": true, "runs_in": .string(place)]])
            let lines = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.contains { $0.contains("y confirms · any other key cancels") }, "\(width): \(lines.suffix(3))")
            #expect(!lines.contains { $0.hasSuffix("  y") }, "\(width): \(lines.suffix(3))")
            if width == 200 { #expect(lines.last?.contains("in /home/alice/proj rm -rf x/final?") == true, "\(lines.suffix(3))") }
        }
        s.width = 120
        // A 4,000-byte path loses its middle: the question still ends, with its keys, on the screen's last row.
        let deep = "/home/alice/" + String(repeating: "nested/", count: 570) + "run-42"
        // Tabs in a path are drawn to the next tab stop; the fit counts them so.
        let tabbed = "/home/alice/" + (0..<60).map { "\($0)\t/" }.joined() + "nested/run-42"
        for (path, width) in [(deep, 60), (deep, 80), (deep, 200), (tabbed, 60), (tabbed, 80), (tabbed, 120)] {
            s.job?.takeActions(["rerun": ["enabled": true, "runs_in": .string(path)]])
            s.width = width
            let lines = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            #expect(lines.count == s.height)
            #expect(
                lines.last?.trimmingCharacters(in: .whitespaces).hasSuffix("y confirms · any other key cancels") == true,
                "\(lines.suffix(4))")
            let bottom = lines.suffix(3).joined(separator: " ")
            #expect(bottom.contains("Rerun batch b1 on its host, in /home/alice/"), "\(lines.suffix(4))")
            #expect(bottom.contains("nested/run-42?"), "\(lines.suffix(4))")
            #expect(bottom.contains("…") || path == tabbed, "\(lines.suffix(4))")
            #expect(!bottom.contains("\t"))
        }
    }

    @Test("the environment row shows a cwd too long for it with its middle left out, and its last directory")
    func longCwd() {
        var s = Fixture.state(Fixture.view())
        s.width = 80
        s.job?.cwd = "/home/alice/" + String(repeating: "projects/", count: 20) + "run-42"
        let row = ScreenView.render(s).text.split(separator: "\n").first { $0.contains("cwd /home/alice/") }
        #expect(row?.hasSuffix("cwd /home/alice/projects/projects/proj…/run-42") == true, "\(row ?? "no cwd row")")
        // A long host gives way, down to a third of the room, and says so.
        s.job?.host = "gpu-node-042.hpc.cluster.university.example.edu"
        let both = ScreenView.render(s).text.split(separator: "\n").first { $0.contains("cwd /home/") }
        #expect(both?.contains("host gpu-node-042.hpc… · cwd /home/alice/") == true, "\(both ?? "no cwd row")")
        #expect(both?.hasSuffix("…/run-42") == true && both.map { TextWidth.of(String($0)) } == 80, "\(both ?? "no cwd row")")
        // So does a commit recorded as a long branch name.
        s.job?.gitSHA = "release/2026-12-a-very-long-branch-name-for-the-sweep"
        let branch = ScreenView.render(s).text.split(separator: "\n").first { $0.contains("cwd /home/") }
        #expect(branch?.hasPrefix("commit release/") == true && branch?.hasSuffix("…/run-42") == true, "\(branch ?? "no cwd row")")
        #expect(row.map { TextWidth.of(String($0)) } == 80)
    }

    @Test("the help overlay lists the keys of the screen it is opened on, each one doing there what it says")
    func helpOverlay() {
        func keys(_ screen: Screen, readOnly: Bool = false, pinned: Bool = false, ascii: Bool = false) -> (
            labels: [String], text: String
        ) {
            var s = Fixture.state(Fixture.view())
            s.screen = screen
            s.height = 60
            s.readOnly = readOnly
            if pinned { s.pinnedBatch = "b1" }
            if ascii { s.glyphs = .ascii }
            _ = Update.apply(&s, .key(.char("?")))
            return (ScreenView.helpLines(s).rows.map(\.key).filter { !$0.isEmpty }, ScreenView.render(s).text)
        }
        let everywhere = ["q", "Ctrl-C", "?"]
        let lists = ["Esc", "Enter", "↑/k", "↓/j", "PgUp", "PgDn", "Home", "End", "/"]
        #expect(keys(.batches).labels == everywhere + lists + ["C", "u"])
        #expect(keys(.jobs("b1")).labels == everywhere + lists + ["< >", "I", "Space", "C", "u"])
        #expect(
            keys(.job).labels
                == everywhere + ["→", "←", "Esc", "↑/k", "↓/j", "PgUp", "PgDn", "Home", "End", "/", "e", "E", "g", "G", "1-9", "m"]
                + ["s", "r", "F", "S", "c", "x", "o"])
        #expect(keys(.compare).labels == everywhere + ["Esc", "e", "E", "g", "1-9", "m"])
        // Each listed key, pressed on that screen, reaches the command its line describes (none is shadowed by
        // another binding of the same key there).
        for screen in [Screen.batches, .jobs("b1"), .job, .compare] {
            for b in KeyBindings.shown(on: screen, readOnly: false) {
                for k in b.keys {
                    #expect(KeyBindings.lookup(k, on: screen)?.command == b.command, "\(screen) \(b.label) \(k)")
                }
            }
        }
        let job = keys(.job).text
        #expect(job.contains(" keys on the job screen ") && job.contains("scroll the log up"))
        #expect(!job.contains("move up") && !job.contains("filter the list") && !job.contains("compare"), "\(job)")
        let picker = keys(.batches).text
        #expect(picker.contains(" keys on the picker ") && picker.contains("open the selected batch (→ too)"))
        #expect(!picker.contains("sort by") && !picker.contains("Stop the batch") && !picker.contains("log"), "\(picker)")
        #expect(keys(.compare).text.contains("choose the metric the jobs are compared on"))
        // A read-only view lists no key it refuses; a share link's batch screen has no way back to list.
        #expect(
            keys(.job, readOnly: true).labels == everywhere + [
                "→", "←", "Esc", "↑/k", "↓/j", "PgUp", "PgDn", "Home", "End", "/", "e", "E", "g", "G", "1-9", "m", "x", "o",
            ])
        #expect(!keys(.jobs("b1"), readOnly: true, pinned: true).labels.contains("Esc"))
        #expect(!keys(.job, readOnly: true, pinned: true).labels.contains("o"))
        // In ASCII the arrows are named: drawn as < > ^ v they would read as keys (< and > sort).
        let ascii = keys(.job, ascii: true)
        #expect(ascii.labels.starts(with: everywhere + ["Right", "Left", "Esc", "Up/k", "Down/j"]), "\(ascii.labels)")
        #expect(keys(.jobs("b1"), ascii: true).text.contains("back to the picker (Left too;"))
    }

    @Test("the batch picker lists running batches first, coloured by status")
    func picker() {
        var s = AppState(screen: .batches)
        s.width = 120
        s.height = 30
        s.now = Timestamp(iso: "2026-04-23T10:00:00Z")!.seconds
        let rows: [JSON] = [
            [
                "id": "old-done", "project": "p", "status": "done", "host": "h", "n_done": 3, "n_failed": 0,
                "n_total": 3, "last_seen": "2026-04-23T09:00:00Z",
            ],
            [
                "id": "now-running", "project": "p", "status": "running", "host": "h", "n_done": 1,
                "n_failed": 1, "n_total": 4, "last_seen": "2026-04-23T09:59:50Z",
            ],
            [
                "id": "broke", "project": "p", "status": "failed", "host": "h", "n_done": 0, "n_failed": 1,
                "last_seen": "2026-04-23T09:30:00Z",
            ],
        ]
        _ = Update.apply(&s, .batchesLoaded(rows))
        let g = ScreenView.render(s)
        let lines = g.text.split(separator: "\n").map(String.init)
        let running = lines.firstIndex { $0.contains("now-running") }!
        let done = lines.firstIndex { $0.contains("old-done") }!
        #expect(running < done)
        #expect(lines[running].contains("10s ago"))
        #expect(g.style(of: "✗ failed")?.fg == .red)
        #expect(g[0, running].style.reverse)  // the cursor starts on the first (running) batch
        #expect(Update.apply(&s, .key(.enter)) == [.loadJobs("now-running")])
        #expect(s.screen == .jobs("now-running"))
    }
}
