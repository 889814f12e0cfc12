import FoundationEssentials
import Glibc

/// Every glyph the chart draws, in its Unicode and ASCII forms, chosen once from `AppState.glyphs`, so ASCII
/// mode never depends on `Grid.downgradeToASCII` guessing a stand-in.
struct ChartGlyphs {
    /// Between a series' key and its name in the legend.
    var legendLine: String
    /// A value above or below the y range (log y: also a value <= 0), drawn at that edge.
    var above: Unicode.Scalar
    var below: Unicode.Scalar
    /// A value the run reported as NaN or infinite.
    var nonFinite: Unicode.Scalar
    /// nil draws braille dots.
    var point: Unicode.Scalar?
    var tick: String
    var axis: String
    var corner: String
    var baseline: String
    /// Without colour each series wears its own marker along its line and in the legend.
    var shapes: [Unicode.Scalar]
    /// For the legend's note: "log y: 2 ≤0".
    var atMost: String

    static let unicode = ChartGlyphs(
        legendLine: "━", above: "▲", below: "▼", nonFinite: "✕", point: nil, tick: "┤", axis: "│",
        corner: "└", baseline: "─", shapes: ["●", "■", "◆", "○", "□", "◇"], atMost: "≤")
    static let ascii = ChartGlyphs(
        legendLine: "-", above: "^", below: "v", nonFinite: "!", point: "*", tick: "+", axis: "|",
        corner: "+", baseline: "-", shapes: ["o", "#", "@", "%", "&", "="], atMost: "<=")

    static func of(_ g: Glyphs) -> ChartGlyphs { g == .ascii ? ascii : unicode }

    /// The marker of the `index`th series: the shapes, then the capital letters, then round again.
    func marker(_ index: Int) -> Unicode.Scalar {
        let letters = (UInt32(65)...UInt32(90)).map { Unicode.Scalar($0)! }
        let all = shapes + letters
        return all[index % all.count]
    }
}

/// The loss curve: a line plot on a braille canvas (2×4 dots per cell), or one point per cell in ASCII.
/// With more epochs than dot columns, each column keeps min/max/first/last of its epochs, so spikes
/// and non-finite values stay visible (LTTB-style thinning can drop them). The y range comes from
/// `ChartScale` (kept in `AppState.chartBounds`); values outside it are marked at the edge.
public enum LossChart {
    public static let palette: [Color] = [.cyan, .yellow, .green, .magenta, .blue, .red, .white]
    /// Cell columns between two markers of one series when there is no colour to tell series apart.
    static let markerSpacing = 8

    public static func color(of name: String, in names: [String]) -> Color {
        palette[(names.firstIndex(of: name) ?? 0) % palette.count]
    }

    /// A loss as the tiles, the batch screen and the legend show it: `–` when none was reported, `NaN` when the run
    /// reported NaN or ±infinity (the server keeps which one it was as the same `EpochSeries.nonFinite`).
    public static func shown(_ v: Double?) -> String {
        guard let v else { return "–" }
        return v == EpochSeries.nonFinite ? "NaN" : format(v)
    }

    public static func format(_ v: Double) -> String {
        if !v.isFinite { return v.isNaN ? "NaN" : (v > 0 ? "inf" : "-inf") }
        let a = abs(v)
        if a != 0 && (a >= 100_000 || a < 0.001) { return cFormat("%.2e", v) }
        var s = cFormat("%.4g", v)
        if s.contains("e") { s = cFormat("%.2e", v) }
        return s
    }

    /// Y-axis labels: the fewest significant digits (from 3) that tell them apart, exponents without
    /// padding (`4e-4`, `1e308`), so they stay short; the gutter is then sized to fit them whole. Near the top of
    /// Double a label is not rounded past it (1.796e308 is not `1.8e308`, which no Double holds).
    static func axisLabels(_ values: [Double]) -> [String] {
        let distinct = Set(values).count
        for digits in 3...8 {
            let labels = values.map { compact($0, digits: digits) }
            if Set(labels).count == distinct, zip(values, labels).allSatisfy({ !$0.isFinite || (Double($1)?.isFinite ?? true) }) {
                return labels
            }
        }
        return values.map { compact($0, digits: 8) }
    }

    static func compact(_ v: Double, digits: Int) -> String {
        if !v.isFinite { return format(v) }
        let s = cFormat("%.\(digits)g", v)
        guard let e = s.firstIndex(of: "e") else { return s }
        var exponent = s[s.index(after: e)...]
        let negative = exponent.first == "-"
        exponent = exponent.drop { $0 == "+" || $0 == "-" || $0 == "0" }
        return String(s[..<e]) + "e" + (negative ? "-" : "") + (exponent.isEmpty ? "0" : exponent)
    }

