/// GPU figures of a resource snapshot (SPEC §3): with a `gpus` list, util is the mean across the listed
/// GPUs and memory the sum; otherwise the flat `gpu_util_pct` / `gpu_mem_mb` keys.
public struct GPUFigures: Sendable, Equatable {
    public var util: Double?
    public var memMB: Double?
    /// The busiest GPU's util: the idle detector calls a sample idle only when every GPU is idle.
    public var peakUtil: Double?

    public init(_ data: JSONObject) {
        if let gpus = data["gpus"]?.arrayValue, !gpus.isEmpty {
            let utils = gpus.compactMap { $0["util_pct"]?.doubleValue }
            let mems = gpus.compactMap { $0["mem_mb"]?.doubleValue }
            util = utils.isEmpty ? nil : utils.reduce(0, +) / Double(utils.count)
            peakUtil = utils.max()
            memMB = mems.isEmpty ? nil : mems.reduce(0, +)
        }
        if util == nil { util = data["gpu_util_pct"]?.doubleValue }
        if peakUtil == nil { peakUtil = util }
        if memMB == nil { memMB = data["gpu_mem_mb"]?.doubleValue }
    }
}
