import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// The batch screen (one row per job, sortable, filterable, live) and the marks that feed the compare overlay.
@Suite("Batch screen: columns, sort, filter, marks", .ownThread)
struct BatchScreenTests {
    static func job(
        _ id: String, status: String = "running", model: String = "resnet", epoch: Int? = nil, total: Int? = nil,
        elapsed: Double? = nil, val: Double? = nil, best: Double? = nil, bestEpoch: Int? = nil, gpu: Double? = nil,
        spark: [Double] = []
    ) -> JSON {
        [
            "id": .string(id), "batch_id": "b", "model": .string(model), "status": .string(status),
            "telemetry": [
                "status": .string(status), "epoch": JSON(epoch), "total_epochs": JSON(total), "elapsed_s": JSON(elapsed),
                "val_loss": JSON(val), "best_val_loss": JSON(best), "best_val_epoch": JSON(bestEpoch),
                "gpu_util_pct": JSON(gpu), "loss_spark": .array(spark.map { JSON($0) }),
            ],
        ]
    }

    /// Four seeds of one sweep: done, running, failed early, and one that has not reported an epoch.
    static let rows: [JSON] = [
        job(
            "sweep-seed2", status: "done", epoch: 49, total: 50, elapsed: 3725, val: 0.4121, best: 0.4012, bestEpoch: 41,
            gpu: 91.5, spark: [2.0, 1.5, 1.1, 0.9, 0.7, 0.6, 0.55, 0.5]),
        job(
            "sweep-seed10", epoch: 12, total: 50, elapsed: 610, val: 0.6, best: 0.58, bestEpoch: 11, gpu: 97,
            spark: [2.1, 1.2, 0.8, 0.7]),
        job("sweep-seed1", status: "failed", model: "vit", epoch: 3, elapsed: 95, val: 1.9, best: 1.9, bestEpoch: 3, gpu: 12),
        job("sweep-seed3"),
    ]

    static func state(width: Int = 100, height: Int = 20) -> AppState {
        var s = AppState(screen: .jobs("b"))
        s.width = width
        s.height = height
        _ = Update.apply(&s, .jobsLoaded(batchID: "b", rows))
        _ = Update.apply(&s, .connection(.live))
        return s
    }

    static func ids(_ s: AppState) -> [String] { s.shownJobs.map(\.id) }

