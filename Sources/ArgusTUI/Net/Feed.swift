import ArgusClient
import FoundationEssentials
import Glibc
import Shared
import Synchronization

/// Where network threads leave actions for the UI thread, plus a pipe that wakes its `poll()`.
public final class ActionInbox: Sendable {
    private let queue = Mutex<[Action]>([])
    /// [read end, write end]
    public let pipeFDs: (Int32, Int32)

    public init() {
        var fds: [Int32] = [0, 0]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        pipeFDs = (fds[0], fds[1])
    }

    public func post(_ a: Action) {
        queue.withLock { $0.append(a) }
        var b: UInt8 = 1
        _ = write(pipeFDs.1, &b, 1)
    }

    /// Takes everything queued and empties the wake pipe.
    public func drain() -> [Action] {
        var buf = [UInt8](repeating: 0, count: 256)
        while read(pipeFDs.0, &buf, buf.count) > 0 {}
        return queue.withLock { q in
            let all = q
            q.removeAll()
            return all
        }
    }
}

/// Fetches and streams for the UI. Each job subscription runs on its own thread (libcurl blocks).
public final class Feed: @unchecked Sendable {
    public let baseURL: String
    public let token: String
    let inbox: ActionInbox
    /// The one live stream at a time: a job's (job screen) or a batch's (batch screen).
    private let stream = Mutex<StreamThread?>(nil)

    public init(baseURL: String, token: String, inbox: ActionInbox) {
        self.baseURL = baseURL
        self.token = token
        self.inbox = inbox
    }

