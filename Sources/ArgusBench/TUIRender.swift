import ArgusTUI
import Foundation
import Shared

/// `argus-bench tui-render [EPOCHS] [WIDTH] [HEIGHT]`: time of one job-screen frame (state → grid), as the
/// TUI does on every change. The data: EPOCHS epochs with train/val loss and two extra series, 200 log lines.
enum TUIRender {
    static func run(_ args: [String]) {
        let epochs = args.count > 2 ? Int(args[2]) ?? 100_000 : 100_000
        let width = args.count > 3 ? Int(args[3]) ?? 200 : 200
        let height = args.count > 4 ? Int(args[4]) ?? 60 : 60
        var rows: [JSON] = []
        rows.reserveCapacity(epochs)
        for n in 0..<epochs {
            let x = Double(n)
            rows.append([
                "epoch": JSON(n), "train_loss": JSON(2 * exp(-x / Double(epochs) * 4) + 0.05 * sin(x)),
                "val_loss": JSON(2.1 * exp(-x / Double(epochs) * 4) + 0.1),
                "lr": JSON(3e-4), "val_acc": JSON(0.5 + 0.4 * x / Double(epochs)),
            ])
        }
        let logs: [JSON] = (0..<200).map {
            [
                "id": JSON(200 - $0), "ts": "2026-04-23T09:00:00Z", "level": "info",
                "line": .string("log line \(200 - $0)"),
            ]
        }
        let view: JSON = [
            "batch": ["id": "b", "status": "running"],
            "job": ["id": "j", "status": "running", "telemetry": ["status": "running"]],
            "epochs": .array(rows), "log_tail": .array(logs),
            "env_snapshot": ["command": "python train.py"], "actions": [:], "last_event_id": 1,
        ]
        var state = AppState(screen: .job)
        state.width = width
        state.height = height
        let t0 = DispatchTime.now()
        _ = Update.apply(&state, .viewLoaded(view))
        let load = Double(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds) / 1e6
        _ = ScreenView.render(state)  // warm-up
        var samples: [Double] = []
        for _ in 0..<(ProcessInfo.processInfo.environment["ARGUS_BENCH_REPS"].flatMap { Int($0) } ?? 50) {
            let s = DispatchTime.now()
            let g = ScreenView.render(state)
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - s.uptimeNanoseconds) / 1e6)
            precondition(g.width == width)
        }
        samples.sort()
        print(
            String(
                format:
                    "tui_render epochs=%d size=%dx%d median_ms=%.3f p95_ms=%.3f max_ms=%.3f load_view_ms=%.1f",
                epochs, width, height, samples[samples.count / 2], samples[samples.count * 95 / 100],
                samples.last!, load))
    }
}
