import Foundation

/// The loss curve: a line plot on a braille canvas (2×4 dots per cell), or one point per cell in ASCII.
/// With more epochs than dot columns, each column keeps min/max/first/last of its epochs, so spikes
/// and non-finite values stay visible (LTTB-style thinning can drop them).
public enum LossChart {
    public static let palette: [Color] = [.cyan, .yellow, .green, .magenta, .blue, .red, .white]
    public static let emaAlpha = 0.1

    public static func color(of name: String, in names: [String]) -> Color {
        palette[(names.firstIndex(of: name) ?? 0) % palette.count]
    }

    /// A value as plotted (log10 when asked); nil when it cannot be drawn.
    @inline(__always) static func plotted(_ v: Double, logY: Bool) -> Double? {
        guard v.isFinite else { return nil }
        if logY { return v > 0 ? log10(v) : nil }
        return v
    }

    static func smoothed(_ col: [Double]) -> [Double] {
        var out = col
        var acc: Double? = nil
        for i in col.indices {
            let v = col[i]
            guard v.isFinite else { continue }
            acc = acc.map { $0 + emaAlpha * (v - $0) } ?? v
            out[i] = acc!
        }
        return out
    }

    static func column(_ data: EpochSeries, _ name: String, ema: Bool) -> [Double] {
        let raw = data.column(name) ?? []
        return ema ? smoothed(raw) : raw
    }

    public static func dataRange(_ data: EpochSeries, series: [String], ema: Bool, logY: Bool)
        -> ClosedRange<Double>?
    {
        var lo = Double.infinity
        var hi = -Double.infinity
        for name in series {
            for v in column(data, name, ema: ema) {
                guard let p = plotted(v, logY: logY) else { continue }
                if p < lo { lo = p }
                if p > hi { hi = p }
            }
        }
        return lo <= hi ? lo...hi : nil
    }

    /// Bounds with ~10% headroom snapped to round numbers; kept while the data still fills a third of them.
    public static func stableBounds(previous: ClosedRange<Double>?, data: ClosedRange<Double>)
        -> ClosedRange<Double>
    {
        if let p = previous, p.contains(data.lowerBound), p.contains(data.upperBound),
            (data.upperBound - data.lowerBound) >= (p.upperBound - p.lowerBound) / 3
        {
            return p
        }
        var span = data.upperBound - data.lowerBound
        if span <= 0 { span = max(abs(data.upperBound) * 0.2, 1e-9) }
        let step = niceStep(span / 4)
        var lo = (data.lowerBound - span * 0.1)
        let hi = ((data.upperBound + span * 0.1) / step).rounded(.up) * step
        lo = (lo / step).rounded(.down) * step
        if data.lowerBound >= 0 && lo < 0 { lo = 0 }
        return lo...max(hi, lo + step)
    }

    static func niceStep(_ raw: Double) -> Double {
        let mag = pow(10, floor(log10(raw)))
        let f = raw / mag
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        return nice * mag
    }

