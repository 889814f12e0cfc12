import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

@Suite("Screen layout: honest placeholders, series chooser, widths and truncation, exits", .ownThread)
struct ScreenLayoutTests {
    /// A view with `n` extra metrics (m01…) besides the two losses.
    static func manySeries(_ n: Int) -> JSON {
        Fixture.view(epochs: 10) { e in
            var o = JSONObject([
                ("epoch", JSON(e)), ("train_loss", JSON(1.0 / Double(e + 1))), ("val_loss", JSON(1.2 / Double(e + 1))),
            ])
            for m in 1...n { o[String(format: "m%02d", m)] = JSON(Double(m) + Double(e) / 10) }
            return o
        }
    }

    @Test("before the first /view: nothing invented, the reason shown; the real values once it arrives")
    func notLoadedYet() {
        var s = AppState(screen: .job)
        s.width = 80
        s.height = 24
        s.serverLabel = "http://127.0.0.1:9"
        s.job = JobData(batchID: "b1", jobID: "j1")
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 2, problem: .unreachable)))
        let rows = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(rows[0].hasPrefix(" argus  b1 / j1"))
        #expect(rows[0].hasSuffix("◌ reconnecting (attempt 2)"))
        let body = rows[1...].joined(separator: "\n")
        #expect(body.contains("Nothing is known about this job yet."))
        #expect(body.contains("http://127.0.0.1:9: server unreachable; retrying (attempt 2)."))
        for invented in ["running", "STATUS", "ELAPSED", "–", "waiting for the first epoch", "[s] Stop"] {
            #expect(!body.contains(invented), "shows '\(invented)' before anything is known")
        }
        // Stop before anything is known is refused, not asked.
        #expect(Update.apply(&s, .key(.char("s"))) == [])
        #expect(s.confirming == nil)
        _ = Update.apply(&s, .viewLoaded(Fixture.view()))
        _ = Update.apply(&s, .connection(.live))
        let text = ScreenView.render(s).text
        #expect(text.contains("● running") && text.contains("1h 02m") && !text.contains("Nothing is known about this job yet."))
    }

    @Test("a hint line too long for the terminal loses keys from its middle, never Esc back · ? help · q quit")
    func hintsKeepTheirEnd() throws {
        for width in [120, 100, 80, 60] {
            let s = Fixture.state(Fixture.view(), width: width)
            let hint = try #require(ScreenView.render(s).text.split(separator: "\n").last.map(String.init))
            #expect(hint.hasSuffix("… · Esc back · ? help · q quit") && TextWidthCheck.columns(hint) <= width, "\(hint)")
            // The first keys stay too, while they fit.
            #expect(width == 60 || hint.hasPrefix("↑↓ PgUp/PgDn Home scroll log"), "\(hint)")
        }
        // In ASCII the dropped keys are "...", not a lone "." (helper-87).
        let ascii = Fixture.state(Fixture.view(), width: 80, ascii: true)
        let plainHint = try #require(ScreenView.render(ascii).text.split(separator: "\n").last.map(String.init))
        #expect(plainHint.hasSuffix(" | ... | Esc back | ? help | q quit") && plainHint.count <= 80, "\(plainHint)")
        var batch = BatchScreenTests.state(width: 60)
        _ = Update.apply(&batch, .tick(now: 100))
        let hint = try #require(ScreenView.render(batch).text.split(separator: "\n").last.map(String.init))
        #expect(hint.hasSuffix("Esc back · ? help · q quit"), "\(hint)")
        // A kept list filter stays first, cut in its middle when it must (helper-87: at 60 columns it went with the
        // other keys, and nothing said the list was filtered); Esc clears it first, so the line says that, not back.
        batch.listFilter = "seed0 stop"
        var line = try #require(ScreenView.render(batch).text.split(separator: "\n").last.map(String.init))
        #expect(line == "filter 'seed0 stop' · … · Esc clears · ? help · q quit", "\(line)")
        batch.listFilter = "lr=3e-4 seed=0 warmup=500 batch=256"
        line = try #require(ScreenView.render(batch).text.split(separator: "\n").last.map(String.init))
        #expect(
            line.hasPrefix("filter 'lr=3e-4 ") && line.contains("…") && line.hasSuffix("256' · … · Esc clears · ? help · q quit")
                && TextWidthCheck.columns(line) == 60, "\(line)")
    }

    @Test("the unreachable-at-start frame, exactly")
    func notLoadedFrame() {
        var s = AppState(screen: .job)
        s.width = 64
        s.height = 20
        s.serverLabel = "http://127.0.0.1:9"
        s.job = JobData(batchID: "b1", jobID: "j1")
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 2, problem: .unreachable)))
        let empty = [String](repeating: "", count: 6)
        let expected =
            [" argus  b1 / j1" + String(repeating: " ", count: 22) + "◌ reconnecting (attempt 2)"] + empty + [
                "              Nothing is known about this job yet.",
                " http://127.0.0.1:9: server unreachable; retrying (attempt 2).",
                "       Status and numbers appear when the server answers.",
            ] + empty + ["", "", "", "↑↓ PgUp/PgDn Home scroll log · … · Esc back · ? help · q quit"]
        #expect(ScreenView.render(s).text == expected.joined(separator: "\n"))
        // The server answered that it has no such job: its numbers come when the run reports it.
        _ = Update.apply(
            &s, .connection(.reconnecting(attempt: 3, problem: .serverError(status: 404, detail: "Job 'j1' of batch 'b1' not found."))))
        let text = ScreenView.render(s).text
        #expect(text.contains("It opens here as soon as its run reports it.") && !text.contains("when the server answers"), "\(text)")
        #expect(text.split(separator: "\n")[0].hasSuffix("◌ not reported yet"), "the server answered: waiting, not trouble")
    }

    @Test("more than nine series: the legend shows what fits and how many are left, drawn and hidden; m opens a scrolling chooser")
    func seriesChooser() throws {
        var s = Fixture.state(Self.manySeries(14), width: 100, height: 20)
        let legend = try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.contains("1━train_loss") })
        let more = try #require(legend.range(of: #"\+(\d+) hidden \(m\)"#, options: .regularExpression))
        let hidden = Int(legend[more].dropFirst().prefix { $0.isNumber })!
        // Entries are two spaces apart; the hidden series come after "hidden:".
        let entries = legend[..<more.lowerBound].components(separatedBy: "  ").filter { !$0.isEmpty }
        #expect(entries.count + hidden == 16, "\(legend)")
        #expect(entries.filter { $0.contains("━") }.count == 2 && entries[2].hasPrefix("hidden: 3 m01 "), "\(legend)")
        #expect(TextWidthCheck.columns(String(legend)) <= 100)
        // Six drawn at 60 columns: what does not fit is counted by kind, so no drawn line goes unmentioned.
        var narrow = Fixture.state(Self.manySeries(14), width: 60, height: 20)
        for k: Character in ["3", "4", "5", "6"] { _ = Update.apply(&narrow, .key(.char(k))) }
        let row = try #require(ScreenView.render(narrow).text.split(separator: "\n").first { $0.contains("1━train_loss") })
        let left = try #require(row.firstMatch(of: #/\+(\d+) drawn, (\d+) hidden \(m\)/#), "\(row)")
        let listed = row[..<left.range.lowerBound].components(separatedBy: "  ").filter { !$0.isEmpty }
        #expect(listed.allSatisfy { $0.contains("━") }, "\(row)")
        #expect(listed.count + Int(left.1)! == 6 && Int(left.2)! == 10, "\(row)")
        // The chooser lists every series, scrolls to the cursor, and toggles any of them.
        _ = Update.apply(&s, .key(.char("m")))
        var text = ScreenView.render(s).text
        #expect(text.contains("chart series: 2 of 16 shown"))
        #expect(text.contains("[✓] 1 ━ train_loss") && text.contains("[ ] 3 ━ m01"))
        #expect(!text.contains("m14"), "20 rows cannot show all 16: the list scrolls")
        _ = Update.apply(&s, .key(.end))
        text = ScreenView.render(s).text
        #expect(text.contains("[ ]   ━ m14") && !text.contains("1 ━ train_loss"))
        #expect(text.contains("of 16"))
        _ = Update.apply(&s, .key(.char(" ")))
        #expect(s.visibleSeries == ["train_loss", "val_loss", "m14"])
        #expect(ScreenView.render(s).text.contains("[✓]   ━ m14"))
        // Keys go to the chooser while it is open: q still quits, Esc closes it.
        _ = Update.apply(&s, .key(.char("s")))
        #expect(s.confirming == nil)
        _ = Update.apply(&s, .key(.escape))
        #expect(s.chooserCursor == nil)
        let after = ScreenView.render(s).text
        #expect(after.contains("2━val_loss 0.12  ━m14 14.9"), "a shown series is listed before the hidden ones")
        _ = Update.apply(&s, .key(.char("m")))
        #expect(Update.apply(&s, .key(.char("q"))) == [.quit])
    }

    @Test("long ids keep both ends in the header and lists; prefix-sharing names stay apart")
    func longIDs() {
        let batch = "exp-2026-04-23-sweep-learning-rate-warmup-cosine"
        let job = "exp-2026-04-23-patchtst-etth1-lr3e-4-seed3"
        guard case .object(var v) = Fixture.view(), case .object(var b)? = v["batch"], case .object(var j)? = v["job"]
        else { Issue.record("fixture shape"); return }
        b["id"] = .string(batch)
        j["id"] = .string(job)
        v["batch"] = .object(b)
        v["job"] = .object(j)
        let s = Fixture.state(.object(v), width: 80, height: 24)
        let header = ScreenView.render(s).row(0)
        #expect(header.contains("…") && header.contains("seed3") && header.contains("● live"), "\(header)")
        #expect(header.contains(" / exp-2026-"))
        var list = AppState(screen: .jobs(batch))
        list.width = 60
        list.height = 20
        _ = Update.apply(
            &list,
            .jobsLoaded(
                batchID: batch,
                ["seed3", "seed4"].map { ["id": .string("exp-2026-04-23-patchtst-etth1-lr3e-4-" + $0), "status": "stopping"] }))
        let text = ScreenView.render(list).text
        #expect(text.contains("exp-2026-0…e-4-seed3") && text.contains("exp-2026-0…e-4-seed4"), "\(text)")
        #expect(text.contains("◐ stopping"))
        #expect(TextWidth.truncateMiddle("exp-2026-04-23-seed3", 16) == "exp-2026…3-seed3")
        #expect(TextWidth.truncateMiddle("exp-2026-04-23-seed3", 20) == "exp-2026-04-23-seed3")
    }

    @Test("no status or level is cut: columns and tiles are as wide as the longest value")
    func widths() {
        var s = Fixture.state(
            Fixture.view(
                logs: [("warning", "disk almost full"), ("critical", "node lost"), ("info", "ok")]), width: 60,
            height: 20)
        _ = Update.apply(
            &s,
            .streamEvent(
                Fixture.summary(
                    id: 101, batch: ["status": "stopping", "stop_requested": true], telemetry: ["status": "stopping"])))
        let g = ScreenView.render(s)
        #expect(g.row(2).contains("◐ stopping"), "\(g.row(2))")
        #expect(g.text.contains("WARNING  disk almost full") && g.text.contains("CRITICAL node lost"))
        #expect(g.text.contains("INFO     ok"))
        // Tiles fit their values when there is room, whatever the values are (e.g. a longer GPU figure).
        let w = JobPanels.tileWidths(labels: ["STATUS", "GPU MEM PEAK", "LOSS"], values: [10, 18, 14], total: 80)
        #expect(w == [22, 30, 28])  // needs 13, 21, 17; 29 spare columns shared out, the remainder to the last
        let narrow = JobPanels.tileWidths(labels: ["STATUS", "GPU MEM PEAK", "LOSS"], values: [10, 18, 14], total: 40)
        #expect(narrow.reduce(0, +) == 40 && narrow[0] == 13)
    }

    @Test("a row too narrow for the tiles keeps their figures whole: short labels and figures, not 'GPU MEM P…' over a cut value")
    func narrowTiles() throws {
        for (width, gpus, peak, loss, figures) in [
            (60, 4, 63.5, 1.317, ["63.5/79.6G×4", "1.317/1.402"]), (70, 4, 63.5, 1.317, ["63.5/79.6G×4", "1.317/1.402"]),
            (80, 4, 63.5, 1.317, ["63.5 / 79.6 GiB ×4", "1.317 / 1.402 @46"]),
            (120, 4, 63.5, 1.317, ["63.5 / 79.6 GiB ×4", "1.317 / 1.402 @46"]),
            // Four decimals and a fuller GPU: the status tile gives its spare room, then the GPU count goes.
            (60, 4, 63.4, 0.4421, ["63.4/79.6G×4", "0.4421/1.402"]), (60, 8, 136.7, 0.4421, ["136.7/140.4G", "0.4421/1.402"]),
            (64, 8, 136.7, 0.4421, ["136.7/140.4G×8", "0.4421/1.402"]),
        ] {
            var s = Fixture.state(Fixture.view(), width: width, height: 24)
            let total = peak > 80 ? 140.4 : 79.6
            s.job?.gpuMemPeak = peak * 1024
            s.job?.gpuMemTotal = total * 1024
            s.job?.gpuMem = GPUMemPeaks((0..<gpus).map { GPUMemPeaks.Peak(index: $0, peakMB: 60_000, totalMB: total * 1024) })
            s.job?.trainLoss = loss
            s.job?.valLoss = 1.402
            s.job?.epoch = 46
            let rows = ScreenView.render(s).text.split(separator: "\n").map(String.init)
            let labels = try #require(rows.first { $0.contains("STATUS") })
            let values = rows[try #require(rows.firstIndex(of: labels)) + 1]
            #expect(!values.contains("…") && !labels.contains("…"), "\(width): \(labels) / \(values)")
            for f in figures { #expect(values.contains(f), "\(width): \(values)") }
        }
    }

    @Test("on a short terminal the help scrolls, so every key (m included) can be read")
    func helpScrolls() {
        var s = Fixture.state(Fixture.view(), width: 80, height: 24)
        _ = Update.apply(&s, .key(.char("?")))
        let text = ScreenView.render(s).text
        #expect(text.contains("↑↓ scroll · any other key closes"))
        #expect(!text.contains("open the batch a rerun started as"))
        // Page by page, every binding's line comes into view.
        var seen = text
        let (rows, keyW, boxW) = ScreenView.helpLines(s)
        for _ in 0..<rows.count / 10 + 1 {
            _ = Update.apply(&s, .key(.pageDown))
            seen += ScreenView.render(s).text
        }
        let here = KeyBindings.shown(on: .job, readOnly: false)
        for b in here { #expect(seen.contains(String(b.help.prefix(40))), "never shown: \(b.help)") }
        #expect(seen.contains("open the batch a rerun started as") && seen.contains("choose chart series from a list"))
        // A help text too long for the box at 80 columns goes on in the next row, under its own column; none is cut.
        #expect(rows.allSatisfy { TextWidth.of($0.text) <= boxW - 4 - keyW })
        var joined: [String] = []
        for row in rows {
            if row.key.isEmpty { joined[joined.count - 1] += " " + row.text } else { joined.append(row.text) }
        }
        #expect(joined.count == here.count && joined.contains("search the job's whole log (Enter keeps, Esc clears)"))
        #expect(rows.contains { $0.key.isEmpty }, "at 80 columns some help texts need two rows")
        #expect(seen.contains(" keys on the job screen "))
        // Paged past the end, the position stops at the last full window, so one step up moves it at once.
        for _ in 0..<5 { _ = Update.apply(&s, .key(.pageDown)) }
        #expect(s.helpScroll == rows.count - ScreenView.helpVisibleRows(s))
        let last = ScreenView.render(s).text
        _ = Update.apply(&s, .key(.up))
        #expect(ScreenView.render(s).text != last)
        #expect(s.showHelp)
        // Home and End go to the top and the bottom of the list; they do not close it.
        _ = Update.apply(&s, .key(.home))
        #expect(s.showHelp && s.helpScroll == 0)
        _ = Update.apply(&s, .key(.end))
        #expect(s.showHelp && s.helpScroll == rows.count - ScreenView.helpVisibleRows(s))
        _ = Update.apply(&s, .key(.char("x")))
        #expect(!s.showHelp)
    }

    @Test("a share link's view neither lists nor offers opening a rerun's batch, which the link cannot show; it says why")
    func shareLinkRerun() {
        var s = Fixture.state(Fixture.view(), width: 120, height: 60)
        s.readOnly = true
        s.pinnedBatch = "b1"
        _ = Update.apply(
            &s,
            .streamEvent([
                "id": 101, "event_type": "rerun_started", "batch_id": "b1", "timestamp": "2026-04-23T09:05:00Z",
                "data": ["new_batch_id": "b1-again"],
            ]))
        #expect(s.banner == "Rerun started as batch b1-again", "no 'press o' on a share link")
        _ = Update.apply(&s, .key(.char("?")))
        let help = ScreenView.render(s).text
        #expect(help.contains("this help") && !help.contains("open the batch a rerun started as"), "\(help)")
        _ = Update.apply(&s, .key(.escape))
        #expect(Update.apply(&s, .key(.char("o"))).isEmpty && s.screen == .job)
        #expect(s.status == "This share link shows this one batch: open the rerun, b1-again, with your own token.")
        // With the user's own token, o opens it.
        s.pinnedBatch = nil
        s.readOnly = false
        #expect(Update.apply(&s, .key(.char("o"))).contains(.loadJobs("b1-again")))
    }

    @Test("Ctrl-C asks to exit as interrupted (130), from anywhere; q is an ordinary quit")
    func interrupt() {
        var s = Fixture.state(Fixture.view())
        #expect(Update.apply(&s, .key(.ctrlC)) == [.interrupted])
        _ = Update.apply(&s, .key(.char("?")))
        #expect(Update.apply(&s, .key(.ctrlC)) == [.interrupted])
        _ = Update.apply(&s, .key(.char("/")))
        #expect(Update.apply(&s, .key(.ctrlC)) == [.interrupted])
        #expect(!Update.apply(&s, .key(.char("q"))).contains(.quit))
        #expect(s.filter == "q", "typed into the filter")
    }

    @Test("too small: the live screen says how big it must be and that q quits")
    func tooSmall() {
        let s = Fixture.state(Fixture.view(), width: 50, height: 12)
        let blank = [String](repeating: "", count: 5)
        let centred = [
            String(repeating: " ", count: 16) + "terminal too small", String(repeating: " ", count: 16) + "50×12, need 60×20",
            String(repeating: " ", count: 21) + "q quits",
        ]
        #expect(ScreenView.render(s).text == (blank + centred + blank.dropLast()).joined(separator: "\n"))
    }

    @Test("the action bar keeps every key and name on screen; long reasons end in … instead of pushing actions off")
    func actionBarFits() throws {
        for width in [120, 100, 80] {
            var s = Fixture.state(Fixture.view(status: "failed", batchStatus: "failed"), width: width)
            s.job?.actions["rerun"] = (false, "no agent online for host vm registered by alice, the batch's owner")
            s.job?.actions["copy_command"] = (false, "no command recorded for this batch by its training script")
            let bar = try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") })
            for name in ["[s] Stop", "[r] Rerun", "[S] Share", "[c] Copy command"] {
                #expect(bar.contains(name), "\(width) columns: \(bar)")
            }
            #expect(TextWidthCheck.columns(String(bar)) <= width)
            if width == 120 { #expect(bar.contains("(no agent online for host") && bar.contains("…)"), "\(bar)") }
        }
    }

    @Test(
        "neighbours refused for one reason (a viewer token's Stop, Rerun and Share) say it once, whole, after the last of them; a reason that would be cut to a stub is left out, and (off) says they are"
    )
    func sharedReasonOnce() throws {
        for (width, bar) in [
            (
                120,
                "[s] Stop  [r] Rerun  [S] Share (all three: this token can only read)  [c] Copy command (the recorded command holds a n…)"
            ),
            // A reason left out says "(off)" in its place: plain text (--dump) has no dimming.
            (100, "[s] Stop  [r] Rerun  [S] Share (all three: this token can only read)  [c] Copy command (off)"),
            (80, "[s] Stop  [r] Rerun  [S] Share (all three off)  [c] Copy command (off)"),
            (70, "[s] Stop  [r] Rerun  [S] Share (all three off)  [c] Copy command (off)"),
            // Narrower still: one space apart, and the group's marker counts what it covers.
            (60, "[s] Stop [r] Rerun [S] Share (3 off) [c] Copy command (off)"),
        ] {
            var s = Fixture.state(Fixture.view(status: "running", batchStatus: "running"), width: width)
            for id in ["stop", "rerun", "share"] { s.job?.actions[id] = (false, "this token can only read") }
            s.job?.actions["copy_command"] = (false, "the recorded command holds a newline that a paste into a shell would run")
            let shown = try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") })
            #expect(shown.trimmingCharacters(in: .whitespaces) == bar, "\(width) columns")
        }
        // Copy command enabled (a viewer may copy a recorded command): at 70 columns "all three: this to…" would say
        // nothing, so the group says it is off instead.
        var viewer = Fixture.state(Fixture.view(status: "running", batchStatus: "running"), width: 70)
        for id in ["stop", "rerun", "share"] { viewer.job?.actions[id] = (false, "this token can only read") }
        viewer.job?.actions["copy_command"] = (true, nil)
        let bar70 = try #require(ScreenView.render(viewer).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") })
        #expect(bar70.trimmingCharacters(in: .whitespaces) == "[s] Stop  [r] Rerun  [S] Share (all three off)  [c] Copy command")
        viewer.width = 60
        let bar60 = try #require(ScreenView.render(viewer).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") })
        #expect(bar60.trimmingCharacters(in: .whitespaces) == "[s] Stop [r] Rerun [S] Share (all 3 off) [c] Copy command")
        // Three reasons of their own at 60 columns (helper-91): the long names get shorter; and what still does not
        // fit (all five actions, Mark failed offered) ends with the cut mark, never past the edge or mid-word alone.
        var three = Fixture.state(Fixture.view(status: "done", batchStatus: "done"), width: 60)
        three.job?.actions["stop"] = (false, "batch already done")
        three.job?.actions["rerun"] = (false, "no command recorded")
        three.job?.actions["share"] = (true, nil)
        three.job?.actions["copy_command"] = (false, "no command recorded")
        func bar(_ s: AppState) throws -> String {
            try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") }).description
        }
        #expect(try bar(three).trimmingCharacters(in: .whitespaces) == "[s] Stop (off) [r] Rerun (off) [S] Share [c] Copy (off)")
        three.job?.actions["mark_failed"] = (true, nil)
        let five = try bar(three)
        #expect(TextWidth.of(five) <= 60 && five.hasSuffix("…") && five.hasPrefix("[s] Stop (off) [r] Rerun (off)"), "\(five)")
        three.glyphs = .ascii
        let ascii = try bar(three)
        #expect(ascii.hasSuffix("...") && TextWidth.of(ascii) <= 60, "\(ascii)")
        // Two neighbours: "both"; one alone keeps its reason as it was.
        var s = Fixture.state(Fixture.view(status: "running", batchStatus: "running"), width: 120)
        s.job?.actions["stop"] = (false, "stop already requested")
        s.job?.actions["rerun"] = (false, "batch is still running")
        s.job?.actions["share"] = (false, "batch is still running")
        let shown = try #require(ScreenView.render(s).text.split(separator: "\n").first { $0.hasPrefix("[s] Stop") })
        #expect(
            shown.hasPrefix("[s] Stop (stop already requested)  [r] Rerun  [S] Share (both: batch is still running)  [c] Copy command"),
            "\(shown)")
    }
}
