import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// Reads a rendered chart back: its y labels (left of the axis ticks) and its plot rows.
struct ChartReading {
    let rows: [String]
    let legendRow: Int
    let tickColumn: Int
    /// Cell columns of the plot (rows are trimmed, so this is not the length of a row).
    let plotWidth: Int

    init(_ g: Grid, legend: String = "train_loss") throws {
        rows = g.text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        legendRow = try #require(rows.firstIndex { $0.contains(legend) })
        let labelRow = Array(rows[legendRow + 1].unicodeScalars)
        tickColumn = try #require(labelRow.firstIndex { $0 == "┤" || $0 == "+" })
        plotWidth = g.width - tickColumn - 1
    }

    /// The label rows (top, middle, bottom) as the text left of the tick.
    var labels: [String] {
        rows.dropFirst(legendRow + 1).compactMap { row -> String? in
            let u = Array(row.unicodeScalars)
            guard u.count > tickColumn, u[tickColumn] == "┤" || u[tickColumn] == "+" else { return nil }
            return String(String.UnicodeScalarView(u[..<tickColumn])).trimmingCharacters(in: .whitespaces)
        }
    }

    /// Plot rows: everything right of the axis, from the row under the legend to the row above the epoch axis.
    var plot: [[Unicode.Scalar]] {
        let end = rows[(legendRow + 1)...].firstIndex { $0.contains("└") || $0.contains("epoch ") } ?? rows.count
        return rows[(legendRow + 1)..<end].map { row in
            let u = Array(row.unicodeScalars)
            return u.count > tickColumn + 1 ? Array(u[(tickColumn + 1)...]) : []
        }
    }

    func rowsWith(_ predicate: (Unicode.Scalar) -> Bool) -> [Int] {
        plot.indices.filter { plot[$0].contains(where: predicate) }
    }

    static func isBraille(_ s: Unicode.Scalar) -> Bool { (0x2801...0x28FF).contains(s.value) }
}

@Suite("Loss chart: extreme values, axis labels, log y", .ownThread)
struct ChartTests {
    /// A decaying loss with the values that broke the chart mixed in: 1e308, -5.5, NaN and ±Inf.
    static func extremeView() -> JSON {
        Fixture.view(epochs: 60) { n in
            var o = JSONObject([("epoch", JSON(n)), ("train_loss", JSON(2.0 * exp(-Double(n) / 15) + 0.2))])
            switch n {
            case 10: o["train_loss"] = 1e308
            case 20: o["train_loss"] = -5.5
            case 30, 40, 50:  // NaN, +Inf and -Inf all arrive as null plus the nonfinite list
                o["train_loss"] = .null
                o["nonfinite"] = ["train_loss"]
            default: break
            }
            o["val_loss"] = .null
            return o
        }
    }

    @Test("1e308 does not flatten the curve: it is marked ▲ at the top, NaN/Inf are ✕, labels stay finite")
    func extremeValues() throws {
        let s = Fixture.state(Self.extremeView(), width: 100, height: 40)
        let g = ScreenView.render(s)
        let chart = try ChartReading(g)
        // The curve (2.2 down to ~0.2, and the real -5.5) spreads over many rows instead of one.
        let curveRows = chart.rowsWith(ChartReading.isBraille)
        #expect(curveRows.count >= 8, "curve rows \(curveRows)\n\(g.text)")
        // 1e308 is off the scale: a marker on the top row, near epoch 10 of 0…59.
        let top = chart.plot[0]
        let above = try #require(top.firstIndex(of: "▲"), "no ▲ in \(String(String.UnicodeScalarView(top)))")
        #expect(abs(above - chart.plotWidth * 10 / 59) <= 2, "▲ at \(above) of \(chart.plotWidth)")
        // NaN, +Inf and -Inf: three ✕ marks on the top row.
        #expect(top.filter { $0 == "✕" }.count == 3)
        #expect(g.text.contains("1 off-scale ▲"))
        #expect(g.text.contains("3 non-finite ✕"))
        // Labels are whole numbers of the axis, none of them inf, and -5.5 is within it.
        let values = chart.labels.map { Double($0) }
        #expect(values.count == 3 && values.allSatisfy { $0 != nil && $0!.isFinite }, "\(chart.labels)")
        #expect(values.last!! <= -5.5 && values.first!! >= 2.2 && values.first!! < 10, "\(chart.labels)")
    }

