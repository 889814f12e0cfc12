import Foundation
import Hummingbird
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

    public init(config: ServerConfig, store: ArgusStore, logger: Logger) {
        self.config = config
        self.store = store
        self.hub = SSEHub(bufferChunks: config.sseBufferChunks, logger: logger)
        self.pipeline = IngestPipeline(store: store, hub: hub)
        self.auth = Authenticator(store: store)
    }
}

/// Builds the HTTP application: routes grouped by resource, middleware for errors, logging and auth.
/// `onListening` receives the bound port (useful with port 0).
public func buildApplication(
    _ services: ArgusServices, logger: Logger,
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: ArgusRequestContext.self)
    router.add(middleware: RequestLogMiddleware())
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: AuthMiddleware(auth: services.auth))
    let policy = ActionPolicy(agentOnlineS: services.config.agentOnlineS)
    IngestController(pipeline: services.pipeline, maxBodyBytes: services.config.maxBodyBytes)
        .register(on: router)
    ReadController(store: services.store, actions: policy).register(on: router)
    StreamController(store: services.store, hub: services.hub).register(on: router)
    let actions = ActionController(store: services.store, pipeline: services.pipeline, agentOnlineS: services.config.agentOnlineS)
    actions.register(on: router)
    ShareController(
        store: services.store, pipeline: services.pipeline, auth: services.auth, baseURL: services.config.baseURL, actions: actions
    )
    .register(on: router)
    AgentController(store: services.store).register(on: router)

    var app = Application(
        router: router,
        configuration: .init(
            address: .hostname(services.config.host, port: services.config.port),
            serverName: "argus-server"),
        onServerRunning: { channel in
            await onListening(channel.localAddress?.port ?? services.config.port)
        },
        logger: logger)
    app.addServices(SSEKeepaliveService(hub: services.hub, silenceS: services.config.sseKeepaliveS))
    return app
}
