import ArgusClient
import Foundation
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Where SwiftPM put the executables: next to the test bundle.
public enum Binaries {
    public static var directory: URL {
        if let d = ProcessInfo.processInfo.environment["ARGUS_BIN_DIR"] {
            return URL(fileURLWithPath: d)
        }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(
                atPath: url.appendingPathComponent("argus-server").path)
            {
                return url
            }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(
            ".build/debug")
    }

    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// A child started by `spawnPiped`: its pid and this process's ends of the pipes on its stdin, stdout and stderr
/// (stderr is -1 when it shares stdout's pipe).
public struct PipedChild: Sendable {
    public let pid: pid_t
    public let stdin: Int32
    public let stdout: Int32
    public let stderr: Int32
}

/// Starts `path` with pipes on its stdin, stdout and stderr (`mergeStderr`: one pipe for both), started as a
/// terminal would start it: nothing blocked, default signal dispositions (test threads block signals). With
/// `ownGroup` it leads a process group of its own, so `kill(-pid, …)` reaches what it starts too.
public func spawnPiped(
    _ path: String, _ args: [String], env: [String: String] = [:], mergeStderr: Bool = false, ownGroup: Bool = false
) throws -> PipedChild {
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    var outPipe: [Int32] = [0, 0]
    var errPipe: [Int32] = [-1, -1]
    var inPipe: [Int32] = [0, 0]
    // Close-on-exec, set under the spawn lock: a child another test starts must not inherit these ends (it would
    // hold them open). dup2 onto 0, 1 and 2 in this child clears the flag there.
    func cloexecPipe(_ fds: inout [Int32]) -> Bool {
        pipe(&fds) == 0 && fcntl(fds[0], F_SETFD, FD_CLOEXEC) == 0 && fcntl(fds[1], F_SETFD, FD_CLOEXEC) == 0
    }
    let piped = spawnLock.withLock {
        cloexecPipe(&outPipe) && (mergeStderr || cloexecPipe(&errPipe)) && cloexecPipe(&inPipe)
    }
    guard piped else { throw TestFailure("pipe failed") }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, mergeStderr ? outPipe[1] : errPipe[1], 2)
    for fd in outPipe + errPipe + inPipe where fd >= 0 { posix_spawn_file_actions_addclose(&actions, fd) }
    let argv: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] =
        environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &all)
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if ownGroup {
        flags |= POSIX_SPAWN_SETPGROUP
        posix_spawnattr_setpgroup(&attr, 0)
    }
    posix_spawnattr_setflags(&attr, Int16(flags))
    var pid: pid_t = 0
    let rc = spawnLock.withLock { posix_spawn(&pid, path, &actions, &attr, argv, envp) }
    close(outPipe[1])
    if errPipe[1] >= 0 { close(errPipe[1]) }
    close(inPipe[0])
    guard rc == 0 else {
        close(outPipe[0])
        if errPipe[0] >= 0 { close(errPipe[0]) }
        close(inPipe[1])
        throw TestFailure("cannot run \(path): \(String(cString: strerror(rc)))")
    }
    return PipedChild(pid: pid, stdin: inPipe[1], stdout: outPipe[0], stderr: errPipe[0])
}

