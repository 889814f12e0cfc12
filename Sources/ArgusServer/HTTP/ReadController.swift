import Hummingbird
import HummingbirdCore
import Shared

/// The read API (openapi.json): what the TUI and a web UI use.
struct ReadController {
    let store: ArgusStore
    let actions: ActionPolicy

    static let batchStatuses = BatchStatus.going.union(BatchStatus.terminal)

    func register(on router: Router<ArgusRequestContext>) {
        router.get("/health") { _, _ in try await health() }
        // What an uptime monitor or `curl -I` asks: the same answer without its body.
        router.head("/health") { _, _ in try await health().createHeadResponse() }
        router.get("/api/batches") { req, ctx in
            if case .share? = ctx.principal { throw APIError.forbidden("A share link can only read the batch it was made for.") }
            let status = req.uri.form.get("status").flatMap { $0.isEmpty ? nil : $0 }
            if let status, !ReadController.batchStatuses.contains(status) {
                throw APIError.unprocessable(
                    "status must be one of \(ReadController.batchStatuses.sorted().joined(separator: ", ")).")
            }
            let limit = try intParam(req.uri, "limit", default: 50, range: 1...1000)
            // Newest first (SPEC); `order=going_first` puts the runs not ended first (what a picker wants).
            let order = req.uri.form.get("order").flatMap { $0.isEmpty ? nil : $0 } ?? "newest"
            guard ["newest", "going_first"].contains(order) else {
                throw APIError.unprocessable("order must be newest or going_first.")
            }
            let rows = try await store.listBatches(
                scope: try ctx.readScope(), status: status, limit: limit, goingFirst: order == "going_first")
            return Response.json(
                .array(
                    rows.map { b, owner in
                        guard case .object(var o) = b.listJSON else { return b.listJSON }
                        o["owner"] = JSON(owner)
                        return .object(o)
                    }))
        }
        router.get("/api/batches/:b") { req, ctx in
            let b = try await requireBatch(ctx, try ctx.parameters.require("b"))
            let agent = try await store.agentAssignment(for: b, withinS: actions.agentOnlineS)
            return Response.json(b.detailJSON(agentOnline: agent.agentID != nil))
        }
        // What the caller may do to the batch now, with the reason for each refusal: the `actions` of `/view`.
        // Clients fetch it again when a summary frame changes the batch's status or stop flag.
        router.get("/api/batches/:b/actions") { req, ctx in
            let b = try await requireBatch(ctx, try ctx.parameters.require("b"))
            let agent = try await store.agentAssignment(for: b, withinS: actions.agentOnlineS, forActions: true)
            return Response.json(actions.actionsJSON(b, ctx.principal, agent: agent))
        }
        router.get("/api/batches/:b/jobs") { req, ctx in
            let id = try ctx.parameters.require("b")
            guard let (b, jobs) = try await store.jobs(batchID: id, scope: try ctx.readScope()) else {
                throw APIError.notFound("Batch '\(id)'")
            }
            return Response.json(.array(jobs.map { $0.json(batchStatus: b.status) }))
        }
        router.get("/api/jobs/:b/:j") { req, ctx in
            let (b, j) = try await requireJob(ctx)
            return Response.json(j.json(batchStatus: b.status))
        }
        // `?format=`: the JSON array (none), csv or jsonl (`EpochExport`, streamed a chunk at a time from the one table
        // read), or columns (`/view?epochs=columns`'s form).
        router.get("/api/jobs/:b/:j/epochs") { req, ctx in
            let (b, j) = (try ctx.parameters.require("b"), try ctx.parameters.require("j"))
            let scope = try ctx.readScope()  // no token is 401 whatever the query says
            let format = req.uri.form.get("format")
            let export = try format.map { f in
                guard f == "columns" || EpochExport.Format(rawValue: f) != nil else {
                    throw APIError.unprocessable("format must be csv, jsonl or columns (or absent, for the JSON array).")
                }
                return EpochExport.Format(rawValue: f)
            }
            guard let table = try await store.epochs(batchID: b, jobID: j, scope: scope) else {
                throw try await jobNotFound(b, j, scope)
            }
            switch export {
            case nil: return Response.json(table.rowsJSON)
            case .some(.none): return Response.json(table.columnsJSON)
            case .some(.some(let f)):
                return Response(
                    status: .ok, headers: [.contentType: f.contentType],
                    body: ResponseBody { writer in
                        for chunk in EpochExport(table, format: f) { try await writer.write(ByteBuffer(bytes: chunk)) }
                        try await writer.finish(nil)
                    })
            }
        }
        router.get("/api/batches/:b/log-lines") { req, ctx in
            let b = try ctx.parameters.require("b")
            let job = req.uri.form.get("job_id").flatMap { $0.isEmpty ? nil : IDEncoding.canonical($0) }
            return try await logLines(req, ctx, batchID: b, jobID: job)
        }
        router.get("/api/jobs/:b/:j/log-lines") { req, ctx in
            try await logLines(req, ctx, batchID: try ctx.parameters.require("b"), jobID: try ctx.parameters.require("j"))
        }
        router.get("/api/batches/:b/resources") { req, ctx in
            let b = try ctx.parameters.require("b")
            let job = req.uri.form.get("job_id").flatMap { $0.isEmpty ? nil : IDEncoding.canonical($0) }
            let limit = try intParam(req.uri, "limit", default: 100, range: 1...2000)
            let scope = try ctx.readScope()
            guard let rows = try await store.resources(batchID: b, jobID: job, limit: limit, scope: scope) else {
                throw try await notFound(b, job, scope)
            }
            return Response.json(.array(rows))
        }
        // `?epochs=columns`: the epochs as one array per key (`EpochTable`), what the TUI asks for; rows otherwise.
        router.get("/api/jobs/:b/:j/view") { req, ctx in
            let (b, j) = (try ctx.parameters.require("b"), try ctx.parameters.require("j"))
            let scope = try ctx.readScope()  // who asks comes first: no token is 401 whatever the query says
            let columns: Bool
            switch req.uri.form.get("epochs") {
            case nil, "rows"?: columns = false
            case "columns"?: columns = true
            default: throw APIError.unprocessable("epochs must be rows or columns.")
            }
            let principal = ctx.principal
            let policy = actions
            guard
                let view = try await store.view(
                    batchID: b, jobID: j, scope: scope, agentOnlineS: policy.agentOnlineS,
                    epochColumns: columns, actions: { policy.actionsJSON($0, principal, agent: $1) })
            else { throw try await jobNotFound(b, j, scope) }
            return Response.json(view)
        }
    }

