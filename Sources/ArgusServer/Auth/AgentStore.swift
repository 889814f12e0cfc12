import Shared

/// One queued instruction for an agent: rerun a recorded command, or stop a process group it started.
struct AgentCommand: Sendable {
    var id: Int64
    var agentID: Int64
    var batchID: String
    var kind: String
    var command: String?
    var cwd: String?
    var targetPID: Int?
    var status: String
    var pid: Int?
    /// For a stop: the pid the batch's own run last reported (its newest resource snapshot's `pid`), so that the agent
    /// signals its process group only when that run is in it. A rerun is linked to the batch whose batch_start came
    /// with its command; someone starting the same command by hand meanwhile gets the link, and a Stop of their run
    /// would otherwise kill the agent's.
    var runPID: Int? = nil

    init(row: SQLRow) {
        id = row["id"]
        agentID = row["agent_id"]
        batchID = row["batch_id"]
        kind = row["kind"]
        command = row["command"]
        cwd = row["cwd"]
        targetPID = row["target_pid"]
        status = row["status"]
        pid = row["pid"]
    }

    var json: JSON {
        [
            "id": JSON(id), "kind": .string(kind), "batch_id": .string(batchID), "command": JSON(command), "cwd": JSON(cwd),
            "pid": JSON(targetPID), "run_pid": JSON(runPID),
        ]
    }
}

/// The agent that would carry out a batch's rerun or stop, or why there is none.
struct AgentAssignment: Sendable {
    var agentID: Int64?
    var host: String?
    var ownerName: String
    /// The agent's user's home, where a rerun with no recorded directory runs (`RerunDirectory.phrase`); nil when no
    /// agent serves the batch, or its agent predates saying it.
    var home: String? = nil
    /// Why a rerun now would start the run a second time (`ArgusStore.rerunInFlight`), or nil; asked for only by the
    /// actions (`forActions`).
    var rerunInFlight: String? = nil

    /// What the batch's latest rerun and latest stop came to when the agent could not carry them out (`lastFailure`);
    /// asked for only by the actions (`forActions`).
    var rerunFailure: AgentFailure? = nil
    var stopFailure: AgentFailure? = nil

    /// The one sentence shown when no agent serves the batch (409 detail, the view's disabled-action reason).
    var unavailableReason: String? {
        guard agentID == nil else { return nil }
        return "no agent online for host \(host ?? "unknown") registered by \(ownerName), the batch's owner"
    }
}

/// Why the agent did not carry out a batch's latest command of a kind, and when that was known.
struct AgentFailure: Sendable, Equatable {
    var reason: String
    var atUs: Int64
}

/// An agent the `agents` table lists, for `argus-server agent list`.
public struct AgentInfo: Sendable {
    public var id: Int64
    public var hostname: String
    public var user: String
    public var tokenID: Int64?
    public var lastSeenAt: String
    /// Why it no longer works (it was revoked, or the token that registered it was), or nil.
    public var revoked: String?
}

extension ArgusStore {
    /// The one rule for whether an agent row (aliased `a`) still works: not revoked itself, and the token that
    /// registered it not revoked either. Authentication, `stillValid` and `agentAssignment` all use it.
    static let liveAgent =
        "a.revoked_us IS NULL AND NOT EXISTS (SELECT 1 FROM tokens rt WHERE rt.id = a.token_id AND rt.revoked_us IS NOT NULL)"

    /// The 401 sentence for an agent that no longer works.
    static let revokedAgentDetail =
        "This agent was revoked, or the token that registered it was: register it again with a valid token."

    func registerAgent(hostname: String, version: String?, capabilities: String?, userID: Int64, tokenID: Int64) async throws
        -> (Int64, String)
    {
        let secret = Secret.make(prefix: Secret.agentPrefix)
        let now = ArgusStore.nowUs()
        let id = try await write { db -> Int64 in
            try db.scalar(
                Int64.self,
                """
                INSERT INTO agents(hostname, token_hash, user_id, version, capabilities, created_us, last_seen_us, token_id)
                VALUES (?,?,?,?,?,?,?,?) RETURNING id
                """, [hostname, SHA256.hex(secret), userID, version, capabilities, now, now, tokenID])!
        }
        return (id, secret)
    }