    /// What fell outside the y range while drawing, for the legend's note.
    struct OffScale {
        var above = 0
        var below = 0
        /// Log y only: values <= 0, drawn at the bottom edge.
        var nonPositive = 0
        var nonFinite = 0
    }

    static func note(_ state: AppState, _ off: OffScale, _ glyphs: ChartGlyphs) -> String {
        var flags: [String] = []
        // The factor as W&B and TensorBoard write it (the weight on the previous value): "EMA 0.95".
        if let factor = state.smoothing { flags.append("EMA \(ChartScale.label(factor))") }
        if state.logY {
            flags.append(
                "log y" + (off.nonPositive > 0 ? ": \(off.nonPositive) \(glyphs.atMost)0 at \(glyphs.below)" : ""))
        }
        if off.above + off.below > 0 {
            let marks = (off.above > 0 ? String(glyphs.above) : "") + (off.below > 0 ? String(glyphs.below) : "")
            flags.append("\(off.above + off.below) off-scale \(marks)")
        }
        if off.nonFinite > 0 { flags.append("\(off.nonFinite) non-finite \(glyphs.nonFinite)") }
        return flags.isEmpty ? "" : "[" + flags.joined(separator: ", ") + "]"
    }

    /// Legend: visible series first, each with its toggle digit (1–9); as many as fit, then how many are left of
    /// each kind ("+3 drawn, 2 hidden (m)"). The hidden ones follow after "hidden:", dimmed and without the marker
    /// and line they would be drawn with (a `--dump`, or a terminal that cannot dim, still tells them apart).
    static func legend(_ state: AppState, _ data: EpochSeries, note: String, glyphs: ChartGlyphs, into g: inout Grid, rect: Rect) {
        let names = data.names
        var noteW = TextWidth.of(note)
        if noteW > rect.width / 2 { noteW = 0 }  // too narrow for both: the legend comes first
        if noteW > 0 { g.put(rect.maxX - noteW, rect.y, note, .dimmed) }
        let end = rect.maxX - (noteW > 0 ? noteW + 2 : 0)
        let shownNames = names.filter { state.isVisible($0) }
        let order = shownNames + names.filter { !state.isVisible($0) }
        let drawn = shownNames.count
        // On the compare overlay every job is in the table below and m picks the metric: no "(m)" there.
        let chooser = state.screen == .compare ? "" : " (m)"
        /// What is left from the `k`th entry on, when it does not fit.
        func more(from k: Int) -> String {
            let (d, h) = (max(0, drawn - k), order.count - max(k, drawn))
            return "+" + [d > 0 ? "\(d) drawn" : nil, h > 0 ? "\(h) hidden" : nil].compactMap { $0 }.joined(separator: ", ")
                + chooser
        }
        var x = rect.x
        for (k, name) in order.enumerated() {
            let i = names.firstIndex(of: name) ?? 0
            let visible = k < drawn  // the visible come first
            let latest = data.latest(name)
            let value = shown(latest)
            let marker = state.color ? "" : String(glyphs.marker(i))
            let key = i < 9 ? "\(i + 1)" : ""
            let label = k == drawn ? "hidden: " : ""
            let text =
                visible
                ? "\(marker)\(key)\(glyphs.legendLine)\(name) \(value)"
                : "\(label)\(key.isEmpty ? "" : key + " ")\(name) \(value)"
            let last = k == order.count - 1
            if x + TextWidth.of(text) + (last ? 0 : 2 + TextWidth.of(more(from: k + 1))) > end {
                g.put(x, rect.y, more(from: k), .dimmed, maxWidth: max(0, end - x))
                return
            }
            let style = visible ? Style.fg(color(of: name, in: names), bold: true) : .dimmed
            x += g.put(x, rect.y, text, style)
            x += 2
        }
    }