    @Test("back from a job or the overlay while offline, the batch screen keeps its rows as of the last load")
    func backOfflineKeepsRows() {
        var s = Self.state()
        _ = Update.apply(&s, .tick(now: 100))
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, .tick(now: 130))
        #expect(s.screen == .job)
        _ = Update.apply(&s, .connection(.live))
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .unreachable)))
        #expect(Update.apply(&s, .key(.escape)) == [.closeJob, .loadJobs("b")])
        _ = Update.apply(&s, .connection(.offline(.unreachable)))
        var text = ScreenView.render(s).text
        #expect(!text.contains("loading…") && Self.ids(s).count == 4 && text.contains("sweep-seed10"), "\(text)")
        #expect(text.contains("showing the jobs as of \(Fmt.clock(100))"), "the rows' time, not the job screen's: \(text)")
        for k: Key in [.char(" "), .down, .char(" "), .char("C")] { _ = Update.apply(&s, .key(k)) }
        #expect(s.screen == .compare)
        _ = Update.apply(&s, .key(.escape))
        text = ScreenView.render(s).text
        #expect(s.screen == .jobs("b") && !text.contains("loading…") && text.contains("sweep-seed10"), "\(text)")
    }

    @Test("a batch screen never loaded says so while the server is away, not loading…")
    func neverLoadedOffline() {
        var s = AppState(screen: .job)
        (s.width, s.height) = (100, 30)
        s.job = JobData(batchID: "b", jobID: "j")
        _ = Update.apply(&s, .connection(.offline(.unreachable)))
        #expect(Update.apply(&s, .key(.escape)) == [.closeJob, .loadJobs("b")])
        var text = ScreenView.render(s).text
        #expect(text.contains("not loaded yet · waiting for the server") && !text.contains("loading…"), "\(text)")
        #expect(text.contains("⚠ " + ConnectionProblem.unreachable.sentence + " · retrying"), "\(text)")
        _ = Update.apply(&s, .connection(.live))
        text = ScreenView.render(s).text
        #expect(text.contains("loading…"), "\(text)")
        _ = Update.apply(&s, .jobsLoaded(batchID: "b", Self.rows))
        #expect(ScreenView.render(s).text.contains("sweep-seed10"))
    }

    @Test("a batch id longer than the row loses its middle and leaves room for ● live")
    func longBatchID() {
        let long = "exp-" + String(repeating: "abcdefghij", count: 10) + "-TAILBATCH"
        var s = AppState(screen: .jobs(long))
        (s.width, s.height) = (80, 20)
        _ = Update.apply(&s, .jobsLoaded(batchID: long, Self.rows))
        _ = Update.apply(&s, .connection(.live))
        let header = ScreenView.render(s).text.split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.hasSuffix("-TAILBATCH  ● live"), "\(header)")
        #expect(header.contains("…"))
        #expect(TextWidth.of(header) <= 80)
    }

    @Test("one row per job: status, epoch / total, elapsed, latest and best val loss (at its epoch), GPU, sparkline")
    func frame() {
        let s = Self.state()
        let expected =
            [
                " argus  b                                                                                    ● live",
                " STATUS      JOB           MODEL   EPOCH  ELAPSED  VAL LOSS  BEST VAL    GPU    LOSS",
                " ✓ done      sweep-seed2   resnet  49/50  1h 02m   0.4121    0.4012 @41  91.5%  █▆▄▃▂▁▁▁",
                " ● running   sweep-seed10  resnet  12/50  10m 10s  0.6       0.58 @11    97.0%  █▃▁▁",
                " ✗ failed    sweep-seed1   vit     3      1m 35s   1.9       1.9 @3      12.0%",
                " ● running   sweep-seed3   resnet  –      –        –         –           –",
            ] + [String](repeating: "", count: 13) + [
                "↑↓ select · Enter open · / filter · < > sort · Space mark · Esc back · ? help · q quit"
            ]
        #expect(ScreenView.render(s).text == expected.joined(separator: "\n"))
    }

    @Test("an empty picker's hint is wrapped, URL whole, at 60 columns, and does not claim the server holds no batches")
    func emptyPicker() {
        var s = AppState(screen: .batches)
        (s.width, s.height) = (60, 20)
        s.serverLabel = "http://gpu-monitor.example.org:8000"
        _ = Update.apply(&s, .batchesLoaded([]))
        let text = ScreenView.render(s).text
        let body = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
        #expect(
            body.contains(
                "No batches yet that this token can see. Point a training script (argus-reporter) or `argus-server simulate` at http://gpu-monitor.example.org:8000."
            ), "\(text)")
    }

    @Test("a share link's batch screen offers no Esc back (its view starts there); Esc says so instead of doing nothing")
    func shareLinkHasNoBack() {
        var s = Self.state()
        s.readOnly = true
        s.pinnedBatch = "b"
        let hints = ScreenView.render(s).text.split(separator: "\n").last.map(String.init)
        #expect(hints == "↑↓ select · Enter open · / filter · < > sort · Space mark · ? help · q quit")
        let effects = Update.handleKey(&s, .escape)
        #expect(effects.isEmpty && s.screen == .jobs("b"))
        #expect(s.status == "This share link shows this one batch: there is nothing to go back to (q quits).")
    }

    @Test(
        "< and > pick the sort column (marked ▲/▼ in its title), I inverts; numbers sort as numbers, ids naturally, rows without a value last"
    )
    func sorting() {
        var s = Self.state()
        #expect(Self.ids(s) == ["sweep-seed2", "sweep-seed10", "sweep-seed1", "sweep-seed3"])
        _ = Update.apply(&s, .key(.char(">")))
        #expect(s.jobSort.column == .status)
        #expect(Self.ids(s) == ["sweep-seed10", "sweep-seed3", "sweep-seed2", "sweep-seed1"])
        _ = Update.apply(&s, .key(.char(">")))
        #expect(s.jobSort.column == .job)
        #expect(Self.ids(s) == ["sweep-seed1", "sweep-seed2", "sweep-seed3", "sweep-seed10"])
        for _ in 0..<4 { _ = Update.apply(&s, .key(.char(">"))) }
        #expect(s.jobSort.column == .valLoss)
        #expect(Self.ids(s) == ["sweep-seed2", "sweep-seed10", "sweep-seed1", "sweep-seed3"])
        #expect(ScreenView.render(s).text.contains("VAL LOSS▲"))
        _ = Update.apply(&s, .key(.char("I")))
        #expect(Self.ids(s) == ["sweep-seed1", "sweep-seed10", "sweep-seed2", "sweep-seed3"], "no value stays last")
        #expect(ScreenView.render(s).text.contains("VAL LOSS▼"))
        #expect(s.status == "Sorted by val loss, descending")
        // < from the first column wraps to the last sortable one (the sparkline does not sort).
        var t = Self.state()
        _ = Update.apply(&t, .key(.char("<")))
        #expect(t.jobSort.column == .gpu)
        #expect(Self.ids(t) == ["sweep-seed1", "sweep-seed2", "sweep-seed10", "sweep-seed3"])
    }

    @Test("the cursor stays on its job while the rows re-sort under a live update, and new jobs appear")
    func cursorFollowsTheJob() {
        var s = Self.state()
        for _ in 0..<6 { _ = Update.apply(&s, .key(.char(">"))) }  // val loss, ascending
        _ = Update.apply(&s, .key(.down))
        #expect(s.shownJobs[s.jobCursor].id == "sweep-seed10")
        // seed10's val loss drops below seed2's: it moves to the top, and the cursor with it.
        _ = Update.apply(
            &s, .jobsUpdated(batchID: "b", [Self.job("sweep-seed10", epoch: 13, total: 50, val: 0.3), Self.job("sweep-seed4")]))
        #expect(Self.ids(s) == ["sweep-seed10", "sweep-seed2", "sweep-seed1", "sweep-seed3", "sweep-seed4"])
        #expect(s.shownJobs[s.jobCursor].id == "sweep-seed10")
        #expect(ScreenView.render(s).text.contains("13/50"))
        // Another batch's update is not this screen's.
        _ = Update.apply(&s, .jobsUpdated(batchID: "other", [Self.job("intruder")]))
        #expect(!Self.ids(s).contains("intruder"))
    }

    @Test("/ filters as you type (every word, any column), Enter keeps it, Enter opens the row shown, Esc clears it")
    func filtering() {
        var s = Self.state()
        _ = Update.apply(&s, .key(.char("/")))
        for c in "vit fail" { _ = Update.apply(&s, .key(.char(c))) }
        #expect(Self.ids(s) == ["sweep-seed1"])
        let editing = ScreenView.render(s).text
        #expect(editing.hasSuffix("/vit fail▏   Enter keeps · Esc clears"))
        _ = Update.apply(&s, .key(.enter))
        #expect(!s.filterEditing && s.listFilter == "vit fail")
        #expect(ScreenView.render(s).text.split(separator: "\n").last!.hasPrefix("filter 'vit fail' · "))
        for _ in 0..<8 { _ = Update.apply(&s, .key(.backspace)) }
        #expect(s.listFilter == "vit fail", "Backspace edits only while typing")
        // Nothing matches: the list says so, instead of looking empty.
        _ = Update.apply(&s, .key(.char("/")))
        _ = Update.apply(&s, .key(.char("z")))
        #expect(ScreenView.render(s).text.contains("No job matches 'vit failz' (Esc clears the filter)."))
        _ = Update.apply(&s, .key(.backspace))
        _ = Update.apply(&s, .key(.enter))
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b", jobID: "sweep-seed1")])
        // Back on the list, Esc clears a kept filter before it leaves the batch.
        var t = Self.state()
        t.listFilter = "seed1"
        #expect(Self.ids(t) == ["sweep-seed10", "sweep-seed1"])
        #expect(Update.apply(&t, .key(.escape)) == [])
        #expect(t.listFilter.isEmpty && t.screen == .jobs("b"))
    }

    @Test(
        "with --ascii a cut text says so with \"...\" (a lone \".\" would read as a full stop or as part of a name); the same cut with \"…\" otherwise"
    )
    func asciiCutMark() {
        var s = Self.state()
        s.listFilter = "model-alpha-beta-gamma-delta-epsilon-zeta-eta-theta-iota-kappa"
        let unicode = ScreenView.render(s).text
        #expect(unicode.contains("No job matches 'model-alpha-beta-gam…ta-theta-iota-kappa' (Esc clears the filter)."))
        s.glyphs = .ascii
        let ascii = ScreenView.render(s).text
        #expect(ascii.contains("No job matches 'model-alpha-beta-ga...a-theta-iota-kappa' (Esc clears the filter)."))
        // The cuts of the other kinds: at a word, at the end, at the start.
        TextWidth.$cutMark.withValue("...") {
            #expect(TextWidth.truncateAtWord("the disk is full", 13) == "the disk...")
            #expect(TextWidth.truncate("abcdefgh", 6) == "abc...")
            #expect(TextWidth.truncateStart("abcdefgh", 6) == "...fgh")
            #expect(TextWidth.truncate("abcdefgh", 2) == "..", "as much of the mark as fits")
            #expect(TextWidth.wrap("one two three four", 9, maxRows: 1) == ["one..."])
        }
        #expect(TextWidth.truncateAtWord("the disk is full", 14) == "the disk is…")
    }

    @Test("Space marks a job and moves on; marks stay across batches and show in the picker; Space again unmarks")
    func marks() {
        var s = Self.state()
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.marked == [JobRef(batchID: "b", jobID: "sweep-seed2")])
        #expect(s.status == "1 job marked: mark one more to compare.")
        #expect(s.jobCursor == 1)
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.status == "2 jobs marked: C compares their loss curves.")
        let rows = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        #expect(rows[2].hasPrefix("◆✓ done") && rows[3].hasPrefix("◆● running") && rows[4].hasPrefix(" ✗ failed"))
        // To the picker and into another batch: the marks go along, and the picker shows which batch has some.
        _ = Update.apply(&s, .key(.escape))
        _ = Update.apply(&s, .batchesLoaded([["id": "b", "status": "running"], ["id": "c", "status": "done"]]))
        let picker = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        #expect(picker[2].hasPrefix("◆● running   b") && picker[3].hasPrefix(" ✓ done      c"))
        _ = Update.apply(&s, .key(.down))
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, .jobsLoaded(batchID: "c", [Self.job("other-run", status: "done")]))
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.marked.count == 3 && s.marked.last == JobRef(batchID: "c", jobID: "other-run"))
        _ = Update.apply(&s, .key(.up))
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.marked.count == 2, "Space on a marked job unmarks it")
        // Space in the picker marks nothing, and says where marks are made.
        _ = Update.apply(&s, .key(.escape))
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.marked.count == 2 && s.status?.hasPrefix("Marks are for jobs") == true)
    }

    @Test("the picker filters too, and shows each batch's owner to an admin only")
    func picker() {
        var s = AppState(screen: .batches)
        s.width = 100
        s.height = 20
        let rows: [JSON] = [
            ["id": "alice-sweep", "project": "vision", "owner": "alice", "user": "researcher", "status": "running", "host": "gpu1"],
            ["id": "bob-ablation", "project": "nlp", "owner": "bob", "user": "researcher", "status": "done", "host": "gpu2"],
        ]
        _ = Update.apply(&s, .batchesLoaded(rows))
        #expect(!ScreenView.render(s).text.contains("OWNER"))
        _ = Update.apply(&s, .sessionLoaded(isAdmin: true))
        let admin = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        #expect(admin[1].contains("PROJECT  OWNER  HOST"))
        #expect(admin[3].contains("bob-ablation  nlp      bob    gpu2"))
        _ = Update.apply(&s, .key(.char("/")))
        for c in "bob" { _ = Update.apply(&s, .key(.char(c))) }
        _ = Update.apply(&s, .key(.enter))
        #expect(s.shownBatches.map(\.id) == ["bob-ablation"])
        #expect(Update.apply(&s, .key(.enter)) == [.loadJobs("bob-ablation")])
        #expect(s.listFilter.isEmpty, "the batch screen starts unfiltered")
    }

    @Test("Esc from a batch comes back to the picker as it was: its filter, the cursor on that batch, also when opened by name")
    func backToThePicker() {
        var s = AppState(screen: .batches)
        (s.width, s.height) = (100, 20)
        let rows: [JSON] = ["big-sweep", "sim-a", "sim-b", "other"].map { ["id": .string($0), "status": "done"] }
        _ = Update.apply(&s, .batchesLoaded(rows))
        _ = Update.apply(&s, .key(.char("/")))
        for c in "sim" { _ = Update.apply(&s, .key(.char(c))) }
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, .key(.down))
        #expect(Update.apply(&s, .key(.enter)) == [.loadJobs("sim-b")])
        #expect(s.listFilter.isEmpty, "the batch screen starts unfiltered")
        #expect(Update.apply(&s, .key(.escape)) == [.loadBatches])
        #expect(s.listFilter == "sim" && s.shownBatches.map(\.id) == ["sim-a", "sim-b"])
        #expect(s.shownBatches[s.batchCursor].id == "sim-b")
        _ = Update.apply(&s, .batchesLoaded(rows))
        #expect(s.shownBatches[s.batchCursor].id == "sim-b", "the reload keeps it")
        #expect(ScreenView.render(s).text.contains("filter 'sim'"))

        // `argus-tui other`: the list arrives after Esc.
        var t = AppState(screen: .jobs("other"))
        (t.width, t.height) = (100, 20)
        _ = Update.apply(&t, .jobsLoaded(batchID: "other", Self.rows))
        #expect(Update.apply(&t, .key(.escape)) == [.loadBatches])
        _ = Update.apply(&t, .batchesLoaded(rows))
        #expect(t.shownBatches[t.batchCursor].id == "other")
    }

    @Test("back while the server is away, the lists show what the job screen last heard, not the older rows")
    func backOfflineShowsTheNewest() {
        var s = AppState(screen: .batches)
        (s.width, s.height) = (100, 20)
        _ = Update.apply(&s, .batchesLoaded([["id": "b", "status": "running"], ["id": "c", "status": "done"]]))
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, .jobsLoaded(batchID: "b", Self.rows))
        _ = Update.apply(&s, .key(.down))
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b", jobID: "sweep-seed10")])
        // The job screen hears that the run was stopped; then the server goes away.
        let stopped = Self.job("sweep-seed10", status: "stopped", epoch: 16, total: 50, val: 0.5)
        _ = Update.apply(&s, .viewLoaded(["batch": ["id": "b", "status": "stopped"], "job": stopped]))
        _ = Update.apply(&s, .connection(.offline(.unreachable)))
        _ = Update.apply(&s, .key(.escape))
        #expect(s.screen == .jobs("b"))
        let row = s.jobs.first { $0.id == "sweep-seed10" }
        #expect(row?.status == "stopped" && row?.epoch == 16, "\(String(describing: row))")
        #expect(s.shownJobs[s.jobCursor].id == "sweep-seed10")
        _ = Update.apply(&s, .key(.escape))
        #expect(s.screen == .batches && s.batches.first { $0.id == "b" }?.status == "stopped")
        #expect(ScreenView.render(s).text.contains("stopped"))
    }

    @Test("a pasted filter stops at 256 characters and says so, on the lists and in the job's log")
    func longFilter() {
        var s = Self.state()
        _ = Update.apply(&s, .key(.char("/")))
        for c in String(repeating: "j1 日本🚀", count: 600) { _ = Update.apply(&s, .key(.char(c))) }
        #expect(s.listFilter.count == LogFilter.maxQueryLength)
        #expect(ScreenView.render(s).text.contains("A filter holds at most 256 characters."))
        #expect(ListFilter(s.listFilter).words.count == 3, "each word once: \(ListFilter(s.listFilter).words)")
        _ = Update.apply(&s, .key(.escape))
        #expect(s.listFilter.isEmpty && Self.ids(s).count == 4)
        #expect(!ScreenView.render(s).text.contains("A filter holds"), "Esc takes the filter's note down with it")
        // Counted in code points: 600 combining accents on one letter are one character, and each key cost more
        // than the last (a freeze of minutes on 200 rows).
        _ = Update.apply(&s, .key(.char("/")))
        _ = Update.apply(&s, .key(.char("x")))
        for _ in 0..<600 { _ = Update.apply(&s, .key(.char(Character("\u{301}")))) }
        #expect(s.listFilter.unicodeScalars.count == LogFilter.maxQueryLength)
        _ = Update.apply(&s, .key(.escape))
        // A long filter's edit line shows its end in whole characters: a flag's two code points stay together.
        _ = Update.apply(&s, .key(.char("/")))
        for _ in 0..<200 { _ = Update.apply(&s, .key(.char("🇵🇯"))) }
        let line = String(ScreenView.render(s).text.split(separator: "\n").last ?? "")
        let flags = line.unicodeScalars.filter { (0x1F1E6...0x1F1FF).contains($0.value) }
        #expect(line.hasPrefix("/…🇵🇯") && flags.count % 2 == 0 && flags.count > 20, "\(line)")
        _ = Update.apply(&s, .key(.escape))

        var j = AppState(screen: .job)
        (j.width, j.height) = (100, 30)
        j.job = JobData(batchID: "b", jobID: "j")
        _ = Update.apply(&j, .key(.char("/")))
        var effects: [Effect] = []
        for c in String(repeating: "x", count: 300) { effects += Update.apply(&j, .key(.char(c))) }
        #expect(j.filter.count == LogFilter.maxQueryLength)
        // Read at once (a paste), the keys ask the server once: for the whole query.
        let full = LogPageRequest(batchID: "b", jobID: "j", query: j.filter, beforeID: nil)
        #expect(Update.coalesced(effects) == [.fetchLogs(full)])
        let older = Effect.fetchLogs(LogPageRequest(batchID: "b", jobID: "j", query: "x", beforeID: 5))
        #expect(Update.coalesced([older, .fetchLogs(full), .quit]) == [older, .fetchLogs(full), .quit])
    }

    @Test("the picker asks who the caller is again once the server answers, if it was away at the start")
    func sessionAskedAgain() {
        var s = AppState(screen: .batches)
        #expect(Update.apply(&s, .batchesLoaded([["id": "b", "status": "done"]])) == [.loadSession])
        _ = Update.apply(&s, .sessionLoaded(isAdmin: true))
        #expect(Update.apply(&s, .batchesLoaded([["id": "b", "status": "done"]])) == [])
    }

    @Test("ids sort naturally: seed2 before seed10, case ignored, a prefix first")
    func naturalOrder() {
        #expect(NaturalOrder.less("seed2", "seed10"))
        #expect(!NaturalOrder.less("seed10", "seed2"))
        #expect(NaturalOrder.less("Run-a", "run-b"))
        #expect(NaturalOrder.less("run", "run-1"))
        #expect(!NaturalOrder.less("run-1", "run"))
        #expect(NaturalOrder.less("x007", "x8"))
        #expect(!NaturalOrder.less("a", "a"))
    }

    @Test("Esc from a job comes back to the same filtered, sorted rows with the cursor on that job; no stale event age")
    func backFromAJob() {
        var s = Self.state()
        for _ in 0..<6 { _ = Update.apply(&s, .key(.char(">"))) }  // val loss
        _ = Update.apply(&s, .key(.char("/")))
        for c in "seed1" { _ = Update.apply(&s, .key(.char(c))) }
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, .key(.down))
        #expect(Self.ids(s) == ["sweep-seed10", "sweep-seed1"])
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b", jobID: "sweep-seed1")])
        s.lastEventAt = 1_000
        #expect(Update.apply(&s, .key(.escape)) == [.closeJob, .loadJobs("b")])
        #expect(s.lastEventAt == nil, "the job's 'last event' age does not follow to the list")
        _ = Update.apply(&s, .jobsLoaded(batchID: "b", Self.rows))
        #expect(s.listFilter == "seed1" && Self.ids(s) == ["sweep-seed10", "sweep-seed1"])
        #expect(s.shownJobs[s.jobCursor].id == "sweep-seed1")
    }

    @Test("a picker refresh that adds a batch above keeps the cursor on its batch")
    func pickerCursorFollowsItsBatch() {
        var s = AppState(screen: .batches)
        _ = Update.apply(&s, .batchesLoaded([["id": "a", "status": "done"], ["id": "b", "status": "done"]]))
        _ = Update.apply(&s, .key(.down))
        _ = Update.apply(
            &s, .batchesLoaded([["id": "new", "status": "running"], ["id": "a", "status": "done"], ["id": "b", "status": "done"]]))
        #expect(s.shownBatches[s.batchCursor].id == "b")
    }

    @Test("the batch screen does not change with the clock alone, so the terminal skips its once-a-second redraw")
    func clockFree() {
        var s = Self.state()
        s.now = 1_000
        let before = ScreenView.render(s).text
        _ = Update.apply(&s, .tick(now: 1_100))
        #expect(ScreenView.render(s).text == before)
        #expect(!Update.clockShown(s))
        // The picker's ages do move: it is redrawn every second.
        var p = AppState(screen: .batches)
        p.now = 1_000
        _ = Update.apply(&p, .batchesLoaded([["id": "a", "status": "running", "last_seen": "1970-01-01T00:16:30Z"]]))
        let t0 = ScreenView.render(p).text
        _ = Update.apply(&p, .tick(now: 1_100))
        #expect(ScreenView.render(p).text != t0 && Update.clockShown(p))
        // The age is the server's `last_seen` (which time that is: BatchRecord.lastSeenUs), not `last_activity`, which
        // comes from the run's host clock (an hour slow here).
        var q = AppState(screen: .batches)
        q.now = 10_000
        _ = Update.apply(
            &q,
            .batchesLoaded([
                ["id": "skewed", "status": "running", "last_activity": "1970-01-01T01:46:40Z", "last_seen": "1970-01-01T02:46:30Z"]
            ]))
        let row = ScreenView.render(q).text.split(separator: "\n").first { $0.contains("skewed") } ?? ""
        #expect(row.contains("10s ago") && !row.contains("1h"), "\(row)")
    }
}