    /// The live agent (`liveAgent`) this secret belongs to.
    func agent(forToken secret: String) async throws -> Int64? {
        let hash = SHA256.hex(secret)
        return try await database.read { db in
            try db.scalar(Int64.self, "SELECT a.id FROM agents a WHERE a.token_hash = ? AND \(ArgusStore.liveAgent)", [hash])
        }
    }

    /// Whether an agent, live or not, has this secret (a refused one is told it was revoked).
    func agentExists(forToken secret: String) async throws -> Bool {
        let hash = SHA256.hex(secret)
        return try await database.read { db in try db.scalar(Int64.self, "SELECT id FROM agents WHERE token_hash = ?", [hash]) != nil }
    }

    /// Whether agent `id` still works (`liveAgent`): a waiting long-poll asks after a revocation.
    func agentIsLive(_ id: Int64) async throws -> Bool {
        try await database.read { db in
            try db.scalar(Int64.self, "SELECT a.id FROM agents a WHERE a.id = ? AND \(ArgusStore.liveAgent)", [id]) != nil
        }
    }

    public func listAgents() throws -> [AgentInfo] {
        try database.readNow { db in
            try db.fetchAll(
                """
                SELECT a.id, a.hostname, u.name, a.token_id, a.last_seen_us, a.revoked_us, rt.revoked_us AS token_revoked_us
                FROM agents a JOIN users u ON u.id = a.user_id LEFT JOIN tokens rt ON rt.id = a.token_id ORDER BY a.id
                """
            ).map { r in
                let revoked: String? =
                    (r["revoked_us"] as Int64?) != nil
                    ? "revoked" : (r["token_revoked_us"] as Int64?) != nil ? "token revoked" : nil
                return AgentInfo(
                    id: r["id"], hostname: r["hostname"], user: r["name"], tokenID: r["token_id"],
                    lastSeenAt: Timestamp(micros: r["last_seen_us"]).iso, revoked: revoked)
            }
        }
    }

    /// Revokes an agent by id. Returns false when there is no such (unrevoked) agent.
    public func revokeAgent(id: Int64) throws -> Bool {
        try database.writeNow { db in
            try db.execute("UPDATE agents SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL", [ArgusStore.nowUs(), id]) > 0
        }
    }

    /// Where agent `id` runs a rerun that has no recorded directory, when it has said (`touchAgent`).
    func agentHome(_ id: Int64) async throws -> String? {
        try await database.read { db in try db.scalar(String.self, "SELECT home FROM agents WHERE id = ?", [id]) }
    }

    /// The agent is there; `home`, when it says it, is where its reruns without a recorded directory run.
    func touchAgent(_ id: Int64, home: String? = nil) async throws {
        try await write { db in
            try db.execute(
                "UPDATE agents SET last_seen_us = ?, home = COALESCE(?, home) WHERE id = ?", [ArgusStore.nowUs(), home, id])
        }
    }

    /// Keeps the processes of this agent's started reruns, as its heartbeat lists them (`runs`: command id → pids): a
    /// batch whose resource snapshot names one of them is that rerun (`ArgusStore.linkRerun`), even when another was
    /// linked by its command first. Stored as ` 123 456 `, so that one pid matches whole.
    func noteRunProcesses(agentID: Int64, _ runs: [(commandID: Int64, pids: [Int])]) async throws {
        guard !runs.isEmpty else { return }
        try await write { db in
            for run in runs {
                let text = " " + run.pids.map(String.init).joined(separator: " ") + " "
                try db.execute(
                    """
                    UPDATE agent_commands SET run_pids = ? WHERE id = ? AND agent_id = ? AND kind = 'rerun'
                      AND status = 'started' AND (run_pids IS NULL OR run_pids != ?)
                    """, [text, run.commandID, agentID, text])
            }
        }
    }

