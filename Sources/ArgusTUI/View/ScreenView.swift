import Foundation
import Shared

/// `view(state) -> frame`: the whole screen as a pure function of `AppState`.
public enum ScreenView {
    public static let minWidth = 60
    public static let minHeight = 20

    public static func render(_ s: AppState) -> Grid {
        var g = Grid(width: s.width, height: s.height)
        guard s.width >= minWidth, s.height >= minHeight else {
            tooSmall(s, into: &g)
            return g
        }
        header(s, into: &g)
        let body = Rect(x: 0, y: 1, width: s.width, height: s.height - 2)
        switch s.screen {
        case .batches: batchList(s, into: &g, rect: body)
        case .jobs(let b): jobList(s, batchID: b, into: &g, rect: body)
        case .job: job(s, into: &g, rect: body)
        }
        statusLine(s, into: &g, y: s.height - 1)
        if s.showHelp { help(s, into: &g) }
        if let popup = s.popup { self.popup(s, popup.title, popup.text, into: &g) }
        if s.glyphs == .ascii { g.downgradeToASCII() }
        return g
    }

    static func tooSmall(_ s: AppState, into g: inout Grid) {
        let lines = [
            "terminal too small", "\(s.width)×\(s.height), need \(minWidth)×\(minHeight)", "q quits",
        ]
        for (i, l) in lines.enumerated() {
            let y = max(0, s.height / 2 - 1) + i
            g.put(max(0, (s.width - TextWidth.of(l)) / 2), y, l, i == 0 ? .bold : .dimmed)
        }
    }

    static func header(_ s: AppState, into g: inout Grid) {
        let ascii = s.glyphs == .ascii
        var x = g.put(0, 0, " argus ", Style(fg: .cyan, bold: true, reverse: true))
        let place: String
        switch s.screen {
        case .batches: place = "recent batches"
        case .jobs(let b): place = b
        case .job: place = s.job.map { "\($0.batchID) / \($0.jobID)" } ?? ""
        }
        x += g.put(x, 0, " " + place, .bold, maxWidth: s.width / 2)
        if s.readOnly { x += g.put(x, 0, "  [read-only]", Style(fg: .yellow)) }
        // Connection state and the age of the last event, right-aligned.
        let (text, style): (String, Style) = {
            let age = s.lastEventAt.map { " · last event " + Fmt.age(s.now - $0) } ?? ""
            switch s.connection {
            case .connecting: return ("\(ascii ? "~" : "◌") connecting…", Style(fg: .yellow))
            case .live: return ("\(ascii ? "*" : "●") live" + age, Style(fg: .green))
            case .reconnecting(let n, let why):
                return (
                    "\(ascii ? "~" : "◌") reconnecting (attempt \(n)): \(why)" + age,
                    Style(fg: .yellow, bold: true)
                )
            case .offline(let why):
                return ("\(ascii ? "x" : "✕") offline: \(why)" + age, Style(fg: .red, bold: true))
            }
        }()
        let room = s.width - x - 2
        if room > 8 {
            let t = TextWidth.truncate(text, room)
            g.put(s.width - TextWidth.of(t) - 1, 0, t, style)
        }
    }

    static func statusLine(_ s: AppState, into g: inout Grid, y: Int) {
        if s.filterEditing {
            let used = g.put(0, y, "/", Style(fg: .cyan, bold: true))
            let t = g.put(used, y, s.filter, .bold)
            g.put(used + t, y, "▏", .plain)
            g.put(used + t + 2, y, "  Enter keeps · Esc clears", .dimmed)
            return
        }
        if let pending = s.confirming, let job = s.job {
            let question: String
            switch pending {
            case .stop: question = "Stop batch \(job.batchID)? Running jobs will be asked to finish."
            case .markFailed: question = "Mark batch \(job.batchID) failed? It and its running jobs end as failed."
            default: question = "Rerun batch \(job.batchID) on its host?"
            }
            let used = g.put(0, y, question, Style(fg: .yellow, bold: true), maxWidth: s.width)
            g.put(used, y, "  y confirms · any other key cancels", .dimmed, maxWidth: s.width - used)
            return
        }
        if let status = s.status {
            g.put(
                0, y, TextWidth.truncate(status, s.width),
                s.statusIsError ? Style(fg: .red, bold: true) : Style(fg: .cyan))
            return
        }
        let hints: String
        switch s.screen {
        case .batches: hints = "↑↓ select · Enter open · ? help · q quit"
        case .jobs: hints = "↑↓ select · Enter open · Esc back · ? help · q quit"
        case .job:
            hints =
                "↑↓ PgUp/PgDn scroll log · / filter · e EMA · g log-y · 1-9 series · Esc back · ? help · q quit"
        }
        g.put(
            0, y,
            TextWidth.truncate(
                s.glyphs == .ascii
                    ? hints.replacingOccurrences(of: "↑↓", with: "up/down").replacingOccurrences(
                        of: "·", with: "|") : hints, s.width), .dimmed)
    }