/// An exit status as a shell reports it: the code, or 128 + the signal that ended it.
public func exitCode(_ status: Int32) -> Int32 {
    (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
}

/// Runs a command to completion and returns (exit status, stdout, stderr). Uses posix_spawn and waitpid
/// directly: Foundation's Process can miss the exit of a command that forks a daemon (tmux new-session).
@discardableResult
public func runTool(
    _ path: String, _ args: [String], env: [String: String] = [:], stdin: String? = nil
) throws -> (Int32, String, String) {
    let child = try spawnPiped(path, args, env: env)
    let pid = child.pid
    if let stdin {
        _ = Array(stdin.utf8).withUnsafeBytes { write(child.stdin, $0.baseAddress, $0.count) }
    }
    close(child.stdin)
    var out = Data()
    var err = Data()
    var fds = [
        pollfd(fd: child.stdout, events: Int16(POLLIN), revents: 0),
        pollfd(fd: child.stderr, events: Int16(POLLIN), revents: 0),
    ]
    var open = 2
    var buf = [UInt8](repeating: 0, count: 65536)
    // Read both pipes until they close; a daemon that keeps them open is cut off once the command exits.
    var status: Int32 = 0
    var exited = false
    while open > 0 {
        _ = poll(&fds, 2, 200)
        for k in 0..<2 where fds[k].fd >= 0 && fds[k].revents != 0 {
            let n = read(fds[k].fd, &buf, buf.count)
            if n > 0 {
                if k == 0 { out.append(contentsOf: buf[0..<n]) } else { err.append(contentsOf: buf[0..<n]) }
            } else {
                close(fds[k].fd)
                fds[k].fd = -1
                open -= 1
            }
        }
        if !exited, waitpid(pid, &status, WNOHANG) == pid {
            exited = true
        } else if exited {
            break
        }
    }
    for k in 0..<2 where fds[k].fd >= 0 { close(fds[k].fd) }
    if !exited { waitpid(pid, &status, 0) }
    return (exitCode(status), String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// A value shared between a test and the threads it starts.
public final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    public init(_ value: T) { self.value = value }
    @discardableResult
    public func withLock<R>(_ body: (inout T) throws -> R) rethrows -> R { try lock.withLock { try body(&value) } }
}

public final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    public func set(_ d: Data) {
        lock.withLock {
            data = d
            done = true
        }
    }
    public var isSet: Bool { lock.withLock { done } }
    public var value: Data { lock.withLock { data } }
}

/// Which database the server suite runs on: SQLite in each server's data dir, or with ARGUS_TEST_BACKEND=postgres
/// (the test command's second pass) a database of its own on the throwaway PostgreSQL cluster for each server.
public enum TestBackend {
    public static var isPostgres: Bool { ProcessInfo.processInfo.environment["ARGUS_TEST_BACKEND"] == "postgres" }
    /// For tests about SQLite itself (its file, its pragmas, its disk faults): `@Test(.enabled(if: TestBackend.sqlite))`.
    public static var sqlite: Bool { !isPostgres }
    /// For suites whose code does not depend on the backend (the HTTP layer's limits and timeouts, configuration,
    /// parsing, the OpenAPI document): they run in the first pass (SQLite) only, since the PostgreSQL pass
    /// (scripts/test.sh) would run the very same code again. `@Suite(.enabled(if: TestBackend.firstPass))`.
    public static var firstPass: Bool { !isPostgres }

    /// The database of a server whose data dir is `dir`: none on SQLite; on PostgreSQL a fresh one, remembered in the
    /// data dir so that a server restarted on the same dir finds the same database.
    static func database(for dir: URL) throws -> String? {
        guard isPostgres else { return nil }
        let file = dir.appendingPathComponent("test-database-url")
        if let url = try? String(contentsOf: file, encoding: .utf8) { return url }
        let url = try TestPostgres.freshDatabase().url
        try url.write(to: file, atomically: true, encoding: .utf8)
        return url
    }
}

/// A real `argus-server serve --port 0` on a temporary data dir; stopped (SIGTERM) by `stop()` or deinit.
public final class TestServer: @unchecked Sendable {
    public let dataDir: URL
    /// The PostgreSQL database when the suite runs on it (`TestBackend`), else nil.
    public let databaseURL: String?
    public let process: Process
    public private(set) var url = ""
    public let logFile: URL
    let ownsDataDir: Bool
    let ownsDatabase: Bool

    /// `port` 0 picks a free one; pass the old port and data dir to restart "the same" server. `serveArgs` are
    /// added to `serve` (e.g. `--log-level trace`). The server's output goes to `logDir` (default: the data dir;
    /// elsewhere when the data dir is a disk a test fills up).
    /// `sqlite`: on SQLite whatever the suite's backend.
    /// `replicaOf`: another server's PostgreSQL database, shared (a replica; the database is then the other's to drop).
    public init(
        env: [String: String] = [:], dataDir existing: URL? = nil, port: Int = 0, serveArgs: [String] = [],
        logDir: URL? = nil, replicaOf shared: String? = nil, sqlite: Bool = false
    ) throws {
        ownsDataDir = existing == nil
        dataDir =
            existing
            ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                "argus-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        DataDirLeases.take(dataDir, made: ownsDataDir)
        databaseURL = sqlite ? nil : try shared ?? TestBackend.database(for: dataDir)
        ownsDatabase = shared == nil
        let outDir = logDir ?? dataDir
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        logFile = outDir.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).log")
        let outFile = outDir.appendingPathComponent("stdout-\(UUID().uuidString.prefix(8)).txt")
        process = try startProcess(
            Binaries.path("argus-server"),
            ["serve", "--host", "127.0.0.1", "--port", String(port)]
                + Self.databaseArgs(databaseURL, dataDir) + serveArgs,
            env: env, stdout: outFile.path, stderr: logFile.path)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) {
                url = String(text[r])
                return
            }
            if !process.isRunning {
                throw TestFailure(
                    "argus-server exited early: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
            }
            usleep(20_000)
        }
        process.terminate()
        throw TestFailure("argus-server did not print its URL within 30 s")
    }

    public var port: Int { Int(url.split(separator: ":").last!)! }

    /// Everything the database holds at rest, to search for secrets: the SQLite files (and WAL), or a dump of the
    /// PostgreSQL database's rows.
    public func storedData() throws -> [(name: String, bytes: Data)] {
        if let databaseURL {
            let pgDump = ["/usr/bin/pg_dump", "/usr/local/bin/pg_dump"].first { FileManager.default.isExecutableFile(atPath: $0) }
            guard let pgDump else { throw TestFailure("pg_dump is not installed (scripts/deps.sh installs postgresql).") }
            let (rc, out, err) = try runTool(pgDump, ["--data-only", "-d", databaseURL])
            guard rc == 0 else { throw TestFailure("pg_dump failed: \(err)") }
            return [("pg_dump", Data(out.utf8))]
        }
        return try FileManager.default.contentsOfDirectory(atPath: dataDir.path).filter { $0.hasPrefix("argus.sqlite") }
            .map { ($0, try Data(contentsOf: dataDir.appendingPathComponent($0))) }
    }

    /// How every `argus-server` command names this server's database: `--data-dir D` or `--database-url U`.
    public var databaseArgs: [String] { Self.databaseArgs(databaseURL, dataDir) }

    static func databaseArgs(_ url: String?, _ dir: URL) -> [String] {
        url.map { ["--database-url", $0] } ?? ["--data-dir", dir.path]
    }

    public func token(user: String = "alice", scope: String = "reporter", admin: Bool = false) throws
        -> String
    {
        var args = ["token", "create"] + databaseArgs + ["--user", user, "--scope", scope]
        if admin { args.append("--admin") }
        let (rc, out, err) = try runTool(Binaries.path("argus-server"), args)
        guard rc == 0 else { throw TestFailure("token create failed: \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func client(_ token: String?) -> HTTPClient {
        HTTPClient(baseURL: url, token: token, timeout: 30)
    }

    /// SIGTERM, then wait; returns how long the server took to exit.
    @discardableResult
    public func stop() -> TimeInterval { stopProcess(process, grace: 15) }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// The server's resident memory now (VmRSS) and at its highest so far (VmHWM), in MB.
    public var rssMB: Double { memoryMB("VmRSS:") }
    public var peakRSSMB: Double { memoryMB("VmHWM:") }

    private func memoryMB(_ key: String) -> Double {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    deinit {
        stop()
        // The last server on a data dir one of them made removes it: a test that starts "the same" server again
        // (`dataDir: s.dataDir`) may let the first one go (ARC ends it after its last use) while the second runs on.
        if DataDirLeases.release(dataDir) {
            try? FileManager.default.removeItem(at: dataDir)
            if ownsDatabase, let databaseURL { TestPostgres.drop(url: databaseURL) }
        }
    }
}

/// How many live `TestServer`s use each data dir, and whether one of them made it (and so it is removed after the last).
enum DataDirLeases {
    private static let users = Mutex<[String: (count: Int, made: Bool)]>([:])

    static func take(_ dir: URL, made: Bool) {
        users.withLock { u in
            let e = u[dir.path] ?? (0, false)
            u[dir.path] = (e.count + 1, e.made || made)
        }
    }

    /// Whether the caller was the last user of a dir a TestServer made.
    static func release(_ dir: URL) -> Bool {
        users.withLock { u in
            guard let e = u[dir.path] else { return false }
            guard e.count <= 1 else {
                u[dir.path] = (e.count - 1, e.made)
                return false
            }
            u[dir.path] = nil
            return e.made
        }
    }
}

/// Builds SDK-shaped event envelopes.
public enum Ev {
    public static func make(
        _ type: String, batch: String, job: String? = nil, data: JSON = [:],
        id: String = UUID().uuidString.lowercased(),
        ts: String = Timestamp.now().iso,
        source: JSON = ["project": "proj", "host": "gpu-box-1", "user": "alice"]
    ) -> JSON {
        [
            "event_id": .string(id), "schema_version": "1.1", "event_type": .string(type),
            "timestamp": .string(ts),
            "batch_id": .string(batch), "job_id": JSON(job), "source": source, "data": data,
        ]
    }

    public static func epoch(
        _ batch: String, _ job: String, _ n: Int, train: Double? = nil, val: Double? = nil,
        extra: [(String, JSON)] = []
    ) -> JSON {
        var d = JSONObject([("epoch", JSON(n))])
        d["train_loss"] = JSON(train ?? 1.0 / Double(n + 1))
        d["val_loss"] = JSON(val ?? 1.2 / Double(n + 1))
        for (k, v) in extra { d[k] = v }
        return make("job_epoch", batch: batch, job: job, data: .object(d))
    }
}

extension HTTPClient {
    public func postBatch(_ events: [JSON]) throws -> HTTPResult {
        try post("/api/events/batch", json: ["events": .array(events)])
    }

    public func mustPost(_ event: JSON) throws {
        let r = try post("/api/events", json: event)
        guard r.status == 200 else { throw TestFailure("POST /api/events → \(r.status): \(r.text)") }
    }

    public func mustGet(_ path: String) throws -> JSON {
        let r = try get(path)
        guard r.status == 200, let j = r.json else {
            throw TestFailure("GET \(path) → \(r.status): \(r.text)")
        }
        return j
    }
}

/// Collects SSE messages on a background thread.
public final class SSECollector: @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SSEEvent] = []
    private var comments: [String] = []
    private var retries: [Int] = []
    public private(set) var end: SSEConnection.End?
    public let connection: SSEConnection
    private let finished = DispatchSemaphore(value: 0)

    public init(url: String, token: String?, lastEventID: String? = nil, idleTimeout: Double = 45) {
        connection = SSEConnection(url: url, token: token, idleTimeout: idleTimeout)
        let t = Thread { [self] in
            let e = connection.run(lastEventID: lastEventID) { m in
                self.lock.withLock {
                    switch m {
                    case .event(let ev): self.events.append(ev)
                    case .comment(let c): self.comments.append(c)
                    case .retry(let r): self.retries.append(r)
                    }
                }
                return true
            }
            self.lock.withLock { self.end = e }
            self.finished.signal()
        }
        t.start()
    }

    public var received: [SSEEvent] { lock.withLock { events } }
    /// The stored events streamed (not `hello`, not the server's `summary` frames).
    public var dataEvents: [SSEEvent] { received.filter { $0.type != "hello" && $0.type != SummaryFrame.eventType } }
    /// The `summary` frames (SummaryFrame), parsed.
    public var summaries: [JSON] {
        received.filter { $0.type == SummaryFrame.eventType }.compactMap { try? JSON.parse($0.data) }
    }
    public var receivedComments: [String] { lock.withLock { comments } }
    public var receivedRetries: [Int] { lock.withLock { retries } }
    public var ended: SSEConnection.End? { lock.withLock { end } }

    /// Waits until `predicate` holds over the received events, or throws after `timeout`.
    public func wait(
        timeout: TimeInterval = 20, _ what: String = "events", until predicate: ([SSEEvent]) -> Bool
    ) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(received) { return }
            if ended != nil { break }
            usleep(10_000)
        }
        if predicate(received) { return }
        throw TestFailure(
            "timed out waiting for \(what); got \(received.map { "\($0.type)#\($0.id)" }) end=\(String(describing: ended))"
        )
    }

    /// Waits for the server's `hello`: from then on nothing that is posted can be missed.
    /// The wait is long because in-process servers share the test process's cooperative threads with every test that
    /// runs beside them: on a loaded 2-core CI machine a stream has taken over 10 s to open (StallDetectorTests).
    public func waitUntilConnected() throws {
        try wait(timeout: 30, "the hello event", until: { $0.contains { $0.type == "hello" } })
    }

    public func stop() {
        connection.cancel()
        _ = finished.wait(timeout: .now() + 5)
    }
}