    public func loadBatches() {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            do {
                let rows = try HTTPClient(baseURL: url, token: token).getJSON(BatchRow.listPath)
                inbox.post(.batchesLoaded(rows.arrayValue ?? []))
                inbox.post(.connection(.live))
            } catch {
                Feed.report(error, to: inbox, what: "the list of batches")
            }
        }
    }

    /// The batch screen: its jobs live, from the batch's summary frames (`BatchStream`).
    public func openBatch(_ batchID: String) {
        replaceStream(with: BatchStream(baseURL: baseURL, token: token, batchID: batchID, inbox: inbox))
    }

    /// Who the caller is: an admin's picker shows whose each batch is. Nothing is said when it fails (the
    /// column stays hidden, as for anyone else).
    public func loadSession() {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            if let me = try? HTTPClient(baseURL: url, token: token).getJSON("/api/session") {
                inbox.post(.sessionLoaded(isAdmin: me["is_admin"]?.boolValue ?? false))
            }
        }
    }

    public func loadJobs(_ batchID: String) {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            do {
                let rows = try HTTPClient(baseURL: url, token: token).getJSON(APIPath.jobs(batchID))
                inbox.post(.jobsLoaded(batchID: batchID, rows.arrayValue ?? []))
                inbox.post(.connection(.live))
            } catch {
                Feed.report(error, to: inbox, what: "the batch's job list")
            }
        }
    }

    /// A failed list load: a rejected token ends the UI; a 4xx is a message about what was asked for; anything
    /// else is the server's trouble, shown until a refresh succeeds (the list on screen stays).
    static func report(_ error: Error, to inbox: ActionInbox, what: String = "the list") {
        guard let e = error as? ClientError else {
            inbox.post(.message("\(error)", isError: true))
            return
        }
        if e.status == 401 {
            inbox.post(.fatal(ClientError.refusedCredential(e.detail ?? e.description)))
        } else if e.kind == .http && e.status < 500 {
            inbox.post(.message(e.description, isError: true))
        } else {
            inbox.post(.connection(.offline(problem(e, what: what))))
        }
    }

    /// What a failed request says about the server. `what` names the reply, for one that is not JSON.
    static func problem(_ e: ClientError, what: String, timeout: Double = 10) -> ConnectionProblem {
        switch e.kind {
        case .connection: return .unreachable
        case .timeout: return .noReply(seconds: timeout)
        case .http: return .serverError(status: e.status, detail: e.detail)
        case .decoding: return .malformed(what)
        case .interrupted, .aborted: return .dropped(e.description)
        }
    }

    /// POSTs an action on a batch from a background thread; the reply becomes an action for the UI. A request whose
    /// answer was lost on the way (the connection broke, no whole reply came in time, a reply cut short) may have
    /// been carried out: said so, with what shows whether it was (`ifDone`), never "failed".
    private func act(
        _ name: String, _ path: String, expect status: Int, failed: String? = nil,
        ifDone: String = "the screen shows it once the server says", _ reply: @escaping @Sendable (HTTPResult) -> Action?
    ) {
        let (url, token, inbox) = (baseURL, token, inbox)
        let failed = failed ?? "\(name) failed"
        let lost: @Sendable (String) -> Action = { how in
            .message("\(name): \(how), so the server may have done it; \(ifDone).", isError: true)
        }
        detached {
            do {
                let r = try HTTPClient(baseURL: url, token: token).post(path, json: [:])
                guard r.status == status else { return inbox.post(.message("\(failed): \(r.detail)", isError: true)) }
                inbox.post(reply(r) ?? lost("its answer was cut short"))
            } catch let e as ClientError where e.kind == .interrupted || e.kind == .timeout {
                inbox.post(lost(e.kind == .timeout ? "no whole answer came in time" : "the connection broke before its answer"))
            } catch {
                inbox.post(.message("\(failed): \(error)", isError: true))
            }
        }
    }

    /// Stop: the result goes to the status line with how the stop reaches the run (the server's `detail`); the new
    /// state arrives over SSE.
    public func stop(batchID: String) {
        act("Stop", APIPath.stop(batchID), expect: 200) { r in
            let how = r.json?["detail"]?.stringValue ?? "the run stops at its next check"
            return .message("Stop requested for \(batchID): \(how).", isError: false)
        }
    }

    /// Rerun: the agent on the batch's host runs the recorded command.
    public func rerun(batchID: String) {
        act("Rerun", APIPath.rerun(batchID), expect: 202) { r in
            let host = r.json?["host"]?.stringValue ?? "its host"
            return .message("Rerun queued for the agent on \(host); its new batch will link back to \(batchID).", isError: false)
        }
    }

    /// Mark failed: for a run that will never report again; the new state arrives over SSE.
    public func markFailed(batchID: String) {
        act("Mark failed", APIPath.markFailed(batchID), expect: 200, failed: "Could not mark \(batchID) failed") { _ in
            .message("Batch \(batchID) marked failed.", isError: false)
        }
    }

    /// Share: the URL, naming the job it was minted on, comes back as an action (popup + clipboard).
    public func share(batchID: String, jobID: String) {
        act(
            "Share", APIPath.shares(batchID), expect: 201,
            ifDone: "a link made then is listed on the batch's web page, where it can be revoked"
        ) { r in
            guard let link = r.json?["url"]?.stringValue else { return nil }
            return .shareMinted(url: ShareLink.naming(link, job: jobID))
        }
    }

    /// One page of log lines (older ones, or `/` search matches), fetched on its own thread so the UI never waits.
    public func fetchLogs(_ req: LogPageRequest) {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            do {
                let rows = try HTTPClient(baseURL: url, token: token).getJSON(
                    APIPath.jobLogLines(
                        req.batchID, req.jobID, query: req.query, beforeID: req.beforeID, limit: LogFilter.pageSize))
                inbox.post(.logPage(req, rows.arrayValue ?? []))
            } catch {
                inbox.post(.logPageFailed(req, "\(error)"))
            }
        }
    }

    /// What the caller may do to the batch now: the server's rules (`Update.askActions` says when). A failed fetch
    /// answers `null`, which leaves the old buttons (and settles a key that waited for the answer); the next ask
    /// tries again.
    public func fetchActions(batchID: String) {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            let a = try? HTTPClient(baseURL: url, token: token).getJSON(APIPath.actions(batchID))
            inbox.post(.actionsLoaded(batchID: batchID, a ?? .null))
        }
    }

    /// The compared jobs' epochs, one thread per job (a handful), each answer posted as it arrives.
    public func loadCompare(_ refs: [JobRef]) {
        let (url, token, inbox) = (baseURL, token, inbox)
        for ref in refs {
            detached {
                do throws(ClientError) {
                    let started = Date()
                    let loaded = try JobData.loadView(
                        HTTPClient(baseURL: url, token: token), batchID: ref.batchID, jobID: ref.jobID)
                    guard case .viewLoaded(let view, let epochs) = loaded else { return }
                    inbox.post(
                        .compareLoaded(ref, view, epochs: epochs, seconds: Date().timeIntervalSince(started)))
                    inbox.post(.connection(.live))
                } catch {
                    if error.status == 401 {
                        inbox.post(.fatal(ClientError.refusedCredential(error.detail ?? error.description)))
                    } else {
                        inbox.post(.compareFailed(ref, error.description))
                        // The overlay has no stream: its header says what its last fetch found.
                        if error.kind != .http { inbox.post(.connection(.offline(Feed.problem(error, what: "the job's view")))) }
                    }
                }
            }
        }
    }

    /// `x`: the job's epochs to a CSV file in the current directory; the status line names the file or the error.
    public func exportEpochs(batchID: String, jobID: String) {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached {
            do {
                let path = try Export.save(url: url, token: token, batchID: batchID, jobID: jobID, format: .csv)
                inbox.post(.message("Saved the epochs to \(path)", isError: false))
            } catch {
                inbox.post(.message("Export failed: \(error)", isError: true))
            }
        }
    }

    /// The job's recent resource snapshots for the GPUs panel, on their own thread.
    public func fetchGPUHistory(batchID: String, jobID: String) {
        let (url, token, inbox) = (baseURL, token, inbox)
        detached { inbox.post(Feed.gpuHistory(HTTPClient(baseURL: url, token: token), batchID: batchID, jobID: jobID)) }
    }

    /// One GET of the snapshots the panel keeps (`GPUHistory.capacity`), as the action that delivers them; `--dump` calls it directly.
    static func gpuHistory(_ client: HTTPClient, batchID: String, jobID: String) -> Action {
        do {
            let rows = try client.getJSON(APIPath.resources(batchID, jobID: jobID, limit: GPUHistory.capacity))
            return .gpuHistoryLoaded(batchID: batchID, jobID: jobID, rows.arrayValue ?? [])
        } catch {
            return .gpuHistoryFailed(batchID: batchID, jobID: jobID, "\(error)")
        }
    }

    public func openJob(batchID: String, jobID: String) {
        replaceStream(with: JobStream(baseURL: baseURL, token: token, batchID: batchID, jobID: jobID, inbox: inbox))
    }

    /// Ends the live stream (job or batch), if any.
    public func closeJob() { replaceStream(with: nil) }

    private func replaceStream(with next: StreamThread?) {
        stream.withLock {
            $0?.stop()
            $0 = next
        }
        next?.start()
    }
}

