import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

@Suite("State updates (keys and stream events)", .ownThread)
struct UpdateTests {
    func event(_ id: Int, _ type: String, job: String? = "j1", data: JSON = [:]) -> JSON {
        [
            "id": JSON(id), "event_type": .string(type), "batch_id": "b1", "job_id": JSON(job),
            "timestamp": "2026-04-23T09:05:00Z", "data": data,
        ]
    }

    @Test("raw events add chart points and log lines; a replayed id is ignored; the tiles change only with a summary")
    func streamEvents() {
        var s = Fixture.state(Fixture.view(epochs: 3, lastEventID: 100))
        let tiles = ScreenView.render(s).row(2)
        _ = Update.apply(
            &s,
            .streamEvent(
                event(
                    101, "job_epoch",
                    data: ["epoch": 3, "train_loss": 0.11, "val_loss": 0.13, "grad_norm": 2])))
        _ = Update.apply(
            &s, .streamEvent(event(102, "log_line", data: ["line": "fresh line", "level": "info"])))
        _ = Update.apply(
            &s,
            .streamEvent(
                event(103, "log_line", job: "b1", data: ["line": "heartbeat", "level": "debug"])))
        _ = Update.apply(
            &s,
            .streamEvent(
                event(
                    104, "resource_snapshot", job: nil, data: ["gpus": [["util_pct": 10], ["util_pct": 30]]]))
        )
        _ = Update.apply(
            &s,
            .streamEvent(
                event(105, "log_line", job: "other", data: ["line": "not mine", "level": "info"])))
        _ = Update.apply(
            &s, .streamEvent(event(102, "log_line", data: ["line": "fresh line", "level": "info"])))  // replayed
        _ = Update.apply(&s, .streamEvent(event(106, "job_failed", data: ["reason": "ValueError: boom"])))
        var job = s.job!
        #expect(job.series.count == 4)
        #expect(job.series.names.contains("grad_norm"))
        #expect(job.logs.filter { $0.line == "fresh line" }.count == 1)
        #expect(!job.logs.contains { $0.line == "heartbeat" || $0.line == "not mine" })
        #expect(job.lastEventID == 106)
        // The server is the only fold: raw events leave status, loss and GPU tiles as they were.
        #expect(job.epoch == 2 && job.trainLoss == 0.2 && job.gpuUtil == 87.5 && job.jobStatus == "running")
        #expect(ScreenView.render(s).row(2) == tiles)
        // The commit's summary (same id as its newest event) carries the new state; an older one is ignored.
        let view = Fixture.view(epochs: 3)
        let failed = Fixture.summary(
            id: 106, from: view, job: ["status": "failed", "failure_reason": "ValueError: boom"],
            telemetry: ["status": "failed", "epoch": 3, "train_loss": 0.11, "val_loss": 0.13, "gpu_util_pct": 20])
        #expect(Update.apply(&s, .streamEvent(failed)) == [], "the batch's status did not change: no action refetch")
        _ = Update.apply(&s, .streamEvent(Fixture.summary(id: 105, from: view, telemetry: ["epoch": 1])))
        job = s.job!
        #expect(job.epoch == 3)
        #expect(job.trainLoss == 0.11)
        #expect(job.gpuUtil == 20)
        #expect(job.jobStatus == "failed")
        #expect(job.failureReason == "ValueError: boom")
        let text = ScreenView.render(s).text
        #expect(text.contains("Failed: ValueError: boom"))
        #expect(text.contains("✗ failed") && text.contains("0.11 / 0.13 @3") && text.contains("20.0%"))
        // A summary of another batch is not ours.
        var other = Fixture.view()
        if case .object(var o) = other, case .object(var b)? = o["batch"] {
            b["id"] = "b2"
            o["batch"] = .object(b)
            other = .object(o)
        }
        _ = Update.apply(&s, .streamEvent(Fixture.summary(id: 107, from: other, telemetry: ["epoch": 9])))
        #expect(s.job?.epoch == 3)
    }

