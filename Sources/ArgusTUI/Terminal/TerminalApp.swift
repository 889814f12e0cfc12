import ArgusClient
import CNcursesw
import FoundationEssentials
import Glibc
import Shared

/// What `argus-tui` was asked to show.
public enum Target: Equatable, Sendable {
    case picker
    case batch(String)
    case job(String, String)
    /// `--compare B/J,B/J…`: the overlay of those jobs.
    case compare([JobRef])

    /// `BATCH/JOB`, `BATCH`, or nothing.
    public static func parse(_ text: String?) -> Target {
        guard let t = text?.trimmed(), !t.isEmpty else { return .picker }
        if let slash = t.firstIndex(of: "/"), slash != t.startIndex, t.index(after: slash) != t.endIndex {
            return .job(String(t[..<slash]), String(t[t.index(after: slash)...]))
        }
        return .batch(t.hasSuffix("/") ? String(t.dropLast()) : t)
    }

    /// Why `text` can name no batch or job (`IDRules`), as a sentence for the command line; nil when it can.
    public static func problem(_ text: String?) -> String? {
        guard let t = text?.trimmed() else { return nil }
        let reason: String?
        // "/job": a leading slash leaves the batch empty.
        switch t.hasPrefix("/") ? .batch("") : parse(t) {
        case .batch(let b): reason = IDRules.targetProblem(batch: b)
        case .job(let b, let j): reason = IDRules.targetProblem(batch: b, job: j)
        default: reason = nil
        }
        return reason.map { "'\(t)' can name no batch or job: \($0)." }
    }

    func initialState() -> (AppState, [Effect]) {
        switch self {
        case .picker: return (AppState(screen: .batches), [.loadBatches])
        case .batch(let b): return (AppState(screen: .jobs(b)), [.loadJobs(b)])
        case .job(let b, let j):
            var s = AppState(screen: .job)
            s.job = JobData(batchID: b, jobID: j)
            return (s, [.openJob(batchID: b, jobID: j)])
        case .compare(let refs):
            // The same state C makes from marks; Esc goes on to the picker.
            var s = AppState(screen: .batches)
            s.marked = refs
            let effects = Update.openCompare(&s).filter { $0 != .closeJob }
            return (s, effects)
        }
    }
}

public struct TUIOptions: Sendable {
    public var url: String
    public var token: String
    public var target: Target
    public var ascii = false
    public var readOnly = false
    public var color = true
    /// Open the job screen with the GPUs panel shown (`--gpus`; `G` toggles it).
    public var showGPUs = false
    /// A share link may read only this batch: navigation stays inside it.
    public var pinnedBatch: String?

    public init(url: String, token: String, target: Target) {
        self.url = url
        self.token = token
        self.target = target
    }
}

// Signal handlers may only touch these.
nonisolated(unsafe) private var signalWakeFD: Int32 = -1
nonisolated(unsafe) private var signalReceived: Int32 = 0

