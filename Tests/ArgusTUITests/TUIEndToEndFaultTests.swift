import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The real `argus-tui` in tmux against a server that misbehaves (`FaultProxy` in front of a real one), and in
/// terminals that are hard to draw on.
extension TUIEndToEndTests {
    /// A log line posted to b1/j1.
    static func log(_ c: HTTPClient, _ line: String) throws {
        try c.mustPost(Ev.make("log_line", batch: "b1", job: "j1", data: ["line": .string(line), "level": "info"]))
    }

    /// The newest event id the server has for b1/j1: where a client that has seen everything resumes from.
    static func lastEventID(_ c: HTTPClient) throws -> String {
        String(try #require(try c.mustGet("/api/jobs/b1/j1/view")["last_event_id"]?.intValue))
    }

    @Test(
        "a misbehaving stream — malformed frames, a drop mid-event, 500s with and without detail, a stall: each is said on the status line, the screen is kept, and the TUI resumes from the last good id"
    )
    func misbehavingStream() throws {
        // A 2 s keepalive, announced in hello: the TUI calls 5 s of silence a stall. (With 1 s, a loaded CI machine
        // once showed the stall of a held reconnection, 3.5 s after the drop, before the test saw the drop said.)
        let s = try TestServer(env: ["ARGUS_SSE_KEEPALIVE_S": "2"])
        let token = try s.token()
        let c = s.client(token)
        try Self.seedJob(c)
        try Self.log(c, "GOOD-0")
        let proxy = try FaultProxy(upstream: s.url)
        let t = try Tmux(
            [Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": proxy.url, "ARGUS_TOKEN": token], width: 140,
            height: 30)
        try t.wait("live") { $0.contains("● live") && $0.contains("GOOD-0") && $0.contains("0.3333 / 0.4 @2") }
        /// The last good state: still on screen whatever the server does.
        func kept(_ pane: String) -> Bool { pane.contains("GOOD-0") && pane.contains("0.3333 / 0.4 @2") }
        func resumed(_ marker: String, from id: String) throws {
            proxy.passAll()
            try Self.log(c, marker)
            try t.wait("\(marker) after recovery") { $0.contains("● live") && $0.contains(marker) && !$0.contains("⚠") }
            #expect(proxy.lastEventIDs.last == id, "resumed with Last-Event-ID \(id): \(proxy.lastEventIDs)")
        }

        // 1. Frames the SSE rules say to ignore, then an event whose JSON is cut short (with an id beyond any real one).
        var good = try Self.lastEventID(c)
        proxy.set(.hold, for: "/api/sse")
        proxy.injectIntoStreams(
            "a line with no colon\nretry: soon\nid: 5\u{0}5\n: a comment\n\nevent: job_epoch\n\n"
                + "id: 999999\nevent: job_epoch\ndata: {\"event_type\":\"job_epoch\",\"batch_id\":\"b1\",\"job_id\":\"j1\",\"data\":{\"epoch\":99,\"train_lo\n\n"
        )
        var pane = try t.wait("the malformed event reported") {
            $0.contains("⚠ event 999999 from the server is not valid JSON · retrying (attempt 1) · showing what arrived until")
        }
        #expect(kept(pane) && pane.contains("◌ reconnecting (attempt 1)"), "\(pane)")
        try resumed("GOOD-1", from: good)

        // 2. The connection closes in the middle of an event.
        good = try Self.lastEventID(c)
        proxy.set(.hold, for: "/api/sse")
        proxy.dropStreamsMidFrame()
        pane = try t.wait("the drop reported") {
            $0.contains("⚠ stream dropped: the connection closed in the middle of an event · retrying (attempt 1)")
        }
        #expect(kept(pane) && pane.contains("GOOD-1"), "\(pane)")
        try resumed("GOOD-2", from: good)

        // 3. Reconnecting gets 500s: first with the server's {detail}, then an HTML page with none.
        good = try Self.lastEventID(c)
        proxy.set(.error(500, detail: "database is locked"), for: "/api/sse")
        proxy.dropStreamsMidFrame()
        pane = try t.wait("the 500 and its detail") { $0.contains("⚠ server error 500: database is locked · retrying (attempt") }
        #expect(kept(pane) && pane.contains("GOOD-2"), "\(pane)")
        proxy.set(.status(500, body: "<html><h1>oops</h1></html>", contentType: "text/html"), for: "/api/sse")
        pane = try t.wait("the 500 without detail") {
            $0.contains("⚠ server error 500 Internal Server Error (the reply gave no detail) · retrying (attempt")
        }
        #expect(kept(pane) && !pane.contains("oops"), "\(pane)")
        try resumed("GOOD-3", from: good)

        // 4. The stream goes silent — no frames, no keepalives — with the connection open; the reconnection is held.
        good = try Self.lastEventID(c)
        proxy.set(.hold, for: "/api/sse")
        proxy.stallStreams()
        pane = try t.wait("the stall noticed") {
            $0.contains("⚠ stream stalled: nothing from the server for 5s · reconnecting (attempt")
        }
        #expect(kept(pane) && !pane.contains("● live"), "\(pane)")
        try resumed("GOOD-4", from: good)

        // Every line exactly once: nothing lost, nothing doubled, nothing invented by the fake frames.
        pane = t.capture()
        for n in 0...4 { #expect(pane.components(separatedBy: "GOOD-\(n)").count == 2, "GOOD-\(n) once:\n\(pane)") }
        #expect(pane.contains("0.3333 / 0.4 @2") && !pane.contains("@99"))
        t.send("q")
        try t.wait("exit") { _ in t.exitStatus != nil }
        #expect(t.exitStatus == 0)
    }

    @Test(
        "a misbehaving /view at start: a 500 with its detail, a 502 without, truncated JSON — each said; the job appears once the server behaves; an action's lost answer is said as such"
    )
    func misbehavingViewAtStart() throws {
        let s = try TestServer()
        let token = try s.token()
        try Self.seedJob(s.client(token))
        let proxy = try FaultProxy(upstream: s.url)
        proxy.set(.error(500, detail: "database is locked"), for: "/api/jobs/")
        let t = try Tmux(
            [Binaries.path("argus-tui"), "b1/j1"], env: ["ARGUS_URL": proxy.url, "ARGUS_TOKEN": token], width: 140,
            height: 30)
        try t.wait("the 500") {
            $0.contains("Nothing is known about this job yet.") && $0.contains(": server error 500: database is locked; retrying (attempt")
        }
        proxy.set(.status(502, body: "<html>bad gateway</html>", contentType: "text/html"), for: "/api/jobs/")
        try t.wait("the 502 without detail") { $0.contains(": server error 502 Bad Gateway (the reply gave no detail); retrying") }
        proxy.set(.truncateBody, for: "/api/jobs/")
        let pane = try t.wait("the truncated view") { $0.contains(": the job's view from the server is not valid JSON; retrying") }
        for invented in ["running", "STATUS", "LOSS"] { #expect(!pane.contains(invented), "\(pane)") }
        proxy.passAll()
        try t.wait("the job once the server behaves") { $0.contains("● live") && $0.contains("1━train_loss") && $0.contains("@2") }
        // An action whose answer is lost on the way was carried out: said so, never "failed".
        proxy.set(.cutReply, for: "/api/batches/b1/shares")
        t.send("S")
        let lost = try t.wait("the lost answer") { $0.contains("Share: the connection broke before its answer, so the server may") }
        #expect(!lost.contains("Share failed"), "\(lost)")
        #expect(try s.client(token).mustGet(APIPath.shares("b1")).arrayValue?.count == 1, "the server made the link")
        t.send("q")
    }

    @Test(
        "hard terminals: TERM=dumb and an unknown TERM say why in one sentence (exit 1); vt100, LANG=C, LC_ALL=C, a 20×5 pane and 100 resizes in a second draw without a crash; the tty is as it was after each"
    )
    func hardTerminals() throws {
        let (s, token, c) = try Self.seededServer()
        try Self.log(c, "GOOD-αβ-日本")
        let tui = Binaries.path("argus-tui")
        let shell = try Tmux(
            ["/bin/bash", "--noprofile", "--norc", "-i"],
            env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "PS1": "$ ", "TERM": "xterm-256color"], width: 100, height: 30)
        shell.send("B=$(stty -g); clear", "Enter")
        /// Runs `argus-tui b1/j1` from the shell with `prefix` (variables, `env`), presses q once `onScreen` holds
        /// (after `during`), and returns what the screen showed (or, if it never drew, what it printed) and the
        /// exit status.
        func run(_ name: String, _ prefix: String, onScreen: ((String) -> Bool)? = nil, during: () -> Void = {}) throws
            -> (pane: String, status: Int?)
        {
            shell.send("clear; \(prefix) '\(tui)' b1/j1; echo rc-\(name)=$?", "Enter")
            var pane = ""
            if let onScreen {
                pane = try shell.wait("\(name): the screen") { onScreen($0) }
                during()
                shell.send("q")
            }
            // A digit after `=`: the typed command line itself shows `rc-NAME=$?`.
            let after = try shell.wait("\(name): the exit") { $0.range(of: "rc-\(name)=[0-9]", options: .regularExpression) != nil }
            let status = after.components(separatedBy: "rc-\(name)=").last.flatMap { Int($0.prefix { $0.isNumber }) }
            // The terminal's modes are exactly what they were before (echo, canonical input, ...): the shell works.
            shell.send("clear; [ \"$(stty -g)\" = \"$B\" ] && echo \(name)-tty-same-$((6*7))", "Enter")
            try shell.wait("\(name): the tty restored") { $0.contains("\(name)-tty-same-42") }
            return (pane.isEmpty ? after : pane, status)
        }

        let dumb = try run("dumb", "TERM=dumb")
        #expect(dumb.status == 1)
        #expect(dumb.pane.contains("argus-tui: this terminal (TERM=dumb) cannot move the cursor"), "\(dumb.pane)")
        let unknown = try run("unknown", "TERM=no-such-terminal")
        #expect(unknown.status == 1 && unknown.pane.contains("'no-such-terminal' is not known here"), "\(unknown.pane)")

        let vt100 = try run("vt100", "TERM=vt100") { $0.contains("● live") && $0.contains("GOOD-αβ-日本") }
        #expect(vt100.status == 0 && vt100.pane.contains("1━train_loss"))
        // tmux hands the shell LC_ALL=C.UTF-8, which would override LANG: unset it for the LANG=C run.
        for (name, prefix) in [("lang", "env -u LC_ALL -u LC_CTYPE LANG=C"), ("lcall", "LC_ALL=C")] {
            // The C locale has no UTF-8: ASCII glyphs, and text it cannot show as '?'.
            let (pane, status) = try run(name, prefix) { $0.contains("* live") && $0.contains("GOOD-") }
            #expect(status == 0)
            #expect(pane.unicodeScalars.allSatisfy { $0.isASCII }, "\(pane)")
            #expect(pane.contains("1-train_loss") && pane.contains("GOOD-??-?"), "\(pane)")
        }

        shell.resize(width: 20, height: 5)
        let tiny = try run("tiny", "") { $0.contains("terminal too small") && $0.contains("20×5, need 60×20") }
        #expect(tiny.status == 0 && tiny.pane.contains("q quits"))

        // A resize storm on the job screen with the help overlay open: sizes from 1×1 to 200×60.
        shell.resize(width: 100, height: 30)
        var stormSeconds = 0.0
        let storm = try run("storm", "", onScreen: { $0.contains("● live") && $0.contains("GOOD-αβ-日本") }) {
            shell.send("?")
            let start = Date()
            for i in 0..<100 { shell.resize(width: 1 + (i * 37) % 200, height: 1 + (i * 13) % 60) }
            stormSeconds = Date().timeIntervalSince(start)
            shell.resize(width: 100, height: 30)
            shell.send("Escape")
            // Still running, and the whole frame redrawn at the final size.
            // On a miss the error carries the last pane (and the window's size), so a failure under load says why.
            do {
                try shell.wait(timeout: 30, "the frame after the storm") { pane in
                    let rows = pane.split(separator: "\n", omittingEmptySubsequences: false)
                    return rows.count >= 30 && rows[0].hasPrefix(" argus  b1 / j1") && rows[29].hasPrefix("↑↓ PgUp/PgDn")
                        && pane.contains("GOOD-αβ-日本") && !pane.contains("keys")
                }
            } catch {
                Issue.record("\(error)\nwindow: \(shell.windowSize)")
            }
        }
        #expect(storm.status == 0)
        print("100 resizes took \(String(format: "%.2f", stormSeconds)) s")
        #expect(stormSeconds < 5)
    }
}

/// `ArgusClient` against the same fake server: each failure is classified, so the TUI can say what it was.
@Suite("ArgusClient against a misbehaving server", .ownThread)
struct ClientFaultTests {
    @Test("HTTP: refused, accepted-then-silent, truncated body, error status with and without detail")
    func httpFailures() throws {
        let s = try TestServer()
        let proxy = try FaultProxy(upstream: s.url)
        func error(_ path: String, timeout: Double = 1, base: String? = nil) -> ClientError? {
            do {
                _ = try HTTPClient(baseURL: base ?? proxy.url, token: nil, timeout: timeout).getJSON(path)
                return nil
            } catch { return error }
        }
        #expect(error("/health", base: "http://127.0.0.1:\(freePort())")?.kind == .connection)
        proxy.set(.stall, for: "/health")
        let slow = error("/health")
        #expect(
            slow?.kind == .timeout && slow?.description.contains("sent no complete reply within 1 s") == true, "\(String(describing: slow))"
        )
        proxy.set(.truncateBody, for: "/health")
        #expect(error("/health")?.kind == .decoding)
        proxy.set(.error(503, detail: "database is locked"), for: "/health")
        let e503 = error("/health")
        #expect(e503?.kind == .http && e503?.status == 503 && e503?.detail == "database is locked")
        proxy.set(.status(500, body: "oops", contentType: "text/plain"), for: "/health")
        let e500 = error("/health")
        #expect(e500?.status == 500 && e500?.detail == nil)
        proxy.passAll()
        #expect(error("/health") == nil)
    }

    @Test("SSE: silence past the idle timeout is a stall; a close mid-event and a refusal are told apart")
    func sseFailures() throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b1"))
        let proxy = try FaultProxy(upstream: s.url)
        let url = proxy.url + APIPath.sse([.batch("b1")])
        proxy.set(.stall, for: "/api/sse")
        let start = Date()
        let stalled = SSEConnection(url: url, token: token, idleTimeout: 1).run(lastEventID: nil) { _ in true }
        #expect(stalled == .stalled(seconds: 1))
        #expect(Date().timeIntervalSince(start) < 4)
        proxy.set(.status(500, body: "", contentType: "text/plain"), for: "/api/sse")
        #expect(SSEConnection(url: url, token: token).run(lastEventID: nil) { _ in true } == .refused(status: 500, detail: nil))
        proxy.passAll()
        let sub = SSECollector(url: url, token: token)
        try sub.waitUntilConnected()
        proxy.dropStreamsMidFrame()
        try sub.wait("the end") { _ in sub.ended != nil }
        #expect(sub.ended == .dropped("the connection closed in the middle of an event"))
        #expect(!sub.received.contains { $0.id == "999999" })
        #expect(
            SSEConnection(url: "http://127.0.0.1:\(freePort())/api/sse", token: token).run(lastEventID: nil) { _ in true }
                == .unreachable("Couldn't connect to server"))
    }
}
