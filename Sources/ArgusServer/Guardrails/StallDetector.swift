import Logging
import ServiceLifecycle
import Shared
import Synchronization

extension UserPrincipal {
    /// Who server-made events are stored on behalf of (the detectors).
    static let server = UserPrincipal(id: 0, name: "argus-server", isAdmin: true, scope: "reporter")
}

/// A `running` batch that received no event for the stall timeout, by the server's clock, becomes `stalled`
/// and streams `batch_stalled`; its next event makes it running again (`batch_resumed`). A `stopping` batch
/// silent that long, and for `stopGraceUs` after its Stop, ends `stopped` without confirmation (its process is gone,
/// or will never hear us: `StoppedReason.unconfirmed`, `batch_stopped`), and its running jobs with it. The clock is
/// the server's receive time, so a skewed clock on the training host cannot fake a stall.
struct StallDetector: Sendable {
    let store: ArgusStore
    let pipeline: IngestPipeline
    let timeoutUs: Int64
    /// While the server was down nobody could be heard: after a start, every run gets one full timeout to
    /// reach it again (its SDK retries and replays its spill file) before it can be called stalled.
    let startedUs: Int64
    /// The same after the server could not store what runs sent though it ran (its database did not answer, or
    /// refused writes for a disk fault): the last moment it was so, marked by the watchdog (`noteOutage`).
    let unheardUs = Outage()

    final class Outage: Sendable {
        let lastUs = Mutex<Int64>(0)
    }

    /// How long a run asked to stop has to see the request and answer before it can be called stopped without
    /// confirmation: three of the SDK's stop checks (every 10 s), or the stall timeout when that is shorter. A run that
    /// had stalled already is not ended the moment its Stop is asked.
    var stopGraceUs: Int64 { min(timeoutUs, 30_000_000) }

    /// From when runs could be heard without a break: the start, or the end of the last outage.
    var heardSinceUs: Int64 { max(startedUs, unheardUs.lastUs.withLock { $0 }) }

    /// Marks now as a moment runs could not be heard, when the database does not answer or writes are refused.
    /// Returns whether it is so.
    @discardableResult
    func noteOutage() async -> Bool {
        var down = await store.writeFault() != nil
        if !down {
            do { try await store.ping() } catch { down = true }
        }
        if down { markUnheard() }
        return down
    }

    func markUnheard() {
        let now = store.clock.nowUs()
        unheardUs.lastUs.withLock { $0 = max($0, now) }
    }

    init(store: ArgusStore, pipeline: IngestPipeline, timeoutMin: Double) {
        self.store = store
        self.pipeline = pipeline
        self.timeoutUs = Int64(timeoutMin * 60_000_000)
        self.startedUs = store.clock.nowUs()
    }

    /// Marks every batch silent for the timeout as stalled (or stopped, if it was stopping); returns the ids it marked.
    @discardableResult
    func check() async throws -> [String] {
        let now = store.clock.nowUs()
        guard timeoutUs > 0, now - heardSinceUs >= timeoutUs else { return [] }
        let silent = try await store.liveBatches(receivedAtOrBefore: now - timeoutUs, stopAtOrBefore: now - stopGraceUs)
        guard !silent.isEmpty else { return [] }
        let events = silent.map { b in
            let stopping = b.status == RunStatus.stopping
            var data = JSONObject([
                ("last_received", .string(Timestamp(micros: b.lastReceivedUs).iso)),
                ("silent_s", JSON(Double(now - b.lastReceivedUs) / 1e6)),
                ("timeout_min", JSON(Double(timeoutUs) / 60e6)), ("previous_status", .string(b.status)),
            ])
            if stopping {
                data["reason"] = .string(
                    StoppedReason.unconfirmed(silentS: Double(now - b.lastReceivedUs) / 1e6, graceS: Double(stopGraceUs) / 1e6))
            }
            return IncomingEvent.server(
                type: stopping ? ServerEventTypes.batchStopped : ServerEventTypes.batchStalled, batchID: b.id, project: b.project,
                data: data, at: Timestamp(micros: now))
        }
        let outcomes = try await pipeline.submitServerEvents(events, as: .server)
        return zip(silent, outcomes).compactMap { b, o in
            if case .accepted = o { return b.id }
            return nil
        }
    }

