import Shared

/// The idle-job rule (README, "Guardrails"), judged by the job's own
/// snapshot timestamps, so a skewed server clock or a late upload cannot fake it:
///
/// A running job is **idle** once its GPUs have been quiet (every GPU under `busyPct`) in every sample from
/// the first quiet sample of the current streak to the newest sample, and that streak lasts at least the
/// window (`ARGUS_IDLE_JOB_THRESHOLD_MIN`). The streak may start before the window: a quiet sample at 0 s and
/// quiet samples every 30.3 s flag a 1-minute window at 60.6 s, whatever the sampling period. Between two
/// samples of a streak the GPU is assumed to have stayed quiet only across a gap of at most `allowedGapUs`
/// (half the window, but at least 60 s, i.e. two of the SDK's 30 s sampling periods); a longer gap means we
/// do not know what happened, so the streak starts again at the sample after it. A busy sample ends the
/// streak and clears the flag (`job_idle_recovered`). Nothing is ever killed.
///
/// Each job keeps three timestamps instead of re-reading its samples: its newest sample, its last busy
/// sample, and the first quiet sample of the current streak. Only a busy sample that arrives late, inside
/// the streak, needs one lookup (the streak then restarts at the first sample after it).
enum IdleRule {
    static let busyPct = GPUFigures.idleBelowPct
    /// Two SDK sampling periods: the smallest gap a streak always bridges, however short the window.
    static let minAllowedGapUs: Int64 = 60_000_000

    /// The longest gap between two quiet samples across which the GPU is assumed to have stayed quiet.
    static func allowedGapUs(windowUs: Int64) -> Int64 { max(windowUs / 2, minAllowedGapUs) }
}

extension JobRecord {
    enum IdleChange: Equatable {
        case flagged(sinceUs: Int64)
        case recovered(sinceUs: Int64)
    }

    /// Folds one GPU sample (util of the busiest GPU) into the idle state (see `IdleRule`). `firstSample(after)`
    /// returns the oldest of this job's samples strictly after a time, for a busy sample that arrives late.
    mutating func observeGPU(
        ts: Int64, util: Double, windowUs: Int64, firstSample: (_ after: Int64) throws -> Int64?
    ) rethrows -> IdleChange? {
        let previous = gpuNewestUs
        let newest = max(previous ?? ts, ts)
        gpuNewestUs = newest
        if util >= IdleRule.busyPct {
            gpuLastBusyUs = max(gpuLastBusyUs ?? ts, ts)
            // A busy sample older than the streak is no news; one inside it (or newest) ends it.
            guard let quiet = gpuQuietSinceUs, quiet <= ts else { return nil }
            gpuQuietSinceUs = ts < newest ? try firstSample(ts) : nil
            guard isIdleFlagged else { return nil }
            let since = idleSinceUs ?? quiet
            isIdleFlagged = false
            idleSinceUs = nil
            return .recovered(sinceUs: since)
        }
        guard ts > (gpuLastBusyUs ?? .min) else { return nil }
        let gap = IdleRule.allowedGapUs(windowUs: windowUs)
        if let quiet = gpuQuietSinceUs {
            if ts >= newest, let previous, ts - previous > gap, !isIdleFlagged {
                gpuQuietSinceUs = ts  // nothing heard for too long: start over from here
            } else if ts < quiet, quiet - ts <= gap {
                gpuQuietSinceUs = ts  // a late sample just before the streak extends it
            }
        } else {
            gpuQuietSinceUs = ts
        }
        guard !isIdleFlagged, !isFinished, windowUs > 0, let quiet = gpuQuietSinceUs, newest - quiet >= windowUs
        else { return nil }
        isIdleFlagged = true
        idleSinceUs = quiet
        return .flagged(sinceUs: quiet)
    }
}

extension IngestTransaction {
    /// Folds a snapshot taken at `ts` into one job it belongs to: its figures (`applySnapshot`), then the idle rule;
    /// the job's newest GPU sample moves on also when the rule does not run (an ended batch, the detector off).
    mutating func foldSnapshot(_ bid: String, _ jid: String, _ ts: Int64, _ gpu: GPUFigures) throws
        -> JobRecord.IdleChange?
    {
        jobs[bid]![jid]!.applySnapshot(gpu, at: ts)
        let change = try observeIdle(bid, jid, ts, gpu)
        if gpu.peakUtil != nil { jobs[bid]![jid]!.gpuNewestUs = max(jobs[bid]![jid]!.gpuNewestUs ?? ts, ts) }
        return change
    }

    /// Runs the idle rule for one job that a snapshot belongs to.
    mutating func observeIdle(_ bid: String, _ jid: String, _ ts: Int64, _ gpu: GPUFigures) throws
        -> JobRecord.IdleChange?
    {
        guard idleWindowUs > 0, let util = gpu.peakUtil, batches[bid]?.isFinished == false,
            var j = jobs[bid]?[jid]
        else { return nil }
        let startUs = j.startUs ?? .min
        let change = try j.observeGPU(ts: ts, util: util, windowUs: idleWindowUs) { after in
            try earliestGPUSample(bid, jid, from: max(after + 1, startUs), through: .max)
        }
        jobs[bid]![jid] = j
        return change
    }

    /// The oldest snapshot with a GPU util figure that belongs to the job (its own, or the batch's) in a range.
    func earliestGPUSample(_ bid: String, _ jid: String, from: Int64, through: Int64) throws -> Int64? {
        try db.scalar(
            Int64.self,
            """
            SELECT MIN(ts_us) FROM events
            WHERE batch_id = ? AND event_type = 'resource_snapshot' AND ts_us >= ? AND ts_us <= ?
              AND (job_id IS NULL OR job_id = ?)
              AND (\(db.dialect.jsonText("body", "data", "gpu_util_pct")) IS NOT NULL
                   OR \(db.dialect.jsonText("body", "data", "gpus", "0", "util_pct")) IS NOT NULL)
            """, [bid, from, through, jid])
    }

    mutating func emitIdle(
        _ change: JobRecord.IdleChange, batch bid: String, job jid: String, at ts: Timestamp, util: Double?,
        stored: inout [StoredEvent]
    ) throws {
        let project = batches[bid]?.project
        switch change {
        case .flagged(let since):
            _ = try emit(
                ServerEventTypes.jobIdleFlagged, batch: bid, job: jid, project: project,
                data: JSONObject([
                    ("since", .string(Timestamp(micros: since).iso)),
                    ("idle_for_s", JSON(Double(ts.micros - since) / 1e6)),
                    ("threshold_min", JSON(Double(idleWindowUs) / 60e6)), ("gpu_util_pct", JSON(util)),
                ]), at: ts, stored: &stored)
        case .recovered(let since):
            _ = try emit(
                ServerEventTypes.jobIdleRecovered, batch: bid, job: jid, project: project,
                data: JSONObject([
                    ("idle_since", .string(Timestamp(micros: since).iso)),
                    ("idle_for_s", JSON(Double(ts.micros - since) / 1e6)), ("gpu_util_pct", JSON(util)),
                ]), at: ts, stored: &stored)
        }
    }
}
