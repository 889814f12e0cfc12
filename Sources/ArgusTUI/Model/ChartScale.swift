import FoundationEssentials
import Glibc

/// How the loss chart maps values to rows: what is plotted (EMA, log y), over which y range, and which
/// values fall off that range. It lives in the model because `Update` keeps the range stable between frames.
public enum ChartScale {
    /// The EMA smoothing factors `E` cycles through, as W&B and TensorBoard name them: the weight on the previous
    /// smoothed value (EMA alpha is 1 − factor). Written once here; the legend, the status line and the help say them.
    public static let smoothingFactors: [Double] = [0.6, 0.8, 0.9, 0.95, 0.99]
    public static let defaultSmoothing = 0.9

    /// The factor after `factor` in `smoothingFactors`, round again after the last (the first for one not listed).
    public static func nextSmoothing(after factor: Double) -> Double {
        guard let i = smoothingFactors.firstIndex(of: factor) else { return smoothingFactors[0] }
        return smoothingFactors[(i + 1) % smoothingFactors.count]
    }

    /// A factor as the legend and status line write it: `0.9`, `0.95`.
    public static func label(_ factor: Double) -> String { cFormat("%g", factor) }

    /// A value further than this many spreads beyond the bulk of its series is off-scale: drawn as a marker at
    /// the edge instead of stretching the axis, so one 1e308 spike cannot flatten the curve. The spread is
    /// at least the series' typical magnitude (one decade on log y), so real spikes of a few times the
    /// loss stay on the chart.
    static let outlierSpreads = 10.0

    /// A value as plotted (log10 when asked); nil when it cannot be drawn on this scale.
    @inline(__always) static func plotted(_ v: Double, logY: Bool) -> Double? {
        guard v.isFinite else { return nil }
        if logY { return v > 0 ? log10(v) : nil }
        return v
    }

    /// EMA of the finite values with smoothing `factor` (the weight on the previous value), debiased as TensorBoard
    /// and W&B do: the average starts from 0 and is divided by 1 − factor^n, so the first epochs are the mean of
    /// what came so far instead of clinging to the first value (at 0.99 that took a hundred epochs). Outliers (see
    /// `robustRange`) pass through unsmoothed and stay out of the average, so one 1e308 is still marked
    /// off-scale but does not drag the next thousand epochs with it.
    public static func smoothed(_ col: [Double], factor: Double) -> [Double] {
        var out = col
        var acc = 0.0
        var weight = 1.0
        let usual = robustRange(col.filter(\.isFinite), logY: false)
        for i in col.indices {
            let v = col[i]
            guard v.isFinite, usual?.contains(v) ?? true else { continue }
            acc = acc * factor + (1 - factor) * v
            weight *= factor
            out[i] = acc / (1 - weight)
        }
        return out
    }

    /// The range the visible series need, each series without its outliers; nil when nothing can be plotted.
    /// `smoothing` is the EMA factor (`AppState.smoothing`), nil for the raw values.
    public static func dataRange(_ data: EpochSeries, series: [String], smoothing: Double?, logY: Bool)
        -> ClosedRange<Double>?
    {
        var lo = Double.infinity
        var hi = -Double.infinity
        for name in series {
            guard
                let r = robustRange(
                    data.plotted(name, smoothing: smoothing).compactMap { plotted($0, logY: logY) }, logY: logY)
            else { continue }
            lo = min(lo, r.lowerBound)
            hi = max(hi, r.upperBound)
        }
        return lo <= hi ? lo...hi : nil
    }

    /// The smallest and largest of `values` inside the outlier fences (see `outlierSpreads`). The bulk is
    /// the 10th to 90th percentile, taken by rank so that a single extreme value never moves it; for long
    /// series it is estimated from an even sample, so a new epoch on a 100k-epoch job stays cheap.
    static func robustRange(_ values: [Double], logY: Bool) -> ClosedRange<Double>? {
        guard !values.isEmpty else { return nil }
        let step = values.count / 4096 + 1
        let v = stride(from: 0, to: values.count, by: step).map { values[$0] }.sorted()
        let n = v.count
        let q10 = v[Int((0.1 * Double(n - 1)).rounded(.up))]
        let q90 = v[Int((0.9 * Double(n - 1)).rounded(.down))]
        let bulk = min(q10, q90)...max(q10, q90)
        let median = v[(n - 1) / 2]
        let spread = max(bulk.upperBound - bulk.lowerBound, logY ? 1 : abs(median), 1e-300)
        let fenceLo = bulk.lowerBound - outlierSpreads * spread
        let fenceHi = bulk.upperBound + outlierSpreads * spread
        var lo = Double.infinity
        var hi = -Double.infinity
        for x in values where x >= fenceLo && x <= fenceHi {
            if x < lo { lo = x }
            if x > hi { hi = x }
        }
        return lo <= hi ? lo...hi : nil
    }

    /// The plotted values a label can name: Double's own range, and on log y the powers of 10 it holds (from the
    /// smallest subnormal to just under the largest value, as 10^log10(max) rounds to inf), so no axis label reads
    /// `inf` or `0`.
    static func drawable(logY: Bool) -> ClosedRange<Double> {
        logY
            ? log10(Double.leastNonzeroMagnitude)...log10(Double.greatestFiniteMagnitude * 0.999)
            : -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude
    }

    /// Bounds with ~10% headroom snapped to round numbers, inside what can be drawn and labelled (`drawable`); kept
    /// while the data still fills a third of them.
    public static func stableBounds(previous: ClosedRange<Double>?, data: ClosedRange<Double>, logY: Bool)
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
        // Near the ends of Double the rounding can overflow: fall back to the data itself.
        let snapped =
            lo.isFinite && hi.isFinite && step.isFinite && lo + step > lo
            ? lo...max(hi, lo + step) : data.lowerBound...max(data.upperBound, data.lowerBound.nextUp)
        let limit = drawable(logY: logY)
        let (keptLo, keptHi) = (max(snapped.lowerBound, limit.lowerBound), min(snapped.upperBound, limit.upperBound))
        return keptLo < keptHi ? keptLo...keptHi : snapped
    }

    static func niceStep(_ raw: Double) -> Double {
        let mag = pow(10, floor(log10(raw)))
        let f = raw / mag
        let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10
        return nice * mag
    }
}