    public static func format(_ v: Double) -> String {
        if !v.isFinite { return v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a != 0 && (a >= 100_000 || a < 0.001) { return String(format: "%.2e", v) }
        var s = String(format: "%.4g", v)
        if s.contains("e") { s = String(format: "%.2e", v) }
        return s
    }

    /// Draws the chart (legend, y labels, plot, epoch axis) into `rect`.
    public static func render(_ state: AppState, into g: inout Grid, rect: Rect) {
        guard let job = state.job, rect.height >= 4, rect.width >= 20 else { return }
        let data = job.series
        let names = data.names
        // Legend: every series with its toggle digit; visible ones in colour.
        var x = rect.x
        let ascii = state.glyphs == .ascii
        for (i, name) in names.enumerated() where i < 9 {
            let visible = state.isVisible(name)
            let latest = data.latest(name)
            let value = latest.map { $0 == EpochSeries.nonFinite ? "NaN" : format($0) } ?? "–"
            let text = "\(i + 1)\(ascii ? "-" : "━")\(name) \(value)  "
            let style = visible ? Style.fg(color(of: name, in: names), bold: true) : .dimmed
            x += g.put(x, rect.y, text, style, maxWidth: rect.maxX - x)
            if x >= rect.maxX { break }
        }
        var flags: [String] = []
        if state.ema { flags.append("EMA α=\(emaAlpha)") }
        if state.logY { flags.append("log y") }
        if !flags.isEmpty {
            let f = "[" + flags.joined(separator: ", ") + "]"
            if x + TextWidth.of(f) < rect.maxX { g.put(rect.maxX - TextWidth.of(f), rect.y, f, .dimmed) }
        }
        let labelW = 9
        let plot = Rect(
            x: rect.x + labelW, y: rect.y + 1, width: rect.width - labelW, height: rect.height - 2)
        guard data.count > 0, let bounds = state.chartBounds else {
            let msg =
                if data.count > 0 {
                    "nothing to plot: every visible series is empty"
                } else if job.epoch != nil {
                    // The summary knows an epoch, but the rows are gone: retention purged them.
                    "epoch rows purged by retention; the latest loss above is kept"
                } else if JobData.finished.contains(job.jobStatus) {
                    "this job reported no epochs"
                } else {
                    "waiting for the first epoch…"
                }
            g.put(
                plot.x + max(0, (plot.width - TextWidth.of(msg)) / 2), plot.y + plot.height / 2, msg,
                .dimmed)
            return
        }
        // Y axis labels: top, middle, bottom.
        let lo = bounds.lowerBound
        let hi = bounds.upperBound
        func label(_ v: Double) -> String { state.logY ? format(pow(10, v)) : format(v) }
        let rows = [(plot.y, hi), (plot.y + (plot.height - 1) / 2, (hi + lo) / 2), (plot.maxY - 1, lo)]
        for (y, v) in rows {
            let t = label(v)
            g.put(
                rect.x + labelW - 2 - min(TextWidth.of(t), labelW - 2), y, t, .dimmed, maxWidth: labelW - 2)
            g.put(rect.x + labelW - 1, y, ascii ? "+" : "┤", .dimmed)
        }
        for y in plot.y..<plot.maxY where !rows.contains(where: { $0.0 == y }) {
            g.put(rect.x + labelW - 1, y, ascii ? "|" : "│", .dimmed)
        }
        // Epoch axis.
        let first = data.epochs.first!
        let last = data.epochs.last!
        let axisY = rect.maxY - 1
        g.put(rect.x + labelW - 1, axisY, ascii ? "+" : "└", .dimmed)
        for xx in plot.x..<plot.maxX { g.put(xx, axisY, ascii ? "-" : "─", .dimmed) }
        let l0 = "\(first)"
        let l1 = "\(last)"
        let mid = "epoch \(first + (last - first) / 2)"
        g.put(plot.x, axisY, l0, .dimmed)
        if plot.width > TextWidth.of(l0) + TextWidth.of(l1) + TextWidth.of(mid) + 4 {
            g.put(plot.x + (plot.width - TextWidth.of(mid)) / 2, axisY, mid, .dimmed)
        }
        if last != first { g.put(plot.maxX - TextWidth.of(l1), axisY, l1, .dimmed) }

        draw(data, state: state, bounds: bounds, into: &g, plot: plot)
    }

    /// Plots the visible series into `plot`.
    static func draw(
        _ data: EpochSeries, state: AppState, bounds: ClosedRange<Double>, into g: inout Grid,
        plot: Rect
    ) {
        let ascii = state.glyphs == .ascii
        var canvas = DotCanvas(width: plot.width, height: plot.height, ascii: ascii)
        guard canvas.dotW > 1, canvas.dotH > 1 else { return }
        var nanColumns = Set<Int>()
        let names = data.names
        let lo = bounds.lowerBound
        let range = max(bounds.upperBound - lo, 1e-300)
        let hiValue = lo + range
        data.epochs.withUnsafeBufferPointer { epochs in
            let e0 = Double(epochs.first!)
            let span = Double(max(1, epochs.last! - epochs.first!))
            // Hot loop (100k epochs): factors hoisted; values clamped to >= 0 and rounded by +0.5 and truncation.
            let xScale = Double(canvas.dotW - 1) / span
            let yScale = Double(canvas.dotH - 1) / range
            let maxDY = Double(canvas.dotH - 1)
            let logY = state.logY
            for name in state.visibleSeries {
                let c = color(of: name, in: names)
                column(data, name, ema: state.ema).withUnsafeBufferPointer { col in
                    // M4 per dot column: first, last, min, max (in dot rows); columns joined last → first.
                    var curX = -1
                    var first = 0
                    var lastY = 0
                    var minY = 0
                    var maxY = 0
                    var prevX = -1
                    var prevLastY = 0
                    for i in 0..<min(col.count, epochs.count) {
                        let v = col[i]
                        let dx = Int((Double(epochs[i]) - e0) * xScale + 0.5)
                        if v == EpochSeries.nonFinite {
                            nanColumns.insert(dx / canvas.sx)
                            continue
                        }
                        guard let p = plotted(v, logY: logY) else { continue }
                        let dy = Int(min(maxDY, max(0, (hiValue - p) * yScale)) + 0.5)
                        if dx != curX {
                            if curX >= 0 {
                                if prevX >= 0 { canvas.line(prevX, prevLastY, curX, first, c) }
                                canvas.line(curX, minY, curX, maxY, c)
                                prevX = curX
                                prevLastY = lastY
                            }
                            curX = dx
                            first = dy
                            minY = dy
                            maxY = dy
                        }
                        lastY = dy
                        if dy < minY { minY = dy }
                        if dy > maxY { maxY = dy }
                    }
                    if curX >= 0 {
                        if prevX >= 0 { canvas.line(prevX, prevLastY, curX, first, c) }
                        canvas.line(curX, minY, curX, maxY, c)
                    }
                }
            }
        }
        for cy in 0..<plot.height {
            for cx in 0..<plot.width {
                let b = canvas.bits[cy * plot.width + cx]
                guard b != 0 else { continue }
                let scalar: Unicode.Scalar = ascii ? "*" : Unicode.Scalar(0x2800 + UInt32(b))!
                g.set(plot.x + cx, plot.y + cy, scalar, Style(fg: canvas.colors[cy * plot.width + cx]))
            }
        }
        for cx in nanColumns where cx < plot.width {
            g.set(plot.x + cx, plot.y, ascii ? "!" : "✕", Style(fg: .red, bold: true))
        }
    }
}

/// Dots on a cell grid: 2×4 braille dots per cell, or one point per cell in ASCII. One colour per cell (last wins).
struct DotCanvas {
    let width: Int
    let height: Int
    let sx: Int
    let sy: Int
    let ascii: Bool
    var bits: [UInt8]
    var colors: [Color]
    var dotW: Int { width * sx }
    var dotH: Int { height * sy }