/// A live stream the feed keeps open for the screen on show, on its own thread (libcurl blocks): started once,
/// stopped from the UI thread, which cancels the connection it is in. Subclasses read in `run()`.
class StreamThread: @unchecked Sendable {
    private let stopped = Atomic<Bool>(false)
    let current = Mutex<SSEConnection?>(nil)

    func start() { detached { self.run() } }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        current.withLock { $0?.cancel() }
    }

    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// Sleeps in small steps so `stop()` takes effect promptly.
    func pause(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while !isStopped && Date() < end { usleep(50_000) }
    }

    /// After a connection ended: whether to connect again. Stopped or a clean end: no. A rejected token ends the
    /// UI. Anything else is shown (`shown` turns the attempt and the problem into the connection state) and waited
    /// out with capped exponential backoff.
    func retryAfter(
        _ end: SSEConnection.End, broken: ConnectionProblem?, attempt: inout Int, inbox: ActionInbox,
        shown: (Int, ConnectionProblem) -> ConnectionState
    ) -> Bool {
        current.withLock { $0 = nil }
        if isStopped { return false }
        if case .refused(401, let detail) = end {
            inbox.post(.fatal(ClientError.refusedCredential(detail)))
            return false
        }
        guard let problem = broken ?? JobStream.problem(end) else { return false }
        attempt += 1
        inbox.post(.connection(shown(attempt, problem)))
        pause(JobStream.backoff(attempt, for: problem))
        return true
    }

    func run() {}
}

/// The batch screen's feed: the batch's SSE channel, from now (no replay). The summary frame that opens each
/// connection lists every job, so it replaces the list; later summaries carry the jobs that changed, and each
/// the batch's status. A rerun the agent could not start (`rerun_failed`), or one that started (`rerun_started`),
/// is passed on; other events are skipped unparsed. A dropped stream is reconnected with capped backoff, and its opening summary
/// brings the list up to date again, so nothing missed in between is lost.
final class BatchStream: StreamThread, @unchecked Sendable {
    let baseURL: String
    let token: String
    let batchID: String
    let inbox: ActionInbox

    init(baseURL: String, token: String, batchID: String, inbox: ActionInbox) {
        self.baseURL = baseURL
        self.token = token
        self.batchID = batchID
        self.inbox = inbox
    }

