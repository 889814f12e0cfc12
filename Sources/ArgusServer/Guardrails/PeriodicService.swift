import Logging
import ServiceLifecycle

/// Runs `tick` every `interval` for the life of the server; a failed tick is logged, not fatal. `final` runs once
/// after shutdown. Sleeping ends at once on SIGTERM, so shutdown never waits out a tick.
struct PeriodicService: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let tick: @Sendable () async throws -> Void
    var final: (@Sendable () async -> Void)? = nil

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do { try await tick() } catch { logger.warning("\(name): \(error)") }
            }
        }
        await final?()
    }
}
