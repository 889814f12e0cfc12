import FoundationEssentials
import Shared

/// Everything that can happen to the app: key presses, network results, timers, resizes.
public enum Action: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    case tick(now: Double)
    case batchesLoaded([JSON])
    case jobsLoaded(batchID: String, [JSON])
    /// Jobs whose summary changed, from the batch's live stream (SSE summary frames): each replaces its row.
    case jobsUpdated(batchID: String, [JSON])
    /// The open batch changed on its live stream: a summary frame gave its status, or (no status) the host's agent
    /// reported a rerun it could not start (`rerun_failed`), or a rerun of it started (`rerun_started`). With the
    /// status comes why the server ended it, if it did (`end_reason`).
    case batchChanged(batchID: String, status: String?, endReason: String? = nil)
    /// Who the caller is (`GET /api/session`).
    case sessionLoaded(isAdmin: Bool)
    /// One compared job's view (its epochs separately when they came in the columns form), or why it failed.
    /// `seconds`: how long the fetch took (it paces the refreshes, `CompareState.refreshDelay`).
    case compareLoaded(JobRef, JSON, epochs: EpochColumns?, seconds: Double = 0)
    case compareFailed(JobRef, String)
    /// The job's view; its epochs separately when they came in the columns form (`JobData.loadView`).
    case viewLoaded(JSON, epochs: EpochColumns? = nil)
    case streamEvent(JSON)
    /// The server's history does not reach the job's stream position (`hello`'s `reset`): the view is loaded again,
    /// and nothing held (the position, the GPU history keyed by event id) outlives it.
    case historyReset
    case connection(ConnectionState)
    case message(String, isError: Bool)
    /// Something the UI cannot go on from (a rejected token): quit with this sentence.
    case fatal(String)
    /// The server minted a share link.
    case shareMinted(url: String)
    /// A page of log lines asked for with `Effect.fetchLogs` (rows newest first, as the server sends them).
    case logPage(LogPageRequest, [JSON])
    case logPageFailed(LogPageRequest, String)
    /// The caller's actions on a batch, fetched with `Effect.fetchActions` (`null` when the fetch failed).
    case actionsLoaded(batchID: String, JSON)
    /// The job's recent resource snapshots (`Effect.fetchGPUHistory`), newest first as the server sends them.
    case gpuHistoryLoaded(batchID: String, jobID: String, [JSON])
    case gpuHistoryFailed(batchID: String, jobID: String, String)
}

/// What `update` asks the outside world to do.
public enum Effect: Equatable, Sendable {
    case quit
    /// Ctrl-C: quit with the status an interrupted program exits with (130).
    case interrupted
    case loadBatches
    case loadJobs(String)
    case openJob(batchID: String, jobID: String)
    case closeJob
    case runAction(Command)
    case fail(String)
    /// Put text on the clipboard (OSC 52).
    case copy(String)
    /// Fetch one page of log lines (older ones, or search matches) off the UI thread.
    case fetchLogs(LogPageRequest)
    /// Fetch what the caller may do to the batch now (after a summary changed its status or stop flag).
    case fetchActions(batchID: String)
    /// Fetch the epochs of the jobs on the compare overlay.
    case loadCompare([JobRef])
    /// Write the job's epochs to a CSV file in the current directory (`Export.save`), off the UI thread.
    case exportEpochs(batchID: String, jobID: String)
    /// Fetch the job's recent resource snapshots for the GPUs panel, off the UI thread (once per job).
    case fetchGPUHistory(batchID: String, jobID: String)
    /// Ask who the caller is (`GET /api/session`): an admin's picker shows whose each batch is.
    case loadSession
}

/// The one place state changes (the Elm architecture): `update(&state, action) -> effects`.
public enum Update {
    /// How far a key scrolls an overlay taller than its box (the keys list, a popup); any other key closes it.
    /// Keys that scroll a help or text overlay, and by how many rows (Home and End: to the top and the bottom).
    static let overlayScroll: [Key: Int] = [
        .down: 1, .char("j"): 1, .up: -1, .char("k"): -1, .pageDown: 10, .pageUp: -10, .home: -1_000_000, .end: 1_000_000,
    ]

    static let statusSeconds = 6.0
    /// Actions that change a run ask for `y` first.
    static let asksFirst: Set<Command> = [.stop, .rerun, .markFailed]

    public static func apply(_ s: inout AppState, _ action: Action) -> [Effect] {
        // A scrolled log stays where the reader left it, its top line where it was: streamed lines arriving below
        // that line (after the view, or inside it: a line delivered late lands where it was written) push the view's
        // distance from the bottom up by as many as the filter shows. (Older pages arrive above, and `.logPage` keeps
        // the view itself.) Streamed lines have ids above every one kept before (the search's too), so the newest id
        // moving tells cheaply whether any came; only then are the lines from the bottom up to the view's top walked.
        var seen: Int64?
        if case .streamEvent = action, s.logScroll > 0 { seen = newestShownID(s) }
        let effects = handle(&s, action)
        if let seen, s.logScroll > 0, newestShownID(s) > seen {
            // A stream event moves nothing else: the distance and the rows are as they were.
            let top = s.logScroll + logRows(s) - 1
            var old = 0
            var new = 0
            for l in s.filteredLogs.reversed() {
                if l.id > seen {
                    new += 1
                } else if old == top {
                    break
                } else {
                    old += 1
                }
            }
            s.logScroll += new
        }
        return effects
    }

