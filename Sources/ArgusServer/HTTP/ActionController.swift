import Foundation
import Hummingbird
import Shared

/// Actions on a batch: stop, rerun, mark failed; the agent queue they feed.
struct ActionController {
    let store: ArgusStore
    let pipeline: IngestPipeline
    let agentOnlineS: Double
    /// ARGUS_ACTION_RATE, per token: stop, rerun, mark failed and share.
    let limiter: RateLimiter

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/batches/:b/stop") { _, ctx in try await stop(ctx) }
        router.post("/api/batches/:b/rerun") { _, ctx in try await rerun(ctx) }
        router.get("/api/batches/:b/stop-requested") { _, ctx in try await stopRequested(ctx) }
        router.post("/api/batches/:b/mark-failed") { req, ctx in try await markFailed(req, ctx) }
    }

    /// The batch, if the caller may act on it: owner or admin, with a token that may write.
    func actionableBatch(_ ctx: ArgusRequestContext) async throws -> (BatchRecord, UserPrincipal) {
        let id = try ctx.parameters.require("b")
        let user = try ctx.requireUser()
        guard let b = try await store.batch(id, scope: .user(user)) else { throw APIError.notFound("Batch '\(id)'") }
        guard user.scope == TokenScope.reporter.rawValue else {
            throw APIError.forbidden(
                "This token can only read (scope '\(user.scope)'); acting on a batch (stop, rerun, share, mark failed) needs a reporter token."
            )
        }
        return (b, user)
    }

    /// `actionableBatch`, for a request that changes something: it also spends one from the token's action bucket.
    func actingOn(_ ctx: ArgusRequestContext) async throws -> (BatchRecord, UserPrincipal) {
        let (b, user) = try await actionableBatch(ctx)
        try limiter.spend(1, key: user.tokenID)
        return (b, user)
    }

    func stop(_ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actingOn(ctx)
        if b.isFinished { throw APIError(status: .conflict, detail: "Batch '\(b.id)' already \(b.status); there is nothing to stop.") }
        if !b.stopRequested {
            let event = IncomingEvent.server(
                type: ServerEventTypes.stopRequested, batchID: b.id, project: b.project,
                data: JSONObject([("requested_by", .string(user.name))]), at: Timestamp(micros: store.clock.nowUs()))
            try await pipeline.submitServerEvents([event], as: user)
        }
        // A run that an agent started (a rerun) is also stopped at the process level, by that agent: queued even while
        // it is offline (killed, its host rebooting), so it is carried out when the agent polls again rather than
        // never. An agent that was revoked can no longer hear a Stop: it goes to the owner's agent on that host now,
        // which takes the run over (`adoptCommands`). A Stop asked again, with none waiting, is queued again.
        try await Self.afterward("the agent's stop command for batch '\(b.id)'", ctx) {
            guard let started = try await store.runningRerun(ofBatch: b.id), let pid = started.pid,
                try await !store.stopPending(batchID: b.id)
            else { return }
            let agent =
                try await store.agentIsLive(started.agentID)
                ? started.agentID : try await store.agentAssignment(for: b, withinS: 1e9).agentID
            if let agent {
                _ = try await store.enqueue(agentID: agent, batchID: b.id, kind: "stop", command: nil, cwd: nil, targetPID: pid)
            }
        }
        return .json(["status": .string(RunStatus.stopping), "batch_id": .string(b.id), "detail": .string(b.stopDetail)])
    }

    /// Queues the recorded command for the agent that serves the batch (its owner's, on its origin host). Only recorded commands ever run.
    func rerun(_ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actingOn(ctx)
        guard b.isFinished else {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' is still \(b.status); stop it before a rerun.")
        }
        guard let command = b.command else {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' has no recorded command to rerun.")
        }
        if let refusal = ActionPolicy.rerunRefusal(command) {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' is not rerun: \(refusal).")
        }
        let assignment = try await store.agentAssignment(for: b, withinS: agentOnlineS)
        guard let agent = assignment.agentID else {
            throw APIError(status: .conflict, detail: assignment.unavailableReason ?? "no agent online")
        }
        let commandID = try await store.queueRerun(agentID: agent, batchID: b.id, command: command, cwd: b.cwd, withinS: agentOnlineS).get()
        let event = IncomingEvent.server(
            type: "rerun_requested", batchID: b.id, project: b.project,
            data: JSONObject([("command_id", JSON(commandID)), ("agent_id", JSON(agent)), ("requested_by", .string(user.name))]), at: .now()
        )
        try await Self.afterward("the rerun_requested event of batch '\(b.id)'", ctx) {
            try await pipeline.submitServerEvents([event], as: user)
        }
        return .json(["command_id": JSON(commandID), "agent_id": JSON(agent), "host": JSON(b.host)], status: .accepted)
    }

    /// Runs the part of an action that follows the write that decided it (Stop's event, Rerun's command, a share
    /// row). A disk fault there is logged, not answered with 503: the action itself is stored, and a 503 says that
    /// nothing of the request was (a client that tried again would queue a second rerun).
    static func afterward(_ what: String, _ ctx: ArgusRequestContext, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let fault as StorageFault {
            ctx.logger.warning("\(what) was not stored, though the action was: \(fault.reason).")
        }
    }

    /// Ends a run that will never report again (stalled, or stopping with its process gone) as failed, with its
    /// running jobs, streaming `batch_marked_failed`. Body: optional `{"reason": "..."}`.
    func markFailed(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actingOn(ctx)
        let json = try await req.jsonBody(limit: 64 * 1024, ifEmpty: .null)
        var reason: String?
        if !json.isNull {
            guard json.objectValue != nil else {
                throw APIError.unprocessable("The body must be empty or a JSON object like {\"reason\": \"the node died\"}.")
            }
            guard json["reason"] == nil || json["reason"]!.isNull || json["reason"]!.stringValue != nil else {
                throw APIError.unprocessable("reason must be text, like {\"reason\": \"the node died\"}.")
            }
            try json.requireOnlyKeys(["reason"])
            reason = json["reason"]?.stringValue.map { $0.trimmed() }
            if let r = reason, r.count > ActionController.maxReasonLength {
                throw APIError.unprocessable("reason must be at most \(ActionController.maxReasonLength) characters.")
            }
            if reason?.isEmpty == true { reason = nil }
        }
        if let refusal = BatchStatus.markFailedRefusal(b.status, silentS: b.silentS(at: store.clock.nowUs())) {
            throw APIError(status: .conflict, detail: "Batch '\(b.id)' cannot be marked failed: \(refusal).")
        }
        let now = Timestamp(micros: store.clock.nowUs())
        let said = reason ?? "no word from the run since \(Timestamp(micros: b.lastReceivedUs).readableUTC)"
        let event = IncomingEvent.server(
            type: ServerEventTypes.batchMarkedFailed, batchID: b.id, project: b.project,
            data: JSONObject([
                ("reason", .string("Marked failed by \(user.name): \(said)")), ("marked_by", .string(user.name)),
                ("previous_status", .string(b.status)),
            ]), at: now)
        // The status is checked again in the transaction that stores the event (the run may have just ended).
        if case .rejected(let r)? = try await pipeline.submitServerEvents([event], as: user).first {
            throw APIError(status: .conflict, detail: r.message)
        }
        return .json(["status": .string(RunStatus.failed), "batch_id": .string(b.id)])
    }

    static let maxReasonLength = 2000

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
