import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// Replicas: which one runs each kind of periodic work. A lease is a session advisory lock held on a connection of its
/// own: taken when free, kept while the connection lives, and released by PostgreSQL the moment the process dies or
/// its connection breaks, so that another replica's next try takes it over.
final class PostgresLeases: Sendable {
    private let url: PostgresURL
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let pacing: ConnectPacing
    private let state = Mutex<(connection: PostgresConnection?, held: Set<Int64>)>((nil, []))
    /// One try at a time (a lease is asked for from several services).
    private let turn = AsyncTurn()

    init(url: PostgresURL, configuration: PostgresConnection.Configuration, pacing: ConnectPacing, logger: Logger) {
        self.url = url
        self.configuration = configuration
        self.pacing = pacing
        self.logger = logger
    }

    deinit { close() }

    /// Closes the lease connection: every lease this process held is released (the next `holds` reconnects).
    func close() {
        state.withLock { s in
            defer { s = (nil, []) }
            return s.connection
        }?.closeKeepingAlive()
    }

    func holds(_ key: Int64) async -> Bool {
        await turn.run {
            do {
                let c = try await connection()
                if state.withLock({ $0.held.contains(key) }) { return true }
                let rows = try await c.query("SELECT pg_try_advisory_lock(\(key))", logger: logger)
                var taken = false
                for try await row in rows { taken = try row.decode(Bool.self) }
                if taken { state.withLock { _ = $0.held.insert(key) } }
                return taken
            } catch {
                // Cannot tell: do not run it here (another replica may hold it); the next try reconnects.
                logger.debug("lease \(key): \(PostgresDatabase.reason(error))")
                return false
            }
        }
    }

    /// `SELECT 1` on the lease connection, which queues behind none of this replica's reads and writes: whether
    /// PostgreSQL answers, not how long this replica's requests wait for a connection (`PostgresDatabase.ping`).
    func ping() async throws {
        try await turn.run { () async -> Result<Void, any Error> in
            do {
                let rows = try await connection().query("SELECT 1", logger: logger)
                for try await _ in rows {}
                // PostgreSQL answers: whatever the pause after a failed attempt to connect, the next one may try
                // at once (else `/health` said ok while requests that needed a new connection were still refused).
                pacing.succeeded()
                return .success(())
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// The lease connection; a new one (holding nothing) when the old one broke.
    private func connection() async throws -> PostgresConnection {
        if let c = state.withLock({ $0.connection }), !c.isClosed { return c }
        state.withLock { $0 = (nil, []) }
        try pacing.check()
        let c: PostgresConnection
        do {
            c = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger
            ).get()
        } catch {
            let unavailable = PostgresUnavailable(connecting: url, error)
            pacing.failed(unavailable)
            throw unavailable
        }
        pacing.succeeded()
        state.withLock { $0.connection = c }
        return c
    }
}

/// Runs async bodies one at a time, in call order.
actor AsyncTurn {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func run<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        }
        busy = true
        defer {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
        return await body()
    }
}

extension PostgresDatabase: SharedDatabase {
    func onNotify(_ channel: String, _ body: @escaping @Sendable (String) -> Void) {
        listen(channel, body)
    }

    func holdsLease(_ key: Int64) async -> Bool {
        await leases.holds(key)
    }

    /// Asked on the lease connection: four readers busy with a burst of streams' replays (or long exports) made a ping
    /// queued behind them wait past `ArgusStore.pingWaitS`, and the watchdog then ended every live stream of a
    /// database that answered. When that connection fails (cut, or refused for want of a slot), a read asks again.
    func ping() async throws {
        do { try await leases.ping() } catch { try await pingByRead() }
    }
}