    private static func handle(_ s: inout AppState, _ action: Action) -> [Effect] {
        switch action {
        case .resize(let w, let h):
            s.width = w
            s.height = h
            return []
        case .tick(let now):
            s.now = now
            // A batch's rows over its live stream are current now; offline, "as of" says until when they were. (The
            // batch list is as of its last load, every 5 s: `batchesLoaded`.)
            if s.connection == .live, case .jobs = s.screen, s.jobsLoaded { s.jobsAsOf = now }
            if s.status != nil, now >= s.statusUntil { s.status = nil }
            // The overlay follows running jobs by fetching their epochs again now and then (they are not streamed).
            // A job that failed to load, or a server that went away, is tried again as often, running or not.
            if s.screen == .compare, let c = s.compare, c.allAnswered, !c.isFinal || s.connection.problem != nil,
                now - (c.loadedAt ?? 0) >= c.refreshDelay
            {
                s.compare?.fetchSeconds = 0
                s.compare?.loadedAt = now
                return [.loadCompare(c.refs)]
            }
            // A search that failed while the stream stayed live (a server that hung, then answered again).
            if s.connection == .live, let failedAt = s.search?.failedAt, now - failedAt >= searchRetryS {
                return retrySearch(&s)
            }
            if let job = s.job, s.screen == .job, actionsFollowAgents(s, job), now - s.actionsAskedAt >= agentRecheckS {
                return askActions(&s, job.batchID)
            }
            // A Stop the agent refuses is no event: while the batch on screen is stopping, its actions are asked again.
            if case .jobs(let b) = s.screen, !s.readOnly, s.openBatchStatus == RunStatus.stopping,
                now - s.actionsAskedAt >= agentRecheckS
            {
                return askActions(&s, b)
            }
            return []
        case .batchesLoaded(let rows):
            // A refresh that adds or reorders batches leaves the cursor on the batch it was on.
            keepingSelection(&s) { s in
                s.batches = rows.map(BatchRow.init).sorted { a, b in
                    let ra = BatchRow.activeFirst[a.status] ?? 9
                    let rb = BatchRow.activeFirst[b.status] ?? 9
                    return ra != rb ? ra < rb : false
                }
                s.batchesLoaded = true
            }
            // Back from a batch opened before the list was here (`argus-tui BATCH`): the cursor is on it.
            if s.screen == .batches, let id = s.returnToRow {
                s.returnToRow = nil
                if let i = s.shownBatches.firstIndex(where: { $0.id == id }) { s.batchCursor = i }
            }
            s.batchesCut = rows.count >= BatchRow.listLimit
            s.batchesAsOf = s.now
            // The server is back (or was there all along): who the caller is, if it was away at the start.
            return s.sessionKnown ? [] : [.loadSession]
        case .jobsLoaded(let batchID, let rows):
            guard s.screen == .jobs(batchID) else { return [] }
            keepingSelection(&s) {
                $0.jobs = rows.map(JobRow.init)
                $0.jobsLoaded = true
            }
            s.jobsAsOf = s.now
            // Back from a job: the cursor is on that job, wherever the sort and filter put it.
            if let id = s.returnToRow {
                s.returnToRow = nil
                if let i = s.shownJobs.firstIndex(where: { $0.id == id }) { s.jobCursor = i }
            }
            // Whether the host's agent failed a rerun or stop of it: a banner here too (a batch without jobs shows
            // nothing else).
            return s.readOnly ? [] : askActions(&s, batchID)
        case .jobsUpdated(let batchID, let rows):
            guard s.screen == .jobs(batchID), s.jobsLoaded else { return [] }
            keepingSelection(&s) { s in
                for row in rows.map(JobRow.init) {
                    if let i = s.jobs.firstIndex(where: { $0.id == row.id }) { s.jobs[i] = row } else { s.jobs.append(row) }
                }
            }
            s.jobsAsOf = s.now
            return []
        case .batchChanged(let batchID, let status, let endReason):
            guard s.screen == .jobs(batchID) else { return [] }
            let was = s.openBatchStatus
            if let status {
                s.openBatchStatus = status
                s.openBatchEndReason = endReason
            }
            // What the agent last failed to do is in the actions (a banner here too): asked again when it may
            // have changed (the first frame's status comes just after the list, which asked already).
            guard !s.readOnly, status == nil || (was != nil && was != status) else { return [] }
            return askActions(&s, batchID)
        case .sessionLoaded(let isAdmin):
            s.isAdmin = isAdmin
            s.sessionKnown = true
            return []
        case .compareLoaded(let ref, let view, let epochs, let seconds):
            guard s.compare?.refs.contains(ref) == true else { return [] }
            s.compare!.fetchSeconds = max(s.compare!.fetchSeconds, seconds)
            let data = JobData(view: view, epochs: epochs)
            // The status every other screen shows (the telemetry's: stalled or stopping while its run is).
            s.compare!.loaded[ref] = (data.series, data.shownStatus, CompareState.Kept(data))
            s.compare!.failed[ref] = nil
            s.compare!.loadedAt = s.now
            s.compare!.rebuild()
            refreshBounds(&s)
            return []
        case .compareFailed(let ref, let why):
            guard s.compare?.refs.contains(ref) == true else { return [] }
            // A job that loaded before keeps its curve; the status line says what went wrong this time.
            if s.compare!.loaded[ref] == nil { s.compare!.failed[ref] = why }
            say(&s, "Could not load \(ref.batchID)/\(ref.jobID): \(why)", error: true)
            return []
        case .viewLoaded(let v, let epochs):
            var data = JobData(view: v, epochs: epochs)
            // A reload after a reconnect must not move the stream position backwards.
            if let old = s.job, old.batchID == data.batchID, old.jobID == data.jobID,
                old.lastEventID > data.lastEventID
            {
                data.lastEventID = old.lastEventID
            }
            // The GPU history outlives a reload of the same job (its snapshots are keyed by event id).
            if let old = s.job, old.batchID == data.batchID, old.jobID == data.jobID {
                data.gpuHistory = old.gpuHistory
            }
            s.job = data
            s.viewLoadedAt = s.now
            // "last event" is when the run was last heard from, not when we connected.
            s.lastEventAt = data.batchLastActivity.map { min(s.now, $0) } ?? s.now
            if data.batchStatus == RunStatus.stalled, let last = s.lastEventAt { s.notice = stalledBanner(since: last) }
            // A job opened while flagged idle says so, as the web page's banner does (the flag's event came before).
            if data.idleFlagged, s.notice == nil || s.notice?.kind == .idle {
                s.notice = idleBanner(since: data.idleSinceUs.map { Double($0) / 1e6 })
            }
            raiseAgentFailure(&s, data.agentFailure)
            refreshBounds(&s)
            return s.showGPUs ? askGPUHistory(&s) : []
        case .historyReset:
            s.job?.lastEventID = 0
            s.job?.gpuHistory = GPUHistory()
            say(&s, "The server's history was reset (restored from a backup?): the job is loaded again.")
            return []
        case .streamEvent(let e):
            guard var data = s.job else { return [] }
            // Taken out of the state while it changes, so its log and series change in place: a copy shared with
            // the state would copy them whole for every event (a burst of 20,000 lines froze the keys for seconds).
            s.job = nil
            let type = e["event_type"]?.stringValue ?? ""
            if type == SummaryFrame.eventType {
                let actionsChanged = data.apply(summary: e)
                s.job = data
                // A run that ended is neither stalled nor reporting again (a spill file delivered late says resumed,
                // then done): those notices go with the silence they were about.
                if BatchStatus.terminal.contains(data.batchStatus), s.notice?.kind == .silence { s.notice = nil }
                // The idle flag's notice goes with the flag: a job that ended is no longer idle (the web's banner
                // follows the flag the same way).
                if !data.idleFlagged, s.notice?.kind == .idle { s.notice = nil }
                if JobData.finished.contains(data.jobStatus), s.notice?.kind == .busyAgain { s.notice = nil }
                guard let actionsChanged else { return [] }
                return actionsChanged ? askActions(&s, data.batchID) : []
            }
            let isNew = data.apply(event: e)
            s.job = data
            guard isNew else { return [] }
            if type == "log_line", e["job_id"]?.stringValue == data.jobID, e["batch_id"]?.stringValue == data.batchID {
                joinSearch(&s, JobData.logLine(event: e))
            }
            // Only what the run itself sent counts as "last event"; server-made ones (stalls, idle flags) do not.
            if EventTypes.fromClients.contains(type) { s.lastEventAt = s.now }
            guard e["batch_id"]?.stringValue == data.batchID else { return [] }
            // The server's notices become banners; the state they change arrives in the summary frame after them.
            let info = e["data"]
            let mine = e["job_id"]?.stringValue == data.jobID
            func lasted(_ key: String) -> String { Fmt.duration(info?[key]?.doubleValue) }
            switch type {
            case ServerEventTypes.jobIdleFlagged where mine:
                s.notice = idleBanner(since: info?["since"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds })
            case ServerEventTypes.jobIdleRecovered where mine:
                s.notice = Banner(.busyAgain, "GPU busy again after \(lasted("idle_for_s")) idle")
            case ServerEventTypes.batchStalled:
                let since = info?["last_received"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }
                s.notice = stalledBanner(since: since ?? s.now)
            case "batch_resumed":
                s.notice = Banner(.silence, "Resumed: the run is reporting again after \(lasted("silent_s")) of silence")
            // The server ended the run (stopped after a silent Stop, or marked failed): its reason replaces the stall notice.
            case ServerEventTypes.batchStopped:
                // Its reason (`AppState.stoppedReason`, from the summary) replaces the stall notice.
                if s.notice?.kind == .silence { s.notice = nil }
            case ServerEventTypes.batchMarkedFailed:
                s.notice = info?["reason"]?.stringValue.map { Banner($0) }
            case ServerEventTypes.rerunFailed:
                s.notice = Banner(agentFailedBanner("Rerun", info?["error"]?.stringValue ?? "the agent could not start it", at: nil))
            case ServerEventTypes.rerunStarted:
                if let rerun = data.rerunBatchID {
                    s.notice = Banner("Rerun started as batch \(rerun)" + (s.pinnedBatch == nil ? ": press o to open it" : ""))
                }
            case "job_epoch":
                refreshBounds(&s)
            default: break
            }
            return []
        case .actionsLoaded(let batchID, let actions):
            if s.screen == .jobs(batchID) {
                // A failed fetch (null) says nothing either way.
                if actions.objectValue != nil { raiseAgentFailure(&s, JobData.agentFailure(in: actions)) }
                return []
            }
            guard var data = s.job, data.batchID == batchID else { return [] }
            data.takeActions(actions)
            s.job = data
            raiseAgentFailure(&s, data.agentFailure)
            // A key pressed while the old actions said no is decided on the fresh ones (or the old, if none came).
            guard let pending = s.actionAfterRecheck else { return [] }
            s.actionAfterRecheck = nil
            return tryAction(&s, pending, recheck: false)
        case .gpuHistoryLoaded(let b, let j, let rows):
            guard var data = s.job, data.batchID == b, data.jobID == j else { return [] }
            data.gpuHistory.add(rows: rows)
            data.gpuHistory.loaded = true
            s.job = data
            return []
        case .gpuHistoryFailed(let b, let j, let why):
            guard var data = s.job, data.batchID == b, data.jobID == j else { return [] }
            data.gpuHistory.loaded = true
            data.gpuHistory.failure = why
            s.job = data
            say(&s, "Could not load the GPU history: \(why)", error: true)
            return []
        case .connection(let c):
            // Leaving `live` dates what is on screen; anything else keeps the first date until live again.
            if c == .live {
                s.connectionLostAt = nil
            } else if s.connection == .live {
                // A stall began when the silence did, not when it was noticed.
                var since = s.now
                if case .stalled(let seconds)? = c.problem { since -= seconds }
                s.connectionLostAt = since
                // The batch's rows too: the ticks of the silence before it was noticed dated them later.
                s.jobsAsOf = s.jobsAsOf.map { min($0, since) }
            } else if s.connectionLostAt == nil, c.problem != nil, s.screen == .job {
                // A stream that failed before it was ever live: the view on screen is as of its load.
                s.connectionLostAt = s.viewLoadedAt
            }
            let wasLive = s.connection == .live
            // Caught up: the replayed events were of the past, so "last event" is when the server last heard from the
            // run (the summary that ended the replay says), not when they arrived here.
            if c == .live, s.connection == .catchingUp, let heard = s.job?.batchLastActivity { s.lastEventAt = min(s.now, heard) }
            s.connection = c
            // A search that failed while the server was away is asked for again once it is back.
            if c == .live, !wasLive { return retrySearch(&s) }
            return []
        case .message(let text, let isError):
            say(&s, text, error: isError)
            return []
        case .fatal(let text):
            return [.fail(text)]
        case .shareMinted(let url):
            s.popup = ("Read-only share link (copied with OSC 52; shown once)", url)
            say(&s, "Share link minted, sent to the terminal's clipboard (OSC 52) and shown in the box.")
            return [.copy(url)]
        case .key(let key):
            return handleKey(&s, key)
        case .logPage(let req, let rows):
            guard s.logFetch == req else { return [] }
            s.logFetch = nil
            guard var job = s.job, job.batchID == req.batchID, job.jobID == req.jobID else { return [] }
            if req.query.isEmpty {
                job.prependOlder(rows)
                s.job = job
            } else {
                guard var search = s.search, search.query == req.query else { return [] }
                let page = JobData.logLines(rows)
                search.hits.insert(contentsOf: search.hits.first.map { first in page.filter { $0 < first } } ?? page, at: 0)
                search.loaded = true
                search.complete = rows.count < LogFilter.pageSize
                s.search = search
            }
            // The lines arrived above the view, which stays where it was; then finish the move that asked for them.
            let pending = s.pendingScrollUp
            s.pendingScrollUp = 0
            // One page per key press: Home shows the top of what arrived rather than fetching the whole history.
            if pending > 0 { _ = scrollLog(&s, by: -pending, fetchOlder: false) }
            return []
        case .logPageFailed(let req, let why):
            guard s.logFetch == req else { return [] }
            s.logFetch = nil
            s.pendingScrollUp = 0
            if !req.query.isEmpty, req.beforeID == nil, s.search?.query == req.query { s.search?.failedAt = s.now }
            say(&s, "Could not load log lines: \(why)", error: true)
            return []
        }
    }