    /// Notes that `argus-agent run` process `instance` polls as agent `id`, which makes it the one that serves the
    /// agent's commands. Another process that served it within `withinS` (ARGUS_AGENT_ONLINE_S) keeps it, unless this
    /// one names it as `takeover` (it found that process gone: a restart after a crash): this one is then answered
    /// with that process and how long ago it was seen, and nothing is changed. Two live processes of one agent (a
    /// copied state file, a home shared between hosts) would each be handed every command and run it.
    func claimAgent(_ id: Int64, instance: String, takeover: String?, home: String? = nil, withinS: Double)
        async throws -> (holder: String, seenS: Double)?
    {
        try await write { db in
            let now = ArgusStore.nowUs()
            guard let row = try db.fetchOne("SELECT instance, last_seen_us FROM agents WHERE id = ?", [id]) else { return nil }
            let holder: String? = row["instance"]
            let seenUs: Int64 = row["last_seen_us"]
            if let holder, holder != instance, holder != takeover, now - seenUs < Int64(withinS * 1_000_000) {
                return (holder, Double(now - seenUs) / 1e6)
            }
            try db.execute(
                "UPDATE agents SET last_seen_us = ?, home = COALESCE(?, home), instance = ? WHERE id = ?", [now, home, instance, id])
            return nil
        }
    }

    /// Which agent serves a batch; the one place that decides it (rerun, stop, `agent_online`, the view).
    /// An agent serves only its owner's batches: one registered by the batch's owner for the batch's host, seen
    /// within `withinS` (the most recently seen if several). Another user's agent on the same host never runs this
    /// batch's commands, whoever asks: an admin's rerun goes to an agent of the batch's owner too.
    /// `only` asks whether that particular agent serves the batch (Stop reaches the agent that started the run).
    /// `forActions`: also whether a rerun is on its way (`rerunInFlight`), which only the caller's actions show.
    static func agentAssignment(
        _ db: SQLConnection, for b: BatchRecord, withinS: Double, only: Int64? = nil, forActions: Bool = false
    ) throws -> AgentAssignment {
        let owner = try db.scalar(String.self, "SELECT name FROM users WHERE id = ?", [b.ownerID]) ?? "unknown"
        guard let host = b.host else { return AgentAssignment(agentID: nil, host: nil, ownerName: owner) }
        let cutoff = ArgusStore.nowUs() - Int64(withinS * 1_000_000)
        var sql =
            "SELECT a.id, a.home FROM agents a WHERE a.hostname = ? AND a.user_id = ? AND a.last_seen_us >= ? AND \(ArgusStore.liveAgent)"
        var args: [any SQLBindable] = [host, b.ownerID, cutoff]
        if let only {
            sql += " AND a.id = ?"
            args += [only]
        }
        // One that has polled before one only registered (`argus-agent register` run again, its agent never run).
        let agent = try db.fetchOne(sql + " ORDER BY a.last_seen_us > a.created_us DESC, a.last_seen_us DESC LIMIT 1", args)
        let id: Int64? = agent?["id"]
        let home: String? = agent?["home"]
        guard forActions else { return AgentAssignment(agentID: id, host: host, ownerName: owner, home: home) }
        return AgentAssignment(
            agentID: id, host: host, ownerName: owner, home: home, rerunInFlight: try rerunInFlight(db, batchID: b.id, withinS: withinS),
            rerunFailure: try lastFailure(db, batchID: b.id, kind: "rerun"), stopFailure: try lastFailure(db, batchID: b.id, kind: "stop"))
    }

    /// Why the agent did not carry out the batch's latest command of `kind`, or nil when it did (or has not yet): the one
    /// place that decides it, so the banner it becomes outlives the moment it was streamed. A rerun failed when the
    /// agent could not start it, it was cancelled (`staleRerunReason`), or its process exited before its run reported
    /// (`AgentController.reportRerunFailed` keeps the reason on the command); a stop, when the agent refused it.
    static func lastFailure(_ db: SQLConnection, batchID: String, kind: String) throws -> AgentFailure? {
        guard
            let c = try db.fetchOne(
                """
                SELECT status, error, linked_batch_id, created_us, acked_us FROM agent_commands
                WHERE batch_id = ? AND kind = ? ORDER BY id DESC LIMIT 1
                """, [batchID, kind]),
            let reason: String = c["error"]
        else { return nil }
        let status: String = c["status"]
        let linked: String? = c["linked_batch_id"]
        guard ["failed", "cancelled"].contains(status) || (kind == "rerun" && status == "exited" && linked == nil) else { return nil }
        let acked: Int64? = c["acked_us"]
        return AgentFailure(reason: reason, atUs: acked ?? c["created_us"])
    }

