import Foundation
import TestSupport
import Testing

@testable import ArgusTUI
@testable import Shared

/// `/resources` rows shaped like the server's (newest first), for a fixed GPU story.
enum GPUFixture {
    /// Snapshot `k` (0 oldest) of GPU `i`: GPU 0 climbs 0→99 %, GPU 1 holds 88 %, GPU 2 is idle with its memory
    /// nearly full, GPU 3 alternates 50/100 % and runs hot; any further GPU holds 40 + 5·i %, and GPU 7 runs hot.
    static func gpu(_ i: Int, _ k: Int) -> JSON {
        let util: Double = [Double(k * 9), 88, 2, k % 2 == 0 ? 50 : 100][safe: i] ?? Double(40 + 5 * i)
        let mem: Double = [40_960, 62_500, 80_000, 1024][safe: i] ?? 30_720
        let temp: Double = [61, 70, 45, 91][safe: i] ?? (i == 7 ? 88 : 60)
        return ["index": JSON(i), "util_pct": JSON(util), "mem_mb": JSON(mem), "mem_total_mb": 81_559, "temp_c": JSON(temp)]
    }

    /// `snapshots` rows, ids 1…, three seconds apart ending at 09:09:33 (27 s before `Fixture.state`'s clock).
    static func rows(gpus: Int = 4, snapshots: Int = 12) -> [JSON] {
        (0..<snapshots).reversed().map { k in
            let ts = Timestamp(iso: "2026-04-23T09:09:33Z")!.seconds - Double(3 * (snapshots - 1 - k))
            return [
                "id": JSON(k + 1), "ts": .string(Timestamp(seconds: ts).iso), "job_id": .null,
                "gpus": .array((0..<gpus).map { gpu($0, k) }), "gpu_util_pct": 50, "cpu_util_pct": 30,
            ]
        }
    }

    /// The job screen with the panel open and the history loaded.
    static func state(gpus: Int = 4, snapshots: Int = 12, width: Int = 80, height: Int = 24, ascii: Bool = false) -> AppState {
        var s = Fixture.state(Fixture.view(), width: width, height: height, ascii: ascii)
        _ = Update.apply(&s, .key(.char("G")))
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", rows(gpus: gpus, snapshots: snapshots)))
        return s
    }

    /// The panel alone, drawn into a `width`×`height` grid.
    static func panel(_ s: AppState, width: Int, height: Int) -> [String] {
        var g = Grid(width: width, height: height)
        GPUPanel.render(s, s.job!, into: &g, rect: Rect(x: 0, y: 0, width: width, height: height))
        if s.glyphs == .ascii { g.downgradeToASCII() }
        return g.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}

@Suite("GPUs panel and EMA factor: exact frames, keys, history", .ownThread)
struct GPUPanelTests {
    @Test("hot is judged on the temperature as shown: 84.6 °C shows 85°C and is hot; 84.4 and 84.5 show 84°C and are not")
    func hotAsShown() {
        let g = GPUPanel.Glyphs.unicode
        for (t, shown, hot) in [(84.6, "85", true), (84.5, "84", false), (84.4, "84", false), (85.0, "85", true)] {
            let d = GPUFigures.Device(index: 0, memMB: nil, memTotalMB: nil, util: 50, tempC: t)
            #expect(GPUPanel.temperature(t, g).hasPrefix(shown), "\(t)")
            #expect(GPUPanel.flags(d).contains("hot") == hot, "\(t)")
        }
        #expect(GPUPanel.temperature(-0.4, g) == "0°C" && GPUPanel.temperature(-0.6, g) == "-1°C")
    }

    @Test("the panel, exactly: a line per GPU with bar, util, memory, temperature, words for what is unusual, and history")
    func panelFrame() {
        let s = GPUFixture.state()
        #expect(
            GPUFixture.panel(s, width: 80, height: 5) == [
                "GPUS · 4 GPUs · last snapshot 27s ago · util over the last 12 snapshots",
                " GPU 0 ██████████  99.0%  40.0 / 79.6 GiB  61°C                ▁▁▂▃▃▄▅▆▆▇██",
                " GPU 1 █████████░  88.0%  61.0 / 79.6 GiB  70°C                ████████████",
                " GPU 2 ░░░░░░░░░░   2.0%  78.1 / 79.6 GiB  45°C  idle mem 98%  ▁▁▁▁▁▁▁▁▁▁▁▁",
                " GPU 3 ██████████ 100.0%   1.0 / 79.6 GiB  91°C  hot           ▅█▅█▅█▅█▅█▅█",
            ])
    }

