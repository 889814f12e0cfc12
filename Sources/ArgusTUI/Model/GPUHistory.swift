import FoundationEssentials
import Shared

/// The job's recent resource snapshots, as the GPUs panel shows them: each GPU's latest readings and its util
/// over the last snapshots. Filled from `GET /api/batches/{b}/resources?job_id=` when the panel first opens
/// (`Effect.fetchGPUHistory`), and from the resource_snapshot events of the job's stream (kept whether the panel
/// is open or not, so it is current when it opens). Snapshots are keyed by their event id: the fetched page and
/// the stream may overlap (and a reconnect replays), and none is counted twice.
public struct GPUHistory: Sendable, Equatable {
    public struct Sample: Sendable, Equatable {
        public var id: Int64
        /// Unix seconds.
        public var ts: Double?
        public var devices: [GPUFigures.Device]
    }

    /// Snapshots kept (and asked for): more than the widest sparkline needs; at the simulator's 3 s, 12 minutes.
    public static let capacity = 240

    /// Oldest first, by the time each was taken (then by id): a snapshot a spill file delivers late goes where it
    /// belongs, and the newest reading is the one taken last, not the one that arrived last.
    public private(set) var samples: [Sample] = []
    /// The history has been asked for (once per job).
    public var requested = false
    /// The asked-for history has arrived (or failed: then `failure` says why, and the live snapshots still count).
    public var loaded = false
    public var failure: String?

    public init() {}

    /// Adds one snapshot (a resources row or a resource_snapshot event's `data`) unless it is known already or
    /// says nothing about GPUs.
    public mutating func add(id: Int64, ts: Double?, data: JSONObject) {
        let devices = GPUFigures.readings(data)
        guard !devices.isEmpty else { return }
        guard !samples.contains(where: { $0.id == id }) else { return }
        // Usually the newest; a fetched page arrives older than the live ones already kept.
        func key(_ ts: Double?, _ id: Int64) -> (Double, Int64) { (ts ?? -.infinity, id) }
        var at = samples.count
        while at > 0 && key(samples[at - 1].ts, samples[at - 1].id) > key(ts, id) { at -= 1 }
        samples.insert(Sample(id: id, ts: ts, devices: devices), at: at)
        if samples.count > GPUHistory.capacity { samples.removeFirst(samples.count - GPUHistory.capacity) }
    }

    /// A page of `/resources` rows (newest first, as the server sends them).
    public mutating func add(rows: [JSON]) {
        for row in rows.reversed() {
            guard let o = row.objectValue, let id = o["id"]?.intValue else { continue }
            add(id: Int64(id), ts: o["ts"]?.stringValue.flatMap { Timestamp(iso: $0)?.seconds }, data: o)
        }
    }

    /// The GPUs the newest snapshot reports, ascending: one an older snapshot had and the newest lacks (the run
    /// restarted on fewer, or with other `CUDA_VISIBLE_DEVICES`) is no longer the job's, and its last readings
    /// would read as current.
    public var indices: [Int] {
        Array(Set(samples.last?.devices.map(\.index) ?? [])).sorted()
    }

    /// GPU `index`'s readings in the newest snapshot that has it.
    public func latest(_ index: Int) -> GPUFigures.Device? {
        for s in samples.reversed() {
            if let d = s.devices.first(where: { $0.index == index }) { return d }
        }
        return nil
    }

    /// GPU `index`'s util in the last `count` snapshots, oldest first; nil where a snapshot has no util for it.
    public func utilHistory(_ index: Int, last count: Int) -> [Double?] {
        samples.suffix(max(0, count)).map { s in s.devices.first { $0.index == index }?.util }
    }
}