    /// Keeps why a rerun failed on its command (`lastFailure`).
    func recordFailure(commandID: Int64, reason: String) async throws {
        _ = try await write { db in try db.execute("UPDATE agent_commands SET error = ? WHERE id = ?", [reason, commandID]) }
    }

    /// How long a started rerun whose run has not reported yet (no batch_start linked to it) counts as on its way.
    static let rerunStartS: Int64 = 600

    /// Why a rerun of `batchID` now would start its run a second time, or nil; the one place that decides it (the
    /// rerun route, in the transaction that queues the command, and the view's `actions.rerun`). Its latest rerun
    /// is on its way while it waits for an online agent to pick it up, while the run it started is live (its
    /// batch_start linked it), or for `rerunStartS` after it started when the run has not reported yet. A rerun an
    /// agent exited or failed, or one waiting for an agent gone offline (`queueRerun` cancels it), is not.
    static func rerunInFlight(_ db: SQLConnection, batchID: String, withinS: Double) throws -> String? {
        guard
            let c = try db.fetchOne(
                """
                SELECT c.id, c.status, c.created_us, c.linked_batch_id, l.status AS linked_status, a.last_seen_us
                FROM agent_commands c JOIN agents a ON a.id = c.agent_id LEFT JOIN batches l ON l.id = c.linked_batch_id
                WHERE c.batch_id = ? AND c.kind = 'rerun' AND c.status IN ('pending', 'started') ORDER BY c.id DESC LIMIT 1
                """, [batchID])
        else { return nil }
        let now = ArgusStore.nowUs()
        let id: Int64 = c["id"]
        switch c["status"] as String {
        case "pending":
            let seen: Int64? = c["last_seen_us"]
            guard let seen, seen >= now - Int64(withinS * 1_000_000) else { return nil }
            return "a rerun of it is already queued for its host's agent (command \(id))"
        default:
            if let linked: String = c["linked_batch_id"] {
                let status: String? = c["linked_status"]
                guard let status, BatchRecord.liveStatuses.contains(status) else { return nil }
                // Already stopping, it only needs to end: "stop it first" would send the user to press Stop again.
                let next = status == RunStatus.stopping ? "wait for it to end" : "stop it first"
                return "its rerun is \(status) as batch '\(linked)' (command \(id)); \(next)"
            }
            let created: Int64 = c["created_us"]
            guard created >= now - rerunStartS * 1_000_000 else { return nil }
            return "its rerun was started \((now - created) / 1_000_000) s ago and has not reported yet (command \(id))"
        }
    }

    func agentAssignment(for b: BatchRecord, withinS: Double, only: Int64? = nil, forActions: Bool = false) async throws
        -> AgentAssignment
    {
        try await database.read { db in
            try ArgusStore.agentAssignment(db, for: b, withinS: withinS, only: only, forActions: forActions)
        }
    }

    /// Queues a command and wakes the agent's long-poll, wherever it waits (`AgentWakeups`).
    func enqueue(agentID: Int64, batchID: String, kind: String, command: String?, cwd: String?, targetPID: Int?) async throws -> Int64 {
        let id = try await write { db in
            try Self.insertCommand(db, agentID: agentID, batchID: batchID, kind: kind, command: command, cwd: cwd, targetPID: targetPID)
        }
        agentWakeups.wake(agentID)
        return id
    }

    /// Puts a command on an agent's queue in `db`'s transaction, and tells the other replicas (PostgreSQL), whose
    /// long-polls then wake; this process's own wake-up is the caller's (`AgentWakeups`), once it committed.
    static func insertCommand(
        _ db: SQLConnection, agentID: Int64, batchID: String, kind: String, command: String? = nil, cwd: String? = nil,
        targetPID: Int? = nil
    ) throws -> Int64 {
        let id = try db.scalar(
            Int64.self,
            "INSERT INTO agent_commands(agent_id, batch_id, kind, command, cwd, target_pid, created_us) VALUES (?,?,?,?,?,?,?) RETURNING id",
            [agentID, batchID, kind, command, cwd, targetPID, ArgusStore.nowUs()])!
        if db.dialect == .postgres { _ = try db.fetchOne("SELECT pg_notify(?, ?)", [ReplicaSignals.agents, String(agentID)]) }
        return id
    }

