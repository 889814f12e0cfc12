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
        // A tick that keeps failing the same way (the WAL checkpoint, ten times a second on a full disk) is logged
        // once, and again when it fails differently or works again.
        try? await cancelWhenGracefulShutdown {
            var lastFailure: String? = nil
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    try await tick()
                    if lastFailure != nil { logger.notice("\(name): works again.") }
                    lastFailure = nil
                } catch {
                    let text = "\(error)"
                    if text != lastFailure { logger.warning("\(name): \(text)") }
                    lastFailure = text
                }
            }
        }
        await final?()
    }
}
