import Shared

/// The compare overlay: the marked jobs' curves of one metric on one chart, one colour and legend entry per job.
/// Each job's epochs are fetched once (and again every `refreshS` while one of them runs); the overlay series is
/// rebuilt only when they or the metric change, so drawing a frame costs what the job screen's chart costs.
public struct CompareState: Sendable {
    public var refs: [JobRef]
    /// Each job's epoch series and status, and what its summary keeps, once fetched.
    public var loaded: [JobRef: (series: EpochSeries, status: String, kept: Kept)] = [:]

    /// What the server keeps of a job whatever retention deleted (its telemetry): the latest losses at its latest
    /// epoch and the lowest val_loss. The table shows these for the two losses, as the job and batch screens do, so
    /// a job whose early epochs were purged does not read a lowest the server knows was beaten.
    public struct Kept: Sendable {
        var epoch: Int?
        var trainLoss: Double?
        var valLoss: Double?
        var bestVal: (epoch: Int, value: Double)?

        init(_ data: JobData) {
            epoch = data.epoch
            trainLoss = data.trainLoss
            valLoss = data.valLoss
            if let v = data.bestValLoss, let e = data.bestValEpoch { bestVal = (e, v) }
        }
    }
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

    /// Each job's table and legend names, worked out once (the jobs compared do not change while it is open).
    private let labels: [JobRef: (table: String, chart: String)]

    /// `cutMark`: what stands for the dropped words in the legend ("…", or "..." with `--ascii`, where "…" would
    /// become a "." that reads as part of the name).
    public init(refs: [JobRef], cutMark: String = "…") {
        self.refs = refs
        // The table: a job's id, or `batch/job` where two marked jobs share an id.
        let table = refs.map { r in refs.filter { $0.jobID == r.jobID }.count > 1 ? "\(r.batchID)/\(r.jobID)" : r.jobID }
        // The legend: without the words every name starts with (a sweep's `resnet50-lr3e-4-seed0`, `…-seed1` become
        // `…seed0`, `…seed1`), so more entries fit on its row. Only whole words (up to a `-`, `_`, `.`, `/` or space)
        // shared by all are dropped, so the names stay distinct.
        var prefix = table.first.map(Array.init) ?? []
        for l in table.dropFirst() { prefix = Array(zip(prefix, l).prefix { $0.0 == $0.1 }.map(\.0)) }
        let cut = table.count > 1 ? prefix.lastIndex(where: { "-_./ ".contains($0) }).flatMap { $0 >= 3 ? $0 : nil } : nil
        labels = Dictionary(
            zip(refs, table.map { t in (t, cut.map { cutMark + String(t.dropFirst($0 + 1)) } ?? t) }),
            uniquingKeysWith: { a, _ in a })
    }

    /// What the table calls a job.
    public func label(_ ref: JobRef) -> String { labels[ref]?.table ?? ref.jobID }

    /// What the chart's legend calls a job (its series name on the overlay).
    public func chartLabel(_ ref: JobRef) -> String { labels[ref]?.chart ?? ref.jobID }

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
    /// Every job loaded and finished: nothing more will come, so the overlay follows nothing.
    public var isFinal: Bool { allAnswered && failed.isEmpty && !anyRunning }

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
            guard let (s, _, kept) = loaded[r] else { continue }
            let col = s.column(metric) ?? []
            var latest: (epoch: Int, value: Double)? = nil
            var lowest: (epoch: Int, value: Double)? = nil
            // NaN is "not reported"; +inf is a reported non-finite value (EpochSeries.nonFinite).
            for (e, v) in zip(s.epochs, col) where !v.isNaN {
                latest = (e, v)
                if v.isFinite, v < (lowest?.1 ?? .infinity) { lowest = (e, v) }
            }
            // The losses as the server keeps them (the rows may be purged, or fewer than it saw).
            let keptLatest = metric == "train_loss" ? kept.trainLoss : metric == "val_loss" ? kept.valLoss : nil
            if let value = keptLatest, let epoch = kept.epoch { latest = (epoch, value) }
            if metric == "val_loss", let best = kept.bestVal { lowest = best }
            figures[r] = (latest, lowest)
        }
    }

    /// The job-screen state the chart is drawn from: the overlay as the job's series, the visible jobs as its
    /// shown series, the same EMA, log-y and glyph settings. One chart, whatever it plots.
    func chartState(_ s: AppState) -> AppState {
        var c = s
        var job = JobData(batchID: "", jobID: "")
        job.loaded = true
        job.jobStatus = anyRunning ? RunStatus.running : RunStatus.done
        job.series = overlay
        c.job = job
        // A job whose label is one of the two losses' names is shown the way the losses are.
        c.hiddenSeries = Set(["train_loss", "val_loss"]).subtracting(visibleLabels)
        c.shownExtras = Set(visibleLabels)
        c.chooserCursor = nil
        return c
    }
}
