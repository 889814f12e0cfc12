import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// A 2xx means the event is on disk, and a crash loses nothing that was acknowledged (issue 11, durability).
@Suite("Durability: fsync per commit, kill -9, SIGTERM")
struct DurabilityTests {
    @Test("each commit is fsynced by default (synchronous=FULL); ARGUS_FSYNC=checkpoint relaxes it; nonsense is refused")
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
            let writer = try store.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            let reader = try store.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") }
            #expect(
                writer == expected && reader == expected,
                "full=\(full): writer \(String(describing: writer)), reader \(String(describing: reader))")
        }
    }

    /// Clients that post events one at a time until told to stop, remembering what the server acknowledged.
    final class Ingesters: @unchecked Sendable {
        private let lock = NSLock()
        private var acked: [String: Int64] = [:]
        private var running = true
        private var threads: [Thread] = []
        private let done = DispatchGroup()

        init(url: String, token: String, clients: Int, batch: String) {
            for k in 0..<clients {
                done.enter()
                let t = Thread { [self] in
                    defer { done.leave() }
                    let c = HTTPClient(baseURL: url, token: token, timeout: 5)
                    var n = 0
                    while lock.withLock({ running }) {
                        let ev =
                            n % 3 == 2
                            ? Ev.make("log_line", batch: batch, job: "j\(k)", data: ["line": .string("line \(n)")])
                            : Ev.epoch(batch, "j\(k)", n)
                        n += 1
                        guard let r = try? c.post("/api/events", json: ev) else {
                            usleep(20_000)  // the server is gone: try again until told to stop
                            continue
                        }
                        if r.status == 200, let id = r.json?["event_id"]?.intValue {
                            lock.withLock { acked[ev["event_id"]!.stringValue!] = Int64(id) }
                        }
                    }
                }
                threads.append(t)
                t.start()
            }
        }

        var acknowledged: [String: Int64] { lock.withLock { acked } }

        func stop() {
            lock.withLock { running = false }
            done.wait()
        }
    }

    /// Every stored event of a batch, in id order, as a replay from the start streams it.
    func storedEvents(_ s: TestServer, _ token: String, batch: String) throws -> [JSON] {
        let sub = SSECollector(url: s.url + APIPath.sse([.batch(batch)]), token: token, lastEventID: "0")
        defer { sub.stop() }
        try sub.wait(timeout: 30, "the replay", until: { $0.contains { $0.type == SummaryFrame.eventType } })
        return sub.dataEvents.compactMap { try? JSON.parse($0.data) }
    }

    /// The summaries a server keeps for a batch, without what depends on when the server received things.
    func summaries(_ c: HTTPClient, batch: String) throws -> JSON {
        func strip(_ v: JSON, _ keys: Set<String>) -> JSON {
            guard case .object(let o) = v else { return v }
            return .object(JSONObject(o.filter { !keys.contains($0.key) }.map { ($0.key, $0.value) }))
        }
        let b = strip(try c.mustGet(APIPath.batch(batch)), ["last_received", "agent_online"])
        let jobs = (try c.mustGet(APIPath.jobs(batch))).arrayValue ?? []
        return ["batch": b, "jobs": .array(jobs.sorted { $0["id"]!.stringValue! < $1["id"]!.stringValue! })]
    }

    @Test("kill -9 while four clients ingest: every acknowledged event is there once, ids go on, summaries re-fold")
    func killNine() throws {
        let s = try TestServer()
        let token = try s.token()
        let load = Ingesters(url: s.url, token: token, clients: 4, batch: "crash")
        Thread.sleep(forTimeInterval: 1.5)
        kill(s.process.processIdentifier, SIGKILL)
        s.process.waitUntilExit()
        load.stop()
        let acked = load.acknowledged
        #expect(acked.count > 50, "the clients were ingesting when the server died (\(acked.count) acknowledged)")

        let again = try TestServer(dataDir: s.dataDir)
        defer { _ = again.stop() }
        let stored = try storedEvents(again, token, batch: "crash")
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
        let fresh = try TestServer()
        defer { _ = fresh.stop() }
        let freshToken = try fresh.token()
        let replayed: [JSON] = try storedEvents(again, token, batch: "crash").map { e in
            guard case .object(let o) = e else { return e }
            return .object(JSONObject(o.filter { $0.key != "id" && $0.key != "channel" }.map { ($0.key, $0.value) }))
        }
        for start in stride(from: 0, to: replayed.count, by: 500) {
            let r = try fresh.client(freshToken).postBatch(Array(replayed[start..<min(start + 500, replayed.count)]))
            #expect(r.json?["rejected"] == 0, "\(r.text)")
        }
        #expect(try summaries(again.client(token), batch: "crash") == summaries(fresh.client(freshToken), batch: "crash"))
    }

    @Test("SIGTERM during ingest and open streams: streams end, the server exits 0, nothing acknowledged is lost")
    func sigterm() throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("job_start", batch: "term", job: "j0"))
        let streams = (0..<3).map { _ in SSECollector(url: s.url + APIPath.sse([.batch("term")]), token: token) }
        for st in streams { try st.waitUntilConnected() }
        let load = Ingesters(url: s.url, token: token, clients: 3, batch: "term")
        Thread.sleep(forTimeInterval: 1)
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
        let stored = Set(try storedEvents(again, token, batch: "term").compactMap { $0["event_id"]?.stringValue })
        let acked = load.acknowledged
        #expect(acked.count > 20)
        #expect(acked.keys.allSatisfy(stored.contains), "acknowledged before the shutdown, so stored")
    }
}
