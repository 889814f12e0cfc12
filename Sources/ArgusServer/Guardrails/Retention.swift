import Foundation
import Logging
import ServiceLifecycle
import Shared

/// How long each class of raw event is kept (`ARGUS_RETENTION_*`, README "Guardrails"). Batch and job summary rows are never deleted.
public struct RetentionPolicy: Sendable {
    public enum Class: String, CaseIterable, Sendable {
        case logLine = "log_line"
        case snapshot = "resource_snapshot"
        case jobEpoch = "job_epoch"
        case other
    }

    /// Days per class; 0 keeps that class forever.
    public var days: [Class: Double]

    public init(config: ServerConfig) {
        days = [
            .logLine: config.retentionLogLineDays, .snapshot: config.retentionSnapshotDays,
            .jobEpoch: config.retentionJobEpochDays, .other: config.retentionEventOtherDays,
        ]
    }
}

public struct SweepReport: Sendable {
    public var deleted: [RetentionPolicy.Class: Int] = [:]
    /// Bytes handed back to the file system by incremental vacuum (0 when the database predates it:
    /// its freed pages are then reused by new events instead).
    public var reclaimedBytes: Int64 = 0
    public var seconds = 0.0
    public var total: Int { deleted.values.reduce(0, +) }

    /// What became of the space the sweep freed, for its log line and the CLI's report; nil when it freed none.
    /// (PostgreSQL's own vacuum reuses it: no file shrinks.)
    public var spaceNote: String? {
        if reclaimedBytes > 0 {
            return "\(String(format: "%.1f", Double(reclaimedBytes) / 1_048_576)) MB returned to the file system"
        }
        return total > 0 ? "freed space will be reused by new events" : nil
    }
}

extension ArgusStore {
    /// One retention sweep: deletes expired raw events class by class in short write transactions, so
    /// ingest waits at most one step, then hands free pages back to the file system a few MB at a time.
    /// `otherProcessWrites`: a server in another process shares the database (the CLI sweeping beside it).
    public func sweep(_ policy: RetentionPolicy, otherProcessWrites: Bool = false) async throws -> SweepReport {
        let started = ContinuousClock.now
        var report = SweepReport()
        let now = clock.nowUs()
        let known = Set(RetentionPolicy.Class.allCases.map(\.rawValue))
        var rows = StepPacer(size: 1000, range: 100...20_000, otherProcessWrites: otherProcessWrites)
        for cls in RetentionPolicy.Class.allCases {
            let days = policy.days[cls] ?? 0
            guard days > 0 else { continue }
            let cutoff = now - Int64(days * 86_400_000_000)
            let types = cls == .other ? try await eventTypes().filter { !known.contains($0) } : [cls.rawValue]
            var deleted = 0
            for type in types {
                while true {
                    let limit = rows.size
                    let (n, took) = try await timed {
                        try await write { db in
                            try db.execute(
                                """
                                DELETE FROM events WHERE id IN
                                  (SELECT id FROM events WHERE event_type = ? AND ts_us < ? LIMIT ?)
                                """, [type, cutoff, limit])
                        }
                    }
                    deleted += n
                    if n < limit { break }
                    try await rows.rest(after: took)
                }
            }
            report.deleted[cls] = deleted
        }
        if report.total > 0 { try await reclaim(into: &report, otherProcessWrites: otherProcessWrites) }
        report.seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
        return report
    }

    /// Every distinct event type, found by seeking the (event_type, ts_us) index type after type.
    func eventTypes() async throws -> [String] {
        try await database.read { db in
            var types: [String] = []
            while let t = try db.scalar(
                String.self, "SELECT event_type FROM events WHERE event_type > ? ORDER BY event_type LIMIT 1",
                [types.last ?? ""])
            {
                types.append(t)
            }
            return types
        }
    }

