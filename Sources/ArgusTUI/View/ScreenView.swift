import FoundationEssentials
import Glibc
import Shared

/// `view(state) -> frame`: the whole screen as a pure function of `AppState`.
public enum ScreenView {
    public static let minWidth = 60
    public static let minHeight = 20

    /// Whether the screen can be drawn at all; below it only "terminal too small … q quits" shows.
    static func fits(_ s: AppState) -> Bool { s.width >= minWidth && s.height >= minHeight }

    public static func render(_ s: AppState) -> Grid {
        TextWidth.$cutMark.withValue(s.glyphs.cutMark) { frame(s) }
    }

    private static func frame(_ s: AppState) -> Grid {
        var g = Grid(width: s.width, height: s.height)
        guard fits(s) else {
            tooSmall(s, into: &g)
            return g
        }
        header(s, into: &g)
        let body = bodyRect(s)
        switch s.screen {
        case .batches: batchList(s, into: &g, rect: body)
        case .jobs(let b):
            var rest = body
            if let text = s.banner {
                let rows = bannerRows(text, rect: body)
                let (top, below) = body.takeTop(rows.count)
                drawBanner(rows, into: &g, rect: top)
                rest = below
            }
            jobList(s, batchID: b, into: &g, rect: rest)
        case .job: job(s, into: &g, rect: body)
        case .compare: CompareView.render(s, into: &g, rect: body)
        }
        statusLine(s, into: &g, y: s.height - 1)
        if s.chooserCursor != nil { seriesChooser(s, into: &g) }
        if s.compare?.chooserCursor != nil { CompareView.metricChooser(s, into: &g) }
        if s.showHelp { help(s, into: &g) }
        if let popup = s.popup { self.popup(s, popup.title, popup.text, into: &g) }
        if s.glyphs == .ascii { g.downgradeToASCII() }
        return g
    }

    /// A terminal smaller than the screen's smallest frame (a `--dump` frame cannot be: `TUICommand.validate`).
    static func tooSmall(_ s: AppState, into g: inout Grid) {
        let lines = ["terminal too small", "\(s.width)×\(s.height), need \(minWidth)×\(minHeight)", "q quits"]
        for (i, l) in lines.enumerated() {
            let y = max(0, s.height / 2 - 1) + i
            g.put(max(0, (s.width - TextWidth.of(l)) / 2), y, l, i == 0 ? .bold : .dimmed)
        }
    }

    static func header(_ s: AppState, into g: inout Grid) {
        let ascii = s.glyphs == .ascii
        var x = g.put(0, 0, " argus ", Style(fg: .cyan, bold: true, reverse: true))
        // Connection state and the age of the last event, right-aligned.
        // (While catching up the last event is one of the past, however recently it arrived.)
        let age = s.connection == .catchingUp ? "" : s.lastEventAt.map { " · last event " + Fmt.age(s.now - $0) } ?? ""
        let (state, style): (String, Style) = {
            // An overlay of finished jobs, all loaded, follows nothing: it says so rather than "live".
            if s.screen == .compare, s.connection == .live, s.compare?.isFinal == true {
                return ("\(Fmt.statusGlyph(RunStatus.done, ascii: ascii)) all finished", Style(fg: .green))
            }
            switch s.connection {
            case .connecting: return ("\(ascii ? "~" : "◌") connecting\(TextWidth.cutMark)", Style(fg: .yellow))
            case .catchingUp:
                let since = s.connectionLostAt.map { " since \(Fmt.clock($0))" } ?? ""
                return ("\(ascii ? "~" : "◌") catching up\(since)\(TextWidth.cutMark)", Style(fg: .yellow))
            case .live: return ("\(ascii ? "*" : "●") live", Style(fg: .green))
            // The header has room for a few words; the status line says the whole of what is wrong.
            // Not there yet is waiting, not trouble: the server answered.
            case .reconnecting(_, let problem) where problem.isNotReportedYet, .offline(let problem) where problem.isNotReportedYet:
                return ("\(ascii ? "~" : "◌") not reported yet", Style(fg: .yellow))
            case .reconnecting(let n, _):
                return ("\(ascii ? "~" : "◌") reconnecting (attempt \(n))", Style(fg: .yellow, bold: true))
            case .offline(let problem):
                return ("\(ascii ? "x" : "✕") \(problem.label)", Style(fg: .red, bold: true))
            }
        }()
        let text = state + age
        let tag = s.readOnly ? "  [read-only]" : ""
        // The place gets what the connection text leaves, and at least two thirds of the row (the connection
        // text is cut first); long ids lose their middle, never their end, so the job id stays on screen.
        let room = max(s.width * 2 / 3 - x, s.width - x - TextWidth.of(tag) - TextWidth.of(text) - 3) - 1
        let place: String
        switch s.screen {
        case .batches:
            place = TextWidth.truncate(
                s.batchesCut ? "recent batches: the first \(BatchRow.listLimit), going ones first" : "recent batches", room)
        case .jobs(let b): place = TextWidth.truncateMiddle(b, room)
        case .job: place = s.job.map { fitPair($0.batchID, $0.jobID, separator: " / ", width: room) } ?? ""
        case .compare:
            place = TextWidth.truncate(
                s.compare.map { "compare \($0.refs.count) jobs · \($0.metric)" } ?? "compare", room)
        }
        x += g.put(x, 0, " " + place, .bold)
        x += g.put(x, 0, tag, Style(fg: .yellow))
        let left = s.width - x - 2
        // The room was sized for the whole text: a short one ("● live") always fits; a long one needs a few columns.
        if left >= min(9, TextWidth.of(text)) {
            // Whole parts: the age goes first, rather than ending in "last event 0s a…"; only then is the state cut.
            let t = TextWidth.of(text) <= left ? text : TextWidth.truncate(state, left)
            g.put(s.width - TextWidth.of(t) - 1, 0, t, style)
        }
    }

