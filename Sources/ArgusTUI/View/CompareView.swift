import Shared

/// The compare overlay: the chart of one metric with a curve per marked job (the job screen's chart, fed the
/// overlay), and under it a row per job — its legend key, status, latest and lowest value (and that epoch).
enum CompareView {
    static func render(_ s: AppState, into g: inout Grid, rect: Rect) {
        guard let c = s.compare else { return }
        // Up to one table row per job (and its title), at most half the body; the chart gets the rest.
        let tableH = min(c.refs.count + 1, max(2, rect.height / 2))
        let (chart, rest) = rect.takeTop(rect.height - tableH)
        if c.loaded.isEmpty {
            let msg =
                c.allAnswered ? "none of the marked jobs could be loaded" : "loading \(c.refs.count) jobs' epochs\(TextWidth.cutMark)"
            g.put(rect.x + max(0, (rect.width - TextWidth.of(msg)) / 2), chart.y + chart.height / 2, msg, .dimmed)
        } else {
            LossChart.render(c.chartState(s), into: &g, rect: chart)
        }
        table(s, c, into: &g, rect: rest)
    }

    static func table(_ s: AppState, _ c: CompareState, into g: inout Grid, rect: Rect) {
        let ascii = s.glyphs == .ascii
        let names = c.overlay.names
        let columns = ["", "JOB", "STATUS", "LATEST", "LOWEST", "EPOCHS"]
        var rows: [[String]] = []
        var styles: [Style] = []
        /// Rows that say why a job is not on the chart, in one cell from STATUS to the end of the row.
        var notes: [Int: String] = [:]
        for ref in c.refs {
            let label = c.label(ref)
            // Without colour the chart tells jobs apart by marker: the table shows each job's, beside its key.
            let key =
                names.firstIndex(of: c.chartLabel(ref)).map { i in
                    (s.color ? "" : String(ChartGlyphs.of(s.glyphs).marker(i))) + (i < 9 ? "\(i + 1)" : " ")
                } ?? " "
            guard let (series, status, kept) = c.loaded[ref] else {
                notes[rows.count] = c.failed[ref].map { "\(ascii ? "x" : "✗") \($0)" } ?? "loading\(TextWidth.cutMark)"
                rows.append([key, label, "", "", "", ""])
                styles.append(c.failed[ref] == nil ? .dimmed : Style(fg: .red))
                continue
            }
            let latest = c.figures[ref]?.latest
            let lowest = c.figures[ref]?.lowest
            func value(_ p: (epoch: Int, value: Double)?) -> String {
                guard let p else { return "–" }
                return p.1 == EpochSeries.nonFinite ? "NaN" : LossChart.format(p.1)
            }
            rows.append([
                key, label, "\(Fmt.statusGlyph(status, ascii: ascii)) \(status)", value(latest),
                lowest.map { "\(value($0)) @\($0.0)" } ?? "–",
                series.epochs.last.map { "\(series.count) (to \($0))" } ?? (kept.epoch != nil ? "0 (purged)" : "0"),
            ])
            let hidden = c.hidden.contains(ref) || !names.contains(c.chartLabel(ref))
            styles.append(hidden ? .dimmed : Style.fg(LossChart.color(of: c.chartLabel(ref), in: names), bold: true))
        }
        var widths = columns.indices.map { i in rows.reduce(TextWidth.of(columns[i])) { max($0, TextWidth.of($1[i])) } }
        // The job label gives up width first when the row is too wide.
        let fixed = widths.enumerated().filter { $0.offset != 1 }.map(\.element).reduce(0, +) + 2 * (columns.count - 1) + 1
        widths[1] = max(8, min(widths[1], rect.width - fixed))
        var x = rect.x + 1
        var xs: [Int] = []
        for w in widths {
            xs.append(x)
            x += w + 2
        }
        for (i, t) in columns.enumerated() where xs[i] < rect.maxX { g.put(xs[i], rect.y, t, .dimmed, maxWidth: rect.maxX - xs[i]) }
        // More jobs than rows: the last row says how many are left out (the legend and digits still reach them).
        let room = max(0, rect.height - 1)
        let shownRows = rows.count > room ? max(0, room - 1) : rows.count
        if rows.count > room, room > 0 {
            g.put(
                rect.x + 1, rect.maxY - 1, "+\(rows.count - shownRows) more jobs (a taller terminal shows each)", .dimmed,
                maxWidth: rect.width - 1)
        }
        for (r, row) in rows.enumerated().prefix(shownRows) {
            let y = rect.y + 1 + r
            for (i, t) in row.enumerated() where xs[i] < rect.maxX {
                let text = i == 1 ? TextWidth.truncateMiddle(t, widths[1]) : t
                g.put(xs[i], y, text, i == 0 ? Style(fg: .cyan, bold: true) : styles[r], maxWidth: rect.maxX - xs[i])
            }
            if let note = notes[r], xs[2] < rect.maxX {
                g.put(xs[2], y, TextWidth.truncate(note, rect.maxX - xs[2]), styles[r])
            }
        }
    }

    /// The metric chooser: every metric the compared jobs report; Enter overlays the one under the cursor.
    static func metricChooser(_ s: AppState, into g: inout Grid) {
        guard let c = s.compare, let cursor = c.chooserCursor else { return }
        let metrics = c.metrics
        let ascii = s.glyphs == .ascii
        let footer = ascii ? " up/down move | Enter compares | Esc closes " : " ↑↓ move · Enter compares · Esc closes "
        let w = min(s.width - 4, max(TextWidth.of(footer) + 4, (metrics.map { TextWidth.of($0) }.max() ?? 0) + 10))
        let box = ScreenView.overlayBox(s, width: w, height: metrics.count + 4)
        let visible = max(1, box.height - 4)
        let top = max(0, min(cursor - visible / 2, metrics.count - visible))
        ScreenView.frame(s, box, title: " metric to compare ", into: &g)
        for (i, name) in metrics.enumerated().dropFirst(top).prefix(visible) {
            let y = box.y + 2 + i - top
            let mark = name == c.metric ? (ascii ? "(*)" : "(●)") : "( )"
            var style = name == c.metric ? Style.bold : Style.plain
            style.reverse = i == cursor
            if i == cursor { g.fill(Rect(x: box.x + 1, y: y, width: box.width - 2, height: 1), " ", Style(reverse: true)) }
            g.put(box.x + 2, y, TextWidth.truncate("\(mark) \(name)", box.width - 4), style)
        }
        g.put(box.x + 2, box.maxY - 1, TextWidth.truncate(footer, box.width - 4), .dimmed)
    }
}