    @Test("EMA leaves outliers out of the average: 1e308 stays one marker instead of lifting every later epoch")
    func emaWithOutlier() throws {
        var s = Fixture.state(Self.extremeView(), width: 100, height: 40)
        _ = Update.apply(&s, .key(.char("e")))
        let g = ScreenView.render(s)
        let chart = try ChartReading(g)
        #expect(g.text.contains("1 off-scale ▲"), "\(g.text)")
        #expect(chart.rowsWith(ChartReading.isBraille).count >= 4, "\(g.text)")
        let smoothed = ChartScale.smoothed([1, 1, 1e308, 1, 1], factor: 0.9)
        #expect(smoothed[2] == 1e308)
        #expect([0, 1, 3, 4].allSatisfy { abs(smoothed[$0] - 1) < 1e-12 }, "\(smoothed)")
    }

    @Test("a small ASCII chart with an off-scale value, a NaN and a real negative value, exactly")
    func smallChartFrame() {
        let view = Fixture.view(epochs: 24) { n in
            var o = JSONObject([("epoch", JSON(n)), ("train_loss", JSON(1.0 + Double(n % 4) / 4))])
            if n == 6 { o["train_loss"] = 1e308 }
            if n == 12 {
                o["train_loss"] = .null
                o["nonfinite"] = ["train_loss"]
            }
            if n == 18 { o["train_loss"] = -2 }
            o["val_loss"] = .null
            return o
        }
        var s = Fixture.state(view, width: 40, height: 10, ascii: true)
        s.color = false
        var g = Grid(width: 40, height: 8)
        LossChart.render(s, into: &g, rect: Rect(x: 0, y: 0, width: 40, height: 8))
        // Bounds -3…3 (the real -2 widens them, 1e308 does not): 1e308 is ^ at epoch 6, the NaN ! at 12;
        // the markers o are train_loss's, every 8 cells.
        let expected = [
            "o1-train_loss 1.75  #2-val_loss –",
            " 3 +         ^        !",
            "   | ***** *o*** *********** **  * *o***",
            " 0 +o     *     *           o * * *",
            "   |                           **",
            "   |                           *",
            "-3 +",
            "   +0-------------epoch 11------------23",
        ]
        #expect(g.text == expected.joined(separator: "\n"))
    }

    @Test("log y: non-positive values are counted and marked ▼ at the bottom; labels never read inf")
    func extremeValuesLogY() throws {
        var s = Fixture.state(Self.extremeView(), width: 100, height: 40)
        _ = Update.apply(&s, .key(.char("g")))
        let g = ScreenView.render(s)
        let chart = try ChartReading(g)
        #expect(g.text.contains("log y: 1 ≤0 at ▼"))
        #expect(chart.plot.last!.contains("▼"))
        #expect(chart.plot[0].contains("▲"))
        #expect(!chart.labels.contains { $0.contains("inf") }, "\(chart.labels)")
        #expect(chart.labels.allSatisfy { Double($0).map { $0 > 0 && $0 < 100 } ?? false }, "\(chart.labels)")
        #expect(chart.rowsWith(ChartReading.isBraille).count >= 8)
    }

    /// 12k epochs (many to each dot column) of a noisy loss with values ≤ 0, an outlier and non-finite values.
    static func longView(epochs: Int, lastEventID: Int = 1) -> JSON {
        Fixture.view(epochs: epochs, lastEventID: lastEventID) { n in
            var o = JSONObject([("epoch", JSON(n)), ("train_loss", JSON(2 * exp(-Double(n) / 3000) + 0.3 * sin(Double(n))))])
            if n % 997 == 0 { o["train_loss"] = -0.5 }
            if n == 5000 { o["train_loss"] = 1e300 }
            if n % 1499 == 0 {
                o["train_loss"] = .null
                o["nonfinite"] = ["train_loss"]
            }
            o["val_loss"] = JSON(2 * exp(-Double(n) / 3000) + 0.1)
            return o
        }
    }

