import FoundationEssentials
import Glibc
import Shared

/// The GPUs panel of the job screen (`G`): a title row, then one line per GPU — index, a util bar and figure,
/// memory used / total, temperature, and its util over the recent snapshots as a sparkline (newest at the right).
/// GPUs that do not fit the rows it was given share its last line, in a few words each. Nothing is said by colour
/// alone: an idle GPU and a hot one are also named in words, and `--ascii` draws every glyph from ASCII.
enum GPUPanel {
    /// Under `GPUFigures.idleBelowPct` a GPU is idle (the server's idle rule); from 85 °C it is hot; from 95 % of its
    /// memory, near OOM.
    static let idleUtil = GPUFigures.idleBelowPct
    static let hotC = 85.0
    static let warmC = 75.0
    static let fullMemory = 0.95

    struct Glyphs {
        var filled: String
        var empty: String
        var open: String
        var close: String
        var degrees: String
        var ascii: Bool

        static let unicode = Glyphs(
            filled: "█", empty: "░", open: "", close: "", degrees: "°C", ascii: false)
        static let ascii = Glyphs(
            filled: "#", empty: ".", open: "[", close: "]", degrees: "C", ascii: true)
    }

    /// A util bar `width` columns wide (brackets included in ASCII).
    static func bar(_ util: Double?, width: Int, _ g: Glyphs) -> (filled: String, empty: String) {
        let inner = max(1, width - g.open.count - g.close.count)
        let n = util.map { Int((min(100, max(0, $0.isNaN ? 0 : $0)) / 100 * Double(inner)).rounded()) } ?? 0
        return (
            g.open + String(repeating: g.filled, count: n),
            String(repeating: g.empty, count: inner - n) + g.close
        )
    }

    /// One character per snapshot: util on a 0–100 % scale (`Sparkline`), a space where the GPU has no reading.
    static func sparkline(_ values: [Double?], _ g: Glyphs) -> String {
        Sparkline.render(values.map { $0 ?? .nan }, width: values.count, ascii: g.ascii, range: 0...100)
    }

    /// A temperature as the panel shows it, whole degrees (printf's rounding): what "hot" and "warm" are judged
    /// on, so 84.6 °C, shown as 85°C, is called hot.
    static func shownC(_ c: Double) -> Double { c.rounded(.toNearestOrEven) }

    static func temperature(_ c: Double?, _ g: Glyphs) -> String {
        guard let c, c.isFinite else { return "–" }
        if c > 999 { return ">999" + g.degrees }
        if c < -99 { return "<-99" + g.degrees }
        // + 0 turns a -0 (from -0.4) into 0: "-0°C" is not a temperature anyone reads.
        return cFormat("%.0f", shownC(c) + 0) + g.degrees
    }

    /// What is unusual about a GPU, in words: "idle", "hot", "mem 97%".
    static func flags(_ d: GPUFigures.Device) -> [String] {
        var out: [String] = []
        if let u = d.util, u < idleUtil { out.append("idle") }
        if let t = d.tempC, shownC(t) >= hotC { out.append("hot") }
        if let m = d.memMB, let t = d.memTotalMB, t > 0, m / t >= fullMemory, m / t < 10 {
            out.append(cFormat("mem %.0f%%", m / t * 100))
        }
        return out
    }

    static func title(_ s: AppState, _ h: GPUHistory, shown: Int) -> String {
        let n = h.indices.count
        var parts = ["GPUS"]
        if h.samples.isEmpty {
            parts.append(
                h.requested && !h.loaded
                    ? "loading the job's resource snapshots\(TextWidth.cutMark)"
                    : "no GPU readings for this job" + (s.job.map { JobData.finished.contains($0.jobStatus) } == true ? "" : " yet"))
        } else {
            parts.append("\(n) GPU\(n == 1 ? "" : "s")")
            if let ts = h.samples.last?.ts { parts.append("last snapshot " + Fmt.age(s.now - ts)) }
            parts.append("util over the last \(shown) snapshot\(shown == 1 ? "" : "s")")
        }
        if let failure = h.failure { parts.append("history not loaded: \(failure)") }
        return parts.joined(separator: s.glyphs == .ascii ? " | " : " · ")
    }

