import Synchronization

/// One dot column of a series as the chart plots it: which rows of the series fall in it, and what the chart needs
/// to know about their values without looking at each again — the first and last finite one, the smallest and
/// largest, and how many are non-finite or (for log y) not above 0. With more epochs than dot columns, a frame
/// draws from these (four points a column) instead of from every epoch; columns with a value off the y range are
/// drawn point by point, so the picture is the same either way.
struct DotColumn: Sendable {
    var dx: Int
    /// The series rows in this column: `start..<end`.
    var start: Int
    var end: Int
    /// The first and last row with a finite value, -1 when there is none.
    var first = -1
    var last = -1
    var minValue = Double.infinity
    var maxValue = -Double.infinity
    /// Values the run reported as NaN or infinite (`EpochSeries.nonFinite`).
    var nonFinite = 0
    /// Finite values <= 0, which log y cannot plot.
    var nonPositive = 0
}

/// What drawing a series works out from its values — the plotted (maybe smoothed) column and its dot columns for
/// a chart width — kept for as long as the series does not change. An `EpochSeries` holds one; changing the
/// series gives it a new one, and copies that share the values share it, so frames that redraw the same data (a
/// key that hides a job, log y, a clock tick) do not walk 100k epochs again.
final class DrawnSeries: Sendable {
    private struct ColumnKey: Hashable {
        var name: String
        var smoothing: Double?
    }
    private struct DotsKey: Hashable {
        var column: ColumnKey
        var dotWidth: Int
    }
    private struct Memo {
        var columns: [ColumnKey: [Double]] = [:]
        var dots: [DotsKey: [DotColumn]] = [:]
    }
    /// Enough for every series of a chart in a few widths and EMA factors; cleared when full.
    private static let capacity = 32
    private let memo = Mutex(Memo())

    func column(_ name: String, smoothing: Double?, make: () -> [Double]) -> [Double] {
        kept(ColumnKey(name: name, smoothing: smoothing), in: \.columns, make: make)
    }

    func dots(_ name: String, smoothing: Double?, dotWidth: Int, make: () -> [DotColumn]) -> [DotColumn] {
        kept(DotsKey(column: ColumnKey(name: name, smoothing: smoothing), dotWidth: dotWidth), in: \.dots, make: make)
    }

    /// The value kept under `key`, or `make()`'s, kept. `make` runs outside the lock.
    private func kept<Key: Hashable, Value: Sendable>(
        _ key: Key, in table: WritableKeyPath<Memo, [Key: Value]> & Sendable, make: () -> Value
    ) -> Value {
        if let hit = memo.withLock({ $0[keyPath: table][key] }) { return hit }
        let made = make()
        memo.withLock {
            if $0[keyPath: table].count >= DrawnSeries.capacity { $0[keyPath: table].removeAll() }
            $0[keyPath: table][key] = made
        }
        return made
    }
}

extension EpochSeries {
    /// The x position (in dots, 0..<dotWidth) of each epoch on a chart `dotWidth` dots wide: the first epoch at the
    /// left edge, the last at the right.
    static func dotX(epochs: EpochNumbers, dotWidth: Int) -> (e0: Double, scale: Double) {
        let e0 = Double(epochs.first!)
        let span = Double(max(1, epochs.last! - epochs.first!))
        return (e0, Double(dotWidth - 1) / span)
    }

    /// A series as plotted (EMA-smoothed with `smoothing` as the factor, raw when nil), worked out once.
    func plotted(_ name: String, smoothing: Double?) -> [Double] {
        let raw = column(name) ?? []
        guard let smoothing else { return raw }
        return drawn.column(name, smoothing: smoothing) { ChartScale.smoothed(raw, factor: smoothing) }
    }

    /// The plotted series' dot columns on a chart `dotWidth` dots wide, in order, only those with a row in them.
    func dotColumns(_ name: String, smoothing: Double?, dotWidth: Int) -> [DotColumn] {
        drawn.dots(name, smoothing: smoothing, dotWidth: dotWidth) {
            let col = plotted(name, smoothing: smoothing)
            var out: [DotColumn] = []
            out.reserveCapacity(min(dotWidth, col.count))
            do {
                col.withUnsafeBufferPointer { col in
                    guard !epochs.isEmpty else { return }
                    let (e0, scale) = EpochSeries.dotX(epochs: epochs, dotWidth: dotWidth)
                    var c = DotColumn(dx: -1, start: 0, end: 0)
                    for i in 0..<min(col.count, epochs.count) {
                        let dx = Int((Double(epochs[i]) - e0) * scale + 0.5)
                        if dx != c.dx {
                            if c.dx >= 0 { out.append(c) }
                            c = DotColumn(dx: dx, start: i, end: i)
                        }
                        c.end = i + 1
                        let v = col[i]
                        if v == EpochSeries.nonFinite {
                            c.nonFinite += 1
                        } else if v.isFinite {
                            if c.first < 0 { c.first = i }
                            c.last = i
                            if v < c.minValue { c.minValue = v }
                            if v > c.maxValue { c.maxValue = v }
                            if v <= 0 { c.nonPositive += 1 }
                        }
                    }
                    if c.dx >= 0 { out.append(c) }
                }
            }
            return out
        }
    }
}