    private static let dotBits: [UInt8] = [0x01, 0x08, 0x02, 0x10, 0x04, 0x20, 0x40, 0x80]  // [row * 2 + column]

    init(width: Int, height: Int, ascii: Bool) {
        self.width = width
        self.height = height
        self.ascii = ascii
        sx = ascii ? 1 : 2
        sy = ascii ? 1 : 4
        bits = [UInt8](repeating: 0, count: width * height)
        colors = [Color](repeating: .none, count: width * height)
    }

    @inline(__always) mutating func set(_ dx: Int, _ dy: Int, _ c: Color) {
        guard dx >= 0, dy >= 0, dx < dotW, dy < dotH else { return }
        let cell = (dy / sy) * width + dx / sx
        bits[cell] |= ascii ? 1 : DotCanvas.dotBits[(dy & 3) * 2 + (dx & 1)]
        colors[cell] = c
    }

    /// Bresenham between two dots.
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: Color) {
        if x0 == x1 {
            for y in min(y0, y1)...max(y0, y1) { set(x0, y, c) }
            return
        }
        var x = x0
        var y = y0
        let dx = abs(x1 - x0)
        let dy = -abs(y1 - y0)
        let stepX = x0 < x1 ? 1 : -1
        let stepY = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            set(x, y, c)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy {
                err += dy
                x += stepX
            }
            if e2 <= dx {
                err += dx
                y += stepY
            }
        }
    }
}