    /// One row of a list screen: a status (coloured) and text columns at fixed offsets (x, width, text).
    struct ListRow {
        var status: String
        var columns: [(x: Int, width: Int, text: String)]
    }

    /// The batch and job pickers: a header line, a scrolling list with a reversed cursor row.
    static func list(
        _ s: AppState, header: String, loaded: Bool, empty: String, rows: [ListRow], cursor: Int,
        into g: inout Grid, rect: Rect
    ) {
        g.put(rect.x + 1, rect.y, header, .dimmed)
        guard loaded else {
            g.put(rect.x + 1, rect.y + 2, "loading…", .dimmed)
            return
        }
        if rows.isEmpty {
            g.put(rect.x + 1, rect.y + 2, empty, .dimmed)
            return
        }
        let visible = rect.height - 1
        let top = max(0, min(cursor - visible / 2, rows.count - visible))
        for (i, row) in rows.enumerated().dropFirst(top).prefix(visible) {
            let y = rect.y + 1 + (i - top)
            let selected = i == cursor
            let base = selected ? Style(reverse: true) : .plain
            if selected { g.fill(Rect(x: rect.x, y: y, width: rect.width, height: 1), " ", base) }
            var st = Style(fg: Fmt.statusColor(row.status), bold: true)
            st.reverse = selected
            g.put(
                rect.x + 1, y, "\(Fmt.statusGlyph(row.status, ascii: s.glyphs == .ascii)) \(row.status)",
                st, maxWidth: 9)
            for c in row.columns where rect.x + c.x < rect.maxX {
                g.put(
                    rect.x + c.x, y, TextWidth.truncate(c.text, c.width), base,
                    maxWidth: rect.maxX - rect.x - c.x)
            }
        }
    }

    static func batchList(_ s: AppState, into g: inout Grid, rect: Rect) {
        let rows = s.batches.map { b in
            let age = Timestamp(iso: b.lastActivity).map { Fmt.age(s.now - $0.seconds) } ?? "–"
            let jobs = "\(b.nDone)✓ \(b.nFailed)✗" + (b.nTotal.map { "/\($0)" } ?? "")
            return ListRow(
                status: b.status,
                columns: [
                    (11, 29, b.id), (41, 16, b.project), (58, 14, b.host), (73, 11, jobs), (85, 14, age),
                ])
        }
        list(
            s,
            header:
                "STATUS    BATCH                         PROJECT          HOST           JOBS        LAST ACTIVITY",
            loaded: s.batchesLoaded,
            empty:
                "No batches yet. Point a training script (argus-reporter) or `argus-server simulate` at \(s.serverLabel).",
            rows: rows, cursor: s.batchCursor, into: &g, rect: rect)
    }

    static func jobList(_ s: AppState, batchID: String, into g: inout Grid, rect: Rect) {
        let rows = s.jobs.map { j in
            ListRow(
                status: j.status,
                columns: [
                    (11, 32, j.id), (44, 16, j.model), (61, 7, j.epoch.map(String.init) ?? "–"),
                    (69, 12, j.trainLoss.map(LossChart.format) ?? "–"),
                    (82, 12, j.valLoss.map(LossChart.format) ?? "–"),
                ])
        }
        list(
            s,
            header:
                "STATUS    JOB                              MODEL            EPOCH   TRAIN LOSS   VAL LOSS",
            loaded: s.jobsLoaded, empty: "This batch has no jobs yet.", rows: rows, cursor: s.jobCursor,
            into: &g, rect: rect)
    }

