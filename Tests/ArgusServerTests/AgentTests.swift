import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Rerun and Stop through a real argus-agent", .ownThread)
struct AgentTests {
    static let host = "agent-test-host"

    /// A finished batch on `host` whose recorded command and cwd are given.
    static func finishedBatch(_ c: HTTPClient, _ id: String, command: String, cwd: String?) throws {
        try c.mustPost(
            Ev.make(
                "batch_start", batch: id, data: ["command": .string(command), "cwd": JSON(cwd)],
                source: ["project": "p", "host": .string(host)]))
        try c.mustPost(Ev.make("batch_done", batch: id, source: ["project": "p", "host": .string(host)]))
    }

    /// A server, its owner's token and client, and an agent registered with it: its scratch folder (the caller
    /// removes it) and state file there, not running yet.
    static func registered() throws -> (TestServer, String, HTTPClient, URL, String) {
        let s = try TestServer()
        let token = try s.token()
        let work = try scratch()
        let state = work.appendingPathComponent("agent.json").path
        _ = try register(s, token, state: state)
        return (s, token, s.client(token), work, state)
    }

    /// A scratch folder for one test's agent state and rerun output; the caller removes it.
    static func scratch() throws -> URL {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("argus-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return work
    }

    /// What a rerun's shell wrote to `path` once it holds a whole line (the shell creates the file for `>` before
    /// the command writes to it, so existing is not enough), or "" after `seconds`.
    static func waitForLine(_ path: String, seconds: Double = 15) -> String {
        let deadline = Date().addingTimeInterval(seconds)
        repeat {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") { return text }
            usleep(100_000)
        } while Date() < deadline
        return (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }

    /// Whether process `pid` runs: exists and is no zombie (an orphan's zombie stays one where init never reaps).
    static func runs(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let end = stat.lastIndex(of: ")")
        else { return false }
        return !["Z", "X"].contains(stat[stat.index(after: end)...].split(separator: " ").first)
    }

    /// Waits until the server counts an agent online for `batch`'s host (it polled), or 15 s.
    /// What `rerunThroughAgent` reruns: its "SDK" is a child of the rerun's shell, as `python train.py` is under
    /// `cd … && python train.py`, and writes its pid.
    static let childCommand = "sleep 60 & echo $! > pid.txt; wait $!"

    /// An agent run for this host, and batch `train` (`childCommand`) rerun through it: the agent, the rerun's "SDK"
    /// pid and its process group.
    static func rerunThroughAgent(_ c: HTTPClient, work: URL, state: String) throws -> (Process, Int32, Int32) {
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state, "--grace", "1"], stderr: state + ".log")
        try finishedBatch(c, "train", command: childCommand, cwd: work.path)
        try waitOnline(c, "train")
        #expect(try c.post("/api/batches/train/rerun", json: [:]).status == 202)
        let child = Int32(waitForLine(work.appendingPathComponent("pid.txt").path).trimmed()) ?? 0
        let group = child > 1 ? getpgid(child) : 0
        #expect(child > 1 && group > 1 && group != child)
        return (agent, child, group)
    }

    /// Posts resource snapshots naming `pid` for `batch`, and `byHand`'s for batch by-hand, until `batch` is linked to
    /// train (the agent lists the rerun's processes at its next heartbeat, 10 s at most); false after 25 s.
    static func snapshotsUntilLinked(_ c: HTTPClient, _ batch: String, pid: Int32, byHand: Process) throws -> Bool {
        let deadline = Date().addingTimeInterval(25)
        while Date() < deadline {
            try c.mustPost(Ev.make("resource_snapshot", batch: "by-hand", data: ["pid": JSON(Int(byHand.processIdentifier))]))
            try c.mustPost(Ev.make("resource_snapshot", batch: batch, data: ["pid": JSON(Int(pid))]))
            if try c.mustGet("/api/batches/\(batch)")["source_batch_id"] == "train" { return true }
            usleep(500_000)
        }
        return false
    }

    static func waitOnline(_ c: HTTPClient, _ batch: String) throws {
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, try c.mustGet(APIPath.batch(batch))["agent_online"] != true { usleep(100_000) }
    }

