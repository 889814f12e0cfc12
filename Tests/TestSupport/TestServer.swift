import ArgusClient
import Foundation
import Shared

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
        if let d = ProcessInfo.processInfo.environment["ARGUS_BIN_DIR"] { return URL(fileURLWithPath: d) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("argus-server").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug")
    }

    public static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
}

/// Runs a command to completion and returns (exit status, stdout, stderr).
@discardableResult
public func runTool(_ path: String, _ args: [String], env: [String: String] = [:], stdin: String? = nil) throws -> (Int32, String, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    var environment = ProcessInfo.processInfo.environment
    for (k, v) in env { environment[k] = v }
    p.environment = environment
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    if let stdin {
        let inp = Pipe()
        p.standardInput = inp
        try p.run()
        inp.fileHandleForWriting.write(Data(stdin.utf8))
        try inp.fileHandleForWriting.close()
    } else {
        p.standardInput = FileHandle.nullDevice
        try p.run()
    }
    // Read both pipes concurrently so neither can fill up and block the child.
    let errData = LockedData()
    let t = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
    t.start()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    while !errData.isSet { usleep(1000) }
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.value, as: UTF8.self))
}

public final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var done = false
    public func set(_ d: Data) { lock.withLock { data = d; done = true } }
    public var isSet: Bool { lock.withLock { done } }
    public var value: Data { lock.withLock { data } }
}

/// A real `argus-server serve --port 0` on a temporary data dir; stopped (SIGTERM) by `stop()` or deinit.
public final class TestServer: @unchecked Sendable {
    public let dataDir: URL
    public let process = Process()
    public private(set) var url = ""
    public let logFile: URL

    public init(env: [String: String] = [:], dataDir existing: URL? = nil) throws {
        dataDir = existing ?? FileManager.default.temporaryDirectory.appendingPathComponent("argus-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
        logFile = dataDir.appendingPathComponent("server-\(UUID().uuidString.prefix(8)).log")
        let outFile = dataDir.appendingPathComponent("stdout-\(UUID().uuidString.prefix(8)).txt")
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        FileManager.default.createFile(atPath: outFile.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: Binaries.path("argus-server"))
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", dataDir.path]
        var environment = ProcessInfo.processInfo.environment
        for (k, v) in env { environment[k] = v }
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: outFile)
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let text = (try? String(contentsOf: outFile, encoding: .utf8)) ?? ""
            if let r = text.range(of: #"http://[0-9.]+:[0-9]+"#, options: .regularExpression) {
                url = String(text[r])
                return
            }
            if !process.isRunning {
                throw TestFailure("argus-server exited early: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
            }
            usleep(20_000)
        }
        process.terminate()
        throw TestFailure("argus-server did not print its URL within 30 s")
    }

    public var port: Int { Int(url.split(separator: ":").last!)! }

    public func token(user: String = "alice", scope: String = "reporter", admin: Bool = false) throws -> String {
        var args = ["token", "create", "--data-dir", dataDir.path, "--user", user, "--scope", scope]
        if admin { args.append("--admin") }
        let (rc, out, err) = try runTool(Binaries.path("argus-server"), args)
        guard rc == 0 else { throw TestFailure("token create failed: \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func client(_ token: String?) -> HTTPClient { HTTPClient(baseURL: url, token: token, timeout: 30) }

    /// SIGTERM, then wait; returns how long the server took to exit.
    @discardableResult
    public func stop() -> TimeInterval {
        let t0 = Date()
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(15)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        return Date().timeIntervalSince(t0)
    }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: dataDir)
    }
}

/// Builds SDK-shaped event envelopes.
public enum Ev {
    public static func make(
        _ type: String, batch: String, job: String? = nil, data: JSON = [:], id: String = UUID().uuidString.lowercased(),
        ts: String = Timestamp.now().iso, source: JSON = ["project": "proj", "host": "gpu-box-1", "user": "alice"]
    ) -> JSON {
        [
            "event_id": .string(id), "schema_version": "1.1", "event_type": .string(type), "timestamp": .string(ts),
            "batch_id": .string(batch), "job_id": JSON(job), "source": source, "data": data,
        ]
    }

    public static func epoch(_ batch: String, _ job: String, _ n: Int, train: Double? = nil, val: Double? = nil, extra: [(String, JSON)] = []) -> JSON {
        var d = JSONObject([("epoch", JSON(n))])
        d["train_loss"] = JSON(train ?? 1.0 / Double(n + 1))
        d["val_loss"] = JSON(val ?? 1.2 / Double(n + 1))
        for (k, v) in extra { d[k] = v }
        return make("job_epoch", batch: batch, job: job, data: .object(d))
    }
}

extension HTTPClient {
    public func postBatch(_ events: [JSON]) throws -> HTTPResult { try post("/api/events/batch", json: ["events": .array(events)]) }

    public func mustPost(_ event: JSON) throws {
        let r = try post("/api/events", json: event)
        guard r.status == 200 else { throw TestFailure("POST /api/events → \(r.status): \(r.text)") }
    }

    public func mustGet(_ path: String) throws -> JSON {
        let r = try get(path)
        guard r.status == 200, let j = r.json else { throw TestFailure("GET \(path) → \(r.status): \(r.text)") }
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

    public init(url: String, token: String?, lastEventID: String? = nil, idleTimeout: Int = 45) {
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
    public var dataEvents: [SSEEvent] { received.filter { $0.type != "hello" } }
    public var receivedComments: [String] { lock.withLock { comments } }
    public var receivedRetries: [Int] { lock.withLock { retries } }
    public var ended: SSEConnection.End? { lock.withLock { end } }

    /// Waits until `predicate` holds over the received events, or throws after `timeout`.
    public func wait(timeout: TimeInterval = 10, _ what: String = "events", until predicate: ([SSEEvent]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if predicate(received) { return }
            if ended != nil { break }
            usleep(10_000)
        }
        if predicate(received) { return }
        throw TestFailure("timed out waiting for \(what); got \(received.map { "\($0.type)#\($0.id)" }) end=\(String(describing: ended))")
    }

    public func stop() {
        connection.cancel()
        _ = finished.wait(timeout: .now() + 5)
    }
}
