import Shared
import Synchronization

/// A loss curve summarised in at most 32 points, kept streaming so it outlives the raw events (retention deletes
/// them; the job row keeps this).
///
/// The rule: epochs fall into fixed buckets `[k·w, (k+1)·w)` of width `w`, a power of two, and each bucket holds the
/// sum and count of the finite values reported in it. `w` starts at 1; when a value would need a 33rd bucket
/// (from the lowest occupied bucket to the highest), adjacent pairs merge and `w` doubles, as often as needed.
/// Buckets are aligned to multiples of `w`, so the result depends only on the set of (epoch, value) reported, not
/// on the order they arrived in (a replayed spill file lands in the same buckets). Each event costs O(1) (a merge
/// is 32 steps and happens at most once per doubling). `points` is each non-empty bucket's mean, oldest first:
/// a bucket with no finite value (a gap, a stretch of NaN) is left out.
///
/// A run that goes back (resumed from a checkpoint, a job retried) reports epochs it reported before, with a timestamp
/// over a second newer than every report (`EpochReports`, the epoch table's rule too): the buckets from that epoch's on
/// are emptied first, so the curve is the values that stand, not a mean with the ones replaced. A report the run
/// replaced, arriving late (a spill file), is left out; other late epochs only add. Otherwise a re-sent epoch counts twice (the table of epochs,
/// `EpochTable`, keeps the newest report of each).
struct LossSpark: Sendable, Equatable {
    static let maxPoints = 32

    /// Bucket width in epochs (a power of two).
    private(set) var width: Int64 = 1
    /// The bucket index (`epoch / width`, rounded down) of `sums[0]`.
    private(set) var first: Int64 = 0
    private(set) var sums: [Double] = []
    private(set) var counts: [Int] = []
    /// Which report of an epoch stands; empty in a spark stored before it was kept (it only adds until its next
    /// report).
    private(set) var reports = EpochReports()

    var isEmpty: Bool { sums.isEmpty }
    /// Nothing noted at all (an empty spark that saw reports keeps what it noted: `note`).
    var isBlank: Bool { sums.isEmpty && reports.topEpoch == nil }

    /// The mean of each non-empty bucket, oldest first.
    var points: [Double] {
        zip(sums, counts).compactMap { $1 > 0 ? $0 / Double($1) : nil }
    }

    static func bucket(_ epoch: Int64, _ width: Int64) -> Int64 {
        let q = epoch / width
        return (epoch % width != 0 && epoch < 0) ? q - 1 : q
    }

    /// Notes a report of `epoch` at `atUs`, whatever it carries (a go-back without this loss, or with a NaN, still
    /// empties the buckets after it). Returns whether it stands: false for one older than the run's last go-back, for
    /// an epoch at or after it (the run replaced it).
    mutating func note(epoch: Int, atUs: Int64) -> Bool {
        switch reports.note(epoch: Int64(epoch), atUs: atUs) {
        case .replaced: return false
        case .goesBack: dropBuckets(from: Int64(epoch))
        case .stands: break
        }
        return true
    }

    /// Notes the report (`note`) and adds its value when it stands and is finite.
    mutating func add(epoch: Int, value: Double?, atUs: Int64) {
        guard note(epoch: epoch, atUs: atUs), let value else { return }
        insert(epoch: epoch, value: value)
    }

    /// Adds a finite value of a report that stands to its bucket.
    mutating func insert(epoch: Int, value: Double) {
        guard value.isFinite else { return }
        let e = Int64(epoch)
        if sums.isEmpty {
            (width, first, sums, counts) = (1, e, [value], [1])
            return
        }
        var b = LossSpark.bucket(e, width)
        while max(b, first + Int64(sums.count) - 1) - min(b, first) + 1 > Int64(LossSpark.maxPoints) {
            doubleWidth()
            b = LossSpark.bucket(e, width)
        }
        if b < first {
            let n = Int(first - b)
            sums.insert(contentsOf: repeatElement(0, count: n), at: 0)
            counts.insert(contentsOf: repeatElement(0, count: n), at: 0)
            first = b
        } else if b >= first + Int64(sums.count) {
            let n = Int(b - first) - sums.count + 1
            sums.append(contentsOf: repeatElement(0, count: n))
            counts.append(contentsOf: repeatElement(0, count: n))
        }
        sums[Int(b - first)] += value
        counts[Int(b - first)] += 1
    }

