import ArgumentParser
import ArgusClient
import Foundation
import Shared

/// `argus-agent`: runs on a training host and carries out Rerun and Stop (README, "What Argus is").
public struct AgentRootCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "argus-agent", abstract: "Carry out Rerun and Stop for argus-server on this host.",
        discussion:
            "First `argus-agent register` (with ARGUS_URL and ARGUS_TOKEN set: a --token is visible to other users in `ps`), then `argus-agent run`. It only ever runs commands the server recorded for a batch. With ARGUS_URL and ARGUS_TOKEN set, `run` also delivers the Python SDK's spill files that the SDK cannot (see `replay-spill`).",
        version: ArgusVersion.string,
        subcommands: [Register.self, Run.self, ReplaySpill.self])

    public init() {}

    static func fail(_ sentence: String) -> ExitCode {
        FileHandle.standardError.write(Data("argus-agent: \(sentence)\n".utf8))
        return ExitCode(1)
    }

    /// One `argus-agent run` per state file: two would both be woken for each command and both start it (the
    /// journal's check and write are not atomic across processes). The lock is held until the process exits.
    static func holdRunLock(_ lockPath: String, statePath: String) throws {
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw fail("cannot open \(lockPath): \(String(cString: strerror(errno))).") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buf, buf.count)
            let pid = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmed() : ""
            close(fd)
            throw fail(
                "another argus-agent run\(pid.isEmpty ? "" : " (pid \(pid))") already uses \(statePath): one agent per state file, or every rerun would start twice."
            )
        }
        ftruncate(fd, 0)
        let me = Array("\(getpid())\n".utf8)
        _ = me.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    static func defaultStateFile() -> String {
        if let p = ProcessInfo.processInfo.environment["ARGUS_AGENT_STATE"], !p.isEmpty { return p }
        return AgentLoop.home + "/.config/argus/agent.json"
    }

    /// The server and reporter token a subcommand was given (`ServerAddress`), or its sentence and exit 1.
    static func server(url: String?, token: String?) throws -> (url: String, token: String) {
        do throws(ServerAddress.Problem) {
            return try ServerAddress.resolve(url: url, token: token, env: ProcessInfo.processInfo.environment)
        } catch { throw fail(error.sentence) }
    }

    struct Register: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register this host and cache the agent token (file mode 0600).")
        @Option(help: "Server URL (env ARGUS_URL).") var url: String?
        @Option(help: "Reporter token; other users on this machine can read it in `ps`: prefer env ARGUS_TOKEN.") var token: String?
        @Option(help: "The host name batches report (default: this machine's).") var hostname: String?
        @Option(name: .customLong("state-file"), help: "Where to keep the agent token (env ARGUS_AGENT_STATE).") var stateFile: String?

        func run() throws {
            let (url, token) = try server(url: url, token: token)
            let host = hostname ?? ProcessInfo.processInfo.hostName
            let path = stateFile ?? defaultStateFile()
            // Where the token will go is checked first: a registration whose token cannot be kept is an agent the
            // server lists as active and nobody can run.
            let folder = (path as NSString).deletingLastPathComponent
            var isDir: ObjCBool = false
            var st = stat()
            if lstat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG || access(path, W_OK) != 0 {
                let why =
                    (st.st_mode & S_IFMT) == S_IFDIR
                    ? "it is a directory" : (st.st_mode & S_IFMT) != S_IFREG ? "it is not a regular file" : "permission denied"
                throw fail("cannot write the agent state to \(path): \(why).")
            }
            // The folder, or the nearest of its parents that exists (the folder will be made in it): a directory this
            // user may write in.
            var nearest = folder
            while !nearest.isEmpty, !FileManager.default.fileExists(atPath: nearest) {
                nearest = (nearest as NSString).deletingLastPathComponent
            }
            if nearest.isEmpty { nearest = "." }
            if !FileManager.default.fileExists(atPath: nearest, isDirectory: &isDir) || !isDir.boolValue
                || access(nearest, W_OK | X_OK) != 0
            {
                throw fail("cannot write the agent state to \(path): \(folder) cannot be written (give --state-file another path).")
            }
            let client = HTTPClient(baseURL: url, token: token)
            let reply: HTTPResult
            do {
                reply = try client.post(
                    "/api/agents/register",
                    json: ["hostname": .string(host), "version": .string(ArgusVersion.string), "capabilities": ["rerun", "stop"]])
            } catch { throw fail(error.description) }
            guard reply.status == 201, let id = reply.json?["agent_id"]?.intValue, let agentToken = reply.json?["agent_token"]?.stringValue
            else {
                throw fail(
                    reply.serverDetail.map { "registration refused: \($0)" }
                        ?? (reply.status == 201
                            ? "\(url) answered without an Argus reply: \(ServerSentences.notAnArgusServer)"
                            : client.failure(reply, path: "/api/agents/register").description))
            }
            let state: JSON = ["url": .string(url), "agent_id": JSON(id), "agent_token": .string(agentToken), "hostname": .string(host)]
            // The folder too is the owner's alone (created 0700 whatever the umask; an existing one is left as it is).
            do {
                try FileManager.default.createDirectory(
                    atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw fail(
                    "registered agent \(id), but cannot create \(folder) for its token: revoke it (`argus-server agent revoke \(id)`).")
            }
            // Created 0600 from the start: the token never sits in a world-readable file.
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard fd >= 0 else {
                throw fail("registered agent \(id), but cannot write \(path): revoke it (`argus-server agent revoke \(id)`).")
            }
            fchmod(fd, 0o600)
            let bytes = Array((state.serialized() + "\n").utf8)
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            let synced = fsync(fd) == 0
            close(fd)
            guard written == bytes.count, synced else {
                throw fail(
                    "registered agent \(id), but its token could not be written to \(path): revoke it (`argus-server agent revoke \(id)`).")
            }
            print("registered agent \(id) for host \(host); token cached in \(path)")
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Heartbeat, poll for commands and carry them out, until stopped.")
        @Option(name: .customLong("state-file"), help: "The file `register` wrote (env ARGUS_AGENT_STATE).") var stateFile: String?
        @Option(parsing: .unconditional, help: "Seconds between SIGTERM and SIGKILL when stopping a run.") var grace: Double = 10

        func validate() throws {
            guard grace.isFinite, grace >= 0, grace <= 3600 else {
                throw ValidationError("--grace must be a number of seconds from 0 to 3600.")
            }
        }

        func run() throws {
            let path = stateFile ?? defaultStateFile()
            guard let data = FileManager.default.contents(atPath: path) else {
                throw fail("no agent state in \(path): run `argus-agent register` first.")
            }
            guard let state = try? JSON.parse(Array(data)), let url = state["url"]?.stringValue, let id = state["agent_id"]?.intValue,
                let token = state["agent_token"]?.stringValue
            else {
                throw fail(
                    "\(path) is not an agent state file (`argus-agent register` writes one: url, agent_id, agent_token): run `argus-agent register` again."
                )
            }
            // Keyed on the file itself, however it is named (a symlink, a relative path): one agent per state.
            let real =
                realpath(path, nil).map { p in
                    defer { free(p) }; return String(cString: p)
                } ?? path
            try AgentRootCommand.holdRunLock(real + ".lock", statePath: path)
            let env = ProcessInfo.processInfo.environment
            let missing = ["ARGUS_URL", "ARGUS_TOKEN"].filter { (env[$0] ?? "").isEmpty }
            if !missing.isEmpty {
                // Reruns inherit this environment: without these, the SDK in them reports nowhere.
                FileHandle.standardError.write(
                    Data(
                        "argus-agent: warning: \(missing.joined(separator: " and ")) \(missing.count == 1 ? "is" : "are") not set, so the runs this agent starts will not report to the server (they inherit its environment).\n"
                            .utf8))
            }
            // A launcher may hand us SIGTERM/SIGINT blocked (the mask survives exec); we must still obey them.
            var stopSignals = sigset_t()
            sigemptyset(&stopSignals)
            for sig in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&stopSignals, sig) }
            pthread_sigmask(SIG_UNBLOCK, &stopSignals, nil)
            let loop = AgentLoop(url: url, agentID: id, token: token, grace: grace, journal: real + ".commands")
            if let reporterURL = env["ARGUS_URL"], let reporterToken = env["ARGUS_TOKEN"], missing.isEmpty {
                loop.deliverSpill(SpillDelivery(directory: SpillDelivery.defaultDirectory, url: reporterURL, token: reporterToken))
            }
            loop.run()
        }
    }

    struct ReplaySpill: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay-spill",
            abstract: "Deliver the Python SDK's spill files (~/.argus-reporter) that it cannot replay itself.",
            discussion:
                "argus-reporter 0.1.3 keeps the events it could not send in ~/.argus-reporter/spill-*.jsonl and posts each file whole when its next run starts: a file of more than 500 events (a long outage) or with a NaN is refused every time. This sends each file in batches of at most 500, as written, and deletes it once the server has it; events the server refuses go to rejected-*.jsonl beside it. A file written to in the last --min-age seconds is left (its run may still be writing it). `argus-agent run` does the same every minute."
        )
        @Option(help: "Server URL (env ARGUS_URL).") var url: String?
        @Option(help: "Reporter token; other users on this machine can read it in `ps`: prefer env ARGUS_TOKEN.") var token: String?
        @Option(
            name: .customLong("spill-dir"), help: ArgumentHelp("Where the SDK spills (default: ~/.argus-reporter).", valueName: "dir"))
        var spillDir: String?
        @Option(
            name: .customLong("min-age"), parsing: .unconditional,
            help: ArgumentHelp("Leave the files written to in the last SECONDS.", valueName: "seconds")) var minAge: Double = 60

        func validate() throws {
            guard minAge.isFinite, minAge >= 0 else { throw ValidationError("--min-age must be a number of seconds, 0 or more.") }
        }

        func run() throws {
            let (url, token) = try server(url: url, token: token)
            let dir = spillDir ?? SpillDelivery.defaultDirectory
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) else {
                print("nothing to deliver: \(dir) does not exist (the SDK has never spilled here).")
                return
            }
            guard isDir.boolValue else { throw fail("\(dir) is not a directory.") }
            guard access(dir, R_OK | W_OK | X_OK) == 0 else {
                throw fail("cannot deliver the spill files in \(dir): \(String(cString: strerror(errno))).")
            }
            let delivery = SpillDelivery(directory: dir, url: url, token: token, minAge: minAge)
            let outcomes: [SpillDelivery.Outcome]
            do throws(SpillDelivery.Stopped) {
                outcomes = try delivery.deliverAll()
            } catch {
                for o in error.outcomes.dropLast() { print(o.sentence) }
                throw fail(error.sentence)
            }
            if outcomes.isEmpty { print("nothing to deliver: no spill files in \(dir).") }
            for o in outcomes { print(o.sentence) }
            let skipped = outcomes.filter { $0.skipped != nil }.count
            if skipped > 0 {
                throw fail("\(skipped) file\(skipped == 1 ? " was" : "s were") left as \(skipped == 1 ? "it is" : "they are") (above).")
            }
        }
    }
}
