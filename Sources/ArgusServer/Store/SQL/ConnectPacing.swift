import Synchronization

/// Paces a replica's attempts to connect while PostgreSQL cannot be reached (down, restarting, not accepting
/// connections, a network cut): after an attempt fails, the next ones within a pause fail at once with that failure,
/// the pause doubling from `firstPauseS` to `PostgresListener.maxBackoffS`; the first success ends it. Before, each
/// read, write, ping and lease try of an idle replica opened a connection of its own: about 20 attempts a second, and
/// as many FATAL lines a minute in PostgreSQL's log. One pacing serves a database's readers, writer and lease (its
/// listeners keep their own backoff, the same length).
final class ConnectPacing: Sendable {
    static let firstPauseS = 0.1
    private let state = Mutex<(failure: PostgresUnavailable?, until: ContinuousClock.Instant, pauseS: Double)>((nil, .now, 0))

    /// Throws the last failure while its pause lasts.
    func check() throws {
        if let failure = state.withLock({ s in ContinuousClock.now < s.until ? s.failure : nil }) { throw failure }
    }

    func succeeded() { state.withLock { $0 = (nil, .now, 0) } }

    /// A failed attempt. "No connection slot left" (53300) is not paced: the writer then has this replica's idle
    /// readers give theirs back and tries again at once (`PostgresDatabase.freeSlots`).
    func failed(_ error: PostgresUnavailable) {
        guard error.sqlState != PostgresDatabase.noSlotLeft else { return }
        state.withLock { s in
            s.pauseS = s.failure == nil ? Self.firstPauseS : min(s.pauseS * 2, PostgresListener.maxBackoffS)
            s.failure = error
            s.until = .now + .seconds(s.pauseS)
        }
    }
}