    /// The `actions` key of the view for an action command.
    public static func actionID(_ c: Command) -> String {
        switch c {
        case .stop: return "stop"
        case .rerun: return "rerun"
        case .share: return "share"
        case .copyCommand: return "copy_command"
        case .markFailed: return "mark_failed"
        default: return ""
        }
    }

    public static func actionName(_ c: Command) -> String {
        switch c {
        case .stop: return "Stop"
        case .rerun: return "Rerun"
        case .share: return "Share"
        case .copyCommand: return "Copy command"
        case .markFailed: return "Mark failed"
        default: return "This action"
        }
    }

    /// Banners and status messages are about the screen they were raised on (a job's idle flag, an action
    /// refused there): another screen or job starts without them.
    static func clearNotices(_ s: inout AppState) {
        // The age of the last event is the job screen's; a list has none of its own.
        s.lastEventAt = nil
        s.actionAfterRecheck = nil
        s.notice = nil
        s.agentFailureShown = nil
        s.openBatchStatus = nil
        s.openBatchEndReason = nil
        s.status = nil
        s.statusIsError = false
    }

    static func say(_ s: inout AppState, _ text: String, error: Bool = false) {
        s.status = text
        s.statusIsError = error
        s.statusUntil = s.now + statusSeconds
    }

    static func handleKey(_ s: inout AppState, _ key: Key) -> [Effect] {
        // A terminal too small for the screen shows only "q quits": no key may act on what cannot be seen (a Stop
        // prompt hidden behind it would otherwise take its `y`). Esc still cancels and closes, which is always safe.
        if !ScreenView.fits(s) {
            switch key {
            case .ctrlC: return [.interrupted]
            case .char("q"): return [.quit]
            case .escape: break
            default: return []
            }
        }
        if s.filterEditing { return editFilter(&s, key) }
        if let pending = s.confirming {
            s.confirming = nil
            if key == .char("y") || key == .char("Y") { return [.runAction(pending)] }
            say(&s, "\(actionName(pending)) cancelled.")
            return key == .ctrlC ? [.interrupted] : []
        }
        if s.chooserCursor != nil { return chooserKey(&s, key) }
        if s.compare?.chooserCursor != nil { return metricChooserKey(&s, key) }
        if let popup = s.popup {
            // A text taller than the box scrolls with the arrows and pages; any other key closes it.
            let step = Update.overlayScroll[key]
            if let step {
                let (lines, _, visible) = ScreenView.popupLayout(s, popup.text)
                s.popupScroll = clamp(s.popupScroll + step, 0, max(0, lines.count - visible))
                return []
            }
            s.popup = nil
            return quitting(key)
        }
        if s.showHelp {
            // On a short terminal the arrows and pages scroll the list; any other key closes it.
            let step = Update.overlayScroll[key]
            if let step {
                s.helpScroll = clamp(
                    s.helpScroll + step, 0, ScreenView.helpMaxScroll(s))
                return []
            }
            s.showHelp = false
            return quitting(key)
        }
        guard let binding = KeyBindings.lookup(key, on: s.screen) else {
            if let why = KeyBindings.elsewhere(key, from: s.screen) { say(&s, why) }
            return []
        }
        // A page of the log is its pane less one line of overlap; lists move by about a screen.
        let page = s.screen == .job ? max(1, logRows(s) - 1) : max(1, s.height - 12)
        switch binding.command {
        case .quit: return [.quit]
        case .interrupt: return [.interrupted]
        case .help:
            s.showHelp = true
            s.helpScroll = 0
            return []
        case .back:
            if !s.filter.isEmpty && s.screen == .job {
                _ = setFilter(&s, "")
                return []
            }
            // A list's kept filter, on that list (the compare overlay shows none: Esc goes back to the filtered rows).
            if !s.listFilter.isEmpty && s.screen != .job && s.screen != .compare {
                setListFilter(&s, "")
                return []
            }
            switch s.screen {
            case .batches: return []
            case .compare:
                let back = s.compare?.returnTo ?? .batches
                s.compare = nil
                s.screen = back
                s.chartBounds = nil
                clearNotices(&s)
                switch back {
                case .jobs(let b):
                    // The rows the overlay was opened from stay on screen (as of then, offline) until the reload.
                    return [.loadJobs(b)]
                default: return [.loadBatches]
                }
            case .jobs(let b):
                guard s.pinnedBatch == nil else {
                    say(&s, "This share link shows this one batch: there is nothing to go back to (q quits).")
                    return []
                }
                // The picker as it was: its filter, the cursor on this batch, its status the newest this client
                // heard (the list is as of before the batch opened until it reloads, which fails offline).
                if let status = s.openBatchStatus, let i = s.batches.firstIndex(where: { $0.id == b }) {
                    s.batches[i].status = status
                }
                s.screen = .batches
                s.listFilter = s.pickerFilter
                s.pickerFilter = ""
                let row = s.shownBatches.firstIndex { $0.id == b }
                if let row { s.batchCursor = row }
                s.returnToRow = row == nil ? b : nil
                clearNotices(&s)
                return [.loadBatches]
            case .job:
                guard let job = s.job else { return [] }
                s.screen = .jobs(job.batchID)
                clearNotices(&s)
                s.job = nil
                // The batch's rows as last received stay on screen until the reload (which may fail: offline), with
                // this job's row and the batch's status as the job screen last heard them.
                if let summary = job.summary {
                    if let i = s.jobs.firstIndex(where: { $0.id == job.jobID }) { s.jobs[i] = JobRow(summary) }
                    s.openBatchStatus = job.batchStatus
                    s.openBatchEndReason = job.endReason
                }
                s.returnToRow = job.jobID
                return [.closeJob, .loadJobs(job.batchID)]
            }
        case .open:
            switch s.screen {
            case .batches:
                let shown = s.shownBatches
                guard shown.indices.contains(s.batchCursor) else { return [] }
                let id = shown[s.batchCursor].id
                s.screen = .jobs(id)
                clearNotices(&s)
                s.pickerFilter = s.listFilter
                s.listFilter = ""
                s.jobs = []
                s.jobsLoaded = false
                s.jobCursor = 0
                return [.loadJobs(id)]
            case .jobs(let b):
                let shown = s.shownJobs
                guard shown.indices.contains(s.jobCursor) else { return [] }
                let j = shown[s.jobCursor].id
                s.screen = .job
                clearNotices(&s)
                s.job = JobData(batchID: b, jobID: j)
                s.connection = .connecting
                s.connectionLostAt = nil
                resetLog(&s)
                s.chartBounds = nil
                return [.openJob(batchID: b, jobID: j)]
            case .job, .compare: return []
            }
        case .up: return move(&s, -1)
        case .down: return move(&s, 1)
        case .pageUp: return move(&s, -page)
        case .pageDown: return move(&s, page)
        case .top, .bottom:
            // A jump to either end of the log also brings it back to column 1: the lines there are others.
            s.logShift = 0
            return move(&s, binding.command == .top ? Int.min / 2 : Int.max / 2)
        case .scrollLeft, .scrollRight:
            shiftLog(&s, binding.command == .scrollRight ? 1 : -1)
        case .filter:
            s.filterEditing = true
        case .sort:
            guard case .jobs = s.screen else {
                say(&s, "Sorting is on the batch screen (Enter a batch).")
                return []
            }
            let step = key == .char("<") || key == .char(",") ? -1 : 1
            let columns = JobColumn.sortable
            keepingSelection(&s) { s in
                // From the server's order, > starts at the first column and < at the last.
                let at = s.jobSort.column.flatMap { columns.firstIndex(of: $0) } ?? (step > 0 ? -1 : columns.count)
                s.jobSort.column = columns[(at + step + columns.count) % columns.count]
            }
            say(&s, "Sorted by \(s.jobSort.column!.title.lowercased())\(s.jobSort.descending ? ", descending" : "") (I inverts)")
        case .sortInvert:
            guard case .jobs = s.screen, let column = s.jobSort.column else {
                say(&s, "Choose a sort column first with < or >.")
                return []
            }
            keepingSelection(&s) { $0.jobSort.descending.toggle() }
            say(&s, "Sorted by \(column.title.lowercased())\(s.jobSort.descending ? ", descending" : ", ascending")")
        case .mark:
            guard case .jobs(let b) = s.screen else {
                say(&s, "Marks are for jobs: Enter a batch and press Space on a job.")
                return []
            }
            let shown = s.shownJobs
            guard shown.indices.contains(s.jobCursor) else { return [] }
            let ref = JobRef(batchID: b, jobID: shown[s.jobCursor].id)
            if let i = s.marked.firstIndex(of: ref) { s.marked.remove(at: i) } else { s.marked.append(ref) }
            // On to the next row, so a run of jobs is marked by holding Space.
            s.jobCursor = clamp(s.jobCursor + 1, 0, shown.count - 1)
            say(&s, markedSentence(s))
        case .ema:
            s.ema.toggle()
            s.chartBounds = nil
            refreshBounds(&s)
            say(&s, s.ema ? "EMA smoothing on (factor \(ChartScale.label(s.emaFactor)); E changes it)" : "EMA smoothing off")
        case .emaFactor:
            // Off: on at the factor last chosen; on: the next factor.
            if s.ema { s.emaFactor = ChartScale.nextSmoothing(after: s.emaFactor) }
            s.ema = true
            s.chartBounds = nil
            refreshBounds(&s)
            let all = ChartScale.smoothingFactors.map(ChartScale.label).joined(separator: "/")
            say(&s, "EMA smoothing factor \(ChartScale.label(s.emaFactor)) (E cycles \(all); e turns it off)")
        case .gpus:
            s.showGPUs.toggle()
            return s.showGPUs ? askGPUHistory(&s) : []
        case .logScale:
            s.logY.toggle()
            s.chartBounds = nil
            refreshBounds(&s)
            say(&s, s.logY ? "log-scale y" : "linear y")
        case .toggleSeries where s.screen == .compare:
            // The digit is the job's place in the legend (only jobs with the metric are there).
            guard case .char(let c) = key, let n = Int(String(c)), let cmp = s.compare,
                cmp.overlay.names.indices.contains(n - 1),
                let ref = cmp.refs.first(where: { cmp.chartLabel($0) == cmp.overlay.names[n - 1] })
            else { return [] }
            if s.compare!.hidden.contains(ref) { s.compare!.hidden.remove(ref) } else { s.compare!.hidden.insert(ref) }
            s.chartBounds = nil
            refreshBounds(&s)
        case .chooseSeries where s.screen == .compare:
            guard let c = s.compare, !c.metrics.isEmpty else {
                say(&s, "No metrics yet: the jobs' epochs have not arrived.")
                return []
            }
            s.compare!.chooserCursor = c.metrics.firstIndex(of: c.metric) ?? 0
        case .toggleSeries:
            guard case .char(let c) = key, let n = Int(String(c)), let names = s.job?.series.names else { return [] }
            guard names.indices.contains(n - 1) else {
                say(&s, "No series \(n): this chart has \(names.count) (m lists them).")
                return []
            }
            toggle(&s, names[n - 1])
        case .chooseSeries:
            guard let names = s.job?.series.names, s.job?.loaded == true else { return [] }
            s.chooserCursor = min(s.chooserCursor ?? 0, names.count - 1)
        case .compare:
            return openCompare(&s)
        case .unmarkAll:
            let n = s.marked.count
            s.marked = []
            say(&s, n == 0 ? "No jobs marked." : "Unmarked \(n == 1 ? "1 job" : "\(n) jobs").")
        case .export:
            guard let job = s.job, job.loaded else { return [] }
            say(&s, "Exporting the epochs of \(job.batchID)/\(job.jobID)\(s.glyphs.cutMark)")
            return [.exportEpochs(batchID: job.batchID, jobID: job.jobID)]
        case .openRerun:
            guard let target = s.job?.rerunBatchID else {
                say(&s, "No rerun of this batch has started while you watched.")
                return []
            }
            guard s.pinnedBatch == nil else {
                say(&s, "This share link shows this one batch: open the rerun, \(target), with your own token.")
                return []
            }
            s.screen = .jobs(target)
            s.job = nil
            clearNotices(&s)
            s.jobs = []
            s.jobsLoaded = false
            s.jobCursor = 0
            return [.closeJob, .loadJobs(target)]
        case .stop, .rerun, .share, .markFailed:
            return tryAction(&s, binding.command, recheck: true)
        case .copyCommand:
            // The command is on screen or it is not: nothing the server could say since changes that.
            return tryAction(&s, binding.command, recheck: false)
        }
        return []
    }

