import ArgusServer
import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

@testable import ArgusServer

/// The single writer (`IngestPipeline`): a request that finds it idle commits on its own thread; requests that come
/// during a commit wait and are committed together after it, each answered with its own outcomes.
@Suite("Ingest pipeline: one writer, group commits", .ownThread)
struct IngestPipelineTests {
    static func items(_ n: Int, job: String, by user: UserPrincipal) throws -> [IngestItem] {
        try (0..<n).map { k in
            let json = Ev.make("log_line", batch: "b", job: job, data: ["line": .string("\(job) line \(k)")])
            return IngestItem(event: try EventValidator.validate(json, nowUs: Timestamp.now().micros).get(), user: user)
        }
    }

    static func commits(_ metrics: ServerMetrics) -> Int {
        let text = metrics.exposition()
        for line in text.split(separator: "\n") where line.hasPrefix("argus_commit_seconds_count ") {
            return Int(Double(line.split(separator: " ").last!)!)
        }
        return 0
    }

    static func ids(_ outcomes: [IngestOutcome]) -> [Int64] {
        outcomes.compactMap { if case .accepted(let id) = $0 { id } else { nil } }
    }

    @Test(
        "40 requests sent while a commit runs wait for it, then go in one commit together, each answered with its own ids",
        .timeLimit(.minutes(2)))
    func groupCommit() async throws {
        let srv = try await InProcessServer()
        let pipeline = srv.services.pipeline
        let alice = try #require(try await srv.services.store.principal(forToken: try srv.token()))
        // The first commit waits at a gate until the 40 have queued behind it, however busy the machine is.
        let entered = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let commitsSeen = Mutex(0)
        pipeline.beforeEachCommit {
            guard
                commitsSeen.withLock({
                    $0 += 1; return $0
                }) == 1
            else { return }
            entered.signal()
            _ = gate.wait(timeout: .now() + 60)
        }
        let before = Self.commits(srv.services.metrics)
        let first = Task { try await pipeline.submit(try Self.items(1, job: "first", by: alice)) }
        #expect(try await offPool { entered.wait(timeout: .now() + 60) } == .success)
        let small = try (0..<40).map { try Self.items(1 + $0 % 3, job: "j\($0)", by: alice) }
        let tasks = small.map { items in Task { try await pipeline.submit(items) } }
        let deadline = ContinuousClock.now + .seconds(60)
        while pipeline.queued < 40, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(pipeline.queued == 40)
        gate.signal()
        let firstIDs = Self.ids(try await first.value)
        #expect(firstIDs.count == 1)
        var all: [Int64] = []
        for (task, items) in zip(tasks, small) {
            let ids = Self.ids(try await task.value)
            #expect(ids.count == items.count && ids == ids.sorted())
            #expect(ids.allSatisfy { $0 > firstIDs[0] })
            all += ids
        }
        #expect(Set(all).count == all.count)
        #expect(Self.commits(srv.services.metrics) - before == 2, "the first request's commit, then one for the 40")
        // The writer is idle again: a lone request is committed at once, on its own.
        let lone = Self.ids(try await pipeline.submit(try Self.items(1, job: "lone", by: alice)))
        #expect(lone.count == 1 && lone[0] > all.max()!)
        #expect(Self.commits(srv.services.metrics) - before == 3)
        await srv.stop()
    }
}