    @Test("--ascii: brackets, # and . for the bar, an ASCII ramp for the history, C for degrees")
    func panelASCII() {
        var s = GPUFixture.state(ascii: true)
        s.color = false
        let rows = GPUFixture.panel(s, width: 80, height: 5)
        #expect(rows.joined().unicodeScalars.allSatisfy { $0.value < 0x7F }, "\(rows)")
        #expect(
            rows == [
                "GPUS | 4 GPUs | last snapshot 27s ago | util over the last 12 snapshots",
                " GPU 0 [########]  99.0%  40.0 / 79.6 GiB   61C                __.::-=++*##",
                " GPU 1 [#######.]  88.0%  61.0 / 79.6 GiB   70C                ############",
                " GPU 2 [........]   2.0%  78.1 / 79.6 GiB   45C  idle mem 98%  ____________",
                " GPU 3 [########] 100.0%   1.0 / 79.6 GiB   91C  hot           =#=#=#=#=#=#",
            ])
    }

    @Test(
        "eight GPUs in four rows: the title, two GPUs, then the other six in a few words each on the last, those with words first (the hint gives way to them)"
    )
    func panelOverflow() {
        let s = GPUFixture.state(gpus: 8)
        #expect(
            GPUFixture.panel(s, width: 100, height: 4) == [
                "GPUS · 8 GPUs · last snapshot 27s ago · util over the last 12 snapshots",
                " GPU 0 ██████████  99.0%  40.0 / 79.6 GiB  61°C  ▁▁▂▃▃▄▅▆▆▇██",
                " GPU 1 █████████░  88.0%  61.0 / 79.6 GiB  70°C  ████████████",
                " +6 more: 2 2.0% 45°C idle mem 98% · 3 100.0% 91°C hot · 7 75.0% 88°C hot · 4 60.0% 60°C · 5 65.0% …",
            ])
    }

    @Test("80×24 with eight GPUs: the panel takes what the chart and log can spare, and both keep their minimum")
    func smallTerminal() throws {
        let s = GPUFixture.state(gpus: 8)
        let job = try #require(s.job)
        let layout = ScreenView.JobLayout(s, job, rect: ScreenView.bodyRect(s))
        let panel = try #require(layout.gpus)
        #expect(panel.y == 4 && panel.height == 7)
        #expect(layout.chart.height == 6 && layout.logRows == 2)
        let rows = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(rows[4].hasPrefix("GPUS · 8 GPUs"))
        #expect(rows[5].hasPrefix(" GPU 0 ") && rows[9].hasPrefix(" GPU 4 "))
        // GPU 7 runs hot: it comes first on the line, where a narrow terminal does not cut it.
        #expect(rows[10] == " +3 more (a taller terminal shows each): 7 75.0% 88°C hot · 5 65.0% 60°C · 6 70…")
        #expect(rows[11].contains("1━train_loss"), "the chart follows the panel")
        #expect(rows.contains { $0.hasPrefix("LOG") } && rows.contains { $0.hasPrefix("[s] Stop") })
        #expect(rows.allSatisfy { TextWidthCheck.columns($0) <= 80 })
        // The same frame at the minimum size still has a chart and a log.
        var small = s
        _ = Update.apply(&small, .resize(width: 60, height: 20))
        let l2 = ScreenView.JobLayout(small, job, rect: ScreenView.bodyRect(small))
        #expect(l2.gpus?.height == 3 && l2.chart.height == 6 && l2.logRows == 2)
    }

    @Test("the panel before the history arrives, with none, and when the fetch failed")
    func panelStates() {
        var s = Fixture.state(Fixture.view(), width: 100, height: 30)
        #expect(Update.apply(&s, .key(.char("G"))) == [.fetchGPUHistory(batchID: "b1", jobID: "j1")])
        #expect(GPUFixture.panel(s, width: 100, height: 2)[0] == "GPUS · loading the job's resource snapshots…")
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", []))
        #expect(GPUFixture.panel(s, width: 100, height: 2)[0] == "GPUS · no GPU readings for this job yet")
        var f = Fixture.state(Fixture.view(), width: 100, height: 30)
        _ = Update.apply(&f, .key(.char("G")))
        _ = Update.apply(&f, .gpuHistoryFailed(batchID: "b1", jobID: "j1", "server error 503"))
        #expect(f.status == "Could not load the GPU history: server error 503" && f.statusIsError)
        #expect(
            GPUFixture.panel(f, width: 100, height: 2)[0]
                == "GPUS · no GPU readings for this job yet · history not loaded: server error 503")
        // A job that ended is not waiting for any: no "yet" (nor under its log).
        var ended = Fixture.view(status: "done", batchStatus: "done", logs: [])
        if case .object(var o) = ended, case .object(var job)? = o["job"] {
            job["end_time"] = "2026-04-23T09:00:00Z"
            o["job"] = .object(job)
            ended = .object(o)
        }
        var e = Fixture.state(ended, width: 100, height: 30)
        _ = Update.apply(&e, .key(.char("G")))
        _ = Update.apply(&e, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", []))
        #expect(GPUFixture.panel(e, width: 100, height: 2)[0] == "GPUS · no GPU readings for this job")
        let screen = ScreenView.render(e)
        let text = (0..<30).map { screen.row($0) }.joined(separator: "\n")
        #expect(text.contains("no log lines") && !text.contains("no log lines yet"), "\(text)")
    }

    @Test("G toggles the panel and asks for the history once per job; a job opened with it on asks when its view arrives")
    func gKey() {
        var s = Fixture.state(Fixture.view())
        #expect(!s.showGPUs && ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s)).gpus == nil)
        #expect(Update.apply(&s, .key(.char("G"))) == [.fetchGPUHistory(batchID: "b1", jobID: "j1")])
        #expect(s.showGPUs)
        #expect(Update.apply(&s, .key(.char("G"))) == [])
        #expect(!s.showGPUs)
        #expect(Update.apply(&s, .key(.char("G"))) == [], "asked already")
        // Back to the list and into the job again: a fresh job asks again once its view is in.
        _ = Update.apply(&s, .key(.escape))
        _ = Update.apply(&s, .jobsLoaded(batchID: "b1", [["id": "j1", "status": "running"]]))
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b1", jobID: "j1")])
        #expect(Update.apply(&s, .key(.char("G"))) == [], "nothing known yet: the view asks")
        #expect(Update.apply(&s, .key(.char("G"))) == [])
        #expect(Update.apply(&s, .viewLoaded(Fixture.view())) == [.fetchGPUHistory(batchID: "b1", jobID: "j1")])
        // A reload of the same job (after a reconnect) keeps the history and does not ask again.
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", GPUFixture.rows()))
        #expect(Update.apply(&s, .viewLoaded(Fixture.view())) == [])
        #expect(s.job?.gpuHistory.samples.count == 12)
        // A reply for another job is dropped.
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j9", GPUFixture.rows(snapshots: 20)))
        #expect(s.job?.gpuHistory.samples.count == 12)
    }

    func snapshot(_ id: Int, job: String? = nil, ts: String = "2026-04-23T09:09:40Z", data: JSON) -> JSON {
        [
            "id": JSON(id), "event_type": "resource_snapshot", "batch_id": "b1", "job_id": JSON(job), "timestamp": .string(ts),
            "data": data,
        ]
    }

    @Test("streamed snapshots join the history once each: the job's own and the batch's while it ran; flat keys are GPU 0")
    func streamedSnapshots() {
        var s = Fixture.state(Fixture.view(lastEventID: 100))
        _ = Update.apply(&s, .key(.char("G")))
        let gpus: JSON = ["gpus": [["index": 0, "util_pct": 12.5, "temp_c": 50]]]
        // Live snapshots arrive before the fetched page, which overlaps them (101 is in both).
        _ = Update.apply(&s, .streamEvent(snapshot(101, data: gpus)))
        _ = Update.apply(&s, .streamEvent(snapshot(102, job: "j1", data: ["gpu_util_pct": 77, "gpu_temp_c": 66])))
        var page = GPUFixture.rows(snapshots: 3)
        page.insert(["id": 101, "ts": "2026-04-23T09:09:40Z", "gpus": [["index": 0, "util_pct": 12.5]]], at: 0)
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", page))
        #expect(s.job?.gpuHistory.samples.map(\.id) == [1, 2, 3, 101, 102])
        _ = Update.apply(&s, .streamEvent(snapshot(103, job: "j2", data: gpus)))
        _ = Update.apply(&s, .streamEvent(snapshot(104, data: ["cpu_util_pct": 30])))
        _ = Update.apply(&s, .streamEvent(snapshot(105, ts: "2026-04-23T07:00:00Z", data: gpus)))
        let h = s.job!.gpuHistory
        #expect(h.samples.map(\.id) == [1, 2, 3, 101, 102], "j2's, one without GPUs and one from before the job are left out")
        #expect(h.latest(0)?.util == 77 && h.latest(0)?.tempC == 66)
        #expect(h.utilHistory(0, last: 3) == [18, 12.5, 77])
        #expect(h.utilHistory(3, last: 3) == [50, nil, nil])
        // Once the job has ended, the batch's later snapshots are not its own.
        _ = Update.apply(
            &s, .streamEvent(Fixture.summary(id: 106, job: ["status": "done", "end_time": "2026-04-23T09:09:50Z"])))
        _ = Update.apply(&s, .streamEvent(snapshot(107, ts: "2026-04-23T09:09:55Z", data: gpus)))
        _ = Update.apply(&s, .streamEvent(snapshot(108, ts: "2026-04-23T09:09:45Z", data: gpus)))
        #expect(s.job!.gpuHistory.samples.map(\.id).suffix(2) == [102, 108])
    }

    @Test("absurd figures (util and temperature ±1e308, memory 1e308, a negative util) do not trap and are no readings: – and no data")
    func absurdFigures() {
        var s = Fixture.state(Fixture.view(), width: 100, height: 30)
        _ = Update.apply(&s, .key(.char("G")))
        let rows: [JSON] = [
            [
                "id": 2,
                "gpus": [
                    ["index": 0, "util_pct": 1e308, "temp_c": 1e308, "mem_mb": 1e308, "mem_total_mb": 1e308],
                    ["index": 1, "util_pct": -1e308, "temp_c": -1e308],
                ],
            ],
            ["id": 1, "gpus": [["index": 0, "util_pct": -5]]],
        ]
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", rows))
        let panel = GPUFixture.panel(s, width: 100, height: 3)
        // No GPU can have them (`GPUFigures.figure`): they are no readings, not ">999%" or "<0%".
        #expect(panel[1] == " GPU 0 ░░░░░░░░░░      –  no data     –", "\(panel)")
        #expect(panel[2] == " GPU 1 ░░░░░░░░░░      –  no data     –", "\(panel)")
    }

    @Test("a GPU the newest snapshot no longer reports leaves the panel: its last readings are not shown as current")
    func goneGPU() {
        var s = Fixture.state(Fixture.view(), width: 100, height: 30)
        _ = Update.apply(&s, .key(.char("G")))
        let rows: [JSON] = [
            ["id": 3, "gpus": [["index": 0, "util_pct": 91]]],
            ["id": 2, "gpus": [["index": 0, "util_pct": 90], ["index": 1, "util_pct": 88, "temp_c": 71]]],
            ["id": 1, "gpus": [["index": 0, "util_pct": 89], ["index": 1, "util_pct": 87, "temp_c": 70]]],
        ]
        _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", rows))
        let panel = GPUFixture.panel(s, width: 100, height: 4)
        #expect(panel[0].contains("1 GPU ") && panel[1].contains("GPU 0") && panel[1].contains("91.0%"), "\(panel)")
        #expect(!panel.joined().contains("GPU 1") && !panel.joined().contains("71°C"), "GPU 1 is gone: \(panel)")
    }

    @Test("the history keeps its newest snapshots up to the capacity")
    func capacity() {
        var h = GPUHistory()
        let flat = JSONObject([("gpu_util_pct", JSON(5))])
        for id in 1...(GPUHistory.capacity + 10) { h.add(id: Int64(id), ts: nil, data: flat) }
        #expect(h.samples.count == GPUHistory.capacity && h.samples.first?.id == 11)
        h.add(id: 3, ts: nil, data: flat)
        #expect(h.samples.count == GPUHistory.capacity && h.samples.first?.id == 11, "older than all kept: not kept")
        h.add(id: 20, ts: nil, data: flat)
        #expect(h.samples.count == GPUHistory.capacity && h.samples.first?.id == 11, "known already")
    }

    @Test("E turns smoothing on at the factor shown, then cycles 0.9 → 0.95 → 0.99 → 0.6 → 0.8; e turns it off and keeps the factor")
    func eKeys() {
        var s = Fixture.state(Fixture.view(), width: 100)
        #expect(s.smoothing == nil && s.emaFactor == 0.9)
        _ = Update.apply(&s, .key(.char("E")))
        #expect(s.smoothing == 0.9)
        #expect(s.status == "EMA smoothing factor 0.9 (E cycles 0.6/0.8/0.9/0.95/0.99; e turns it off)")
        var seen: [Double] = []
        for _ in 0..<5 {
            _ = Update.apply(&s, .key(.char("E")))
            seen.append(s.emaFactor)
        }
        #expect(seen == [0.95, 0.99, 0.6, 0.8, 0.9])
        _ = Update.apply(&s, .key(.char("E")))
        _ = Update.apply(&s, .key(.char("e")))
        #expect(s.smoothing == nil && s.emaFactor == 0.95 && s.status == "EMA smoothing off")
        _ = Update.apply(&s, .key(.char("e")))
        #expect(s.smoothing == 0.95 && s.status == "EMA smoothing on (factor 0.95; E changes it)")
        // The help lists the factors from the same table.
        _ = Update.apply(&s, .key(.char("?")))
        #expect(ScreenView.render(s).text.contains("EMA smoothing factor: 0.6 → 0.8 → 0.9 → 0.95 → 0.99 (turns it on)"))
    }

    @Test("the legend, exactly, with the factor; a heavier factor smooths more and keeps the range")
    func legendFrame() throws {
        var s = Fixture.state(Fixture.view(), width: 100, height: 30)
        _ = Update.apply(&s, .key(.char("E")))
        _ = Update.apply(&s, .key(.char("E")))
        let legend = try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.contains("1━train_loss") })
        #expect(
            String(legend)
                == "1━train_loss 0.21  2━val_loss 0.2711  hidden: 3 lr 0.001  4 val_acc 0.79                  [EMA 0.95]")
        var ascii = Fixture.state(Fixture.view(), width: 100, height: 30, ascii: true)
        ascii.color = false
        _ = Update.apply(&ascii, .key(.char("E")))
        let row = try #require(ScreenView.render(ascii).text.split(separator: "\n").first { $0.contains("train_loss") })
        #expect(
            String(row) == "o1-train_loss 0.21  #2-val_loss 0.2711  hidden: 3 lr 0.001  4 val_acc 0.79                 [EMA 0.9]")
        // Heavier smoothing follows a falling loss more slowly: the smoothed last epoch sits higher.
        let col = s.job!.series.column("train_loss")!
        let last = { (f: Double) in ChartScale.smoothed(col, factor: f).last! }
        #expect(last(0.6) < last(0.9) && last(0.9) < last(0.99) && col.last! < last(0.6))
        // Debiased: the first value is the first epoch, not pulled towards 0.
        #expect(abs(ChartScale.smoothed(col, factor: 0.99)[0] - col[0]) < 1e-12)
    }
}

