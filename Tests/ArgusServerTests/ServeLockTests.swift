import Foundation
import TestSupport
import Testing

@Suite("One argus-server per SQLite data dir", .ownThread)
struct ServeLockTests {
    @Test(
        "a second serve on a data dir in use is one sentence naming the first's pid (the lock's holder, whatever serve.lock says); tokens are still minted beside it",
        arguments: ["as left", "deleted", "stale"])
    func secondServeRefused(lockFile: String) throws {
        let first = try TestServer(sqlite: true)
        defer { _ = first.stop() }
        let lock = first.dataDir.appendingPathComponent("serve.lock")
        switch lockFile {
        // Someone tidies the data dir while the server runs: the dir itself is locked too.
        case "deleted": try FileManager.default.removeItem(at: lock)
        // A pid from before (another user's server once left the file, and this one could not rewrite it).
        case "stale": try Data("999999\n".utf8).write(to: lock)
        default: break
        }
        let message = try Self.refusal(dataDir: first.dataDir.path, logs: first.dataDir)
        #expect(
            message
                == "argus-server: Another argus-server (pid \(first.process.processIdentifier)) is serving \(first.dataDir.path): "
                + "stop it first, or give this one its own --data-dir (servers that share one database need PostgreSQL: --database-url).\n",
            "\(message)")
        // The first one goes on serving, and the commands meant to run beside it still do.
        let token = try first.token()
        #expect(try first.client(token).get("/api/batches").status == 200)
    }

    /// What a second `serve` on `dataDir` writes to stderr; it must exit 1 within 15 s.
    static func refusal(dataDir: String, logs: URL) throws -> String {
        let name = UUID().uuidString
        let out = logs.appendingPathComponent("\(name).out").path
        let err = logs.appendingPathComponent("\(name).err").path
        let second = try startProcess(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dataDir], stdout: out, stderr: err)
        let deadline = Date().addingTimeInterval(15)
        while second.isRunning, Date() < deadline { usleep(50_000) }
        let running = second.isRunning
        _ = stopProcess(second)
        #expect(!running, "the second server kept running: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        #expect(second.terminationStatus == 1)
        return (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
    }

    @Test("the database reached from another dir (a symbolic link to it) is refused too, in one sentence naming the server that has it")
    func sameDatabaseElsewhere() throws {
        let first = try TestServer(sqlite: true)
        defer { _ = first.stop() }
        let other = first.dataDir.deletingLastPathComponent().appendingPathComponent("argus-link-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: other) }
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(
            atPath: other.appendingPathComponent("argus.sqlite").path,
            withDestinationPath: first.dataDir.appendingPathComponent("argus.sqlite").path)
        let message = try Self.refusal(dataDir: other.path, logs: other)
        #expect(
            message
                == "argus-server: Another argus-server (pid \(first.process.processIdentifier), data dir \(first.dataDir.path)) "
                + "is serving the database \(other.path)/argus.sqlite from another "
                + "directory (through a link, or it was moved): stop it first, or give this one its own database (servers "
                + "that share one database need PostgreSQL: --database-url).\n",
            "\(message)")
        #expect(try first.client(try first.token()).get("/api/batches").status == 200)
    }

    @Test("two serves started at once on a new data dir: one serves, the other is refused in the one sentence")
    func startedTogether() throws {
        for _ in 0..<4 {
            let parent = FileManager.default.temporaryDirectory.appendingPathComponent("argus-together-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: parent) }
            try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: false)
            let dir = parent.appendingPathComponent("data").path
            let servers = try (0..<2).map { k in
                try startProcess(
                    Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dir],
                    stdout: parent.appendingPathComponent("\(k).out").path, stderr: parent.appendingPathComponent("\(k).err").path)
            }
            defer { for s in servers { _ = stopProcess(s) } }
            let deadline = Date().addingTimeInterval(15)
            while servers.allSatisfy(\.isRunning), Date() < deadline { usleep(50_000) }
            let refused = try #require(servers.firstIndex { !$0.isRunning }, "both kept running")
            usleep(300_000)
            #expect(servers[1 - refused].isRunning, "neither serves")
            #expect(servers[refused].terminationStatus == 1)
            let err = (try? String(contentsOfFile: parent.appendingPathComponent("\(refused).err").path, encoding: .utf8)) ?? ""
            #expect(err.hasPrefix("argus-server: Another argus-server"), "\(err)")
        }
    }

    @Test("a serve.lock that is a link is not followed: the file it points to is neither made nor truncated")
    func lockFileLink() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-locklink-\(UUID().uuidString)")
        let victim = dir.path + "-victim"
        defer {
            try? FileManager.default.removeItem(at: dir)
            try? FileManager.default.removeItem(atPath: victim)
            try? FileManager.default.removeItem(atPath: victim + "2")
        }
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        // One link to a file that does not exist, then one to a file with something in it.
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("serve.lock").path, withDestinationPath: victim)
        let first = try TestServer(dataDir: dir, sqlite: true)
        _ = first.stop()
        #expect(!FileManager.default.fileExists(atPath: victim))
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim + "2"))
        try? FileManager.default.removeItem(at: dir.appendingPathComponent("serve.lock"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("serve.lock").path, withDestinationPath: victim + "2")
        let again = try TestServer(dataDir: dir, sqlite: true)
        defer { _ = again.stop() }
        #expect(try String(contentsOfFile: victim + "2", encoding: .utf8) == "precious\n")
        // Still one server per dir: the dir itself is locked.
        #expect(
            try Self.refusal(dataDir: dir.path, logs: dir).hasPrefix(
                "argus-server: Another argus-server"))
    }

    @Test("once the first has stopped (or died), the data dir serves again")
    func servesAfterStop() throws {
        let first = try TestServer(sqlite: true)
        kill(first.process.processIdentifier, SIGKILL)
        first.process.waitUntilExit()
        let again = try TestServer(dataDir: first.dataDir, sqlite: true)
        defer {
            _ = again.stop()
            try? FileManager.default.removeItem(at: first.dataDir)
        }
        #expect(try again.client(try again.token()).get("/api/batches").status == 200)
    }
}