    /// A scratch folder holding the state of an agent registered for `host` with `token` (`agent.json`), and
    /// `argus-agent run` on it (its stderr in `agent.json.log`), with `env` added to its environment. End with `finish`.
    static func runningAgent(_ s: TestServer, _ token: String, env: [String: String] = [:]) throws -> (work: URL, agent: Process) {
        let work = try scratch()
        let state = work.appendingPathComponent("agent.json").path
        _ = try register(s, token, state: state)
        return (work, try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], env: env, stderr: state + ".log"))
    }

    /// Stops the agent, then removes its folder.
    static func finish(_ agent: Process, _ work: URL) {
        stopProcess(agent)
        try? FileManager.default.removeItem(at: work)
    }

    /// `argus-agent register` for `host`, keeping its token in `state`; returns what it printed.
    static func register(_ s: TestServer, _ token: String, state: String) throws -> String {
        let (rc, out, err) = try runTool(
            Binaries.path("argus-agent"), ["register", "--url", s.url, "--token", token, "--hostname", host, "--state-file", state])
        #expect(rc == 0, "\(err)")
        return out
    }

    @Test("a hostname or user name with control characters is refused; token and agent listings print names as text")
    func namesReachTheTerminalSafely() throws {
        let s = try TestServer()
        let token = try s.token()
        let evil = "evil\u{1B}[31mred\nID    x\u{202E}"
        let (rc, _, err) = try runTool(
            Binaries.path("argus-agent"),
            ["register", "--url", s.url, "--token", token, "--hostname", evil, "--state-file", NSTemporaryDirectory() + "/argus-none.json"])
        #expect(rc != 0)
        #expect(err.contains("hostname must be printable text, without control or bidi characters."), "\(err)")
        // A user name is refused the same way.
        let (urc, _, uerr) = try runTool(
            Binaries.path("argus-server"), ["token", "create"] + s.databaseArgs + ["--user", "mal\u{1B}[2Jlory"])
        #expect(urc != 0 && uerr.contains("--user must be printable text, without control, bidi or invisible characters."), "\(uerr)")
        let (zrc, _, zerr) = try runTool(
            Binaries.path("argus-server"), ["token", "create"] + s.databaseArgs + ["--user", "bob\u{200B}"])
        #expect(zrc != 0 && zerr.contains("invisible characters"), "\(zerr)")
        // "Mallory" spelled with é as one character and as e + U+0301 is one user: two tokens, one name.
        let composed = s.client(try s.token(user: "mallor\u{E9}"))
        let decomposed = s.client(try s.token(user: "mallore\u{301}"))
        try composed.mustPost(Ev.make("batch_start", batch: "hers"))
        #expect(try decomposed.get("/api/batches/hers").status == 200, "the second spelling is another user")
        let (_, tokens, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        #expect(!tokens.unicodeScalars.contains { TerminalText.isControl($0) && $0 != "\n" }, "\(tokens)")
        #expect(tokens.split(separator: "\n").count == 4, "a header and one row per token:\n\(tokens)")
        let work = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        _ = try Self.register(s, token, state: work.appendingPathComponent("a.json").path)
        let (_, agents, _) = try runTool(Binaries.path("argus-server"), ["agent", "list"] + s.databaseArgs)
        let lines = agents.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("ID  HOST"), "\(agents)")
        #expect(lines[1].contains(Self.host) && lines[1].hasSuffix("active"), "\(agents)")
    }

    @Test(
        "register checks where its token goes before the server registers anything; an address ending in /api is the server's; a state file that is not one is said plainly"
    )
    func registerMistakes() throws {
        let s = try TestServer()
        let token = try s.token()
        let agent = Binaries.path("argus-agent")
        let work = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let locked = work.appendingPathComponent("ro")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o500])
        // As an ordinary user: root writes anywhere.
        let (rc, _, err) = try runTool(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", agent, "register", "--url", s.url, "--state-file",
                locked.path + "/agent.json",
            ],
            env: ["ARGUS_TOKEN": token, "HOME": work.path])
        #expect(rc == 1 && err.contains("cannot write the agent state to \(locked.path)/agent.json"), "\(err)")
        let (rcDev, _, errDev) = try runTool(agent, ["register", "--url", s.url, "--state-file", "/dev/full"], env: ["ARGUS_TOKEN": token])
        #expect(rcDev == 1 && errDev.contains("cannot write the agent state to /dev/full: it is not a regular file."), "\(errDev)")
        let (_, agents, _) = try runTool(Binaries.path("argus-server"), ["agent", "list"] + s.databaseArgs)
        #expect(agents.split(separator: "\n").count == 1, "registered anyway:\n\(agents)")
        // Another path under the server: its sentence.
        let state = work.appendingPathComponent("a.json").path
        let web = try runTool(agent, ["register", "--url", s.url + "/nowhere", "--state-file", state], env: ["ARGUS_TOKEN": token])
        #expect(web.0 == 1 && web.2.contains("registration refused: No such route: POST /nowhere/api/agents/register."), "\(web.2)")
        // The API's address (…/api) is the server's.
        let api = try runTool(
            agent, ["register", "--url", s.url + "/api/", "--hostname", Self.host, "--state-file", state], env: ["ARGUS_TOKEN": token])
        #expect(api.0 == 0, "\(api.2)")
        #expect(try JSON.parse(String(contentsOfFile: state, encoding: .utf8))["url"]?.stringValue == s.url)
        // A state file that is not one is not "missing".
        try "not json".write(toFile: state, atomically: true, encoding: .utf8)
        let bad = try runTool(agent, ["run", "--state-file", state])
        #expect(bad.0 == 1 && bad.2.contains("\(state) is not an agent state file"), "\(bad.2)")
    }

    @Test("without --state-file the agent keeps its token under $HOME/.config/argus, as $HOME says, and run finds it there")
    func stateFileFollowsHOME() throws {
        let s = try TestServer()
        let home = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        let env = ["HOME": home.path, "ARGUS_AGENT_STATE": ""]
        let (rc, out, err) = try runTool(
            Binaries.path("argus-agent"), ["register", "--url", s.url, "--token", try s.token(), "--hostname", Self.host], env: env)
        #expect(rc == 0, "\(err)")
        let state = home.appendingPathComponent(".config/argus/agent.json").path
        #expect(out.contains("token cached in \(state)"), "\(out)")
        let attrs = try FileManager.default.attributesOfItem(atPath: state)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
        let agent = try startProcess(
            Binaries.path("argus-agent"), ["run"], env: env, stderr: home.appendingPathComponent("agent.log").path)
        defer { stopProcess(agent) }
        let c = s.client(try s.token())
        try Self.finishedBatch(c, "b", command: "true", cwd: "/tmp")
        try Self.waitOnline(c, "b")
        #expect(try c.mustGet(APIPath.batch("b"))["agent_online"] == true)
    }

    @Test("no agent online: rerun is 409 naming the host; a running batch cannot be rerun")
    func noAgent() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.finishedBatch(c, "b", command: "true", cwd: "/tmp")
        let r = try c.post("/api/batches/b/rerun", json: [:])
        #expect(r.status == 409)
        #expect(r.detail == "no agent online for host \(Self.host) registered by alice, the batch's owner")
        try c.mustPost(
            Ev.make("batch_start", batch: "live", data: ["command": "true"], source: ["project": "p", "host": .string(Self.host)]))
        #expect(try c.post("/api/batches/live/rerun", json: [:]).status == 409)
    }

    @Test("a second argus-agent run on the same state file refuses in one sentence, so no rerun starts twice")
    func oneAgentPerStateFile() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let work = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        // `register` makes the state's folder the owner's alone, whatever the umask.
        let state = work.appendingPathComponent("new-folder/agent.json").path
        _ = try Self.register(s, token, state: state)
        let mode = try FileManager.default.attributesOfItem(atPath: work.appendingPathComponent("new-folder").path)[.posixPermissions]
        #expect((mode as? Int).map { $0 & 0o777 } == 0o700)
        let agent = try startProcess(
            Binaries.path("argus-agent"), ["run", "--state-file", state], env: ["ARGUS_URL": "", "ARGUS_TOKEN": ""],
            stderr: state + ".log")
        defer { stopProcess(agent) }
        try Self.finishedBatch(c, "b", command: "true", cwd: "/tmp")
        try Self.waitOnline(c, "b")
        // Its reruns inherit its environment: without the SDK's two variables they would report nowhere.
        var log = ""
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !log.contains("polling") {
            usleep(50_000)
            log = try String(contentsOfFile: state + ".log", encoding: .utf8)
        }
        #expect(
            log.contains(
                "argus-agent: warning: ARGUS_URL and ARGUS_TOKEN are not set, so the runs this agent starts will not report to the server (they inherit its environment).\n"
            ), "\(log)")
        let (rc, out, err) = try runTool(Binaries.path("argus-agent"), ["run", "--state-file", state])
        #expect(rc == 1 && out.isEmpty)
        #expect(
            err
                == "argus-agent: another argus-agent run (pid \(agent.processIdentifier)) already uses \(state): one agent per state file, or every rerun would start twice.\n"
        )
        // Named another way (a symlink), it is the same state file.
        let link = work.appendingPathComponent("link.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: state)
        let viaLink = try runTool(Binaries.path("argus-agent"), ["run", "--state-file", link])
        #expect(viaLink.0 == 1 && viaLink.2.contains("already uses \(link)"), "\(viaLink)")
        // The first one still serves.
        #expect(try c.post("/api/batches/b/rerun", json: [:]).status == 202)
        stopProcess(agent)
        // Once it has stopped, the state file is free again.
        let again = try startProcess(
            Binaries.path("argus-agent"), ["run", "--state-file", state], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token],
            stderr: state + ".log2")
        defer { stopProcess(again) }
        var log2 = ""
        while Date() < deadline.addingTimeInterval(10), !log2.contains("polling") {
            usleep(50_000)
            log2 = try String(contentsOfFile: state + ".log2", encoding: .utf8)
        }
        #expect(again.isRunning)
        #expect(log2.contains("polling") && !log2.contains("warning"), "\(log2)")
    }

    @Test(
        "a copy of the state file run beside the first stands by, so each rerun runs once; it serves at once when the first dies"
    )
    func copiedStateFile() throws {
        let (s, _, c, work, state) = try Self.registered()
        defer { try? FileManager.default.removeItem(at: work) }
        let copy = work.appendingPathComponent("copy.json").path
        try FileManager.default.copyItem(atPath: state, toPath: copy)
        let first = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
        defer { stopProcess(first) }
        try Self.finishedBatch(c, "twice", command: "echo x >> runs.txt", cwd: work.path)
        try Self.waitOnline(c, "twice")
        // The first has claimed the agent (its heartbeat answered) before the copy starts: registering already makes
        // the agent read as online, and on a loaded machine (ci19) the copy's first heartbeat came first.
        let started = Date()
        while !s.log.contains("/heartbeat 204"), Date().timeIntervalSince(started) < 20 { usleep(50_000) }
        // The copy (its own lock file: a home shared between hosts looks the same) is told why it waits.
        let second = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", copy], stderr: copy + ".log")
        defer { stopProcess(second) }
        func log(_ path: String, until text: String) -> String {
            let deadline = Date().addingTimeInterval(15)
            var log = ""
            while Date() < deadline, !log.contains(text) {
                usleep(100_000)
                log = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            }
            return log
        }
        let waiting = log(copy + ".log", until: "standing by")
        #expect(waiting.contains("standing by: Agent 1 is served by another argus-agent run process, seen "), "\(waiting)")
        #expect(
            waiting.contains(
                " s ago: its state file is in use twice (a copy, or a home shared between hosts), and each would run every command."
            ), "\(waiting)")
        #expect(try c.post("/api/batches/twice/rerun", json: [:]).status == 202)
        let runs = work.appendingPathComponent("runs.txt").path
        _ = Self.waitForLine(runs)
        Thread.sleep(forTimeInterval: 3)  // past both agents' next polls: before, each ran it
        #expect((try? String(contentsOfFile: runs, encoding: .utf8)) == "x\n", "ran exactly once")
        // The first dies without a word (kill -9): the copy on this host finds it gone and serves at once, not after
        // ARGUS_AGENT_ONLINE_S of silence.
        kill(first.processIdentifier, SIGKILL)
        let serving = log(copy + ".log", until: "serving agent")
        #expect(serving.contains("serving agent 1 now: the other process is gone"), "\(serving)")
        try Self.finishedBatch(c, "after", command: "echo y >> runs-after.txt", cwd: work.path)
        #expect(try c.post("/api/batches/after/rerun", json: [:]).status == 202)
        #expect(Self.waitForLine(work.appendingPathComponent("runs-after.txt").path) == "y\n")
    }

    @Test("a rerun whose process dies before it reports is said on the batch that was rerun; one killed after it reported ends failed")
    func rerunThatDies() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let (work, agent) = try Self.runningAgent(s, token)
        defer { Self.finish(agent, work) }

        // An import error: the process exits 3 and the SDK never said a word.
        try Self.finishedBatch(c, "crash", command: "exit 3", cwd: work.path)
        try Self.waitOnline(c, "crash")
        let crash = SSECollector(url: "\(s.url)/api/sse?channels=batch:crash", token: token)
        defer { crash.stop() }
        try crash.waitUntilConnected()
        #expect(try c.post("/api/batches/crash/rerun", json: [:]).status == 202)
        try crash.wait(until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
        let failed = try JSON.parse(try #require(crash.dataEvents.first { $0.type == ServerEventTypes.rerunFailed }).data)
        #expect(
            failed["data"]?["error"]
                == "its process exited with status 3 in \(work.path) before its run reported (its output is in argus-agent's log on the host)"
        )
        // Its rerun is over: another may be asked for. Whoever opens the batch later still reads why it failed, with
        // when, until another rerun is asked for.
        let rerun = try #require(try c.mustGet("/api/batches/crash/actions")["rerun"])
        #expect(rerun["enabled"] == true)
        #expect(rerun["failed"]?["reason"] == failed["data"]?["error"])
        let at = try #require(rerun["failed"]?["at"]?.stringValue.flatMap { Timestamp(iso: $0) })
        #expect(abs(at.seconds - Date().timeIntervalSince1970) < 30)
        #expect(try c.post("/api/batches/crash/rerun", json: [:]).status == 202)
        // A new rerun replaces the old failure. (The agent may already have run it, and it fails the same way: then
        // the failure shown is the new one, with its own time.)
        let after = try c.mustGet("/api/batches/crash/actions")["rerun"]?["failed"]
        #expect(
            after == nil || after?["at"]?.stringValue.flatMap { Timestamp(iso: $0) }.map { $0.seconds > at.seconds } == true,
            "a new rerun replaces the old failure: \(String(describing: after))")

        // Killed (the OOM killer's SIGKILL) after its run reported: the new batch and its running job end failed now.
        try Self.finishedBatch(c, "oom", command: "echo $$ > oom.txt; sleep 60", cwd: work.path)
        #expect(try c.post("/api/batches/oom/rerun", json: [:]).status == 202)
        let pid = Int32(Self.waitForLine(work.appendingPathComponent("oom.txt").path).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(pid > 1)
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        let source: JSON = ["project": "p", "host": .string(Self.host)]
        try c.mustPost(Ev.make("batch_start", batch: "oom-rerun", data: ["command": "echo $$ > oom.txt; sleep 60"], source: source))
        try c.mustPost(Ev.make("job_start", batch: "oom-rerun", job: "j", source: source))
        #expect(try c.mustGet("/api/batches/oom-rerun")["source_batch_id"] == "oom")
        kill(pid, SIGKILL)
        var b = JSON.null
        let deadline = Date().addingTimeInterval(15)
        repeat {
            usleep(100_000)
            b = try c.mustGet("/api/batches/oom-rerun")
        } while Date() < deadline && b["status"] != "failed"
        #expect(b["status"] == "failed", "a rerun whose process died must not sit running until the stall timeout")
        #expect(
            b["failure_reason"]
                == "The agent reports the run's process exited with status 137 (signal 9) before the run reported its end.")
        #expect(try c.mustGet("/api/jobs/oom-rerun/j")["status"] == "failed")
    }

    /// What the restarted agent's journal says of the run it started: the pid went to another process (`reused`),
    /// or the run was started by an agent from before runs were identified (`unknown`).
    enum JournalAfterRestart: String, CaseIterable, Sendable { case reused, unknown }

    @Test(
        "a Stop carried out by an agent that was away signals only the run it started, still running: gone, the batch ends stopped; unknown, it is left for the host",
        arguments: JournalAfterRestart.allCases)
    func stopAfterTheAgentWasAway(_ journalSays: JournalAfterRestart) throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let (work, first) = try Self.runningAgent(s, token)
        defer { try? FileManager.default.removeItem(at: work) }
        let state = work.appendingPathComponent("agent.json").path
        let command = "echo $$ > pid.txt; sleep 60"
        try Self.finishedBatch(c, "long", command: command, cwd: work.path)
        try Self.waitOnline(c, "long")
        #expect(try c.post("/api/batches/long/rerun", json: [:]).status == 202)
        let pid = Int32(Self.waitForLine(work.appendingPathComponent("pid.txt").path).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(pid > 1)
        defer { kill(-pid, SIGKILL) }
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "long-rerun", data: ["command": .string(command)],
                source: ["project": "p", "host": .string(Self.host)]))
        #expect(try c.mustGet("/api/batches/long-rerun")["source_batch_id"] == "long")
        // The agent goes away; meanwhile the pid it remembers comes to belong to another process (after a reboot,
        // pids start over): here, the journal's record of which process it started no longer matches.
        stopProcess(first)
        let journal = state + ".commands"
        let text = try String(contentsOfFile: journal, encoding: .utf8)
        #expect(text.contains("\"process\":"), "\(text)")
        let rewritten =
            journalSays == .reused
            ? text.replacingOccurrences(of: #""process":"[^"]*""#, with: #""process":"another-boot/1""#, options: .regularExpression)
            : text.replacingOccurrences(of: #","process":"[^"]*""#, with: "", options: .regularExpression)
        try rewritten.write(toFile: journal, atomically: true, encoding: .utf8)
        let again = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log2")
        defer { stopProcess(again) }
        #expect(try c.post("/api/batches/long-rerun/stop", json: [:]).status == 200)
        var log = ""
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !log.contains("not stopping process group \(pid)") {
            usleep(100_000)
            log = (try? String(contentsOfFile: state + ".log2", encoding: .utf8)) ?? ""
        }
        #expect(kill(pid, 0) == 0, "a process this agent cannot tell is its run is never signalled")
        var status = JSON.null
        repeat {
            usleep(100_000)
            status = try c.mustGet("/api/batches/long-rerun")["status"] ?? .null
        } while Date() < deadline && status != "stopped" && journalSays == .reused
        switch journalSays {
        case .reused:
            #expect(status == "stopped", "the agent's word that the run is gone ends it, though it is not the process's parent")
        case .unknown:
            // It may still run: not called stopped, and the agent says to stop it on the host.
            #expect(status == "stopping")
            #expect(log.contains("cannot tell whether it is still the run it started; stop it on the host"), "\(log)")
            // The actions say so while the batch waits on that Stop (the clients show it as a banner).
            var stop = JSON.null
            repeat {
                usleep(100_000)
                stop = try c.mustGet("/api/batches/long-rerun/actions")["stop"] ?? .null
            } while Date() < deadline && stop["failed"] == nil
            #expect(
                stop["failed"]?["reason"]
                    == .string("the agent cannot tell whether process group \(pid) is still the run it started; stop it on the host"))
            #expect(stop["enabled"] == true, "a refused Stop may be asked again")
            #expect(try c.mustGet("/api/batches/long/actions")["stop"]?["failed"] == nil, "only the batch that was stopped")
        }
    }

    @Test("a rerun the agent cannot start (its cwd is gone) is said on the batch that was rerun, with the agent's reason")
    func rerunThatCannotStart() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let (work, agent) = try Self.runningAgent(s, token)
        defer { Self.finish(agent, work) }
        let gone = work.appendingPathComponent("deleted-checkout").path
        try Self.finishedBatch(c, "moved", command: "true", cwd: gone)
        try Self.waitOnline(c, "moved")
        let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:moved", token: token)
        defer { events.stop() }
        try events.waitUntilConnected()
        #expect(try c.post("/api/batches/moved/rerun", json: [:]).status == 202)
        try events.wait(until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
        let failed = try #require(events.dataEvents.first { $0.type == ServerEventTypes.rerunFailed })
        #expect(failed.data.contains("deleted-checkout"), "the agent's reason names the missing cwd: \(failed.data)")
        let reason = try c.mustGet("/api/batches/moved/actions")["rerun"]?["failed"]?["reason"]?.stringValue ?? ""
        #expect(reason.contains("deleted-checkout"), "the actions keep the agent's reason: \(reason)")
    }

    @Test("a rerun the agent was starting when it died is not run again on restart; the next one runs once")
    func neverTwice() throws {
        let (s, token, c, work, state) = try Self.registered()
        defer { try? FileManager.default.removeItem(at: work) }
        // The journal of an agent that was killed between writing "starting command 1" and spawning or acking it.
        try Data("{\"id\":1}\n".utf8).write(to: URL(fileURLWithPath: state + ".commands"))
        try Self.finishedBatch(c, "once", command: "echo x >> runs-once.txt", cwd: work.path)
        try Self.finishedBatch(c, "next", command: "echo x >> runs-next.txt", cwd: work.path)
        let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:once", token: token)
        defer { events.stop() }
        try events.waitUntilConnected()
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
        defer { stopProcess(agent) }
        let deadline = Date().addingTimeInterval(15)
        try Self.waitOnline(c, "once")
        let first = try c.post("/api/batches/once/rerun", json: [:])
        #expect(first.json?["command_id"] == 1, "\(first.text)")
        try events.wait(until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
        #expect(try #require(events.dataEvents.first { $0.type == ServerEventTypes.rerunFailed }).data.contains("never runs twice"))
        #expect(try c.post("/api/batches/next/rerun", json: [:]).status == 202)
        let next = work.appendingPathComponent("runs-next.txt").path
        _ = Self.waitForLine(next, seconds: deadline.timeIntervalSinceNow)
        Thread.sleep(forTimeInterval: 2.5)  // past the next polls: a redelivery would run it again
        #expect((try? String(contentsOfFile: next, encoding: .utf8)) == "x\n", "ran exactly once")
        #expect(!FileManager.default.fileExists(atPath: work.appendingPathComponent("runs-once.txt").path))
        let journal = try String(contentsOfFile: state + ".commands", encoding: .utf8)
        #expect(journal.contains("\"id\":2,\"pid\":"), "\(journal)")
    }

    @Test("a rerun that dies while its agent is restarting ends failed at once, not at the stall timeout; its end is reported once")
    func restartedAgentWatchesItsRuns() throws {
        let (s, _, c, work, state) = try Self.registered()
        defer { withExtendedLifetime(s) { try? FileManager.default.removeItem(at: work) } }
        let command = "echo $$ > pid.txt; while [ ! -e die ]; do sleep 0.1; done; exit 3"
        try Self.finishedBatch(c, "crashy", command: command, cwd: work.path)
        var agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
        defer { stopProcess(agent) }  // whichever runs last
        try Self.waitOnline(c, "crashy")
        #expect(try c.post("/api/batches/crashy/rerun", json: [:]).status == 202)
        let pid = Int32(Self.waitForLine(work.appendingPathComponent("pid.txt").path).trimmed()) ?? 0
        defer { if pid > 1 { kill(-pid, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "crashy-rerun", data: ["command": .string(command)],
                source: ["project": "p", "host": .string(Self.host)]))
        #expect(try c.mustGet("/api/batches/crashy-rerun")["source_batch_id"] == "crashy")
        // The agent restarts (an upgrade); the run, still going, is watched by the new one, then dies.
        stopProcess(agent)
        agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log2")
        let log2 = state + ".log2"
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !((try? String(contentsOfFile: log2, encoding: .utf8)) ?? "").contains("watching pid \(pid)") {
            usleep(100_000)
        }
        FileManager.default.createFile(atPath: work.appendingPathComponent("die").path, contents: nil)
        var batch = try c.mustGet("/api/batches/crashy-rerun")
        while Date() < deadline, batch["status"] == "running" {
            usleep(100_000)
            batch = try c.mustGet("/api/batches/crashy-rerun")
        }
        #expect(batch["status"] == "failed", "\(batch)")
        #expect(batch["failure_reason"]?.stringValue?.contains("exited with an unknown status") == true, "\(batch)")
        #expect(try c.mustGet("/api/batches/crashy/actions")["rerun"]?["enabled"] == true, "its rerun ended: it may run again")
        // Started once more, the agent has nothing left to report: the journal says the end landed.
        stopProcess(agent)
        agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log3")
        try Self.waitOnline(c, "crashy")
        let log3 = (try? String(contentsOfFile: state + ".log3", encoding: .utf8)) ?? ""
        #expect(!log3.contains("reporting it") && !log3.contains("watching pid"), "\(log3)")
    }

    @Test("rerun runs the recorded command in the recorded cwd; its new batch links back; stop kills its process group")
    func rerunAndStop() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let work = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let state = work.appendingPathComponent("agent.json").path
        #expect(try Self.register(s, token, state: state).contains("registered agent"))
        let mode = (try FileManager.default.attributesOfItem(atPath: state)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state, "--grace", "1"], stderr: state + ".log")
        defer { stopProcess(agent) }
        // The agent is online once it polled.
        let deadline = Date().addingTimeInterval(15)
        try Self.finishedBatch(c, "first", command: "ls -l /proc/$$/fd > fds.txt; echo ran-in-$(pwd) > marker.txt", cwd: work.path)
        try Self.waitOnline(c, "first")
        let rerun = try c.post("/api/batches/first/rerun", json: [:])
        #expect(rerun.status == 202, "\(rerun.text)")
        #expect(rerun.json?["host"] == .string(Self.host))
        let marker = work.appendingPathComponent("marker.txt").path
        let written = Self.waitForLine(marker, seconds: deadline.timeIntervalSinceNow)
        #expect(written.trimmingCharacters(in: .whitespacesAndNewlines) == "ran-in-\(work.path)")
        // The run holds none of the agent's sockets (its connection to the server among them).
        let fds = try String(contentsOfFile: work.appendingPathComponent("fds.txt").path, encoding: .utf8)
        #expect(!fds.contains("socket:"), "\(fds)")

        // A long-running rerun: its process writes its pid, then sleeps; the new batch it reports links back.
        let sleeper = "echo $$ > pid.txt; sleep 60"
        try Self.finishedBatch(c, "long", command: sleeper, cwd: work.path)
        #expect(try c.post("/api/batches/long/rerun", json: [:]).status == 202)
        // A second rerun while the first is on its way would start the run twice on the shared box: refused, and the
        // actions say why (queued, or started and not reported yet, depending on how far the agent got).
        let twice = try c.post("/api/batches/long/rerun", json: [:])
        #expect(twice.status == 409 && twice.detail.hasPrefix("A second rerun of batch 'long' is refused: "), "\(twice.text)")
        #expect(try c.mustGet("/api/batches/long/actions")["rerun"]?["enabled"] == false)
        let pidFile = work.appendingPathComponent("pid.txt").path
        let deadline2 = Date().addingTimeInterval(15)
        let pid = Int32(Self.waitForLine(pidFile).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(pid > 1 && kill(pid, 0) == 0)
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "long-rerun", data: ["command": .string(sleeper)],
                source: ["project": "p", "host": .string(Self.host)]))
        #expect(try c.mustGet("/api/batches/long-rerun")["source_batch_id"] == "long")
        // Its run reports its pid (as the SDK's resource snapshots do): the one the agent started, so Stop goes ahead.
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "long-rerun", data: ["pid": JSON(Int(pid)), "cpu_util_pct": 3]))
        let running = try c.post("/api/batches/long/rerun", json: [:])
        #expect(
            running.status == 409
                && running.detail.hasPrefix(
                    "A second rerun of batch 'long' is refused: " + "its rerun is running as batch 'long-rerun' (command "),
            "\(running.text)")
        #expect(
            try c.mustGet("/api/batches/long/actions")["rerun"]?["reason"]?.stringValue?.hasPrefix(
                "its rerun is running as batch 'long-rerun'") == true)
        // The answer, and the batch while it stops, say how the stop reaches the run: by its agent too.
        let agentStops = "the agent that started this rerun signals it (SIGTERM, then SIGKILL), and the run checks every 10 s"
        let stop = try c.post("/api/batches/long-rerun/stop", json: [:])
        #expect(stop.status == 200 && stop.json?["detail"] == .string(agentStops), "\(stop.text)")
        let stopping = try c.mustGet("/api/batches/long-rerun")
        #expect(stopping["status"] != "stopping" || stopping["stop_detail"] == .string(agentStops), "\(stopping)")
        while Date() < deadline2, kill(pid, 0) == 0 { usleep(100_000) }
        #expect(kill(pid, 0) != 0, "the rerun's process group should be gone")
        // Its process will never report the end (SIGTERM took it): the agent's exit report ends the batch stopped.
        var status = try c.mustGet("/api/batches/long-rerun")["status"]
        while Date() < deadline2, status != "stopped" {
            usleep(100_000)
            status = try c.mustGet("/api/batches/long-rerun")["status"]
        }
        #expect(status == "stopped", "a stopped rerun whose process exited must not wait for the stall timeout")
        #expect(try c.mustGet("/api/batches/long/actions")["rerun"]?["enabled"] == true, "its rerun ended: it may run again")
        let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:long-rerun", token: token, lastEventID: "0")
        defer { events.stop() }
        try events.wait(until: { $0.contains { $0.type == "batch_stopped" } })
        let reason = events.dataEvents.first { $0.type == "batch_stopped" }?.data
        #expect(reason?.contains("Stopped: the run's process ended at the agent's SIGTERM.") == true, "\(reason ?? "")")
        // Kept on the batch for whoever opens it later.
        #expect(try c.mustGet("/api/batches/long-rerun")["end_reason"] == "Stopped: the run's process ended at the agent's SIGTERM.")
        let log = (try? String(contentsOfFile: state + ".log", encoding: .utf8)) ?? ""
        #expect(log.contains("stopping process group"))

        // `argus-agent register` run again (another state file): the old agent gone and revoked, the new one stops the
        // run the old one started, which it knows by the pid the batch reported being in that process group.
        try Self.finishedBatch(c, "again", command: "echo $$ > pid2.txt; sleep 60", cwd: work.path)
        #expect(try c.post("/api/batches/again/rerun", json: [:]).status == 202)
        let pid2 =
            Int32(Self.waitForLine(work.appendingPathComponent("pid2.txt").path).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        #expect(pid2 > 1 && kill(pid2, 0) == 0)
        Thread.sleep(forTimeInterval: 0.5)
        let source: JSON = ["project": "p", "host": .string(Self.host)]
        try c.mustPost(Ev.make("batch_start", batch: "again-rerun", data: ["command": "echo $$ > pid2.txt; sleep 60"], source: source))
        try c.mustPost(Ev.make("resource_snapshot", batch: "again-rerun", data: ["pid": JSON(Int(pid2)), "cpu_util_pct": 3]))
        _ = stopProcess(agent)
        let oldID = try #require(try JSON.parse(String(contentsOfFile: state, encoding: .utf8))["agent_id"]?.intValue)
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["agent", "revoke", String(oldID)] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        let state2 = work.appendingPathComponent("again.json").path
        _ = try Self.register(s, token, state: state2)
        let agent2 = try startProcess(
            Binaries.path("argus-agent"), ["run", "--state-file", state2, "--grace", "1"], stderr: state2 + ".log")
        defer { stopProcess(agent2) }
        try Self.waitOnline(c, "again-rerun")
        #expect(try c.post("/api/batches/again-rerun/stop", json: [:]).status == 200)
        let deadline3 = Date().addingTimeInterval(15)
        while Date() < deadline3, kill(pid2, 0) == 0 { usleep(100_000) }
        #expect(kill(pid2, 0) != 0, "the new agent should have stopped the run the old one started")
        while Date() < deadline3, try c.mustGet("/api/batches/again-rerun")["status"] != "stopped" { usleep(100_000) }
        #expect(try c.mustGet("/api/batches/again-rerun")["status"] == "stopped")
    }
}