/// Starts a long-running child. Output goes to files (or nowhere), never to pipes a child could fill or hold open.
public func startProcess(_ path: String, _ args: [String], env: [String: String] = [:], stdout: String? = nil, stderr: String? = nil)
    throws -> Process
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    func sink(_ file: String?) throws -> FileHandle {
        guard let file else { return FileHandle.nullDevice }
        if !FileManager.default.fileExists(atPath: file) { FileManager.default.createFile(atPath: file, contents: nil) }
        return try FileHandle(forWritingTo: URL(fileURLWithPath: file))
    }
    p.standardOutput = try sink(stdout)
    p.standardError = try sink(stderr)
    p.standardInput = FileHandle.nullDevice
    try spawnLock.withLock { try p.run() }
    return p
}

/// Every child this process starts is started under this lock. Foundation's `Process.run` crashed (a bad pointer in
/// its memmove) in a run where a hundred test threads started servers at once (a width not set: see OwnThreadTrait).
private let spawnLock = NSLock()

/// A Python program in `dir` that listens on 127.0.0.1 and prints its port first (a stand-in server: a TLS relay, a
/// plain web server, one that closes connections early). Returns it and the port; stop it with `stopProcess`.
public func startPythonServer(_ script: String, in dir: URL) throws -> (Process, Int) {
    let file = dir.appendingPathComponent("server-\(UUID().uuidString.prefix(6)).py")
    try script.write(to: file, atomically: true, encoding: .utf8)
    let out = dir.appendingPathComponent(file.lastPathComponent + ".out")
    let p = try startProcess("/usr/bin/env", ["python3", "-u", file.path], stdout: out.path)
    for _ in 0..<400 {
        let text = ((try? String(contentsOf: out, encoding: .utf8)) ?? "").split(separator: "\n").first ?? ""
        if let port = Int(text.trimmingCharacters(in: .whitespaces)) { return (p, port) }
        usleep(25_000)
    }
    stopProcess(p)
    throw TestFailure("the Python server \(file.path) did not print its port")
}