    @Test("a frame drawn again from the same epochs (log y, EMA, back) and after a new epoch is the frame drawn afresh")
    func redrawnFromKeptColumns() {
        let base = Self.longView(epochs: 12_000, lastEventID: 1)
        var kept = Fixture.state(base, width: 150, height: 40)
        for keys in ["", "g", "e", "gE", "e"] {
            for k in keys { _ = Update.apply(&kept, .key(.char(k))) }
            var fresh = Fixture.state(base, width: 150, height: 40)
            (fresh.logY, fresh.ema, fresh.emaFactor, fresh.chartBounds) = (kept.logY, kept.ema, kept.emaFactor, kept.chartBounds)
            #expect(Self.chart(kept) == Self.chart(fresh), "after \(keys)")
        }
        // A new epoch far beyond the last one squeezes the curve: the frame is redrawn from the new epochs.
        let before = Self.chart(kept)
        _ = Update.apply(
            &kept,
            .streamEvent([
                "id": 2, "event_type": "job_epoch", "batch_id": "b1", "job_id": "j1", "timestamp": "2026-04-23T09:05:00Z",
                "data": ["epoch": 24_000, "train_loss": 0.2, "val_loss": 0.2],
            ]))
        let after = Self.chart(kept)
        #expect(after != before)
        #expect(after.contains("24000"))
        var fresh = Fixture.state(base, width: 150, height: 40)
        (fresh.logY, fresh.ema, fresh.emaFactor) = (kept.logY, kept.ema, kept.emaFactor)
        fresh.job?.series.upsert(JSONObject([("epoch", 24_000), ("train_loss", 0.2), ("val_loss", 0.2)]))
        fresh.chartBounds = kept.chartBounds
        #expect(after == Self.chart(fresh))
    }

    static func chart(_ s: AppState) -> String {
        var g = Grid(width: 150, height: 24)
        LossChart.render(s, into: &g, rect: Rect(x: 0, y: 0, width: 150, height: 24))
        return g.text
    }

    @Test(
        "values at the ends of Double: labels never read inf or 0, ±1e308 and subnormal values spread over the rows",
        arguments: [
            [1e308, 1.5e308, 1.7e308, 1.79e308, 1.6e308],
            [1e308, -1e308, 1e308, -1e308, 1e308],
            [5e-324, 1e-320, 2e-310, 1e-315, 5e-324],
        ])
    func endsOfDouble(_ values: [Double]) throws {
        let view = Fixture.view(epochs: values.count) { n in
            JSONObject([("epoch", JSON(n)), ("train_loss", JSON(values[n])), ("val_loss", .null)])
        }
        for logY in [false, true] {
            var s = Fixture.state(view, width: 100, height: 30)
            if logY { _ = Update.apply(&s, .key(.char("g"))) }
            let g = ScreenView.render(s)
            let chart = try ChartReading(g)
            let labels = chart.labels.map { Double($0) }
            #expect(
                labels.count == 3 && labels.allSatisfy { $0 != nil && $0!.isFinite && (!logY || $0! > 0) },
                "log y \(logY): \(chart.labels)\n\(g.text)")
            // Linear y: the curve moves between rows (two values per row at most would be a flat line).
            if !logY { #expect(chart.rowsWith(ChartReading.isBraille).count >= 4, "\(g.text)") }
        }
    }

    @Test("log y with nothing above zero says so instead of an empty plot")
    func logYNothingPositive() {
        var s = Fixture.state(
            Fixture.view(epochs: 5) { n in
                JSONObject([("epoch", JSON(n)), ("train_loss", JSON(-Double(n))), ("val_loss", .null)])
            })
        _ = Update.apply(&s, .key(.char("g")))
        #expect(ScreenView.render(s).text.contains("log y: no value above 0 to plot (g switches back to linear)"))
    }

    @Test("lr alone (4e-4): the labels are whole and the gutter fits them")
    func smallConstantLabels() throws {
        let view = Fixture.view(epochs: 20) { n in
            JSONObject([
                ("epoch", JSON(n)), ("train_loss", JSON(1.0 / Double(n + 1))), ("val_loss", 0.5), ("lr", 4e-4),
            ])
        }
        var s = Fixture.state(view, width: 80, height: 30)
        for k in ["1", "2", "3"] { _ = Update.apply(&s, .key(.char(Character(k)))) }
        #expect(s.visibleSeries == ["lr"])
        let bounds = try #require(s.chartBounds)
        let chart = try ChartReading(ScreenView.render(s), legend: "3━lr")
        let expected = [bounds.upperBound, (bounds.upperBound + bounds.lowerBound) / 2, bounds.lowerBound]
        #expect(chart.labels.count == 3)
        for (label, want) in zip(chart.labels, expected) {
            let v = try #require(Double(label), "label '\(label)' is not a number")
            #expect((v - want).magnitude <= want.magnitude * 1e-6, "label \(label) for \(want)")
        }
        #expect(chart.labels.contains("0.0004"))
    }