    /// `GET /health`: 200 when the database answers and no write fault is outstanding, else 503 saying why.
    /// Healthy means the database answers, not only that the process runs (a load balancer's check). After a write
    /// failed for a disk fault, unhealthy until a write succeeds: the next request's, or a tiny one /health tries
    /// itself a few seconds later (so a load balancer that stops sending traffic still sees recovery).
    func health() async throws -> Response {
        do {
            try await store.ping()
        } catch {
            let why = StorageFault(error, dataDir: store.dataDir)?.reason ?? "\(error)"
            return Response.json(
                [
                    "status": "unavailable",
                    "detail": .string("The database does not answer: \(why.hasSuffix(".") ? String(why.dropLast()) : why)."),
                ],
                status: .serviceUnavailable)
        }
        if let fault = await store.writeFault() {
            return Response.json(
                ["status": "unavailable", "detail": .string(fault.healthDetail)], status: .serviceUnavailable,
                headers: [.retryAfter: String(StorageFault.retryAfterS)])
        }
        return Response.json(["status": "ok"])
    }

    func requireBatch(_ ctx: ArgusRequestContext, _ id: String) async throws -> BatchRecord {
        guard let b = try await store.batch(id, scope: try ctx.readScope()) else {
            throw APIError.notFound("Batch '\(id)'")
        }
        return b
    }

    func requireJob(_ ctx: ArgusRequestContext) async throws -> (BatchRecord, JobRecord) {
        let (b, j) = (try ctx.parameters.require("b"), try ctx.parameters.require("j"))
        let scope = try ctx.readScope()
        guard let found = try await store.job(batchID: b, jobID: j, scope: scope) else {
            throw try await jobNotFound(b, j, scope)
        }
        return found
    }

    /// The 404 for a job not found: it names the batch when that is what is missing (or not the caller's to see).
    func jobNotFound(_ b: String, _ j: String, _ scope: ReadScope) async throws -> APIError {
        try await store.batch(b, scope: scope) == nil ? APIError.notFound("Batch '\(b)'") : APIError.notFound("Job '\(j)' of batch '\(b)'")
    }

    /// The 404 of a batch's route, or of one of its jobs' when `job` is given.
    func notFound(_ b: String, _ job: String?, _ scope: ReadScope) async throws -> APIError {
        guard let job else { return APIError.notFound("Batch '\(b)'") }
        return try await jobNotFound(b, job, scope)
    }

    /// A batch's log lines, or one job's (`jobID`: the job route, or `?job_id=` on the batch's; a job the batch does
    /// not have is a 404, as it is for resources).
    func logLines(_ req: Request, _ ctx: ArgusRequestContext, batchID: String, jobID: String?) async throws -> Response {
        let query = try LogLinesQuery(req.uri)
        let scope = try ctx.readScope()
        guard
            let rows = try await store.logLines(
                batchID: batchID, jobID: jobID, requireJob: jobID != nil, limit: query.limit, beforeID: query.beforeID,
                includeHidden: query.includeHidden, filter: query.filter, scope: scope)
        else {
            throw try await notFound(batchID, jobID, scope)
        }
        return Response.json(.array(rows))
    }
}

/// The query of the log-lines routes: `limit`, `before_id` (a page further back), `q` (only lines whose text or level
/// contains it, ignoring case, searched over the whole history) and `include_heartbeats`.
struct LogLinesQuery {
    var limit: Int
    var beforeID: Int64?
    var filter: LogFilter
    var includeHidden: Bool