    override func run() {
        let client = HTTPClient(baseURL: baseURL, token: token)
        let sseURL = client.baseURL + APIPath.sse([.batch(batchID)])
        let (inbox, batchID) = (self.inbox, self.batchID)
        var attempt = 0
        var keepalive: Double? = nil
        var listed = false
        while !isStopped {
            let conn = SSEConnection(url: sseURL, token: token, idleTimeout: SSEConnection.stallTimeout(keepalive: keepalive))
            current.withLock { $0 = conn }
            if isStopped { return }
            var opened = false
            var broken: ConnectionProblem? = nil
            let end = conn.run(lastEventID: nil) { m in
                guard case .event(let e) = m else { return true }
                if e.type == "hello" {
                    if let k = (try? JSON.parse(e.data))?["keepalive_s"]?.doubleValue, k > 0 { keepalive = k }
                    conn.idleTimeout = SSEConnection.stallTimeout(keepalive: keepalive)
                    return true
                }
                if e.type == ServerEventTypes.rerunFailed || e.type == ServerEventTypes.rerunStarted {
                    inbox.post(.batchChanged(batchID: batchID, status: nil))
                    return true
                }
                guard e.type == SummaryFrame.eventType else { return true }
                guard let frame = try? JSON.parse(e.data), let jobs = frame["jobs"]?.arrayValue else {
                    broken = .malformed("a summary of batch \(batchID)")
                    return false
                }
                inbox.post(opened ? .jobsUpdated(batchID: batchID, jobs) : .jobsLoaded(batchID: batchID, jobs))
                if let status = frame["batch"]?["status"]?.stringValue {
                    let endReason = frame["batch"]?["end_reason"]?.stringValue
                    inbox.post(.batchChanged(batchID: batchID, status: status, endReason: endReason))
                }
                if !opened {
                    inbox.post(.connection(.live))
                    opened = true
                    listed = true
                    attempt = 0
                }
                return true
            }
            // A stream refused before it ever listed the jobs (a share link open in too many places): the list is
            // read once without it, so the screen shows the jobs while the stream is retried.
            if !opened, !listed, !isStopped, let rows = try? client.getJSON(APIPath.jobs(batchID)).arrayValue {
                inbox.post(.jobsLoaded(batchID: batchID, rows))
                listed = true
            }
            // The list on screen is the last one received; the next connection's opening summary replaces it.
            guard retryAfter(end, broken: broken, attempt: &attempt, inbox: inbox, shown: { .offline($1) }) else { return }
        }
    }
}

/// One job's live feed: `/view` first, then SSE from its `last_event_id`; on any drop, reconnect with
/// capped exponential backoff and `Last-Event-ID`, so no event is lost or doubled.
///
/// What the server does wrong becomes a `ConnectionProblem` for the status line, never a crash or a cleared
/// screen: an error status (with its `detail`), a reply or event that is not JSON (the stream is dropped and
/// resumed from the last good id, so the server can send it again), a stream cut mid-event, and silence — no
/// byte, not even a keepalive, for `SSEConnection.stallTimeout` of the interval the server announced in `hello`.
final class JobStream: StreamThread, @unchecked Sendable {
    let baseURL: String
    let token: String
    let batchID: String
    let jobID: String
    let inbox: ActionInbox
    static let maxBackoff = 10.0

    init(baseURL: String, token: String, batchID: String, jobID: String, inbox: ActionInbox) {
        self.baseURL = baseURL
        self.token = token
        self.batchID = batchID
        self.jobID = jobID
        self.inbox = inbox
    }

    /// A batch or job the server does not have yet is asked for again at least every this many seconds, so the
    /// screen opens soon after its run first reports; each ask is a cheap 404.
    static let notReportedYetBackoff = 2.0

    /// How long to wait before the next attempt: doubling from half a second, up to `maxBackoff`, or up to
    /// `notReportedYetBackoff` while the server says it has no such batch or job yet.
    static func backoff(_ attempt: Int, for problem: ConnectionProblem) -> Double {
        min(problem.isNotReportedYet ? notReportedYetBackoff : maxBackoff, 0.5 * pow(2, Double(max(0, attempt - 1))))
    }