    /// Queues a rerun of `batchID` unless one is already on its way (`rerunInFlight`, checked in the same transaction, so
    /// two requests at once queue one), and wakes the agent. A rerun still waiting for an agent that went offline is
    /// cancelled, so it never runs after this one. Returns the command's id, or why it was not queued.
    func queueRerun(agentID: Int64, batchID: String, command: String, cwd: String?, withinS: Double) async throws
        -> Result<Int64, APIError>
    {
        let queued = try await write { db -> Result<Int64, APIError> in
            if let why = try ArgusStore.rerunInFlight(db, batchID: batchID, withinS: withinS) {
                return .failure(APIError(status: .conflict, detail: "A second rerun of batch '\(batchID)' is refused: \(why)."))
            }
            try db.execute(
                "UPDATE agent_commands SET status = 'cancelled', error = ? WHERE batch_id = ? AND kind = 'rerun' AND status = 'pending'",
                ["its agent went offline before picking it up, and a newer rerun replaced it", batchID])
            return .success(try Self.insertCommand(db, agentID: agentID, batchID: batchID, kind: "rerun", command: command, cwd: cwd))
        }
        if case .success = queued { agentWakeups.wake(agentID) }
        return queued
    }

    /// Why a rerun still waiting for its agent `rerunStartS` after it was asked for is not run any more.
    static let staleRerunReason =
        "its host's agent was away for the 10 minutes after it was asked for, so it is not run this late; ask again if you still want it"

    /// Cancels this agent's reruns that have waited for it longer than `rerunStartS` (it was offline: killed, its
    /// host down) and returns them: a training run that starts by surprise a day after someone asked for it would
    /// take a shared box's GPUs. Stops are kept: carried out late, they still end what was asked to end.
    /// `agentID` nil: every agent's (the watchdog's sweep, for an agent that never polls again).
    func expireStaleReruns(agentID: Int64?) async throws -> [AgentCommand] {
        let cutoff = ArgusStore.nowUs() - ArgusStore.rerunStartS * 1_000_000
        let sql =
            "SELECT * FROM agent_commands WHERE kind = 'rerun' AND status = 'pending' AND created_us < ?"
            + (agentID == nil ? "" : " AND agent_id = ?")
        let args: [Int64] = [cutoff] + (agentID.map { [$0] } ?? [])
        // Asked on every poll: a read, and a write transaction (through the writer, beside ingest) only when one is due.
        guard try await database.read({ db in try db.fetchOne(sql, args) }) != nil else { return [] }
        return try await write { db in
            let stale = try db.fetchAll(sql, args).map(AgentCommand.init(row:))
            for c in stale {
                try db.execute(
                    "UPDATE agent_commands SET status = 'cancelled', error = ? WHERE id = ?", [ArgusStore.staleRerunReason, c.id])
            }
            return stale
        }
    }

    /// The commands, pending or started, of the agents of this agent's user and host that no longer serve them: revoked
    /// (or their token was), not seen for `withinS`, or registered and never run. `argus-agent register` run again
    /// gives the host a new agent, and the old one's queue would otherwise wait for it forever.
    static let orphanedCommands = """
        FROM agent_commands c JOIN agents a ON a.id = c.agent_id JOIN agents me ON me.id = ?
        WHERE c.status IN ('pending', 'started') AND a.id <> me.id AND a.user_id = me.user_id AND a.hostname = me.hostname
          AND (a.last_seen_us < ? OR a.last_seen_us <= a.created_us OR NOT (\(liveAgent)))
        """

    /// Moves `orphanedCommands` to this agent, which polls: a Stop queued for the agent it replaced reaches it, and
    /// its report on a rerun the old one started is taken. Returns how many moved.
    func adoptCommands(agentID: Int64, withinS: Double) async throws -> Int {
        let cutoff = ArgusStore.nowUs() - Int64(withinS * 1_000_000)
        // Asked on every poll: a read, and a write only when there is something to move.
        let some = try await database.read { db in
            try db.fetchOne("SELECT c.id " + ArgusStore.orphanedCommands + " LIMIT 1", [agentID, cutoff]) != nil
        }
        guard some else { return 0 }
        return try await write { db in
            try db.execute(
                "UPDATE agent_commands SET agent_id = ? WHERE id IN (SELECT c.id \(ArgusStore.orphanedCommands))",
                [agentID, agentID, cutoff])
        }
    }