    @Test("the server's notices raise banners; the state they change comes in the summary after them")
    func banners() {
        var s = Fixture.state(Fixture.view())
        _ = Update.apply(
            &s,
            .streamEvent(event(101, "job_idle_flagged", data: ["since": "2026-04-23T08:55:00Z", "idle_for_s": 600])))
        let idleSince = Fmt.clock(Timestamp(iso: "2026-04-23T08:55:00Z")!.seconds)
        #expect(ScreenView.render(s).text.contains("GPU idle since \(idleSince): every GPU under 5%; nothing was stopped"))
        #expect(s.job?.idleFlagged == false, "the flag itself is the server's, in the summary")
        _ = Update.apply(
            &s,
            .streamEvent(
                Fixture.summary(
                    id: 101, job: ["is_idle_flagged": true],
                    telemetry: ["is_idle_flagged": true, "idle_since": "2026-04-23T08:55:00Z"])))
        #expect(s.job?.idleFlagged == true)
        #expect(ScreenView.render(s).text.contains("IDLE"))
        _ = Update.apply(&s, .streamEvent(event(102, "job_idle_recovered", data: ["idle_for_s": 720])))
        #expect(s.banner == "GPU busy again after 12m 00s idle")
        _ = Update.apply(
            &s,
            .streamEvent(
                event(103, "batch_stalled", job: nil, data: ["silent_s": 900, "last_received": "2026-04-23T08:50:00Z"])))
        let since = Fmt.clock(Timestamp(iso: "2026-04-23T08:50:00Z")!.seconds)
        #expect(ScreenView.render(s).text.contains("Stalled: nothing received from this run since \(since)"))
        let stalled = Fixture.summary(id: 103, batch: ["status": "stalled"], telemetry: ["status": "stalled"])
        #expect(Update.apply(&s, .streamEvent(stalled)) == [.fetchActions(batchID: "b1")], "the status changed")
        #expect(s.job?.shownStatus == "stalled")
        _ = Update.apply(&s, .streamEvent(event(104, "batch_resumed", job: nil, data: ["silent_s": 1500])))
        #expect(s.banner == "Resumed: the run is reporting again after 25m 00s of silence")
        _ = Update.apply(&s, .streamEvent(Fixture.summary(id: 104)))
        #expect(s.job?.shownStatus == "running")
        #expect(s.banner?.hasPrefix("Resumed:") == true, "still so while it runs")
        // Its spill file delivered late said resumed, then done: once it ended, the notice about its silence goes.
        _ = Update.apply(&s, .streamEvent(Fixture.summary(id: 105, batch: ["status": "done"], telemetry: ["status": "done"])))
        #expect(s.banner == nil, "\(s.banner ?? "")")
    }

    @Test(
        "the GPU-idle notice goes with the flag: a job that ends idle (stopped) no longer says its GPUs are idle; 'busy again' goes with the job's end"
    )
    func idleNoticeEndsWithTheJob() {
        var s = Fixture.state(Fixture.view())
        _ = Update.apply(&s, .streamEvent(event(101, "job_idle_flagged", data: ["idle_for_s": 600])))
        let flagged = Fixture.summary(id: 101, job: ["is_idle_flagged": true], telemetry: ["is_idle_flagged": true])
        _ = Update.apply(&s, .streamEvent(flagged))
        #expect(s.banner?.hasPrefix("GPU idle:") == true, "\(s.banner ?? "")")
        // Another summary while it stays flagged keeps it.
        _ = Update.apply(&s, .streamEvent(Fixture.summary(id: 102, job: ["is_idle_flagged": true])))
        #expect(s.banner?.hasPrefix("GPU idle:") == true)
        // Stopped: the server clears the flag with the job's end, and says nothing more.
        let stopped = Fixture.summary(
            id: 103, batch: ["status": "stopped"], job: ["status": "stopped", "is_idle_flagged": false],
            telemetry: ["status": "stopped", "is_idle_flagged": false])
        _ = Update.apply(&s, .streamEvent(stopped))
        #expect(s.banner == nil, "\(s.banner ?? "")")
        #expect(!ScreenView.render(s).text.contains("GPU idle"))
        // "Busy again" stays while the job runs, and goes with its end.
        var t = Fixture.state(Fixture.view())
        _ = Update.apply(&t, .streamEvent(event(101, "job_idle_recovered", data: ["idle_for_s": 720])))
        _ = Update.apply(&t, .streamEvent(Fixture.summary(id: 101)))
        #expect(t.banner == "GPU busy again after 12m 00s idle")
        _ = Update.apply(
            &t, .streamEvent(Fixture.summary(id: 102, batch: ["status": "done"], job: ["status": "done"], telemetry: ["status": "done"])))
        #expect(t.banner == nil, "\(t.banner ?? "")")
    }