    /// `a + separator + b` in `width` columns: whichever is longer loses its middle first.
    static func fitPair(_ a: String, _ b: String, separator: String, width: Int) -> String {
        let room = width - TextWidth.of(separator)
        let (wa, wb) = (TextWidth.of(a), TextWidth.of(b))
        if wa + wb <= room { return a + separator + b }
        let half = room / 2
        let ka = wa <= half ? wa : max(half, room - wb)
        let kb = room - min(wa, ka)
        return TextWidth.truncateMiddle(a, ka) + separator + TextWidth.truncateMiddle(b, kb)
    }

    static func statusLine(_ s: AppState, into g: inout Grid, y: Int) {
        if s.filterEditing {
            let text = s.screen == .job ? s.filter : s.listFilter
            // What a key just said (the filter is full), else how to leave.
            let after = s.status.map { "  " + $0 } ?? "  Enter keeps · Esc clears"
            let used = g.put(0, y, "/", Style(fg: .cyan, bold: true))
            // The caret stays on screen: a filter wider than its room shows its end, its start cut to "…".
            let room = max(2, s.width - used - 2 - min(TextWidth.of(after), s.width / 2))
            let t = g.put(used, y, TextWidth.truncateStart(text, room), .bold)
            g.put(used + t, y, "▏", .plain)
            // A message longer than the rest of the row says it was cut.
            let shown = TextWidth.truncateAtWord(after, max(0, s.width - used - t - 2), ellipsis: plain("…", s))
            g.put(used + t + 2, y, shown, s.status == nil ? .dimmed : Style(fg: .cyan))
            return
        }
        if let message = bottomMessage(s) {
            let style =
                message.isPrompt
                ? Style(fg: .yellow, bold: true) : s.statusIsError ? Style(fg: .red, bold: true) : Style(fg: .cyan)
            let rows = statusRows(s)
            for (i, row) in rows.enumerated() {
                let at = y - rows.count + 1 + i
                // A prompt's answer keys are dimmed after its question (on its last row, or on a row of their own).
                if message.isPrompt && row == answerKeys {
                    g.put(0, at, row, .dimmed, maxWidth: s.width)
                    continue
                }
                let text = message.isPrompt && row.hasSuffix(promptKeys) ? String(row.dropLast(promptKeys.count)) : row
                let used = g.put(0, at, text, style, maxWidth: s.width)
                if text.count < row.count { g.put(used, at, promptKeys, .dimmed, maxWidth: s.width - used) }
            }
            return
        }
        if let trouble = connectionRows(s) {
            for (i, row) in trouble.enumerated() {
                g.put(0, y - trouble.count + 1 + i, row, Style(fg: .yellow, bold: true), maxWidth: s.width)
            }
            return
        }
        // The keys of the screen, then the way back, to every other key, and out (`fitHints` keeps those).
        let keys: [String]
        var exits = ["Esc back", "? help", "q quit"]
        var filtered = false
        switch s.screen {
        case .batches:
            keys = ["↑↓ select", "Enter open", "/ filter"]
            exits.removeFirst()
            filtered = true
        case .jobs:
            keys = ["↑↓ select", "Enter open", "/ filter", "< > sort", "Space mark"]
            filtered = true
            // A share link's batch screen is where its view starts: there is nothing to go back to.
            if s.pinnedBatch != nil { exits.removeFirst() }
        case .compare:
            keys = ["e EMA", "g log-y", "1-9 show/hide a job", "m metric"]
        case .job:
            keys = [
                "↑↓ PgUp/PgDn Home scroll log", "←→ long lines", "/ search", "e EMA", "E factor", "g log-y", "G GPUs",
                "1-9/m series",
            ]
        }
        // A kept list filter comes first and stays (cut in its middle to fit), so it is never forgotten; Esc then
        // clears it rather than going back.
        if filtered && !s.listFilter.isEmpty { exits = ["Esc clears"] + exits.filter { $0 != "Esc back" } }
        let separator = plain(" · ", s)
        let shownExits = exits.map { plain($0, s) }
        let marker = plain("…", s)
        let room = s.width - TextWidth.of(([marker] + shownExits).joined(separator: separator) + separator)
        let lead = filtered ? listFilterHint(s, room: room) : []
        let line = fitHints(
            lead + keys.map { plain($0, s) }, shownExits, separator: separator, marker: marker, width: s.width)
        g.put(0, y, line, .dimmed)
    }

    /// A hint line as wide as the terminal: where it does not fit, keys go from the end of `keys` ("…" says so) so
    /// that `exits` (the way back, to every other key, and out) always show, and the first keys while they fit.
    static func fitHints(_ keys: [String], _ exits: [String], separator: String, marker: String = "…", width: Int) -> String {
        var items = keys
        if TextWidth.of((items + exits).joined(separator: separator)) <= width { return (items + exits).joined(separator: separator) }
        while !items.isEmpty {
            let line = (items + [marker] + exits).joined(separator: separator)
            if TextWidth.of(line) <= width { return line }
            items.removeLast()
        }
        return TextWidth.truncate(([marker] + exits).joined(separator: separator), width)
    }

