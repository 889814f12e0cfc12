import FoundationEssentials
import Glibc
import Shared

/// Formatting shared by the panels.
enum Fmt {
    /// A century: durations and ages beyond it are shown as `>100y` rather than converted. Values
    /// come from the network, and `Int(1e300)` (or NaN) would trap and leave the terminal in raw mode.
    static let centurySeconds = 100 * 365.25 * 86400.0

    static func duration(_ s: Double?) -> String {
        guard let s, s.isFinite, s >= 0 else { return "–" }
        guard s < centurySeconds else { return ">100y" }
        let t = Int(s)
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m \(cFormat("%02ld", t % 60))s" }
        if t < 86400 { return "\(t / 3600)h \(cFormat("%02ld", t % 3600 / 60))m" }
        return "\(t / 86400)d \(t % 86400 / 3600)h"
    }

    /// Local wall-clock time of day, HH:MM:SS, for "since when" messages that stay true as time passes.
    static func clock(_ epochSeconds: Double) -> String {
        guard let parts = local(epochSeconds) else { return "--:--:--" }
        return cFormat("%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    /// The local calendar fields of an instant; nil for none a real clock shows (time_t(_:) traps outside Int64, and
    /// no real clock is a century away from the epoch's range anyway).
    static func local(_ epochSeconds: Double) -> tm? {
        guard epochSeconds.isFinite, abs(epochSeconds) < 1e15 else { return nil }
        var t = time_t(epochSeconds)
        var parts = tm()
        localtime_r(&t, &parts)
        return parts
    }

    static func age(_ seconds: Double) -> String {
        guard !seconds.isNaN else { return "–" }
        guard seconds < centurySeconds else { return ">100y ago" }
        // A timestamp from the future (clock skew) reads as "just now".
        let s = max(0, Int(max(0, seconds)))
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86400 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    /// Memory figures at or above this (1 PiB in MiB) are not a real GPU: shown as `>1 PiB` rather than as
    /// a 300-digit number.
    static let memoryLimitMB = 1024.0 * 1024 * 1024

    static func memory(_ mb: Double?) -> String {
        guard let mb, !mb.isNaN, mb >= 0 else { return "–" }
        if mb >= memoryLimitMB { return ">1 PiB" }
        return mb >= 1024 ? cFormat("%.1f GiB", mb / 1024) : cFormat("%.0f MiB", mb)
    }

    /// A utilisation percentage: 0–100 is real; beyond 999 % (or below 0) the figure is nonsense and says so
    /// in a few columns instead of printing `inf%` or hundreds of digits.
    static func percent(_ v: Double) -> String {
        if v.isNaN { return "–" }
        if v > 999 { return ">999%" }
        if v < 0 { return "<0%" }
        return cFormat("%.1f%%", v)
    }

    /// The most-loaded GPU's peak against its capacity, e.g. `61.9 / 79.6 GiB ×4` (four GPUs): how close to OOM.
    /// `compact`, for a narrow row: "63.5/79.6G×4" instead of "63.5 / 79.6 GiB ×4".
    static func gpuMemory(peak: Double?, total: Double?, gpus: Int, ascii: Bool, compact: Bool = false) -> String {
        guard let peak else { return "no data" }
        var text = Fmt.memory(peak)
        if let total, total > 0, total < memoryLimitMB, peak >= 0, peak < memoryLimitMB {
            // One unit for both figures, taken from the capacity.
            let (a, b, unit, format) = total >= 1024 ? (peak / 1024, total / 1024, "G", "%.1f") : (peak, total, "M", "%.0f")
            text = cFormat(compact ? "\(format)/\(format)\(unit)" : "\(format) / \(format) \(unit)iB", a, b)
        }
        return gpus > 1 ? text + (compact ? "" : " ") + (ascii ? "x\(gpus)" : "×\(gpus)") : text
    }

    static func statusColor(_ status: String) -> Color {
        switch status {
        case RunStatus.running: return .green
        case RunStatus.done: return .cyan
        case RunStatus.failed: return .red
        case RunStatus.stopping, RunStatus.stalled: return .yellow
        case RunStatus.stopped: return .magenta
        default: return .none
        }
    }

    static func statusGlyph(_ status: String, ascii: Bool) -> String {
        if ascii {
            switch status {
            case RunStatus.running: return ">"
            case RunStatus.done: return "+"
            case RunStatus.failed: return "x"
            default: return "*"
            }
        }
        switch status {
        case RunStatus.running: return "●"
        case RunStatus.done: return "✓"
        case RunStatus.failed: return "✗"
        case RunStatus.stopping, RunStatus.stalled: return "◐"
        case RunStatus.stopped: return "■"
        default: return "·"
        }
    }

    /// The log levels scripts send (Python's logging names and common aliases) and how each looks.
    static let levels: [String: Style] = [
        "critical": Style(fg: .red, bold: true), "fatal": Style(fg: .red, bold: true),
        "error": Style(fg: .red, bold: true), "warning": Style(fg: .yellow), "warn": Style(fg: .yellow),
        "info": .plain, "debug": .dimmed, "trace": .dimmed,
    ]
    /// The level column is as wide as the longest known level, so `WARNING` and `CRITICAL` show whole.
    static let levelWidth = levels.keys.map(\.count).max()!

    static func levelStyle(_ level: String) -> Style { levels[level] ?? .plain }

    /// A level padded (or, if unknown and longer, cut with "…") to the level column.
    static func levelColumn(_ level: String) -> String {
        let t = TextWidth.truncate(level.uppercased(), levelWidth)
        return t + String(repeating: " ", count: max(0, levelWidth - TextWidth.of(t)))
    }

    /// `HH:MM:SS` of an ISO timestamp, in local time as every other clock on the screen; the text after its `T`
    /// when it is not one.
    static func clock(_ iso: String) -> String {
        if let t = Timestamp(iso: iso) { return clock(t.seconds) }
        guard let t = iso.firstIndex(of: "T") else { return iso }
        return String(iso[iso.index(after: t)...].prefix(8))
    }

    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Mon DD HH:MM:SS` in local time (as journalctl writes it: no locale's order to guess), `datedClockWidth` columns;
    /// `YYYY-MM-DD HH:MM:SS` (`yearClockWidth`) with its year.
    static func datedClock(_ epochSeconds: Double, year: Bool = false) -> String {
        guard let p = local(epochSeconds) else { return year ? "----------" + " --:--:--" : "--- -- --:--:--" }
        let time = cFormat(" %02d:%02d:%02d", p.tm_hour, p.tm_min, p.tm_sec)
        if year { return cFormat("%04d-%02d-%02d", Int32(1900) + p.tm_year, p.tm_mon + 1, p.tm_mday) + time }
        return monthNames[Int(p.tm_mon) % 12] + cFormat(" %02d", p.tm_mday) + time
    }

    static let datedClockWidth = 15
    static let yearClockWidth = 19

    /// The local calendar year that holds `now`, as instants.
    static func year(of now: Double) -> Range<Double> {
        guard var parts = local(now) else { return now..<now }
        (parts.tm_mon, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, parts.tm_isdst) = (0, 1, 0, 0, 0, -1)
        let start = Double(mktime(&parts))
        parts.tm_year += 1
        parts.tm_isdst = -1
        return start..<Double(mktime(&parts))
    }

    /// The local calendar day that holds `now`, as instants (23 or 25 hours long across a DST change): worked out
    /// once a frame, so each line is two comparisons.
    static func day(of now: Double) -> Range<Double> {
        guard var parts = local(now) else { return now..<now }
        (parts.tm_hour, parts.tm_min, parts.tm_sec, parts.tm_isdst) = (0, 0, 0, -1)
        let start = Double(mktime(&parts))
        parts.tm_mday += 1
        parts.tm_isdst = -1
        return start..<Double(mktime(&parts))
    }
}

enum JobPanels {
    /// Status · Elapsed · GPU util · GPU mem peak · Latest loss: a label row and a value row per tile.
    static func telemetry(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        let ascii = s.glyphs == .ascii
        let status = job.shownStatus
        let statusText = "\(Fmt.statusGlyph(status, ascii: ascii)) \(status)"
        let gpu = job.gpuUtil.map(Fmt.percent) ?? "no data"
        /// The tiles at full length (`level` 0), or for a row too narrow for them short labels and figures (1), then
        /// without the GPU count (2): the figures are what one looks for, and cutting them to keep "GPU MEM PEAK" whole
        /// would lose how close to OOM the run is.
        func makeTiles(level: Int) -> [(String, String, Style)] {
            let compact = level > 0
            let loss =
                "\(LossChart.shown(job.trainLoss))\(compact ? "/" : " / ")\(LossChart.shown(job.valLoss))"
                + (compact ? "" : job.epoch.map { " @\($0)" } ?? "")
            let memory = Fmt.gpuMemory(
                peak: job.gpuMemPeak, total: job.gpuMemTotal, gpus: level > 1 ? 1 : job.gpuMem.count, ascii: ascii,
                compact: compact)
            return [
                ("STATUS", statusText, Style(fg: Fmt.statusColor(status), bold: true)),
                (compact ? "TIME" : "ELAPSED", Fmt.duration(job.elapsed), .bold),
                (
                    compact ? "GPU" : "GPU UTIL", gpu,
                    job.gpuUtil == nil ? .dimmed : (job.gpuUtil! < 5 ? Style(fg: .yellow, bold: true) : .bold)
                ),
                (compact ? "MEM PEAK" : "GPU MEM PEAK", memory, job.gpuMemPeak == nil ? .dimmed : .bold),
                (compact ? "LOSS t/v" : "LOSS train/val", loss, .bold),
            ]
        }
        let badge = job.idleFlagged ? idleBadge(s, job) : nil
        // At full length the status tile is as wide as the longest status (plus the badge), so it never moves as the
        // status changes; on a narrow row, as wide as this one.
        let longestStatus =
            JobData.statuses.map { TextWidth.of("\(Fmt.statusGlyph($0, ascii: ascii)) \($0)") }.max()!
        func valueWidths(_ tiles: [(String, String, Style)], level: Int) -> [Int] {
            tiles.enumerated().map { i, t in
                i == 0
                    ? max(level == 0 ? longestStatus : 0, TextWidth.of(t.1)) + (badge.map { 1 + TextWidth.of($0) } ?? 0)
                    : TextWidth.of(t.1)
            }
        }
        var level = 0
        var tiles = makeTiles(level: 0)
        while level < 2,
            zip(tiles, valueWidths(tiles, level: level)).map({ max(TextWidth.of($0.0), $1) + 3 }).reduce(0, +) > rect.width
        {
            level += 1
            tiles = makeTiles(level: level)
        }
        let widths = tileWidths(labels: tiles.map(\.0), values: valueWidths(tiles, level: level), total: rect.width)
        var x = rect.x
        for (i, tile) in tiles.enumerated() {
            let w = widths[i]
            // A space either side, then the separator.
            g.put(x + 1, rect.y, TextWidth.truncate(tile.0, w - 3), .dimmed)
            let used = g.put(x + 1, rect.y + 1, TextWidth.truncate(tile.1, w - 3), tile.2)
            if i == 0, let badge {
                g.put(
                    x + 2 + used, rect.y + 1, badge, Style(fg: .yellow, bold: true, reverse: true),
                    maxWidth: max(0, w - used - 3))
            }
            if i < tiles.count - 1 {
                for y in rect.y..<min(rect.maxY, rect.y + 2) {
                    g.put(x + w - 1, y, ascii ? "|" : "│", .dimmed)
                }
            }
            x += w
        }
        if rect.height > 2 {
            for xx in rect.x..<rect.maxX { g.put(xx, rect.y + 2, ascii ? "-" : "─", .dimmed) }
        }
    }

    static func idleBadge(_ s: AppState, _ job: JobData) -> String {
        let since = job.idleSinceUs.map { Fmt.duration(s.now - Double($0) / 1e6) }
        return " IDLE\(since.map { " \($0)" } ?? "") "
    }

    /// Tile widths from their contents: each fits its label and value (plus a space and the separator);
    /// spare columns are shared out, and when the row is too narrow the widest tiles give up columns first
    /// (their values then end in "…").
    static func tileWidths(labels: [String], values: [Int], total: Int) -> [Int] {
        let need = zip(labels, values).map { max(TextWidth.of($0), $1) + 3 }
        var widths = need
        let spare = total - need.reduce(0, +)
        if spare >= 0 {
            for i in widths.indices { widths[i] += spare / widths.count }
        } else {
            // Labels are cut before values, values before the status (which never shrinks); every tile
            // keeps a few columns.
            let labelsCut = zip(labels, values).map { max(min(TextWidth.of($0), 7), $1) + 3 }
            let valuesCut = labels.map { min(TextWidth.of($0), 7) + 3 }
            for var floors in [labelsCut, valuesCut] {
                floors[0] = need[0]
                while widths.reduce(0, +) > total {
                    guard
                        let widest = widths.indices.filter({ widths[$0] > floors[$0] }).max(by: {
                            widths[$0] < widths[$1]
                        })
                    else { break }
                    widths[widest] -= 1
                }
            }
        }
        // The last tile runs to the edge, taking any rounding remainder.
        widths[widths.count - 1] += total - widths.reduce(0, +)
        return widths
    }

    /// How the log pane dates its lines, when it does: a line not written today (a run that goes on over midnight, one
    /// opened days later) shows its date, and one not written this year (a run read back in January) its year too,
    /// as the web page shows them; the column is as wide as the widest, the others padded to line up. The lines are in
    /// time order, so the first and the last say which there are.
    struct LogDates: Equatable {
        /// The day whose lines show no date.
        let today: Range<Double>
        /// The year whose lines show no year.
        let year: Range<Double>
        let withYear: Bool
        var width: Int { withYear ? Fmt.yearClockWidth : Fmt.datedClockWidth }
    }

    /// The pane's dates (`LogDates`); nil when every line is today's.
    static func logDates(_ lines: [LogLine], now: Double) -> LogDates? {
        guard let first = lines.first, let last = lines.last else { return nil }
        let (a, b) = (Double(first.tsMicros) / 1e6, Double(last.tsMicros) / 1e6)
        let today = Fmt.day(of: now)
        guard !today.contains(a) || !today.contains(b) else { return nil }
        let year = Fmt.year(of: now)
        return LogDates(today: today, year: year, withYear: !year.contains(a) || !year.contains(b))
    }

    /// Columns of the time (with its date: `logDates`) and level in front of each log line (they stay put when the
    /// text scrolls sideways).
    static func logPrefixWidth(_ dates: LogDates?) -> Int { (dates?.width ?? 8) + 1 + Fmt.levelWidth + 1 }

    static func logPrefix(_ line: LogLine, dates: LogDates?) -> String {
        let t = Double(line.tsMicros) / 1e6
        let time =
            if let dates, line.tsMicros != 0, !dates.today.contains(t) {
                Fmt.datedClock(t, year: !dates.year.contains(t))
            } else { Fmt.clock(line.ts) }
        let pad = String(repeating: " ", count: max(0, (dates?.width ?? 8) - TextWidth.of(time)))
        return "\(pad)\(time) \(Fmt.levelColumn(line.level)) "
    }

    /// The log lines the pane shows for a body of `rows` rows, and the scroll that shows them. The scroll is
    /// clamped so the pane is always full when there are enough lines: the top of the history is the first row.
    static func visibleLogs(_ s: AppState, _ lines: [LogLine], rows: Int) -> (lines: ArraySlice<LogLine>, scroll: Int) {
        let scroll = min(s.logScroll, max(0, lines.count - rows))
        let end = lines.count - scroll
        return (lines[max(0, end - rows)..<end], scroll)
    }

    static func logTail(_ s: AppState, into g: inout Grid, rect: Rect) {
        guard rect.height >= 2 else { return }
        let ascii = s.glyphs == .ascii
        let body = Rect(x: rect.x, y: rect.y + 1, width: rect.width, height: rect.height - 1)
        let all = s.filteredLogs
        let (shown, scroll) = visibleLogs(s, all, rows: body.height)
        let dates = logDates(all, now: s.now)
        let textWidth = body.width - logPrefixWidth(dates)
        var title = "LOG"
        let failedAt = s.search?.query == s.filter ? s.search?.failedAt : nil
        let searching = !s.filter.isEmpty && failedAt == nil && (s.search?.query != s.filter || s.search?.loaded != true)
        if !s.filter.isEmpty {
            let count = all.count
            title += "  filter \"\(s.filter)\": "
            if let failedAt {
                // What is loaded here still shows; the server's search is asked again when the connection is back,
                // or after `Update.searchRetryS` while it stays live.
                title += "\(count) loaded match\(count == 1 ? "" : "es") · searching the whole log failed"
                let wait = max(1, Int((failedAt + Update.searchRetryS - s.now).rounded(.up)))
                title += s.connection == .live ? ", again in \(wait) s" : ", again when the server is back"
            } else {
                title +=
                    searching
                    ? "searching the whole log\(TextWidth.cutMark)"
                    : "\(count)\(s.olderLogsExist ? "+" : "") match\(count == 1 ? "" : "es")"
            }
        }
        title += scroll == 0 ? "  (following)" : "  (scrolled \(scroll) up · End follows)"
        if s.logFetch?.beforeID != nil {
            title += "  loading older lines\(TextWidth.cutMark)"
        } else if scroll > 0, scroll >= all.count - body.height, !s.olderLogsExist {
            title += "  start of the log"
        }
        // In ASCII the arrows would read as the < and > keys (which sort lists): the keys are named instead.
        if s.logShift > 0 {
            title += "  \(ascii ? "Left:" : "←") from column \(s.logShift + 1)"
        } else if shown.contains(where: { TextWidth.of($0.line) > textWidth }) {
            title += ascii ? "  Right reads long lines" : "  → reads long lines"
        }
        g.put(rect.x, rect.y, TextWidth.truncateAtWord(title, rect.width), .dimmed)
        if shown.isEmpty {
            let empty =
                s.filter.isEmpty
                ? (s.job.map { JobData.finished.contains($0.jobStatus) } == true ? "no log lines" : "no log lines yet")
                : (searching
                    ? "no loaded line matches; asking the server\(TextWidth.cutMark)"
                    : (failedAt != nil ? "no loaded line matches" : "no line matches the filter"))
            g.put(body.x, body.y, empty, .dimmed)
            return
        }
        let (more, less) = ascii ? (">", "<") : ("›", "‹")
        for (row, line) in shown.enumerated() {
            let y = body.y + row
            var x = body.x + g.put(body.x, y, logPrefix(line, dates: dates), .dimmed, maxWidth: body.width)
            // Markers where a line goes on past either edge of the pane: ‹ in front once scrolled sideways.
            if s.logShift > 0 { x += g.put(x, y, less, .dimmed) }
            let width = body.maxX - x
            let text = TextWidth.drop(line.line, columns: s.logShift)
            let cut = TextWidth.of(text) > width
            g.put(x, y, text, Fmt.levelStyle(line.level), maxWidth: cut ? width - 1 : width)
            if cut { g.put(body.maxX - 1, y, more, .dimmed) }
        }
    }

    static let actionOrder: [(key: String, name: String, id: String)] = [
        ("s", "Stop", "stop"), ("r", "Rerun", "rerun"), ("S", "Share", "share"),
        ("c", "Copy command", "copy_command"), ("F", "Mark failed", "mark_failed"),
    ]
    /// The names a narrow action bar uses, where the whole ones do not fit beside the "(off)" markers.
    static let shortActionNames = ["Copy command": "Copy", "Mark failed": "Fail"]

    /// Stop · Rerun · Share · Copy command, each enabled or dimmed with the reason.
    static func actionBar(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        guard !s.readOnly else {
            g.put(rect.x, rect.y, "read-only view: actions hidden", .dimmed)
            return
        }
        // Mark failed is a way out for a dead run: it shows only while it can be used (the help lists it always).
        let offered = actionOrder.filter { $0.id != "mark_failed" || job.actions["mark_failed"]?.enabled == true }
        let items = offered.map { a in
            let state =
                job.actions[a.id]
                ?? (a.id == "copy_command"
                    ? (job.command != nil, job.command == nil ? "no command recorded" : nil)
                    : (false, "unknown"))
            return (key: a.key, name: a.name, enabled: state.enabled, reason: state.enabled ? nil : state.reason)
        }
        // Neighbours refused for the same reason say it once, after the last of them ("all three: this token can
        // only read"): three copies of one reason would share the room three ways and each be cut to nothing.
        var groups: [(items: Range<Int>, reason: String?)] = []
        for i in items.indices {
            if let last = groups.last, let r = items[i].reason, last.reason == r {
                groups[groups.count - 1].items = last.items.lowerBound..<(i + 1)
            } else {
                groups.append((i..<(i + 1), items[i].reason))
            }
        }
        let together = [2: "both", 3: "all three", 4: "all four", 5: "all five"]
        let word = groups.map { g in together[g.items.count] ?? "all" }
        let lead = groups.indices.map { k in groups[k].items.count > 1 ? "\(word[k]): " : "" }
        let reasons = groups.indices.map { k in groups[k].reason.map { lead[k] + $0 } }
        // Every key and name always shows; the reasons share what is left, shortest first, so a long one ends in "…"
        // rather than pushing the actions after it off the screen. One a little over its share is shown whole when
        // the others keep a few columns each: a whole short reason says more than two cut ones.
        // Disabled actions whose reason does not fit say "(off)" ("(all three off)") in its place: the dimming alone
        // is lost in plain text (`--dump`, a copied screen), where "[r] Rerun" would read as available. The markers of
        // the reasons left out take their room first.
        // Where those would not fit beside every name (a narrow terminal), the actions are one space apart, and then
        // a group's marker gets shorter: "(all 3 off)", at the narrowest "(3 off)".
        func markers(_ group: (Int) -> String) -> [String] {
            groups.indices.map { k in groups[k].reason == nil ? "" : groups[k].items.count > 1 ? " (\(group(k)) off)" : " (off)" }
        }
        // At the narrowest, the long names are shortened ("[c] Copy"); what still does not fit ends with the cut mark.
        let tiers = [
            ("  ", markers { word[$0] }, false), (" ", markers { word[$0] }, false),
            (" ", markers { "all \(groups[$0].items.count)" }, false), (" ", markers { "\(groups[$0].items.count)" }, false),
            (" ", markers { "\(groups[$0].items.count)" }, true),
        ]
        func names(short: Bool) -> Int {
            items.reduce(0) { $0 + TextWidth.of("[\($1.key)] \(short ? shortActionNames[$1.name] ?? $1.name : $1.name)") }
        }
        let (gap, off, short) =
            tiers.first { gap, off, short in
                names(short: short) + TextWidth.of(gap) * (items.count - 1) + off.map(TextWidth.of).reduce(0, +) <= rect.width
            } ?? tiers[tiers.count - 1]
        let fixed = names(short: short) + TextWidth.of(gap) * (items.count - 1)
        let marker = off.map(TextWidth.of)
        // A reason cut to a stub ("(stop al…)", "(all three: this to…)") says nothing: one that would keep fewer than
        // `readable` columns of its own (after "all three: ") is left out, the longest first, and the others share its
        // room (the key itself still says why, when pressed).
        let readable = 16
        var allowed = [Int](repeating: 0, count: groups.count)
        var wanting = groups.indices.filter { reasons[$0] != nil }.sorted {
            TextWidth.of(reasons[$0]!) < TextWidth.of(reasons[$1]!)
        }
        while true {
            let markers = groups.indices.filter { !wanting.contains($0) }.reduce(0) { $0 + marker[$1] }
            var room = max(0, rect.width - fixed - markers)
            allowed = [Int](repeating: 0, count: groups.count)
            for (n, k) in wanting.enumerated() {
                let share = room / (wanting.count - n)
                let want = TextWidth.of(reasons[k]!) + 3
                let whole = want <= share * 3 / 2 && want <= room - 12 * (wanting.count - n - 1)
                allowed[k] = whole ? want : min(want, share)
                room -= allowed[k]
            }
            let stub = wanting.contains { k in
                allowed[k] < min(TextWidth.of(reasons[k]!) + 3, TextWidth.of(lead[k]) + readable + 3)
            }
            guard stub, !wanting.isEmpty else { break }
            wanting.removeLast()
        }
        let shown = Set(wanting)
        var x = rect.x
        var wanted = 0
        func put(_ text: String, _ style: Style) {
            wanted += TextWidth.of(text)
            x += g.put(x, rect.y, text, style, maxWidth: rect.maxX - x)
        }
        for (k, group) in groups.enumerated() {
            for i in group.items {
                let a = items[i]
                if i > 0 { put(gap, .plain) }
                put("[\(a.key)]", a.enabled ? Style(fg: .cyan, bold: true) : .dimmed)
                put(" " + (short ? shortActionNames[a.name] ?? a.name : a.name), a.enabled ? .bold : .dimmed)
            }
            if let reason = reasons[k] {
                put(shown.contains(k) ? " (\(TextWidth.truncate(reason, allowed[k] - 3)))" : off[k], .dimmed)
            }
        }
        if wanted > rect.width {
            let mark = TextWidth.cutMark(within: rect.width)
            g.put(rect.maxX - TextWidth.of(mark), rect.y, mark, .dimmed)
        }
    }

    static func environment(_ job: JobData, ascii: Bool, into g: inout Grid, rect: Rect) {
        guard rect.height > 0 else { return }
        let sep = ascii ? " | " : " · "
        let items = [("commit", job.gitSHA), ("host", job.host), ("cwd", job.cwd)].map {
            (label: $0.0, value: TerminalText.printable($0.1 ?? "–"))
        }
        // What does not fit says so. The commit (a SHA's 7 characters, or a tag or branch whole) and then the host give
        // way to the cwd, each down to a quarter and a third of the room left; the cwd keeps its last directory (what
        // names the run) and loses what comes before it.
        let fixed = items.map { TextWidth.of($0.label) + 1 }.reduce(0, +) + 2 * TextWidth.of(sep)
        func share(_ item: Int, of room: Int, part: Int) -> Int {
            let want = TextWidth.of(items[item].value)
            let rest = items[(item + 1)...].map { TextWidth.of($0.value) }.reduce(0, +)
            return want + rest <= room ? want : min(want, max(room / part, room - rest))
        }
        let all = max(0, rect.width - fixed)
        let commitRoom = share(0, of: all, part: 4)
        let hostRoom = share(1, of: all - commitRoom, part: 3)
        let widths = [commitRoom, hostRoom, all - commitRoom - hostRoom]
        var x = rect.x
        for (i, item) in items.enumerated() {
            if i > 0 { x += g.put(x, rect.y, sep, .dimmed, maxWidth: rect.maxX - x) }
            x += g.put(x, rect.y, item.label + " ", .dimmed, maxWidth: rect.maxX - x)
            let shown =
                item.label == "cwd"
                ? TextWidth.truncatePath(item.value, widths[i]) : TextWidth.truncate(item.value, widths[i])
            x += g.put(x, rect.y, shown, .plain, maxWidth: rect.maxX - x)
        }
        if rect.height > 1 {
            let used = g.put(rect.x, rect.y + 1, "command ", .dimmed)
            g.put(
                rect.x + used, rect.y + 1, TextWidth.truncate(job.command ?? "–", rect.width - used), .plain
            )
        }
    }
}