    /// Whether the screen shows something that changes with the clock alone (the picker's "10s ago", the job
    /// screen's last-event age and elapsed time): the terminal redraws those every second, the others only when
    /// their state changes.
    public static func clockShown(_ s: AppState) -> Bool {
        switch s.screen {
        case .batches, .job: return true
        case .jobs, .compare: return false
        }
    }

    /// Seconds between re-reads of the actions while they hang on an agent being online (`actionsFollowAgents`).
    static let agentRecheckS = 3.0

    /// Whether the actions on screen can change with no event in the stream: Rerun of a finished batch with a
    /// recorded command waits on an agent of the batch's owner being online for its host, and no event says when
    /// one comes or goes; Mark failed of a stopping batch opens once the run has been silent a minute
    /// (`BatchStatus.stoppingQuietS`), which is silence itself. While so, the job screen asks for the actions every
    /// `agentRecheckS` (one small GET).
    static func actionsFollowAgents(_ s: AppState, _ job: JobData) -> Bool {
        guard !s.readOnly && job.loaded else { return false }
        return (JobData.finished.contains(job.batchStatus) && job.command != nil) || job.batchStatus == RunStatus.stopping
    }

    /// Asks for the job's GPU history the first time the panel shows it (the view must be loaded: until then
    /// the job's start is unknown, and `viewLoaded` asks instead).
    static func askGPUHistory(_ s: inout AppState) -> [Effect] {
        guard s.screen == .job, var job = s.job, job.loaded, !job.gpuHistory.requested else { return [] }
        job.gpuHistory.requested = true
        s.job = job
        return [.fetchGPUHistory(batchID: job.batchID, jobID: job.jobID)]
    }

