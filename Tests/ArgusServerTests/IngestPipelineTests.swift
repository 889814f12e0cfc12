import ArgusServer
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// The single writer (`IngestPipeline`): a request that finds it idle commits on its own thread; requests that come
/// during a commit wait and are committed together after it, each answered with its own outcomes.
@Suite("Ingest pipeline: one writer, group commits")
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
        "40 requests sent while a 5,000-event commit runs are answered after it, in one or two commits, each with its own ids",
        .timeLimit(.minutes(2)))
    func groupCommit() async throws {
        let srv = try await InProcessServer()
        let pipeline = srv.services.pipeline
        let alice = try #require(try await srv.services.store.principal(forToken: try srv.token()))
        let before = Self.commits(srv.services.metrics)
        let big = try Self.items(5000, job: "big", by: alice)
        let small = try (0..<40).map { try Self.items(1 + $0 % 3, job: "j\($0)", by: alice) }
        let bigTask = Task { try await pipeline.submit(big) }
        try await Task.sleep(for: .milliseconds(30))
        let answers = try await withThrowingTaskGroup(of: (Int, [IngestOutcome]).self) { g in
            for (k, items) in small.enumerated() { g.addTask { (k, try await pipeline.submit(items)) } }
            return try await g.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        let bigIDs = Self.ids(try await bigTask.value)
        #expect(bigIDs.count == 5000)
        for (k, items) in small.enumerated() {
            let ids = Self.ids(answers[k] ?? [])
            #expect(ids.count == items.count, "request \(k): \(answers[k] ?? [])")
            #expect(ids == ids.sorted())
            #expect(ids.allSatisfy { $0 > bigIDs.max()! })
        }
        let all = answers.values.flatMap { Self.ids($0) }
        #expect(Set(all).count == all.count)
        let commits = Self.commits(srv.services.metrics) - before
        #expect((2...3).contains(commits), "\(commits) commits for the big request and the 40 that came during it")
        // The writer is idle again: a lone request is committed at once, on its own.
        let lone = Self.ids(try await pipeline.submit(try Self.items(1, job: "lone", by: alice)))
        #expect(lone.count == 1 && lone[0] > all.max()!)
        #expect(Self.commits(srv.services.metrics) - before == commits + 1)
        await srv.stop()
    }
}