    /// Microseconds until the next live batch could stall (nil when none is live or the detector is off).
    func untilNextDeadline() async throws -> Int64? {
        guard timeoutUs > 0, let next = try await store.nextSilenceDeadline(timeoutUs: timeoutUs, graceUs: stopGraceUs)
        else { return nil }
        return max(next, heardSinceUs + timeoutUs) - store.clock.nowUs()
    }
}

extension ArgusStore {
    static let liveStatuses = "(" + BatchRecord.liveStatuses.sorted().map { "'\($0)'" }.joined(separator: ", ") + ")"

    /// Running or stopping batches last heard from at or before `cutoff` (server receive time), and whose Stop, if
    /// one was asked, came at or before `stopCutoff`: a run asked to stop (a stalled one too) gets
    /// `StallDetector.stopGraceUs` to see the request and answer before it is called stopped without confirmation.
    func liveBatches(receivedAtOrBefore cutoff: Int64, stopAtOrBefore stopCutoff: Int64) async throws -> [BatchRecord] {
        try await database.read { db in
            try db.fetchAll(
                """
                SELECT * FROM batches WHERE status IN \(ArgusStore.liveStatuses) AND last_received_us <= ?
                  AND (stop_requested_us IS NULL OR stop_requested_us <= ?)
                """,
                [cutoff, stopCutoff]
            ).map(BatchRecord.init(row:))
        }
    }

    /// The next moment a live batch could be found silent (`liveBatches`), given the timeout and the grace.
    func nextSilenceDeadline(timeoutUs: Int64, graceUs: Int64) async throws -> Int64? {
        try await database.read { db in
            try db.scalar(
                Int64.self,
                """
                SELECT MIN(CASE WHEN stop_requested_us + ? > last_received_us + ? THEN stop_requested_us + ?
                  ELSE last_received_us + ? END) FROM batches WHERE status IN \(ArgusStore.liveStatuses)
                """, [graceUs, timeoutUs, graceUs, timeoutUs])
        }
    }
}

extension IngestTransaction {
    /// Server-made events that change a batch's status are compare-and-sets, checked in the transaction that
    /// stores them: batch_stalled and batch_stopped are refused unless the batch is still running (stopping) and
    /// nothing arrived since the detector looked (an event may have landed between its read and this
    /// transaction); batch_marked_failed unless the batch may still be marked failed.
    mutating func serverEventRefusal(_ e: IncomingEvent) throws -> String? {
        switch e.type {
        case ServerEventTypes.batchStalled, ServerEventTypes.batchStopped:
            guard let b = try batch(e.batchID) else { return "Batch '\(e.batchID)' does not exist." }
            let expected = e.type == ServerEventTypes.batchStalled ? RunStatus.running : RunStatus.stopping
            // The agent's word that it stopped the process, after the stall detector had to assume so: it says more.
            if e.type == ServerEventTypes.batchStopped, e.data["process_exit_code"] != nil, b.status == RunStatus.stopped,
                StoppedReason.isUnconfirmed(b.endReason)
            {
                return nil
            }
            guard b.status == expected else { return "Batch '\(b.id)' is \(b.status)." }
            // An agent's report that the run's process exited is news in itself: only the status must still hold.
            if e.type == ServerEventTypes.batchStopped, e.data["process_exit_code"] != nil { return nil }
            let seen = e.data["last_received"]?.stringValue.flatMap { Timestamp(iso: $0)?.micros }
            guard seen == b.lastReceivedUs else { return "Batch '\(b.id)' was heard from meanwhile." }
            return nil
        case ServerEventTypes.batchMarkedFailed:
            guard let b = try batch(e.batchID) else { return "Batch '\(e.batchID)' does not exist." }
            // The agent's word that the run's process died (`AgentController.rerunExited`): only the status must hold.
            if e.data["process_exit_code"] != nil {
                return BatchRecord.failsWhenItsProcessDies.contains(b.status) ? nil : "Batch '\(b.id)' is \(b.status)."
            }
            return BatchStatus.markFailedRefusal(b.status, silentS: b.silentS(at: e.ts.micros)).map {
                "Batch '\(b.id)' cannot be marked failed: \($0)."
            }
        default:
            return nil
        }
    }

