import ArgumentParser
import Foundation

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Purge old raw events (summaries are kept).",
        subcommands: [Sweep.self])

    struct Sweep: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one retention sweep now and print what it deleted per class.",
            discussion: """
                Deletes raw events older than their class limit, in short transactions, so it is safe to run \
                beside a live server. Batch and job summaries (status, metrics, latest loss, GPU memory peak, \
                failure reason, environment) are never deleted. A limit of 0 keeps that class.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(
            name: .customLong("log-line-days"), parsing: .unconditional,
            help: "Keep log lines this many days (env ARGUS_RETENTION_LOG_LINE_DAYS, default 14).")
        var logLineDays: Double?
        @Option(
            name: .customLong("snapshot-days"), parsing: .unconditional,
            help: "Keep resource snapshots this many days (env ARGUS_RETENTION_SNAPSHOT_DAYS, default 7).")
        var snapshotDays: Double?
        @Option(
            name: .customLong("job-epoch-days"), parsing: .unconditional,
            help: "Keep job_epoch events this many days (env ARGUS_RETENTION_JOB_EPOCH_DAYS, default 30).")
        var jobEpochDays: Double?
        @Option(
            name: .customLong("other-days"), parsing: .unconditional,
            help: "Keep all other raw events this many days (env ARGUS_RETENTION_EVENT_OTHER_DAYS, default 90).")
        var otherDays: Double?

        func validate() throws {
            for (flag, v) in [
                ("--log-line-days", logLineDays), ("--snapshot-days", snapshotDays), ("--job-epoch-days", jobEpochDays),
                ("--other-days", otherDays),
            ] {
                let (unit, longest) = ServerConfig.durationUnit(of: flag)
                if let v, !(v.isFinite && v >= 0 && v <= longest) {
                    throw ValidationError("\(flag) must be a number of \(unit) from 0 to \(Int(longest)) (10 years).")
                }
            }
        }

        func run() async throws {
            var config: ServerConfig
            do { config = try ServerConfig.fromEnvironment() } catch { throw fail(error.description) }
            if let logLineDays { config.retentionLogLineDays = logLineDays }
            if let snapshotDays { config.retentionSnapshotDays = snapshotDays }
            if let jobEpochDays { config.retentionJobEpochDays = jobEpochDays }
            if let otherDays { config.retentionEventOtherDays = otherDays }
            let store = try database.open()
            let policy = RetentionPolicy(config: config)
            let report: SweepReport
            do { report = try await store.sweep(policy, otherProcessWrites: true) } catch {
                let advice = (error as? StorageFault)?.advice(dataDir: store.dataDir) ?? ""
                let text = "\(error)"
                throw fail(
                    "the sweep stopped: " + (advice.isEmpty ? text : (text.hasSuffix(".") ? String(text.dropLast()) : text) + advice + "."))
            }
            say(Sweep.format(report, policy: policy))
        }

        static func format(_ r: SweepReport, policy: RetentionPolicy) -> String {
            var lines = ["class               limit       deleted"]
            for c in RetentionPolicy.Class.allCases {
                let days = policy.days[c] ?? 0
                let limit = days > 0 ? "\(trim(days)) d" : "kept"
                let deleted = days > 0 ? String(r.deleted[c] ?? 0) : "-"
                lines.append(
                    c.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
                        + limit.padding(toLength: 8, withPad: " ", startingAt: 0)
                        + String(repeating: " ", count: max(0, 10 - deleted.count)) + deleted)
            }
            var tail = "total \(r.total) events in \(String(format: "%.2f", r.seconds)) s"
            if let note = r.spaceNote { tail += "; " + note }
            lines.append(tail)
            return lines.joined(separator: "\n")
        }

        static func trim(_ d: Double) -> String {
            d == d.rounded() ? String(Int(d)) : String(d)
        }
    }
}