    /// Reads one SSE message. Returns the problem that should end the connection, if any: an event whose data
    /// is not a JSON object (nothing of it is applied, and its id is not taken, so a reconnect asks for it again).
    /// Connected, the stream first replays what happened since `resumeFrom`, then sends the summary of now: until
    /// that summary (`caughtUp`) the screen says it is catching up, not live (over a slow link a long replay is
    /// minutes of the past).
    static func take(
        _ m: SSEMessage, resumeFrom: inout Int64, keepalive: inout Double?, caughtUp: inout Bool, post: (Action) -> Void
    ) -> ConnectionProblem? {
        guard case .event(let e) = m else { return nil }
        guard let json = try? JSON.parse(e.data), json.objectValue != nil else {
            return .malformed(Int64(e.id).map { "event \($0)" } ?? "a \(e.type) event")
        }
        if e.type == "hello" {
            if let k = json["keepalive_s"]?.doubleValue, k > 0 { keepalive = k }
            caughtUp = false
            post(.connection(.catchingUp))
            return nil
        }
        // The summary that opens a stream may come before any id (SummaryFrame).
        if let id = Int64(e.id) { resumeFrom = max(resumeFrom, id) }
        post(.streamEvent(json))
        if e.type == SummaryFrame.eventType, !caughtUp {
            caughtUp = true
            post(.connection(.live))
        }
        return nil
    }

    /// How a connection ended, as a problem to show; nil when nothing is wrong (stopped).
    static func problem(_ end: SSEConnection.End) -> ConnectionProblem? {
        switch end {
        case .stopped: return nil
        case .refused(let status, let detail): return .serverError(status: status, detail: detail)
        case .unreachable: return .unreachable
        case .stalled(let seconds): return .stalled(seconds: seconds)
        case .dropped(let why): return .dropped(why)
        }
    }

    override func run() {
        let client = HTTPClient(baseURL: baseURL, token: token)
        let sseURL = client.baseURL + APIPath.sse([.batch(batchID)])
        var lastID: Int64? = nil
        var attempt = 0
        // The server's keepalive interval, from its last `hello`: how long silence may last before it is a stall.
        var keepalive: Double? = nil
        let inbox = self.inbox
        while !isStopped {
            if lastID == nil {
                do throws(ClientError) {
                    let loaded = try JobData.loadView(client, batchID: batchID, jobID: jobID)
                    guard !isStopped else { return }
                    guard case .viewLoaded(let view, _) = loaded else { return }
                    inbox.post(loaded)
                    lastID = view["last_event_id"]?.intValue.map(Int64.init) ?? 0
                } catch {
                    if error.status == 401 {
                        inbox.post(.fatal(ClientError.refusedCredential(error.detail ?? error.description)))
                        return
                    }
                    attempt += 1
                    let problem = Feed.problem(error, what: "the job's view", timeout: client.timeout)
                    inbox.post(.connection(.reconnecting(attempt: attempt, problem: problem)))
                    pause(JobStream.backoff(attempt, for: problem))
                    continue
                }
            }
            let conn = SSEConnection(url: sseURL, token: token, idleTimeout: SSEConnection.stallTimeout(keepalive: keepalive))
            current.withLock { $0 = conn }
            if isStopped { return }
            var resumeFrom = lastID!
            var caughtUp = false
            var broken: ConnectionProblem? = nil
            var historyReset = false
            let end = conn.run(lastEventID: String(resumeFrom)) { m in
                if case .event(let e) = m, e.type == "hello", (try? JSON.parse(e.data))?["reset"]?.boolValue == true {
                    historyReset = true
                    return false
                }
                broken = JobStream.take(m, resumeFrom: &resumeFrom, keepalive: &keepalive, caughtUp: &caughtUp) { inbox.post($0) }
                guard broken == nil else { return false }
                if case .event(let e) = m {
                    if e.type == "hello" { conn.idleTimeout = SSEConnection.stallTimeout(keepalive: keepalive) }
                    // The summary after the replay: caught up, so the next failure starts the backoff over. A
                    // server that breaks the stream before that (say, the same bad event in every replay) is
                    // retried ever more slowly instead of twice a second.
                    if e.type == SummaryFrame.eventType { attempt = 0 }
                }
                return true
            }
            // The server's history does not reach the id this screen holds (its data directory was restored from a
            // backup, say): what is on screen may be events it no longer has, and its new ones reuse those ids. The
            // view is loaded again, and the stream goes on from its id.
            if historyReset {
                inbox.post(.historyReset)
                lastID = nil
                continue
            }
            lastID = resumeFrom
            guard
                retryAfter(end, broken: broken, attempt: &attempt, inbox: inbox, shown: { .reconnecting(attempt: $0, problem: $1) })
            else { return }
        }
    }
}