    /// A hint as the terminal can show it: with `--ascii`, arrows and separators in ASCII.
    static func plain(_ hint: String, _ s: AppState) -> String {
        s.glyphs == .ascii
            ? hint.replacing("↑↓", with: "up/down").replacing("←→", with: "left/right").replacing("·", with: "|")
                .replacing("–", with: "-").replacing("…", with: "...")
            : hint
    }

    /// The list filter as sentences quote it: a pasted one cut in its middle, not wrapped over the screen.
    static func quotedFilter(_ s: AppState, within width: Int = 40) -> String {
        TextWidth.truncateMiddle(s.listFilter, min(40, max(4, width)))
    }

    /// A kept list filter, first on the hint line so it is never forgotten, cut in its middle to `room` columns.
    static func listFilterHint(_ s: AppState, room: Int) -> [String] {
        guard !s.listFilter.isEmpty else { return [] }
        let hint = { (filter: String) in "filter '\(filter)'" }
        return [hint(TextWidth.truncateMiddle(s.listFilter, max(5, room - TextWidth.of(hint("")))))]
    }

    /// While the server misbehaves: what is wrong, that it is being retried, and that the screen shows the last
    /// state received (kept, not cleared), on one row, or over up to `statusMaxRows` rows where the server's sentence
    /// is longer than the terminal is wide (read to its end, like any status message). Nil while live, and before a
    /// job's first view (its body says why).
    static func connectionRows(_ s: AppState) -> [String]? {
        guard let problem = s.connection.problem else { return nil }
        let what = "⚠ " + problem.sentence
        // What is being done about it, and as of when the screen is (nil: nothing is shown that could be old).
        let retry: String
        let time: String?
        // The long and the short way to say what the time is of. A kept list filter, whose note on the hint line
        // this line takes the place of, is part of both.
        let (asOf, short): (String, String)
        // Cut so that its shortest form ("matching '…' as of 12:34:56") fits on a row of its own.
        let room = s.width - TextWidth.of(" · matching '' as of 00:00:00")
        let matching = s.listFilter.isEmpty ? "" : "matching '\(quotedFilter(s, within: room))' "
        switch (s.connection, s.screen) {
        case (.reconnecting(let n, _), .job):
            guard s.job?.loaded == true else { return nil }
            retry = problem.isStall ? "reconnecting (attempt \(n))" : "retrying (attempt \(n))"
            (time, asOf, short) = (s.connectionLostAt.map(Fmt.clock), "showing what arrived until", "as of")
        case (_, .batches) where s.batchesLoaded:
            retry = "retrying every 5s"
            time = s.batchesAsOf.map(Fmt.clock)
            asOf = matching.isEmpty ? "showing the list as of" : "showing the batches \(matching)as of"
            short = matching + "as of"
        case (_, .jobs) where s.jobsLoaded:
            retry = "reconnecting"
            (time, asOf, short) = (s.jobsAsOf.map(Fmt.clock), "showing the jobs \(matching)as of", matching + "as of")
        default:
            (retry, time, asOf, short) = ("retrying", nil, "", "")
        }
        // After the sentence, in fewer words as room runs out: the time (what this line is for, never cut), then
        // the retry, which the header says too, gives way.
        let ends = time.map { [[retry, "\(asOf) \($0)"], [retry, "\(short) \($0)"], ["\(short) \($0)"]] } ?? [[retry]]
        for end in ends {
            let line = ([what] + end).joined(separator: " · ")
            if TextWidth.of(line) <= s.width { return [line] }
        }
        // Then the sentence goes on over the next rows: as few as it can, with the fullest end that fits in them;
        // cut only when even the shortest end does not fit in three.
        let wrapped = ends.compactMap { wrapWithEnd(what, end: $0.joined(separator: " · "), width: s.width) }
        if let fewest = wrapped.map(\.count).min() { return wrapped.first { $0.count == fewest } }
        return wrapWithEnd(what, end: ends.last!.joined(separator: " · "), width: s.width, cutMark: plain("…", s))
    }

    /// `text · end` wrapped to `width` over at most `statusMaxRows` rows, `end` whole on the last: after the text's
    /// end where it fits, else on a row of its own. Nil when they need more rows, unless a `cutMark` is given: then
    /// the text's last row shown is cut (ending with the mark) to leave room for `end`.
    static func wrapWithEnd(_ text: String, end: String, width: Int, cutMark: String? = nil) -> [String]? {
        let tail = " · " + end
        let rows = TextWidth.wrap(text, max(1, width))
        guard let last = rows.last else { return [TextWidth.truncate(end, width)] }
        if rows.count <= statusMaxRows, TextWidth.of(last + tail) <= width { return rows.dropLast() + [last + tail] }
        if rows.count < statusMaxRows, TextWidth.of(end) <= width { return rows + [end] }
        guard let mark = cutMark else { return nil }
        let rest = rows.dropFirst(statusMaxRows - 1).joined(separator: " ")
        let cut = TextWidth.truncateAtWord(rest, max(1, width - TextWidth.of(tail)), ellipsis: mark)
        // Never past the edge: an end too wide even alone is cut too.
        return Array(rows.prefix(statusMaxRows - 1)) + [TextWidth.truncate(cut.isEmpty ? end : cut + tail, width)]
    }

    /// A column of a list screen. Ids lose their middle when cut (so `…-seed3` and `…-seed4` stay apart);
    /// other text loses its end. `shrinks` columns give up width first when the row does not fit.
    struct ListColumn {
        var title: String
        var shrinks = false
        var middle = false
        /// On a narrow terminal columns are left out, lowest `keep` first (nil: never), before a shrinking
        /// column is cut below a readable width (`readable`).
        var keep: Int? = nil

