import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The web job page in a real headless Chromium (Debian's chromium + chromium-driver, through selenium in the test
/// venv) against the real server. Each @Test starts a server, seeds a batch through the ingest API and runs one
/// scenario of Tests/Web/page_tests.py in its suite's browser (`BrowserTrait`); the scenario's output is the failure
/// message. Missing chromium or selenium is a failure, not a skip: scripts/deps.sh and scripts/test.sh install them.
///
/// The page reads the same API on either backend (the API's own tests run on both), so the scenarios run on the
/// SQLite pass; three of them run on the PostgreSQL pass too (`WebPagePostgresTests`).
///
/// Four suites, each serialized (one Chromium at a time within it), run beside each other: as one serialized suite
/// the scenarios were the longest path of the SQLite pass (400 s of it on a slow machine, with the two outages
/// 65 s of that). `swift test --filter WebPageTests` runs them all.
enum WebPageTests {
    static let webDir = PythonSDK.packageRoot.appendingPathComponent("Tests/Web")

    /// Batch `web-b1` (owner alice): `j1` running with 30 epochs (the last at train 0.4242 / val 0.5151, plus `lr`
    /// and `acc`), GPU telemetry (50% and 70%), log lines; `j2` with 3 epochs (last train 0.9876).
    static func seed(_ c: HTTPClient) throws {
        let b = "web-b1"
        var events: [JSON] = [
            Ev.make(
                "batch_start", batch: b,
                data: [
                    "n_total_jobs": 2, "command": "python train.py --lr 3e-4 --epochs 100", "cwd": "/srv/runs/resnet",
                    "experiment_type": "sweep",
                ],
                source: [
                    "project": "vision", "host": "gpu-box-7", "user": "alice",
                    "commit": "feedbeef1234567890abcdef1234567890abcdef",
                ]),
            Ev.make("job_start", batch: b, job: "j1", data: ["model": "resnet50", "dataset": "imagenet"]),
        ]
        for n in 0..<30 {
            let last = n == 29
            events.append(
                Ev.epoch(
                    b, "j1", n, train: last ? 0.4242 : 2.0 / Double(n + 1) + 0.4,
                    val: last ? 0.5151 : 2.2 / Double(n + 1) + 0.5,
                    extra: [("lr", JSON(3e-4 * pow(0.95, Double(n)))), ("acc", JSON(0.5 + Double(n) * 0.01))]))
        }
        events.append(
            Ev.make(
                "resource_snapshot", batch: b,
                data: [
                    "gpus": [
                        ["index": 0, "util_pct": 50, "mem_mb": 20_000, "mem_total_mb": 81_559],
                        ["index": 1, "util_pct": 70, "mem_mb": 30_000, "mem_total_mb": 81_559],
                    ]
                ]))
        for (level, line) in [
            ("info", "loading imagenet shard 17/64"), ("warning", "grad norm 41.2 clipped to 10"),
            ("info", "epoch 29: train 0.4242 val 0.5151"),
        ] {
            events.append(Ev.make("log_line", batch: b, job: "j1", data: ["line": JSON(line), "level": JSON(level)]))
        }
        events.append(Ev.make("job_start", batch: b, job: "j2", data: ["model": "vit-b16", "dataset": "imagenet"]))
        for n in 0..<3 { events.append(Ev.epoch(b, "j2", n, train: n == 2 ? 0.9876 : 1.5, val: 1.1)) }
        events.append(Ev.make("log_line", batch: b, job: "j2", data: ["line": "j2 warming up", "level": "info"]))
        let r = try c.postBatch(events)
        guard r.status == 200 else { throw TestFailure("seeding → \(r.status): \(r.text)") }
    }

    /// Starts a server, seeds it, runs scenario `name` of page_tests.py in the suite's browser (`.browser`); fails
    /// with its output unless it passed.
    static func run(_ name: String, serverEnv: [String: String] = [:]) throws {
        guard let browser = BrowserTrait.current else {
            throw TestFailure("a web page scenario runs in a suite with the .browser trait, which gives it its browser")
        }
        let s = try TestServer(env: serverEnv)
        let token = try s.token(user: "alice")
        let bob = try s.token(user: "bob")
        try Self.seed(s.client(token))
        let artifacts = s.dataDir.appendingPathComponent("web-artifacts")
        let env = [
            "ARGUS_URL": s.url, "ARGUS_TOKEN": token, "ARGUS_BATCH": "web-b1", "ARGUS_JOB": "j1", "ARGUS_JOB2": "j2",
            "ARGUS_TOKEN_BOB": bob, "ARGUS_WEB_ARTIFACTS": artifacts.path,
        ]
        let (rc, out) = try browser.run(["scenario": name, "env": env], timeout: 180)
        #expect(rc == 0, "page_tests.py \(name) exited \(rc):\n\(out)")
    }
}

/// Gives a suite of web page scenarios, which run one at a time, one `page_tests.py --serve`, so one Chromium, and
/// closes it when the suite ends: `@Suite("…", .serialized, .browser)`. A Chromium's start and stop cost about 3.5 s
/// of CPU, which each of 37 scenarios paid when each had its own. The browser is reset between scenarios (no cookies,
/// one blank tab: Browser.reset in argusweb.py); the runner starts at the suite's first scenario.
struct BrowserTrait: SuiteTrait, TestScoping {
    /// The running suite's browser.
    @TaskLocal static var current: ServedTool?

    var isRecursive: Bool { false }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? { test.isSuite ? self : nil }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let python = try PythonSDK.python()
        let (hasSelenium, _, seleniumErr) = try runTool(python, ["-c", "import selenium"])
        guard hasSelenium == 0 else {
            throw TestFailure("selenium is not installed in \(python) (scripts/test.sh installs it): \(seleniumErr)")
        }
        let browser = ServedTool(
            python, [WebPageTests.webDir.appendingPathComponent("page_tests.py").path, "--serve"],
            env: ["PYTHONDONTWRITEBYTECODE": "1"])
        defer { browser.close(timeout: 15) }
        try await Self.$current.withValue(browser) { try await function() }
    }
}

