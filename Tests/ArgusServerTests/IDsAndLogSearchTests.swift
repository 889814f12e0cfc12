import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Ids of any text, and log search (issue 9: items 2 and 15)", .ownThread)
struct IDsAndLogSearchTests {
    /// Names a user may well choose: spaces, non-ASCII, and the characters URLs and channel lists give a meaning.
    static let batchID = "my run ü 東京 50+1 a:b,c"
    static let jobID = "fold #2? of/3 ✓ 50% x:y,z"

    @Test("a batch and job named with spaces, non-ASCII, '#', '?', '/', ':', ',' and '%' are reachable on every route")
    func everyRouteReachesOddIDs() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let (b, j) = (Self.batchID, Self.jobID)
        try c.mustPost(Ev.make("batch_start", batch: b, data: ["command": "python train.py"]))
        try c.mustPost(Ev.make("job_start", batch: b, job: j))
        try c.mustPost(Ev.epoch(b, j, 0))
        try c.mustPost(Ev.make("log_line", batch: b, job: j, data: ["line": "hello from an odd name", "level": "info"]))
        #expect(try c.mustGet(APIPath.batch(b))["id"] == .string(b))
        #expect(try c.mustGet(APIPath.jobs(b)).arrayValue?.first?["id"] == .string(j))
        #expect(try c.mustGet(APIPath.job(b, j))["id"] == .string(j))
        #expect(try c.mustGet(APIPath.job(b, j) + "/epochs").arrayValue?.count == 1)
        #expect(try c.mustGet(APIPath.jobLogLines(b, j, limit: 10)).arrayValue?.first?["line"] == "hello from an odd name")
        #expect(try c.mustGet(APIPath.batch(b) + "/log-lines").arrayValue?.count == 1)
        #expect(try c.mustGet(APIPath.batch(b) + "/resources").arrayValue != nil)
        let view = try c.mustGet(APIPath.view(b, j))
        #expect(view["batch"]?["id"] == .string(b) && view["job"]?["id"] == .string(j))
        #expect(try c.mustGet(APIPath.stopRequested(b))["stop_requested"] == false)
        #expect(try c.post(APIPath.stop(b), json: [:]).status == 200)
        #expect(try c.mustGet(APIPath.stopRequested(b))["stop_requested"] == true)
        // Percent-encoding as another client writes it (lower-case hex) reaches the same batch; a near miss does not.
        #expect(try c.get("/api/batches/my%20run%20%c3%bc%20%e6%9d%b1%e4%ba%ac%2050%2b1%20a%3ab%2cc").status == 200)
        let miss = try c.get("/api/batches/my%20run")
        #expect(miss.status == 404)
        #expect(miss.detail == "Batch 'my run' not found.")
    }

    @Test("two spellings of one name (é, or e + U+0301) are one batch and one job: stored once in NFC, read by either")
    func canonicalIDs() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let (nfcB, nfdB) = ("caf\u{E9} run", "cafe\u{301} run")
        let (nfcJ, nfdJ) = ("j\u{C5}", "jA\u{30A}")
        try c.mustPost(Ev.epoch(nfcB, nfcJ, 0, train: 1))
        try c.mustPost(Ev.epoch(nfdB, nfdJ, 1, train: 2))
        try c.mustPost(Ev.epoch(nfdB, nfcJ, 2, train: 3))
        func bytes(_ j: JSON?) -> [UInt8]? { j?.stringValue.map { Array($0.utf8) } }
        let ours = (try c.mustGet("/api/batches").arrayValue ?? []).filter { $0["id"]?.stringValue?.hasPrefix("caf") == true }
        #expect(ours.count == 1)
        #expect(bytes(ours.first?["id"]) == Array(nfcB.utf8))
        for (b, j) in [(nfcB, nfcJ), (nfdB, nfdJ), (nfcB, nfdJ)] {
            let jobs = try c.mustGet(APIPath.jobs(b)).arrayValue ?? []
            #expect(jobs.count == 1 && bytes(jobs.first?["id"]) == Array(nfcJ.utf8))
            #expect(try c.mustGet(APIPath.job(b, j) + "/epochs").arrayValue?.map { $0["train_loss"] } == [1, 2, 3])
        }
    }

    @Test("a batch_id with '/', '?', '#' or '%', and a batch or job id '.' or '..', is refused at ingest saying why")
    func urlDelimitersRefusedInBatchIDs() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        for bad in ["team/run-1", "run?1", "run#1", "a%41", "50%"] {
            let r = try c.post("/api/events", json: Ev.make("batch_start", batch: bad))
            #expect(r.status == 422, "\(bad)")
            #expect(r.detail.contains("batch_id '\(bad)' contains"), "\(r.detail)")
            #expect(r.detail.contains("Stop could never reach this run"))
        }
        // The same characters are fine in a job id: clients encode it, and the SDK never puts it in a URL.
        try c.mustPost(Ev.make("job_start", batch: "ok", job: "a/b?c#d%41"))
        #expect(try c.mustGet(APIPath.job("ok", "a/b?c#d%41"))["id"] == "a/b?c#d%41")
        // '.' and '..' are removed from URL paths by libcurl and browsers, so such a batch or job could never be opened.
        for dots in [".", ".."] {
            let batch = try c.post("/api/events", json: Ev.make("batch_start", batch: dots))
            #expect(batch.status == 422 && batch.detail.contains("batch_id '\(dots)' cannot be used"), "\(batch.detail)")
            #expect(batch.detail.contains("could never be opened"))
            let job = try c.post("/api/events", json: Ev.make("job_start", batch: "ok", job: dots))
            #expect(job.status == 422 && job.detail.contains("job_id '\(dots)' cannot be used"), "\(job.detail)")
            // In a batch of events only that item is refused, with the same sentence.
            let mixed = try c.postBatch([Ev.make("job_start", batch: "ok", job: "fine"), Ev.make("job_start", batch: "ok", job: dots)])
            #expect(mixed.json?["accepted"]?.intValue == 1, "\(mixed.text)")
            #expect(mixed.text.contains("job_id '\(dots)' cannot be used"), "\(mixed.text)")
        }
        // Dots inside a longer name are fine.
        try c.mustPost(Ev.make("job_start", batch: "ok", job: "..a"))
        #expect(try c.mustGet(APIPath.job("ok", "..a"))["id"] == "..a")
    }

    @Test("SSE channels carry ids with ':' and ',' percent-encoded; frames name the channel as subscribed")
    func channelsWithOddIDs() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        let (b, j) = (Self.batchID, Self.jobID)
        try c.mustPost(Ev.make("job_start", batch: b, job: j))
        try c.mustPost(Ev.make("job_start", batch: b, job: "other"))
        let channel = Channel.job(b, j)
        let sub = SSECollector(url: s.url + APIPath.sse([channel]), token: token, lastEventID: "0")
        defer { sub.stop() }
        try sub.wait(until: { $0.contains { $0.type == "job_start" } })
        let hello = try #require(sub.received.first { $0.type == "hello" })
        #expect(try JSON.parse(hello.data)["channels"] == [.string(channel.name)])
        let frames = sub.dataEvents.compactMap { try? JSON.parse($0.data) }
        #expect(frames.count == 1, "only the subscribed job: \(frames)")
        #expect(frames.first?["job_id"] == .string(j))
        #expect(frames.first?["channel"] == .string(channel.name))
        #expect(
            channel.name
                == "job:my%20run%20%C3%BC%20%E6%9D%B1%E4%BA%AC%2050%2B1%20a%3Ab%2Cc:fold%20%232%3F%20of%2F3%20%E2%9C%93%2050%25%20x%3Ay%2Cz"
        )
        // A bad escape is a clear 422, not a silent subscription to nothing.
        let bad = try c.get("/api/sse?channels=" + IDEncoding.encode("batch:50%zz"))
        #expect(bad.status == 422)
        #expect(bad.detail == "Channel 'batch:50%zz' has a bad percent-escape: write '%' inside an id as %25.")
    }

    /// 500 lines; five of them (ids far older than the 200-line tail) say ERROR in some case or have level error.
    static func seedLog(_ c: HTTPClient, batch: String = "b", job: String = "j") throws {
        try c.mustPost(Ev.make("job_start", batch: batch, job: job))
        let special: [Int: (String, String)] = [
            3: ("info", "step 3: ERROR in shard 1"), 40: ("error", "step 40: loss is nan"),
            77: ("warning", "step 77: retrying after error"), 150: ("info", "step 150: Error budget spent"),
            420: ("info", "step 420: eRRoR again"),
        ]
        var events: [JSON] = []
        for i in 0..<500 {
            let (level, line) = special[i] ?? ("info", "step \(i): fine")
            events.append(Ev.make("log_line", batch: batch, job: job, data: ["line": .string(line), "level": .string(level)]))
        }
        for chunk in stride(from: 0, to: events.count, by: 250) {
            #expect(try c.postBatch(Array(events[chunk..<chunk + 250])).json?["accepted"]?.intValue == 250)
        }
    }

    @Test("q= searches the whole history on both log-lines routes: case-insensitive, text or level, paged by limit and before_id")
    func logSearch() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seedLog(c)
        func lines(_ path: String) throws -> [String] {
            try c.mustGet(path).arrayValue?.compactMap { $0["line"]?.stringValue } ?? []
        }
        let all = [
            "step 420: eRRoR again", "step 150: Error budget spent", "step 77: retrying after error",
            "step 40: loss is nan", "step 3: ERROR in shard 1",
        ]
        #expect(try lines("/api/jobs/b/j/log-lines?q=ERROR") == all)
        #expect(try lines("/api/batches/b/log-lines?q=error") == all)
        #expect(try lines("/api/batches/b/log-lines?job_id=j&q=eRrOr") == all)
        // Paging: two at a time, each page before the oldest id of the last.
        let first = try c.mustGet("/api/jobs/b/j/log-lines?q=error&limit=2").arrayValue ?? []
        #expect(first.compactMap { $0["line"]?.stringValue } == Array(all[0..<2]))
        let oldest = try #require(first.last?["id"]?.intValue)
        #expect(try lines("/api/jobs/b/j/log-lines?q=error&limit=2&before_id=\(oldest)") == Array(all[2..<4]))
        #expect(try lines("/api/jobs/b/j/log-lines?q=shard%201") == ["step 3: ERROR in shard 1"])
        // A query string as forms, Python's urlencode and requests' params= write it: + is a space, %2B a plus.
        #expect(try lines("/api/jobs/b/j/log-lines?q=shard+1") == ["step 3: ERROR in shard 1"])
        #expect(try lines("/api/batches/b/log-lines?job_id=j&q=in+shard") == ["step 3: ERROR in shard 1"])
        try c.mustPost(Ev.make("log_line", batch: "b", job: "j", data: ["line": "lr 1e-3 + warmup"]))
        #expect(try lines("/api/jobs/b/j/log-lines?q=%2B+warmup") == ["lr 1e-3 + warmup"])
        #expect(try lines("/api/jobs/b/j/log-lines?q=3+%2B") == ["lr 1e-3 + warmup"])
        #expect(try lines("/api/jobs/b/j/log-lines?q=nothing-like-this").isEmpty)
        // Without q nothing changed: the newest 200.
        #expect(try c.mustGet("/api/jobs/b/j/log-lines").arrayValue?.count == LogFilter.pageSize)
        let long = try c.get("/api/jobs/b/j/log-lines?q=" + String(repeating: "x", count: 300))
        #expect(long.status == 422)
        #expect(long.detail == "q must be at most 256 characters.")
    }
}