    @Test("a latest loss the run reported as NaN or infinite reads NaN, not '–' (which is 'not reported')")
    func nonFiniteLatestLoss() {
        let s = Fixture.state(Fixture.view(nonFinite: ["train_loss"]))
        #expect(s.job?.trainLoss == EpochSeries.nonFinite && s.job?.valLoss == 0.25)
        #expect(ScreenView.render(s).text.contains("NaN / 0.25"))
        let row = JobRow(Fixture.view(nonFinite: ["val_loss"])["job"]!)
        #expect(row.valLoss == EpochSeries.nonFinite && row.trainLoss == 0.2)
        #expect(LossChart.shown(row.valLoss) == "NaN" && LossChart.shown(nil) == "–" && LossChart.shown(0.2) == "0.2")
    }

    @Test("'last event' and the stall banner go by the server's clock (last_received), not the training host's")
    func skewedHostClock() {
        // The host's clock is an hour slow: its timestamps say 07:40, the server received the event at 08:40.
        let s = Fixture.state(
            Fixture.view(
                batchStatus: "stalled", lastActivity: "2026-04-23T07:40:00Z", lastReceived: "2026-04-23T08:40:00Z",
                shownStatus: "stalled"))
        #expect(s.banner == "Stalled: nothing received from this run since \(Fmt.clock(Timestamp(iso: "2026-04-23T08:40:00Z")!.seconds))")
        #expect(ScreenView.render(s).text.contains("last event 30m ago"))
    }

    @Test("opening a stalled batch says so, and 'last event' is when the run last spoke, not when we connected")
    func openStalled() {
        var s = Fixture.state(Fixture.view(batchStatus: "stalled", lastActivity: "2026-04-23T08:40:00Z", shownStatus: "stalled"))
        #expect(s.banner == "Stalled: nothing received from this run since \(Fmt.clock(Timestamp(iso: "2026-04-23T08:40:00Z")!.seconds))")
        let text = ScreenView.render(s).text
        #expect(text.contains("last event 30m ago"))
        #expect(text.contains("stalled"))
        // Server-made events (here the idle flag) are not news from the run either.
        _ = Update.apply(&s, .streamEvent(event(101, "job_idle_flagged", data: ["idle_for_s": 600])))
        #expect(ScreenView.render(s).text.contains("last event 30m ago"))
        _ = Update.apply(&s, .streamEvent(event(102, "log_line", data: ["line": "alive", "level": "info"])))
        #expect(ScreenView.render(s).text.contains("last event 0s ago"))
    }

    @Test("the log follows the tail until scrolled; End follows again; / shows loaded matches until the server's arrive")
    func logScrollAndFilter() {
        let logs = (0..<300).map { ("info", "line \($0)") }
        var s = Fixture.state(Fixture.view(logs: logs))
        #expect(ScreenView.render(s).text.contains("line 299"))
        _ = Update.apply(&s, .key(.pageUp))
        #expect(s.logScroll > 0)
        #expect(!ScreenView.render(s).text.contains("line 299"))
        #expect(ScreenView.render(s).text.contains("scrolled"))
        _ = Update.apply(
            &s, .streamEvent(event(101, "log_line", data: ["line": "line 300", "level": "info"])))
        #expect(!ScreenView.render(s).text.contains("line 300"), "a scrolled view stays put")
        _ = Update.apply(&s, .key(.end))
        #expect(s.logScroll == 0)
        #expect(ScreenView.render(s).text.contains("line 300"))
        for k: Key in [
            .char("/"), .char("l"), .char("i"), .char("n"), .char("e"), .char(" "), .char("2"),
            .char("7"), .enter,
        ] {
            _ = Update.apply(&s, .key(k))
        }
        var text = ScreenView.render(s).text
        #expect(text.contains("filter \"line 27\": searching the whole log…"))
        #expect(text.contains("line 27\n") && text.contains("line 279"))
        let req = LogPageRequest(batchID: "b1", jobID: "j1", query: "line 27", beforeID: nil)
        #expect(s.logFetch == req)
        let matches = s.job!.logs.filter { $0.line.hasPrefix("line 27") }.reversed().map { l -> JSON in
            ["id": JSON(Int(l.id)), "ts": .string(l.ts), "job_id": "j1", "level": "info", "line": .string(l.line)]
        }
        _ = Update.apply(&s, .logPage(req, Array(matches)))
        text = ScreenView.render(s).text
        #expect(text.contains("filter \"line 27\": 11 matches"))
        #expect(text.contains("line 27\n") && text.contains("line 279"))
        #expect(!text.contains("line 300") && !text.contains("line 28"))
        _ = Update.apply(&s, .key(.escape))
        #expect(s.filter.isEmpty)
    }

