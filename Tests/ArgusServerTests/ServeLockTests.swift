import Foundation
import TestSupport
import Testing

@Suite("One argus-server per SQLite data dir")
struct ServeLockTests {
    @Test(
        "a second serve on a data dir in use is one sentence naming the first's pid; tokens are still minted beside it",
        arguments: [false, true])
    func secondServeRefused(lockFileDeleted: Bool) throws {
        let first = try TestServer(sqlite: true)
        defer { _ = first.stop() }
        // Someone tidies the data dir while the server runs: the dir itself is locked too.
        if lockFileDeleted { try FileManager.default.removeItem(at: first.dataDir.appendingPathComponent("serve.lock")) }
        let out = first.dataDir.appendingPathComponent("second.out").path
        let err = first.dataDir.appendingPathComponent("second.err").path
        let second = try startProcess(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", first.dataDir.path], stdout: out, stderr: err)
        let deadline = Date().addingTimeInterval(15)
        while second.isRunning, Date() < deadline { usleep(50_000) }
        let running = second.isRunning
        _ = stopProcess(second)
        #expect(!running, "the second server kept running: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
        #expect(second.terminationStatus == 1)
        let message = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        #expect(
            message
                == "argus-server: Another argus-server\(lockFileDeleted ? "" : " (pid \(first.process.processIdentifier))") is serving \(first.dataDir.path): "
                + "stop it first, or give this one its own --data-dir (servers that share one database need PostgreSQL: --database-url).\n",
            "\(message)")
        // The first one goes on serving, and the commands meant to run beside it still do.
        let token = try first.token()
        #expect(try first.client(token).get("/api/batches").status == 200)
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
