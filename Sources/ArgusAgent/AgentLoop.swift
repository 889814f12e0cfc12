import ArgusClient
import Foundation
import Shared

/// The agent's work: poll, run recorded commands in their own process group, report back. Survives server
/// restarts (retries with backoff) and logs one line per thing it does.
struct AgentLoop {
    let url: String
    let agentID: Int
    let token: String
    let grace: Double
    /// Reruns this agent has begun, one JSON line each (`{"id"}` before spawning, `{"id","pid"}` after), kept
    /// beside the state file. A command is redelivered until its ack reaches the server; this is what keeps a
    /// redelivered rerun from running twice when the agent died, or the server was away, between spawn and ack.
    var journal: String? = nil

    /// A line of the agent's log (its standard error), stamped with the local time: when a rerun started, failed or
    /// was stopped is what one reads it for.
    func log(_ s: String) {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buf = [CChar](repeating: 0, count: 32)
        let n = strftime(&buf, buf.count, "%Y-%m-%d %H:%M:%S", &parts)
        let stamp = String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A recorded command or cwd is text from the network: its newlines and escapes must not forge log lines.
        FileHandle.standardError.write(Data("\(stamp) argus-agent: \(TerminalText.printable(s))\n".utf8))
    }

    /// Delivers the SDK's spill files now and then every `seconds`, on a thread of its own (a delivery blocks on the
    /// network and must not hold up a Stop). Logs each file delivered, and why a delivery stopped once, not every
    /// minute of an outage; a file too recent to take is left without a word.
    func deliverSpill(_ delivery: SpillDelivery, every seconds: Double = 60) {
        let loop = self
        Thread.detachNewThread {
            var lastStop: String? = nil
            var skipsSaid: Set<String> = []
            while true {
                var outcomes: [SpillDelivery.Outcome]
                do throws(SpillDelivery.Stopped) {
                    outcomes = try delivery.deliverAll()
                    lastStop = nil
                } catch {
                    outcomes = Array(error.outcomes.dropLast())
                    if error.sentence != lastStop { loop.log("spill: " + error.sentence) }
                    lastStop = error.sentence
                }
                for o in outcomes where o.leftBecause == nil {
                    // A file it cannot take is said once, not every minute.
                    if o.skipped != nil, !skipsSaid.insert(o.sentence).inserted { continue }
                    loop.log("spill: " + o.sentence)
                }
                Thread.sleep(forTimeInterval: seconds)
            }
        }
    }

    func run() {
        let client = HTTPClient(baseURL: url, token: token, timeout: 40)
        var failures = 0
        log("agent \(agentID) polling \(url)")
        // The process the server knew before this one, found gone (a restart after a crash): taken over at once.
        var takeover: String? = nil
        var standingBy = false
        var adopted = false
        while true {
            do {
                // Heartbeat, then long-poll: the server sees the agent at least every poll. Either says when another
                // process serves this agent: one of this host that is gone is taken over; else this one waits until
                // the server has not seen that one for ARGUS_AGENT_ONLINE_S.
                func otherServes(_ r: HTTPResult?) -> Bool {
                    guard let r, r.status == 409, let holder = r.json?["holder"]?.stringValue else { return false }
                    if AgentLoop.isGone(instance: holder) {
                        takeover = holder
                    } else {
                        if !standingBy { log("standing by: \(r.detail)") }
                        standingBy = true
                        Thread.sleep(forTimeInterval: 5)
                    }
                    return true
                }
                let beat = heartbeat(client, takeover: takeover)
                if otherServes(beat) { continue }
                if beat?.status == 204 {
                    if standingBy { log("serving agent \(agentID) now: the other process is gone") }
                    standingBy = false
                    takeover = nil
                }
                let r = try client.get(
                    "/api/agents/\(agentID)/jobs?wait=10&instance=\(AgentLoop.instance)"
                        + (takeover.map { "&takeover=\($0)" } ?? ""))
                if otherServes(r) { continue }
                guard r.status == 200, let commands = r.json?.arrayValue else {
                    if r.status == 401 || r.status == 403 {
                        log("the server refused this agent: \(r.detail)")
                        exit(1)
                    }
                    throw ClientError(.http, status: r.status, r.detail)
                }
                if standingBy { log("serving agent \(agentID) now: the other process is gone") }
                standingBy = false
                takeover = nil
                // The runs a previous process of this agent started: watched once this one serves the agent.
                if !adopted { adoptRuns() }
                adopted = true
                if failures > 0 { log("connected again") }
                failures = 0
                for c in commands { handle(c, client: client) }
            } catch {
                failures += 1
                let pause = min(10, 0.5 * pow(2, Double(min(failures, 6))))
                log("cannot poll (\(error)); retrying in \(String(format: "%.1f", pause)) s")
                Thread.sleep(forTimeInterval: pause)
            }
        }
    }