    /// Draws the chart (legend, y labels, plot, epoch axis) into `rect`.
    public static func render(_ state: AppState, into g: inout Grid, rect: Rect) {
        guard let job = state.job, rect.height >= 4, rect.width >= 20 else { return }
        let data = job.series
        let glyphs = ChartGlyphs.of(state.glyphs)
        let legendRow = Rect(x: rect.x, y: rect.y, width: rect.width, height: 1)
        let plotY = rect.y + 1
        let plotH = rect.height - 2
        guard data.count > 0, let bounds = state.chartBounds else {
            legend(state, data, note: note(state, OffScale(), glyphs), glyphs: glyphs, into: &g, rect: legendRow)
            let msg =
                if data.count > 0 && state.visibleSeries.isEmpty {
                    state.screen == .compare
                        ? "nothing to plot: every job is hidden (its digit shows it again)"
                        : "nothing to plot: every series is hidden (1-9 or m shows one)"
                } else if data.count > 0 && state.logY
                    && ChartScale.dataRange(data, series: state.visibleSeries, smoothing: state.smoothing, logY: false) != nil
                {
                    "log y: no value above 0 to plot (g switches back to linear)"
                } else if data.count > 0 {
                    "nothing to plot: every visible series is empty"
                } else if job.epoch != nil {
                    // The summary knows an epoch, but the rows are gone: retention purged them.
                    "epoch rows purged by retention; the latest loss above is kept"
                } else if JobData.finished.contains(job.jobStatus) {
                    "this job reported no epochs"
                } else {
                    "waiting for the first epoch\(TextWidth.cutMark)"
                }
            g.put(
                rect.x + max(0, (rect.width - TextWidth.of(msg)) / 2), plotY + plotH / 2, msg, .dimmed,
                maxWidth: rect.width)
            return
        }
        // Y axis labels (top, middle, bottom) first: the gutter is as wide as the widest, so none is cut.
        let lo = bounds.lowerBound
        let hi = bounds.upperBound
        let labelRows = [plotY, plotY + (plotH - 1) / 2, plotY + plotH - 1]
        // The middle from halves: (hi + lo) / 2 overflows near the ends of Double.
        let labels = axisLabels([hi, hi / 2 + lo / 2, lo].map { state.logY ? pow(10, $0) : $0 })
        let gutter = min((labels.map { TextWidth.of($0) }.max() ?? 0) + 2, rect.width / 2)
        let plot = Rect(x: rect.x + gutter, y: plotY, width: rect.width - gutter, height: plotH)
        for (y, t) in zip(labelRows, labels) {
            g.put(rect.x + gutter - 2 - TextWidth.of(t), y, t, .dimmed)
            g.put(rect.x + gutter - 1, y, glyphs.tick, .dimmed)
        }
        for y in plot.y..<plot.maxY where !labelRows.contains(y) {
            g.put(rect.x + gutter - 1, y, glyphs.axis, .dimmed)
        }
        // Epoch axis.
        let first = data.epochs.first!
        let last = data.epochs.last!
        let axisY = rect.maxY - 1
        g.put(rect.x + gutter - 1, axisY, glyphs.corner, .dimmed)
        for xx in plot.x..<plot.maxX { g.put(xx, axisY, glyphs.baseline, .dimmed) }
        let l0 = "\(first)"
        let l1 = "\(last)"
        let mid = "epoch \(first + (last - first) / 2)"
        g.put(plot.x, axisY, l0, .dimmed)
        if plot.width > TextWidth.of(l0) + TextWidth.of(l1) + TextWidth.of(mid) + 4 {
            g.put(plot.x + (plot.width - TextWidth.of(mid)) / 2, axisY, mid, .dimmed)
        }
        if last != first { g.put(plot.maxX - TextWidth.of(l1), axisY, l1, .dimmed) }

        let off = draw(data, state: state, bounds: bounds, glyphs: glyphs, into: &g, plot: plot)
        legend(state, data, note: note(state, off, glyphs), glyphs: glyphs, into: &g, rect: legendRow)
    }

