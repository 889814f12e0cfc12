/// GPU figures of a resource snapshot: with a `gpus` list, util is the mean across the listed GPUs
/// and memory is kept per GPU; otherwise the flat `gpu_util_pct` / `gpu_mem_mb` / `gpu_mem_total_mb` keys,
/// which describe GPU 0 (the SDK samples device 0 only).
public struct GPUFigures: Sendable, Equatable {
    /// A GPU under this utilisation (%) is quiet: the server's idle rule (`IdleRule`) and the TUI's GPU words use it.
    public static let idleBelowPct = 5.0

    /// One GPU in a snapshot.
    public struct Device: Sendable, Equatable {
        public var index: Int
        public var memMB: Double?
        public var memTotalMB: Double?
        /// Read from the snapshot only by `readings` (the TUI's GPUs panel); the server's fold keeps memory.
        public var util: Double? = nil
        public var tempC: Double? = nil
    }

    public var util: Double?
    /// The busiest GPU's util: the idle detector calls a sample idle only when every GPU is idle.
    public var peakUtil: Double?
    /// Memory per GPU: what "how close to OOM" is judged by (an OOM happens on one device, not on the sum).
    public var devices: [Device] = []

    /// GPUs read from one snapshot and kept per job (`GPUMemPeaks`): far more than any host has; the ones past it are
    /// ignored. Without a bound the fold was quadratic (40,000 GPUs took the single ingest writer 1.2 s in a release
    /// build, a 16 MB snapshot minutes) and the job's list of GPUs rode on every summary frame of its batch.
    public static let maxDevices = 256

    /// A reading as a figure, or nil when no GPU can have it (a util over 100 %, a negative memory, 1e308, text): the
    /// tiles, the panel and the idle rule then know nothing, rather than show ">999%" or "-1 MiB".
    static func figure(_ value: JSON?, _ range: ClosedRange<Double>) -> Double? {
        value?.doubleValue.flatMap { range.contains($0) ? $0 : nil }
    }
    static let utilRange = 0.0...100.0
    /// MB: up to a petabyte.
    static let memRange = 0.0...1e9
    static let tempRange = -100.0...200.0

    public init(_ data: JSONObject) {
        if let gpus = data["gpus"]?.arrayValue?.prefix(GPUFigures.maxDevices), !gpus.isEmpty {
            let utils = gpus.compactMap { GPUFigures.figure($0["util_pct"], GPUFigures.utilRange) }
            util = utils.isEmpty ? nil : utils.reduce(0, +) / Double(utils.count)
            peakUtil = utils.max()
            devices = GPUFigures.readings(data).map { Device(index: $0.index, memMB: $0.memMB, memTotalMB: $0.memTotalMB) }
        }
        if util == nil { util = GPUFigures.figure(data["gpu_util_pct"], GPUFigures.utilRange) }
        if peakUtil == nil { peakUtil = util }
        if devices.isEmpty {
            let flat = Device(
                index: 0, memMB: GPUFigures.figure(data["gpu_mem_mb"], GPUFigures.memRange),
                memTotalMB: GPUFigures.figure(data["gpu_mem_total_mb"], GPUFigures.memRange))
            if flat.memMB != nil || flat.memTotalMB != nil { devices = [flat] }
        }
    }