    /// Tells the server this agent is there (it counts as online for ARGUS_AGENT_ONLINE_S after), and where a rerun
    /// with no recorded directory runs (this user's home), which the Rerun prompts then name.
    @discardableResult
    func heartbeat(_ client: HTTPClient, takeover: String? = nil) -> HTTPResult? {
        var body = JSONObject([(key: "home", value: .string(AgentLoop.home)), (key: "instance", value: .string(AgentLoop.instance))])
        if let takeover { body["takeover"] = .string(takeover) }
        // The processes of each rerun this agent started that still runs: the server knows its batch by them.
        let runs = runningReruns().compactMap { id, pid -> JSON? in
            let pids = AgentLoop.runMembers(group: pid)
            return pids.isEmpty ? nil : ["command_id": JSON(id), "pids": .array(pids.map { JSON($0) })]
        }
        if !runs.isEmpty { body["runs"] = .array(Array(runs.prefix(64))) }
        return try? client.post("/api/agents/\(agentID)/heartbeat", json: .object(body))
    }

    /// This process, as the server tells one `argus-agent run` of an agent from another: its pid, the boot and its
    /// start time (`processIdentity`), so that a later process on this host can tell whether it is gone.
    static let instance: String = instanceID(Int(getpid())) ?? "\(getpid()).unknown"

    /// `pid.boot.start` (URL-safe) of a live process, or nil.
    static func instanceID(_ pid: Int) -> String? {
        processIdentity(pid).map { "\(pid).\($0)".replacingOccurrences(of: "/", with: ".") }
    }

    /// Whether the process an `instance` names ran on this host and is gone; false when it runs, or ran elsewhere
    /// (another host sharing the state file: only the server's silence tells then).
    static func isGone(instance: String) -> Bool {
        let parts = instance.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let pid = Int(parts[0]), let boot = readProcFile("/proc/sys/kernel/random/boot_id")?.trimmed(),
            parts[1].hasPrefix(boot + ".")
        else { return false }
        // A zombie (exited, not reaped yet) is gone.
        guard let state = statFields(pid)?.first, state != "Z", state != "X" else { return true }
        return instanceID(pid) != instance
    }

    /// Where a rerun with no recorded directory runs: this user's home, from HOME, else the password database (a
    /// service started without HOME), else `/`.
    static var home: String {
        if let h = ProcessInfo.processInfo.environment["HOME"], h.hasPrefix("/") { return h }
        let passwd = getpwuid(getuid())?.pointee.pw_dir.map { String(cString: $0) }
        return passwd.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/"
    }

    /// The newest journal entry whose `key` is `value`: `id` for a command this agent began, `pid` for a run it
    /// started.
    func journaled(_ key: String, _ value: Int) -> JSON? {
        journalEntries().last { $0[key]?.intValue == value }
    }

    /// The journal's entries, oldest first (a line that is not JSON, cut short by a crash, is skipped).
    func journalEntries() -> [JSON] {
        guard let journal, let data = FileManager.default.contents(atPath: journal) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
    }

    /// Tells a process from a later one given the same pid: the boot it started in and its start time (clock ticks
    /// after boot, field 22 of /proc/PID/stat). Nil when there is no such process.
    static func processIdentity(_ pid: Int) -> String? {
        guard let fields = statFields(pid), fields.count > 19 else { return nil }
        let boot = readProcFile("/proc/sys/kernel/random/boot_id")?.trimmed() ?? ""
        return "\(boot)/\(fields[19])"
    }