    @Test("axis labels: shortest distinct form, exponents unpadded")
    func axisLabelFormat() {
        #expect(LossChart.axisLabels([4.2e-4, 4e-4, 3.8e-4]) == ["0.00042", "0.0004", "0.00038"])
        #expect(LossChart.axisLabels([1e308, 5e307, 0]) == ["1e308", "5e307", "0"])
        #expect(LossChart.axisLabels([3.8e-5, 3.7e-5, 3.6e-5]) == ["3.8e-5", "3.7e-5", "3.6e-5"])
        #expect(LossChart.axisLabels([1.0002, 1.0001, 1.0]) == ["1.0002", "1.0001", "1"])
    }

    @Test("the robust range keeps real spikes and drops only far outliers")
    func robustRange() {
        // A 9× spike on a flat curve stays on the chart (the 100k-epoch test relies on it).
        #expect(ChartScale.robustRange([1, 1.01, 0.99, 9, 1, 1.02, 0.98], logY: false) == 0.98...9)
        // A decaying loss keeps its first epochs.
        let decay = (0..<100).map { 10 * exp(-Double($0) / 10) + 0.1 }
        #expect(ChartScale.robustRange(decay, logY: false)?.upperBound == decay[0])
        // One 1e308 among ordinary values is an outlier; so is a huge negative one.
        #expect(ChartScale.robustRange([0.5, 0.4, 1e308, 0.3, -1e300, 0.2], logY: false) == 0.2...0.5)
        #expect(ChartScale.robustRange([], logY: false) == nil)
    }

    @Test("without colour every series wears its own marker, in the legend and along its line")
    func markersWithoutColour() throws {
        var s = Fixture.state(Fixture.view(), width: 120, height: 40)
        s.color = false
        let text = ScreenView.render(s).text
        #expect(text.contains("●1━train_loss") && text.contains("■2━val_loss"))
        let chart = try ChartReading(ScreenView.render(s))
        #expect(chart.rowsWith { $0 == "●" }.count >= 1 && chart.rowsWith { $0 == "■" }.count >= 1)
        // With colour, the line alone is enough.
        s.color = true
        #expect(!ScreenView.render(s).text.contains("●1━"))
    }

    @Test("ASCII: the chart's own glyph table, no stand-ins")
    func asciiChart() throws {
        var s = Fixture.state(Self.extremeView(), width: 100, height: 30, ascii: true)
        s.color = false
        let g = ScreenView.render(s)
        #expect(g.text.unicodeScalars.allSatisfy { $0.value < 0x7F })
        #expect(g.text.contains("1 off-scale ^") && g.text.contains("3 non-finite !"))
        #expect(g.text.contains("o1-train_loss"))
        // Drawn in ASCII in the first place: nothing in the chart fell through to the '?' stand-in.
        let chart = try ChartReading(g)
        #expect(!chart.plot.joined().contains("?") && !chart.rows[chart.legendRow].contains("?"))
        #expect(chart.rowsWith { $0 == "*" }.count >= 5 && chart.plot[0].contains("^"))
        // The legend's note too, with EMA and log y on.
        s.width = 140
        _ = Update.apply(&s, .key(.char("g")))
        var note = try ChartReading(ScreenView.render(s)).rows[chart.legendRow]
        #expect(note.contains("[log y: 1 <=0 at v, 1 off-scale ^, 3 non-finite !]"), "\(note)")
        _ = Update.apply(&s, .key(.char("e")))  // the smoothed curve stays above 0
        note = try ChartReading(ScreenView.render(s)).rows[chart.legendRow]
        #expect(note.contains("[EMA 0.9, log y, 1 off-scale ^, 3 non-finite !]"), "\(note)")
    }
}
