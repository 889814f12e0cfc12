import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// The compare overlay: marked jobs' curves of one metric on one chart, one legend entry and table row per job.
@Suite("Compare overlay", .ownThread)
struct CompareTests {
    static let a = JobRef(batchID: "sweep", jobID: "seed1")
    static let b = JobRef(batchID: "sweep", jobID: "seed2")
    static let c = JobRef(batchID: "rerun", jobID: "seed1")

    /// A job's view whose train loss decays from `start` over `epochs` epochs (val loss a little above it).
    /// Its telemetry says what the server's fold of those epochs says: the last epoch's losses, the lowest val loss.
    static func view(_ start: Double, epochs: Int = 6, status: String = "done") -> JSON {
        let v = Fixture.view(status: status, epochs: epochs) { e in
            JSONObject([
                ("epoch", JSON(e)), ("train_loss", JSON(start / Double(e + 1))),
                ("val_loss", JSON(start / Double(e + 1) + 0.1)), ("acc", JSON(Double(e) / 10)),
            ])
        }
        let last = Double(epochs)
        return telemetry(
            v,
            [
                "train_loss": JSON(start / last), "val_loss": JSON(start / last + 0.1), "best_val_loss": JSON(start / last + 0.1),
                "best_val_epoch": JSON(epochs - 1),
            ])
    }

    /// `view` with its job's telemetry changed.
    static func telemetry(_ view: JSON, _ changes: [String: JSON]) -> JSON {
        guard case .object(var o) = view, case .object(var job)? = o["job"], case .object(var t)? = job["telemetry"] else { return view }
        for p in changes { t[p.key] = p.value }
        job["telemetry"] = .object(t)
        o["job"] = .object(job)
        return .object(o)
    }

    static func opened() -> (AppState, [Effect]) {
        var s = AppState(screen: .jobs("rerun"))
        s.width = 80
        s.height = 20
        s.color = false
        s.marked = [a, b, c]
        _ = Update.apply(&s, .connection(.live))
        let effects = Update.apply(&s, .key(.char("C")))
        return (s, effects)
    }

    @Test("C needs two marks; it opens the overlay and fetches each marked job, across batches")
    func opening() {
        var s = AppState(screen: .jobs("sweep"))
        s.marked = [Self.a]
        #expect(Update.apply(&s, .key(.char("C"))) == [])
        #expect(s.screen == .jobs("sweep") && s.status == "1 job marked: mark one more to compare.")
        let (t, effects) = Self.opened()
        #expect(effects == [.closeJob, .loadCompare([Self.a, Self.b, Self.c])])
        #expect(t.screen == .compare)
        #expect(ScreenView.render(t).text.contains("loading 3 jobs' epochs…"))
    }

