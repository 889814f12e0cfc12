import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// What the TUI says and keeps when the server misbehaves: the model (`Update.apply`), the view
/// (`ScreenView.render`) and the feed's reading of each SSE message, without a network.
@Suite("Connection trouble: the problem is said, the last good state stays", .ownThread)
struct ConnectionStateTests {
    static func rows(_ s: AppState) -> [String] {
        ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    @Test("each problem is one clear sentence: status and the server's detail, or what was not JSON, or how long it was silent")
    func sentences() {
        #expect(
            ConnectionProblem.serverError(status: 500, detail: "database is locked").sentence
                == "server error 500: database is locked")
        #expect(
            ConnectionProblem.serverError(status: 502, detail: nil).sentence
                == "server error 502 Bad Gateway (the reply gave no detail)")
        #expect(
            ConnectionProblem.serverError(status: 429, detail: "too many streams").sentence
                == "the server answered 429: too many streams")
        #expect(ConnectionProblem.malformed("event 42").sentence == "event 42 from the server is not valid JSON")
        #expect(ConnectionProblem.stalled(seconds: 24.5).sentence == "stream stalled: nothing from the server for 24s")
        #expect(
            ConnectionProblem.noReply(seconds: 10).sentence
                == "the server accepted the connection but sent no reply in 10s")
        #expect(
            ConnectionProblem.dropped("the server closed the stream").sentence
                == "stream dropped: the server closed the stream")
        #expect(ConnectionProblem.unreachable.sentence == "server unreachable")
    }

    @Test("retries double from 0.5 s up to 10 s; a batch or job not reported yet is asked for again every 2 s at most")
    func retryPace() {
        let away = ConnectionProblem.unreachable
        let notYet = ConnectionProblem.serverError(status: 404, detail: "Batch 'b' not found.")
        #expect((1...7).map { JobStream.backoff($0, for: away) } == [0.5, 1, 2, 4, 8, 10, 10])
        #expect((1...7).map { JobStream.backoff($0, for: notYet) } == [0.5, 1, 2, 2, 2, 2, 2])
        // A 404 that is not the server's own sentence (a proxy's page, say) is trouble: the long pace.
        #expect(JobStream.backoff(7, for: .serverError(status: 404, detail: nil)) == 10)
    }

    @Test("a stall is declared after 1.5× the announced keepalive plus 2 s; 24.5 s when none was announced")
    func stallTimeout() {
        #expect(SSEConnection.stallTimeout(keepalive: nil) == 24.5)
        #expect(SSEConnection.stallTimeout(keepalive: 15) == 24.5)
        #expect(SSEConnection.stallTimeout(keepalive: 1) == 3.5)
        // The longest healthy silence: the server's keepalive clock ticks every keepalive/3 s, at most 5 s.
        for k in [0.5, 1, 15, 60] { #expect(SSEConnection.stallTimeout(keepalive: k) > k + min(5, k / 3)) }
    }

    @Test("losing the stream keeps the job on screen; the status line says what is wrong, the retry, and since when")
    func keepsLastGoodState() throws {
        var s = Fixture.state(Fixture.view(), width: 120, height: 40)
        let before = Self.rows(s)
        #expect(s.connectionLostAt == nil)
        let lost = s.now
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .serverError(status: 500, detail: "database is locked"))))
        #expect(s.connectionLostAt == lost)
        s.now += 7
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 2, problem: .stalled(seconds: 24.5))))
        #expect(s.connectionLostAt == lost, "the first loss dates the screen, not the latest retry")
        let rows = Self.rows(s)
        #expect(rows[0].contains("◌ reconnecting (attempt 2) · last event"), "\(rows[0])")
        #expect(
            rows.last
                == "⚠ stream stalled: nothing from the server for 24s · reconnecting (attempt 2) · showing what arrived until \(Fmt.clock(lost))"
        )
        // Narrower, the time is said in fewer words, then the retry (in the header too) gives way; it is not cut off.
        var narrow = s
        narrow.width = 95
        #expect(
            Self.rows(narrow).last
                == "⚠ stream stalled: nothing from the server for 24s · reconnecting (attempt 2) · as of \(Fmt.clock(lost))")
        narrow.width = 80
        #expect(Self.rows(narrow).last == "⚠ stream stalled: nothing from the server for 24s · as of \(Fmt.clock(lost))")
        #expect(Self.rows(narrow)[0].contains("reconnecting (attempt 2)"))
        // Narrower still, the sentence is not cut: the time goes on a row of its own, taken from the log's pane,
        // and the retry with it where it fits there.
        narrow.width = 60
        #expect(
            Self.rows(narrow).suffix(2) == [
                "⚠ stream stalled: nothing from the server for 24s", "reconnecting (attempt 2) · as of \(Fmt.clock(lost))",
            ])
        #expect(ScreenView.bodyRect(narrow).height == ScreenView.bodyRect(s).height - 1)
        // The server's own sentence, at 80 columns: read to its end over two rows, the time after it.
        var full = s
        full.width = 80
        let sentence =
            "The server cannot store new events right now: the disk is full; free some space on the disk that holds /data."
        _ = Update.apply(&full, .connection(.reconnecting(attempt: 3, problem: .serverError(status: 503, detail: sentence))))
        #expect(
            Self.rows(full).suffix(2) == [
                "⚠ server error 503: The server cannot store new events right now: the disk is",
                "full; free some space on the disk that holds /data · as of \(Fmt.clock(lost))",
            ], "\(Self.rows(full).suffix(3))")
        // No wider than the screen, and never more than three rows: a longer one loses its end, not the time.
        full.width = 60
        _ = Update.apply(
            &full, .connection(.reconnecting(attempt: 4, problem: .serverError(status: 503, detail: sentence + " " + sentence))))
        let four = Self.rows(full).suffix(4)
        #expect(!four.first!.hasPrefix("⚠") && four.dropFirst().first!.hasPrefix("⚠ server error 503"), "\(four)")
        #expect(four.last!.hasSuffix("… · as of \(Fmt.clock(lost))") && four.allSatisfy { TextWidth.of($0) <= 60 }, "\(four)")
        // The mark follows the sentence's last whole word that fits.
        let lastWord = four.last!.split(separator: "…")[0].split(separator: " ").last.map(String.init) ?? ""
        #expect(sentence.split(separator: " ").contains(Substring(lastWord)), "\(four.last!)")
        // With --ascii the mark is "...", as on the hint line, not a lone "." read as a full stop.
        var ascii = full
        ascii.glyphs = .ascii
        #expect(Self.rows(ascii).last!.hasSuffix("... | as of \(Fmt.clock(lost))"), "\(Self.rows(ascii).last!)")
        // A list over the screen (the keys, `?`) stays above the three rows: the sentence is not drawn over.
        _ = Update.apply(&full, .key(.char("?")))
        #expect(Self.rows(full).suffix(3) == four.suffix(3), "\(Self.rows(full).suffix(4))")
        #expect(Self.rows(full).dropLast(3).last!.contains("any other key closes"))
        // The lists keep their time too.
        var picker = AppState(screen: .batches)
        (picker.width, picker.height) = (60, 20)
        _ = Update.apply(&picker, .batchesLoaded([["id": "b", "status": "running"]]))
        let listed = try #require(picker.batchesAsOf)
        _ = Update.apply(&picker, .connection(.offline(.unreachable)))
        let line = try #require(ScreenView.render(picker).text.split(separator: "\n").last.map(String.init))
        #expect(line == "⚠ server unreachable · retrying every 5s · as of \(Fmt.clock(listed))", "\(line)")
        // Everything but the header and the status line is what it was: loss, chart, log lines.
        #expect(Array(rows[1..<(rows.count - 1)]) == Array(before[1..<(before.count - 1)]))
        #expect(rows.contains { $0.contains("NaN in grads") })
        // Connected again, the replay of what happened meanwhile is the past: "catching up", not "live · 0s ago".
        _ = Update.apply(&s, .connection(.catchingUp))
        let catching = Self.rows(s)[0]
        #expect(catching.hasSuffix("◌ catching up since \(Fmt.clock(lost))…") && !catching.contains("live"), "\(catching)")
        #expect(s.connectionLostAt == lost)
        // The replay's events arrive now, but are of the past: once caught up, "last event" is when the server last
        // heard from the run, as the summary ending the replay says (30 minutes ago here), not "0s ago".
        s.lastEventAt = s.now
        _ = Update.apply(
            &s, .streamEvent(Fixture.summary(id: 200, batch: ["last_received": .string(Timestamp(seconds: s.now - 1800).iso)])))
        _ = Update.apply(&s, .connection(.live))
        #expect(Self.rows(s)[0].contains("● live · last event 30m ago"), "\(Self.rows(s)[0])")
        #expect(s.connectionLostAt == nil)
        #expect(Self.rows(s).last?.hasPrefix("↑↓ PgUp/PgDn") == true)
        // A stall is dated from when the silence began, not from when it was noticed.
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .stalled(seconds: 24.5))))
        #expect(s.connectionLostAt == s.now - 24.5)
    }

    @Test("a message of the moment is shown first; the problem comes back when it expires")
    func messageThenProblem() {
        var s = Fixture.state(Fixture.view(), width: 120, height: 40)
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 3, problem: .serverError(status: 503, detail: nil))))
        _ = Update.apply(&s, .key(.char("e")))
        #expect(Self.rows(s).last?.hasPrefix("EMA smoothing on") == true)
        _ = Update.apply(&s, .tick(now: s.now + Update.statusSeconds + 1))
        #expect(
            Self.rows(s).last?.hasPrefix("⚠ server error 503 Service Unavailable (the reply gave no detail) · retrying (attempt 3)") == true
        )
    }

    @Test("before the first view the body says why and the status line keeps the keys; a list keeps its rows and says since when")
    func notLoadedAndLists() {
        var s = AppState(screen: .job)
        s.width = 120
        s.serverLabel = "http://x"
        s.job = JobData(batchID: "b1", jobID: "j1")
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .malformed("the job's view"))))
        let rows = Self.rows(s)
        #expect(rows.contains { $0.contains("http://x: the job's view from the server is not valid JSON; retrying (attempt 1).") })
        #expect(rows.last?.hasPrefix("↑↓") == true)
        var l = AppState(screen: .batches)
        l.width = 120
        _ = Update.apply(&l, .batchesLoaded([["id": "b-kept", "status": "running"]]))
        _ = Update.apply(&l, .connection(.live))
        _ = Update.apply(&l, .connection(.offline(.serverError(status: 500, detail: "disk I/O error"))))
        let list = Self.rows(l)
        #expect(list[0].hasSuffix("✕ server error 500"))
        #expect(list.contains { $0.contains("b-kept") })
        #expect(list.last == "⚠ server error 500: disk I/O error · retrying every 5s · showing the list as of \(Fmt.clock(l.now))")
    }

    @Test("a list's 'as of' is when its rows last came, not the ticks of the silence before the problem was noticed")
    func listsAsOfBeforeTheSilence() throws {
        // The batch list: loaded every 5 s; a server that stops answering is noticed 10 s into a request.
        var l = AppState(screen: .batches)
        (l.width, l.height) = (120, 30)
        _ = Update.apply(&l, .connection(.live))
        _ = Update.apply(&l, .batchesLoaded([["id": "b", "status": "running"]]))
        let loaded = l.now
        for t in 1...12 { _ = Update.apply(&l, .tick(now: loaded + Double(t))) }
        _ = Update.apply(&l, .connection(.offline(.noReply(seconds: 10))))
        #expect(Self.rows(l).last!.hasSuffix("showing the list as of \(Fmt.clock(loaded))"), "\(Self.rows(l).last!)")
        // A batch's rows follow its live stream: current until the silence began, 24.5 s before the stall is said.
        var j = AppState(screen: .jobs("b"))
        (j.width, j.height) = (120, 30)
        _ = Update.apply(&j, .connection(.live))
        _ = Update.apply(&j, .jobsLoaded(batchID: "b", [["id": "j1", "status": "running"]]))
        let start = j.now
        for t in 1...30 { _ = Update.apply(&j, .tick(now: start + Double(t))) }
        _ = Update.apply(&j, .connection(.reconnecting(attempt: 1, problem: .stalled(seconds: 24.5))))
        #expect(
            Self.rows(j).last!.hasSuffix("showing the jobs as of \(Fmt.clock(start + 30 - 24.5))"), "\(Self.rows(j).last!)")
    }

    @Test(
        "a kept list filter, whose note on the hint line the connection line takes the place of, is named with the list's time; at 60 columns too"
    )
    func listFilterWhileOffline() throws {
        var j = AppState(screen: .jobs("b"))
        (j.width, j.height) = (120, 30)
        _ = Update.apply(&j, .connection(.live))
        _ = Update.apply(&j, .jobsLoaded(batchID: "b", [["id": "j1", "status": "running"], ["id": "j2", "status": "done"]]))
        j.listFilter = "j1"
        #expect(Self.rows(j).last!.hasPrefix("filter 'j1'"), "the hint line says it while live")
        let at = Fmt.clock(j.now)
        _ = Update.apply(&j, .connection(.reconnecting(attempt: 1, problem: .stalled(seconds: 0))))
        let line = Self.rows(j).last!
        #expect(line.hasSuffix("reconnecting · showing the jobs matching 'j1' as of \(at)"), "\(line)")
        j.width = 60
        #expect(Self.rows(j).joined(separator: "\n").contains("matching 'j1' as of \(at)"), "\(Self.rows(j).suffix(3))")
        // Esc still clears it (the line says it is there), and the line then says the whole list.
        _ = Update.apply(&j, .key(.escape))
        #expect(j.listFilter.isEmpty && j.screen == .jobs("b"))
        #expect(!Self.rows(j).joined().contains("matching"))
        // The batch list says the same.
        var l = AppState(screen: .batches)
        (l.width, l.height) = (120, 30)
        _ = Update.apply(&l, .connection(.live))
        _ = Update.apply(&l, .batchesLoaded([["id": "b", "status": "running"], ["id": "c", "status": "done"]]))
        l.listFilter = "run"
        _ = Update.apply(&l, .connection(.offline(.noReply(seconds: 10))))
        #expect(Self.rows(l).last!.hasSuffix("retrying every 5s · matching 'run' as of \(Fmt.clock(l.now))"), "\(Self.rows(l).last!)")
        l.width = 160
        #expect(Self.rows(l).last!.hasSuffix("showing the batches matching 'run' as of \(Fmt.clock(l.now))"), "\(Self.rows(l).last!)")
        // A long filter at 60 columns is cut to leave the time its room; no row runs past the edge (helper-91).
        l.listFilter = "r2 stopped this-is-quite-a-long-filter-text-yes"
        for width in [60, 61, 75, 80] {
            l.width = width
            let rows = ScreenView.connectionRows(l) ?? []
            #expect(rows.allSatisfy { TextWidth.of($0) <= width }, "\(rows)")
            #expect(rows.last?.hasSuffix("' as of \(Fmt.clock(l.now))") == true, "\(width): \(rows)")
            #expect(rows.last?.hasPrefix(" ") == false, "\(rows)")
        }
    }

    @Test("a job whose stream fails before it was ever live says its view is as of its load")
    func neverLive() throws {
        var s = AppState(screen: .job)
        (s.width, s.height) = (120, 30)
        s.now = Timestamp(iso: "2026-04-23T09:10:00Z")!.seconds
        _ = Update.apply(&s, .viewLoaded(Fixture.view()))
        let loaded = s.now
        _ = Update.apply(&s, .tick(now: loaded + 3))
        _ = Update.apply(&s, .connection(.reconnecting(attempt: 1, problem: .serverError(status: 503, detail: "Busy."))))
        #expect(
            Self.rows(s).last == "⚠ server error 503: Busy · retrying (attempt 1) · showing what arrived until \(Fmt.clock(loaded))",
            "\(Self.rows(s).last!)")
        _ = Update.apply(&s, .connection(.catchingUp))
        #expect(Self.rows(s)[0].contains("catching up since \(Fmt.clock(loaded))"), "\(Self.rows(s)[0])")
    }

    @Test("a message longer than the row while a search is typed ends with '…', not cut at the edge")
    func messageWhileTyping() throws {
        var s = Fixture.state(Fixture.view(), width: 80, height: 30)
        for k in ["/", "l", "i", "n", "e"] { _ = Update.apply(&s, .key(.char(Character(k)))) }
        let sentence = "Could not load log lines: The server cannot store new events right now: the disk is full."
        _ = Update.apply(&s, .message(sentence, isError: true))
        let row = try #require(Self.rows(s).last)
        #expect(row.hasPrefix("/line▏   Could not load log lines:") && row.hasSuffix("…") && TextWidth.of(row) <= 80, "\(row)")
    }

    /// Runs `JobStream.take` over messages, as the stream's handler does.
    static func feed(_ messages: [SSEMessage], from start: Int64 = 10)
        -> (resume: Int64, keepalive: Double?, posted: [Action], problem: ConnectionProblem?)
    {
        var resume = start
        var keepalive: Double? = nil
        var caughtUp = false
        var posted: [Action] = []
        for m in messages {
            if let p = JobStream.take(m, resumeFrom: &resume, keepalive: &keepalive, caughtUp: &caughtUp, post: { posted.append($0) }) {
                return (resume, keepalive, posted, p)
            }
        }
        return (resume, keepalive, posted, nil)
    }

    @Test(
        "hello: catching up, and the announced keepalive; the summary after the replay: live; events move the resume point; a summary without id does not"
    )
    func readsGoodMessages() {
        let r = Self.feed([
            .event(SSEEvent(id: "", type: "hello", data: #"{"channels":["batch:b1"],"last_event_id":10,"keepalive_s":1}"#)),
            .comment("keepalive"),
            .event(SSEEvent(id: "", type: "summary", data: #"{"event_type":"summary","batch":{},"jobs":[]}"#)),
            .event(SSEEvent(id: "11", type: "log_line", data: #"{"id":11,"event_type":"log_line"}"#)),
        ])
        #expect(r.problem == nil)
        #expect(r.keepalive == 1)
        #expect(r.resume == 11)
        #expect(r.posted.count == 4)
        if case .connection(.catchingUp) = r.posted.first {} else { Issue.record("hello should post catching up: \(r.posted)") }
        if case .connection(.live) = r.posted[2] {} else { Issue.record("the summary should post live: \(r.posted)") }
    }

    @Test("an event that is not a JSON object ends the connection as malformed, its id not taken")
    func malformedEvents() {
        for data in [#"{"event_type":"job_epoch","data":{"epoch":99,"train_lo"#, "not json", "42", #"["a"]"#] {
            let r = Self.feed([
                .event(SSEEvent(id: "11", type: "log_line", data: #"{"id":11,"event_type":"log_line"}"#)),
                .event(SSEEvent(id: "999999", type: "job_epoch", data: data)),
                .event(SSEEvent(id: "12", type: "log_line", data: #"{"id":12,"event_type":"log_line"}"#)),
            ])
            #expect(r.problem == .malformed("event 999999"), "\(data)")
            #expect(r.resume == 11, "the resume point stays at the last good event")
            #expect(r.posted.count == 1, "nothing after the bad event is applied")
        }
        #expect(Self.feed([.event(SSEEvent(id: "", type: "hello", data: "{trunc"))]).problem == .malformed("a hello event"))
    }

    @Test("how a stream ended becomes the problem shown")
    func streamEnds() {
        #expect(JobStream.problem(.stopped) == nil)
        #expect(JobStream.problem(.refused(status: 500, detail: nil)) == .serverError(status: 500, detail: nil))
        #expect(JobStream.problem(.stalled(seconds: 3.5)) == .stalled(seconds: 3.5))
        #expect(JobStream.problem(.unreachable("Couldn't connect to server")) == .unreachable)
        #expect(JobStream.problem(.dropped("x")) == .dropped("x"))
        #expect(Feed.problem(ClientError(.decoding, "not JSON"), what: "the job's view") == .malformed("the job's view"))
        #expect(Feed.problem(ClientError(.timeout, "slow"), what: "v", timeout: 10) == .noReply(seconds: 10))
        #expect(
            Feed.problem(ClientError(.http, status: 500, "HTTP 500", detail: nil), what: "v")
                == .serverError(status: 500, detail: nil))
    }

    @Test("any size from 1×1 up, any screen, any key, any connection state: update and render never trap")
    func tinySizesNeverTrap() {
        let keys: [Key] =
            [.up, .down, .left, .right, .pageUp, .pageDown, .home, .end, .enter, .escape, .backspace, .tab]
            + "?m/ex1s".map { Key.char($0) } + [.escape, .escape, .char("q")]
        let states: [ConnectionState] = [
            .connecting, .live, .reconnecting(attempt: 9, problem: .stalled(seconds: 3)),
            .offline(.serverError(status: 500, detail: String(repeating: "long ", count: 40))),
        ]
        for (w, h) in [(1, 1), (2, 1), (1, 3), (20, 5), (59, 19), (60, 20), (61, 20), (200, 3), (3, 200)] {
            for c in states {
                var s = Fixture.state(Fixture.view(), width: w, height: h)
                _ = Update.apply(&s, .connection(c))
                for k in keys {
                    _ = Update.apply(&s, .key(k))
                    let g = ScreenView.render(s)
                    #expect(g.width == w && g.height == h)
                }
                var l = AppState(screen: .batches)
                l.width = w
                l.height = h
                _ = Update.apply(&l, .batchesLoaded([["id": "b1", "status": "running"]]))
                _ = Update.apply(&l, .connection(c))
                for k in keys { _ = Update.apply(&l, .key(k)) }
                _ = ScreenView.render(l)
            }
        }
    }
}
