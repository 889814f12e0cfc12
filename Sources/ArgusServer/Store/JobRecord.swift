import Shared

/// One row of `jobs`: what the telemetry strip shows, kept current on ingest (one indexed read).
struct JobRecord: Sendable {
    var batchID: String
    var id: String
    var model: String?
    var dataset: String?
    var status = RunStatus.running
    var startUs: Int64?
    var endUs: Int64?
    var elapsedS: Double?
    var metrics: String?
    var failureReason: String?
    var isIdleFlagged = false
    var idleSinceUs: Int64?
    var lastActivityUs: Int64?
    var latestEpoch: Int?
    /// When the latest epoch was reported (its event's timestamp); nil on rows from before schema v11.
    var latestEpochUs: Int64?
    /// The latest epoch's losses; `nonFiniteLoss` when it was reported as NaN or ±infinity.
    var trainLoss: Double?
    var valLoss: Double?
    static let nonFiniteLoss = Double.infinity
    var gpuUtilPct: Double?
    /// The most-loaded GPU's memory peak (`gpuMem.peakMB`; on rows older than schema v5, the old sum).
    var gpuMemPeakMB: Double?
    /// Memory peak per GPU (schema v5).
    var gpuMem = GPUMemPeaks()
    var createdUs: Int64
    /// Idle detector state (schema v4): newest GPU sample, last busy sample, first quiet sample after it.
    var gpuNewestUs: Int64?
    var gpuLastBusyUs: Int64?
    var gpuQuietSinceUs: Int64?
    /// Best val loss, total epochs and the loss spark (schema v9): `JobFigures`.
    var figures = JobFigures()

    static let terminalStatuses = BatchStatus.terminal
    var isFinished: Bool { JobRecord.terminalStatuses.contains(status) }

    init(batchID: String, id: String, now: Int64) {
        self.batchID = batchID
        self.id = id
        self.createdUs = now
    }

    init(row: SQLRow) {
        batchID = row["batch_id"]
        id = row["id"]
        model = row["model"]
        dataset = row["dataset"]
        status = row["status"]
        startUs = row["start_us"]
        endUs = row["end_us"]
        elapsedS = row["elapsed_s"]
        metrics = row["metrics"]
        failureReason = row["failure_reason"]
        isIdleFlagged = row["is_idle_flagged"]
        idleSinceUs = row["idle_since_us"]
        lastActivityUs = row["last_activity_us"]
        latestEpoch = row["latest_epoch"]
        latestEpochUs = row["latest_epoch_us"]
        trainLoss = row["train_loss"]
        valLoss = row["val_loss"]
        gpuUtilPct = row["gpu_util_pct"]
        gpuMemPeakMB = row["gpu_mem_peak_mb"]
        if let peaks: String = row["gpu_mem_peaks"] { gpuMem = GPUMemPeaks(json: try? JSON.parse(peaks)) }
        createdUs = row["created_us"]
        gpuNewestUs = row["gpu_newest_us"]
        gpuLastBusyUs = row["gpu_last_busy_us"]
        gpuQuietSinceUs = row["gpu_quiet_since_us"]
        figures.bestValLoss = row["best_val_loss"]
        figures.bestValEpoch = row["best_val_epoch"]
        figures.totalEpochs = row["total_epochs"]
        figures.load(storedSpark: row["loss_spark"])
    }

    static func fetch(_ db: SQLConnection, batchID: String, id: String) throws -> JobRecord? {
        try db.fetchOne(
            "SELECT * FROM jobs WHERE batch_id = ? AND id = ?",
            [batchID, id]
        )
        .map(JobRecord.init(row:))
    }

    /// A batch's jobs in the order they started; jobs that started together (one request: a spill file, `simulate`)
    /// in their ids' natural order (`seed2` before `seed10`), the same on SQLite and PostgreSQL.
    static func fetchAll(_ db: SQLConnection, batchID: String) throws -> [JobRecord] {
        try db.fetchAll("SELECT * FROM jobs WHERE batch_id = ?", [batchID])
            .map(JobRecord.init(row:))
            .sorted { a, b in a.createdUs != b.createdUs ? a.createdUs < b.createdUs : NaturalOrder.less(a.id, b.id) }
    }