    @Test("a job whose run stalled reads stalled in the table, as on the batch screen, not the job's own running")
    func stalledStatus() {
        var (s, _) = Self.opened()
        _ = Update.apply(&s, .compareLoaded(Self.a, Self.telemetry(Self.view(2.0, status: "running"), ["status": "stalled"]), epochs: nil))
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.view(1.0, epochs: 4, status: "running"), epochs: nil))
        let rows = ScreenView.render(s).text.split(separator: "\n")
        #expect(rows.contains { $0.contains("sweep/seed1") && $0.contains("stalled") && !$0.contains("running") }, "\(rows)")
        #expect(rows.contains { $0.contains("seed2") && $0.contains("running") }, "\(rows)")
    }

    @Test("the overlay, exactly: a curve, legend entry and table row per job; ids shared across batches say their batch")
    func frame() {
        var (s, _) = Self.opened()
        _ = Update.apply(&s, .compareLoaded(Self.a, Self.view(2.0), epochs: nil))
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.view(1.0, epochs: 4, status: "running"), epochs: nil))
        _ = Update.apply(&s, .compareFailed(Self.c, "the server answered 404: Job 'seed1' of batch 'rerun' not found"))
        let text = ScreenView.render(s).text
        let expected = """
             argus  compare 3 jobs · train_loss                                      ● live
            ●1━sweep/seed1 0.3333  ■2━seed2 0.25
             2.5 ┤
                 │
                 │●⢄⡀
                 │  ⠈⠒⠤⣀
                 │      ⠑⠢⢄
            1.25 ┤         ⠉⠒⠤⡀
                 │⠤⣀⣀         ⠈⠑⠢⠤⣀⣀⡀
                 │   ⠉⠉⠒⠢⠤⢄⣀        ⠈⠉⠉⠒⠒⠢⠤⠤⣀⣀⡀
                 │          ⠉⠉⠒⠒⠤⠤⠤⣀⣀⣀⣀⣀      ⠈⠉⠉⠉⠉⠑⠒⠒⠒⠒⠒⠒⠢⠤⠤⠤⠤⠤⠤⠤⣀⣀⣀⣀⣀⣀⣀⡀
                 │                      ⠉⠉⠉⠉⠉⠒⠒⠒⠒⠒⠒⠢⠤⠤⠤⠤⠤⠤⢄⣀⣀⣀⡀          ⠈⠉⠉⠉⠉⠉⠉⠉⠉⠉⠉⠑⠒⠒⠒⠒⠒⠒⠒
               0 ┤
                 └0────────────────────────────────epoch 2─────────────────────────────────5
                 JOB          STATUS     LATEST  LOWEST     EPOCHS
             ●1  sweep/seed1  ✓ done     0.3333  0.3333 @5  6 (to 5)
             ■2  seed2        ● running  0.25    0.25 @3    4 (to 3)
                 rerun/seed1  ✗ the server answered 404: Job 'seed1' of batch 'rerun' not f…
            Could not load rerun/seed1: the server answered 404: Job 'seed1' of batch
            'rerun' not found
            """
        #expect(text == expected)
    }

    @Test("after retention purged epochs, the table shows the losses the server kept: its latest, its lowest val loss, '0 (purged)'")
    func purgedEpochs() {
        var (s, _) = Self.opened()
        // seed1's epochs 0–10 were purged; its best val loss (0.1 at epoch 2) was among them.
        let partial = Fixture.view(status: "done", epochs: 20) { e in
            JSONObject([("epoch", JSON(e)), ("train_loss", JSON(1.0 + Double(e) / 100)), ("val_loss", JSON(1.1 + Double(e) / 100))])
        }
        var rows = partial
        if case .object(var o) = partial {
            o["epochs"] = .array(Array(partial["epochs"]?.arrayValue?.dropFirst(11) ?? []))
            rows = .object(o)
        }
        _ = Update.apply(
            &s,
            .compareLoaded(
                Self.a, Self.telemetry(rows, ["train_loss": 1.19, "val_loss": 1.29, "best_val_loss": 0.1, "best_val_epoch": 2]),
                epochs: nil))
        // seed2's epochs were all purged: only the summary is left.
        var none = Self.view(1.0)
        if case .object(var o) = none {
            o["epochs"] = []
            none = .object(o)
        }
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.telemetry(none, ["train_loss": 0.3639, "val_loss": 0.4639]), epochs: nil))
        s.compare!.metric = "val_loss"
        s.compare!.rebuild()
        let text = ScreenView.render(s).text
        #expect(text.contains("sweep/seed1  ✓ done  1.29    0.1 @2"), "\(text)")
        #expect(text.contains("seed2        ✓ done  0.4639"), "\(text)")
        #expect(text.contains("0 (purged)"), "\(text)")
    }

    @Test("digits hide and show a job's curve, m picks the metric overlaid, e and g work as on the job screen")
    func keys() {
        var (s, _) = Self.opened()
        _ = Update.apply(&s, .compareLoaded(Self.a, Self.view(2.0), epochs: nil))
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.view(1.0, epochs: 4, status: "running"), epochs: nil))
        _ = Update.apply(&s, .compareLoaded(Self.c, Self.view(3.0), epochs: nil))
        #expect(s.compare!.visibleLabels == ["sweep/seed1", "seed2", "rerun/seed1"])
        _ = Update.apply(&s, .key(.char("2")))
        #expect(s.compare!.visibleLabels == ["sweep/seed1", "rerun/seed1"])
        // The hidden job's legend entry moves after the shown ones, dimmed and without its marker and line.
        #expect(ScreenView.render(s).row(1).hasPrefix("●1━sweep/seed1 0.3333  ◆3━rerun/seed1 0.5  hidden: 2 seed2 0.25"))
        // Every job hidden: said so, not "every visible series is empty".
        for k in ["1", "3"] { _ = Update.apply(&s, .key(.char(Character(k)))) }
        #expect(ScreenView.render(s).text.contains("nothing to plot: every job is hidden (its digit shows it again)"))
        for k in ["1", "2", "3"] { _ = Update.apply(&s, .key(.char(Character(k)))) }
        #expect(s.compare!.visibleLabels.count == 3)
        #expect(ScreenView.render(s).row(1).hasPrefix("●1━sweep/seed1 0.3333  ■2━seed2 0.25  ◆3━rerun/seed1"))
        _ = Update.apply(&s, .key(.char("m")))
        let chooser = ScreenView.render(s).text
        #expect(chooser.contains("metric to compare") && chooser.contains("(●) train_loss") && chooser.contains("( ) acc"))
        _ = Update.apply(&s, .key(.down))
        _ = Update.apply(&s, .key(.enter))
        #expect(s.compare!.metric == "val_loss" && s.compare!.chooserCursor == nil)
        let text = ScreenView.render(s).text
        #expect(text.contains("compare 3 jobs · val_loss"))
        #expect(text.contains("0.4333 @5"), "seed1's lowest val loss: 2/6 + 0.1")
        _ = Update.apply(&s, .key(.char("g")))
        #expect(s.logY && ScreenView.render(s).text.contains("[log y]"))
        _ = Update.apply(&s, .key(.char("e")))
        #expect(s.ema && ScreenView.render(s).text.contains("EMA"))
    }

    @Test("finished jobs that could not be loaded (the server away) are fetched again every 10 s until they load")
    func retriesWhenNothingRuns() {
        var (s, _) = Self.opened()
        (s.now, s.compare!.loadedAt) = (1000, 1000)  // opened at 1000
        for ref in [Self.a, Self.b, Self.c] { _ = Update.apply(&s, .compareFailed(ref, "Cannot reach the server")) }
        _ = Update.apply(&s, .connection(.offline(.unreachable)))
        #expect(Update.apply(&s, .tick(now: 1005)) == [])
        #expect(Update.apply(&s, .tick(now: 1011)) == [.loadCompare([Self.a, Self.b, Self.c])])
        for ref in [Self.a, Self.b, Self.c] { _ = Update.apply(&s, .compareLoaded(ref, Self.view(2.0), epochs: nil)) }
        _ = Update.apply(&s, .connection(.live))
        #expect(Update.apply(&s, .tick(now: 1030)) == [], "all loaded and finished: nothing more to fetch")
        let header = ScreenView.render(s).text.split(separator: "\n")[0]
        #expect(header.hasSuffix("✓ all finished") && !header.contains("live"), "it follows nothing: \(header)")
    }

    @Test("while a compared job runs its epochs are fetched again every 10 s; Esc goes back to where C was pressed")
    func refreshAndBack() {
        var (s, _) = Self.opened()
        s.now = 1000
        _ = Update.apply(&s, .compareLoaded(Self.a, Self.view(2.0), epochs: nil))
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.view(1.0, status: "running"), epochs: nil))
        #expect(Update.apply(&s, .tick(now: 1011)) == [], "not while a job has not answered yet")
        _ = Update.apply(&s, .compareLoaded(Self.c, Self.view(3.0), epochs: nil))
        #expect(Update.apply(&s, .tick(now: 1015)) == [])
        #expect(Update.apply(&s, .tick(now: 1021)) == [.loadCompare([Self.a, Self.b, Self.c])])
        #expect(Update.apply(&s, .tick(now: 1022)) == [])
        // A slow round (big jobs) spaces the next one out: 200 times the slowest fetch, here 0.1 s → 20 s.
        _ = Update.apply(&s, .compareLoaded(Self.b, Self.view(1.0, status: "running"), epochs: nil, seconds: 0.1))
        #expect(Update.apply(&s, .tick(now: 1032)) == [])
        #expect(Update.apply(&s, .tick(now: 1043)) == [.loadCompare([Self.a, Self.b, Self.c])])
        // A refresh that fails keeps the curve already drawn.
        _ = Update.apply(&s, .compareFailed(Self.b, "server unreachable"))
        #expect(s.compare!.loaded[Self.b] != nil && s.compare!.failed[Self.b] == nil)
        #expect(Update.apply(&s, .key(.escape)) == [.loadJobs("rerun")])
        #expect(s.screen == .jobs("rerun") && s.compare == nil && s.marked.count == 3, "marks are kept")
        // From the picker, back to the picker; u clears the marks.
        var p = AppState(screen: .batches)
        p.marked = [Self.a, Self.c]
        _ = Update.apply(&p, .key(.char("C")))
        #expect(Update.apply(&p, .key(.escape)) == [.loadBatches] && p.screen == .batches)
        _ = Update.apply(&p, .key(.char("u")))
        #expect(p.marked.isEmpty && p.status == "Unmarked 2 jobs.")
        _ = Update.apply(&p, .key(.char("u")))
        #expect(p.status == "No jobs marked.")
        // Opened from a filtered list: one Esc goes back to the same filtered rows.
        var f = AppState(screen: .jobs("rerun"))
        f.listFilter = "seed"
        f.marked = [Self.a, Self.c]
        _ = Update.apply(&f, .key(.char("C")))
        #expect(Update.apply(&f, .key(.escape)) == [.loadJobs("rerun")])
        #expect(f.screen == .jobs("rerun") && f.listFilter == "seed")
    }

    @Test("the legend drops the words every compared id starts with; the table keeps whole ids")
    func legendLabels() {
        let sweep = (0..<3).map { JobRef(batchID: "b", jobID: "resnet50-lr3e-4-seed\($0)") }
        let c = CompareState(refs: sweep)
        #expect(sweep.map(c.chartLabel) == ["…seed0", "…seed1", "…seed2"])
        #expect(c.label(sweep[0]) == "resnet50-lr3e-4-seed0")
        // Only whole words go, and only ones all share; short or no common words leave the ids alone.
        let mixed = CompareState(refs: [JobRef(batchID: "b", jobID: "exp-1"), JobRef(batchID: "b", jobID: "exp-1-b")])
        #expect(mixed.refs.map(mixed.chartLabel) == ["…1", "…1-b"])
        let apart = CompareState(refs: [JobRef(batchID: "b", jobID: "alpha-1"), JobRef(batchID: "b", jobID: "beta-1")])
        #expect(apart.refs.map(apart.chartLabel) == ["alpha-1", "beta-1"])
        let ab = CompareState(refs: [JobRef(batchID: "b", jobID: "ab-1"), JobRef(batchID: "b", jobID: "ab-2")])
        #expect(ab.refs.map(ab.chartLabel) == ["ab-1", "ab-2"], "a prefix under 3 characters is kept")
        // With --ascii the dropped words are "...", not a "…" that would become a lone "." (helper-91).
        var s = AppState(screen: .jobs("b"))
        s.glyphs = .ascii
        s.marked = sweep
        _ = Update.apply(&s, .connection(.live))
        _ = Update.apply(&s, .key(.char("C")))
        #expect(sweep.map { s.compare?.chartLabel($0) } == ["...seed0", "...seed1", "...seed2"])
    }

    @Test("without colour the table shows each job's chart marker; more jobs than rows end in a '+N more jobs' row")
    func markersAndOverflow() {
        let refs = (0..<12).map { JobRef(batchID: "b", jobID: "run-\($0)") }
        var s = AppState(screen: .jobs("b"))
        s.width = 80
        s.height = 24
        s.color = false
        s.marked = refs
        _ = Update.apply(&s, .key(.char("C")))
        for (k, r) in refs.enumerated() { _ = Update.apply(&s, .compareLoaded(r, Self.view(Double(k + 1)), epochs: nil)) }
        let rows = ScreenView.render(s).text.split(separator: "\n").map(String.init)
        let table = rows.firstIndex { $0.contains("JOB") && $0.contains("LOWEST") }!
        #expect(rows[table + 1].hasPrefix(" ●1  run-0 ") && rows[table + 2].hasPrefix(" ■2  run-1 "), "\(rows[table...])")
        #expect(rows[table].hasSuffix("EPOCHS"), "the header is whole")
        let last = rows[rows.count - 2]
        #expect(last.contains("more jobs (a taller terminal shows each)"), "\(rows)")
    }
}
