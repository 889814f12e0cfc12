import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

/// The data dir on a disk that fills up, or whose file system fails under the running server (issue 11): writes get
/// 503 with one sentence and Retry-After, never a 500; nothing is half-written; reads go on; /health says so; and
/// the server recovers on its own once the disk can be written again. Real servers on real (small) disks.
@Suite("Storage faults: a full disk, a read-only data dir", .serialized, .enabled(if: TestBackend.sqlite), .ownThread)
struct StorageFaultTests {
    /// An I/O error met while flushing a commit leaves it unknown whether the commit reached the disk.
    static let ioErrorDetails = [
        "The server cannot write to its database: the disk reports an I/O error, so this request may or may not have been stored.",
        // Kernels that mark the whole file system read-only on an error (statvfs says so).
        "The server cannot write to its database: its data directory is read-only, so this request may or may not have been stored.",
    ]

    /// A directory for the server's log and output, off the disk under test.
    static func logDir() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("argus-logs-\(UUID().uuidString.prefix(8))")
    }

    /// Waits until `predicate` holds, polling; throws after `timeout`.
    static func eventually(_ what: String, timeout: TimeInterval = 20, _ predicate: () throws -> Bool) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try predicate() { return }
            usleep(20_000)
        }
        throw TestFailure("timed out waiting for \(what)")
    }

    @Test(
        "a disk that fills up under four ingesting clients: 503 with the sentence and Retry-After, all-or-nothing batches, reads and /health, then recovery with ids going on",
        .enabled(if: SmallDisk.unavailable == nil, "mounting a tmpfs needs root"))
    func fullDisk() throws {
        let disk = try SmallDisk(kilobytes: 3072)
        let logs = Self.logDir()
        defer { try? FileManager.default.removeItem(at: logs) }
        let s = try TestServer(
            env: ["ARGUS_INGEST_RATE": "0", "ARGUS_ACTION_RATE": "0"], dataDir: disk.mountPoint.appendingPathComponent("data"),
            logDir: logs)
        defer { _ = s.stop() }
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "full", data: ["n_total_jobs": 4]))
        // Batches to Stop once the disk is full (below); one run's Stop can only be written once.
        let toStop = (0..<5).map { "full-stop-\($0)" }
        for b in toStop { try c.mustPost(Ev.make("batch_start", batch: b)) }
        let (agentID, agent) = try AgentOwnershipTests.register(s, token)
        let live = SSECollector(url: s.url + APIPath.sse([.batch("full")]), token: token, lastEventID: "0")
        defer { live.stop() }
        try live.waitUntilConnected()

        // Four clients post batches of 20 events (a third of them padded log lines) while the disk fills up.
        let load = Ingesters(url: s.url, token: token, clients: 4, batch: "full", batchSize: 20, lineBytes: 300)
        try Self.eventually("events to be acknowledged") { load.acknowledged.count >= 200 }
        try disk.fill()
        try Self.eventually("batches to be refused") { load.refusals.count >= 12 }
        load.stop()
        var acked = load.acknowledged
        let refusals = load.refusals
        for r in refusals {
            #expect(r.status == 503 && r.detail == SmallDisk.fullDetail && r.retryAfter == "10", "\(r)")
        }
        // Whatever room SQLite's WAL file still holds is used up by small writes; then every write of that size fails,
        // Stop (an event too) included. Stop and a share link are smaller writes than a log line (no log index entry):
        // they may still fit until the last room is gone, or fit again when a checkpoint lets the WAL start over.
        acked.merge(try disk.fillUntilWritesFail(c, batch: "full")) { a, _ in a }
        var stopped = toStop[0]
        var stop = try c.post(APIPath.stop(stopped), json: [:])
        for b in toStop.dropFirst() where stop.status == 200 {
            acked.merge(try disk.fillUntilWritesFail(c, batch: "full")) { a, _ in a }
            stopped = b
            stop = try c.post(APIPath.stop(b), json: [:])
        }
        #expect(stop.status == 503 && stop.detail == SmallDisk.fullDetail && stop.headers["retry-after"] == "10", "\(stop.text)")
        var share = try c.post(APIPath.shares("full"), json: [:])
        for _ in 0..<100 where share.status == 201 { share = try c.post(APIPath.shares("full"), json: [:]) }
        #expect(share.status == 503 && share.detail == SmallDisk.fullDetail && share.headers["retry-after"] == "10", "\(share.text)")
        let health = try HTTPClient(baseURL: s.url, token: nil).get("/health")
        #expect(health.status == 503 && health.json?["status"] == "unavailable", "\(health.text)")
        #expect(health.detail.hasPrefix("The server cannot write to its database: the disk is full;"), "\(health.text)")
        // An agent's poll is a GET that writes (it notes the agent was seen): it says that it could not write, as
        // /health does, not that the database cannot be read (helper-87).
        let poll = try agent.get("/api/agents/\(agentID)/jobs")
        #expect(poll.status == 503 && poll.detail == SmallDisk.fullDetail, "\(poll.text)")

        // Reads go on. The live stream carried stored events only, and was closed once writes failed rather than read
        // as live; a stream asked for meanwhile is told why.
        #expect(try c.get(APIPath.batch("full")).status == 200)
        #expect(try c.mustGet(APIPath.stopRequested(stopped))["stop_requested"] == false)
        try Self.eventually("the live stream to be closed", timeout: 10) { live.ended != nil }
        let carried = live.dataEvents.map(\.id)
        let refused = SSECollector(url: s.url + APIPath.sse([.batch("full")]), token: token, lastEventID: carried.last ?? "0")
        try Self.eventually("the new stream's answer") { refused.ended != nil }
        #expect(
            refused.ended
                == .refused(
                    status: 503,
                    detail: "The server cannot store new events right now: the disk is full."),
            "\(String(describing: refused.ended))")

        // A sweep run by hand then says what to do, not only what is wrong; or, when what it deletes fits in what room
        // SQLite finds (the WAL's own pages), it simply works.
        let dataDir = disk.mountPoint.appendingPathComponent("data").path
        let (sweepRC, _, sweepErr) = try runTool(
            Binaries.path("argus-server"), ["retention", "sweep", "--data-dir", dataDir, "--log-line-days", "0.00001"])
        #expect(
            sweepRC == 0
                || sweepErr.hasSuffix(
                    "the disk is full; free some space on the disk that holds \(dataDir) (even deleting old events needs a little room), then run this again.\n"
                ),
            "\(sweepErr)")

        // Space returns: /health sees it by itself. Every acknowledged event is stored, and no event of a refused
        // request; the summaries are those of the stored events, folded afresh; the closed stream carried stored ones.
        try disk.free()
        try Self.eventually("/health to be ok again", timeout: 10) {
            try HTTPClient(baseURL: s.url, token: nil).get("/health").status == 200
        }
        let stored = try s.storedEvents(token, batch: "full")
        var ids: [String: Int64] = [:]
        for e in stored where e["event_type"] != "share_created" { ids[e["event_id"]!.stringValue!] = Int64(e["id"]!.intValue!) }
        #expect(acked.allSatisfy { ids[$0.key] == $0.value }, "every acknowledged event is stored under its id")
        #expect(ids.count == acked.count + 1, "\(ids.count) stored, \(acked.count) acknowledged (and batch_start)")
        let refusedIDs = Set(refusals.flatMap(\.eventIDs))
        #expect(refusedIDs.allSatisfy { ids[$0] == nil }, "an event of a refused batch was stored")
        #expect(try s.summaries(token, batch: "full") == s.refoldedSummaries(token, batch: "full"))
        let storedIDs = Set(stored.compactMap { $0["id"]?.intValue.map(String.init) })
        #expect(Set(carried).isSubset(of: storedIDs) && Set(carried).count == carried.count)
        // The refused batch goes in whole, ids go on above all stored.
        let resent = try c.postBatch(refusals[0].events)
        #expect(resent.status == 200 && resent.json?["accepted"]?.intValue == refusals[0].events.count, "\(resent.text)")
        let newIDs = (resent.json?["results"]?.arrayValue ?? []).compactMap { $0["db_id"]?.intValue }
        #expect(newIDs.min() ?? 0 > ids.values.max() ?? .max)
        #expect(try c.post(APIPath.stop("full"), json: [:]).status == 200)
        // Resumed from the last id the closed stream carried: the rest, and what came since, once each.
        let resumed = SSECollector(url: s.url + APIPath.sse([.batch("full")]), token: token, lastEventID: carried.last ?? "0")
        defer { resumed.stop() }
        try resumed.wait(timeout: 10, "the new events on the resumed stream") { evs in
            evs.contains { $0.type == "stop_requested" } && newIDs.allSatisfy { id in evs.contains { $0.id == String(id) } }
        }
        let all = carried + resumed.dataEvents.map(\.id)
        #expect(Set(all).count == all.count && storedIDs.isSubset(of: Set(all)), "a gap or a duplicate across the resume")
        #expect(!s.log.contains("internal error"), "\(s.log.suffix(3000))")
        #expect(s.log.contains("Writes to the database fail because the disk is full"))
        #expect(s.log.contains("Writes to the database work again"))
    }

    @Test(
        "a nearly full disk: /health and a new stream say so while small writes still work, instead of flapping with each; room again: 200",
        .enabled(if: SmallDisk.unavailable == nil, "mounting a tmpfs needs root"))
    func nearlyFullDisk() throws {
        let disk = try SmallDisk(kilobytes: 4096)
        let s = try TestServer(dataDir: disk.mountPoint.appendingPathComponent("data"))
        defer { _ = s.stop() }
        let token = try s.token()
        let c = s.client(token)
        // Filled as soon as the server listens, and then its background checkpoints (every 100 ms) get time to run:
        // they must not take the room small writes need. A new database's schema sat in the WAL until the first of
        // them copied it to the file (~140 KB): under load that came after the fill, and every write failed.
        try disk.fill(leavingKilobytes: 128)
        Thread.sleep(forTimeInterval: 0.3)
        try c.mustPost(Ev.make("batch_start", batch: "low"))
        let health = try HTTPClient(baseURL: s.url, token: nil).get("/health")
        #expect(
            health.status == 503
                && health.detail
                    == "The disk that holds the database is nearly full (under 256 KB free): writes may fail at any moment, and live streams wait until there is room.",
            "\(health.text)")
        let stream = try c.get(APIPath.sse([.batch("low")]))
        #expect(
            stream.status == 503
                && stream.detail == "The server's disk is nearly full (under 256 KB free): live updates wait until there is room.",
            "\(stream.text)")
        let small = try c.post("/api/events", json: Ev.make("log_line", batch: "low", data: ["line": "still fits"]))
        #expect(small.status == 200, "\(small.text) with \(disk.freeBytes) bytes free; \(s.log.suffix(2000))")
        #expect(try HTTPClient(baseURL: s.url, token: nil).get("/health").status == 503, "a small write that fits does not end it")
        try disk.free()
        #expect(try HTTPClient(baseURL: s.url, token: nil).get("/health").status == 200)
    }

    @Test(
        "the file system fails under the running server (errors=remount-ro): writes 503 with the sentence, reads go on; after a check and a restart all acknowledged before the failure is there",
        .enabled(if: SmallDisk.ext4Unavailable == nil, "loop-mounting an ext4 image needs root and a loop device"))
    func fileSystemFails() throws {
        let disk = try SmallDisk(kilobytes: 16384, ext4: true)
        let logs = Self.logDir()
        defer { try? FileManager.default.removeItem(at: logs) }
        let dataDir = disk.mountPoint.appendingPathComponent("data")
        let s = try TestServer(env: ["ARGUS_INGEST_RATE": "0"], dataDir: dataDir, logDir: logs)
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "ro"))
        let load = Ingesters(url: s.url, token: token, clients: 2, batch: "ro", batchSize: 10)
        try Self.eventually("events to be acknowledged") { load.acknowledged.count >= 100 }
        let ackedBefore = load.acknowledged
        try disk.failFileSystem()
        try Self.eventually("batches to be refused") { load.refusals.count >= 6 }
        load.stop()
        let acked = load.acknowledged
        let refusals = load.refusals
        let detail = refusals.first?.detail ?? ""
        #expect(Self.ioErrorDetails.contains(detail), "\(detail)")
        for r in refusals { #expect(r.status == 503 && r.detail == detail && r.retryAfter == "10", "\(r)") }
        let stop = try c.post(APIPath.stop("ro"), json: [:])
        #expect(stop.status == 503 && stop.detail == detail, "\(stop.text)")
        #expect(try c.get(APIPath.jobs("ro")).status == 200)
        let health = try HTTPClient(baseURL: s.url, token: nil).get("/health")
        #expect(health.status == 503, "\(health.text)")
        #expect(!s.log.contains("internal error"), "\(s.log.suffix(3000))")
        #expect(s.stop() < 10)
        #expect(s.process.terminationReason == .exit && s.process.terminationStatus == 0, "a clean exit: \(s.log.suffix(2000))")

        // What an operator does: unmount, check, mount again, start the server. Every acknowledged event is there,
        // none of a refused request, the summaries re-fold, and ids go on above every stored one.
        try disk.repair()
        let again = try TestServer(env: ["ARGUS_INGEST_RATE": "0"], dataDir: dataDir, logDir: logs)
        defer { _ = again.stop() }
        var ids: [String: Int64] = [:]
        for e in try again.storedEvents(token, batch: "ro") { ids[e["event_id"]!.stringValue!] = Int64(e["id"]!.intValue!) }
        #expect(ackedBefore.allSatisfy { ids[$0.key] == $0.value }, "acknowledged before the disk failed, so stored")
        // The commits of the few milliseconds in which the kernel takes the file system down are uncertain both ways:
        // an fsync that failed may have reached the disk, and ext4 may drop one whose fsync it had reported done. Each
        // is there whole or not at all, under the id it was given.
        #expect(acked.allSatisfy { ids[$0.key] == nil || ids[$0.key] == $0.value })
        for r in refusals {
            let found = r.eventIDs.filter { ids[$0] != nil }.count
            #expect(found == 0 || found == r.eventIDs.count, "\(found) of the \(r.eventIDs.count) events of a refused batch")
        }
        #expect(try again.summaries(token, batch: "ro") == again.refoldedSummaries(token, batch: "ro"))
        let next = try again.client(token).post("/api/events", json: Ev.make("log_line", batch: "ro", data: ["line": "after"]))
        #expect((next.json?["event_id"]?.intValue ?? 0) > ids.values.max() ?? .max, "\(next.text)")
    }

    /// Gives the pages of `table` (found by SQLite's dbstat, page 1 spared) a page type no page has, in the stopped
    /// server's file; returns how many.
    static func damage(_ table: String, in dataDir: URL) throws -> Int {
        let file = dataDir.appendingPathComponent("argus.sqlite").path
        let (pages, pageSize) = try DatabaseQueue(path: file).read { db in
            (
                try Int.fetchAll(db, sql: "SELECT pageno FROM dbstat WHERE name = ? AND pageno > 1", arguments: [table]),
                try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            )
        }
        let fd = open(file, O_WRONLY)
        guard fd >= 0 else { throw TestFailure("cannot open \(file)") }
        defer { close(fd) }
        for p in pages {
            let garbage = [UInt8](repeating: 0xFF, count: 64)
            _ = garbage.withUnsafeBytes { pwrite(fd, $0.baseAddress, 64, off_t((p - 1) * pageSize)) }
        }
        return pages.count
    }

    /// A server that stored what `seed` posts, stopped, had `table`'s pages damaged (`damage`) and was started again on
    /// the same data dir. The caller stops it and removes `dirs`.
    static func restartedDamaged(_ table: String, seed: (HTTPClient) throws -> Void) throws -> (
        server: TestServer, token: String, dirs: [URL]
    ) {
        let logs = Self.logDir()
        let s = try TestServer(logDir: logs)
        let token = try s.token()
        try seed(s.client(token))
        #expect(s.stop() < 10)
        #expect(try Self.damage(table, in: s.dataDir) > 4)
        return (try TestServer(dataDir: s.dataDir, logDir: logs), token, [logs, s.dataDir])
    }

    @Test("a stream replaying a damaged history ends with an error frame that says why, instead of going silent")
    func damagedStream() throws {
        let (again, token, dirs) = try Self.restartedDamaged("events") { c in
            try c.mustPost(Ev.make("batch_start", batch: "b"))
            for chunk in 0..<4 {
                let lines: [JSON] = (0..<200).map {
                    Ev.make("log_line", batch: "b", data: ["line": JSON("line \(chunk * 200 + $0) " + String(repeating: "y", count: 80))])
                }
                #expect(try c.post("/api/events/batch", json: ["events": .array(lines)]).status == 200)
            }
        }
        defer { for d in dirs { try? FileManager.default.removeItem(at: d) } }
        defer { _ = again.stop() }
        let stream = SSECollector(url: again.url + "/api/sse?channels=batch:b", token: token, lastEventID: "0")
        defer { stream.stop() }
        try stream.wait("the stream's error frame") { events in events.contains { $0.type == "error" } }
        #expect(
            stream.received.first { $0.type == "error" }?.data
                == #"{"detail":"The server cannot read its database right now: its database file is damaged (SQLite finds it malformed; restore the data directory from a backup)."}"#
        )
        try Self.eventually("the stream to end") { stream.ended != nil }
        #expect(try HTTPClient(baseURL: again.url, token: nil).get("/health").status == 503)
    }

    @Test(
        "a damaged database file (pages of the batches table overwritten while stopped): reads and writes get 503 with the sentence, never a 500, and /health says so and stays so"
    )
    func damagedFile() throws {
        let (again, token, dirs) = try Self.restartedDamaged("batches") { c in
            var events: [JSON] = []
            for k in 0..<400 { events.append(Ev.make("batch_start", batch: "damaged-\(k)-" + String(repeating: "x", count: 60))) }
            for chunk in stride(from: 0, to: events.count, by: 200) {
                let r = try c.post("/api/events/batch", json: ["events": .array(Array(events[chunk..<chunk + 200]))])
                #expect(r.status == 200, "\(r.text)")
            }
        }
        defer { for d in dirs { try? FileManager.default.removeItem(at: d) } }
        defer { _ = again.stop() }
        let c2 = again.client(token)
        let read =
            "The server cannot read its database right now: its database file is damaged (SQLite finds it malformed; restore the data directory from a backup)."
        let list = try c2.get("/api/batches?limit=1000")
        #expect(list.status == 503 && list.detail == read && list.headers["retry-after"] == "10", "\(list.status) \(list.text)")
        let post = try c2.post(
            "/api/events", json: Ev.make("log_line", batch: "damaged-7-" + String(repeating: "x", count: 60), data: ["line": "x"]))
        #expect(
            post.status == 503
                && post.detail
                    == "The server cannot write to its database: its database file is damaged (SQLite finds it malformed; restore the data directory from a backup); nothing from this request was stored.",
            "\(post.status) \(post.text)")
        // From then on nothing more is written into the damaged file, even where it would miss the bad pages.
        let elsewhere = try c2.post("/api/agents/register", json: ["hostname": "gpu-1", "version": "test"])
        #expect(elsewhere.status == 503 && elsewhere.detail.contains("its database file is damaged"), "\(elsewhere.text)")
        let health = HTTPClient(baseURL: again.url, token: nil)
        let expected =
            "The server cannot use its database: its database file is damaged (SQLite finds it malformed; restore the data directory from a backup)."
        for wait in [0, 3] {
            sleep(UInt32(wait))
            let h = try health.get("/health")
            #expect(h.status == 503 && h.detail == expected, "after \(wait) s: \(h.status) \(h.text)")
        }
        #expect(!again.log.contains("internal error"), "\(again.log.suffix(3000))")
    }

    @Test(
        "a server started on a read-only data dir says so in one sentence and exits 1; once writable it starts with everything",
        .enabled(if: SmallDisk.unavailable == nil, "mounting a tmpfs needs root"))
    func readOnlyAtStart() throws {
        let disk = try SmallDisk(kilobytes: 4096)
        let logs = Self.logDir()
        defer { try? FileManager.default.removeItem(at: logs) }
        let dataDir = disk.mountPoint.appendingPathComponent("data")
        let s = try TestServer(dataDir: dataDir, logDir: logs)
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b"))
        let first = try s.client(token).post("/api/events", json: Ev.make("log_line", batch: "b", data: ["line": "x"]))
        #expect(s.stop() < 10)
        #expect(s.process.terminationReason == .exit && s.process.terminationStatus == 0, "a clean exit: \(s.log.suffix(2000))")
        // Linux refuses to make a file system read-only while a server has its files open for writing; stopped, it can.
        try disk.remount(readOnly: true)
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dataDir.path])
        #expect(rc == 1)
        #expect(
            err
                == "argus-server: Cannot open the database \(dataDir.path)/argus.sqlite: its data directory is read-only; remount it read-write, or move the data directory, then run this again.\n",
            "\(err)")

        try disk.remount(readOnly: false)
        let again = try TestServer(dataDir: dataDir, logDir: logs)
        defer { _ = again.stop() }
        let next = try again.client(token).post("/api/events", json: Ev.make("log_line", batch: "b", data: ["line": "y"]))
        #expect(next.status == 200)
        #expect((next.json?["event_id"]?.intValue ?? 0) > (first.json?["event_id"]?.intValue ?? .max))
    }

    @Test(
        "the database file deleted, or another renamed over it, under the running server: 503 and /health say so, where every write was answered 2xx into a file the next start never opens"
    )
    func fileDeletedOrReplaced() throws {
        let pid = { (s: TestServer) in s.process.processIdentifier }
        let replaced =
            "its database file was deleted or replaced while the server ran (the server still holds the old one open: "
        for how in ["deleted", "renamed over"] {
            let s = try TestServer()
            defer { _ = s.stop() }
            let token = try s.token()
            let c = s.client(token)
            try c.mustPost(Ev.make("batch_start", batch: "b"))
            let path = s.dataDir.appendingPathComponent("argus.sqlite").path
            if how == "deleted" {
                for suffix in ["", "-wal", "-shm"] { try FileManager.default.removeItem(atPath: path + suffix) }
            } else {
                try FileManager.default.copyItem(atPath: path, toPath: path + ".copy")
                #expect(rename(path + ".copy", path) == 0)
            }
            // An idle server finds it on /health, before any write is answered.
            let health = try HTTPClient(baseURL: s.url, token: nil).get("/health")
            #expect(health.status == 503, "\(how): \(health.text)")
            #expect(health.serverDetail?.hasPrefix("The server cannot use its database: " + replaced) == true, "\(how): \(health.text)")
            #expect(health.serverDetail?.contains("/proc/\(pid(s))/fd") == true, "\(how): \(health.text)")
            let r = try c.post("/api/events", json: Ev.make("job_start", batch: "b", job: "j"))
            #expect(r.status == 503 && r.headers["retry-after"] != nil, "\(how): \(r.status) \(r.text)")
            #expect(r.serverDetail?.hasPrefix("The server cannot write to its database: " + replaced) == true, "\(how): \(r.text)")
            #expect(r.serverDetail?.hasSuffix("; nothing from this request was stored.") == true, "\(how): \(r.text)")
            // It stays so: nothing goes to the old file, however long the server runs on.
            #expect(try c.post("/api/events", json: Ev.make("log_line", batch: "b", data: ["line": "x"])).status == 503)
        }
    }

    @Test(
        "a backup renamed over the database of a running server, then a restart: the old -wal and -shm are set aside, so the backup opens whole (they corrupted it)",
        arguments: [true, false])
    func restoredByRename(noticedFirst: Bool) throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "before-backup"))
        let dir = s.dataDir
        let db = dir.appendingPathComponent("argus.sqlite").path
        #expect(s.stop() < 10)
        try FileManager.default.copyItem(atPath: db, toPath: dir.appendingPathComponent("backup.sqlite").path)
        let running = try TestServer(dataDir: dir)
        let c = running.client(token)
        for k in 0..<50 { try c.mustPost(Ev.make("batch_start", batch: "after-backup-\(k)")) }
        #expect(rename(dir.appendingPathComponent("backup.sqlite").path, db) == 0)
        // Noticed by /health before the stop, or not at all until the server exits.
        if noticedFirst { #expect(try HTTPClient(baseURL: running.url, token: nil).get("/health").status == 503) }
        #expect(running.stop() < 10)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(names.filter { $0.hasPrefix("argus.sqlite-wal.orphaned-") }.count == 1, "\(names)")
        #expect(!names.contains("argus.sqlite-wal"), "\(names)")
        let restored = try TestServer(dataDir: dir)
        let r = restored.client(token)
        #expect(try r.get("/api/batches/before-backup").status == 200)
        #expect(try r.get("/api/batches/after-backup-0").status == 404)
        try r.mustPost(Ev.make("batch_start", batch: "after-restore"))
        #expect(restored.stop() < 10)
        let check = try DatabaseQueue(path: db).read { try String.fetchOne($0, sql: "PRAGMA integrity_check") }
        #expect(check == "ok")
    }
}