    init(_ uri: URI) throws(APIError) {
        let query = uri.form
        limit = try intParam(uri, "limit", default: LogFilter.pageSize, range: 1...2000)
        beforeID = nil
        if let s = query.get("before_id") {
            guard let v = Int64(s), v > 0 else { throw APIError.unprocessable("before_id must be a positive integer.") }
            beforeID = v
        }
        let q = String(query.get("q") ?? "")
        guard q.count <= LogFilter.maxQueryLength else {
            throw APIError.unprocessable("q must be at most \(LogFilter.maxQueryLength) characters.")
        }
        filter = LogFilter(q)
        includeHidden = ["1", "true", "yes"].contains(query.get("include_heartbeats") ?? "")
    }
}

func intParam(_ uri: URI, _ name: String, default d: Int, range: ClosedRange<Int>) throws(APIError) -> Int {
    guard let s = uri.form.get(name), !s.isEmpty else { return d }
    guard let v = Int(s), range.contains(v) else {
        throw APIError.unprocessable(
            "\(name) must be an integer from \(range.lowerBound) to \(range.upperBound).")
    }
    return v
}

/// Who may do what to a batch, and whether its host has an agent: shared by the view and (later) the action routes.
struct ActionPolicy: Sendable {
    /// ARGUS_AGENT_ONLINE_S: an agent seen within this many seconds is online.
    let agentOnlineS: Double
    /// Whether a stopping run has gone quiet (`BatchStatus.markFailedRefusal`).
    let clock: ServerClock

    /// Why a recorded command is not offered for copying, or nil. Both clients show a command's control characters as
    /// spaces (they must not reach a terminal or reorder a page) and invisible ones as nothing, so what they would
    /// copy is not what one reads: a newline runs what follows it at once when pasted into a shell, a bidi override
    /// or a zero-width space hides what is there.
    static func copyRefusal(_ command: String) -> String? {
        hiddenCharacters(command).map { $0 + " that a paste into a shell would run or hide" }
    }

    /// Why a recorded command is not rerun, or nil: the confirmation shows it as the clients show it, so a newline
    /// after a `#` (the rest of the line a comment, the next line a command) or a bidi override would have the agent's
    /// shell run what nobody read. The same characters as `copyRefusal`.
    static func rerunRefusal(_ command: String) -> String? {
        hiddenCharacters(command).map { $0 + " that the host's shell would run unseen; rerun it by hand" }
    }

    private static func hiddenCharacters(_ command: String) -> String? {
        let found = TerminalText.hiddenNames(command)
        guard !found.isEmpty else { return nil }
        return "the recorded command holds control or invisible characters (\(found.joined(separator: ", ")))"
    }

    func actionsJSON(_ b: BatchRecord, _ principal: Principal?, agent: AgentAssignment) -> JSON {
        func state(_ reason: String?, failed: AgentFailure? = nil, runsIn: String? = nil) -> JSON {
            var out = JSONObject([("enabled", .bool(reason == nil))])
            if let reason { out["reason"] = .string(reason) }
            if let failed { out["failed"] = ["reason": .string(failed.reason), "at": isoJSON(failed.atUs)] }
            if let runsIn { out["runs_in"] = .string(runsIn) }
            return .object(out)
        }
        var notAllowed: String? = "only the batch's owner or an admin can do this"
        if case .share? = principal { notAllowed = "read-only share link" }
        if case .user(let u)? = principal, u.isAdmin || u.id == b.ownerID {
            notAllowed = u.scope == TokenScope.reporter.rawValue ? nil : "this token can only read"
        }
        // A Stop the agent refused may be asked again (its run's agent may have changed since: `adoptCommands`).
        let stopRefused = b.status == RunStatus.stopping && agent.stopFailure != nil
        let stopReason: String? =
            notAllowed
            ?? (b.isFinished
                ? "batch already \(b.status)" : (b.stopRequested && !stopRefused ? "stop already requested" : nil))
        let rerunReason: String? =
            notAllowed
            ?? (!b.isFinished
                ? BatchStatus.rerunWait(b.status)
                : (b.command.map { ActionPolicy.rerunRefusal($0) ?? agent.unavailableReason ?? agent.rerunInFlight }
                    ?? "no command recorded"))
        return [
            // A refused Stop matters while the batch waits on it; a failed rerun until the next one is asked for.
            "stop": state(stopReason, failed: b.status == RunStatus.stopping ? agent.stopFailure : nil),
            "rerun": state(rerunReason, failed: agent.rerunFailure, runsIn: RerunDirectory.phrase(b.cwd, home: agent.home)),
            "share": state(notAllowed),
            "copy_command": state(b.command.map(ActionPolicy.copyRefusal) ?? "no command recorded"),
            "mark_failed": state(notAllowed ?? BatchStatus.markFailedRefusal(b.status, silentS: b.silentS(at: clock.nowUs()))),
        ]
    }
}
