import Foundation

/// Waits until `predicate` holds, polling every 5 ms without holding a thread of the Swift concurrency pool (a
/// blocking poll there can starve the very work it waits for on a 2-core machine); throws after `timeout`.
public func eventually(
    _ what: String, timeout: TimeInterval = 10, _ predicate: @Sendable () throws -> Bool
) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try predicate() { return }
        try await Task.sleep(nanoseconds: 5_000_000)
    }
    // Once more: on a busy machine this task may first run again after the deadline.
    if try predicate() { return }
    throw TestFailure("timed out waiting for \(what)")
}