    /// Incremental vacuum in short steps of page moves, each its own transaction, paced like the deletes.
    private func reclaim(into report: inout SweepReport, otherProcessWrites: Bool) async throws {
        // PostgreSQL's autovacuum hands freed space back by itself.
        guard database.dialect == .sqlite else { return }
        let (mode, pageSize) = try await database.read { db in
            (try db.scalar(Int.self, "PRAGMA auto_vacuum") ?? 0, try db.scalar(Int64.self, "PRAGMA page_size") ?? 4096)
        }
        guard mode == 2 else { return }
        var pages = StepPacer(size: 128, range: 16...4096, otherProcessWrites: otherProcessWrites)
        while true {
            let step = pages.size
            let (freed, took) = try await timed {
                try await write { db -> Int64 in
                    let before = try db.scalar(Int64.self, "PRAGMA freelist_count") ?? 0
                    guard before > 0 else { return 0 }
                    try db.execute("PRAGMA incremental_vacuum(\(step))")
                    return before - (try db.scalar(Int64.self, "PRAGMA freelist_count") ?? 0)
                }
            }
            if freed <= 0 { break }
            report.reclaimedBytes += freed * pageSize
            try await pages.rest(after: took)
        }
        // Copy what can be copied into the database file without waiting on readers, so it shrinks.
        try await checkpoint()
    }
}

private func timed<T>(_ body: () async throws -> T) async rethrows -> (T, Duration) {
    let t0 = ContinuousClock.now
    let value = try await body()
    return (value, ContinuousClock.now - t0)
}

/// Sizes the sweep's write steps (rows deleted, pages moved) toward about 10 ms each: long enough to be
/// efficient, short enough that ingest never waits long for the writer. Between steps it rests: in-process the
/// writer queue is first come, first served, so ingest's commit goes next anyway; beside another process,
/// whose writer waits on SQLite's busy handler (retries after 1, 2, 5, 10, 15, 20 ms...), it rests long
/// enough for one of those retries to land.
struct StepPacer {
    var size: Int
    let range: ClosedRange<Int>
    let otherProcessWrites: Bool

    mutating func rest(after took: Duration) async throws {
        let ms = Double(took / .microseconds(1)) / 1000
        if ms < 4 { size = min(size * 2, range.upperBound) } else if ms > 12 { size = max(size / 2, range.lowerBound) }
        if otherProcessWrites {
            try await Task.sleep(for: .milliseconds(max(20, 2 * ms)))
        } else {
            // Half the writer's time at most: a step of 10 ms is followed by 10 ms for everyone else.
            try await Task.sleep(for: .milliseconds(max(1, min(ms, 50))))
        }
    }
}

/// Runs a sweep every `ARGUS_RETENTION_SWEEP_MINUTES` (the first shortly after start).
struct RetentionService: Service {
    let store: ArgusStore
    let policy: RetentionPolicy
    let intervalMin: Double
    let logger: Logger

    func run() async throws {
        let interval = intervalMin * 60
        try? await cancelWhenGracefulShutdown {
            try await Task.sleep(for: .seconds(min(interval, 10)))
            while !Task.isCancelled {
                // Replicas: one of them sweeps at a time; the others look again each second, ready to take over.
                guard await store.holdsLease(.retentionSweeper) else {
                    try await Task.sleep(for: .seconds(min(interval, 1)))
                    continue
                }
                do {
                    let startedAt = Timestamp.now()
                    let r = try await store.sweep(policy)
                    let parts = RetentionPolicy.Class.allCases.compactMap { c in
                        r.deleted[c].map { "\($0) \(c.rawValue)" }
                    }
                    let text =
                        "retention sweep deleted \(parts.joined(separator: ", ")) in \(String(format: "%.2f", r.seconds)) s (started \(startedAt.iso))"
                        + (r.spaceNote.map { "; " + $0 } ?? "")
                    if r.total > 0 { logger.info("\(text)") } else { logger.debug("\(text)") }
                } catch {
                    logger.error("retention sweep failed: \(error)")
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