extension Trait where Self == BrowserTrait {
    /// See `BrowserTrait`.
    static var browser: Self { Self() }
}

extension WebPageTests {
    /// While the server is out of reach, answers 503, or a connection dies without a word.
    @Suite(
        "Web page in headless Chromium: outages and cut connections", .serialized, .enabled(if: TestBackend.sqlite), .ownThread, .browser)
    struct Outages {
        @Test("while the server is out of reach the page counts its tries and says since when; back up, it resumes")
        func outage() throws { try WebPageTests.run("outage") }

        @Test("a 503 while the server's database is down (or a proxy's 502) is an outage: tries counted with its sentence; back up, live")
        func gatewayOutage() throws { try WebPageTests.run("gateway_outage") }

        @Test("a stream that dies without a word is noticed within 1.5 keepalives: the page reconnects and replays")
        func silentDrop() throws { try WebPageTests.run("silent_drop", serverEnv: ["ARGUS_SSE_KEEPALIVE_S": "1"]) }

        @Test("an action whose answer is cut off on the way says it may have been done, not a script error")
        func lostAnswer() throws { try WebPageTests.run("lost_answer") }
    }

    /// What reaches an open page over its stream, and how many pages a browser can hold open.
    @Suite("Web page in headless Chromium: live without a reload", .serialized, .enabled(if: TestBackend.sqlite), .ownThread, .browser)
    struct Live {
        @Test("an epoch and a log line ingested after load appear without a reload")
        func live() throws { try WebPageTests.run("live") }

        @Test("a batch the server stopped says why on its job page when opened later, and after a reload")
        func stoppedReason() throws { try WebPageTests.run("stopped_reason", serverEnv: ["ARGUS_STALL_TIMEOUT_MIN": "0.05"]) }

        @Test("a log line delivered late goes where it was written, live and after a reload")
        func lateLines() throws { try WebPageTests.run("late_lines") }

        @Test("a stream refused for too many open streams says why on the page")
        func refusedStream() throws { try WebPageTests.run("refused_stream", serverEnv: ["ARGUS_MAX_STREAMS_PER_TOKEN": "1"]) }

        @Test("seven pages in seven tabs: hidden tabs give back their stream, so the seventh loads and requests answer")
        func sevenTabs() throws { try WebPageTests.run("seven_tabs") }

        @Test("job page after job page in one tab never hangs, and Back shows a live page again")
        func manyPages() throws { try WebPageTests.run("many_pages") }

        @Test("a job page opened before its run reports says so, and opens the job once it reports")
        func notReportedYet() throws { try WebPageTests.run("not_reported_yet") }

        @Test("a link shared before the batch's first job opens that job when it starts, without a reload")
        func shareBeforeJobs() throws { try WebPageTests.run("share_before_jobs") }

        @Test("an agent coming online enables Rerun of a finished batch without a reload")
        func agentOnline() throws { try WebPageTests.run("agent_online") }

