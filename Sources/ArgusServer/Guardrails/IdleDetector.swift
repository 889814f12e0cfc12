import GRDB
import Shared

/// The idle-job rule (SPEC §7, §9 "Clocks"), judged by the job's own snapshot timestamps: a running job is
/// idle when every GPU sample in the window ending at its newest sample is below 5% and those samples span
/// at least 90% of the window. The flag clears when a busy sample arrives. Nothing is ever killed.
///
/// Instead of re-reading the window on every snapshot, each job keeps three timestamps: its newest sample,
/// its last busy sample, and the first quiet sample after that. Only when a gap in the samples could make
/// the window's span fall short is the window's oldest sample looked up.
enum IdleRule {
    static let busyPct = 5.0
    static let spanFraction = 0.9
}

extension JobRecord {
    enum IdleChange: Equatable {
        case flagged(sinceUs: Int64)
        case recovered(sinceUs: Int64)
    }

    /// Folds one GPU sample (util of the busiest GPU) into the idle state. `earliestSample(from)` returns the
    /// oldest of this job's samples at or after `from`, for the rare case where the quiet stretch is longer
    /// than the window and its span must be measured.
    mutating func observeGPU(
        ts: Int64, util: Double, windowUs: Int64, earliestSample: (Int64) throws -> Int64?
    ) rethrows -> IdleChange? {
        let newest = max(gpuNewestUs ?? ts, ts)
        gpuNewestUs = newest
        if util >= IdleRule.busyPct {
            gpuLastBusyUs = max(gpuLastBusyUs ?? ts, ts)
            if let q = gpuQuietSinceUs, q <= ts { gpuQuietSinceUs = nil }
            guard isIdleFlagged else { return nil }
            let since = idleSinceUs ?? ts
            isIdleFlagged = false
            idleSinceUs = nil
            return .recovered(sinceUs: since)
        }
        if ts > (gpuLastBusyUs ?? .min) { gpuQuietSinceUs = min(gpuQuietSinceUs ?? ts, ts) }
        guard !isIdleFlagged, !isFinished, windowUs > 0, let quiet = gpuQuietSinceUs else { return nil }
        let windowStart = newest - windowUs
        if let busy = gpuLastBusyUs, busy >= windowStart { return nil }
        let needed = Double(windowUs) * IdleRule.spanFraction
        guard Double(newest - quiet) >= needed else { return nil }
        let oldest = quiet >= windowStart ? quiet : try earliestSample(windowStart)
        guard let oldest, Double(newest - oldest) >= needed else { return nil }
        isIdleFlagged = true
        idleSinceUs = quiet
        return .flagged(sinceUs: quiet)
    }
}

extension IngestTransaction {
    /// Runs the idle rule for one job that a snapshot belongs to.
    mutating func observeIdle(_ bid: String, _ jid: String, _ ts: Int64, _ gpu: GPUFigures) throws
        -> JobRecord.IdleChange?
    {
        guard idleWindowUs > 0, let util = gpu.peakUtil, batches[bid]?.isFinished == false,
            var j = jobs[bid]?[jid]
        else { return nil }
        let startUs = j.startUs ?? .min
        let change = try j.observeGPU(ts: ts, util: util, windowUs: idleWindowUs) { from in
            try earliestGPUSample(bid, jid, from: max(from, startUs), through: ts)
        }
        jobs[bid]![jid] = j
        return change
    }

    /// The oldest snapshot with a GPU util figure that belongs to the job (its own, or the batch's) in a range.
    func earliestGPUSample(_ bid: String, _ jid: String, from: Int64, through: Int64) throws -> Int64? {
        try Int64.fetchOne(
            db.cachedStatement(
                sql: """
                    SELECT MIN(ts_us) FROM events
                    WHERE batch_id = ? AND event_type = 'resource_snapshot' AND ts_us >= ? AND ts_us <= ?
                      AND (job_id IS NULL OR job_id = ?)
                      AND (json_extract(body, '$.data.gpu_util_pct') IS NOT NULL
                           OR json_extract(body, '$.data.gpus[0].util_pct') IS NOT NULL)
                    """), arguments: [bid, from, through, jid])
    }

    mutating func emitIdle(
        _ change: JobRecord.IdleChange, batch bid: String, job jid: String, at ts: Timestamp, util: Double?,
        stored: inout [StoredEvent]
    ) throws {
        let project = batches[bid]?.project
        switch change {
        case .flagged(let since):
            _ = try emit(
                "job_idle_flagged", batch: bid, job: jid, project: project,
                data: JSONObject([
                    ("since", .string(Timestamp(micros: since).iso)),
                    ("idle_for_s", JSON(Double(ts.micros - since) / 1e6)),
                    ("threshold_min", JSON(Double(idleWindowUs) / 60e6)), ("gpu_util_pct", JSON(util)),
                ]), at: ts, stored: &stored)
        case .recovered(let since):
            _ = try emit(
                "job_idle_recovered", batch: bid, job: jid, project: project,
                data: JSONObject([
                    ("idle_since", .string(Timestamp(micros: since).iso)),
                    ("idle_for_s", JSON(Double(ts.micros - since) / 1e6)), ("gpu_util_pct", JSON(util)),
                ]), at: ts, stored: &stored)
        }
    }
}
