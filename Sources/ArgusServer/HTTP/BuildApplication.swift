import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// Everything a running server is made of, assembled in one place.
public struct ArgusServices: Sendable {
    public let config: ServerConfig
    public let store: ArgusStore
    let hub: SSEHub
    let pipeline: IngestPipeline
    let auth: Authenticator
    let stall: StallDetector
    let revocations: RevocationWatcher
    let metrics: ServerMetrics
    /// Open connections, against ARGUS_MAX_CONNECTIONS.
    let connections: ConnectionCounter

    public init(config: ServerConfig, store: ArgusStore, logger: Logger) {
        self.config = config
        self.store = store
        store.epochCache.setBudget(config.epochCacheBytes)
        let metrics = ServerMetrics()
        self.metrics = metrics
        self.hub = SSEHub(
            bufferChunks: config.sseBufferChunks, maxPerCredential: config.maxStreamsPerCredential, logger: logger,
            metrics: metrics)
        var tail: EventTail? = nil
        if let shared = store.database as? SharedDatabase {
            // Replicas: stream from the database, woken by this replica's commits and the others' NOTIFY.
            let t = EventTail(store: store, startAfter: store.newestEventIDAtOpen, logger: logger) { [hub] in
                hub.publish($0)
            }
            shared.onNotify(ReplicaSignals.events) { _ in t.poke() }
            shared.onNotify(ReplicaSignals.agents) { [wakeups = store.agentWakeups] payload in
                // "" after (re)connecting: a wake-up may have been missed; the long-polls read the queue again.
                if let id = Int64(payload) { wakeups.wake(id) } else { wakeups.wakeAll() }
            }
            tail = t
        }
        self.pipeline = IngestPipeline(
            store: store, hub: hub, idleThresholdMin: config.idleJobThresholdMin, metrics: metrics, tail: tail)
        self.auth = Authenticator(store: store)
        self.stall = StallDetector(store: store, pipeline: pipeline, timeoutMin: config.stallTimeoutMin)
        self.revocations = RevocationWatcher(store: store, hub: hub, auth: auth)
        self.connections = ConnectionCounter(limit: config.maxConnections, logger: logger, metrics: metrics)
    }

    /// Runs the stall detector once now (the watchdog does this on its own schedule); returns the batches it
    /// marked stalled. For tests that move a `ManualClock`.
    @discardableResult
    public func checkStalls() async throws -> [String] { try await stall.check() }

    /// Runs one retention sweep now with the configured limits.
    public func sweepRetention() async throws -> SweepReport {
        try await store.sweep(RetentionPolicy(config: config))
    }
}

/// Every route and middleware of the server. OpenAPITests reads `router.routes` from here and compares it with
/// openapi.json, so a route added here and not documented (or the reverse) fails the tests.
func buildRouter(_ services: ArgusServices) -> Router<ArgusRequestContext> {
    let router = Router(context: ArgusRequestContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware(maxBodyBytes: services.config.maxBodyBytes, store: services.store))
    router.add(middleware: DeclaredBodyLimitMiddleware(maxBodyBytes: services.config.maxBodyBytes))
    router.add(middleware: AuthMiddleware(auth: services.auth, baseURL: services.config.baseURL))
    let clock = services.store.clock
    let policy = ActionPolicy(agentOnlineS: services.config.agentOnlineS, clock: clock)
    IngestController(
        pipeline: services.pipeline, maxBodyBytes: services.config.maxBodyBytes, clock: clock,
        limiter: RateLimiter(
            rate: services.config.ingestRate, burstSeconds: 10, variable: "ARGUS_INGEST_RATE", unit: "events", clock: clock),
        bytesLimiter: RateLimiter(
            rate: services.config.ingestMBRate, burstSeconds: 10, variable: "ARGUS_INGEST_MB_RATE", unit: "MB", clock: clock)
    )
    .register(on: router)
    ReadController(store: services.store, actions: policy).register(on: router)
    StreamController(store: services.store, hub: services.hub, keepaliveS: services.config.sseKeepaliveS).register(on: router)
    let actions = ActionController(
        store: services.store, pipeline: services.pipeline, agentOnlineS: services.config.agentOnlineS,
        limiter: RateLimiter(
            rate: services.config.actionRate, burstSeconds: 30, variable: "ARGUS_ACTION_RATE", unit: "actions", clock: clock))
    actions.register(on: router)
    ShareController(
        store: services.store, pipeline: services.pipeline, revocations: services.revocations, baseURL: services.config.baseURL,
        actions: actions
    )
    .register(on: router)
    AgentController(store: services.store, pipeline: services.pipeline, agentOnlineS: services.config.agentOnlineS).register(on: router)
    MetricsController(services: services).register(on: router)
    SessionController(auth: services.auth, store: services.store, revocations: services.revocations).register(on: router)
    WebController().register(on: router)
    // Last: it wraps only what no route answered.
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}

/// Builds the HTTP application: routes grouped by resource, middleware for errors, logging and auth.
/// `onListening` receives the bound port (useful with port 0).
public func buildApplication(
    _ services: ArgusServices, logger: Logger,
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(services)
    let config = services.config
    var app = Application(
        router: router,
        server: .http1(
            configuration: .init(
                additionalChannelHandlers: [
                    ConnectionLimitHandler(counter: services.connections),
                    HeaderLimitHandler(maxHeaderBytes: config.maxHeaderBytes),
                    RequestDeadlineHandler(headerTimeoutS: config.headerTimeoutS, bodyTimeoutS: config.bodyTimeoutS),
                ],
                httpDecoderConfiguration: .init(
                    maxHeaderFieldSize: config.maxHeaderBytes, maxHeaderListSize: config.maxHeaderBytes))),
        // A listen queue as long as the connection cap (the kernel caps it at net.core.somaxconn): a burst of
        // clients, e.g. every SSE subscriber reconnecting after a restart, waits for accept instead of having its
        // SYNs dropped and retried a second or three later (Hummingbird's default queue is 256).
        configuration: .init(
            address: .hostname(config.host, port: config.port), serverName: "argus-server",
            backlog: min(max(config.maxConnections, 256), 4096)),
        onServerRunning: { channel in
            await onListening(channel.localAddress?.port ?? services.config.port)
        },
        logger: logger)
    app.addServices(SSEKeepaliveService(hub: services.hub, silenceS: services.config.sseKeepaliveS))
    let revocations = services.revocations
    app.addServices(
        PeriodicService(name: "revocation check", interval: RevocationWatcher.tick, logger: logger) {
            try await revocations.poll()
        })
    if services.store.checkpointer != nil {
        // Checkpoints the WAL a few times a second from its own connection, so that no ingest commit ever pays for
        // one (a commit-time checkpoint of 32 MB stalled ingest for 50–140 ms during a retention sweep).
        let store = services.store
        app.addServices(
            PeriodicService(
                name: "WAL checkpoint", interval: .milliseconds(100), logger: logger,
                tick: { try await store.checkpoint() }, final: { _ = try? await store.checkpoint() }))
    }
    // A service that returns ends the whole server, so switched-off ones are not added at all.
    // The watchdog also closes the live streams when the database stops answering: it runs with stall detection off.
    app.addServices(
        WatchdogService(
            stall: services.stall, hub: services.hub, intervalS: services.config.watchdogIntervalS,
            checksStalls: services.config.watchdogChecksStalls, logger: logger))
    if services.config.retentionSweepMinutes > 0 {
        app.addServices(
            RetentionService(
                store: services.store, policy: RetentionPolicy(config: services.config),
                intervalMin: services.config.retentionSweepMinutes, logger: logger))
    }
    return app
}