extension AgentTests {
    @Test("a batch with no recorded cwd (the SDK's Reporter sends none) reruns in the agent user's home, and Rerun says so first")
    func rerunWithoutCwd() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let home = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: home) }
        let state = home.appendingPathComponent("agent.json").path
        _ = try Self.register(s, token, state: state)
        // Started from another directory, as a service would be: the rerun must not run there.
        let agent = try startProcess(
            "/bin/sh", ["-c", "cd / && exec \"$0\" run --state-file \"$1\" --grace 1", Binaries.path("argus-agent"), state],
            env: ["HOME": home.path], stderr: state + ".log")
        defer { stopProcess(agent) }
        try Self.finishedBatch(c, "sdk", command: "pwd > ran-in.txt", cwd: nil)
        try Self.finishedBatch(c, "placed", command: "true", cwd: "/srv/proj")
        try Self.waitOnline(c, "sdk")
        // The running agent names its home with each heartbeat; Rerun names it as the place.
        var runsIn: JSON? = nil
        for _ in 0..<100 {
            runsIn = try c.mustGet("/api/batches/sdk/actions")["rerun"]?["runs_in"]
            if runsIn?.stringValue?.hasPrefix("/") == true { break }
            usleep(50_000)
        }
        #expect(runsIn == .string("\(home.path), the agent's home (no working directory was recorded)"))
        #expect(try c.mustGet("/api/batches/placed/actions")["rerun"]?["runs_in"] == "/srv/proj")
        #expect(try c.post("/api/batches/sdk/rerun", json: [:]).status == 202)
        let ran = Self.waitForLine(home.appendingPathComponent("ran-in.txt").path)
        #expect(ran.trimmed() == home.path)
        // The agent logs the start once it has the pid, which can be after the command has already written its file.
        let started = "in \(home.path) (no working directory was recorded: its home): pwd > ran-in.txt"
        var log = ""
        for _ in 0..<150 {
            log = (try? String(contentsOfFile: state + ".log", encoding: .utf8)) ?? ""
            if log.contains(started) { break }
            usleep(100_000)
        }
        #expect(log.contains(started), "\(log)")
        // One that dies before its run reports says where it ran, by the path.
        try Self.finishedBatch(c, "dies", command: "exit 4", cwd: nil)
        let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:dies", token: token, lastEventID: "0")
        defer { events.stop() }
        #expect(try c.post("/api/batches/dies/rerun", json: [:]).status == 202)
        try events.wait(until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
        let failed = events.dataEvents.first { $0.type == ServerEventTypes.rerunFailed }?.data ?? ""
        #expect(
            failed.contains(
                "exited with status 4 in \(home.path), the agent's home (no working directory was recorded) before its run reported"),
            "\(failed)")
    }

    @Test(
        "a rerun whose script reports another command is known by the pid its snapshots report, among the processes its agent lists: linked, and the Stop asked before reaches the agent; a run started by hand on the host is not"
    )
    func rerunKnownByItsPID() async throws {
        let (s, _, c, work, state) = try Self.registered()
        defer { withExtendedLifetime(s) { try? FileManager.default.removeItem(at: work) } }
        let (agent, child, group) = try Self.rerunThroughAgent(c, work: work, state: state)
        defer { stopProcess(agent) }
        defer { if group > 1 { kill(-group, SIGKILL) } }
        let byHand = try startProcess("/bin/sleep", ["60"])
        defer { stopProcess(byHand) }
        // Both scripts report a command of their own making, not the one rerun.
        for batch in ["train-rerun", "by-hand"] {
            try c.mustPost(
                Ev.make(
                    "batch_start", batch: batch, data: ["command": .string("python train.py --out runs/\(batch)-20261207")],
                    source: ["project": "p", "host": .string(Self.host)]))
        }
        #expect(try c.mustGet("/api/batches/train-rerun")["source_batch_id"] == .null)
        // Stopped before it is known as the rerun: only its own poll would hear it, and the answer says so.
        let stop = try c.post("/api/batches/train-rerun/stop", json: [:])
        #expect(stop.json?["detail"] == "the run stops at its next check (every 10 s)", "\(stop.text)")
        #expect(try Self.snapshotsUntilLinked(c, "train-rerun", pid: child, byHand: byHand), "not linked in 25 s")
        #expect(try c.mustGet("/api/batches/by-hand")["source_batch_id"] == .null, "a run outside the rerun's processes")
        // Linked, the Stop asked for reaches the agent, which ends the rerun's processes; the run by hand goes on.
        let stopping = try c.mustGet("/api/batches/train-rerun")["stop_detail"]?.stringValue
        #expect(stopping?.hasPrefix("the agent that started this rerun signals it") == true, "\(stopping ?? "")")
        try await eventually("the rerun's process to end at its Stop", timeout: 15) { kill(child, 0) != 0 }
        #expect(Self.runs(byHand.processIdentifier))
        try await eventually("the rerun's batch to end stopped", timeout: 15) {
            try c.mustGet("/api/batches/train-rerun")["status"] == "stopped"
        }
    }

    @Test(
        "a run by hand that reported the rerun's command first, and was linked in its place, gives the link up to the batch whose pid is among the rerun's processes"
    )
    func pidOutranksCommand() async throws {
        let (s, token, c, work, state) = try Self.registered()
        defer { withExtendedLifetime(s) { try? FileManager.default.removeItem(at: work) } }
        let (agent, child, group) = try Self.rerunThroughAgent(c, work: work, state: state)
        defer { stopProcess(agent) }
        defer { if group > 1 { kill(-group, SIGKILL) } }
        let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:train", token: token, lastEventID: "0")
        defer { events.stop() }
        let command = Self.childCommand
        try await Task.sleep(nanoseconds: 500_000_000)  // the agent acks `started` right after spawning
        let byHand = try startProcess("/bin/sleep", ["60"])
        defer { stopProcess(byHand) }
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "by-hand", data: ["command": .string(command)], source: ["project": "p", "host": .string(Self.host)]))
        #expect(try c.mustGet("/api/batches/by-hand")["source_batch_id"] == "train", "taken for the rerun by its command")
        // Stopped meanwhile: the agent refuses (its pid is not the rerun's), and notes that this rerun's end is not
        // that batch's.
        try c.mustPost(Ev.make("resource_snapshot", batch: "by-hand", data: ["pid": JSON(Int(byHand.processIdentifier))]))
        #expect(try c.post("/api/batches/by-hand/stop", json: [:]).status == 200)
        try await eventually("the agent's refusal of by-hand's Stop", timeout: 15) {
            try c.mustGet("/api/batches/by-hand/actions")["stop"]?["failed"] != nil
        }
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "the-rerun", data: ["command": .string(command)],
                source: ["project": "p", "host": .string(Self.host)]))
        #expect(
            try Self.snapshotsUntilLinked(c, "the-rerun", pid: child, byHand: byHand),
            "the batch whose pid is the rerun's was not linked in 25 s")
        #expect(try c.mustGet("/api/batches/by-hand")["source_batch_id"] == .null, "the run by hand keeps the link")
        // The batch that was rerun says where its rerun went, again.
        try events.wait(until: { frames in
            frames.contains { $0.type == ServerEventTypes.rerunStarted && $0.data.contains("\"the-rerun\"") }
        })
        // The run by hand now hears a Stop only through its poll.
        #expect(try c.mustGet("/api/batches/by-hand")["stop_detail"] == "the run stops at its next check (every 10 s)")
        // The rerun dies (the OOM killer): its end is the linked batch's again, at once, not at the stall timeout
        // (helper-92).
        kill(child, SIGKILL)
        try await eventually("the rerun's batch to end failed", timeout: 15) {
            try c.mustGet("/api/batches/the-rerun")["status"] != "running"
        }
        #expect(try c.mustGet("/api/batches/the-rerun")["status"] == "failed")
        #expect(Self.runs(byHand.processIdentifier))
    }

    @Test("a run started by hand with a rerun's command, linked to it in its place, is not stopped through the rerun's process group")
    func stopChecksTheRunsPID() throws {
        let (s, _, c, work, state) = try Self.registered()
        defer { withExtendedLifetime(s) { try? FileManager.default.removeItem(at: work) } }
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state, "--grace", "1"], stderr: state + ".log")
        defer { stopProcess(agent) }
        let command = "echo $$ > pid.txt; sleep 60"
        try Self.finishedBatch(c, "train", command: command, cwd: work.path)
        try Self.waitOnline(c, "train")
        #expect(try c.post("/api/batches/train/rerun", json: [:]).status == 202)
        let rerunPID = Int32(Self.waitForLine(work.appendingPathComponent("pid.txt").path).trimmed()) ?? 0
        #expect(rerunPID > 1 && Self.runs(rerunPID))
        defer { if rerunPID > 1 { kill(-rerunPID, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        // Before the rerun reports, the same command started by hand reports first and is taken for the rerun.
        let byHand = try startProcess("/bin/sleep", ["60"])
        defer { stopProcess(byHand) }
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "by-hand", data: ["command": .string(command)],
                source: ["project": "p", "host": .string(Self.host)]))
        try c.mustPost(
            Ev.make("resource_snapshot", batch: "by-hand", data: ["pid": JSON(Int(byHand.processIdentifier)), "cpu_util_pct": 3]))
        #expect(try c.mustGet("/api/batches/by-hand")["source_batch_id"] == "train")
        #expect(try c.post("/api/batches/by-hand/stop", json: [:]).status == 200)
        // The agent refuses: the stop of by-hand says why, and the rerun it started runs on.
        let deadline = Date().addingTimeInterval(15)
        var failed: String? = nil
        while Date() < deadline, failed == nil {
            usleep(100_000)
            failed = try c.mustGet("/api/batches/by-hand/actions")["stop"]?["failed"]?["reason"]?.stringValue
        }
        #expect(
            failed
                == "its run reports pid \(byHand.processIdentifier), which is not the rerun this agent started (process group \(rerunPID)); it was started another way: stop it on the host",
            "\(String(describing: failed))")
        #expect(Self.runs(rerunPID), "the agent's rerun was killed by the Stop of another run")
        #expect(try c.mustGet("/api/batches/by-hand/actions")["stop"]?["enabled"] == true, "a Stop the agent refused may be asked again")
        let log = (try? String(contentsOfFile: state + ".log", encoding: .utf8)) ?? ""
        #expect(log.contains("not stopping process group \(rerunPID): batch by-hand reports pid \(byHand.processIdentifier)"), "\(log)")
        // When the rerun then dies (the OOM killer, say), its end is not by-hand's: that run goes on, and stays so.
        kill(-rerunPID, SIGKILL)
        let exited = Date().addingTimeInterval(10)
        while Date() < exited, !((try? String(contentsOfFile: state + ".log", encoding: .utf8)) ?? "").contains("pid \(rerunPID) exited") {
            usleep(100_000)
        }
        Thread.sleep(forTimeInterval: 1.5)  // the exit report's landing
        let after = try c.mustGet("/api/batches/by-hand")
        #expect(after["status"] == "stopping", "\(after)")
    }

    /// A running agent (with `grace`) whose rerun of `batch` is a shell waiting on a child shell that ignores SIGTERM
    /// (as a training script with its own handler may): Stop's SIGTERM ends the outer shell at once, the child only
    /// at the SIGKILL. Its run reports as `<batch>-rerun`, then Stop is asked for; `body` gets the client, the
    /// rerun's batch id and the child's pid. The child is killed afterwards whatever happened.
    static func stopWithTrappingChild(
        _ s: TestServer, grace: Int, alsoRecord other: String? = nil,
        _ body: (_ c: HTTPClient, _ rerun: String, _ child: Int32) throws -> Void
    ) throws {
        let token = try s.token()
        let c = s.client(token)
        let work = try scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let state = work.appendingPathComponent("agent.json").path
        _ = try register(s, token, state: state)
        let agent = try startProcess(
            Binaries.path("argus-agent"), ["run", "--state-file", state, "--grace", String(grace)], stderr: state + ".log")
        defer { stopProcess(agent) }
        let command = #"sh -c 'trap "" TERM; echo $$ > child.txt; while :; do sleep 0.2; done'; echo unreachable"#
        try finishedBatch(c, "trap", command: command, cwd: work.path)
        if let other { try finishedBatch(c, other, command: "true", cwd: work.path) }
        try waitOnline(c, "trap")
        #expect(try c.post("/api/batches/trap/rerun", json: [:]).status == 202)
        let child = Int32(waitForLine(work.appendingPathComponent("child.txt").path).trimmed()) ?? 0
        #expect(child > 1 && runs(child))
        defer { if child > 1 { kill(child, SIGKILL) } }
        Thread.sleep(forTimeInterval: 0.5)  // the agent acks `started` right after spawning
        try c.mustPost(
            Ev.make(
                "batch_start", batch: "trap-rerun", data: ["command": .string(command)],
                source: ["project": "p", "host": .string(host)]))
        #expect(try c.post("/api/batches/trap-rerun/stop", json: [:]).status == 200)
        try body(c, "trap-rerun", child)
    }

    @Test(
        "a stopped run ends only when its whole process group is gone: a child that ignores SIGTERM holds it until the SIGKILL, and the reason says SIGKILL"
    )
    func stopWaitsForTheGroup() throws {
        let s = try TestServer()
        try Self.stopWithTrappingChild(s, grace: 3) { c, rerun, child throws in
            let deadline = Date().addingTimeInterval(15)
            var status = try c.mustGet(APIPath.batch(rerun))["status"]
            while Date() < deadline, status != "stopped" {
                usleep(50_000)
                status = try c.mustGet(APIPath.batch(rerun))["status"]
            }
            #expect(status == "stopped")
            // Until then it was stopping, and a Rerun then would have started a second copy beside the first.
            #expect(!Self.runs(child), "the batch read stopped while its SIGTERM-ignoring child still ran")
            // The shell in front died at the SIGTERM (status 143); what ended the run was the SIGKILL.
            let events = SSECollector(url: "\(s.url)/api/sse?channels=batch:\(rerun)", token: c.token, lastEventID: "0")
            defer { events.stop() }
            try events.wait(until: { $0.contains { $0.type == "batch_stopped" } })
            let reason = events.dataEvents.first { $0.type == "batch_stopped" }?.data ?? ""
            #expect(
                reason.contains(
                    "Stopped: the run's process ended at the agent's SIGKILL (it outlived the grace period after SIGTERM)."),
                "\(reason)")
            #expect(
                try c.mustGet(APIPath.batch(rerun))["end_reason"]?.stringValue?.hasPrefix(
                    "Stopped: the run's process ended at the agent's SIGKILL") == true)
        }
    }

    @Test("through a long Stop grace period the agent stays online for its host: a rerun is not refused meanwhile")
    func onlineThroughALongStop() throws {
        // Online for 12 s after the agent was last heard from (it polls at least every 10 s); a 30 s grace period.
        let s = try TestServer(env: ["ARGUS_AGENT_ONLINE_S": "12"])
        try Self.stopWithTrappingChild(s, grace: 30, alsoRecord: "other") { c, rerun, _ throws in
            Thread.sleep(forTimeInterval: 16)
            #expect(try c.mustGet(APIPath.batch(rerun))["status"] == "stopping", "its child still runs")
            #expect(try c.mustGet(APIPath.batch("other"))["agent_online"] == true, "the agent went quiet during the grace period")
            #expect(try c.mustGet("/api/batches/other/actions")["rerun"]?["enabled"] == true)
        }
    }
}

