import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// Replicas: which one runs each kind of periodic work. A lease is a session advisory lock held on a connection of its
/// own: taken when free, kept while the connection lives, and released by PostgreSQL the moment the process dies or
/// its connection breaks, so that another replica's next try takes it over.
final class PostgresLeases: Sendable {
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger
    private let state = Mutex<(connection: PostgresConnection?, held: Set<Int64>)>((nil, []))
    /// One try at a time (a lease is asked for from several services).
    private let turn = AsyncTurn()

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        if let c = state.withLock({ $0.connection }) {
            let closing: EventLoopFuture<Void> = c.close()
            _ = closing
        }
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

    /// The lease connection; a new one (holding nothing) when the old one broke.
    private func connection() async throws -> PostgresConnection {
        if let c = state.withLock({ $0.connection }), !c.isClosed { return c }
        state.withLock { $0 = (nil, []) }
        let c = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration, id: 0, logger: logger
        ).get()
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
}
