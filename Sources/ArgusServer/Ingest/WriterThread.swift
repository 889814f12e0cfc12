import Foundation

/// A serial executor with one thread of its own: the ingest pipeline's actor runs on it and commits synchronously
/// there (`ArgusStore.ingestNow`), so a request's events reach the database in one hop from the handler instead of
/// three (actor → a task for the writer → GRDB's dispatch queue → back), and the commit's wait for the disk blocks
/// this thread rather than one of Swift's few cooperative threads. `bench/lone.sh` measures the difference.
///
/// The thread ends when the executor is released (the pipeline's actor is gone and no job is queued).
final class WriterThread: SerialExecutor, @unchecked Sendable {
    /// The queue the thread drains, shared with the thread (which must not keep the executor alive).
    private final class Queue: @unchecked Sendable {
        let condition = NSCondition()
        var jobs: [UnownedJob] = []  // guarded by condition
        var ended = false  // guarded by condition
    }

    private let queue = Queue()

    init(name: String) {
        let queue = self.queue
        let executor = Unmanaged.passUnretained(self)
        let thread = Thread {
            // Named for top and perf (Linux gives a new thread its creator's name otherwise).
            try? String(name.prefix(15)).write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
            while true {
                queue.condition.lock()
                while queue.jobs.isEmpty && !queue.ended { queue.condition.wait() }
                if queue.jobs.isEmpty {
                    queue.condition.unlock()
                    return
                }
                let batch = queue.jobs
                queue.jobs.removeAll(keepingCapacity: true)
                queue.condition.unlock()
                // A queued job keeps its actor, and so this executor, alive until it has run.
                let serial = executor.takeUnretainedValue().asUnownedSerialExecutor()
                for job in batch { job.runSynchronously(on: serial) }
            }
        }
        thread.start()
    }

    deinit {
        queue.condition.lock()
        queue.ended = true
        queue.condition.signal()
        queue.condition.unlock()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.condition.lock()
        queue.jobs.append(job)
        queue.condition.signal()
        queue.condition.unlock()
    }
}