    /// The job-detail screen, top to bottom like the web page.
    static func job(_ s: AppState, into g: inout Grid, rect: Rect) {
        guard let job = s.job else { return }
        var rest = rect
        if let banner = s.banner {
            let (top, r) = rest.takeTop(1)
            g.fill(top, " ", Style(fg: .yellow, reverse: true))
            g.put(
                top.x + 1, top.y, TextWidth.truncate("⚠ " + banner, top.width - 2),
                Style(fg: .yellow, bold: true, reverse: true))
            rest = r
        }
        let (tele, r1) = rest.takeTop(3)
        JobPanels.telemetry(s, job, into: &g, rect: tele)
        let (env, r2) = r1.takeBottom(2)
        JobPanels.environment(job, ascii: s.glyphs == .ascii, into: &g, rect: env)
        let (bar, r3) = r2.takeBottom(1)
        JobPanels.actionBar(s, job, into: &g, rect: bar)
        let chartH = max(6, (r3.height * 55) / 100)
        let (chart, below) = r3.takeTop(chartH)
        LossChart.render(s, into: &g, rect: chart)
        var logArea = below
        if job.jobStatus == "failed", job.failureReason != nil {
            // The failure reason sits above the log tail, as on the web page.
            let (fail, r) = below.takeTop(1)
            JobPanels.failure(job, into: &g, rect: fail)
            logArea = r
        }
        JobPanels.logTail(s, into: &g, rect: logArea)
    }

    /// A box with text to select by hand (wrapped, never truncated).
    static func popup(_ s: AppState, _ title: String, _ text: String, into g: inout Grid) {
        let w = s.width - 8
        var lines: [String] = []
        var rest = Array(text.unicodeScalars)
        while !rest.isEmpty {
            lines.append(String(String.UnicodeScalarView(rest.prefix(w - 4))))
            rest = Array(rest.dropFirst(w - 4))
        }
        let h = min(s.height - 4, lines.count + 5)
        let box = Rect(x: 4, y: max(1, (s.height - h) / 2), width: w, height: h)
        g.fill(box, " ", .plain)
        let ascii = s.glyphs == .ascii
        for x in box.x..<box.maxX {
            g.put(x, box.y, ascii ? "-" : "─", .dimmed)
            g.put(x, box.maxY - 1, ascii ? "-" : "─", .dimmed)
        }
        for y in box.y..<box.maxY {
            g.put(box.x, y, ascii ? "|" : "│", .dimmed)
            g.put(box.maxX - 1, y, ascii ? "|" : "│", .dimmed)
        }
        g.put(box.x + 2, box.y, " \(TextWidth.truncate(title, w - 6)) ", .bold)
        for (i, line) in lines.prefix(h - 4).enumerated() { g.put(box.x + 2, box.y + 2 + i, line, .bold) }
        g.put(box.x + 2, box.maxY - 1, " any key closes ", .dimmed)
    }

    /// The `?` overlay, generated from the same table that dispatches keys.
    static func help(_ s: AppState, into g: inout Grid) {
        let rows = KeyBindings.all.map { b -> (String, String) in
            let ctx = b.context == .job ? " (job screen)" : (b.context == .lists ? " (lists)" : "")
            return (b.label, b.help + ctx)
        }
        let w = min(s.width - 4, 2 + 8 + (rows.map { TextWidth.of($0.1) }.max() ?? 20) + 2)
        let h = min(s.height - 2, rows.count + 4)
        let box = Rect(x: (s.width - w) / 2, y: max(1, (s.height - h) / 2), width: w, height: h)
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
        g.put(box.x + 2, box.y, " keys ", .bold)
        for (i, row) in rows.prefix(h - 4).enumerated() {
            g.put(box.x + 2, box.y + 2 + i, row.0, Style(fg: .cyan, bold: true), maxWidth: 7)
            g.put(box.x + 10, box.y + 2 + i, row.1, .plain, maxWidth: w - 12)
        }
        g.put(box.x + 2, box.maxY - 1, " any key closes ", .dimmed)
    }
}