    /// Asks the server for the caller's actions on a batch (after a summary changed them, on a refused key, and
    /// every `agentRecheckS` while `actionsFollowAgents`).
    static func askActions(_ s: inout AppState, _ batchID: String) -> [Effect] {
        s.actionsAskedAt = s.now
        return [.fetchActions(batchID: batchID)]
    }

    /// An action key. What the screen's actions refuse is asked of the server again first (`recheck`), so a
    /// refusal that has stopped being true (an agent came online) never sticks; the key is then decided on the
    /// fresh answer, when `actionsLoaded` arrives.
    static func tryAction(_ s: inout AppState, _ command: Command, recheck: Bool) -> [Effect] {
        guard let job = s.job else { return [] }
        guard !(s.readOnly && command.actsOnTheRun) else {
            say(&s, "\(actionName(command)) is not available: this view is read-only (a share link, or --readonly).", error: true)
            return []
        }
        guard job.loaded else {
            say(&s, "\(actionName(command)) is not available yet: the server has not answered.", error: true)
            return []
        }
        if let state = job.actions[actionID(command)], !state.enabled {
            if recheck {
                s.actionAfterRecheck = command
                return askActions(&s, job.batchID)
            }
            say(&s, "\(actionName(command)) is not available: \(state.reason ?? "not allowed").", error: true)
            return []
        }
        if Update.asksFirst.contains(command) {
            s.confirming = command
            return []
        }
        if command == .copyCommand, let text = job.command {
            s.popup = ("Command (copied to the clipboard with OSC 52; select it here if your terminal ignores that)", text)
            say(&s, "Command sent to the terminal's clipboard (OSC 52) and shown in the box.")
            return [.copy(text)]
        }
        return [.runAction(command)]
    }