        var readable: Int { middle ? 20 : 12 }
    }

    /// One row of a list screen: a status (coloured) and one text per column; `marked` shows a mark before it.
    struct ListRow {
        var status: String
        var cells: [String]
        var marked = false
    }

    /// Column widths from the values themselves: each as wide as its title and longest value. When the row
    /// is too wide, columns are left out (width 0; lowest `keep` first) until the rest fit with their shrinking
    /// columns at a readable width; then the widest shrinking column gives up a column at a time (down to its
    /// title or 8).
    static func columnWidths(_ columns: [ListColumn], _ rows: [ListRow], room: Int) -> [Int] {
        var widths = columns.indices.map { i in
            rows.reduce(TextWidth.of(columns[i].title)) { max($0, TextWidth.of($1.cells[i])) }
        }
        func total() -> Int {
            let shown = widths.filter { $0 > 0 }
            return shown.reduce(0, +) + 2 * max(0, shown.count - 1)
        }
        func readableTotal() -> Int {
            let shown = columns.indices.filter { widths[$0] > 0 }
            let w = shown.map {
                columns[$0].shrinks ? min(widths[$0], max(columns[$0].readable, TextWidth.of(columns[$0].title))) : widths[$0]
            }
            return w.reduce(0, +) + 2 * max(0, shown.count - 1)
        }
        let droppable = columns.indices.filter { columns[$0].keep != nil }.sorted { columns[$0].keep! < columns[$1].keep! }
        for i in droppable where readableTotal() > room { widths[i] = 0 }
        func floor(_ i: Int) -> Int { max(TextWidth.of(columns[i].title), 8) }
        while total() > room {
            let candidates = columns.indices.filter { columns[$0].shrinks && widths[$0] > floor($0) }
            guard let widest = candidates.max(by: { widths[$0] < widths[$1] }) else { break }
            widths[widest] -= 1
        }
        return widths
    }

