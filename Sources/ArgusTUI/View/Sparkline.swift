/// A one-row chart of a short series: eight block heights (▁…█), or ASCII steps (`_.-=*#`) for `--ascii`.
/// Values are scaled between the series' own finite minimum and maximum; a missing or non-finite value is a
/// gap. More values than columns: each column shows the mean of its share; fewer: the series keeps its width.
enum Sparkline {
    static let blocks: [Unicode.Scalar] = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    static let asciiSteps: [Unicode.Scalar] = ["_", ".", "-", "=", "*", "#"]

    static func render(_ values: [Double], width: Int, ascii: Bool) -> String {
        guard width > 0, !values.isEmpty else { return "" }
        let columns = reduce(values, to: width)
        let finite = columns.filter(\.isFinite)
        guard let lo = finite.min(), let hi = finite.max() else { return "" }
        let steps = ascii ? asciiSteps : blocks
        var out = String.UnicodeScalarView()
        for v in columns {
            guard v.isFinite else {
                out.append(" ")
                continue
            }
            // A flat series sits in the middle rather than on the floor.
            let f = hi > lo ? (v - lo) / (hi - lo) : 0.5
            out.append(steps[min(steps.count - 1, Int(f * Double(steps.count - 1) + 0.5))])
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
