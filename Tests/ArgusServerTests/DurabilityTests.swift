import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// A 2xx means the event is on disk, and a crash loses nothing that was acknowledged (issue 11, durability).
@Suite("Durability: fsync per commit, kill -9, SIGTERM", .ownThread)
struct DurabilityTests {
    @Test(
        "each commit is fsynced by default (synchronous=FULL); ARGUS_FSYNC=checkpoint relaxes it; nonsense is refused",
        .enabled(if: TestBackend.sqlite))
    func fsyncSetting() throws {
        #expect(try ServerConfig.fromEnvironment([:]).fsyncEachCommit)
        #expect(try !ServerConfig.fromEnvironment(["ARGUS_FSYNC": "checkpoint"]).fsyncEachCommit)
        #expect(throws: ServerConfig.ConfigError.self) { try ServerConfig.fromEnvironment(["ARGUS_FSYNC": "sometimes"]) }
        #expect(ServerConfig.variables.contains { $0.name == "ARGUS_FSYNC" }, "listed in serve --help")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-fsync-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for (full, expected) in [(true, 2), (false, 1)] {
            let store = try ArgusStore(dataDir: dir.path, fsyncEachCommit: full)
            // Every connection of the pool: the writer and the readers.
            let writer = try store.pool!.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            let reader = try store.pool!.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            #expect(
                writer == expected && reader == expected,
                "full=\(full): writer \(String(describing: writer)), reader \(String(describing: reader))")
        }
    }

    @Test("kill -9 while four clients ingest: every acknowledged event is there once, ids go on, summaries re-fold")
    func killNine() throws {
        let s = try TestServer()
        let token = try s.token()
        let load = Ingesters(url: s.url, token: token, clients: 4, batch: "crash")
        // Killed mid-ingest once enough is acknowledged (a fixed pause saw too few on a loaded machine).
        let started = Date()
        while load.acknowledged.count <= 60, Date().timeIntervalSince(started) < 30 { usleep(20_000) }
        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        load.stop()
        let acked = load.acknowledged
        #expect(acked.count > 50, "the clients were ingesting when the server died (\(acked.count) acknowledged)")

        let again = try TestServer(dataDir: s.dataDir)
        defer { _ = again.stop() }
        let stored = try again.storedEvents(token, batch: "crash")
        var copies: [String: [Int64]] = [:]
        for e in stored { copies[e["event_id"]!.stringValue!, default: []].append(Int64(e["id"]!.intValue!)) }
        let missing = acked.filter { copies[$0.key] == nil }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.count) of \(acked.count)")
        #expect(copies.values.allSatisfy { $0.count == 1 }, "nothing doubled")
        #expect(acked.allSatisfy { copies[$0.key] == [$0.value] }, "each under the id it was acknowledged with")
        // SSE ids go on after the highest one ever stored: nothing a client saw is reused.
        let highest = stored.compactMap { $0["id"]?.intValue }.max() ?? 0
        let next = try again.client(token).post("/api/events", json: Ev.make("log_line", batch: "crash", data: ["line": "after"]))
        #expect((next.json?["event_id"]?.intValue ?? 0) > highest)

        // The summaries equal a fold of the stored events from scratch (by a fresh server, in id order).
        #expect(try again.summaries(token, batch: "crash") == again.refoldedSummaries(token, batch: "crash"))
    }

    @Test("SIGTERM during ingest and open streams: streams end, the server exits 0, nothing acknowledged is lost")
    func sigterm() throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("job_start", batch: "term", job: "j0"))
        let streams = (0..<3).map { _ in SSECollector(url: s.url + APIPath.sse([.batch("term")]), token: token) }
        for st in streams { try st.waitUntilConnected() }
        let load = Ingesters(url: s.url, token: token, clients: 3, batch: "term")
        let started = Date()
        while load.acknowledged.count <= 30, Date().timeIntervalSince(started) < 30 { usleep(20_000) }
        let t0 = Date()
        s.process.terminate()
        s.process.waitUntilExit()
        load.stop()
        #expect(s.process.terminationStatus == 0, "a clean exit:\n\(s.log.suffix(2000))")
        #expect(Date().timeIntervalSince(t0) < 10)
        for st in streams {
            try st.wait(timeout: 5, "the stream's end", until: { _ in st.ended != nil })
            #expect(st.ended != nil)
            st.stop()
        }
        let again = try TestServer(dataDir: s.dataDir)
        defer { _ = again.stop() }
        let stored = Set(try again.storedEvents(token, batch: "term").compactMap { $0["event_id"]?.stringValue })
        let acked = load.acknowledged
        #expect(acked.count > 20)
        #expect(acked.keys.allSatisfy(stored.contains), "acknowledged before the shutdown, so stored")
    }
}
