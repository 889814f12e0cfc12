import Foundation
import Hummingbird
import ServiceLifecycle
import Shared

/// The argus-agent protocol (openapi.json, `/api/agents/…`): register with a reporter token, then poll, ack and heartbeat with the agent token.
struct AgentController {
    let store: ArgusStore
    let pipeline: IngestPipeline
    /// ARGUS_AGENT_ONLINE_S: an agent not seen for this long no longer serves its commands (`adoptCommands`).
    let agentOnlineS: Double
    static let pollIntervalS = 2
    /// Agent messages are a few fields; nothing bigger is read.
    static let maxBodyBytes = 64 * 1024

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/agents/register") { req, ctx in try await registerAgent(req, ctx) }
        router.get("/api/agents/:id/jobs") { req, ctx in
            let id = try agentID(ctx)
            let waitText = req.uri.form.get("wait").flatMap { $0.isEmpty ? nil : $0 } ?? "0"
            guard let wait = Double(waitText), wait.isFinite, (0...30).contains(wait) else {
                throw APIError.unprocessable("wait must be a number of seconds from 0 to 30, got '\(waitText.prefix(40))'.")
            }
            let deadline = Date().addingTimeInterval(wait)
            let query = req.uri.queryParameters
            try await claim(id, instance: query.get("instance"), takeover: query.get("takeover"))
            _ = try await store.adoptCommands(agentID: id, withinS: agentOnlineS)
            try await AgentController.expireStaleReruns(agentID: id, store: store, pipeline: pipeline)
            var seen = store.agentWakeups.generation(id)
            var pending = try await store.pendingCommands(agentID: id)
            // Long-poll: wait until a command is queued for this agent (on any replica) or the wait is over.
            // A revocation wakes every waiting long-poll (RevocationWatcher.sweep): a revoked agent hears 401 now.
            // So does the server's shutdown: it answers what it has at once instead of holding up its exit (and a
            // restart that waits for the port) for the rest of the wait; the agent simply polls again.
            while pending.isEmpty && Date() < deadline && !Task.isShuttingDownGracefully {
                let after = seen
                await cancelWhenGracefulShutdown {
                    await store.agentWakeups.wait(id, after: after, upTo: deadline.timeIntervalSinceNow)
                }
                guard try await store.agentIsLive(id) else { throw APIError.revokedAgent }
                seen = store.agentWakeups.generation(id)
                pending = try await store.pendingCommands(agentID: id)
            }
            return Response.json(.array(pending.map(\.json)))
        }
        router.post("/api/agents/:id/jobs/:cmd/ack") { req, ctx in
            let id = try agentID(ctx)
            guard let cmd = Int64(try ctx.parameters.require("cmd")) else { throw APIError.notFound("Command") }
            let body = try await req.jsonBody(limit: AgentController.maxBodyBytes)
            guard let status = body["status"]?.stringValue, ["started", "failed", "exited"].contains(status) else {
                throw APIError.unprocessable("status must be started, failed or exited.")
            }
            // Read once: what follows needs only what the ack does not change (kind, batch, cwd). The same end
            // reported again (the agent retries until one lands, and reports at start what it could not watch while
            // away) changes nothing a second time.
            guard let command = try await store.command(cmd, agentID: id) else {
                throw APIError.notFound("Command \(cmd) for agent \(id)")
            }
            if status != "started", command.status == status { return Response.json(["ok": true]) }
            guard
                try await store.ack(
                    agentID: id, commandID: cmd, status: status, pid: body["pid"]?.intValue, exitCode: body["exit_code"]?.intValue,
                    error: body["error"]?.stringValue)
            else { throw APIError.notFound("Command \(cmd) for agent \(id)") }
            try await store.touchAgent(id)
            switch (status, command.kind) {
            // Unless the agent found that the batch linked to it is another run (its Stop was refused for that): its
            // end is not that batch's. A link that moved since to the batch whose pid is the rerun's makes it so again.
            case ("exited", "rerun"):
                let elsewhere = body["not_the_linked_run"]?.boolValue == true
                if elsewhere, try await !store.linkedByPID(command.id) { break }
                try await rerunExited(command, exitCode: body["exit_code"]?.intValue, signal: body["signal"]?.stringValue)
            // The agent stopped the run's process group, or found it gone: an agent that was away and restarted is
            // not the process's parent and will never report its exit otherwise.
            case ("exited", "stop"):
                try await endIfStopping(
                    command.batchID, exitCode: nil,
                    reason: StoppedReason.agentStop(signal: body["signal"]?.stringValue, alreadyGone: body["error"] != nil))
            case ("failed", "rerun"): try await reportRerunFailed(command, error: body["error"]?.stringValue)
            default: break
            }
            return Response.json(["ok": true])
        }
        router.post("/api/agents/:id/heartbeat") { req, ctx in
            let id = try agentID(ctx)
            let body = try await req.jsonBody(limit: AgentController.maxBodyBytes, ifEmpty: [:])
            for key in ["instance", "takeover"] where body[key].map({ $0.stringValue == nil }) == true {
                throw APIError.unprocessable(AgentController.instanceRule)
            }
            let runs = try AgentController.runs(body["runs"])
            try await claim(
                id, instance: body["instance"]?.stringValue, takeover: body["takeover"]?.stringValue,
                home: try AgentController.home(body["home"]))
            try await store.noteRunProcesses(agentID: id, runs)
            return Response(status: .noContent)
        }
    }

    /// Notes the `argus-agent run` process (`instance`, an id it makes at start) that polls or heartbeats as agent `id`;
    /// 409 when another process serves that agent (`ArgusStore.claimAgent`), naming it in `holder` so that a restarted
    /// agent that finds that process gone may take over (`takeover`). An agent that sends none (an older argus-agent)
    /// is only noted as seen.
    func claim(_ id: Int64, instance: String?, takeover: String?, home: String? = nil) async throws {
        guard let instance else { return try await store.touchAgent(id, home: home) }
        for text in [instance, takeover].compactMap({ $0 }) {
            guard (1...128).contains(text.utf8.count), text.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw APIError.unprocessable(AgentController.instanceRule)
            }
        }
        if let (holder, seenS) = try await store.claimAgent(
            id, instance: instance, takeover: takeover, home: home, withinS: agentOnlineS)
        {
            throw APIError(
                status: .conflict,
                detail:
                    "Agent \(id) is served by another argus-agent run process, seen \(Int(seenS.rounded())) s ago: its state file is in use twice (a copy, or a home shared between hosts), and each would run every command. Stop the other one, or register this host with a state file of its own (argus-agent register --state-file F).",
                extra: JSONObject([(key: "holder", value: .string(holder))]))
        }
    }

    static let instanceRule = "instance and takeover must be 1 to 128 printable ASCII characters without spaces."

    /// The processes of the reruns the agent watches, as a heartbeat lists them: `[{"command_id": 7, "pids": [123]}]`
    /// (each rerun's process group and what runs below its leader); none when it lists none (an older argus-agent).
    static func runs(_ value: JSON?) throws -> [(commandID: Int64, pids: [Int])] {
        guard let value, !value.isNull else { return [] }
        let rule = "runs must be a list of at most 64 {\"command_id\": N, \"pids\": [N, …]} with at most 256 pids each."
        guard let list = value.arrayValue, list.count <= 64 else { throw APIError.unprocessable(rule) }
        return try list.map { run in
            guard let id = run["command_id"]?.intValue, let pids = run["pids"]?.arrayValue, pids.count <= 256 else {
                throw APIError.unprocessable(rule)
            }
            let numbers = pids.compactMap(\.intValue).filter { $0 > 1 && $0 <= 1 << 22 }
            guard numbers.count == pids.count else { throw APIError.unprocessable(rule) }
            return (Int64(id), numbers)
        }
    }

    /// The home a heartbeat names (where the agent runs a rerun that has no recorded directory), or nil when it names
    /// none. It is shown in the Rerun prompts: an absolute path of printable text.
    static func home(_ value: JSON?) throws -> String? {
        guard let value else { return nil }
        guard let home = value.stringValue, home.hasPrefix("/"), home.utf8.count <= 4096, !TerminalText.hasControl(home)
        else { throw APIError.unprocessable("home must be an absolute path of printable text, at most 4096 bytes.") }
        return home
    }

    /// What the agent's word that a rerun's process exited means for the runs it shows:
    /// - its batch is stopping: it ends `stopped` now (`endIfStopping`);
    /// - its batch is running or stalled and the process failed (a non-zero status: an exception, the OOM killer's
    ///   SIGKILL): it ends `failed` now, with the status, rather than sitting `running` until the stall timeout;
    /// - no batch of its own ever started: the process died before the SDK reported (an import error, a missing
    ///   ARGUS_URL where the agent runs), which is said on the batch that was rerun, where the person who asked looks.
    /// A process that exited 0 with its batch still running is left alone: its last events may yet arrive (replayed
    /// from the SDK's spill file by a later run).
    func rerunExited(_ command: AgentCommand, exitCode: Int?, signal: String? = nil) async throws {
        let status = StoppedReason.exitStatus(exitCode)
        guard let linked = try await store.linkedBatch(ofRerun: command.id) else {
            // Where it ran, whichever way it ended: the first thing to check on the host.
            let place = RerunDirectory.phrase(command.cwd, home: try await store.agentHome(command.agentID))
            let why =
                exitCode == 0
                ? "its process exited (status 0) in \(place) before its run reported: does the command report to Argus, with ARGUS_URL and ARGUS_TOKEN set where the agent runs?"
                : "its process exited with \(status) in \(place) before its run reported (its output is in argus-agent's log on the host)"
            try await reportRerunFailed(command, error: why)
            return
        }
        guard let b = try await store.batch(linked, scope: .batch(linked)) else { return }
        if b.status == RunStatus.stopping {
            let reason =
                signal == nil
                ? StoppedReason.processExit(code: exitCode) : StoppedReason.agentStop(signal: signal, alreadyGone: false)
            try await endIfStopping(linked, exitCode: exitCode, reason: reason)
        } else if BatchRecord.failsWhenItsProcessDies.contains(b.status), exitCode != 0 {
            var data = JSONObject([
                ("process_exit_code", exitCode.map { JSON($0) } ?? .null),
                (
                    "reason",
                    .string("The agent reports the run's process exited with \(status) before the run reported its end.")
                ),
            ])
            data["previous_status"] = .string(b.status)
            // The pipeline checks the status again in the transaction that stores it (the run may just have ended).
            try await pipeline.submitServerEvent(ServerEventTypes.batchMarkedFailed, batchID: linked, data: data)
        }
    }

    /// A rerun's process that exits after Stop was asked for will never report the end itself (SIGTERM took it),
    /// so the agent's word ends the batch `stopped` now rather than after the stall timeout. The pipeline refuses
    /// it unless the batch is still `stopping`, so a run that did report its end keeps what it reported.
    func endIfStopping(_ batchID: String, exitCode: Int?, reason: String) async throws {
        var data = JSONObject([("process_exit_code", exitCode.map { JSON($0) } ?? .null), ("reason", .string(reason))])
        data["previous_status"] = .string(RunStatus.stopping)
        try await pipeline.submitServerEvent(ServerEventTypes.batchStopped, batchID: batchID, data: data)
    }

    /// A rerun the agent could not start is said on the batch that was rerun, where the person who asked is
    /// watching (otherwise the reason would only be in the agent's own log).
    func reportRerunFailed(_ command: AgentCommand, error: String?) async throws {
        try await AgentController.reportRerunFailed(command, error: error, store: store, pipeline: pipeline)
    }

    static func reportRerunFailed(_ command: AgentCommand, error: String?, store: ArgusStore, pipeline: IngestPipeline) async throws {
        let reason = error ?? "the agent could not start the command"
        // Kept on the command too: the actions carry it (`ArgusStore.lastFailure`) to whoever opens the batch later.
        try await store.recordFailure(commandID: command.id, reason: reason)
        let data = JSONObject([
            ("command_id", JSON(Double(command.id))),
            ("error", .string(reason)),
        ])
        try await pipeline.submitServerEvent(ServerEventTypes.rerunFailed, batchID: command.batchID, data: data)
    }

    /// Cancels the reruns that waited for their agent longer than `rerunStartS` and says so on their batches: on the
    /// agent's next poll, and from the watchdog (`agentID` nil) for an agent that never polls again.
    static func expireStaleReruns(agentID: Int64?, store: ArgusStore, pipeline: IngestPipeline) async throws {
        for stale in try await store.expireStaleReruns(agentID: agentID) {
            try await reportRerunFailed(stale, error: ArgusStore.staleRerunReason, store: store, pipeline: pipeline)
        }
    }

    /// The agent named in the path, which must be the caller.
    func agentID(_ ctx: ArgusRequestContext) throws -> Int64 {
        guard let ctxPrincipal = ctx.principal else { throw APIError.unauthorized }
        guard case .agent(let me) = ctxPrincipal else {
            throw APIError.forbidden("These routes take an agent token (from POST /api/agents/register).")
        }
        guard let id = Int64(try ctx.parameters.require("id")), id == me else { throw APIError.forbidden("That is another agent's queue.") }
        return id
    }

    func registerAgent(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let user = try ctx.requireUser()
        guard user.scope == TokenScope.reporter.rawValue else { throw APIError.forbidden("Registering an agent needs a reporter token.") }
        let body = try await req.jsonBody(limit: AgentController.maxBodyBytes)
        guard let host = body["hostname"]?.stringValue, !host.isEmpty else {
            throw APIError.unprocessable("hostname is required (1 to 255 characters).")
        }
        guard host.count <= 255 else {
            throw APIError.unprocessable("hostname is \(host.count) characters long; a host name has at most 255.")
        }
        // It is shown to admins (`agent list`) and matched against batches' hosts: printable text only.
        guard !TerminalText.hasControl(host) else {
            throw APIError.unprocessable("hostname must be printable text, without control or bidi characters.")
        }
        let (id, token) = try await store.registerAgent(
            hostname: host, version: body["version"]?.stringValue, capabilities: body["capabilities"].map { $0.serialized() },
            userID: user.id, tokenID: user.tokenID)
        return .json(
            ["agent_id": JSON(id), "agent_token": .string(token), "poll_interval_s": JSON(AgentController.pollIntervalS)], status: .created)
    }
}
