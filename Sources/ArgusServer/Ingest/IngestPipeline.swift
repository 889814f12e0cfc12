import Foundation
import Shared

/// The single writer. Requests hand it their items; it commits them one transaction at a time, hands the stored
/// events to the publisher and answers each request. A 2xx therefore always follows the commit. The publisher
/// streams each commit's events in commit order (so SSE ids go up along every stream) while the writer goes on with
/// the next commit: fanning a commit out to hundreds of streams takes a few milliseconds that no commit should wait
/// for (bench/load.sh).
///
/// A request that finds nothing being written and nothing waiting commits its own items on the thread it runs on:
/// a lone request (how the SDK reports a run) then costs no thread switch beyond the ones every request makes
/// (`bench/lone.sh` measures it). Requests that arrive while a commit is under way queue, and the writer's own
/// thread takes everything queued and commits it in one transaction (group commit: one fsync for everything that
/// came in during the previous commit). So commits never overlap, ids follow commit order, and at most one of
/// Swift's few cooperative threads waits for the disk, for one commit at a time.
///
/// PostgreSQL (replicas) always commits on the writer's thread: there a commit waits on the network.
final class IngestPipeline: Sendable {
    private let core: Core
    private let inline: Bool

    /// `tail`: replicas on one database stream what the database holds, in id order, whichever replica wrote it; a
    /// commit here then only tells the tail to read (`EventTail`). Without it, commits go straight to the hub.
    init(
        store: ArgusStore, hub: SSEHub, idleThresholdMin: Double, metrics: ServerMetrics = ServerMetrics(),
        tail: EventTail? = nil
    ) {
        let (commits, toPublish) = AsyncStream<[StoredEvent]>.makeStream()
        if let tail {
            Task { for await _ in commits { tail.poke() } }
        } else {
            Task { for await events in commits { hub.publish(events) } }
        }
        core = Core(
            store: store, metrics: metrics, idleWindowUs: Int64(idleThresholdMin * 60_000_000), toPublish: toPublish)
        inline = store.database.dialect == .sqlite
        let core = core
        Thread {
            // Named for top and perf (Linux gives a new thread its creator's name otherwise).
            try? "argus-writer".write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            core.runWriterThread()
        }.start()
    }

    deinit { core.end() }

    /// For tests: runs on the committing thread before each commit (to hold the writer busy while requests queue).
    /// Set before the first request.
    func beforeEachCommit(_ body: @escaping @Sendable () -> Void) { core.beforeCommit = body }

    /// Requests waiting for the writer.
    var queued: Int { core.queued }

    func submit(_ items: [IngestItem]) async throws -> [IngestOutcome] {
        if inline && core.claimIfIdle() {
            defer { core.handOver() }
            return try core.commit(items)
        }
        return try await withCheckedThrowingContinuation { core.enqueue(items, $0) }
    }

    /// Stores server-made events (stop_requested, batch_stalled, ...) through the same ordered path.
    @discardableResult
    func submitServerEvents(_ events: [IncomingEvent], as user: UserPrincipal) async throws -> [IngestOutcome] {
        try await submit(events.map { IngestItem(event: $0, user: user) })
    }

    /// One server-made event about a batch, by the server itself, stamped with the server's clock now.
    @discardableResult
    func submitServerEvent(_ type: String, batchID: String, data: JSONObject) async throws -> IngestOutcome {
        let event = IncomingEvent.server(
            type: type, batchID: batchID, project: nil, data: data, at: Timestamp(micros: core.store.clock.nowUs()))
        return try await submitServerEvents([event], as: .server)[0]
    }
}

/// What the pipeline and its thread share (the thread must not keep the pipeline alive: it ends with it).
private final class Core: @unchecked Sendable {
    struct Pending {
        var items: [IngestItem]
        var continuation: CheckedContinuation<[IngestOutcome], any Error>
    }

    let store: ArgusStore
    let metrics: ServerMetrics
    /// The idle detector's window (ARGUS_IDLE_JOB_THRESHOLD_MIN); 0 turns it off.
    let idleWindowUs: Int64
    /// Committed events on their way to the hub, in commit order (one consumer: the publisher task).
    let toPublish: AsyncStream<[StoredEvent]>.Continuation
    /// Cap on events per transaction so one commit never holds the write lock for long.
    let maxEventsPerCommit = 5000