    /// q quits and Ctrl-C interrupts, even from an overlay; any other key only closes it.
    static func quitting(_ key: Key) -> [Effect] {
        key == .char("q") ? [.quit] : key == .ctrlC ? [.interrupted] : []
    }

    /// Shows or hides one chart series (digits and the chooser both come here).
    static func toggle(_ s: inout AppState, _ name: String) {
        if name == "train_loss" || name == "val_loss" {
            if s.hiddenSeries.contains(name) {
                s.hiddenSeries.remove(name)
            } else {
                s.hiddenSeries.insert(name)
            }
        } else if s.shownExtras.contains(name) {
            s.shownExtras.remove(name)
        } else {
            s.shownExtras.insert(name)
        }
        s.chartBounds = nil
        refreshBounds(&s)
    }

    /// Keys while the series chooser is open: move, toggle, close. Nothing else reaches the screen below.
    static func chooserKey(_ s: inout AppState, _ key: Key) -> [Effect] {
        let names = s.job?.series.names ?? []
        guard let cursor = s.chooserCursor, !names.isEmpty else {
            s.chooserCursor = nil
            return quitting(key)
        }
        let page = max(1, s.height - 12)
        switch key {
        case .up, .char("k"): s.chooserCursor = clamp(cursor - 1, 0, names.count - 1)
        case .down, .char("j"): s.chooserCursor = clamp(cursor + 1, 0, names.count - 1)
        case .pageUp: s.chooserCursor = clamp(cursor - page, 0, names.count - 1)
        case .pageDown: s.chooserCursor = clamp(cursor + page, 0, names.count - 1)
        case .home: s.chooserCursor = 0
        case .end: s.chooserCursor = names.count - 1
        case .char(" "), .enter, .char("x"): toggle(&s, names[clamp(cursor, 0, names.count - 1)])
        case .escape, .left, .char("m"): s.chooserCursor = nil
        default: return quitting(key)
        }
        return []
    }

    static func move(_ s: inout AppState, _ delta: Int) -> [Effect] {
        switch s.screen {
        case .batches: s.batchCursor = clamp(s.batchCursor + delta, 0, s.shownBatches.count - 1)
        case .jobs: s.jobCursor = clamp(s.jobCursor + delta, 0, s.shownJobs.count - 1)
        case .job: return scrollLog(&s, by: delta)
        case .compare: break
        }
        return []
    }