/// SIGTERM, wait up to `grace`, then SIGKILL (a child started with signals blocked ignores SIGTERM).
/// Returns how long it took.
@discardableResult
public func stopProcess(_ p: Process, grace: TimeInterval = 3) -> TimeInterval {
    let t0 = Date()
    if p.isRunning {
        p.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while p.isRunning && Date() < deadline { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
    }
    return Date().timeIntervalSince(t0)
}

/// A free TCP port on 127.0.0.1 (bound, then released).
public func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) }
    }
    _ = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
    }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// A detached tmux session on its own server socket, so parallel tests never share one.
public final class Tmux: @unchecked Sendable {
    public let socket = "argus-test-\(UUID().uuidString.prefix(8))"
    public let session = "t"
    public let exitFile: URL

    /// Runs `command` (with `env`) in a WIDTH×HEIGHT window; its exit status lands in `exitFile`.
    public init(_ command: [String], env: [String: String] = [:], width: Int = 120, height: Int = 40)
        throws
    {
        // In a folder of its own, removed with the session: a shell that writes the status after `kill` (the pane's
        // program ends when tmux does) then finds no folder, and leaves nothing behind in /tmp.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket).d")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        exitFile = folder.appendingPathComponent("rc")
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(
            separator: " ")
        let envs = env.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        // Hermetic: the test decides NO_COLOR, whatever the runner's environment says.
        // `timeout` bounds the program, so a failed test cannot leave it running.
        let shell =
            "env -u NO_COLOR \(envs) timeout --foreground 300 \(quoted); echo $? 2>/dev/null > '\(exitFile.path)'; sleep 30"
        let (rc, _, err) = try runTool(
            "/usr/bin/env",
            [
                "tmux", "-L", socket, "new-session", "-d", "-s", session, "-x", String(width), "-y",
                String(height), shell,
            ],
            env: ["TERM": "xterm-256color", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": ""])
        guard rc == 0 else { throw TestFailure("tmux failed to start: \(err)") }
    }

    /// The visible pane; `escapes` keeps colour codes (capture-pane -e).
    public func capture(escapes: Bool = false) -> String {
        var args = ["tmux", "-L", socket, "capture-pane", "-p", "-t", session]
        if escapes { args.append("-e") }
        return (try? runTool("/usr/bin/env", args).1) ?? ""
    }

    public func send(_ keys: String...) {
        _ = try? runTool("/usr/bin/env", ["tmux", "-L", socket, "send-keys", "-t", session] + keys)
    }

    /// From now on, appends every byte the program writes to the terminal to `file` (pipe-pane -O): what
    /// reaches the terminal, escapes and all, rather than what tmux made of it.
    public func recordOutput(to file: URL) throws {
        let (rc, _, err) = try runTool(
            "/usr/bin/env", ["tmux", "-L", socket, "pipe-pane", "-O", "-t", session, "cat >> '\(file.path)'"])
        guard rc == 0 else { throw TestFailure("tmux pipe-pane failed: \(err)") }
    }

    /// Waits until the pane satisfies `predicate`, or throws with the last capture.
    @discardableResult
    public func wait(timeout: TimeInterval = 15, _ what: String, until predicate: (String) -> Bool)
        throws -> String
    {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            last = capture()
            if predicate(last) { return last }
            usleep(100_000)
        }
        throw TestFailure("timed out waiting for \(what); the pane shows:\n\(last)")
    }

    /// Resizes the window (as a user dragging the terminal would): the program gets SIGWINCH.
    public func resize(width: Int, height: Int) {
        let r = try? runTool(
            "/usr/bin/env", ["tmux", "-L", socket, "resize-window", "-t", session, "-x", String(width), "-y", String(height)])
        if r?.0 != 0 { print("tmux resize-window \(width)x\(height) failed: \(r?.2 ?? "could not run tmux")") }
    }

    /// The window's size as tmux has it (`WIDTHxHEIGHT`), for a failure's message.
    public var windowSize: String {
        let r = try? runTool(
            "/usr/bin/env", ["tmux", "-L", socket, "display-message", "-p", "-t", session, "#{window_width}x#{window_height}"])
        return r?.1.trimmingCharacters(in: .whitespacesAndNewlines) ?? "unknown"
    }

    public var exitStatus: Int32? {
        (try? String(contentsOf: exitFile, encoding: .utf8)).flatMap {
            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    public func kill() {
        _ = try? runTool("/usr/bin/env", ["tmux", "-L", socket, "kill-server"])
        try? FileManager.default.removeItem(at: exitFile.deletingLastPathComponent())
    }

    deinit { kill() }
}
