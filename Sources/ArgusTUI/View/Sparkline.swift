/// A one-row chart of a short series: eight block heights (▁…█), or eight ASCII steps (`_.:-=+*#`) for `--ascii`.
/// Each value falls in one of eight equal bands of `range` (by default the series' own finite minimum to maximum);
/// a missing or non-finite value is a gap. More values than columns: each column shows the mean of its share.
/// The batch screen's loss column and the GPUs panel's util history both draw with it.
enum Sparkline {
    static let blocks: [Unicode.Scalar] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiSteps: [Unicode.Scalar] = ["_", ".", ":", "-", "=", "+", "*", "#"]

    static func render(_ values: [Double], width: Int, ascii: Bool, range: ClosedRange<Double>? = nil) -> String {
        guard width > 0, !values.isEmpty else { return "" }
        let columns = reduce(values, to: width)
        let finite = columns.filter(\.isFinite)
        guard let lo = range?.lowerBound ?? finite.min(), let hi = range?.upperBound ?? finite.max() else {
            return String(repeating: " ", count: columns.count)
        }
        let steps = ascii ? asciiSteps : blocks
        var out = String.UnicodeScalarView()
        for v in columns {
            guard v.isFinite else {
                out.append(" ")
                continue
            }
            // A flat series sits in the middle rather than on the floor. Clamped as a Double first: `Int(1e308)`
            // would trap on a nonsense figure from the network.
            let f = hi > lo ? (v - lo) / (hi - lo) : 0.5
            out.append(steps[Int(min(Double(steps.count - 1), max(0, f * Double(steps.count))))])
        }
        return String(out)
    }

    /// Means of `width` even shares of `values` (its finite members; NaN where a share has none).
    static func reduce(_ values: [Double], to width: Int) -> [Double] {
        guard values.count > width else { return values }
        return (0..<width).map { c in
            let a = c * values.count / width
            let b = max(a + 1, (c + 1) * values.count / width)
            let share = values[a..<b].filter(\.isFinite)
            return share.isEmpty ? .nan : share.reduce(0, +) / Double(share.count)
        }
    }
}