    /// Empties the buckets from `epoch`'s on (a run that went back to it reports them again).
    private mutating func dropBuckets(from epoch: Int64) {
        let keep = max(0, min(sums.count, Int(LossSpark.bucket(epoch, width) - first)))
        sums.removeLast(sums.count - keep)
        counts.removeLast(counts.count - keep)
        while let c = counts.last, c == 0 {
            sums.removeLast()
            counts.removeLast()
        }
        if sums.isEmpty { (width, first) = (1, 0) }
    }

    /// Merges aligned pairs: bucket k at width w goes to bucket ⌊k/2⌋ at width 2w.
    private mutating func doubleWidth() {
        let newFirst = LossSpark.bucket(first, 2)
        let last = LossSpark.bucket(first + Int64(sums.count) - 1, 2)
        var s = [Double](repeating: 0, count: Int(last - newFirst) + 1)
        var c = [Int](repeating: 0, count: s.count)
        for i in sums.indices {
            let to = Int(LossSpark.bucket(first + Int64(i), 2) - newFirst)
            s[to] += sums[i]
            c[to] += counts[i]
        }
        (width, first, sums, counts) = (width * 2, newFirst, s, c)
    }

    /// The stored form (`jobs.loss_spark`): `{"w": width, "first": bucket, "sum": [...], "n": [...], "last":
    /// epoch, "ts": µs}`.
    var json: JSON {
        var o = JSONObject([
            (key: "w", value: JSON(width)), (key: "first", value: JSON(first)), (key: "sum", value: .array(sums.map { JSON($0) })),
            (key: "n", value: .array(counts.map { JSON($0) })),
        ])
        if let top = reports.topEpoch { o["last"] = JSON(top) }
        if let newest = reports.newestUs { o["ts"] = JSON(newest) }
        if let g = reports.goBack { o["back"] = [JSON(g.epoch), JSON(g.atUs)] }
        return .object(o)
    }

    init() {}

    init?(json: JSON?) {
        guard let json, let w = json["w"]?.intValue, w >= 1, let f = json["first"]?.intValue,
            let s = json["sum"]?.arrayValue, let n = json["n"]?.arrayValue, s.count == n.count,
            s.count <= LossSpark.maxPoints
        else { return nil }
        width = Int64(w)
        first = Int64(f)
        sums = s.map { $0.doubleValue ?? 0 }
        counts = n.map { $0.intValue ?? 0 }
        let back = json["back"]?.arrayValue.flatMap { b -> EpochReports.GoBack? in
            guard b.count == 2, let e = b[0].intValue, let t = b[1].intValue else { return nil }
            return EpochReports.GoBack(epoch: Int64(e), atUs: Int64(t))
        }
        reports = EpochReports(
            newestUs: json["ts"]?.intValue.map(Int64.init), topEpoch: json["last"]?.intValue.map(Int64.init), goBack: back)
    }
}

/// The figures a batch screen shows for a job beyond its latest epoch, folded from its events on ingest and kept on
/// the job row (schema v9 / PostgreSQL 3), so they survive retention:
/// - `bestValLoss`/`bestValEpoch`: the lowest finite val_loss of any job_epoch and its epoch (ties: the earliest
///   epoch), whatever order the epochs arrive in;
/// - `totalEpochs`: job_start's `total_epochs`, else job_done's `train_epochs`, else nil (a job_start always wins,
///   whichever arrived first);
/// - the loss curve's spark (`LossSpark`) of train_loss, and of val_loss for a job that reports no train_loss.
struct JobFigures: Sendable, Equatable {
    var bestValLoss: Double?
    var bestValEpoch: Int?
    var totalEpochs: Int?
    /// Whether `totalEpochs` came from job_start (job_done's train_epochs never replaces it).
    var totalFromStart = false
    var trainSpark = LossSpark()
    var valSpark = LossSpark()

    /// The spark clients draw, and which metric it is of.
    var spark: (metric: String?, points: [Double]) {
        if !trainSpark.isEmpty { return ("train_loss", trainSpark.points) }
        if !valSpark.isEmpty { return ("val_loss", valSpark.points) }
        return (nil, [])
    }

