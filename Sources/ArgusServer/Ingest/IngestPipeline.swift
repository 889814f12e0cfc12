import Foundation
import Shared

/// The single writer. Requests queue their items; whenever the writer is free it takes everything queued
/// and commits it in one transaction (group commit), hands the stored events to the publisher and answers each
/// request. A 2xx therefore always follows the commit. The publisher streams each commit's events in commit order
/// (so SSE ids go up along every stream) while the writer goes on with the next group: fanning a commit out to
/// hundreds of streams takes a few milliseconds that no commit should wait for (bench/load.sh).
actor IngestPipeline {
    private struct Pending {
        var items: [IngestItem]
        var continuation: CheckedContinuation<[IngestOutcome], any Error>
    }

    private let store: ArgusStore
    private let hub: SSEHub
    private let metrics: ServerMetrics
    private var queue: [Pending] = []
    private var writing = false
    /// Cap on events per transaction so one commit never holds the write lock for long.
    private let maxEventsPerCommit = 5000

    /// The idle detector's window (ARGUS_IDLE_JOB_THRESHOLD_MIN); 0 turns it off.
    private let idleWindowUs: Int64

    /// Committed events on their way to the hub, in commit order (one consumer: the publisher task).
    private let toPublish: AsyncStream<[StoredEvent]>.Continuation

    /// `tail`: replicas on one database stream what the database holds, in id order, whichever replica wrote it; a
    /// commit here then only tells the tail to read (`EventTail`). Without it, commits go straight to the hub.
    init(
        store: ArgusStore, hub: SSEHub, idleThresholdMin: Double, metrics: ServerMetrics = ServerMetrics(),
        tail: EventTail? = nil
    ) {
        self.store = store
        self.hub = hub
        self.metrics = metrics
        self.idleWindowUs = Int64(idleThresholdMin * 60_000_000)
        let (commits, continuation) = AsyncStream<[StoredEvent]>.makeStream()
        toPublish = continuation
        if let tail {
            Task { for await _ in commits { tail.poke() } }
        } else {
            Task { for await events in commits { hub.publish(events) } }
        }
    }

    deinit { toPublish.finish() }

    /// Runs on a thread of its own (see `WriterThread`): each commit blocks it, never a cooperative thread.
    private let thread = WriterThread(name: "argus-writer")
    nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }

    func submit(_ items: [IngestItem]) async throws -> [IngestOutcome] {
        try await withCheckedThrowingContinuation { c in
            queue.append(Pending(items: items, continuation: c))
            metrics.queueDepth.record(queue.count)
            if !writing {
                writing = true
                Task { self.drain() }
            }
        }
    }

    /// Commits everything queued, a group at a time. Requests that arrive during a commit wait on this thread's
    /// queue; they all run before the `drain` the first of them schedules, so that drain commits them together
    /// (group commit: one transaction, one fsync, for everything that came in during the previous one).
    private func drain() {
        while !queue.isEmpty {
            var group: [Pending] = []
            var count = 0
            while let first = queue.first,
                group.isEmpty || count + first.items.count <= maxEventsPerCommit
            {
                group.append(queue.removeFirst())
                count += first.items.count
            }
            metrics.queueDepth.record(queue.count)
            do {
                let started = DispatchTime.now()
                let (outcomes, stored) = try store.ingestNow(group.flatMap(\.items), idleWindowUs: idleWindowUs)
                metrics.commitSeconds.recordInterval(since: started)
                toPublish.yield(stored)
                record(outcomes, stored, items: count)
                var offset = 0
                for p in group {
                    p.continuation.resume(returning: Array(outcomes[offset..<offset + p.items.count]))
                    offset += p.items.count
                }
            } catch {
                for p in group { p.continuation.resume(throwing: error) }
            }
        }
        writing = false
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

    /// Stores server-made events (stop_requested, batch_stalled, ...) through the same ordered path.
    @discardableResult
    func submitServerEvents(_ events: [IncomingEvent], as user: UserPrincipal) async throws -> [IngestOutcome] {
        try await submit(events.map { IngestItem(event: $0, user: user) })
    }

    /// One server-made event about a batch, by the server itself, stamped with the server's clock now.
    @discardableResult
    func submitServerEvent(_ type: String, batchID: String, data: JSONObject) async throws -> IngestOutcome {
        let event = IncomingEvent.server(
            type: type, batchID: batchID, project: nil, data: data, at: Timestamp(micros: store.clock.nowUs()))
        return try await submitServerEvents([event], as: .server)[0]
    }
}