    /// Opens the overlay of the marked jobs (`C`, and `argus-tui --compare`); Esc comes back to this screen.
    static func openCompare(_ s: inout AppState) -> [Effect] {
        guard s.marked.count >= 2 else {
            say(&s, s.marked.isEmpty ? "Mark jobs with Space first, then C compares them." : markedSentence(s))
            return []
        }
        var c = CompareState(refs: s.marked, cutMark: s.glyphs.cutMark)
        c.returnTo = s.screen
        c.loadedAt = s.now
        s.compare = c
        s.screen = .compare
        s.chartBounds = nil
        clearNotices(&s)
        return [.closeJob, .loadCompare(c.refs)]
    }

    /// Keys while the compare overlay's metric chooser is open: move, Enter picks, Esc closes.
    static func metricChooserKey(_ s: inout AppState, _ key: Key) -> [Effect] {
        guard let c = s.compare, let cursor = c.chooserCursor else { return [] }
        let metrics = c.metrics
        switch key {
        case .up, .char("k"): s.compare!.chooserCursor = clamp(cursor - 1, 0, metrics.count - 1)
        case .down, .char("j"): s.compare!.chooserCursor = clamp(cursor + 1, 0, metrics.count - 1)
        case .home: s.compare!.chooserCursor = 0
        case .end: s.compare!.chooserCursor = metrics.count - 1
        case .enter, .char(" "):
            s.compare!.chooserCursor = nil
            guard metrics.indices.contains(cursor) else { return [] }
            s.compare!.metric = metrics[cursor]
            s.compare!.rebuild()
            s.chartBounds = nil
            refreshBounds(&s)
            say(&s, "Comparing \(metrics[cursor])")
        case .escape, .left, .char("m"): s.compare!.chooserCursor = nil
        default: return quitting(key)
        }
        return []
    }

    /// The highest id among the lines the log pane may show: the tail's and, while searching, the matches'.
    static func newestShownID(_ s: AppState) -> Int64 {
        max(s.job?.newestLogID ?? 0, s.search?.hits.lazy.map(\.id).max() ?? 0)
    }

    /// Rows of log lines the job screen shows now.
    static func logRows(_ s: AppState) -> Int {
        guard let job = s.job else { return 0 }
        return ScreenView.JobLayout(s, job, rect: ScreenView.bodyRect(s)).logRows
    }

    /// Scrolls the log: up (negative) goes back in time, 0 follows the tail. The top of the view stops at the
    /// oldest loaded line; going past it asks the server for the page before it, and the rest of the move
    /// happens when that page arrives.
    static func scrollLog(_ s: inout AppState, by delta: Int, fetchOlder: Bool = true) -> [Effect] {
        let top = max(0, s.filteredLogs.count - logRows(s))
        let wanted = s.logScroll - delta
        s.logScroll = clamp(wanted, 0, top)
        guard fetchOlder, wanted > top, s.olderLogsExist, let job = s.job else { return [] }
        s.pendingScrollUp = max(s.pendingScrollUp, wanted - top)
        guard s.logFetch == nil else { return [] }
        let oldest = s.filter.isEmpty ? job.logs.first?.id : s.search?.hits.first?.id
        return fetch(&s, LogPageRequest(batchID: job.batchID, jobID: job.jobID, query: s.filter, beforeID: oldest))
    }

    /// A live line that matches the open search joins its matches where it sorts: one delivered late may be older
    /// than every loaded line, where the tail (and so `filteredLogs`' live part) does not keep it. Not above the
    /// oldest match while older matches remain on the server: the page that reaches it brings it.
    static func joinSearch(_ s: inout AppState, _ line: LogLine) {
        guard var search = s.search, search.loaded, search.query == s.filter, !line.isHeartbeat,
            LogFilter(search.query).matches(line: line.line, level: line.level)
        else { return }
        search.hits.place(line, olderExist: !search.complete)
        s.search = search
    }

    /// Seconds between tries of a search that failed while the connection stayed live.
    static let searchRetryS = 10.0

    /// Asks again for the first page of a search that failed, if one did and nothing is being fetched.
    static func retrySearch(_ s: inout AppState) -> [Effect] {
        guard s.logFetch == nil, let search = s.search, search.failedAt != nil, let job = s.job else { return [] }
        s.search?.failedAt = nil
        return fetch(&s, LogPageRequest(batchID: job.batchID, jobID: job.jobID, query: search.query, beforeID: nil))
    }

    static func fetch(_ s: inout AppState, _ req: LogPageRequest) -> [Effect] {
        s.logFetch = req
        return [.fetchLogs(req)]
    }

    /// Scrolls long log lines sideways by half the width of the text, until the end of the longest one shown
    /// is in view (the pane keeps one column for the ‹ marker then).
    static func shiftLog(_ s: inout AppState, _ direction: Int) {
        let all = s.filteredLogs
        let width = max(2, s.width - JobPanels.logPrefixWidth(JobPanels.logDates(all, now: s.now)))
        let longest = JobPanels.visibleLogs(s, all, rows: logRows(s)).lines.map { TextWidth.of($0.line) }.max() ?? 0
        s.logShift = clamp(s.logShift + direction * max(1, width / 2), 0, max(0, longest - (width - 1)))
    }

    /// A fresh log pane (another job was opened).
    static func resetLog(_ s: inout AppState) {
        s.logScroll = 0
        s.logShift = 0
        s.filter = ""
        s.search = nil
        s.logFetch = nil
        s.pendingScrollUp = 0
    }

    /// Sets the `/` filter and, for a new non-empty one, asks the server for its newest matches.
    static func setFilter(_ s: inout AppState, _ text: String) -> [Effect] {
        let changed = text != s.filter
        s.filter = text
        s.logScroll = 0
        guard changed else { return [] }
        s.pendingScrollUp = 0
        if s.logFetch?.query.isEmpty == false { s.logFetch = nil }
        guard !text.isEmpty, let job = s.job else {
            s.search = nil
            return []
        }
        s.search = LogSearch(query: text)
        return fetch(&s, LogPageRequest(batchID: job.batchID, jobID: job.jobID, query: text, beforeID: nil))
    }

    static func clamp(_ v: Int, _ lo: Int, _ hi: Int) -> Int { max(lo, min(max(lo, hi), v)) }