    /// The batch and job pickers: a header line, a scrolling list with a reversed cursor row.
    static func list(
        _ s: AppState, columns: [ListColumn], statusTitle: String = "STATUS", loaded: Bool, empty: String,
        rows: [ListRow], cursor: Int, into g: inout Grid, rect: Rect
    ) {
        let ascii = s.glyphs == .ascii
        func statusText(_ status: String) -> String { "\(Fmt.statusGlyph(status, ascii: ascii)) \(status)" }
        // As wide as the longest status there is, so no status is ever cut and the columns never jump.
        let statusW = (JobData.statuses + rows.map(\.status)).map { TextWidth.of(statusText($0)) }.max() ?? 0
        let x0 = rect.x + 1 + statusW + 2
        let widths = columnWidths(columns, rows, room: rect.maxX - x0)
        var xs: [Int] = []
        var x = x0
        for w in widths {
            xs.append(x)
            if w > 0 { x += w + 2 }
        }
        g.put(rect.x + 1, rect.y, statusTitle, .dimmed)
        for (c, column) in columns.enumerated() where xs[c] < rect.maxX && widths[c] > 0 {
            g.put(xs[c], rect.y, column.title, .dimmed, maxWidth: rect.maxX - xs[c])
        }
        guard loaded else {
            // The connection line above says what is wrong and that it is retrying.
            let note =
                s.connection.problem == nil
                ? "loading\(TextWidth.cutMark)"
                : s.connection.problem!.isNotReportedYet
                    ? "not reported yet · it opens here as soon as its run reports it" : "not loaded yet · waiting for the server"
            g.put(rect.x + 1, rect.y + 2, note, .dimmed)
            return
        }
        if rows.isEmpty {
            // Wrapped, not cut: its end (a URL, what to press) is what one acts on.
            for (i, line) in TextWidth.wrap(empty, max(1, rect.width - 2), maxRows: max(1, rect.height - 2)).enumerated() {
                g.put(rect.x + 1, rect.y + 2 + i, line, .dimmed)
            }
            return
        }
        let visible = rect.height - 1
        let top = max(0, min(cursor - visible / 2, rows.count - visible))
        for (i, row) in rows.enumerated().dropFirst(top).prefix(visible) {
            let y = rect.y + 1 + (i - top)
            let selected = i == cursor
            let base = selected ? Style(reverse: true) : .plain
            if selected { g.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), " ", base) }
            if row.marked {
                var mark = Style(fg: .magenta, bold: true)
                mark.reverse = selected
                g.put(rect.x, y, ascii ? "*" : "◆", mark)
            }
            var st = Style(fg: Fmt.statusColor(row.status), bold: true)
            st.reverse = selected
            g.put(rect.x + 1, y, statusText(row.status), st, maxWidth: statusW)
            for (c, text) in row.cells.enumerated() where xs[c] < rect.maxX && widths[c] > 0 {
                let cut =
                    columns[c].middle
                    ? TextWidth.truncateMiddle(text, widths[c]) : TextWidth.truncate(text, widths[c])
                g.put(xs[c], y, cut, base, maxWidth: rect.maxX - xs[c])
            }
        }
    }

    static func batchList(_ s: AppState, into g: inout Grid, rect: Rect) {
        let rows = s.shownBatches.map { b in
            let age = Timestamp(iso: b.lastActivity).map { Fmt.age(s.now - $0.seconds) } ?? "–"
            let jobs = "\(b.nDone)✓ \(b.nFailed)✗" + (b.nTotal.map { "/\($0)" } ?? "")
            let marked = s.marked.contains { $0.batchID == b.id }
            return ListRow(
                status: b.status, cells: [b.id, b.project] + (s.isAdmin ? [b.owner] : []) + [b.host, jobs, age],
                marked: marked)
        }
        list(
            s,
            columns: [
                ListColumn(title: "BATCH", shrinks: true, middle: true), ListColumn(title: "PROJECT", shrinks: true, keep: 2),
            ]
                + (s.isAdmin ? [ListColumn(title: "OWNER", shrinks: true, keep: 3)] : [])
                + [
                    ListColumn(title: "HOST", shrinks: true, keep: 1), ListColumn(title: "JOBS", keep: 5),
                    ListColumn(title: "LAST ACTIVITY", keep: 4),
                ],
            loaded: s.batchesLoaded,
            empty: s.batches.isEmpty
                ? "No batches yet that this token can see. Point a training script (argus-reporter) or `argus-server simulate` at \(s.serverLabel)."
                : s.batchesCut
                    ? "No batch matches '\(quotedFilter(s))' among the \(BatchRow.listLimit) listed (Esc clears the filter; `argus-tui BATCH` opens any batch)."
                    : "No batch matches '\(quotedFilter(s))' (Esc clears the filter).",
            rows: rows, cursor: s.batchCursor, into: &g, rect: rect)
    }

    /// Width of the batch screen's loss sparkline.
    static let sparkWidth = 16

    /// The batch screen: one row per job, the columns of `JobColumn`, sorted and filtered as the state says.
    static func jobList(_ s: AppState, batchID: String, into g: inout Grid, rect: Rect) {
        let ascii = s.glyphs == .ascii
        func loss(_ v: Double?) -> String { LossChart.shown(v) }
        let rows = s.shownJobs.map { j in
            let epoch = j.epoch.map { e in j.totalEpochs.map { "\(e)/\($0)" } ?? "\(e)" } ?? "–"
            let best = j.bestValLoss.map { v in LossChart.format(v) + (j.bestValEpoch.map { " @\($0)" } ?? "") } ?? "–"
            let gpu = j.gpuUtilPct.map { Fmt.percent($0) } ?? "–"
            return ListRow(
                status: j.status,
                cells: [
                    j.id, j.model, epoch, Fmt.duration(j.elapsedS), loss(j.valLoss), best, gpu,
                    Sparkline.render(j.lossSpark, width: sparkWidth, ascii: ascii),
                ],
                marked: s.marked.contains(JobRef(batchID: batchID, jobID: j.id)))
        }
        func title(_ c: JobColumn) -> String {
            guard s.jobSort.column == c else { return c.title }
            return c.title + (s.jobSort.descending ? (ascii ? "v" : "▼") : (ascii ? "^" : "▲"))
        }
        list(
            s,
            columns: [
                ListColumn(title: title(.job), shrinks: true, middle: true),
                ListColumn(title: title(.model), shrinks: true, keep: 2), ListColumn(title: title(.epoch), keep: 6),
                ListColumn(title: title(.elapsed), keep: 3), ListColumn(title: title(.valLoss), keep: 7),
                ListColumn(title: title(.bestVal), keep: 5), ListColumn(title: title(.gpu), keep: 4),
                ListColumn(title: title(.loss), keep: 1),
            ],
            statusTitle: title(.status),
            loaded: s.jobsLoaded,
            empty: s.jobs.isEmpty ? "This batch has no jobs yet." : "No job matches '\(quotedFilter(s))' (Esc clears the filter).",
            rows: rows, cursor: s.jobCursor, into: &g, rect: rect)
    }

    /// A banner's rows: a reason the agent gave (a path, what to check) must be read whole, so it wraps, over 3 rows
    /// at most (2 on a short terminal), and only what does not fit then ends with "…".
    static func bannerRows(_ text: String, rect: Rect) -> [String] {
        TextWidth.wrap("⚠ " + TerminalText.printable(text), rect.width - 2, maxRows: rect.height >= 30 ? 3 : 2)
    }

    static func drawBanner(_ rows: [String], into g: inout Grid, rect: Rect) {
        g.fill(rect, " ", Style(fg: .yellow, reverse: true))
        for (i, row) in rows.enumerated() {
            g.put(rect.x + 1, rect.y + i, row, Style(fg: .yellow, bold: true, reverse: true), maxWidth: rect.width - 2)
        }
    }

    /// The body of the screen (between the header and the status line).
    static func bodyRect(_ s: AppState) -> Rect {
        Rect(x: 0, y: 1, width: s.width, height: s.height - 1 - statusRows(s).count)
    }

    /// A box over the body, centred, up to `height` rows and `margin` rows short of the body's: never over the
    /// header or the status rows (a sentence wrapped over three of them stays readable under a list).
    static func overlayBox(_ s: AppState, x: Int? = nil, width: Int, height: Int, margin: Int = 0) -> Rect {
        let body = bodyRect(s)
        let h = overlayHeight(s, height, margin: margin, body: body)
        return Rect(x: x ?? (s.width - width) / 2, y: body.y + max(0, (body.height - h) / 2), width: width, height: h)
    }

    /// How many of `wanted` rows an overlay gets (`overlayBox`).
    static func overlayHeight(_ s: AppState, _ wanted: Int, margin: Int = 0, body: Rect? = nil) -> Int {
        max(1, min((body ?? bodyRect(s)).height - margin, wanted))
    }

    static let answerKeys = "y confirms · any other key cancels"
    static let promptKeys = "  " + answerKeys
    /// The most rows the status line takes from the screen's body for a long message.
    static let statusMaxRows = 3

    /// The question a Stop, Rerun or Mark failed key asks before anything happens, or nil.
    static func prompt(_ s: AppState) -> String? {
        guard let pending = s.confirming, let job = s.job else { return nil }
        // A long id loses its middle, so the question keeps its place and its answer keys.
        let id = TextWidth.truncateMiddle(job.batchID, max(24, s.width / 2))
        switch pending {
        case .stop: return "Stop batch \(id)? Running jobs will be asked to finish."
        case .markFailed: return "Mark batch \(id) failed? It and its running jobs end as failed."
        default:
            // A very long place (a deep path) loses its middle, so the question still ends, with its answer keys, in
            // the status line's rows.
            // A control character in it (a newline, a tab) is a space, as everywhere on the screen.
            let place = TerminalText.printable(job.rerunRunsIn ?? RerunDirectory.phrase(job.cwd))
            func question(_ place: String) -> String { "Rerun batch \(id) on its host, in \(place)?" }
            func fits(_ place: String) -> Bool { promptRows(question(place), width: s.width).count <= statusMaxRows }
            if fits(place) { return question(place) }
            var (low, high) = (1, TextWidth.of(place))  // the widest place that fits is in low..<high
            while high - low > 1 {
                let mid = (low + high) / 2
                if fits(TextWidth.truncateMiddle(place, mid)) { low = mid } else { high = mid }
            }
            return question(TextWidth.truncateMiddle(place, low))
        }
    }

    /// What the bottom rows say, when not the filter being typed or the hints: a prompt (its question, then the
    /// keys that answer it), or else a status message.
    static func bottomMessage(_ s: AppState) -> (text: String, isPrompt: Bool)? {
        guard !s.filterEditing else { return nil }
        if let question = prompt(s) { return (question + promptKeys, true) }
        return s.status.map { ($0, false) }
    }

    /// The bottom rows, `bottomMessage` wrapped: a sentence the server wrote, or where a rerun runs, is read to its
    /// end, not cut at the terminal's width. Up to three rows, taken from the screen's body (not drawn over the newest
    /// log lines); one row otherwise.
    static func statusRows(_ s: AppState) -> [String] {
        guard let message = bottomMessage(s) else { return s.filterEditing ? [""] : connectionRows(s) ?? [""] }
        if message.isPrompt, let question = prompt(s) {
            let rows = promptRows(question, width: s.width)
            return rows.count <= statusMaxRows ? rows : Array(rows.prefix(statusMaxRows - 1)) + [rows.last!]
        }
        let rows = TextWidth.wrap(message.text, max(1, s.width), maxRows: statusMaxRows)
        return rows.isEmpty ? [""] : rows
    }

    /// A prompt's rows: its question wrapped, then its answer keys, kept together (never "… y" on one row and
    /// "confirms" on the next): after the question's end where they fit, else on a row of their own.
    static func promptRows(_ question: String, width: Int) -> [String] {
        var rows = TextWidth.wrap(question, max(1, width))
        if let last = rows.last, TextWidth.of(last + promptKeys) <= width {
            rows[rows.count - 1] = last + promptKeys
        } else {
            rows.append(answerKeys)
        }
        return rows
    }

    /// Where each panel of the job-detail screen goes: one computation for drawing and for key handling
    /// (a page of the log is as many lines as its pane shows).
    struct JobLayout {
        var banner: Rect?
        var bannerRows: [String] = []
        var telemetry: Rect
        /// The GPUs panel (`G`), between the tiles and the chart.
        var gpus: Rect?
        var chart: Rect
        var failure: Rect?
        var failureRows: [String] = []
        /// The job's final metrics, one row above the log tail.
        var finalMetrics: Rect?
        var log: Rect
        var actionBar: Rect
        var environment: Rect

        /// The failure reason wraps over at most this many rows; a longer one ends with "…".
        static let maxFailureRows = 4

        init(_ s: AppState, _ job: JobData, rect: Rect) {
            var rest = rect
            if let text = s.banner {
                bannerRows = ScreenView.bannerRows(text, rect: rect)
                (banner, rest) = rest.takeTop(bannerRows.count)
            }
            let (tele, r1) = rest.takeTop(3)
            telemetry = tele
            let (env, r2) = r1.takeBottom(2)
            environment = env
            let (bar, above) = r2.takeBottom(1)
            actionBar = bar
            var r3 = above
            if s.showGPUs {
                // A title and a line per GPU, from what is left once the chart keeps 6 rows and the log 3
                // (title and two lines); GPUs that do not fit share one last line (`GPUPanel`).
                let want = 1 + max(1, job.gpuHistory.indices.count)
                let (panel, below) = r3.takeTop(min(want, max(2, r3.height - 9)))
                gpus = panel
                r3 = below
            }
            // The chart's 6 rows give way (down to the 4 it draws in) before the log's 3 do.
            let chartH = max(min(6, max(4, r3.height - 3)), (r3.height * 55) / 100)
            let (chart, below) = r3.takeTop(chartH)
            self.chart = chart
            log = below
            if job.jobStatus == RunStatus.failed, let reason = job.failureReason {
                // The failure reason sits above the log tail, as on the web page; the log keeps a title and two rows.
                let room = min(JobLayout.maxFailureRows, max(1, below.height - 3))
                failureRows = TextWidth.wrap("Failed: " + reason, below.width, maxRows: room)
                let (fail, r) = below.takeTop(failureRows.count)
                failure = fail
                log = r
            }
            if !job.finalMetrics.isEmpty, log.height > 3 {
                (finalMetrics, log) = log.takeTop(1)
            }
        }

        /// Rows of log lines the pane shows (under its title).
        var logRows: Int { max(0, log.height - 1) }
    }

    /// The job-detail screen, top to bottom like the web page.
    static func job(_ s: AppState, into g: inout Grid, rect: Rect) {
        guard let job = s.job else { return }
        guard job.loaded else {
            notLoaded(s, job, into: &g, rect: rect)
            return
        }
        let layout = JobLayout(s, job, rect: rect)
        if let top = layout.banner { drawBanner(layout.bannerRows, into: &g, rect: top) }
        JobPanels.telemetry(s, job, into: &g, rect: layout.telemetry)
        if let panel = layout.gpus { GPUPanel.render(s, job, into: &g, rect: panel) }
        JobPanels.environment(job, ascii: s.glyphs == .ascii, into: &g, rect: layout.environment)
        JobPanels.actionBar(s, job, into: &g, rect: layout.actionBar)
        LossChart.render(s, into: &g, rect: layout.chart)
        if let fail = layout.failure {
            for (i, row) in layout.failureRows.enumerated() {
                g.put(fail.x, fail.y + i, row, Style(fg: .red, bold: true), maxWidth: fail.width)
            }
        }
        if let row = layout.finalMetrics {
            let text =
                "Final: "
                + job.finalMetrics.map { "\($0.name) \($0.value.map { LossChart.format($0) } ?? "–")" }.joined(separator: " · ")
            g.put(row.x, row.y, TextWidth.truncate(TerminalText.printable(text), row.width), .bold, maxWidth: row.width)
        }
        JobPanels.logTail(s, into: &g, rect: layout.log)
    }

    /// Before the first `/view` arrives nothing is known about the job: say so, and why, instead of
    /// showing a status, elapsed time or numbers nobody reported.
    static func notLoaded(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        let why: String
        // The server answered that it has no such job (yet): numbers come when a run reports it, not "when the
        // server answers", which it did.
        var notThereYet = false
        switch s.connection {
        case .connecting, .catchingUp, .live: why = "Loading it from \(s.serverLabel)\(TextWidth.cutMark)"
        case .reconnecting(let attempt, let problem):
            why = "\(s.serverLabel): \(problem.sentence); retrying (attempt \(attempt))."
            notThereYet = problem.isNotReportedYet
        case .offline(let problem): why = "\(s.serverLabel): \(problem.sentence)"
        }
        // The reason is wrapped, not cut: its end (a hint, the attempt) is what the user acts on.
        let lines =
            [("Nothing is known about this job yet.", Style.bold)]
            + TextWidth.wrap(why, max(1, rect.width - 2), maxRows: 4).map { ($0, Style(fg: .yellow)) }
            + [
                (
                    notThereYet
                        ? "It opens here as soon as its run reports it." : "Status and numbers appear when the server answers.",
                    Style.dimmed
                )
            ]
        for (i, l) in lines.enumerated() {
            let t = TextWidth.truncate(l.0, rect.width - 2)
            g.put(rect.x + max(1, (rect.width - TextWidth.of(t)) / 2), rect.y + rect.height / 3 + i, t, l.1)
        }
    }

    /// The series chooser: every series with its toggle, however many; scrolls with the cursor.
    static func seriesChooser(_ s: AppState, into g: inout Grid) {
        guard let job = s.job, let cursor = s.chooserCursor else { return }
        let data = job.series
        let names = data.names
        let glyphs = ChartGlyphs.of(s.glyphs)
        let ascii = s.glyphs == .ascii
        let nameW = names.map { TextWidth.of($0) }.max() ?? 0
        let rows = names.enumerated().map { i, name in
            let mark = s.isVisible(name) ? (ascii ? "[x]" : "[✓]") : "[ ]"
            let key = i < 9 ? "\(i + 1)" : " "
            let marker = s.color ? glyphs.legendLine : String(glyphs.marker(i))
            let value = LossChart.shown(data.latest(name))
            let pad = String(repeating: " ", count: nameW - TextWidth.of(name))
            return "\(mark) \(key) \(marker) \(name)\(pad)  \(value)"
        }
        let footer = ascii ? " up/down move | Space toggles | Esc closes " : " ↑↓ move · Space toggles · Esc closes "
        let w = min(s.width - 4, max(TextWidth.of(footer) + 4, (rows.map { TextWidth.of($0) }.max() ?? 0) + 4))
        let box = overlayBox(s, width: w, height: names.count + 4)
        let visible = max(1, box.height - 4)
        let top = max(0, min(cursor - visible / 2, names.count - visible))
        frame(s, box, title: " chart series: \(s.visibleSeries.count) of \(names.count) shown ", into: &g)
        for (i, row) in rows.enumerated().dropFirst(top).prefix(visible) {
            let y = box.y + 2 + i - top
            let selected = i == cursor
            var style = s.isVisible(names[i]) ? Style.fg(LossChart.color(of: names[i], in: names), bold: true) : Style.plain
            style.reverse = selected
            if selected { g.fill(Rect(x: box.x + 1, y: y, width: box.width - 2, height: 1), " ", Style(reverse: true)) }
            g.put(box.x + 2, y, TextWidth.truncate(row, box.width - 4), style)
        }
        // Where the window is in a list longer than the box.
        if names.count > visible {
            let pos = " \(top + 1)–\(min(names.count, top + visible)) of \(names.count) "
            g.put(box.maxX - 2 - TextWidth.of(pos), box.y + 1, pos, .dimmed)
        }
        g.put(box.x + 2, box.maxY - 1, TextWidth.truncate(footer, box.width - 4), .dimmed)
    }

    /// A cleared box with a border and a title.
    static func frame(_ s: AppState, _ box: Rect, title: String, into g: inout Grid) {
        g.fill(box, " ", .plain)
        let ascii = s.glyphs == .ascii
        let (hz, vt, tl, tr, bl, br) =
            ascii ? ("-", "|", "+", "+", "+", "+") : ("─", "│", "┌", "┐", "└", "┘")
        for x in box.x..<box.maxX {
            g.put(x, box.y, hz, .dimmed)
            g.put(x, box.maxY - 1, hz, .dimmed)
        }
        for y in box.y..<box.maxY {
            g.put(box.x, y, vt, .dimmed)
            g.put(box.maxX - 1, y, vt, .dimmed)
        }
        g.put(box.x, box.y, tl, .dimmed)
        g.put(box.maxX - 1, box.y, tr, .dimmed)
        g.put(box.x, box.maxY - 1, bl, .dimmed)
        g.put(box.maxX - 1, box.maxY - 1, br, .dimmed)
        g.put(box.x + 2, box.y, TextWidth.truncate(title, box.width - 4), .bold)
    }

    /// A box with text to select by hand (wrapped, never truncated).
    /// The popup's text rows, cut by the columns each character takes (CJK takes two, so nothing runs past the
    /// box), and its box; Update scrolls within the same rows.
    static func popupLayout(_ s: AppState, _ text: String) -> (lines: [String], box: Rect, visible: Int) {
        let w = s.width - 8
        let lines = TextWidth.chop(text, w - 4)
        let box = overlayBox(s, x: 4, width: w, height: lines.count + 5, margin: 2)
        return (lines, box, max(1, box.height - 4))
    }

    static func popup(_ s: AppState, _ title: String, _ text: String, into g: inout Grid) {
        let (lines, box, visible) = popupLayout(s, text)
        frame(s, box, title: " \(TextWidth.truncate(title, box.width - 6)) ", into: &g)
        // Taller than the box: a window on it, said in the footer, that the arrows move (never cut silently).
        let top = max(0, min(s.popupScroll, lines.count - visible))
        for (i, line) in lines.dropFirst(top).prefix(visible).enumerated() { g.put(box.x + 2, box.y + 2 + i, line, .bold) }
        let footer =
            lines.count > visible
            ? " rows \(top + 1)–\(min(top + visible, lines.count)) of \(lines.count) · ↑↓ scroll · any other key closes · q quits "
            : " q quits · any other key closes "
        g.put(box.x + 2, box.maxY - 1, TextWidth.truncate(plain(footer, s), box.width - 4), .dimmed)
    }

    /// How many of the keys list's rows its box shows; Update scrolls within them.
    static func helpVisibleRows(_ s: AppState, rows: Int? = nil) -> Int {
        max(1, overlayHeight(s, (rows ?? helpLines(s).rows.count) + 4) - 4)
    }

    /// How far the keys list scrolls: its last full window.
    static func helpMaxScroll(_ s: AppState) -> Int {
        let rows = helpLines(s).rows.count
        return max(0, rows - helpVisibleRows(s, rows: rows))
    }

    /// The keys list as the overlay shows it at this width: each key's help wrapped under its own column (a row that
    /// goes on from the one before has no key), so nothing is cut off at the box's edge.
    static func helpLines(_ s: AppState) -> (rows: [(key: String, text: String)], keyWidth: Int, boxWidth: Int) {
        let bindings = KeyBindings.shown(on: s.screen, readOnly: s.readOnly, pinned: s.pinnedBatch != nil).map {
            s.glyphs == .ascii ? (KeyBindings.asciiWords($0.label), KeyBindings.asciiWords($0.help)) : ($0.label, $0.help)
        }
        let keyW = (bindings.map { TextWidth.of($0.0) }.max() ?? 0) + 2
        let w = min(s.width - 4, 2 + keyW + (bindings.map { TextWidth.of($0.1) }.max() ?? 20) + 2)
        let textW = max(8, w - 4 - keyW)
        let rows = bindings.flatMap { key, help in
            TextWidth.wrap(help, textW).enumerated().map { (i, line) in (key: i == 0 ? key : "", text: line) }
        }
        return (rows, keyW, w)
    }

    /// The `?` overlay, generated from the same table that dispatches keys.
    static func help(_ s: AppState, into g: inout Grid) {
        let (rows, keyW, w) = helpLines(s)
        let visible = helpVisibleRows(s, rows: rows.count)
        let box = overlayBox(s, width: w, height: visible + 4)
        frame(s, box, title: " keys on \(s.screen.name) ", into: &g)
        let top = max(0, min(s.helpScroll, rows.count - visible))
        for (i, row) in rows.dropFirst(top).prefix(visible).enumerated() {
            g.put(box.x + 2, box.y + 2 + i, row.key, Style(fg: .cyan, bold: true))
            g.put(box.x + 2 + keyW, box.y + 2 + i, row.text, .plain, maxWidth: w - 4 - keyW)
        }
        let more = rows.count > visible ? (s.glyphs == .ascii ? "up/down scroll | " : "↑↓ scroll · ") : ""
        g.put(box.x + 2, box.maxY - 1, " \(more)any other key closes · q quits ", .dimmed, maxWidth: w - 4)
        if rows.count > visible {
            g.put(box.maxX - 12, box.y, " \(top + 1)–\(top + visible)/\(rows.count) ", .dimmed)
        }
    }
}
