import Hummingbird
import Shared

/// Actions on a batch (SPEC §6). Stop for now: Rerun, Share and the agent queue come with argus-agent.
struct ActionController {
    let store: ArgusStore
    let pipeline: IngestPipeline
    let agentOnlineS: Double

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/batches/:b/stop") { _, ctx in try await stop(ctx) }
        router.post("/api/batches/:b/rerun") { _, ctx in try await rerun(ctx) }
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
            // A run that an agent started (a rerun) is also stopped at the process level.
            if let started = try await store.runningRerun(ofBatch: b.id), let pid = started.pid,
                try await store.agentAssignment(for: b, withinS: agentOnlineS, only: started.agentID).agentID != nil
            {
                _ = try await store.enqueue(agentID: started.agentID, batchID: b.id, kind: "stop", command: nil, cwd: nil, targetPID: pid)
            }
        }
        return .json(["status": "stopping", "batch_id": .string(b.id)])
    }

    /// Queues the recorded command for the agent that serves the batch (its owner's, on its origin host). Only recorded commands ever run.
    func rerun(_ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actionableBatch(ctx)
        guard b.isFinished else {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' is still \(b.status); stop it before a rerun.")
        }
        guard let command = b.command else {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' has no recorded command to rerun.")
        }
        let assignment = try await store.agentAssignment(for: b, withinS: agentOnlineS)
        guard let agent = assignment.agentID else {
            throw APIError(status: .conflict, detail: assignment.unavailableReason ?? "no agent online")
        }
        let commandID = try await store.enqueue(agentID: agent, batchID: b.id, kind: "rerun", command: command, cwd: b.cwd, targetPID: nil)
        let event = IncomingEvent.server(
            type: "rerun_requested", batchID: b.id, project: b.project,
            data: JSONObject([("command_id", JSON(commandID)), ("agent_id", JSON(agent)), ("requested_by", .string(user.name))]), at: .now()
        )
        try await pipeline.submitServerEvents([event], as: user)
        return .json(["command_id": JSON(commandID), "agent_id": JSON(agent), "host": JSON(b.host)], status: .accepted)
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