extension GPUPanelTests {
    @Test("with the GPUs panel open and a message over three rows, the log keeps its title and two lines from 20 rows up")
    func logKeepsRowsUnderPanel() {
        for height in 20...30 {
            var s = Fixture.state(Fixture.view(), width: 80, height: height)
            _ = Update.apply(&s, .key(.char("G")))
            _ = Update.apply(&s, .gpuHistoryLoaded(batchID: "b1", jobID: "j1", GPUFixture.rows()))
            s.status = String(repeating: "A sentence the server said about this job. ", count: 5)
            #expect(ScreenView.statusRows(s).count == 3)
            let layout = ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s))
            #expect(layout.logRows >= 2, "at \(height) rows: \(layout.log)")
            #expect((layout.gpus?.height ?? 0) >= 2 && layout.chart.height >= 4, "at \(height) rows")
        }
    }
}

extension GPUPanelTests {
    @Test("a snapshot a spill file delivers late goes where its time puts it: the newest reading is the one taken last")
    func historyByTime() {
        var h = GPUHistory()
        h.add(id: 10, ts: 100, data: JSONObject([("gpu_util_pct", JSON(81))]))
        h.add(id: 11, ts: 50, data: JSONObject([("gpu_util_pct", JSON(80))]))
        h.add(id: 11, ts: 50, data: JSONObject([("gpu_util_pct", JSON(80))]))
        h.add(id: 12, ts: 120, data: JSONObject([("gpu_util_pct", JSON(90))]))
        #expect(h.samples.map(\.id) == [11, 10, 12])
        #expect(h.samples.last?.devices.first?.util == 90)
    }
}
