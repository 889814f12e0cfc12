import Dispatch
import Foundation
import Testing

/// Runs each test case on a thread of its own rather than on Swift concurrency's cooperative pool, when the run
/// sets how many test cases run at once (`SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH`: scripts/test.sh sets 4).
///
/// The pool has one thread per core, and a synchronous test holds its thread while it waits: for a server, tmux, a
/// browser, a timeout. On a 2-core machine two such tests at a time left the cores idle two thirds of the time, and
/// the serialized browser scenarios were the whole SQLite pass (411 s; 239 s at a width of 4).
///
/// Without that setting swift-testing sets no width at all: every test would start at once (hundreds of servers),
/// so the tests stay on the pool, two at a time on two cores, as before.
/// Every suite of the server's and argus-tui's tests carries it: `@Suite("…", .ownThread)`.
public struct OwnThreadTrait: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    static let widthSet = ProcessInfo.processInfo.environment["SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH"] != nil

    public func scopeProvider(for test: Test, testCase: Test.Case?) -> Self? {
        testCase != nil && Self.widthSet ? self : nil
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(QueueExecutor()) { try await function() }
    }
}

extension Trait where Self == OwnThreadTrait {
    /// See `OwnThreadTrait`.
    public static var ownThread: Self { Self() }
}

/// A serial dispatch queue as a task executor. Its thread is dispatch's overcommitting pool, which starts another
/// thread when the ones it has are blocked.
private final class QueueExecutor: TaskExecutor {
    let queue = DispatchQueue(label: "argus.test-case")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
