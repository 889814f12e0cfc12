import Hummingbird
import Shared

/// Actions on a batch (SPEC §6). Stop for now: Rerun, Share and the agent queue come with argus-agent.
struct ActionController {
    let store: ArgusStore
    let pipeline: IngestPipeline

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/batches/:b/stop") { _, ctx in try await stop(ctx) }
        router.get("/api/batches/:b/stop-requested") { _, ctx in try await stopRequested(ctx) }
    }

    /// The batch, if the caller may act on it: owner or admin, with a token that may write.
    func actionableBatch(_ ctx: ArgusRequestContext) async throws -> (BatchRecord, UserPrincipal) {
        let id = try ctx.parameters.require("b")
        let user = try ctx.requireUser()
        guard let b = try await store.batch(id, scope: .user(user)) else { throw APIError.notFound("Batch '\(id)'") }
        guard user.scope == TokenScope.reporter.rawValue else {
            throw APIError.forbidden("This token can only read (scope '\(user.scope)'); stopping a batch needs a reporter token.")
        }
        return (b, user)
    }

    func stop(_ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actionableBatch(ctx)
        if b.isFinished { throw APIError(status: .conflict, detail: "Batch '\(b.id)' already \(b.status); there is nothing to stop.") }
        if !b.stopRequested {
            let event = IncomingEvent.server(
                type: "stop_requested", batchID: b.id, project: b.project,
                data: JSONObject([("requested_by", .string(user.name))]), at: .now())
            try await pipeline.submitServerEvents([event], as: user)
        }
        return .json(["status": "stopping", "batch_id": .string(b.id)])
    }

    /// Polled by the SDK every 10 s; it reads `stop_requested` (older servers sent `requested`, so both).
    func stopRequested(_ ctx: ArgusRequestContext) async throws -> Response {
        let id = try ctx.parameters.require("b")
        guard let b = try await store.batch(id, scope: try ctx.readScope()) else { throw APIError.notFound("Batch '\(id)'") }
        return .json([
            "stop_requested": .bool(b.stopRequested), "requested": .bool(b.stopRequested),
            "requested_at": isoJSON(b.stopRequestedUs), "requested_by": JSON(b.stopRequestedBy),
        ])
    }
}
