import Foundation

/// Formatting shared by the panels.
enum Fmt {
    static func duration(_ s: Double?) -> String {
        guard let s, s.isFinite, s >= 0 else { return "–" }
        let t = Int(s)
        if t < 60 { return "\(t)s" }
        if t < 3600 { return "\(t / 60)m \(String(format: "%02d", t % 60))s" }
        if t < 86400 { return "\(t / 3600)h \(String(format: "%02d", t % 3600 / 60))m" }
        return "\(t / 86400)d \(t % 86400 / 3600)h"
    }

    /// Local wall-clock time of day, HH:MM:SS, for "since when" messages that stay true as time passes.
    static func clock(_ epochSeconds: Double) -> String {
        var t = time_t(epochSeconds)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    static func age(_ seconds: Double) -> String {
        let s = max(0, Int(seconds))
        if s < 60 { return "\(s)s ago" }
        if s < 3600 { return "\(s / 60)m ago" }
        if s < 86400 { return "\(s / 3600)h ago" }
        return "\(s / 86400)d ago"
    }

    static func memory(_ mb: Double?) -> String {
        guard let mb else { return "–" }
        return mb >= 1024 ? String(format: "%.1f GiB", mb / 1024) : String(format: "%.0f MiB", mb)
    }

    /// The most-loaded GPU's peak against its capacity, e.g. `61.9 / 79.6 GiB ×4` (four GPUs): how close to OOM.
    static func gpuMemory(peak: Double?, total: Double?, gpus: Int, ascii: Bool) -> String {
        guard let peak else { return "no data" }
        var text = Fmt.memory(peak)
        if let total, total > 0 {
            // One unit for both figures, taken from the capacity.
            text =
                total >= 1024
                ? String(format: "%.1f / %.1f GiB", peak / 1024, total / 1024)
                : String(format: "%.0f / %.0f MiB", peak, total)
        }
        return gpus > 1 ? text + (ascii ? " x\(gpus)" : " ×\(gpus)") : text
    }

    static func statusColor(_ status: String) -> Color {
        switch status {
        case "running": return .green
        case "done": return .cyan
        case "failed": return .red
        case "stopping", "stalled": return .yellow
        case "stopped": return .magenta
        default: return .none
        }
    }

    static func statusGlyph(_ status: String, ascii: Bool) -> String {
        if ascii {
            switch status {
            case "running": return ">"
            case "done": return "+"
            case "failed": return "x"
            default: return "*"
            }
        }
        switch status {
        case "running": return "●"
        case "done": return "✓"
        case "failed": return "✗"
        case "stopping", "stalled": return "◐"
        case "stopped": return "■"
        default: return "·"
        }
    }

    static func levelStyle(_ level: String) -> Style {
        switch level {
        case "error", "critical", "fatal": return Style(fg: .red, bold: true)
        case "warning", "warn": return Style(fg: .yellow)
        case "debug", "trace": return .dimmed
        default: return .plain
        }
    }

    /// `HH:MM:SS` of an ISO timestamp.
    static func clock(_ iso: String) -> String {
        guard let t = iso.firstIndex(of: "T") else { return iso }
        return String(iso[iso.index(after: t)...].prefix(8))
    }
}

enum JobPanels {
    /// Status · Elapsed · GPU util · GPU mem peak · Latest loss: a label row and a value row per tile.
    static func telemetry(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        let ascii = s.glyphs == .ascii
        let status = job.shownStatus
        let statusText = "\(Fmt.statusGlyph(status, ascii: ascii)) \(status)"
        let loss: String = {
            let t = job.trainLoss.map(LossChart.format) ?? "–"
            let v = job.valLoss.map(LossChart.format) ?? "–"
            return "\(t) / \(v)" + (job.epoch.map { " @\($0)" } ?? "")
        }()
        let gpu = job.gpuUtil.map { String(format: "%.1f%%", $0) } ?? "no data"
        let tiles: [(String, String, Style)] = [
            ("STATUS", statusText, Style(fg: Fmt.statusColor(status), bold: true)),
            ("ELAPSED", Fmt.duration(job.elapsed), .bold),
            (
                "GPU UTIL", gpu,
                job.gpuUtil == nil ? .dimmed : (job.gpuUtil! < 5 ? Style(fg: .yellow, bold: true) : .bold)
            ),
            (
                "GPU MEM PEAK",
                Fmt.gpuMemory(peak: job.gpuMemPeak, total: job.gpuMemTotal, gpus: job.gpuMem.count, ascii: ascii),
                job.gpuMemPeak == nil ? .dimmed : .bold
            ),
            ("LOSS train/val", loss, .bold),
        ]
        let weights = [18, 12, 11, 14, 26]
        let total = weights.reduce(0, +)
        var x = rect.x
        for (i, tile) in tiles.enumerated() {
            let w = i == tiles.count - 1 ? rect.maxX - x : rect.width * weights[i] / total
            g.put(x + 1, rect.y, tile.0, .dimmed, maxWidth: w - 2)
            let used = g.put(
                x + 1, rect.y + 1, TextWidth.truncate(tile.1, w - 2), tile.2, maxWidth: w - 2)
            if i == 0, job.idleFlagged {
                let since = job.idleSinceUs.map { Fmt.duration(s.now - Double($0) / 1e6) }
                let badge = " IDLE\(since.map { " \($0)" } ?? "") "
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

    static func failure(_ job: JobData, into g: inout Grid, rect: Rect) {
        guard let reason = job.failureReason, rect.height > 0 else { return }
        let text = "Failed: " + reason
        g.put(rect.x, rect.y, TextWidth.truncate(text, rect.width), Style(fg: .red, bold: true))
    }

    static func logTail(_ s: AppState, into g: inout Grid, rect: Rect) {
        guard rect.height >= 2 else { return }
        let lines = s.filteredLogs
        let following = s.logScroll == 0
        var title = "LOG"
        if !s.filter.isEmpty {
            title += "  filter \"\(s.filter)\": \(lines.count) match\(lines.count == 1 ? "" : "es")"
        }
        title += following ? "  (following)" : "  (scrolled \(s.logScroll) up · End follows)"
        g.put(rect.x, rect.y, TextWidth.truncate(title, rect.width), .dimmed)
        let body = Rect(x: rect.x, y: rect.y + 1, width: rect.width, height: rect.height - 1)
        if lines.isEmpty {
            g.put(
                body.x, body.y, s.filter.isEmpty ? "no log lines yet" : "no line matches the filter",
                .dimmed)
            return
        }
        let end = max(0, lines.count - s.logScroll)
        let start = max(0, end - body.height)
        for (row, line) in lines[start..<end].enumerated() {
            let y = body.y + row
            let prefix =
                "\(Fmt.clock(line.ts)) \(line.level.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)) "
            let used = g.put(body.x, y, prefix, .dimmed, maxWidth: body.width)
            g.put(body.x + used, y, line.line, Fmt.levelStyle(line.level), maxWidth: body.width - used)
        }
    }

    static let actionOrder: [(key: String, name: String, id: String)] = [
        ("s", "Stop", "stop"), ("r", "Rerun", "rerun"), ("S", "Share", "share"),
        ("c", "Copy command", "copy_command"), ("F", "Mark failed", "mark_failed"),
    ]

    /// Stop · Rerun · Share · Copy command, each enabled or dimmed with the reason.
    static func actionBar(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        guard !s.readOnly else {
            g.put(rect.x, rect.y, "read-only view: actions hidden", .dimmed)
            return
        }
        var x = rect.x
        for (i, a) in actionOrder.enumerated() {
            let state =
                job.actions[a.id]
                ?? (a.id == "copy_command"
                    ? (job.command != nil, job.command == nil ? "no command recorded" : nil)
                    : (false, "unknown"))
            if i > 0 { x += g.put(x, rect.y, "  ", .plain, maxWidth: rect.maxX - x) }
            x += g.put(
                x, rect.y, "[\(a.key)]", state.enabled ? Style(fg: .cyan, bold: true) : .dimmed,
                maxWidth: rect.maxX - x)
            x += g.put(x, rect.y, " " + a.name, state.enabled ? .bold : .dimmed, maxWidth: rect.maxX - x)
            if !state.enabled, let reason = state.reason {
                x += g.put(x, rect.y, " (\(reason))", .dimmed, maxWidth: rect.maxX - x)
            }
            if x >= rect.maxX { break }
        }
    }

    static func environment(_ job: JobData, ascii: Bool, into g: inout Grid, rect: Rect) {
        guard rect.height > 0 else { return }
        let sep = ascii ? " | " : " · "
        var x = rect.x
        for (label, value) in [("commit", job.gitSHA), ("host", job.host), ("cwd", job.cwd)] {
            if x > rect.x { x += g.put(x, rect.y, sep, .dimmed, maxWidth: rect.maxX - x) }
            x += g.put(x, rect.y, label + " ", .dimmed, maxWidth: rect.maxX - x)
            x += g.put(x, rect.y, value ?? "–", .plain, maxWidth: rect.maxX - x)
        }
        if rect.height > 1 {
            let used = g.put(rect.x, rect.y + 1, "command ", .dimmed)
            g.put(
                rect.x + used, rect.y + 1, TextWidth.truncate(job.command ?? "–", rect.width - used), .plain
            )
        }
    }
}