    /// Waits up to `seconds` for process group `pgid` to have no live process left; true when some still run.
    static func waitForGroup(_ pgid: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while groupIsLive(pgid) {
            if Date() >= deadline { return true }
            usleep(100_000)
        }
        return false
    }

    /// Whether a process of group `pgid` still runs. A zombie does not: an orphan killed in a container whose init
    /// never reaps stays one for good, and counting it would hold every Stop until its deadline.
    static func groupIsLive(_ pgid: Int) -> Bool {
        guard kill(-pid_t(pgid), 0) == 0 else { return false }
        var live = false
        guard
            scanProcesses({ p in
                live = p.pgrp == pgid && p.live
                return !live
            })
        else { return true }
        return live
    }

    /// Calls `visit` with each process of /proc until it returns false; false when /proc cannot be read.
    @discardableResult
    static func scanProcesses(_ visit: (ProcessEntry) -> Bool) -> Bool {
        guard let proc = opendir("/proc") else { return false }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let pid = Int(name), let p = ProcessEntry(pid), !visit(p) { break }
        }
        return true
    }

    /// Whether live process `pid` is outside the run in process group `pgid`: neither in the group nor below its
    /// leader (a launcher may move its workers to sessions of their own). False when there is no such process.
    static func runsOutside(_ pid: Int, group pgid: Int) -> Bool {
        guard let own = ProcessEntry(pid) else { return false }
        return own.live && !own.inRun(group: pgid, lookup: ProcessEntry.init)
    }

    /// The live processes of the run in process group `pgid` (`runsOutside`'s rule), from one pass over /proc, at
    /// most `limit`: what a heartbeat lists, so that the server knows the run by the pid its SDK reports whatever
    /// command it reports.
    static func runMembers(group pgid: Int, limit: Int = 256) -> [Int] {
        var table: [Int: ProcessEntry] = [:]
        scanProcesses { p in
            table[p.pid] = p
            return true
        }
        let members = table.values.filter { $0.live && $0.inRun(group: pgid, lookup: { table[$0] }) }.map(\.pid)
        return Array(members.sorted().prefix(limit))
    }

    /// One process as /proc/PID/stat says: state (field 3), ppid (4), pgrp (5).
    struct ProcessEntry {
        let pid: Int
        let ppid: Int
        let pgrp: Int
        let live: Bool

        init?(_ pid: Int) {
            guard let f = AgentLoop.statFields(pid), f.count > 2, let ppid = Int(f[1]), let pgrp = Int(f[2]) else { return nil }
            (self.pid, self.ppid, self.pgrp, live) = (pid, ppid, pgrp, f[0] != "Z" && f[0] != "X")
        }

        /// In group `pgid`, or below its leader (a launcher may move its workers to sessions of their own).
        func inRun(group pgid: Int, lookup: (Int) -> ProcessEntry?) -> Bool {
            var current = self
            for _ in 0..<64 {
                if current.pid == pgid || current.pgrp == pgid { return true }
                guard current.ppid > 1, let up = lookup(current.ppid) else { return false }
                current = up
            }
            return false
        }
    }

    /// The fields of /proc/PID/stat from field 3 on (after the command name, which may hold spaces and parentheses):
    /// index 0 is field 3. Nil when there is no such process.
    static func statFields(_ pid: Int) -> [Substring]? {
        guard let stat = readProcFile("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: end)...].split(separator: " ")
    }

    /// A small /proc file's text (they report size 0, so read to the end).
    static func readProcFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            bytes += buf[..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends one entry to the journal and waits until it is on disk.
    func record(_ entry: JSON) {
        guard let journal else { return }
        let fd = open(journal, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        guard fd >= 0 else { return log("cannot write \(journal): \(String(cString: strerror(errno)))") }
        let bytes = Array((entry.serialized() + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
    }

    /// Reports on command `id`, trying again while the server cannot be reached or answers 5xx: five times over a
    /// few seconds from the poll loop, or, `untilLanded`, for up to a day (a process's exit, reported from its own
    /// thread: lost, the server would show the run going on and block a rerun for ten minutes). An answer that
    /// refuses it (the agent revoked, the command gone) is final.
    func ack(_ client: HTTPClient, _ id: Int, _ body: JSON, untilLanded: Bool = false) {
        let started = Date()
        var attempt = 0
        while true {
            if let r = try? client.post("/api/agents/\(agentID)/jobs/\(id)/ack", json: body) {
                if r.status == 200 { return }
                if r.status < 500 {
                    log("the server refused the report on command \(id): \(r.detail)")
                    return
                }
            }
            attempt += 1
            guard untilLanded ? Date().timeIntervalSince(started) < 86_400 : attempt < 5 else { break }
            Thread.sleep(forTimeInterval: min(0.5 * Double(attempt), untilLanded ? 30 : 2.5))
        }
        log("could not report on command \(id)")
    }

    func handle(_ c: JSON, client: HTTPClient) {
        guard let id = c["id"]?.intValue, let kind = c["kind"]?.stringValue else { return }
        switch kind {
        case "rerun":
            guard let command = c["command"]?.stringValue else {
                ack(client, id, ["status": "failed", "error": "no command recorded"])
                return
            }
            if let begun = journaled("id", id) {
                if let pid = begun["pid"]?.intValue {
                    log("command \(id) was started before (pid \(pid)); reporting it again, not running it twice")
                    ack(client, id, ["status": "started", "pid": JSON(pid)])
                } else {
                    log("command \(id) was being started when this agent stopped; not running it again")
                    ack(
                        client, id,
                        [
                            "status": "failed",
                            "error": "the agent stopped while starting it; it was not started again, so it never runs twice",
                        ])
                }
                return
            }
            // No recorded directory: the agent user's home, as the prompts said (RerunDirectory), not wherever the agent
            // happened to be started.
            let recorded = c["cwd"]?.stringValue
            let cwd = recorded ?? AgentLoop.home
            do {
                record(["id": JSON(id)])
                let pid = try spawnInOwnGroup(command, cwd: cwd)
                record(["id": JSON(id), "pid": JSON(Int(pid)), "process": JSON(AgentLoop.processIdentity(Int(pid)))])
                let home = recorded == nil ? " (no working directory was recorded: its home)" : ""
                log("rerun of batch \(c["batch_id"]?.stringValue ?? "?"): started pid \(pid) in \(cwd)\(home): \(command)")
                ack(client, id, ["status": "started", "pid": JSON(Int(pid))])
                let loop = self
                Thread {
                    var status: Int32 = 0
                    waitpid(pid, &status, 0)
                    let code = (status & 0x7F) == 0 ? Int((status >> 8) & 0xFF) : 128 + Int(status & 0x7F)
                    loop.log("pid \(pid) exited with status \(code)")
                    loop.reportExit(id, pid: Int(pid), code: code)
                }.start()
            } catch {
                log("rerun of batch \(c["batch_id"]?.stringValue ?? "?") failed to start: \(error)")
                ack(client, id, ["status": "failed", "error": .string("\(error)")])
            }
        case "stop":
            guard let pid = c["pid"]?.intValue, pid > 1 else {
                ack(client, id, ["status": "failed", "error": "no process to stop"])
                return
            }
            // Only a run this agent started and that still runs: after the agent was away (its host rebooted, say),
            // the pid the server remembers may be gone or another process's now.
            let begun = journaled("pid", pid)
            if begun?["process"]?.stringValue == nil, let runPID = c["run_pid"]?.intValue,
                AgentLoop.statFields(runPID).map({ $0.first != "Z" && $0.first != "X" }) == true,
                !AgentLoop.runsOutside(runPID, group: pid)
            {
                // Started by another agent of this user on this host, which the server replaced with this one (it was
                // registered again): the run is still this process group when the batch's own process, the pid its
                // SDK reported, lives in it.
                stopGroup(client, id, pid)
                return
            }
            guard let begun, let identity = begun["process"]?.stringValue else {
                // Started by an agent from before runs were identified (or one without /proc): it cannot be told
                // from a later process with the same pid, so it is neither signalled nor said to have exited.
                log("not stopping process group \(pid): this agent cannot tell whether it is still the run it started; stop it on the host")
                ack(
                    client, id,
                    [
                        "status": "failed",
                        "error": .string(
                            "the agent cannot tell whether process group \(pid) is still the run it started; stop it on the host"),
                    ])
                return
            }
            guard identity == AgentLoop.processIdentity(pid) else {
                log(
                    "not stopping process group \(pid): the run this agent started there is gone (pid \(pid) is no process, or another one now)"
                )
                ack(client, id, ["status": "exited", "error": "its process had already exited"])
                return
            }
            // The batch's own run must be this one: a run someone started by hand with the same command, while the
            // rerun had not reported yet, may have been linked to it instead, and its Stop must not kill the rerun.
            if let runPID = c["run_pid"]?.intValue, AgentLoop.runsOutside(runPID, group: pid) {
                let batch = c["batch_id"]?.stringValue ?? "?"
                log("not stopping process group \(pid): batch \(batch) reports pid \(runPID), which is not in it")
                // Nor is this rerun's end that batch's: journaled, so its exit report says so (`reportExit`).
                if let rerun = begun["id"]?.intValue {
                    record(["id": JSON(rerun), "pid": JSON(pid), "process": .string(identity), "not_the_linked_run": true])
                }
                ack(
                    client, id,
                    [
                        "status": "failed",
                        "error": .string(
                            "its run reports pid \(runPID), which is not the rerun this agent started (process group \(pid)); "
                                + "it was started another way: stop it on the host"),
                    ])
                return
            }
            stopGroup(client, id, pid)
        default:
            ack(client, id, ["status": "failed", "error": .string("unknown command kind '\(kind)'")])
        }
    }

    /// Stops process group `pid` for the stop command `id`: SIGTERM, SIGKILL after the grace period; then says it exited.
    func stopGroup(_ client: HTTPClient, _ id: Int, _ pid: Int) {
        log("stopping process group \(pid) (SIGTERM, SIGKILL after \(grace) s)")
        kill(-pid_t(pid), SIGTERM)
        // The grace period may be long (a checkpoint being written): the agent keeps telling the server it is
        // there, or its host would read "no agent online" and its reruns would be refused meanwhile.
        let deadline = Date().addingTimeInterval(grace)
        while AgentLoop.waitForGroup(pid, seconds: min(5, deadline.timeIntervalSinceNow)), Date() < deadline {
            heartbeat(client)
        }
        // Which signal ended it goes with the ack: with a shell in front (`sh -c "cd … && python train.py"`), the
        // shell's own exit status says SIGTERM even when the program behind it held on until the SIGKILL.
        var signal = "SIGTERM"
        if AgentLoop.groupIsLive(pid) {
            log("process group \(pid) still runs \(grace) s after SIGTERM: sending SIGKILL")
            // Journaled before the signal, so that the run's own exit report (`reportExit`, on another thread, which
            // wakes once the group is empty) says SIGKILL too, whichever of the two reports lands first.
            if case .object(var entry)? = journaled("pid", pid) {
                entry["killed"] = true
                record(.object(entry))
            }
            kill(-pid_t(pid), SIGKILL)
            signal = "SIGKILL"
            _ = AgentLoop.waitForGroup(pid, seconds: 5)
        }
        ack(client, id, ["status": "exited", "signal": .string(signal)])
    }

    /// Reports the end of the rerun `id` whose shell was `pid` (with its status, when this agent was its parent), once
    /// its process group is empty: the shell dies at a Stop's SIGTERM, and a child that ignores it runs on, holding
    /// its GPU, until the SIGKILL (with something left behind, once a Stop would have killed it). Journaled, so that
    /// an agent started again knows which of its runs it still has to watch (`adoptRuns`).
    func reportExit(_ id: Int, pid: Int, code: Int?) {
        if AgentLoop.waitForGroup(pid, seconds: grace + 2) {
            log("process group \(pid) still has processes after its shell exited; reporting the exit")
        }
        let begun = journaled("id", id)
        // The batch linked to this rerun reported a pid outside it (someone started the same command by hand first):
        // its end is not that batch's.
        let elsewhere = begun?["not_the_linked_run"]?.boolValue == true
        var report = JSONObject([("status", "exited"), ("exit_code", JSON(code)), ("not_the_linked_run", .bool(elsewhere))])
        // A shell in front of the program dies at a Stop's SIGTERM (status 143) while the program may hold on until
        // the SIGKILL: what ended the run is said as it was (`stopGroup` journals it).
        if begun?["killed"]?.boolValue == true { report["signal"] = "SIGKILL" }
        ack(HTTPClient(baseURL: url, token: token), id, .object(report), untilLanded: true)
        record(["id": JSON(id), "pid": JSON(pid), "process": begun?["process"] ?? .null, "exited": true])
    }

    /// The journal's newest entry of each command, by command id.
    func newestEntries() -> [(id: Int, entry: JSON)] {
        var newest: [Int: JSON] = [:]
        for entry in journalEntries() {
            if let id = entry["id"]?.intValue { newest[id] = entry }
        }
        return newest.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// The reruns of the journal that started and were not reported ended: command id → process group. Not one whose
    /// leader's pid now belongs to another process (a reboot since).
    func runningReruns() -> [(id: Int, pid: Int)] {
        newestEntries().compactMap { id, entry in
            guard entry["exited"]?.boolValue != true, let pid = entry["pid"]?.intValue else { return nil }
            if let started = entry["process"]?.stringValue, let now = AgentLoop.processIdentity(pid), now != started {
                return nil
            }
            return (id, pid)
        }
    }

    /// At start: the reruns an earlier run of this agent started and never reported the end of. One still running is
    /// watched (this agent is not its parent, so it looks once a second whether it is the same process); one that
    /// ended meanwhile is reported now, its status unknown. Without this, a rerun that died while its agent was
    /// restarting read `running` until the stall timeout, and blocked the next Rerun.
    func adoptRuns() {
        for (id, entry) in newestEntries() {
            guard entry["exited"]?.boolValue != true, let pid = entry["pid"]?.intValue,
                let identity = entry["process"]?.stringValue
            else { continue }
            let loop = self
            if identity == AgentLoop.processIdentity(pid) {
                log("watching pid \(pid) (command \(id)), started before this agent restarted")
                Thread {
                    while identity == AgentLoop.processIdentity(pid) { sleep(1) }
                    loop.log("pid \(pid) exited (its status is unknown: this agent was restarted after starting it)")
                    loop.reportExit(id, pid: pid, code: nil)
                }.start()
            } else {
                log("pid \(pid) (command \(id)) ended while this agent was away; reporting it")
                Thread { loop.reportExit(id, pid: pid, code: nil) }.start()
            }
        }
    }

    struct SpawnError: Error, CustomStringConvertible { let description: String }

    /// `/bin/sh -c command` in `cwd`, in a new process group (so Stop reaches its children), with our environment.
    func spawnInOwnGroup(_ command: String, cwd: String?) throws -> pid_t {
        if let cwd, !FileManager.default.fileExists(atPath: cwd) { throw SpawnError(description: "the recorded cwd \(cwd) does not exist") }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setpgroup(&attr, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // Only stdin, stdout and stderr: the agent's sockets (its authenticated connection to the server among them)
        // and files are not the run's to hold or use.
        guard spawnActionCloseFrom(&actions, 3) == 0 else {
            throw SpawnError(description: "posix_spawn_file_actions_addclosefrom_np failed")
        }
        // The shell changes directory; cwd and command travel as arguments, so nothing needs quoting.
        let script = #"cd -- "$0" && exec /bin/sh -c "$1""#
        let argv: [UnsafeMutablePointer<CChar>?] = [
            strdup("/bin/sh"), strdup("-c"), strdup(script), strdup(cwd ?? "."), strdup(command), nil,
        ]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ)
        guard rc == 0 else { throw SpawnError(description: String(cString: strerror(rc))) }
        return pid
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34; the binaries need 2.35 already), which Swift's Glibc
/// module does not bring in: the child closes every descriptor from `from` on, whatever other threads opened.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func spawnActionCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32