    @Test("a scrolled log keeps its lines on screen while new ones arrive below; the count of lines up grows")
    func scrolledLogStaysPut() {
        var s = Fixture.state(Fixture.view(logs: (0..<300).map { ("info", "line \($0)") }))
        for _ in 0..<5 { _ = Update.apply(&s, .key(.up)) }
        func shown(_ s: AppState) -> [String] {
            ScreenView.render(s).text.split(separator: "\n").filter { $0.contains(" line ") }.map { String($0) }
        }
        let before = shown(s)
        #expect(s.logScroll == 5 && before.last?.hasSuffix("line 294") == true, "\(before)")
        for i in 0..<12 {
            _ = Update.apply(&s, .streamEvent(event(1000 + i, "log_line", data: ["line": "line \(300 + i)", "level": "info"])))
        }
        #expect(shown(s) == before)
        #expect(s.logScroll == 17 && ScreenView.render(s).text.contains("scrolled 17 up"))
        _ = Update.apply(&s, .key(.down))
        #expect(shown(s).last?.hasSuffix("line 295") == true, "Down moves one line from where the reader was")
        _ = Update.apply(&s, .key(.end))
        #expect(s.logScroll == 0 && shown(s).last?.hasSuffix("line 311") == true)
    }

    @Test(
        "digits toggle series, e smooths, g switches to log-y; navigation keys never trigger actions")
    func chartKeysAndSafety() {
        var s = Fixture.state(Fixture.view())
        #expect(s.visibleSeries == ["train_loss", "val_loss"])
        _ = Update.apply(&s, .key(.char("4")))
        #expect(s.visibleSeries == ["train_loss", "val_loss", "val_acc"])
        _ = Update.apply(&s, .key(.char("1")))
        #expect(s.visibleSeries == ["val_loss", "val_acc"])
        _ = Update.apply(&s, .key(.char("e")))
        #expect(s.ema)
        #expect(ScreenView.render(s).text.contains("EMA"))
        _ = Update.apply(&s, .key(.char("g")))
        #expect(s.logY)
        for k: Key in [.up, .down, .pageUp, .pageDown, .home, .end, .enter, .char("j"), .char("k")] {
            let effects = Update.apply(&s, .key(k))
            #expect(
                !effects.contains { if case .runAction = $0 { return true } else { return false } }, "\(k)")
        }
        // Stop asks first: y confirms, anything else cancels.
        #expect(Update.apply(&s, .key(.char("s"))) == [])
        #expect(s.confirming == .stop)
        #expect(ScreenView.render(s).text.contains("Stop batch b1?"))
        #expect(Update.apply(&s, .key(.char("n"))) == [])
        #expect(s.confirming == nil)
        _ = Update.apply(&s, .key(.char("s")))
        #expect(Update.apply(&s, .key(.other)) == [] && s.confirming == nil && s.status == "Stop cancelled.")
        _ = Update.apply(&s, .key(.char("?")))
        _ = Update.apply(&s, .key(.other))
        #expect(!s.showHelp, "a key with no binding closes the keys list too")
        _ = Update.apply(&s, .key(.char("s")))
        #expect(Update.apply(&s, .key(.char("y"))) == [.runAction(.stop)])
        // A disabled action says why instead of asking (once the server, asked again, still says no).
        #expect(Update.apply(&s, .key(.char("r"))) == [.fetchActions(batchID: "b1")])
        _ = Update.apply(&s, .actionsLoaded(batchID: "b1", Fixture.view()["actions"]!))
        #expect(s.confirming == nil)
        #expect(s.status?.contains("batch is still running") == true)
        #expect(Update.apply(&s, .key(.char("q"))) == [.quit])
        #expect(Update.apply(&s, .key(.ctrlC)) == [.interrupted])
    }

    @Test("a log search that fails while the server is away says so, keeps the loaded matches, and runs again once live")
    func searchFailsThenRetries() {
        var s = Fixture.state(Fixture.view(logs: (0..<300).map { ("info", "line \($0)") }))
        _ = Update.apply(&s, .connection(.live))
        for k: Key in [.char("/"), .char("l"), .char("i"), .char("n"), .char("e"), .char(" "), .char("2"), .char("7")] {
            _ = Update.apply(&s, .key(k))
        }
        let req = LogPageRequest(batchID: "b1", jobID: "j1", query: "line 27", beforeID: nil)
        #expect(s.logFetch == req)
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .unreachable)))
        _ = Update.apply(&s, .logPageFailed(req, "Cannot reach the server"))
        var text = ScreenView.render(s).text
        #expect(!text.contains("searching the whole log…"), "\(text)")
        #expect(text.contains("filter \"line 27\": 11 loaded matches · searching the whole log failed, again when the server is back"))
        #expect(text.contains("line 279"))
        // Narrower, the log's title loses its last words, not half of one.
        var narrow = s
        narrow.width = 80
        let title = ScreenView.render(narrow).text.split(separator: "\n").first { $0.hasPrefix("LOG  filter") }
        #expect(title == "LOG  filter \"line 27\": 11 loaded matches · searching the whole log failed…", "\(title ?? "")")
        #expect(Update.apply(&s, .connection(.live)) == [.fetchLogs(req)])
        text = ScreenView.render(s).text
        #expect(text.contains("searching the whole log…"))
        _ = Update.apply(&s, .logPage(req, []))
        #expect(ScreenView.render(s).text.contains("filter \"line 27\": 11 matches"))
        // A search that times out while the stream stays live (a server that hung a while) is tried again later.
        _ = Update.apply(&s, .key(.backspace))
        let again = LogPageRequest(batchID: "b1", jobID: "j1", query: "line 2", beforeID: nil)
        s.now = 500
        _ = Update.apply(&s, .logPageFailed(again, "no reply within 10 s"))
        #expect(ScreenView.render(s).text.contains("searching the whole log failed, again in 10 s"))
        #expect(Update.apply(&s, .tick(now: 505.5)) == [])
        #expect(ScreenView.render(s).text.contains("searching the whole log failed, again in 5 s"))
        #expect(Update.apply(&s, .tick(now: 510)) == [.fetchLogs(again)])
        // With no loaded line matching, the body does not claim the server is being asked while the search failed.
        _ = Update.apply(&s, .key(.char("q")))
        let none = LogPageRequest(batchID: "b1", jobID: "j1", query: "line 2q", beforeID: nil)
        _ = Update.apply(&s, .logPageFailed(none, "no reply within 10 s"))
        let body = ScreenView.render(s).text
        #expect(body.contains("no loaded line matches") && !body.contains("asking the server"), "\(body)")
    }

    @Test("a terminal too small for the screen takes only q, Ctrl-C and Esc: a Stop prompt hidden behind it ignores y")
    func tooSmallTakesOnlyQuit() {
        var s = Fixture.state(Fixture.view())
        _ = Update.apply(&s, .key(.char("s")))
        #expect(s.confirming == .stop)
        _ = Update.apply(&s, .resize(width: 30, height: 10))
        #expect(ScreenView.render(s).text.contains("terminal too small"))
        for k: Key in [.char("y"), .char("Y"), .enter, .char("r"), .char("c"), .char("S")] {
            #expect(Update.apply(&s, .key(k)) == [], "\(k)")
        }
        _ = Update.apply(&s, .resize(width: 120, height: 40))
        #expect(s.confirming == .stop && ScreenView.render(s).text.contains("Stop batch b1?"), "the prompt is still there")
        _ = Update.apply(&s, .resize(width: 30, height: 10))
        _ = Update.apply(&s, .key(.escape))
        #expect(s.confirming == nil, "Esc cancels, seen or not")
        #expect(Update.apply(&s, .key(.char("q"))) == [.quit])
        #expect(Update.apply(&s, .key(.ctrlC)) == [.interrupted])
    }

    @Test("Rerun waits on an agent: a finished batch's actions are asked for every few seconds; a refused r asks first")
    func rerunFollowsAgents() {
        func actions(rerun: JSON) -> JSON {
            [
                "stop": ["enabled": false, "reason": "batch already done"], "rerun": rerun,
                "share": ["enabled": true], "copy_command": ["enabled": true],
                "mark_failed": ["enabled": false, "reason": "batch already done"],
            ]
        }
        guard case .object(var v) = Fixture.view(status: "done", batchStatus: "done") else { return }
        v["actions"] = actions(rerun: ["enabled": false, "reason": "no agent online for host gpu-box-1"])
        let view = JSON.object(v)
        var s = Fixture.state(view)
        let t0 = s.now
        #expect(Update.apply(&s, .tick(now: t0 + 1)) == [.fetchActions(batchID: "b1")], "no event says an agent came")
        #expect(Update.apply(&s, .tick(now: t0 + 2)) == [], "not on every tick")
        #expect(Update.apply(&s, .tick(now: t0 + 1 + Update.agentRecheckS)) == [.fetchActions(batchID: "b1")])
        #expect(Update.apply(&s, .key(.char("r"))) == [.fetchActions(batchID: "b1")])
        #expect(s.confirming == nil, "decided on the server's answer")
        #expect(Update.apply(&s, .actionsLoaded(batchID: "b1", actions(rerun: ["enabled": true]))) == [])
        #expect(s.confirming == .rerun)
        #expect(Update.apply(&s, .key(.char("y"))) == [.runAction(.rerun)])
        // A running batch's actions change only with its summaries: no polling.
        var running = Fixture.state(Fixture.view())
        #expect(Update.apply(&running, .tick(now: running.now + 10)) == [])
        var readOnly = Fixture.state(view)
        readOnly.readOnly = true
        #expect(Update.apply(&readOnly, .tick(now: readOnly.now + 10)) == [])
        // Its action keys say why they do nothing.
        #expect(Update.apply(&readOnly, .key(.char("s"))) == [] && readOnly.confirming == nil)
        #expect(readOnly.status == "Stop is not available: this view is read-only (a share link, or --readonly).")
        // A stopping batch's Mark failed opens after a silent minute, which no event says: asked again too.
        var stopping = Fixture.state(Fixture.view(batchStatus: "stopping"))
        #expect(Update.apply(&stopping, .tick(now: stopping.now + 1)) == [.fetchActions(batchID: "b1")])
    }

    @Test("Mark failed: offered as the server's actions say; F asks first; the end streams in")
    func markFailedKey() {
        // Wide enough for the whole action bar with its reasons.
        var s = Fixture.state(Fixture.view(), width: 170)
        #expect(!ScreenView.render(s).text.contains("[F] Mark failed"), "shown only while it can be used")
        // A refused key asks the server again and is decided on its answer (here: the fetch failed, the old one stands).
        #expect(Update.apply(&s, .key(.char("F"))) == [.fetchActions(batchID: "b1")])
        #expect(s.status == nil)
        #expect(Update.apply(&s, .actionsLoaded(batchID: "b1", .null)) == [])
        #expect(s.confirming == nil)
        #expect(s.status == "Mark failed is not available: the run is still reporting.")
        // The run stalls: the summary changes the batch's status, so the actions are asked for again.
        let stalled = Fixture.summary(id: 101, batch: ["status": "stalled"], telemetry: ["status": "stalled"])
        #expect(Update.apply(&s, .streamEvent(stalled)) == [.fetchActions(batchID: "b1")])
        #expect(s.job?.actions["mark_failed"]?.enabled == false, "until the server answers")
        var actions = Fixture.view()["actions"]!
        if case .object(var a) = actions {
            a["mark_failed"] = ["enabled": true]
            actions = .object(a)
        }
        _ = Update.apply(&s, .actionsLoaded(batchID: "other", ["mark_failed": ["enabled": false]]))
        _ = Update.apply(&s, .actionsLoaded(batchID: "b1", actions))
        #expect(s.job?.actions["mark_failed"]?.enabled == true)
        #expect(Update.apply(&s, .key(.char("F"))) == [])
        #expect(s.confirming == .markFailed)
        #expect(ScreenView.render(s).text.contains("Mark batch b1 failed? It and its running jobs end as failed."))
        #expect(Update.apply(&s, .key(.char("y"))) == [.runAction(.markFailed)])
        _ = Update.apply(
            &s,
            .streamEvent(
                event(102, "batch_marked_failed", job: nil, data: ["reason": "Marked failed by alice: node lost"])))
        #expect(s.banner == "Marked failed by alice: node lost", "the reason replaces the stall banner")
        let failed = Fixture.summary(
            id: 102, batch: ["status": "failed"],
            job: ["status": "failed", "failure_reason": "Marked failed by alice: node lost"],
            telemetry: ["status": "failed"])
        #expect(Update.apply(&s, .streamEvent(failed)) == [.fetchActions(batchID: "b1")])
        _ = Update.apply(
            &s,
            .actionsLoaded(
                batchID: "b1",
                [
                    "stop": ["enabled": false, "reason": "batch already failed"], "rerun": ["enabled": true],
                    "share": ["enabled": true], "copy_command": ["enabled": true],
                    "mark_failed": ["enabled": false, "reason": "batch already failed"],
                ]))
        #expect(s.job?.batchStatus == "failed")
        #expect(s.job?.jobStatus == "failed")
        let text = ScreenView.render(s).text
        #expect(text.contains("✗ failed"))
        #expect(text.contains("Failed: Marked failed by alice: node lost"))
        #expect(!text.contains("[F] Mark failed"))
        #expect(text.contains("[r] Rerun  "), "the batch ended while we watched: Rerun is offered as the server says")
        #expect(text.contains("Stop (batch already failed)"))
    }

    @Test("Esc walks back from a job to its batch's jobs, then to the batch list")
    func navigation() {
        var s = Fixture.state(Fixture.view())
        #expect(Update.apply(&s, .key(.escape)) == [.closeJob, .loadJobs("b1")])
        #expect(s.screen == .jobs("b1"))
        _ = Update.apply(
            &s,
            .jobsLoaded(
                batchID: "b1", [["id": "j1", "status": "running"], ["id": "j2", "status": "done"]]))
        _ = Update.apply(&s, .key(.down))
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b1", jobID: "j2")])
        #expect(s.screen == .job)
        _ = Update.apply(&s, .key(.escape))
        #expect(Update.apply(&s, .key(.escape)) == [.loadBatches])
        #expect(s.screen == .batches)
    }

    @Test("a job's banner and a refused action's message stay on their screen: another job or screen starts clean")
    func noticesStayOnTheirScreen() {
        var s = Fixture.state(Fixture.view())
        // Another job's idle flag and recovery raise nothing here.
        _ = Update.apply(&s, .streamEvent(event(101, "job_idle_flagged", job: "j2", data: ["idle_for_s": 600])))
        _ = Update.apply(&s, .streamEvent(event(102, "job_idle_recovered", job: "j2", data: ["idle_for_s": 24])))
        #expect(s.banner == nil)
        _ = Update.apply(&s, .streamEvent(event(103, "job_idle_flagged", data: ["idle_for_s": 600])))
        _ = Update.apply(&s, .streamEvent(event(104, "job_idle_recovered", data: ["idle_for_s": 24])))
        #expect(s.banner == "GPU busy again after 24s idle")
        _ = Update.apply(&s, .message("Stop is not available: batch already done.", isError: true))
        #expect(ScreenView.render(s).text.contains("Stop is not available"))
        // Esc to the job list: neither follows.
        _ = Update.apply(&s, .key(.escape))
        #expect(s.banner == nil && s.status == nil)
        _ = Update.apply(
            &s, .jobsLoaded(batchID: "b1", [["id": "j1", "status": "running"], ["id": "j2", "status": "running"]]))
        #expect(!ScreenView.render(s).text.contains("Stop is not available"))
        // Opening the other job: its screen shows no banner from j1.
        _ = Update.apply(&s, .key(.down))
        _ = Update.apply(&s, .message("Rerun is not available: no command recorded.", isError: true))
        #expect(Update.apply(&s, .key(.enter)) == [.openJob(batchID: "b1", jobID: "j2")])
        #expect(s.banner == nil && s.status == nil)
        guard case .object(var v) = Fixture.view(), case .object(var job) = v["job"] else { return }
        job["id"] = "j2"
        v["job"] = .object(job)
        _ = Update.apply(&s, .viewLoaded(.object(v)))
        let text = ScreenView.render(s).text
        #expect(!text.contains("GPU busy again") && !text.contains("not available"), "\(text)")
    }

    @Test("targets parse as BATCH/JOB, BATCH or nothing")
    func targets() {
        #expect(Target.parse(nil) == .picker)
        #expect(Target.parse("") == .picker)
        #expect(Target.parse("b1") == .batch("b1"))
        #expect(Target.parse("b1/") == .batch("b1"))
        #expect(Target.parse("b1/j1") == .job("b1", "j1"))
        #expect(Target.parse("b1/j1/extra") == .job("b1", "j1/extra"))
    }

    @Test("a batch the server stopped says why when opened later (its end_reason), as it did live")
    func stoppedReasonOnOpen() {
        guard case .object(var view) = Fixture.view(status: "stopped", batchStatus: "stopped"),
            case .object(var batch)? = view["batch"]
        else { fatalError() }
        batch["end_reason"] = "Stopped: the run's process ended at the agent's SIGTERM."
        view["batch"] = .object(batch)
        let s = Fixture.state(.object(view))
        #expect(s.banner == "Stopped: the run's process ended at the agent's SIGTERM.")
        #expect(ScreenView.render(s).text.contains("⚠ Stopped: the run's process ended at the agent's SIGTERM."))
        // A later notice (a rerun of it that failed) is said beside it, not in its place (helper-88).
        var both = s
        _ = Update.apply(&both, .streamEvent(event(101, ServerEventTypes.rerunFailed, job: nil, data: ["error": "exit 3"])))
        #expect(
            both.banner == "Rerun failed on the host: exit 3  ·  Stopped: the run's process ended at the agent's SIGTERM.",
            "\(String(describing: both.banner))")
        // Without one (a run that ended itself), nothing is said.
        #expect(Fixture.state(Fixture.view(status: "stopped", batchStatus: "stopped")).banner == nil)
        // The server's guess gives way: the run's own end clears it (its summary has no reason), and the banner goes
        // with it; another notice is left be.
        batch["end_reason"] = "Stopped without confirmation: the run had sent nothing for 15 min and did not answer the Stop within 30 s."
        view["batch"] = .object(batch)
        var guessed = Fixture.state(.object(view))
        #expect(guessed.banner?.hasPrefix("Stopped without confirmation") == true)
        _ = Update.apply(&guessed, .streamEvent(Fixture.summary(id: 900, from: .object(view), batch: ["end_reason": .null])))
        #expect(guessed.banner == nil, "\(String(describing: guessed.banner))")
        guessed.notice = Banner("Share link copied")
        _ = Update.apply(&guessed, .streamEvent(Fixture.summary(id: 901, from: .object(view), batch: ["end_reason": .null])))
        #expect(guessed.banner == "Share link copied")
    }

    @Test("a rerun the agent could not start raises a banner with its reason")
    func rerunFailedBanner() {
        var s = Fixture.state(Fixture.view(status: "done", batchStatus: "done"))
        _ = Update.apply(
            &s,
            .streamEvent(
                event(101, ServerEventTypes.rerunFailed, job: nil, data: ["error": "cwd /data/run1 does not exist"])))
        #expect(s.banner == "Rerun failed on the host: cwd /data/run1 does not exist")
        #expect(ScreenView.render(s).text.contains("⚠ Rerun failed on the host: cwd /data/run1 does not exist"))
    }
}