        @Test("guardrails while you watch: IDLE badge and banner, then stalled, then running again")
        func guardrails() throws {
            // A 3-second idle window and stall timeout, so the whole story takes a few seconds.
            try WebPageTests.run("guardrails", serverEnv: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "0.05", "ARGUS_STALL_TIMEOUT_MIN": "0.05"])
        }
    }

    /// Who the page is for, and what it lets them do.
    @Suite(
        "Web page in headless Chromium: sign-in, share links and actions", .serialized, .enabled(if: TestBackend.sqlite), .ownThread,
        .browser)
    struct Access {
        @Test("Stop asks first, No changes nothing, Yes sets the flag the SDK polls")
        func stop() throws { try WebPageTests.run("stop") }

        @Test("a command holding a newline or a bidi override is not copied: the button is disabled and says why")
        func hiddenCommand() throws { try WebPageTests.run("hidden_command") }

        @Test("a rerun the agent could not start is a banner, with its time, for whoever opens the job or batch page later")
        func agentFailures() throws { try WebPageTests.run("agent_failures") }

        @Test("#token= signs in with an HttpOnly cookie and leaves the address bar; sign-out and the form work")
        func signin() throws { try WebPageTests.run("signin") }

        @Test("#token= set on a page already open (after a bad token) signs in without a reload and leaves the address bar")
        func hashchange() throws { try WebPageTests.run("hashchange") }

        @Test("a session ended elsewhere shows the form and a header saying so; Back after Sign out shows no batches")
        func sessionEnded() throws { try WebPageTests.run("session_ended") }

        @Test("a share link shows the read-only page without actions and switches jobs without a reload")
        func share() throws { try WebPageTests.run("share") }

        @Test("a share link keeps the job shown in the address (switch, reload, Back) and points to a job still running")
        func shareURL() throws { try WebPageTests.run("share_url") }

        @Test("Share on a job's page mints a link naming that job, which opens it read-only")
        func shareMinted() throws { try WebPageTests.run("share_minted") }

        @Test("the batch page lists its share links for the owner, live, and revokes one after asking")
        func shareList() throws { try WebPageTests.run("share_list") }

        @Test("a revoked or unknown share link is a readable 404 page")
        func revoked() throws { try WebPageTests.run("revoked") }

        @Test("a share link whose ?job= spells its id decomposed (NFD) opens that job, as the API takes it")
        func shareNFD() throws { try WebPageTests.run("share_nfd") }
    }

    /// The tiles, chart, log and lists, at any width and with hostile text.
    @Suite("Web page in headless Chromium: what the page shows", .serialized, .enabled(if: TestBackend.sqlite), .ownThread, .browser)
    struct Shown {
        @Test("a seeded job's telemetry tiles, log lines, environment and drawn chart are in the page")
        func seeded() throws { try WebPageTests.run("seeded") }

        @Test(
            "very long ids, a long host and a long metric name keep the list, the batch page and the job page within the window, at 1280 and 400 px"
        )
        func longIDs() throws { try WebPageTests.run("long_ids") }

        @Test("log lines are stamped in the browser's time zone, as the banners are")
        func localTimes() throws { try WebPageTests.run("local_times") }

        @Test("a job page for a job the batch does not have says so, without claiming the server is unreachable")
        func missingJob() throws { try WebPageTests.run("missing_job") }

        @Test("bidi and control characters in log lines show as spaces; a 20,000-character line is cut at 8192 with a note")
        func controls() throws { try WebPageTests.run("controls") }

        @Test("tiles never cut a value at 1280 or 400 px; at 400 px the crumbs show batch and job and nothing overflows")
        func narrow() throws { try WebPageTests.run("narrow") }

        @Test("the chart's hover tooltip, the log filter (server search), follow and older lines on scroll")
        func interact() throws { try WebPageTests.run("interact") }

        @Test(
            "the index and batch pages list the jobs (on the index 8 a batch: going, failed, the last to end; then a link to the rest saying what else runs) and link to the job page; past 30 batches, Show older batches shows the rest"
        )
        func index() throws { try WebPageTests.run("index") }

        @Test("values at the ends of a double: finite y labels on linear and log y, and the curve spans the plot")
        func extremes() throws { try WebPageTests.run("extremes") }

        @Test("a latest loss reported as NaN reads NaN on the job page's tile and the batch page, not the 'not reported' dash")
        func diverged() throws { try WebPageTests.run("diverged") }

        @Test("a job with one epoch so far shows it on the chart, a dot per series, not an empty plot")
        func oneEpoch() throws { try WebPageTests.run("one_epoch") }

        @Test("a coloured log line reads as its text in the web log, without its escape sequences")
        func ansiLog() throws { try WebPageTests.run("ansi_log") }

        @Test("log lines and a failure reason with <script> and <img onerror> are shown as text, never run")
        func xss() throws { try WebPageTests.run("xss") }
    }
}

/// A few of the page's scenarios on a server whose database is PostgreSQL: the page loads, follows the stream and
/// acts there too.
@Suite("Web page in headless Chromium, PostgreSQL", .serialized, .enabled(if: TestBackend.isPostgres), .ownThread, .browser)
struct WebPagePostgresTests {
    @Test("a seeded job's tiles, log lines, environment and chart are in the page")
    func seeded() throws { try WebPageTests.run("seeded") }

    @Test("an epoch and a log line ingested after load appear without a reload")
    func live() throws { try WebPageTests.run("live") }

    @Test("Stop asks first, No changes nothing, Yes sets the flag the SDK polls")
    func stop() throws { try WebPageTests.run("stop") }
}
