import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// A job's best val loss, total epochs and loss spark (`JobFigures`): what the batch screen shows per job, folded
/// on the server so every client shows the same figures.
@Suite("Job figures: best val loss, total epochs, loss spark", .ownThread)
struct JobFiguresTests {
    /// The known curve: epochs 0…99, train_loss = epoch, val_loss = |epoch − 37|/100 + 0.1 (lowest, 0.1, at 37) but
    /// 0.1 again at 80 (a tie: the earlier epoch wins); epoch 20 reports NaN train_loss and −∞ val_loss (skipped: a
    /// −∞ taken as the best would be a bug). job_start says 100 epochs, job_done 90 (job_start wins).
    /// Raw envelope texts, so the non-finite literals reach the server as Python sends them.
    static func curve(_ b: String, _ j: String, ts: String = Timestamp.now().iso) -> (start: String, epochs: [String], done: String) {
        func text(_ e: JSON) -> String { e.serialized() }
        let start = text(Ev.make("job_start", batch: b, job: j, data: ["model": "resnet", "total_epochs": 100], ts: ts))
        var epochs: [String] = []
        for e in 0..<100 where e != 20 {
            let val = e == 80 ? 0.1 : Double(abs(e - 37)) / 100 + 0.1
            epochs.append(
                text(
                    Ev.make(
                        "job_epoch", batch: b, job: j, data: ["epoch": JSON(e), "train_loss": JSON(Double(e)), "val_loss": JSON(val)],
                        ts: ts)))
        }
        epochs.append(
            #"{"event_id":"\#(UUID().uuidString)","schema_version":"1.1","event_type":"job_epoch","timestamp":"\#(ts)","batch_id":"\#(b)","job_id":"\#(j)","source":{"project":"p"},"data":{"epoch":20,"train_loss":NaN,"val_loss":-Infinity}}"#
        )
        let done = text(Ev.make("job_done", batch: b, job: j, data: ["train_epochs": 90, "elapsed_s": 10], ts: ts))
        return (start, epochs, done)
    }

    /// The curve's spark, from the rule's definition: 100 epochs need 4-epoch buckets (25 of them); each is the
    /// mean of its train losses, and bucket 5 (epochs 20-23) lost epoch 20's NaN.
    static let curveSpark: [JSON] = (0..<25).map { k in JSON(k == 5 ? 22.0 : Double(4 * k) + 1.5) }

    static func post(_ c: HTTPClient, _ texts: [String]) throws {
        for chunk in stride(from: 0, to: texts.count, by: 200) {
            let body = #"{"events":["# + texts[chunk..<min(chunk + 200, texts.count)].joined(separator: ",") + "]}"
            let r = try c.request("POST", "/api/events/batch", body: Array(body.utf8))
            guard r.status == 200 else { throw TestFailure("POST /api/events/batch → \(r.status): \(r.text)") }
        }
    }

    static let keys = ["best_val_loss", "best_val_epoch", "total_epochs", "loss_spark", "loss_spark_metric"]

    static func figures(_ job: JSON) -> [String: JSON] {
        Dictionary(uniqueKeysWithValues: keys.map { ($0, job["telemetry"]?[$0] ?? .null) })
    }

    static func figures(_ c: HTTPClient, _ b: String, _ j: String) throws -> [String: JSON] {
        figures(try c.mustGet(APIPath.job(b, j)))
    }