    /// Streams batch_resumed and puts a stalled batch back to running (or stopping).
    mutating func resume(_ bid: String, by e: IncomingEvent, stored: inout [StoredEvent]) throws {
        guard let b = batches[bid] else { return }
        let note = try emit(
            "batch_resumed", batch: bid, project: b.project,
            data: JSONObject([
                ("last_received", .string(Timestamp(micros: b.lastReceivedUs).iso)),
                ("silent_s", JSON(Double(receivedUs - b.lastReceivedUs) / 1e6)), ("resumed_by", .string(e.type)),
            ]), at: Timestamp(micros: receivedUs), stored: &stored)
        if let note {
            batches[bid]!.apply(note, receivedUs: receivedUs)
            dirtyBatches.insert(bid)
        }
    }
}

/// Runs the stall detector every `ARGUS_WATCHDOG_INTERVAL_S`, and also exactly when the next live batch's
/// deadline falls due, so a stall is reported on time even when the interval is longer than the timeout.
/// (The idle detector needs no tick: it is judged on snapshot ingest, by the snapshots' own timestamps.)
///
/// It also looks at the database every second: when it stops answering or refuses writes, the live streams are
/// closed. They carried nothing more meanwhile, yet read as live; their clients reconnect, are told why
/// (`StreamController`), and resume by id once it works again.
struct WatchdogService: Service {
    let stall: StallDetector
    let hub: SSEHub
    let intervalS: Double
    /// `ServerConfig.watchdogChecksStalls`.
    var checksStalls = true
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            // Two loops: a stall check that waits on a database gone silent (its lease, its reads) must not keep the
            // look from ending the streams (ci20 saw a stream stay open, and read as live, for as long as it hung).
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await look() }
                if checksStalls { group.addTask { try await checkStalls() } }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Every second: notes whether the database answers and takes writes, and ends the live streams when it stops.
    private func look() async throws {
        var wasDown = false
        while !Task.isCancelled {
            // Every replica notes an outage, so that whichever watches next gives the runs their time.
            let down = await stall.noteOutage()
            if Task.isCancelled { break }
            // (What failed is logged where it failed: a write, a read, the listener.)
            if down, !wasDown, case let n = hub.finishAll(), n > 0 {
                logger.notice("the database does not answer or refuses writes: ended \(n) live stream(s); they resume when it works")
            }
            wasDown = down
            try await Task.sleep(for: .seconds(1))
        }
    }

    /// Marks stalled batches when their deadlines fall due (on one replica at a time).
    private func checkStalls() async throws {
        // A check that keeps failing (a full disk) is logged once, and retried every second at most: an overdue
        // deadline would otherwise make it try, and log, twenty times a second.
        var lastFailure: String? = nil
        var checkAt = ContinuousClock.now
        while !Task.isCancelled {
            let untilCheck = checkAt - ContinuousClock.now
            if untilCheck > .zero {
                try await Task.sleep(for: min(untilCheck, .seconds(1)))
                continue
            }
            // Replicas: one of them watches at a time; the others look again each second, ready to take over.
            guard await stall.store.holdsLease(.stallWatchdog) else {
                try await Task.sleep(for: .seconds(min(intervalS, 1)))
                continue
            }
            var failed = false
            do {
                let marked = try await stall.check()
                // A rerun whose agent never came back is said on its batch, not only when the agent polls.
                try await AgentController.expireStaleReruns(agentID: nil, store: stall.store, pipeline: stall.pipeline)
                for id in marked { logger.notice("batch \(id) stalled: nothing received for \(Double(stall.timeoutUs) / 60e6) min") }
                if lastFailure != nil { logger.notice("stall detector: works again.") }
                lastFailure = nil
            } catch {
                // The server is stopping: nothing to report.
                if error is CancellationError || Task.isCancelled { break }
                failed = true
                stall.markUnheard()
                if "\(error)" != lastFailure { logger.error("stall detector: \(error)") }
                lastFailure = "\(error)"
            }
            // A batch first heard from after now cannot stall sooner than one timeout from now.
            let nextUs =
                stall.timeoutUs > 0
                ? min((try? await stall.untilNextDeadline()) ?? stall.timeoutUs, stall.timeoutUs) : Int64(intervalS * 1e6)
            let sleepS = max(failed ? 1 : 0.05, min(intervalS, Double(nextUs) / 1e6 + 0.01))
            checkAt = ContinuousClock.now + .seconds(sleepS)
            try await Task.sleep(for: .seconds(min(sleepS, 1)))
        }
    }
}