    /// Every GPU's readings in one snapshot (util, memory, temperature): the `gpus` list (at most `maxDevices`),
    /// else GPU 0 from the flat `gpu_util_pct` / `gpu_mem_mb` / `gpu_mem_total_mb` / `gpu_temp_c` keys when any
    /// of them is a number; none when the snapshot says nothing about GPUs.
    public static func readings(_ data: JSONObject) -> [Device] {
        if let gpus = data["gpus"]?.arrayValue?.prefix(maxDevices), !gpus.isEmpty {
            return gpus.enumerated().map { i, g in
                Device(
                    index: g["index"]?.intValue.flatMap { $0 >= 0 ? $0 : nil } ?? i,
                    memMB: figure(g["mem_mb"], memRange), memTotalMB: figure(g["mem_total_mb"], memRange),
                    util: figure(g["util_pct"], utilRange), tempC: figure(g["temp_c"], tempRange))
            }
        }
        let flat = Device(
            index: 0, memMB: figure(data["gpu_mem_mb"], memRange), memTotalMB: figure(data["gpu_mem_total_mb"], memRange),
            util: figure(data["gpu_util_pct"], utilRange), tempC: figure(data["gpu_temp_c"], tempRange))
        return [flat.util, flat.memMB, flat.memTotalMB, flat.tempC].contains { $0 != nil } ? [flat] : []
    }
}

/// A job's GPU memory peaks, one per device: the rolling maximum of each GPU's used memory over the
/// snapshots taken while the job ran. The telemetry strip shows the most-loaded GPU against its own
/// capacity, because that is the number that says how close the job is to CUDA out-of-memory; a sum over
/// GPUs would exceed any card's capacity. The server folds snapshots with `observe`; the TUI starts from
/// the server's list and folds live snapshots with the same code.
public struct GPUMemPeaks: Sendable, Equatable {
    public struct Peak: Sendable, Equatable {
        public var index: Int
        public var peakMB: Double?
        public var totalMB: Double?

        public init(index: Int, peakMB: Double?, totalMB: Double?) {
            self.index = index
            self.peakMB = peakMB
            self.totalMB = totalMB
        }
    }

    /// Ordered by GPU index.
    public private(set) var devices: [Peak] = []

    public init(_ devices: [Peak] = []) {
        self.devices = devices.sorted { $0.index < $1.index }
    }

    /// Folds one snapshot in; at most `GPUFigures.maxDevices` GPUs are kept (the first ones seen).
    public mutating func observe(_ g: GPUFigures) {
        var added = false
        for d in g.devices {
            if let i = devices.firstIndex(where: { $0.index == d.index }) {
                if let m = d.memMB { devices[i].peakMB = max(devices[i].peakMB ?? m, m) }
                if let t = d.memTotalMB { devices[i].totalMB = t }
            } else if devices.count < GPUFigures.maxDevices {
                devices.append(Peak(index: d.index, peakMB: d.memMB, totalMB: d.memTotalMB))
                added = true
            }
        }
        if added { devices.sort { $0.index < $1.index } }
    }

    /// The GPU whose memory peaked highest (lowest index on a tie).
    public var mostLoaded: Peak? {
        devices.filter { $0.peakMB != nil }.max { ($0.peakMB!, -$0.index) < ($1.peakMB!, -$1.index) }
    }

    public var peakMB: Double? { mostLoaded?.peakMB }
    /// The capacity of the GPU that peaked highest.
    public var totalMB: Double? { mostLoaded?.totalMB }
    public var count: Int { devices.count }

    // MARK: wire form (`telemetry.gpus` of JobOut; also the server's stored column)

    public var json: JSON {
        .array(
            devices.map {
                ["index": JSON($0.index), "mem_peak_mb": JSON($0.peakMB), "mem_total_mb": JSON($0.totalMB)]
            })
    }

    public init(json: JSON?) {
        self.init(
            (json?.arrayValue ?? []).compactMap { d in
                d["index"]?.intValue.map {
                    Peak(index: $0, peakMB: d["mem_peak_mb"]?.doubleValue, totalMB: d["mem_total_mb"]?.doubleValue)
                }
            })
    }
}

/// Which telemetry belongs to a job: a snapshot taken while it ran (from its start to its end, inclusive).
/// Once a job has ended nothing changes its telemetry, however many later snapshots the batch sends; the
/// server's summary and the TUI's live tiles both ask this one rule.
public enum JobSpan {
    public static func covers(_ ts: Int64, start: Int64?, end: Int64?) -> Bool {
        guard let start, ts >= start else { return false }
        if let end { return ts <= end }
        return true
    }
}