    /// `IngestPipeline.beforeEachCommit`.
    nonisolated(unsafe) var beforeCommit: (@Sendable () -> Void)? = nil

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Pending] = []
    /// A commit is under way, or the writer's thread has been given the queue.
    private var writing = false
    /// The writer's thread has been given the queue (woken to drain it).
    private var threadsTurn = false
    private var ended = false

    init(
        store: ArgusStore, metrics: ServerMetrics, idleWindowUs: Int64,
        toPublish: AsyncStream<[StoredEvent]>.Continuation
    ) {
        self.store = store
        self.metrics = metrics
        self.idleWindowUs = idleWindowUs
        self.toPublish = toPublish
    }

    /// True when the caller may commit now on its own thread (nothing is being written and nothing waits); it must
    /// then call `handOver` after its commit.
    func claimIfIdle() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !writing && queue.isEmpty else { return false }
        writing = true
        return true
    }

    /// After a commit made by `claimIfIdle`'s caller: what queued meanwhile goes to the writer's thread.
    func handOver() {
        condition.lock()
        if queue.isEmpty { writing = false } else { wakeThread() }
        condition.unlock()
    }

    func enqueue(_ items: [IngestItem], _ continuation: CheckedContinuation<[IngestOutcome], any Error>) {
        condition.lock()
        queue.append(Pending(items: items, continuation: continuation))
        metrics.queueDepth.record(queue.count)
        if !writing {
            writing = true
            wakeThread()
        }
        condition.unlock()
    }

    var queued: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    /// Called with `condition` held.
    private func wakeThread() {
        threadsTurn = true
        condition.signal()
    }

    func end() {
        condition.lock()
        ended = true
        condition.signal()
        condition.unlock()
        toPublish.finish()
    }

    /// The writer's thread: commits everything queued, a group at a time, whenever it is given the queue.
    func runWriterThread() {
        condition.lock()
        while true {
            while !threadsTurn && !ended { condition.wait() }
            guard threadsTurn else { break }
            guard !queue.isEmpty else {
                threadsTurn = false
                writing = false
                continue
            }
            var group: [Pending] = []
            var count = 0
            while let first = queue.first, group.isEmpty || count + first.items.count <= maxEventsPerCommit {
                group.append(queue.removeFirst())
                count += first.items.count
            }
            metrics.queueDepth.record(queue.count)
            condition.unlock()
            do {
                let outcomes = try commit(group.flatMap(\.items))
                var offset = 0
                for p in group {
                    p.continuation.resume(returning: Array(outcomes[offset..<offset + p.items.count]))
                    offset += p.items.count
                }
            } catch {
                for p in group { p.continuation.resume(throwing: error) }
            }
            condition.lock()
        }
        condition.unlock()
    }

    /// One transaction, on the calling thread; its events go to the publisher before anything else commits.
    func commit(_ items: [IngestItem]) throws -> [IngestOutcome] {
        beforeCommit?()
        let started = DispatchTime.now()
        let (outcomes, stored) = try store.ingestNow(items, idleWindowUs: idleWindowUs)
        metrics.commitSeconds.recordInterval(since: started)
        toPublish.yield(stored)
        record(outcomes, stored, items: items.count)
        return outcomes
    }

    private func record(_ outcomes: [IngestOutcome], _ stored: [StoredEvent], items: Int) {
        metrics.commitGroupSize.record(items)
        var accepted = 0
        var deduplicated = 0
        for o in outcomes {
            switch o {
            case .accepted: accepted += 1
            case .deduplicated: deduplicated += 1
            case .rejected(let r): metrics.rejected(status: r.status)
            }
        }
        metrics.eventsIngested.increment(by: accepted)
        metrics.eventsDeduplicated.increment(by: deduplicated)
        for e in stored where ServerMetrics.guardrailEvents.contains(e.type) { metrics.guardrail(e.type) }
    }
}