    func save(_ db: SQLConnection) throws {
        let sql = """
            INSERT INTO jobs(batch_id, id, model, dataset, status, start_us, end_us, elapsed_s, metrics, failure_reason,
              is_idle_flagged, idle_since_us, last_activity_us, latest_epoch, train_loss, val_loss, gpu_util_pct,
              gpu_mem_peak_mb, created_us, gpu_newest_us, gpu_last_busy_us, gpu_quiet_since_us, gpu_mem_peaks,
              best_val_loss, best_val_epoch, total_epochs, loss_spark, latest_epoch_us)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(batch_id, id) DO UPDATE SET model=excluded.model, dataset=excluded.dataset, status=excluded.status,
              start_us=excluded.start_us, end_us=excluded.end_us, elapsed_s=excluded.elapsed_s, metrics=excluded.metrics,
              failure_reason=excluded.failure_reason, is_idle_flagged=excluded.is_idle_flagged,
              idle_since_us=excluded.idle_since_us, last_activity_us=excluded.last_activity_us,
              latest_epoch=excluded.latest_epoch, train_loss=excluded.train_loss, val_loss=excluded.val_loss,
              gpu_util_pct=excluded.gpu_util_pct, gpu_mem_peak_mb=excluded.gpu_mem_peak_mb,
              gpu_newest_us=excluded.gpu_newest_us, gpu_last_busy_us=excluded.gpu_last_busy_us,
              gpu_quiet_since_us=excluded.gpu_quiet_since_us, gpu_mem_peaks=excluded.gpu_mem_peaks,
              best_val_loss=excluded.best_val_loss, best_val_epoch=excluded.best_val_epoch,
              total_epochs=excluded.total_epochs, loss_spark=excluded.loss_spark, latest_epoch_us=excluded.latest_epoch_us
            """
        let args: [any SQLBindable] = [
            batchID, id, model, dataset, status, startUs, endUs, elapsedS, metrics, failureReason,
            isIdleFlagged, idleSinceUs, lastActivityUs, latestEpoch, trainLoss, valLoss, gpuUtilPct,
            gpuMemPeakMB, createdUs, gpuNewestUs, gpuLastBusyUs, gpuQuietSinceUs,
            gpuMem.count == 0 ? nil : gpuMem.json.serialized(),
            figures.bestValLoss, figures.bestValEpoch, figures.totalEpochs, figures.storedSpark, latestEpochUs,
        ]
        try db.execute(sql, args)
    }

    /// Whether a snapshot taken at `ts` belongs to this job (taken while it ran).
    func covers(_ ts: Int64) -> Bool { JobSpan.covers(ts, start: startUs, end: endUs) }

    /// Applies one of this job's own events. Returns the status the job had and has when the event ended it, changed
    /// how it ended or started it again (the batch recounts its jobs then), nil otherwise. `stopRequested`: its run
    /// had been asked to stop, which a job_done then may mean (`BatchStatus.jobDone`).
    @discardableResult
    mutating func apply(_ e: IncomingEvent, stopRequested: Bool = false, batchEnded: Bool = false) -> (
        was: String, now: String
    )? {
        let ts = e.ts.micros
        let heardBefore = lastActivityUs
        lastActivityUs = max(lastActivityUs ?? ts, ts)
        if startUs == nil { startUs = ts }
        figures.apply(type: e.type, data: e.data, atUs: ts)
        switch e.type {
        case "job_start":
            // Started again after it ended: the script retries it (the SDK's `with r.job(...)` in a retry loop). It
            // runs again, and its earlier end no longer counts. The same second counts as after (the SDK stamps
            // whole seconds, so a retry right after a failure carries its time); a start from before its end (out of
            // order) changes nothing, and the same event sent again is a duplicate, dropped before this. Nor does one
            // after its batch ended: the script is over, so that start is a replay, not a retry.
            var change: (was: String, now: String)? = nil
            if isFinished, !batchEnded, let endUs, ts >= endUs {
                change = (status, RunStatus.running)
                status = RunStatus.running
                startUs = ts
                self.endUs = nil
                elapsedS = nil
                failureReason = nil
            } else {
                startUs = min(startUs ?? ts, ts)
            }
            model = e.data["model"]?.stringValue ?? model
            dataset = e.data["dataset"]?.stringValue ?? dataset
            return change
        case "job_epoch":
            if let ep = e.data["epoch"]?.intValue, isLatestEpoch(ep, at: ts, heardBefore: heardBefore) {
                latestEpoch = ep
                latestEpochUs = ts
                // A loss reported as NaN or ±infinity (ingest stores it as null and lists it in `_nonfinite`) is
                // kept as +infinity: the run diverged, which is not the same as not reporting a loss.
                let nonFinite = Set(e.data["_nonfinite"]?.arrayValue?.compactMap(\.stringValue) ?? [])
                if let v = e.data["train_loss"], !v.isNull || nonFinite.contains("train_loss") {
                    trainLoss = nonFinite.contains("train_loss") ? JobRecord.nonFiniteLoss : v.doubleValue
                }
                if let v = e.data["val_loss"], !v.isNull || nonFinite.contains("val_loss") {
                    valLoss = nonFinite.contains("val_loss") ? JobRecord.nonFiniteLoss : v.doubleValue
                }
            }
        case "job_done", "job_failed":
            // The latest end wins: a second end reported later changes how the job ended; one from before its end
            // (replayed late) does not.
            if isFinished, let endUs, ts < endUs { return nil }
            // Nor one from before the job (re)started: an earlier attempt's, arriving after the retry began.
            if let startUs, ts < startUs { return nil }
            let was = status
            status =
                e.type == "job_failed"
                ? RunStatus.failed
                : BatchStatus.jobDone(
                    stopRequested: stopRequested,
                    trainedEpochs: e.data["train_epochs"]?.intValue ?? latestEpoch.map { $0 + 1 },
                    totalEpochs: figures.totalFromStart ? figures.totalEpochs : nil)
            endUs = ts
            elapsedS = e.data["elapsed_s"]?.doubleValue ?? startUs.map { Double(ts - $0) / 1e6 }
            if let m = e.data["metrics"], case .object = m { metrics = m.serialized() }
            // A job that ended well has no failure, whatever an earlier attempt said.
            failureReason =
                e.type == "job_failed" ? BatchRecord.reportedReason(e.data) ?? failureReason : nil
            isIdleFlagged = false
            return was == status ? nil : (was, status)
        default: break
        }
        return nil
    }