@Suite("argus-agent across a server restart", .ownThread)
struct AgentRestartTests {
    @Test("the agent keeps polling through a server restart and then carries out a rerun")
    func survivesRestart() throws {
        let first = try TestServer()
        let token = try first.token()
        let work = try AgentTests.scratch()
        defer { try? FileManager.default.removeItem(at: work) }
        let state = work.appendingPathComponent("agent.json").path
        _ = try AgentTests.register(first, token, state: state)
        let agent = try startProcess(Binaries.path("argus-agent"), ["run", "--state-file", state], stderr: state + ".log")
        defer { stopProcess(agent) }
        Thread.sleep(forTimeInterval: 0.5)
        let port = first.port
        let dataDir = first.dataDir
        first.stop()
        Thread.sleep(forTimeInterval: 2)  // the agent notices and backs off
        let second = try TestServer(dataDir: dataDir, port: port)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let c = second.client(token)
        try AgentTests.finishedBatch(c, "after-restart", command: "echo back > restarted.txt", cwd: work.path)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, try c.mustGet("/api/batches/after-restart")["agent_online"] != true { usleep(200_000) }
        #expect(try c.post("/api/batches/after-restart/rerun", json: [:]).status == 202)
        let marker = work.appendingPathComponent("restarted.txt").path
        #expect(AgentTests.waitForLine(marker, seconds: deadline.timeIntervalSinceNow) == "back\n")
        let log = (try? String(contentsOfFile: state + ".log", encoding: .utf8)) ?? ""
        #expect(log.contains("cannot poll") && log.contains("connected again"), "\(log)")
    }