    @Test(
        "a known curve in order and shuffled, NaN and −∞ skipped, a val-only job, 1000 epochs in 32 points; the summary frames carry them"
    )
    func knownCurves() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 4]))
        let sub = SSECollector(url: s.url + APIPath.sse([.batch("b")]), token: token)
        defer { sub.stop() }
        try sub.waitUntilConnected()

        let inOrder = Self.curve("b", "inorder")
        try Self.post(c, [inOrder.start] + inOrder.epochs + [inOrder.done])
        // The same events the other way round: job_done first, the epochs in a scrambled order, job_start last.
        let shuffled = Self.curve("b", "shuffled")
        let scrambled = (0..<shuffled.epochs.count).map { shuffled.epochs[($0 * 37) % shuffled.epochs.count] }
        try Self.post(c, [shuffled.done])
        for part in stride(from: 0, to: scrambled.count, by: 30) {
            try Self.post(c, Array(scrambled[part..<min(part + 30, scrambled.count)]))
        }
        try Self.post(c, [shuffled.start])
        let expected: [String: JSON] = [
            "best_val_loss": 0.1, "best_val_epoch": 37, "total_epochs": 100, "loss_spark": .array(Self.curveSpark),
            "loss_spark_metric": "train_loss",
        ]
        #expect(try Self.figures(c, "b", "inorder") == expected)
        #expect(try Self.figures(c, "b", "shuffled") == expected)

        // Val loss only (no train_loss): its spark is of val_loss; no total until job_done says how many ran.
        try c.mustPost(Ev.make("job_start", batch: "b", job: "valonly"))
        let valEpochs = (1...40).map { e in
            Ev.make("job_epoch", batch: "b", job: "valonly", data: ["epoch": JSON(e), "val_loss": JSON(Double(100 - e))])
        }
        #expect(try c.postBatch(valEpochs).status == 200)
        var valOnly = try Self.figures(c, "b", "valonly")
        // 40 epochs need 2-epoch buckets 0…20: {1}, {2,3}, …, {38,39}, {40}.
        let valSpark: [JSON] = [99.0] + (1..<20).map { k in JSON(100 - (Double(2 * k) + 0.5)) } + [60.0]
        #expect(
            valOnly == [
                "best_val_loss": 60, "best_val_epoch": 40, "total_epochs": nil, "loss_spark": .array(valSpark),
                "loss_spark_metric": "val_loss",
            ])
        try c.mustPost(Ev.make("job_done", batch: "b", job: "valonly", data: ["train_epochs": 40]))
        valOnly["total_epochs"] = 40
        #expect(try Self.figures(c, "b", "valonly") == valOnly)

        // 1000 epochs: 32-epoch buckets, 32 points; the last bucket holds 992…999.
        for part in stride(from: 0, to: 1000, by: 250) {
            #expect(try c.postBatch((part..<part + 250).map { Ev.epoch("b", "long", $0, train: Double($0)) }).status == 200)
        }
        let long = try Self.figures(c, "b", "long")
        let longSpark: [JSON] = (0..<32).map { k in JSON(k == 31 ? 995.5 : Double(32 * k) + 15.5) }
        #expect(long["loss_spark"] == .array(longSpark))
        #expect(long["best_val_epoch"] == 999 && long["total_epochs"] == .null)

        // Each job's newest summary frame says what the read API says.
        try sub.wait(
            "the last summary",
            until: { _ in
                sub.summaries.contains { f in
                    f["jobs"]?.arrayValue?.contains { $0["id"] == "long" && $0["telemetry"]?["epoch"] == 999 } == true
                }
            })
        for j in ["inorder", "shuffled", "valonly", "long"] {
            let newest = sub.summaries.compactMap { f in f["jobs"]?.arrayValue?.first { $0["id"] == .string(j) } }.last
            #expect(newest.map { Self.figures($0) } == (try Self.figures(c, "b", j)), "\(j)")
        }
    }

    @Test("they survive `argus-server retention sweep` deleting the raw events, and the fold goes on from them")
    func surviveRetention() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let old = Timestamp(micros: Timestamp.now().micros - 60 * 86_400_000_000).iso
        try c.mustPost(Ev.make("batch_start", batch: "b", ts: old))
        let curve = Self.curve("b", "j", ts: old)
        try Self.post(c, [curve.start] + curve.epochs)
        let before = try Self.figures(c, "b", "j")
        #expect(before["loss_spark"] == .array(Self.curveSpark))
        let (rc, out, err) = try runTool(Binaries.path("argus-server"), ["retention", "sweep"] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        let jobEpochRow = out.split(separator: "\n").first { $0.hasPrefix("job_epoch ") }?.split(separator: " ")
        #expect(jobEpochRow?.last == "100", "\(out)")
        #expect(try c.mustGet("/api/jobs/b/j/epochs").arrayValue == [])
        #expect(try Self.figures(c, "b", "j") == before)
        // A later epoch folds into the kept figures: a new best, one more spark point (bucket 25: epoch 100).
        try c.mustPost(Ev.epoch("b", "j", 100, train: 7, val: 0.05))
        var after = before
        after["best_val_loss"] = 0.05
        after["best_val_epoch"] = 100
        after["loss_spark"] = .array(Self.curveSpark + [7])
        #expect(try Self.figures(c, "b", "j") == after)
    }

    /// The rows an older server left: a user, a batch, a job and its stored events, with no figures.
    static func insertOld(_ db: SQLConnection, _ texts: [String]) throws {
        try db.execute("INSERT INTO users(id, name, is_admin, created_us) VALUES (1, 'alice', 0, 0)")
        try db.execute("INSERT INTO batches(id, owner_id, status, last_received_us, created_us) VALUES ('b', 1, 'running', 0, 0)")
        try db.execute("INSERT INTO jobs(batch_id, id, status, created_us) VALUES ('b', 'j', 'running', 0)")
        for t in texts {
            let e = try JSON.parse(t)
            // The event's own time, as ingest stores it.
            let ts = e["timestamp"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros } ?? 0
            try db.execute(
                "INSERT INTO events(event_id, batch_id, job_id, event_type, ts_us, received_us, body) VALUES (?, 'b', 'j', ?, ?, 0, ?)",
                [e["event_id"]?.stringValue ?? "", e["event_type"]?.stringValue ?? "", ts, t])
        }
    }

    @Test(
        "a run that goes back (resumed from a checkpoint, a retried job) replaces the epochs it reports again in the spark; epochs delivered late only add"
    )
    func resumedRun() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        func epoch(_ j: String, _ e: Int, _ loss: Double, at second: Int) -> String {
            Ev.make(
                "job_epoch", batch: "b", job: j, data: ["epoch": JSON(e), "train_loss": JSON(loss)],
                ts: Timestamp(micros: Int64(1_790_000_000 + second) * 1_000_000).iso
            ).serialized()
        }
        // Epochs 0–5, then the run resumes from epoch 3's checkpoint and reports 3–7, later.
        let first = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5].enumerated().map { epoch("resumed", $0, $1, at: $0) }
        let again = [0.47, 0.45, 0.44, 0.43, 0.42].enumerated().map { epoch("resumed", 3 + $0, $1, at: 100 + $0) }
        // Then the first run's epoch 4 arrives late from a spill file: the resume replaced it.
        try Self.post(c, first + again + [epoch("resumed", 4, 99, at: 4)])
        #expect(try Self.figures(c, "b", "resumed")["loss_spark"] == [1.0, 0.9, 0.8, 0.47, 0.45, 0.44, 0.43, 0.42])
        // The epochs read the same: the values that stand, each epoch once.
        let rows = try #require(try c.mustGet(APIPath.epochs("b", "resumed")).arrayValue)
        #expect(rows.compactMap { $0["train_loss"]?.doubleValue } == [1.0, 0.9, 0.8, 0.47, 0.45, 0.44, 0.43, 0.42], "\(rows)")
        // A job retried after it failed at epoch 0.
        try Self.post(
            c,
            [
                epoch("retried", 0, 1.0, at: 0), epoch("retried", 1, 0.95, at: 1), epoch("retried", 2, 0.93, at: 2),
                epoch("retried", 0, 0.9, at: 10), epoch("retried", 1, 0.8, at: 11),
            ])
        #expect(try Self.figures(c, "b", "retried")["loss_spark"] == [0.9, 0.8])
        // The failed attempt's epoch 2 is gone from the epochs too: the chart and the spark agree.
        let retried = try #require(try c.mustGet(APIPath.epochs("b", "retried")).arrayValue)
        #expect(retried.compactMap { $0["train_loss"]?.doubleValue } == [0.9, 0.8], "\(retried)")
        // A go-back whose report has no train loss (val only) still empties what came after it; a late val loss
        // older than the go-back does not become the best.
        let valOnly = Ev.make(
            "job_epoch", batch: "b", job: "valback", data: ["epoch": 3, "val_loss": 0.9],
            ts: Timestamp(micros: Int64(1_790_000_000 + 100) * 1_000_000).iso
        ).serialized()
        let lateVal = Ev.make(
            "job_epoch", batch: "b", job: "valback", data: ["epoch": 5, "val_loss": 0.01],
            ts: Timestamp(micros: Int64(1_790_000_000 + 5) * 1_000_000).iso
        ).serialized()
        try Self.post(c, [1.0, 0.9, 0.8, 0.7, 0.6, 0.5].enumerated().map { epoch("valback", $0, $1, at: $0) } + [valOnly, lateVal])
        let valBack = try Self.figures(c, "b", "valback")
        #expect(valBack["loss_spark"] == [1.0, 0.9, 0.8] && valBack["best_val_loss"] == 0.9, "\(valBack)")
        // A spill file's older epochs arriving after later ones: nothing is dropped.
        try Self.post(
            c, [epoch("late", 2, 0.8, at: 2), epoch("late", 3, 0.7, at: 3), epoch("late", 0, 1.0, at: 0), epoch("late", 1, 0.9, at: 1)])
        #expect(try Self.figures(c, "b", "late")["loss_spark"] == [1.0, 0.9, 0.8, 0.7])
        let late = try #require(try c.mustGet(APIPath.epochs("b", "late")).arrayValue)
        #expect(late.compactMap { $0["epoch"]?.intValue } == [0, 1, 2, 3], "\(late)")
    }

    @Test("a database made before them gets them backfilled from its stored events, as a fresh one computes them")
    func backfilled() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-v8-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let curve = Self.curve("b", "j")
        let texts = [curve.start] + curve.epochs.reversed() + [curve.done]
        var database: TestDatabase? = nil
        defer { database?.drop() }
        if TestBackend.isPostgres {
            let fresh = try TestPostgres.freshDatabase()
            database = fresh
            let pg = try PostgresDatabase(url: fresh.url)
            #expect(try PostgresSchema.migrate(pg, upTo: 2) == [1, 2])
            try pg.writeNow { try Self.insertOld($0, texts) }
            pg.close()
            try fresh.url.write(to: dir.appendingPathComponent("test-database-url"), atomically: true, encoding: .utf8)
        } else {
            let old = try DatabaseQueue(path: dir.appendingPathComponent("argus.sqlite").path)
            try Schema.migrator.migrate(old, upTo: "v8 agents answer to the token that registered them")
            try old.write { try Self.insertOld(SQLiteConnection($0), texts) }
            try old.close()
        }
        let upgraded = try TestServer(dataDir: dir)
        defer { upgraded.stop() }
        let figures = try Self.figures(upgraded.client(try upgraded.token(user: "alice")), "b", "j")
        #expect(figures["loss_spark"] == .array(Self.curveSpark) && figures["best_val_epoch"] == 37)
        let fresh = try TestServer()
        let c = fresh.client(try fresh.token(user: "alice"))
        try Self.post(c, texts)
        #expect(try Self.figures(c, "b", "j") == figures)
    }

    /// The spark's rule from its definition: the smallest power-of-two width whose aligned buckets span at most 32,
    /// each non-empty bucket's mean, oldest first.
    static func reference(_ points: [(Int, Double)]) -> [Double] {
        let finite = points.filter { $0.1.isFinite }
        guard let lo = finite.map(\.0).min(), let hi = finite.map(\.0).max() else { return [] }
        func floorDiv(_ a: Int, _ b: Int) -> Int { Int((Double(a) / Double(b)).rounded(.down)) }
        var w = 1
        while floorDiv(hi, w) - floorDiv(lo, w) + 1 > 32 { w *= 2 }
        let groups = Dictionary(grouping: finite, by: { floorDiv($0.0, w) })
        return groups.keys.sorted().map { k in groups[k]!.map(\.1).reduce(0, +) / Double(groups[k]!.count) }
    }

    @Test(
        "LossSpark: any arrival order gives the rule's points; at most 32; negative epochs and gaps",
        arguments: [1, 7, 31, 32, 33, 64, 65, 1000, 4097])
    func sparkRule(count: Int) {
        var rng = SystemRandomNumberGenerator()
        // Integer values: sums are exact, so any order must give the very same numbers.
        let start = Int.random(in: -50...50, using: &rng)
        var points = (0..<count).map { (start + $0 * (count % 3 == 0 ? 3 : 1), Double(Int.random(in: 0...1000, using: &rng))) }
        points.append((start + 2, .nan))
        for _ in 0..<3 {
            var spark = LossSpark()
            for p in points.shuffled(using: &rng) { spark.add(epoch: p.0, value: p.1, atUs: 0) }
            #expect(spark.points == Self.reference(points))
            #expect(spark.points.count <= 32)
            #expect(LossSpark(json: spark.json) == spark)
        }
    }

    @Test("the stored form loads back as it was written, for more distinct texts than the parse memo keeps, and again")
    func storedFormMemo() {
        func figures(_ k: Int) -> JobFigures {
            var f = JobFigures()
            f.apply(type: "job_start", data: JSONObject(k % 2 == 0 ? [(key: "total_epochs", value: JSON(k))] : []), atUs: 0)
            for e in 0...(k % 40) {
                f.apply(
                    type: "job_epoch", data: JSONObject([("epoch", JSON(e)), ("train_loss", JSON(Double(k) + 1 / Double(e + 3)))]), atUs: 0)
                if k % 3 == 0 {
                    f.apply(type: "job_epoch", data: JSONObject([("epoch", JSON(e)), ("val_loss", JSON(Double(e)))]), atUs: 0)
                }
            }
            return f
        }
        let n = JobFigures.sparkMemoLimit + 40
        for _ in 0..<2 {
            for k in 0..<n {
                var loaded = JobFigures()
                loaded.load(storedSpark: figures(k).storedSpark)
                #expect(loaded.trainSpark == figures(k).trainSpark)
                #expect(loaded.valSpark == figures(k).valSpark)
                #expect(loaded.totalFromStart == figures(k).totalFromStart)
            }
        }
        var none = JobFigures()
        none.load(storedSpark: "not json")
        #expect(none == JobFigures())
    }
}