    mutating func apply(type: String, data: JSONObject, atUs: Int64) {
        switch type {
        case "job_start":
            if let n = data["total_epochs"]?.intValue, n >= 0 {
                totalEpochs = n
                totalFromStart = true
            }
        case "job_epoch":
            guard let ep = data["epoch"]?.intValue else { return }
            // Every report goes to both sparks, with or without their loss: a go-back empties both.
            let val = data["val_loss"]?.doubleValue
            if valSpark.note(epoch: ep, atUs: atUs), let v = val, v.isFinite {
                if bestValLoss == nil || v < bestValLoss! || (v == bestValLoss! && ep < bestValEpoch!) {
                    bestValLoss = v
                    bestValEpoch = ep
                }
                valSpark.insert(epoch: ep, value: v)
            }
            trainSpark.add(epoch: ep, value: data["train_loss"]?.doubleValue, atUs: atUs)
        case "job_done":
            if !totalFromStart, let n = data["train_epochs"]?.intValue, n >= 0 { totalEpochs = n }
        default: break
        }
    }

    /// The stored sparks and where total_epochs came from (`jobs.loss_spark`).
    var storedSpark: String? {
        if trainSpark.isBlank && valSpark.isBlank && !totalFromStart { return nil }
        var o = JSONObject()
        if !trainSpark.isBlank { o["train"] = trainSpark.json }
        if !valSpark.isBlank { o["val"] = valSpark.json }
        if totalFromStart { o["total_from_start"] = true }
        return JSON.object(o).serialized()
    }

    mutating func load(storedSpark text: String?) {
        guard let text, let parsed = JobFigures.parsedSparks(text) else { return }
        (trainSpark, valSpark, totalFromStart) = (parsed.train, parsed.val, parsed.totalFromStart)
    }

    private typealias ParsedSparks = (train: LossSpark, val: LossSpark, totalFromStart: Bool)

    /// Stored sparks already parsed, by their text. Every read of a job parses its row's sparks (the reply carries
    /// the points), and the text changes only when an epoch arrives: the parse (a few hundred bytes of
    /// 17-digit numbers) was ~2.5 % of a lone `GET /api/jobs/{b}/{j}`'s CPU, the lookup costs a hash of the text.
    /// A pure function of the text, so nothing to invalidate; at most `sparkMemoLimit` texts are kept.
    private static let sparkMemo = Mutex<[String: ParsedSparks]>([:])
    static let sparkMemoLimit = 512

    private static func parsedSparks(_ text: String) -> ParsedSparks? {
        if let hit = sparkMemo.withLock({ $0[text] }) { return hit }
        guard let j = try? JSON.parse(text) else { return nil }
        let parsed = (
            train: LossSpark(json: j["train"]) ?? LossSpark(), val: LossSpark(json: j["val"]) ?? LossSpark(),
            totalFromStart: j["total_from_start"]?.boolValue ?? false
        )
        sparkMemo.withLock { memo in
            if memo.count >= sparkMemoLimit { memo.remove(at: memo.startIndex) }
            memo[text] = parsed
        }
        return parsed
    }

    /// Recomputes every job's figures from its stored job_start/job_epoch/job_done events: the migration that adds
    /// them, so that an upgraded database shows what a fresh one would (for the events retention kept).
    static func backfill(_ db: SQLConnection) throws {
        // The scan finishes before the updates start (a PostgreSQL connection runs one statement at a time).
        var figures: [String: [String: JobFigures]] = [:]
        try db.forEach(
            """
            SELECT batch_id, job_id, event_type, ts_us, body FROM events
            WHERE event_type IN ('job_start', 'job_epoch', 'job_done') AND job_id IS NOT NULL ORDER BY id
            """
        ) { r in
            if let body: String = r["body"], let data = (try? JSON.parse(body))?["data"]?.objectValue {
                figures[r["batch_id"], default: [:]][r["job_id"], default: JobFigures()].apply(
                    type: r["event_type"], data: data, atUs: r["ts_us"])
            }
            return true
        }
        for (b, jobs) in figures {
            for (j, f) in jobs {
                try db.execute(
                    "UPDATE jobs SET best_val_loss = ?, best_val_epoch = ?, total_epochs = ?, loss_spark = ? WHERE batch_id = ? AND id = ?",
                    [f.bestValLoss, f.bestValEpoch, f.totalEpochs, f.storedSpark, b, j])
            }
        }
    }
}