    /// Whether epoch `ep`, reported at `ts`, is the job's latest: the newest by its time, the higher on a tie (the SDK
    /// stamps whole seconds). A spill file replayed late cannot move it back, and a run resumed from an earlier
    /// checkpoint, reporting a lower epoch after a higher one, moves it forward. A row from before its time was kept
    /// (schema v11): the highest, or a lower one stamped after everything heard from the job (`heardBefore`).
    func isLatestEpoch(_ ep: Int, at ts: Int64, heardBefore: Int64?) -> Bool {
        let highest = ep >= (latestEpoch ?? Int.min)
        guard let at = latestEpochUs else { return highest || heardBefore.map { ts > $0 } ?? true }
        return ts > at || (ts == at && highest)
    }

    /// The ids of the jobs a batch-level snapshot taken at `tsUs` belongs to: those running then (JobSpan), sorted.
    static func running(at tsUs: Int64, among jobs: some Sequence<JobRecord>) -> [String] {
        jobs.filter { $0.covers(tsUs) }.map(\.id).sorted()
    }

    /// Folds one resource snapshot's GPU figures, taken at `ts`, into the summary (the caller checked `covers`): memory
    /// peaks from any snapshot, the util shown only from one no older than the job's newest GPU sample, so that
    /// snapshots a spill file delivers after the run do not turn its tile back.
    mutating func applySnapshot(_ g: GPUFigures, at ts: Int64) {
        if let util = g.util, ts >= gpuNewestUs ?? .min { gpuUtilPct = util }
        gpuMem.observe(g)
        gpuMemPeakMB = gpuMem.peakMB ?? gpuMemPeakMB
    }

    // MARK: API shape (openapi.json: JobOut)

    var elapsedSeconds: Double? {
        if let elapsedS, isFinished { return elapsedS }
        guard let s = startUs, let a = lastActivityUs else { return nil }
        return Double(a - s) / 1e6
    }

    func json(batchStatus: String) -> JSON {
        var shownStatus = status
        if !isFinished, [RunStatus.stopping, RunStatus.stalled].contains(batchStatus) { shownStatus = batchStatus }
        let metricsJSON: JSON = metrics.flatMap { try? JSON.parse($0) } ?? .null
        let spark = figures.spark
        let telemetry: JSON = [
            "status": .string(shownStatus), "elapsed_s": JSON(elapsedSeconds),
            "gpu_util_pct": JSON(gpuUtilPct),
            // The most-loaded GPU against its own capacity (how close to OOM), and every GPU's peak.
            "gpu_mem_peak_mb": JSON(gpuMemPeakMB), "gpu_mem_total_mb": JSON(gpuMem.totalMB),
            "gpu_count": gpuMem.count == 0 ? .null : JSON(gpuMem.count), "gpus": gpuMem.json,
            "train_loss": JSON(trainLoss),
            "val_loss": JSON(valLoss),
            // Which of the two were reported as NaN or ±infinity (their value above is then null).
            "nonfinite": .array(
                [("train_loss", trainLoss), ("val_loss", valLoss)].filter { $0.1 == JobRecord.nonFiniteLoss }.map {
                    .string($0.0)
                }),
            "epoch": JSON(latestEpoch), "is_idle_flagged": .bool(isIdleFlagged),
            "idle_since": isoJSON(idleSinceUs),
            // JobFigures: the batch screen's columns, folded here so every client shows the same figures.
            "best_val_loss": JSON(figures.bestValLoss), "best_val_epoch": JSON(figures.bestValEpoch),
            "total_epochs": JSON(figures.totalEpochs),
            "loss_spark": .array(spark.points.map { JSON($0) }), "loss_spark_metric": JSON(spark.metric),
        ]
        return [
            "id": .string(id), "batch_id": .string(batchID), "model": JSON(model),
            "dataset": JSON(dataset),
            "status": .string(status), "start_time": isoJSON(startUs), "end_time": isoJSON(endUs),
            "elapsed_s": JSON(elapsedSeconds), "metrics": metricsJSON,
            "failure_reason": JSON(failureReason),
            "is_idle_flagged": .bool(isIdleFlagged), "last_activity": isoJSON(lastActivityUs),
            "telemetry": telemetry,
        ]
    }
}
