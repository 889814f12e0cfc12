import Shared

/// The compare overlay: the marked jobs' curves of one metric on one chart, one colour and legend entry per job.
/// Each job's epochs are fetched once (and again every `refreshS` while one of them runs); the overlay series is
/// rebuilt only when they or the metric change, so drawing a frame costs what the job screen's chart costs.
public struct CompareState: Sendable {
    public var refs: [JobRef]
    /// Each job's epoch series and status, once fetched.
    public var loaded: [JobRef: (series: EpochSeries, status: String)] = [:]
    public var failed: [JobRef: String] = [:]
    /// The metric overlaid (`m` chooses another).
    public var metric = "train_loss"
    /// Jobs hidden with their digit key (their legend entry stays, dimmed).
    public var hidden: Set<JobRef> = []
    /// The overlay: one series per job, named by `label`.
    public private(set) var overlay = EpochSeries(overlay: [])
    public var loadedAt: Double?
    /// The screen Esc goes back to.
    public var returnTo: Screen = .batches
    /// The metric chooser's cursor while it is open.
    public var chooserCursor: Int?

    /// The slowest fetch of the last round (seconds).
    public var fetchSeconds = 0.0

    /// Running jobs are fetched again every 10 s, or less often when a round of fetches is slow (big jobs), so
    /// that refreshing never takes more than 0.5% of the time: 200 times the slowest fetch.
    static let refreshS = 10.0
    var refreshDelay: Double { max(CompareState.refreshS, 200 * fetchSeconds) }

    public init(refs: [JobRef]) { self.refs = refs }

    /// What the table calls each job: its id, or `batch/job` where two marked jobs share an id.
    public func label(_ ref: JobRef) -> String {
        refs.filter { $0.jobID == ref.jobID }.count > 1 ? "\(ref.batchID)/\(ref.jobID)" : ref.jobID
    }

    /// What the chart's legend calls each job: its label without the words every label starts with (a sweep's
    /// `resnet50-lr3e-4-seed0`, `…-seed1` become `…seed0`, `…seed1`), so more entries fit on the legend's row.
    /// Labels stay distinct: only whole words (up to a `-`, `_`, `.`, `/` or space) shared by all are dropped.
    public func chartLabel(_ ref: JobRef) -> String {
        let all = refs.map(label)
        let own = label(ref)
        guard all.count > 1, var prefix = all.first.map(Array.init) else { return own }
        for l in all.dropFirst() { prefix = Array(zip(prefix, l).prefix { $0.0 == $0.1 }.map(\.0)) }
        guard let cut = prefix.lastIndex(where: { "-_./ ".contains($0) }), cut >= 3 else { return own }
        return "…" + String(own.dropFirst(cut + 1))
    }

    /// Every metric some loaded job reports, in first-seen order (train_loss and val_loss first).
    public var metrics: [String] {
        var seen: [String] = []
        for r in refs {
            for n in loaded[r]?.series.names ?? [] where !seen.contains(n) { seen.append(n) }
        }
        return seen
    }

    /// The legend names of the jobs drawn.
    public var visibleLabels: [String] { refs.filter { !hidden.contains($0) && loaded[$0] != nil }.map(chartLabel) }

    public var anyRunning: Bool { loaded.values.contains { !JobData.finished.contains($0.status) } }

    public var allAnswered: Bool { refs.allSatisfy { loaded[$0] != nil || failed[$0] != nil } }

    /// Each loaded job's figures for the table under the chart (the metric's latest value and its lowest, with
    /// their epochs), worked out when its epochs or the metric change rather than on every frame.
    public private(set) var figures: [JobRef: (latest: (epoch: Int, value: Double)?, lowest: (epoch: Int, value: Double)?)] =
        [:]

    mutating func rebuild() {
        overlay = EpochSeries(
            overlay: refs.compactMap { r in
                guard let s = loaded[r]?.series, let col = s.column(metric) else { return nil }
                return (chartLabel(r), s.epochs, col)
            })
        figures = [:]
        for r in refs {
            guard let s = loaded[r]?.series else { continue }
            let col = s.column(metric) ?? []
            var latest: (Int, Double)? = nil
            var lowest: (Int, Double)? = nil
            // NaN is "not reported"; +inf is a reported non-finite value (EpochSeries.nonFinite).
            for (e, v) in zip(s.epochs, col) where !v.isNaN {
                latest = (e, v)
                if v.isFinite, v < (lowest?.1 ?? .infinity) { lowest = (e, v) }
            }
            figures[r] = (latest, lowest)
        }
    }

    /// The job-screen state the chart is drawn from: the overlay as the job's series, the visible jobs as its
    /// shown series, the same EMA, log-y and glyph settings. One chart, whatever it plots.
    func chartState(_ s: AppState) -> AppState {
        var c = s
        var job = JobData(batchID: "", jobID: "")
        job.loaded = true
        job.jobStatus = anyRunning ? "running" : "done"
        job.series = overlay
        c.job = job
        // A job whose label is one of the two losses' names is shown the way the losses are.
        c.hiddenSeries = Set(["train_loss", "val_loss"]).subtracting(visibleLabels)
        c.shownExtras = Set(visibleLabels)
        c.chooserCursor = nil
        return c
    }
}
