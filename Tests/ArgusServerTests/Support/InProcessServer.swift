import ArgusClient
import ArgusServer
import Foundation
import Logging
import ServiceLifecycle
import Shared
import TestSupport

/// The real server (same router, pipeline, SSE hub and services as `argus-server serve`) run inside the test
/// process on 127.0.0.1:0 with a `ManualClock`, so rules that depend on "now" can be driven without sleeping.
/// Tests talk to it over HTTP and SSE like any client. Blocking libcurl calls run on their own threads
/// (`offPool`) so they never starve the cooperative pool the server runs on.
final class InProcessServer: Sendable {
    let clock: ManualClock
    let services: ArgusServices
    let dataDir: URL
    /// The suite's PostgreSQL database when it runs on one (`TestBackend`).
    let database: TestDatabase?
    let url: String
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(_ tweak: (inout ServerConfig) -> Void = { _ in }) async throws {
        dataDir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-inproc-\(UUID().uuidString)")
        var config = ServerConfig()
        config.host = "127.0.0.1"
        config.port = 0
        config.dataDir = dataDir.path
        // Only the test moves time: no background sweeps, and the watchdog's own tick is far away.
        config.watchdogIntervalS = 3600
        config.retentionSweepMinutes = 0
        tweak(&config)
        // The watchdog's deadlines would be the manual clock's, its sleeps real time: on a loaded machine it would mark
        // a batch stalled before the test's own `checkStalls` does. It checks on its own only where a test asks for
        // its tick (AgentOwnershipTests).
        config.watchdogChecksStalls = config.watchdogIntervalS < 3600
        clock = ManualClock()
        let database = TestBackend.isPostgres ? try TestPostgres.freshDatabase() : nil
        self.database = database
        let store =
            try database.map { [clock] in try ArgusStore(databaseURL: $0.url, clock: clock.clock) }
            ?? ArgusStore(dataDir: dataDir.path, clock: clock.clock)
        var logger = Logger(label: "argus-inproc")
        logger.logLevel = .warning
        services = ArgusServices(config: config, store: store, logger: logger)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let app = buildApplication(services, logger: logger) { port in portSink.yield(port) }
        group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        task = Task { [group] in try await group.run() }
        var port = 0
        for await p in ports {
            port = p
            break
        }
        url = "http://127.0.0.1:\(port)"
    }

    func token(user: String = "alice", admin: Bool = false) throws -> String {
        try services.store.createToken(user: user, scope: .reporter, admin: admin).secret
    }

    func client(_ token: String) -> HTTPClient { HTTPClient(baseURL: url, token: token, timeout: 30) }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        services.store.close()
        try? FileManager.default.removeItem(at: dataDir)
        database?.drop()
    }
}

/// Runs a blocking call on a thread of its own and awaits it.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { c in
        Thread { c.resume(with: Result { try body() }) }.start()
    }
}