    /// Plots the visible series into `plot`; returns what fell outside `bounds`.
    static func draw(
        _ data: EpochSeries, state: AppState, bounds: ClosedRange<Double>, glyphs: ChartGlyphs,
        into g: inout Grid, plot: Rect
    ) -> OffScale {
        var off = OffScale()
        var canvas = DotCanvas(width: plot.width, height: plot.height, ascii: glyphs.point != nil)
        guard canvas.dotW > 1, canvas.dotH > 1 else { return off }
        // Edge markers by cell column: the series colour of the last one there.
        var nanColumns = Set<Int>()
        var aboveColumns: [Int: Color] = [:]
        var belowColumns: [Int: Color] = [:]
        // Without colour: where each series passes in each cell column, for its markers.
        var seriesRows: [(index: Int, rows: [Int])] = []
        let names = data.names
        let (lo, hiValue) = (bounds.lowerBound, bounds.upperBound)
        // The row as a fraction of the range, from halves of the values: hi − lo overflows for −1e308…1e308, and a
        // factor (rows / range) for subnormal values. (`stableBounds` never gives hi == lo.)
        let (hiHalf, spanHalf) = (hiValue / 2, hiValue / 2 - lo / 2)
        // Rounding slack, so a value on the bound itself is not called off-scale.
        let slack = spanHalf * 2e-9
        let bottom = Double(canvas.dotH - 1)
        let logY = state.logY
        for name in state.visibleSeries {
            let c = color(of: name, in: names)
            var rows = state.color ? [] : [Int](repeating: -1, count: plot.width)
            // M4 per dot column: first, last, min, max (in dot rows); columns joined last → first.
            var curX = -1
            var first = 0
            var lastY = 0
            var minY = 0
            var maxY = 0
            var prevX = -1
            var prevLastY = 0
            /// One plotted value on the y range, in dot column `dx`.
            func point(_ dx: Int, _ p: Double) {
                let y = (hiHalf - p / 2) / spanHalf * bottom
                let dy = Int(min(bottom, max(0, y.isNaN ? 0 : y)) + 0.5)
                if !rows.isEmpty { rows[dx / canvas.sx] = dy / canvas.sy }
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
            let col = data.plotted(name, smoothing: state.smoothing)
            // Each dot column from what the series knows of it (DotColumn): its first, smallest, largest and last
            // value when all of them are on the chart, else each of its values (an off-scale one is marked).
            for d in data.dotColumns(name, smoothing: state.smoothing, dotWidth: canvas.dotW) {
                if d.first < 0 && d.nonFinite == 0 { continue }
                if d.first >= 0, !logY || d.nonPositive == 0,
                    let pMin = ChartScale.plotted(d.minValue, logY: logY), pMin >= lo - slack,
                    let pMax = ChartScale.plotted(d.maxValue, logY: logY), pMax <= hiValue + slack
                {
                    if d.nonFinite > 0 {
                        nanColumns.insert(d.dx / canvas.sx)
                        off.nonFinite += d.nonFinite
                    }
                    point(d.dx, ChartScale.plotted(col[d.first], logY: logY)!)
                    point(d.dx, pMin)
                    point(d.dx, pMax)
                    point(d.dx, ChartScale.plotted(col[d.last], logY: logY)!)
                    continue
                }
                for i in d.start..<d.end {
                    let v = col[i]
                    if v == EpochSeries.nonFinite {
                        nanColumns.insert(d.dx / canvas.sx)
                        off.nonFinite += 1
                        continue
                    }
                    guard let p = ChartScale.plotted(v, logY: logY) else {
                        if logY && v <= 0 {
                            belowColumns[d.dx / canvas.sx] = c
                            off.nonPositive += 1
                        }
                        continue
                    }
                    if p > hiValue + slack {
                        aboveColumns[d.dx / canvas.sx] = c
                        off.above += 1
                    } else if p < lo - slack {
                        belowColumns[d.dx / canvas.sx] = c
                        off.below += 1
                    } else {
                        point(d.dx, p)
                    }
                }
            }
            if curX >= 0 {
                if prevX >= 0 { canvas.line(prevX, prevLastY, curX, first, c) }
                canvas.line(curX, minY, curX, maxY, c)
            }
            if !rows.isEmpty { seriesRows.append((names.firstIndex(of: name) ?? 0, rows)) }
        }
        for cy in 0..<plot.height {
            for cx in 0..<plot.width {
                let b = canvas.bits[cy * plot.width + cx]
                guard b != 0 else { continue }
                let scalar: Unicode.Scalar = glyphs.point ?? Unicode.Scalar(0x2800 + UInt32(b))!
                g.set(plot.x + cx, plot.y + cy, scalar, Style(fg: canvas.colors[cy * plot.width + cx]))
            }
        }
        // Each series' marker every few cells, staggered so two series on one row both show.
        for (k, s) in seriesRows.enumerated() {
            let marker = glyphs.marker(s.index)
            for cx in stride(from: (k * 3) % markerSpacing, to: plot.width, by: markerSpacing) where s.rows[cx] >= 0 {
                g.set(plot.x + cx, plot.y + s.rows[cx], marker, .bold)
            }
        }
        for (cx, c) in aboveColumns where cx < plot.width { g.set(plot.x + cx, plot.y, glyphs.above, Style(fg: c, bold: true)) }
        for (cx, c) in belowColumns where cx < plot.width {
            g.set(plot.x + cx, plot.maxY - 1, glyphs.below, Style(fg: c, bold: true))
        }
        for cx in nanColumns where cx < plot.width {
            g.set(plot.x + cx, plot.y, glyphs.nonFinite, Style(fg: .red, bold: true))
        }
        return off
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