    /// The effects of keys read together, in order, less each log search that a later one in them replaces (the
    /// same job's first page for a longer or shorter query): a pasted filter asks the server once, not once per
    /// character. Only the newest search's answer is shown anyway (`LogSearch`).
    static func coalesced(_ effects: [Effect]) -> [Effect] {
        func search(_ e: Effect) -> LogPageRequest? {
            if case .fetchLogs(let r) = e, r.beforeID == nil, !r.query.isEmpty { return r }
            return nil
        }
        return effects.enumerated().filter { i, e in
            guard let r = search(e) else { return true }
            return !effects[(i + 1)...].contains { later in
                search(later).map { $0.batchID == r.batchID && $0.jobID == r.jobID } == true
            }
        }.map(\.element)
    }

    static func editFilter(_ s: inout AppState, _ key: Key) -> [Effect] {
        if s.screen != .job { return editListFilter(&s, key) }
        switch key {
        case .enter:
            s.filterEditing = false
            return []
        case .escape:
            s.filterEditing = false
            s.status = nil
            return setFilter(&s, "")
        case .backspace: return setFilter(&s, String(s.filter.dropLast()))
        case .ctrlC: return [.interrupted]
        case .char(let c):
            guard roomInFilter(&s, s.filter) else { return [] }
            return setFilter(&s, s.filter + String(c))
        default: return []
        }
    }

    /// Whether a filter holding `text` takes one more character: at most `LogFilter.maxQueryLength` code points (the
    /// server's limit for a log search; no id is that long), else the status line says so and the key is dropped.
    /// Code points, not characters: a paste of 600 combining accents is one character, and each key then cost
    /// more than the last.
    static func roomInFilter(_ s: inout AppState, _ text: String) -> Bool {
        guard text.unicodeScalars.count >= LogFilter.maxQueryLength else { return true }
        say(&s, "A filter holds at most \(LogFilter.maxQueryLength) characters.")
        return false
    }

    /// Typing into a list's `/` filter: the rows narrow as you type; Enter keeps it, Esc clears it.
    static func editListFilter(_ s: inout AppState, _ key: Key) -> [Effect] {
        switch key {
        case .enter: s.filterEditing = false
        case .escape:
            s.filterEditing = false
            s.status = nil
            setListFilter(&s, "")
        case .backspace: setListFilter(&s, String(s.listFilter.dropLast()))
        case .ctrlC: return [.interrupted]
        case .char(let c) where roomInFilter(&s, s.listFilter): setListFilter(&s, s.listFilter + String(c))
        default: break
        }
        return []
    }

    /// The selected row stays selected while the filter narrows or widens around it (else the first shown).
    static func setListFilter(_ s: inout AppState, _ text: String) {
        keepingSelection(&s) { $0.listFilter = text }
    }

    /// Runs `change` and then puts the cursor back on the row it was on, wherever the rows moved (a live
    /// update re-sorted them, the filter changed); if that row is gone, the cursor stays in range.
    static func keepingSelection(_ s: inout AppState, _ change: (inout AppState) -> Void) {
        let list: (ids: (AppState) -> [String], cursor: WritableKeyPath<AppState, Int>)
        switch s.screen {
        case .jobs: list = ({ $0.shownJobs.map(\.id) }, \.jobCursor)
        case .batches: list = ({ $0.shownBatches.map(\.id) }, \.batchCursor)
        default:
            change(&s)
            return
        }
        let before = list.ids(s)
        let at = s[keyPath: list.cursor]
        let id = before.indices.contains(at) ? before[at] : nil
        change(&s)
        let after = list.ids(s)
        s[keyPath: list.cursor] = id.flatMap { after.firstIndex(of: $0) } ?? clamp(at, 0, after.count - 1)
    }

    static func markedSentence(_ s: AppState) -> String {
        switch s.marked.count {
        case 0: return "No jobs marked."
        case 1: return "1 job marked: mark one more to compare."
        default: return "\(s.marked.count) jobs marked: C compares their loss curves."
        }
    }

    /// Keeps the chart's y range stable: it grows when data leaves it and shrinks only when data
    /// uses less than a third of it, so the axis does not jitter on every epoch.
    static func refreshBounds(_ s: inout AppState) {
        let source: (EpochSeries, [String])
        if s.screen == .compare, let c = s.compare {
            source = (c.overlay, c.visibleLabels)
        } else if let job = s.job {
            source = (job.series, s.visibleSeries)
        } else {
            s.chartBounds = nil
            return
        }
        guard let r = ChartScale.dataRange(source.0, series: source.1, smoothing: s.smoothing, logY: s.logY)
        else {
            s.chartBounds = nil
            return
        }
        s.chartBounds = ChartScale.stableBounds(previous: s.chartBounds, data: r, logY: s.logY)
    }

    /// Says since when (wall clock) rather than for how long, so the line stays true while it is shown.
    /// The idle flag's banner: since when, not "for 9s" (it stays while the STATUS tile's IDLE counts on).
    static func idleBanner(since seconds: Double?) -> Banner {
        Banner(
            .idle,
            "GPU idle\(seconds.map { " since \(Fmt.clock($0))" } ?? ""): every GPU under \(Int(GPUFigures.idleBelowPct))%; nothing was stopped"
        )
    }

    static func stalledBanner(since seconds: Double) -> Banner {
        Banner(.silence, "Stalled: nothing received from this run since \(Fmt.clock(seconds))")
    }

    /// What the host's agent could not do (`what`: "Rerun", a rerun it could not start or whose process died before
    /// its run reported; "Stop", one it refused, which leaves the batch stopping until someone ends the run there).
    static func agentFailedBanner(_ what: String, _ reason: String, at: Double?) -> String {
        "\(what) failed on the host\(at.map { " at \(Fmt.clock($0))" } ?? ""): \(reason)"
    }

    /// Shows the agent's latest failure for the batch on screen (`JobData.agentFailure`) once per failure: when the
    /// job or batch screen loads, or when its actions first say so. Once they no longer say so (a later rerun
    /// started), its banner goes, unless another notice took its place.
    static func raiseAgentFailure(_ s: inout AppState, _ failure: (key: String, banner: String)?) {
        guard let failure else {
            if s.notice?.kind == .agentFailure { s.notice = nil }
            s.agentFailureShown = nil
            return
        }
        guard failure.key != s.agentFailureShown else { return }
        s.agentFailureShown = failure.key
        s.notice = Banner(.agentFailure, failure.banner)
    }
}
