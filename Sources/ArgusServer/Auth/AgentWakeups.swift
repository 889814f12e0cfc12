import Synchronization

/// Wakes an agent's long-poll (`GET /api/agents/{id}/jobs?wait=`) the moment a command is queued for it: in this
/// process at once, and on the other replicas through NOTIFY (`ReplicaSignals.agents`), so no replica polls the
/// queue while an agent waits.
final class AgentWakeups: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Void, Never>
    }
    private let state = Mutex<(next: Int, generation: [Int64: Int], waiters: [Int64: [Waiter]])>((0, [:], [:]))

    /// Changes whenever a command is queued for `agentID`: read it before looking at the queue, then `wait` with it,
    /// and a command queued in between is not missed.
    func generation(_ agentID: Int64) -> Int { state.withLock { $0.generation[agentID] ?? 0 } }

    func wake(_ agentID: Int64) {
        let woken = state.withLock { s -> [Waiter] in
            s.generation[agentID, default: 0] += 1
            return s.waiters.removeValue(forKey: agentID) ?? []
        }
        for w in woken { w.continuation.resume() }
    }

    /// Every waiting long-poll (after a lost NOTIFY connection: something may have been queued meanwhile).
    func wakeAll() {
        let ids = state.withLock { Array($0.waiters.keys) }
        for id in ids { wake(id) }
    }

    /// Returns once `agentID` is woken after `generation`, or after `seconds`, or when the task is cancelled.
    func wait(_ agentID: Int64, after generation: Int, upTo seconds: Double) async {
        let id = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let now = self.state.withLock { s -> Bool in
                            if (s.generation[agentID] ?? 0) != generation || Task.isCancelled { return true }
                            s.waiters[agentID, default: []].append(Waiter(id: id, continuation: c))
                            return false
                        }
                        if now { c.resume() }
                    }
                } onCancel: {
                    let mine = self.state.withLock { s -> Waiter? in
                        guard let k = s.waiters[agentID]?.firstIndex(where: { $0.id == id }) else { return nil }
                        return s.waiters[agentID]!.remove(at: k)
                    }
                    mine?.continuation.resume()
                }
            }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)) }
            await group.next()
            group.cancelAll()
        }
    }
}