    @Test("a rerun's exit while the server is down is reported once it is back, not lost")
    func exitReportOutlivesAnOutage() throws {
        let first = try TestServer()
        let token = try first.token()
        let (work, agent) = try AgentTests.runningAgent(first, token)
        defer { AgentTests.finish(agent, work) }
        let c = first.client(token)
        try AgentTests.finishedBatch(c, "slow", command: "echo started > started.txt; sleep 1; exit 5", cwd: work.path)
        try AgentTests.waitOnline(c, "slow")
        #expect(try c.post("/api/batches/slow/rerun", json: [:]).status == 202)
        #expect(AgentTests.waitForLine(work.appendingPathComponent("started.txt").path) == "started\n")
        let (port, dataDir) = (first.port, first.dataDir)
        first.stop()
        // The process exits meanwhile; the agent cannot say so for a while.
        Thread.sleep(forTimeInterval: 10)
        let second = try TestServer(dataDir: dataDir, port: port)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let events = SSECollector(url: "\(second.url)/api/sse?channels=batch:slow", token: token, lastEventID: "0")
        defer { events.stop() }
        try events.wait(timeout: 40, until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
        let failed = events.dataEvents.first { $0.type == ServerEventTypes.rerunFailed }?.data ?? ""
        #expect(failed.contains("exited with status 5 in \(work.path) before its run reported"), "\(failed)")
    }
}
