import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Several real `argus-server` processes on one PostgreSQL (issue 12): a client may talk to any of them.
@Suite("Replicas on one PostgreSQL", .enabled(if: TestBackend.isPostgres), .timeLimit(.minutes(3)), .ownThread)
struct ReplicaTests {
    /// `n` replicas on a fresh database (dropped with the first replica).
    static func replicas(_ n: Int, env: [String: String] = [:]) throws -> [TestServer] {
        let first = try TestServer(env: env)
        var all = [first]
        for _ in 1..<n { all.append(try TestServer(env: env, replicaOf: first.databaseURL)) }
        return all
    }

    static func ids(_ c: SSECollector) -> [Int64] { c.dataEvents.compactMap { Int64($0.id) } }

    @Test(
        "concurrent writers on two replicas, a subscriber on each of three: every event once, in id order; Last-Event-ID resumes on another replica"
    )
    func oneGlobalOrder() throws {
        let rs = try Self.replicas(3)
        let token = try rs[0].token()
        let channels = "/api/sse?channels=batch:r1,batch:r2"
        for b in ["r1", "r2"] { try rs[0].client(token).mustPost(Ev.make("batch_start", batch: b)) }
        let subs = rs.map { SSECollector(url: $0.url + channels, token: token) }
        defer { subs.forEach { $0.stop() } }
        for s in subs { try s.waitUntilConnected() }
        // Two writers, one per replica, both on both batches: their commits interleave and race for ids.
        let perWriter = 120
        let acked = Locked<[Int64]>([])
        let failures = Locked<[String]>([])
        let group = DispatchGroup()
        for (w, server) in rs.prefix(2).enumerated() {
            DispatchQueue.global().async(group: group) {
                let c = server.client(token)
                for k in 0..<(perWriter / 4) {
                    let events = (0..<4).map { i in
                        Ev.make("log_line", batch: i % 2 == 0 ? "r1" : "r2", job: "j", data: ["line": .string("w\(w) \(k).\(i)")])
                    }
                    do {
                        let r = try c.postBatch(events)
                        guard r.status == 200, let results = r.json?["results"]?.arrayValue else {
                            failures.withLock { $0.append("\(r.status) \(r.text)") }
                            continue
                        }
                        let got = results.compactMap { $0["db_id"]?.intValue.map(Int64.init) }
                        acked.withLock { $0 += got }
                    } catch { failures.withLock { $0.append("\(error)") } }
                }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let all = acked.withLock { $0 }.sorted()
        #expect(all.count == 2 * perWriter)
        for (k, s) in subs.enumerated() {
            try s.wait(timeout: 15, "all \(all.count) events on replica \(k + 1)") { _ in Self.ids(s).count >= all.count }
            let got = Self.ids(s)
            #expect(
                got == all, "replica \(k + 1): \(got.count) events, in order: \(got == got.sorted()), once: \(Set(got).count == got.count)")
        }
        // A client that saw up to the middle on replica 1 resumes on replica 3: nothing missed, nothing twice.
        let middle = Self.ids(subs[0])[all.count / 2]
        let resumed = SSECollector(url: rs[2].url + channels, token: token, lastEventID: String(middle))
        defer { resumed.stop() }
        try resumed.wait(timeout: 15, "the rest after \(middle)") { _ in Self.ids(resumed).count >= all.filter { $0 > middle }.count }
        #expect(Self.ids(resumed) == all.filter { $0 > middle })
    }

    @Test("stop through B is seen polling A; a share revoked on A is refused by B; a rerun queued on A reaches an agent long-polling B")
    func actionsAcrossReplicas() throws {
        let rs = try Self.replicas(2)
        let (a, b) = (rs[0], rs[1])
        let token = try a.token()
        let ca = a.client(token)
        let cb = b.client(token)
        try ca.mustPost(Ev.make("batch_start", batch: "live", data: ["command": "python train.py"]))
        #expect(try ca.mustGet("/api/batches/live/stop-requested")["stop_requested"] == false)
        #expect(try cb.post("/api/batches/live/stop", json: [:]).status == 200)
        #expect(try ca.mustGet("/api/batches/live/stop-requested")["stop_requested"] == true)

        let share = try ShareTests.mint(ca, "live")
        let secret = try #require(share["token"]?.stringValue)
        let id = try #require(share["id"]?.intValue)
        #expect(try b.client(secret).get("/api/batches/live").status == 200)
        #expect(try ca.request("DELETE", "/api/batches/live/shares/\(id)").status == 200)
        let revokedAt = Date()
        while try b.client(secret).get("/api/batches/live").status == 200 {
            #expect(Date().timeIntervalSince(revokedAt) < 2, "B still serves a share revoked on A")
            if Date().timeIntervalSince(revokedAt) >= 2 { break }
            usleep(50_000)
        }

        // An agent of alice's on the host the run reported from, long-polling B.
        let host = "gpu-box-1"
        let reg = try cb.post("/api/agents/register", json: ["hostname": .string(host)])
        let agentID = try #require(reg.json?["agent_id"]?.intValue)
        let agent = b.client(try #require(reg.json?["agent_token"]?.stringValue))
        try ca.mustPost(Ev.make("batch_start", batch: "done", data: ["command": "python train.py", "cwd": "/tmp"]))
        try ca.mustPost(Ev.make("batch_done", batch: "done"))
        let poll = DispatchQueue.global()
        let got = Locked<(JSON?, Date?)>((nil, nil))
        let polled = DispatchSemaphore(value: 0)
        poll.async {
            let r = try? agent.get("/api/agents/\(agentID)/jobs?wait=10")
            got.withLock { $0 = (r?.json, Date()) }
            polled.signal()
        }
        usleep(300_000)  // the long-poll is waiting on B
        let queuedAt = Date()
        let rerun = try ca.post("/api/batches/done/rerun", json: [:])
        #expect(rerun.status == 202, "\(rerun.text)")
        #expect(polled.wait(timeout: .now() + 5) == .success)
        let (jobs, at) = got.withLock { $0 }
        #expect(jobs?.arrayValue?.first?["batch_id"] == "done", "\(String(describing: jobs))")
        #expect(
            (at ?? .distantFuture).timeIntervalSince(queuedAt) < 1,
            "the agent on B heard after \((at ?? .distantFuture).timeIntervalSince(queuedAt)) s")
    }

    @Test("the stall watchdog runs on one replica: each stall is flagged once; when that replica dies the other takes over")
    func watchdogOnOneReplica() throws {
        let env = ["ARGUS_STALL_TIMEOUT_MIN": "0.02", "ARGUS_WATCHDOG_INTERVAL_S": "0.2"]
        let rs = try Self.replicas(2, env: env)
        let token = try rs[0].token()
        func stalls(_ c: SSECollector) -> Int { c.dataEvents.filter { $0.type == "batch_stalled" }.count }
        try rs[0].client(token).mustPost(Ev.make("batch_start", batch: "s1"))
        let s1 = SSECollector(url: rs[1].url + "/api/sse?channels=batch:s1", token: token)
        defer { s1.stop() }
        try s1.waitUntilConnected()
        try s1.wait(timeout: 15, "s1 stalled") { _ in stalls(s1) > 0 }
        // The replica that flagged it says so in its log: it publishes the event first and logs after it, so a
        // subscriber may hear of the stall a moment before the line is written.
        var flaggedBy: Int?
        let loggedBy = Date().addingTimeInterval(5)
        while flaggedBy == nil && Date() < loggedBy {
            flaggedBy = rs.firstIndex { $0.log.contains("batch s1 stalled") }
            if flaggedBy == nil { usleep(20_000) }
        }
        let leader = try #require(flaggedBy)
        let other = 1 - leader
        #expect(!rs[other].log.contains("batch s1 stalled"))
        kill(rs[leader].process.processIdentifier, SIGKILL)
        rs[leader].process.waitUntilExit()
        try rs[other].client(token).mustPost(Ev.make("batch_start", batch: "s2"))
        let s2 = SSECollector(url: rs[other].url + "/api/sse?channels=batch:s2", token: token)
        defer { s2.stop() }
        try s2.waitUntilConnected()
        try s2.wait(timeout: 20, "s2 stalled after the watchdog's replica died") { _ in stalls(s2) > 0 }
        let s2LoggedBy = Date().addingTimeInterval(5)
        while !rs[other].log.contains("batch s2 stalled") && Date() < s2LoggedBy { usleep(20_000) }
        #expect(rs[other].log.contains("batch s2 stalled"))
        // Several watchdog ticks later: still once each, never once per replica.
        usleep(1_500_000)
        #expect(stalls(s2) == 1)
        if leader == 0 { #expect(stalls(s1) == 1) }
        let batches = try rs[other].client(token).mustGet("/api/batches").arrayValue ?? []
        #expect(batches.filter { $0["status"] == "stalled" }.count == 2)
    }

    @Test(
        "kill -9 of one replica under load: every acknowledged event is readable through the other; its stream resumes there with nothing lost"
    )
    func killOneReplica() throws {
        let rs = try Self.replicas(2)
        let token = try rs[0].token()
        let channel = "/api/sse?channels=batch:k"
        try rs[0].client(token).mustPost(Ev.make("batch_start", batch: "k"))
        let onFirst = SSECollector(url: rs[0].url + channel, token: token)
        defer { onFirst.stop() }
        try onFirst.waitUntilConnected()
        let acked = Locked<[Int64]>([])
        let errors = Locked<[String]>([])
        let stop = Locked(false)
        let group = DispatchGroup()
        for server in rs {
            DispatchQueue.global().async(group: group) {
                let c = server.client(token)
                var k = 0
                while !stop.withLock({ $0 }) {
                    k += 1
                    let r = try? c.postBatch(
                        (0..<3).map { i in
                            Ev.make("log_line", batch: "k", job: "j", data: ["line": .string("\(server.port) \(k).\(i)")])
                        })
                    guard let r, r.status == 200, let results = r.json?["results"]?.arrayValue else {
                        if !server.process.isRunning { return }
                        errors.withLock { $0.append("\(r?.status ?? 0) \(r?.text ?? "")") }
                        continue
                    }
                    acked.withLock { $0 += results.compactMap { $0["db_id"]?.intValue.map(Int64.init) } }
                }
            }
        }
        usleep(800_000)
        // The watcher has seen some of it (on a loaded machine the first commits can take a while): it resumes from
        // an id, not from nothing.
        try onFirst.wait(timeout: 15, "the first events on the replica about to die") { _ in !Self.ids(onFirst).isEmpty }
        kill(rs[0].process.processIdentifier, SIGKILL)
        rs[0].process.waitUntilExit()
        usleep(500_000)
        stop.withLock { $0 = true }
        group.wait()
        let all = acked.withLock { $0 }.sorted()
        #expect(all.count > 30, "too little load: \(all.count); \(errors.withLock { $0.prefix(3) })")
        // The client that watched the dead replica reconnects to the other with the last id it saw.
        let seen = Self.ids(onFirst)
        let resumed = SSECollector(url: rs[1].url + channel, token: token, lastEventID: seen.last.map(String.init))
        defer { resumed.stop() }
        try resumed.wait(timeout: 15, "the rest on the survivor") { _ in
            Set(seen + Self.ids(resumed)).isSuperset(of: all)
        }
        let combined = seen + Self.ids(resumed)
        #expect(combined == combined.sorted() && Set(combined).count == combined.count, "in order, once each")
        #expect(Set(combined).isSuperset(of: all))
        // And read back from the start through the survivor: every acknowledged event is there.
        let replay = SSECollector(url: rs[1].url + channel, token: token, lastEventID: "0")
        defer { replay.stop() }
        try replay.wait(timeout: 15, "the whole history") { _ in Set(Self.ids(replay)).isSuperset(of: all) }
    }

    @Test(
        "a replica that cannot LISTEN again still streams what another replica stores, within seconds; it logs the outage and its end"
    )
    func listenLost() throws {
        let rs = try Self.replicas(2)
        let (a, b) = (rs[0], rs[1])
        let token = try a.token()
        let cb = b.client(token)
        try cb.mustPost(Ev.make("batch_start", batch: "q"))
        let onA = SSECollector(url: a.url + APIPath.sse([.batch("q")]), token: token, lastEventID: "0")
        defer { onA.stop() }
        try onA.wait("batch_start") { $0.contains { $0.type == "batch_start" } }
        // Nothing new may connect to the database, and both replicas' LISTEN connections are cut; the connections
        // the replicas read and write on stay.
        let url = try #require(a.databaseURL)
        let name = try #require(TestPostgres.databaseName(of: url))
        let admin = try #require(TestPostgres.adminURL)
        try TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
        defer { _ = try? TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true") }
        let cut = try TestPostgres.psql(
            admin,
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\(name)' AND application_name = 'argus-server listen'"
        )
        #expect(cut == "4", "two LISTEN connections per replica: \(cut)")
        // Before, replica A heard of B's commits only by NOTIFY: its stream stayed silent until it could listen again.
        try cb.mustPost(Ev.make("log_line", batch: "q", job: "j", data: ["line": "while deaf"]))
        let sent = Date()
        try onA.wait(timeout: 10, "B's line on A's stream") { $0.contains { $0.data.contains("while deaf") } }
        #expect(Date().timeIntervalSince(sent) < 5, "\(Date().timeIntervalSince(sent)) s")
        #expect(a.log.contains("LISTEN argus_events failed, retrying; until it is back this replica re-reads every 2 s"), "\(a.log)")
        try TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        let back = Date()
        while !a.log.contains("listening on argus_events again after"), Date().timeIntervalSince(back) < 10 { usleep(50_000) }
        #expect(a.log.contains("listening on argus_events again after"), "\(a.log)")
        try cb.mustPost(Ev.make("log_line", batch: "q", job: "j", data: ["line": "heard again"]))
        try onA.wait("B's next line") { $0.contains { $0.data.contains("heard again") } }
        let ids = Self.ids(onA)
        #expect(ids == ids.sorted() && Set(ids).count == ids.count, "in order, once each: \(ids)")
    }

    @Test(
        "PostgreSQL unreachable: writes and reads get 503 with Retry-After and one sentence, /health says so; all works again when it is back, and the runs it could not hear are not called stalled for it"
    )
    func databaseGone() throws {
        // A 3 s stall timeout, and an outage longer than that.
        let s = try TestServer(env: ["ARGUS_STALL_TIMEOUT_MIN": "0.05", "ARGUS_WATCHDOG_INTERVAL_S": "0.5"])
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("batch_start", batch: "g"))
        let token = try s.token()
        let live = SSECollector(url: s.url + APIPath.sse([.batch("g")]), token: token, lastEventID: "0")
        defer { live.stop() }
        try live.wait("batch_start") { $0.contains { $0.type == "batch_start" } }
        let url = try #require(s.databaseURL)
        let name = try #require(TestPostgres.databaseName(of: url))
        let admin = try #require(TestPostgres.adminURL)
        try TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS false")
        try TestPostgres.psql(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'")
        defer { _ = try? TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true") }
        let w = try c.post("/api/events", json: Ev.make("log_line", batch: "g", job: "j", data: ["line": "lost?"]))
        #expect(w.status == 503 && w.headers["retry-after"] != nil, "\(w.status) \(w.text)")
        #expect(w.detail.hasPrefix("The server cannot write to its database: its PostgreSQL cannot be reached"), "\(w.detail)")
        let r = try c.get("/api/batches/g")
        #expect(
            r.status == 503 && r.detail == "The server cannot read its database right now: its PostgreSQL cannot be reached.",
            "\(r.status) \(r.text)")
        #expect(try s.client(nil).get("/health").status == 503)
        // A scrape still answers, and says the database is away.
        let metrics = try s.client(nil).get("/metrics")
        #expect(metrics.status == 200 && metrics.text.contains("\nargus_database_up 0"), "\(metrics.status) \(metrics.text.prefix(300))")
        #expect(metrics.text.contains("argus_events_ingested_total"))
        // The live stream is closed rather than read as live while nothing can come; a new one is told why.
        let closing = Date()
        while live.ended == nil, Date().timeIntervalSince(closing) < 3 { usleep(50_000) }
        #expect(live.ended != nil, "the stream stayed open through the outage")
        let refused = SSECollector(url: s.url + APIPath.sse([.batch("g")]), token: token, lastEventID: "0")
        while refused.ended == nil, Date().timeIntervalSince(closing) < 10 { usleep(50_000) }
        #expect(
            refused.ended
                == .refused(status: 503, detail: "The server cannot read its database right now: its PostgreSQL cannot be reached."),
            "\(String(describing: refused.ended))")
        Thread.sleep(forTimeInterval: max(0, 4 - Date().timeIntervalSince(closing)))
        try TestPostgres.psql(admin, "ALTER DATABASE \(name) ALLOW_CONNECTIONS true")
        // The run was not heard because the server could not store it: like after a restart, it gets a full
        // timeout from the end of the outage before it can be called stalled.
        Thread.sleep(forTimeInterval: 1.5)
        // (Up to 2 s after it is back, the replica's next attempt to connect may still be due: `ConnectPacing`.)
        let reopened = Date()
        var read = try c.get("/api/batches/g")
        while read.status != 200, Date().timeIntervalSince(reopened) < 5 {
            usleep(100_000)
            read = try c.get("/api/batches/g")
        }
        #expect(read.status == 200 && read.json?["status"] == "running", "\(read.status) \(read.text)")
        let back = Date()
        while try c.post("/api/events", json: Ev.make("log_line", batch: "g", job: "j", data: ["line": "back"])).status != 200 {
            #expect(Date().timeIntervalSince(back) < 5, "writes did not work again")
            if Date().timeIntervalSince(back) >= 5 { return }
            usleep(100_000)
        }
        #expect(try c.mustGet("/api/batches/g")["status"] == "running")
        #expect(try s.client(nil).get("/health").status == 200)
        #expect(try s.client(nil).get("/metrics").text.contains("\nargus_database_up 1"))
        // Resumed from its last id, the stream carries what came since, once.
        let resumed = SSECollector(
            url: s.url + APIPath.sse([.batch("g")]), token: token, lastEventID: live.dataEvents.last?.id ?? "0")
        defer { resumed.stop() }
        try resumed.wait("the line sent after the outage") { evs in evs.contains { $0.data.contains("\"back\"") } }
        #expect(resumed.dataEvents.filter { $0.type == "batch_start" }.isEmpty)
        #expect(!s.log.contains("internal error"))
    }

    @Test(
        "PostgreSQL stops answering (a network cut with no reset): /health says so within seconds, /metrics still answers with argus_database_up 0, live streams end; all is back when it answers"
    )
    func databaseSilent() throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let (relay, relayedURL) = try db.relayed()
        defer { relay.stop() }
        // The stall check runs five times a second: the silence finds it waiting on the database.
        let s = try TestServer(
            env: ["ARGUS_WATCHDOG_INTERVAL_S": "0.2"],
            replicaOf: relayedURL)
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "h"))
        let live = SSECollector(url: s.url + APIPath.sse([.batch("h")]), token: token, lastEventID: "0")
        defer { live.stop() }
        // Its summary too: the stream is then live, its opening reads done (one still under way when the database
        // froze would hold the stream until TCP gave up; its client's idle timeout ends it).
        try live.wait("batch_start and the summary") { evs in
            evs.contains { $0.type == "batch_start" } && evs.contains { $0.type == SummaryFrame.eventType }
        }
        let probe = s.client(nil)
        #expect(try probe.get("/health").status == 200)
        relay.freeze()
        defer { relay.thaw() }
        // At once, while a recent answer still stands for the database: the scrape's own reads are bounded too.
        let scraped = Date()
        let first = try probe.get("/metrics")
        #expect(Date().timeIntervalSince(scraped) < 8, "/metrics took \(Date().timeIntervalSince(scraped)) s")
        #expect(first.status == 200 && first.text.contains("\nargus_database_up 0"), "\(first.status)")
        Thread.sleep(forTimeInterval: 1.2)  // past the second in which a recent answer stands for the database
        // Before: each of these waited for the database, as long as it stayed silent (here, the client's 30 s).
        for _ in 0..<2 {
            let asked = Date()
            let h = try probe.get("/health")
            #expect(Date().timeIntervalSince(asked) < 8, "/health took \(Date().timeIntervalSince(asked)) s")
            // "no reply within 5 s", or, when the scrape above holds the reader and a new one cannot connect, "its
            // PostgreSQL cannot be reached".
            #expect(h.status == 503 && h.detail.hasPrefix("The database does not answer: "), "\(h.status) \(h.text)")
        }
        let asked = Date()
        let m = try probe.get("/metrics")
        #expect(Date().timeIntervalSince(asked) < 8, "/metrics took \(Date().timeIntervalSince(asked)) s")
        #expect(m.status == 200 && m.text.contains("\nargus_database_up 0"), "\(m.status) \(m.text.prefix(300))")
        #expect(m.text.contains("argus_events_ingested_total"))
        // The watchdog's look finds it silent too: the live stream ends rather than read as live. (Its look once ran
        // in the same loop as the stall check, which could itself wait on the silent database and never look: ci20.)
        let ending = Date()
        while live.ended == nil, Date().timeIntervalSince(ending) < 10 { usleep(50_000) }
        #expect(live.ended != nil, "the stream stayed open while the database said nothing")
        relay.thaw()
        let back = Date()
        while try probe.get("/health").status != 200, Date().timeIntervalSince(back) < 15 { usleep(200_000) }
        #expect(try probe.get("/health").status == 200)
        #expect(try probe.get("/metrics").text.contains("\nargus_database_up 1"))
        try s.client(token).mustPost(Ev.make("log_line", batch: "h", job: "j", data: ["line": "back"]))
    }

    @Test(
        "a replica's connections to PostgreSQL go silent (a NAT that forgot them): a POST is done on new ones after ARGUS_PG_STATEMENT_TIMEOUT_S, not held for ever"
    )
    func silentConnections() throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let (relay, relayedURL) = try db.relayed()
        defer { relay.stop() }
        let s = try TestServer(env: ["ARGUS_PG_STATEMENT_TIMEOUT_S": "2"], replicaOf: relayedURL)
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "w"))
        // Every connection open now stays open and passes nothing; new ones carry. Before: the POST waited for ever
        // (here until the thaw, after 25 s).
        relay.freezeOpen()
        DispatchQueue.global().asyncAfter(deadline: .now() + 25) { relay.thaw() }
        let asked = Date()
        let r = try c.post("/api/events", json: Ev.make("log_line", batch: "w", job: "j", data: ["line": "after the silence"]))
        let took = Date().timeIntervalSince(asked)
        #expect(r.status == 200, "\(r.status) \(r.text)")
        #expect(took >= 1.9 && took < 12, "the POST took \(took) s")
        let logs = try c.get("/api/jobs/w/j/log-lines")
        #expect(logs.status == 200 && logs.text.contains("after the silence"), "\(logs.status) \(logs.text.prefix(300))")
        #expect(s.log.contains("no answer within 2 s, so the connection was dropped. Trying once more on a new connection."))
        relay.thaw()
        // A database that answers, but where another write holds the write lock longer than the timeout: a POST gets
        // 503 saying so after one timeout (PostgreSQL's lock_timeout, 1.8 s here), neither taken for a silent
        // connection and tried again behind the same lock (two timeouts) nor said to be unreachable; once the lock is
        // free, writes go through.
        let retriesBefore = s.log.components(separatedBy: "Trying once more on a new connection").count
        db.holdWriteLock(seconds: 8)
        Thread.sleep(forTimeInterval: 1)
        let held = Date()
        let refused = try c.post("/api/events", json: Ev.make("log_line", batch: "w", job: "j", data: ["line": "behind the lock"]))
        let waited = Date().timeIntervalSince(held)
        #expect(waited >= 1.7 && waited < 3.5, "the POST took \(waited) s")
        #expect(
            refused.status == 503
                && refused.detail
                    == "The server cannot write to its database: another process holds the database's write lock; nothing from this request was stored.",
            "\(refused.status) \(refused.text)")
        #expect(s.log.components(separatedBy: "Trying once more on a new connection").count == retriesBefore, "\(s.log)")
        let free = Date()
        while try c.post("/api/events", json: Ev.make("log_line", batch: "w", job: "j", data: ["line": "lock free"])).status != 200,
            Date().timeIntervalSince(free) < 20
        {
            usleep(500_000)
        }
        #expect(try c.get("/api/jobs/w/j/log-lines").text.contains("lock free"))
    }

    @Test(
        "PostgreSQL out of reach: an idle replica tries to connect about twice a second, not twenty times, and works again within seconds when it is back"
    )
    func outagePaced() throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let (relay, relayedURL) = try db.relayed()
        defer { relay.stop() }
        let s = try TestServer(replicaOf: relayedURL)
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "p"))
        relay.cut()
        Thread.sleep(forTimeInterval: 1)
        let before = relay.connectionsAccepted
        Thread.sleep(forTimeInterval: 6)
        let attempts = relay.connectionsAccepted - before
        // Its two listeners, at most every 2 s each, and the readers, writer and lease together as often: about 12.
        // Before, each read (a revocation check four times a second), ping and lease try opened one: about 120.
        #expect(attempts <= 30, "\(attempts) connection attempts in 6 s")
        let h = try s.client(nil).get("/health")
        #expect(h.status == 503, "\(h.status) \(h.text)")
        relay.restore()
        let back = Date()
        var w = try c.post("/api/events", json: Ev.make("log_line", batch: "p", job: "j", data: ["line": "back"]))
        while w.status != 200, Date().timeIntervalSince(back) < 10 {
            usleep(200_000)
            w = try c.post("/api/events", json: Ev.make("log_line", batch: "p", job: "j", data: ["line": "back"]))
        }
        #expect(w.status == 200, "\(w.status) \(w.text)")
        #expect(Date().timeIntervalSince(back) < 5, "writes came back after \(Date().timeIntervalSince(back)) s")
    }

    @Test(
        "max_connections too short for a replica: its idle readers give back their slots to the writer, so a write is stored, not answered 503 for good"
    )
    func writerBeforeReaders() throws {
        // A role of its own with a connection limit (the cluster's admin is a superuser, whom no limit holds).
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let admin = try #require(TestPostgres.adminURL)
        let role = "lim_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try TestPostgres.psql(admin, "CREATE ROLE \(role) LOGIN PASSWORD 'pw'")
        defer { _ = try? TestPostgres.psql(admin, "DROP ROLE IF EXISTS \(role)") }
        try TestPostgres.psql(admin, "ALTER DATABASE \(db.name) OWNER TO \(role)")
        let url = db.url.replacingOccurrences(
            of: #"//[^@/]*@"#, with: "//\(role):pw@", options: .regularExpression)
        let s = try TestServer(replicaOf: url)
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "w"))
        func held() throws -> [String] {
            try TestPostgres.psql(
                admin, "SELECT application_name FROM pg_stat_activity WHERE usename = '\(role)' ORDER BY 1"
            ).split(separator: "\n").map(String.init)
        }
        /// Reads from 16 threads at once, so that the replica opens as many readers as it keeps.
        func readHard() {
            // A client per thread: one client is one curl handle, which two threads must not share.
            DispatchQueue.concurrentPerform(iterations: 16) { _ in
                let mine = s.client(token)
                for _ in 0..<5 { _ = try? mine.get("/api/batches/w/jobs") }
            }
        }
        readHard()
        let before = try held()
        #expect(before.contains("argus-server reader") && before.contains("argus-server writer"), "\(before)")
        // The role gets one slot fewer than it holds, and the writer's connection is dropped: every slot is taken,
        // by the lease, the listeners and idle readers, and none is left for the writer.
        try TestPostgres.psql(admin, "ALTER ROLE \(role) CONNECTION LIMIT \(before.count - 1)")
        try TestPostgres.psql(
            admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)' AND application_name = 'argus-server writer'"
        )
        let w = try c.post("/api/events", json: Ev.make("log_line", batch: "w", job: "j", data: ["line": "stored"]))
        #expect(w.status == 200, "\(w.status) \(w.text)")
        #expect(try held().contains("argus-server writer"))
        #expect(s.log.contains("closed") && s.log.contains("idle reader connection(s) for the writer or LISTEN"), "\(s.log)")

        // No slot for any reader (they are all dropped, and the limit is what is left): reads, and the reads a
        // write makes, run on the writer's connection instead of answering 503.
        let kept = try held().filter { $0 != "argus-server reader" }.count
        try TestPostgres.psql(admin, "ALTER ROLE \(role) CONNECTION LIMIT \(kept)")
        try TestPostgres.psql(
            admin,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '\(role)' AND application_name = 'argus-server reader'"
        )
        let dropped = Date()
        while try held().contains("argus-server reader") && Date().timeIntervalSince(dropped) < 5 { usleep(50_000) }
        let r = try c.get("/api/batches/w/jobs")
        #expect(r.status == 200, "\(r.status) \(r.text)")
        let w2 = try c.post("/api/events", json: Ev.make("log_line", batch: "w", job: "j", data: ["line": "stored too"]))
        #expect(w2.status == 200, "\(w2.status) \(w2.text)")
        #expect(!(try held().contains("argus-server reader")))
    }

    @Test("a database with another application's tables is refused in one sentence naming them, and nothing is made in it")
    func anotherApplicationsDatabase() throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        try TestPostgres.psql(
            db.url, "CREATE TABLE orders(id INT); CREATE TABLE customers(id INT); CREATE SCHEMA app; CREATE VIEW app.v AS SELECT 1")
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["token", "create", "--user", "alice", "--init", "--database-url", db.url])
        #expect(rc == 1, "\(err)")
        #expect(
            err.contains(
                "it holds tables, views or sequences Argus did not make (customers, orders, app.v): give Argus a database of its own."),
            "\(err)")
        #expect(try TestPostgres.psql(db.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "2")
        // A sequence alone is another application's too.
        let seq = try TestPostgres.freshDatabase()
        defer { seq.drop() }
        try TestPostgres.psql(seq.url, "CREATE SEQUENCE invoice_no")
        let (seqRC, _, seqErr) = try runTool(
            Binaries.path("argus-server"), ["token", "create", "--user", "alice", "--init", "--database-url", seq.url])
        #expect(seqRC == 1 && seqErr.contains("(invoice_no)"), "\(seqErr)")
        // An empty one is set up as before.
        let empty = try TestPostgres.freshDatabase()
        defer { empty.drop() }
        let (ok, _, okErr) = try runTool(
            Binaries.path("argus-server"), ["token", "create", "--user", "alice", "--init", "--database-url", empty.url])
        #expect(ok == 0, "\(okErr)")
    }

    @Test("choosing the database: --data-dir on the command line beats ARGUS_DATABASE_URL; both flags together are refused")
    func choosingTheDatabase() throws {
        let pg = try TestServer()
        let url = try #require(pg.databaseURL)
        let sqlite = try TestServer(sqlite: true)
        let bin = Binaries.path("argus-server")
        let (rc, out, err) = try runTool(
            bin, ["token", "create", "--user", "bob", "--data-dir", sqlite.dataDir.path], env: ["ARGUS_DATABASE_URL": url])
        #expect(rc == 0, "\(err)")
        #expect(try sqlite.client(out.trimmingCharacters(in: .whitespacesAndNewlines)).get("/api/batches").status == 200)
        #expect(try pg.client(out.trimmingCharacters(in: .whitespacesAndNewlines)).get("/api/batches").status == 401)
        // Without --data-dir the variable decides.
        let (rc2, out2, _) = try runTool(bin, ["token", "create", "--user", "carl"], env: ["ARGUS_DATABASE_URL": url])
        #expect(rc2 == 0)
        #expect(try pg.client(out2.trimmingCharacters(in: .whitespacesAndNewlines)).get("/api/batches").status == 200)
        let (rc3, _, err3) = try runTool(bin, ["token", "list", "--data-dir", "/tmp", "--database-url", url])
        #expect(rc3 != 0 && err3.contains("Give either --data-dir (SQLite) or --database-url (PostgreSQL), not both."), "\(err3)")
        // A database that is not Argus's (a mistyped name, the maintenance one) is not made Argus's by a listing.
        let empty = try TestPostgres.freshDatabase()
        defer { empty.drop() }
        let (rc4, _, err4) = try runTool(bin, ["token", "list", "--database-url", empty.url])
        #expect(rc4 == 1 && err4.contains("no Argus database at ") && err4.contains("start `argus-server serve` on it first."), "\(err4)")
        let (rc5, _, err5) = try runTool(bin, ["token", "create", "--user", "dana", "--database-url", empty.url])
        #expect(rc5 == 1 && err5.contains("(or pass --init to create one)."), "\(err5)")
        let tables = try TestPostgres.psql(empty.url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        #expect(tables.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "\(tables)")
    }
}