public enum TerminalApp {
    /// Runs the interactive UI until quit. Returns the process exit status.
    public static func run(_ o: TUIOptions) -> Int32 {
        // A job's /view is megabytes once (100k epochs: 8 MB) and then parsed into far less. glibc would raise its
        // mmap threshold after freeing the first big buffer and keep the later ones on the heap for good; a fixed
        // threshold hands every big buffer back to the system when it is freed.
        mallopt(M_MMAP_THRESHOLD, 128 << 10)
        setlocale(LC_CTYPE, "")
        let utf8 = terminalIsUTF8()
        let inbox = ActionInbox()
        let feed = Feed(baseURL: o.url, token: o.token, inbox: inbox)
        var (state, effects) = o.target.initialState()
        state.glyphs = o.ascii || !utf8 ? .ascii : .braille
        state.readOnly = o.readOnly
        state.showGPUs = o.showGPUs
        state.pinnedBatch = o.pinnedBatch
        state.serverLabel = o.url
        signalWakeFD = inbox.pipeFDs.1
        // A launcher may hand us these signals blocked (a blocked mask survives exec): unblock them, or
        // Ctrl-C and SIGTERM would never reach the handler that restores the terminal.
        var handled = sigset_t()
        sigemptyset(&handled)
        for sig in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&handled, sig) }
        pthread_sigmask(SIG_UNBLOCK, &handled, nil)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { sig in
                signalReceived = sig
                var b: UInt8 = 1
                _ = write(signalWakeFD, &b, 1)
            }
        }
        let term: CursesTerminal
        do {
            term = try CursesTerminal(colors: o.color)
        } catch {
            StandardStreams.complain("\(error)")
            return 1
        }
        defer { term.restore() }
        state.color = term.colors
        (state.width, state.height) = term.size
        var quit = false
        var fatal: String? = nil
        var interrupted = false

        func perform(_ list: [Effect]) {
            for e in list {
                switch e {
                case .quit: quit = true
                case .interrupted:
                    interrupted = true
                    quit = true
                case .loadBatches:
                    feed.closeJob()
                    feed.loadBatches()
                case .loadJobs(let b): feed.openBatch(b)
                case .loadSession: feed.loadSession()
                case .openJob(let b, let j): feed.openJob(batchID: b, jobID: j)
                case .closeJob: feed.closeJob()
                case .fetchLogs(let req): feed.fetchLogs(req)
                case .fetchActions(let b): feed.fetchActions(batchID: b)
                case .loadCompare(let refs): feed.loadCompare(refs)
                case .exportEpochs(let b, let j): feed.exportEpochs(batchID: b, jobID: j)
                case .fetchGPUHistory(let b, let j): feed.fetchGPUHistory(batchID: b, jobID: j)
                case .fail(let message):
                    fatal = message
                    quit = true
                case .copy(let text):
                    term.writeRaw(OSC52.sequence(for: text, inTmux: ProcessInfo.processInfo.environment["TMUX"] != nil))
                case .runAction(.stop):
                    if let job = state.job { feed.stop(batchID: job.batchID) }
                case .runAction(.rerun):
                    if let job = state.job { feed.rerun(batchID: job.batchID) }
                case .runAction(.share):
                    if let job = state.job { feed.share(batchID: job.batchID, jobID: job.jobID) }
                case .runAction(.markFailed):
                    if let job = state.job { feed.markFailed(batchID: job.batchID) }
                case .runAction(let cmd):
                    _ = Update.apply(&state, .message("\(Update.actionName(cmd)) is not wired up in this build yet.", isError: true))
                }
            }
        }
        perform(effects)
        feed.loadSession()
        var lastTick = Date().timeIntervalSince1970
        var lastListRefresh = lastTick
        state.now = lastTick
        term.draw(ScreenView.render(state))
        while !quit && signalReceived == 0 {
            let now = Date().timeIntervalSince1970
            let wait = max(0, Int32(((lastTick + 1) - now) * 1000))
            var fds = [
                pollfd(fd: 0, events: Int16(POLLIN), revents: 0),
                pollfd(fd: inbox.pipeFDs.0, events: Int16(POLLIN), revents: 0),
            ]
            _ = poll(&fds, 2, wait)
            if signalReceived != 0 { break }
            var changed = false
            // The keys read at once (a paste, a held key) act in order; what they ask of the network is done after
            // them, a search typed over only once (`Update.coalesced`).
            var effects: [Effect] = []
            for input in term.readInput() {
                switch input {
                case .resize:
                    term.invalidate()
                    (state.width, state.height) = term.size
                    effects += Update.apply(&state, .resize(width: state.width, height: state.height))
                case .key(let k): effects += Update.apply(&state, .key(k))
                }
                changed = true
            }
            perform(Update.coalesced(effects))
            var loadedView = false
            for a in inbox.drain() {
                perform(Update.apply(&state, a))
                changed = true
                if case .viewLoaded = a { loadedView = true }
            }
            // The view's JSON and the reply's bytes are garbage once folded into state (and the drained actions
            // gone): give the pages back, also those of the network thread's malloc arena.
            if loadedView { _ = cn_malloc_trim() }
            let t = Date().timeIntervalSince1970
            if t - lastTick >= 1 {
                lastTick = t
                let statusBefore = state.status
                perform(Update.apply(&state, .tick(now: t)))
                // The picker's ages and the job screen's clock move every second; on the batch screen and the
                // overlay only the status line's expiry does, so they are drawn again only when something arrives.
                if Update.clockShown(state) || state.status != statusBefore { changed = true }
                // The picker is cheap to refresh; the batch and job screens are pushed over SSE instead.
                if t - lastListRefresh >= 5 {
                    lastListRefresh = t
                    if state.screen == .batches { feed.loadBatches() }
                }
            }
            if changed && !quit { term.draw(ScreenView.render(state)) }
        }
        feed.closeJob()
        term.restore()
        if let fatal {
            StandardStreams.complain("\(fatal)")
            return 1
        }
        // Killed or interrupted: the shell convention 128 + signal (130 for Ctrl-C, 143 for SIGTERM), so a
        // script can tell "the user quit" from "it was stopped". The terminal is restored either way.
        if signalReceived != 0 { return 128 + signalReceived }
        return interrupted ? 128 + SIGINT : 0
    }

    /// `--dump`: one frame of the same screen as plain text, fetched synchronously; with it, the first job of a
    /// `--compare` that could not be loaded (the frame shows the others, and its reason in the table), so that the
    /// command can say so and exit 1.
    public static func dump(_ o: TUIOptions, width: Int, height: Int) throws(ClientError) -> (
        frame: String, unshown: ClientError?
    ) {
        let client = HTTPClient(baseURL: o.url, token: o.token)
        var (state, _) = o.target.initialState()
        state.width = width
        state.height = height
        state.glyphs = o.ascii ? .ascii : .braille
        state.color = false
        state.readOnly = o.readOnly
        state.showGPUs = o.showGPUs
        state.pinnedBatch = o.pinnedBatch
        state.serverLabel = o.url
        state.now = Date().timeIntervalSince1970
        var unshown: ClientError?
        switch o.target {
        case .picker:
            let me = try? client.getJSON("/api/session")
            _ = Update.apply(&state, .sessionLoaded(isAdmin: me?["is_admin"]?.boolValue ?? false))
            _ = Update.apply(
                &state, .batchesLoaded(try client.getJSON(BatchRow.listPath).arrayValue ?? []))
        case .batch(let b):
            _ = Update.apply(
                &state,
                .jobsLoaded(
                    batchID: b, try client.getJSON(APIPath.jobs(b)).arrayValue ?? []))
            // What the live screen learns from its first summary frame and its actions: the batch's status and why
            // the server ended it, and what its agent last failed to do (their banners).
            if let batch = try? client.getJSON(APIPath.batch(b)), let status = batch["status"]?.stringValue {
                _ = Update.apply(
                    &state, .batchChanged(batchID: b, status: status, endReason: batch["end_reason"]?.stringValue))
            }
            if !state.readOnly {
                _ = Update.apply(&state, .actionsLoaded(batchID: b, (try? client.getJSON(APIPath.actions(b))) ?? .null))
            }
        case .compare(let refs):
            for ref in refs {
                do throws(ClientError) {
                    guard case .viewLoaded(let view, let epochs) = try JobData.loadView(client, batchID: ref.batchID, jobID: ref.jobID)
                    else { continue }
                    _ = Update.apply(&state, .compareLoaded(ref, view, epochs: epochs))
                } catch {
                    if error.status == 401 { throw error }
                    unshown = unshown ?? error
                    _ = Update.apply(&state, .compareFailed(ref, error.description))
                }
            }
            // Nothing to overlay is an error, as for one job; a frame with some jobs shows the others' reasons.
            if state.compare?.loaded.isEmpty != false, let unshown { throw unshown }
            // The frame shows the overlay, not the last failure's status message (the table says it).
            state.status = nil
        case .job(let b, let j):
            // With --gpus the view asks for the GPU history; fetched here, before the one frame.
            for e in Update.apply(&state, try JobData.loadView(client, batchID: b, jobID: j)) {
                if case .fetchGPUHistory(let b, let j) = e {
                    _ = Update.apply(&state, Feed.gpuHistory(client, batchID: b, jobID: j))
                }
            }
        }
        _ = Update.apply(&state, .connection(.live))
        return (ScreenView.render(state).text, unshown)
    }
}