    static func render(_ s: AppState, _ job: JobData, into g: inout Grid, rect: Rect) {
        guard rect.height >= 1 else { return }
        let h = job.gpuHistory
        let glyphs = s.glyphs == .ascii ? Glyphs.ascii : Glyphs.unicode
        let ascii = s.glyphs == .ascii
        let indices = h.indices
        let lines = rect.height - 1

        let devices = indices.compactMap { h.latest($0) }
        let full = devices.count <= lines ? devices.count : max(0, lines - 1)

        // Columns, each as wide as its widest value among the lines drawn in full.
        let drawn = devices.prefix(full)
        let labels = drawn.map { "GPU \($0.index)" }
        let labelW = labels.map { TextWidth.of($0) }.max() ?? 0
        let barW = rect.width >= 120 ? 20 : 10
        let pcts = drawn.map { $0.util.map(Fmt.percent) ?? "–" }
        let pctW = max(6, pcts.map { TextWidth.of($0) }.max() ?? 0)
        let mems = drawn.map { Fmt.gpuMemory(peak: $0.memMB, total: $0.memTotalMB, gpus: 1, ascii: ascii) }
        let memW = mems.map { TextWidth.of($0) }.max() ?? 0
        let temps = drawn.map { temperature($0.tempC, glyphs) }
        let tempW = max(4, temps.map { TextWidth.of($0) }.max() ?? 0)
        let flagTexts = drawn.map { flags($0).joined(separator: " ") }
        let flagW = flagTexts.map { TextWidth.of($0) }.max() ?? 0
        let fixed = 1 + labelW + 1 + barW + 1 + pctW + 2 + memW + 2 + tempW + (flagW > 0 ? 2 + flagW : 0) + 2
        let sparkW = max(0, rect.width - fixed)
        let shown = min(h.samples.count, sparkW)

        g.put(rect.x, rect.y, TextWidth.truncate(title(s, h, shown: shown), rect.width), .dimmed)
        for (row, d) in drawn.enumerated() {
            let y = rect.y + 1 + row
            var x = rect.x + 1
            func cell(_ text: String, _ width: Int, _ style: Style, right: Bool = false, gap: Int = 2) {
                let pad = String(repeating: " ", count: max(0, width - TextWidth.of(text)))
                g.put(x, y, right ? pad + text : text, style, maxWidth: max(0, rect.maxX - x))
                x += width + gap
            }
            let idle = d.util.map { $0 < idleUtil } ?? false
            cell(labels[row], labelW, .bold, gap: 1)
            let (filled, empty) = bar(d.util, width: barW, glyphs)
            let used = g.put(x, y, filled, Style(fg: idle ? .yellow : .cyan), maxWidth: max(0, rect.maxX - x))
            g.put(x + used, y, empty, .dimmed, maxWidth: max(0, rect.maxX - x - used))
            x += barW + 1
            cell(pcts[row], pctW, d.util == nil ? .dimmed : (idle ? Style(fg: .yellow, bold: true) : .bold), right: true)
            let nearFull = flags(d).contains { $0.hasPrefix("mem ") }
            cell(mems[row], memW, d.memMB == nil ? .dimmed : (nearFull ? Style(fg: .red, bold: true) : .plain), right: true)
            let t = shownC(d.tempC ?? 0)
            let tempStyle =
                d.tempC == nil ? Style.dimmed : t >= hotC ? Style(fg: .red, bold: true) : t >= warmC ? Style(fg: .yellow) : .plain
            cell(temps[row], tempW, tempStyle, right: true)
            if flagW > 0 { cell(flagTexts[row], flagW, Style(fg: .yellow, bold: true)) }
            if shown > 0 {
                g.put(x, y, sparkline(h.utilHistory(d.index, last: shown), glyphs), Style(fg: .cyan), maxWidth: rect.maxX - x)
            }
        }
        // The GPUs without a line of their own: index, util and temperature each, on the last row; those with words
        // (idle, hot, memory nearly full) first, so that a cut line never cuts the one that needs looking at.
        if full < devices.count, lines > 0 {
            let sep = ascii ? " | " : " · "
            let items = devices.dropFirst(full).map { d in
                let words = flags(d)
                return (
                    text: "\(d.index) \(d.util.map(Fmt.percent) ?? "–") \(temperature(d.tempC, glyphs))"
                        + (words.isEmpty ? "" : " " + words.joined(separator: " ")),
                    worded: !words.isEmpty
                )
            }
            let worded = items.filter(\.worded).map(\.text)
            let rest = worded + items.filter { !$0.worded }.map(\.text)
            // The hint gives way when the GPUs with words would not fit beside it.
            let hint = "+\(rest.count) more (a taller terminal shows each): "
            let lead = TextWidth.of(hint + worded.joined(separator: sep)) <= rect.width - 1 ? hint : "+\(rest.count) more: "
            let text = lead + rest.joined(separator: sep)
            g.put(rect.x + 1, rect.y + lines, TextWidth.truncate(text, rect.width - 1), .plain)
        }
    }
}