    /// Whether a Stop for this batch waits for its agent.
    func stopPending(batchID: String) async throws -> Bool {
        try await database.read { db in
            try db.fetchOne("SELECT 1 FROM agent_commands WHERE batch_id = ? AND kind = 'stop' AND status = 'pending'", [batchID]) != nil
        }
    }

    /// Commands not yet acknowledged, oldest first (redelivered until acked).
    func pendingCommands(agentID: Int64) async throws -> [AgentCommand] {
        try await database.read { db in
            try db.fetchAll(
                "SELECT * FROM agent_commands WHERE agent_id = ? AND status = 'pending' ORDER BY id", [agentID]
            )
            .map { row in
                var c = AgentCommand(row: row)
                if c.kind == "stop" { c.runPID = try Self.reportedPID(db, batchID: c.batchID) }
                return c
            }
        }
    }

    /// Whether the batch linked to rerun `commandID` is the rerun by its pid: its newest resource snapshot names one of
    /// the processes the agent listed (`run_pids`). The agent's word that the linked batch is another run (a Stop of
    /// it that it refused) is then about a batch the link has since left (`ArgusStore.linkRerun`).
    func linkedByPID(_ commandID: Int64) async throws -> Bool {
        try await database.read { db in
            guard let row = try db.fetchOne("SELECT linked_batch_id, run_pids FROM agent_commands WHERE id = ?", [commandID]),
                let batch: String = row["linked_batch_id"], let pids: String = row["run_pids"],
                let pid = try Self.reportedPID(db, batchID: batch)
            else { return false }
            return pids.contains(" \(pid) ")
        }
    }

    /// The pid in the batch's newest resource snapshot (the SDK puts its process's in each), or nil.
    static func reportedPID(_ db: SQLConnection, batchID: String) throws -> Int? {
        let body = try db.scalar(
            String.self,
            "SELECT body FROM events WHERE batch_id = ? AND event_type = 'resource_snapshot' ORDER BY id DESC LIMIT 1",
            [batchID])
        return body.flatMap { try? JSON.parse($0) }?["data"]?["pid"]?.intValue
    }

    /// Records an agent's report on a command. Returns false when it is not this agent's command.
    func ack(agentID: Int64, commandID: Int64, status: String, pid: Int?, exitCode: Int?, error: String?) async throws -> Bool {
        try await write { db in
            return try db.execute(
                """
                UPDATE agent_commands SET status = ?, pid = COALESCE(?, pid), exit_code = COALESCE(?, exit_code),
                  error = COALESCE(?, error), acked_us = COALESCE(acked_us, ?)
                WHERE id = ? AND agent_id = ?
                """, [status, pid, exitCode, error, ArgusStore.nowUs(), commandID, agentID]) > 0
        }
    }

    /// One command of this agent, by id.
    func command(_ commandID: Int64, agentID: Int64) async throws -> AgentCommand? {
        try await database.read { db in
            try db.fetchOne(
                "SELECT * FROM agent_commands WHERE id = ? AND agent_id = ?", [commandID, agentID]
            ).map(AgentCommand.init(row:))
        }
    }

    /// The batch a rerun command's process reports as (linked when its batch_start arrived), if any.
    func linkedBatch(ofRerun commandID: Int64) async throws -> String? {
        try await database.read { db in
            try db.scalar(String.self, "SELECT linked_batch_id FROM agent_commands WHERE id = ? AND kind = 'rerun'", [commandID])
        }
    }

    /// The process an agent started for a batch (a rerun whose new batch was linked to its command), if still running.
    func runningRerun(ofBatch batchID: String) async throws -> AgentCommand? {
        try await database.read { db in
            try db.fetchOne(
                "SELECT * FROM agent_commands WHERE linked_batch_id = ? AND kind = 'rerun' AND status = 'started' ORDER BY id DESC LIMIT 1",
                [batchID]
            ).map(AgentCommand.init(row:))
        }
    }
}
