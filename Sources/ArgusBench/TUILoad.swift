import ArgusClient
import ArgusTUI
import Foundation
import Shared

/// `argus-bench tui-load URL TOKEN BATCH/JOB [REPS=5]`: where the TUI's first frame of a job goes, step by step,
/// for the epochs as rows (`/view`) and as columns (`/view?epochs=columns`, what the TUI asks for): the request
/// (the server reading the job and building the reply, plus the transfer), parsing the reply, building the
/// screen's state, and rendering the frame. Medians of REPS, in ms, one line per form.
enum TUILoad {
    static func run(_ args: [String]) throws {
        let (url, token) = (args[2], args[3])
        let target = args[4].split(separator: "/", maxSplits: 1).map(String.init)
        guard target.count == 2 else { throw BenchUsage("tui-load wants BATCH/JOB, got '\(args[4])'.") }
        let reps = args.count > 5 ? max(1, Int(args[5]) ?? 5) : 5
        let client = HTTPClient(baseURL: url, token: token, timeout: 60)
        func ms(_ since: DispatchTime) -> Double { Double(DispatchTime.now().uptimeNanoseconds - since.uptimeNanoseconds) / 1e6 }
        for columns in [false, true] {
            var steps: [[Double]] = [[], [], [], []]
            var bytes = 0
            for _ in 0..<reps {
                var t = DispatchTime.now()
                let reply = try client.get(APIPath.view(target[0], target[1], epochColumns: columns))
                guard reply.status == 200 else { throw BenchUsage("GET view → \(reply.status): \(reply.detail)") }
                steps[0].append(ms(t))
                bytes = reply.body.count
                t = DispatchTime.now()
                let action: Action
                if columns {
                    guard case .object(var view) = try JSON.parse(reply.body, rawMembers: ["epochs"]),
                        case .raw(let raw)? = view["epochs"]
                    else { throw BenchUsage("no epochs in the view") }
                    let decoded = try EpochColumns(decoding: raw)
                    view["epochs"] = .null
                    action = .viewLoaded(.object(view), epochs: decoded)
                } else {
                    action = .viewLoaded(try JSON.parse(reply.body))
                }
                steps[1].append(ms(t))
                var state = AppState(screen: .job)
                (state.width, state.height) = (200, 60)
                t = DispatchTime.now()
                _ = Update.apply(&state, action)
                steps[2].append(ms(t))
                t = DispatchTime.now()
                _ = ScreenView.render(state)
                steps[3].append(ms(t))
            }
            let med = steps.map { $0.sorted()[$0.count / 2] }
            print(
                "tui_load form=\(columns ? "columns" : "rows") bytes=\(bytes) request_ms=\(fmt(med[0])) parse_ms=\(fmt(med[1]))"
                    + " state_ms=\(fmt(med[2])) render_ms=\(fmt(med[3])) total_ms=\(fmt(med.reduce(0, +)))")
        }
    }

    static func fmt(_ d: Double) -> String { String(format: "%.1f", d) }
}