extension UpdateTests {
    @Test("a key that does nothing here says so: where it works, or that it works nowhere; a series number past the last says how many")
    func keysThatDoNothingSaySo() {
        var s = Fixture.state(Fixture.view())
        _ = Update.apply(&s, .key(.char("C")))
        #expect(
            s.status
                == "C works on the batch list and batch screen (compare the marked jobs' curves on one chart); ? lists this screen's keys.")
        _ = Update.apply(&s, .key(.char("z")))
        #expect(s.status == "z does nothing here: ? lists the keys.")
        let n = s.job!.series.names.count
        _ = Update.apply(&s, .key(.char("9")))
        #expect(s.status == "No series 9: this chart has \(n) (m lists them).")
        s.status = nil
        _ = Update.apply(&s, .key(.other))
        #expect(s.status == nil, "a key that is no character stays silent")
    }
}

extension UpdateTests {
    @Test("a job opened while flagged idle shows the idle banner, since when, as the web page does")
    func openedIdle() {
        let s = Fixture.state(Fixture.view(idle: true))
        let since = Fmt.clock(Timestamp(iso: "2026-04-23T08:50:00Z")!.seconds)
        #expect(s.notice?.kind == .idle)
        #expect(ScreenView.render(s).text.contains("GPU idle since \(since): every GPU under 5%; nothing was stopped"))
        #expect(Fixture.state(Fixture.view()).notice == nil)
    }
}
