import ArgusTUI
import Foundation
import Shared

/// `argus-bench tui-screens [JOBS=50] [OVERLAID=4] [EPOCHS=100000] [WIDTH=200] [HEIGHT=60]`: the time of one
/// frame of the batch screen with JOBS jobs, and of the compare overlay with OVERLAID jobs of EPOCHS epochs each
/// (plus the one-off cost of building the overlay when the jobs' epochs arrive), state → grid, as the TUI draws
/// on every change; and the time to fold a burst of 20,000 streamed log lines on the job screen.
enum TUIScreens {
    static func time(_ reps: Int, _ body: () -> Void) -> [Double] {
        body()  // warm-up
        var samples: [Double] = []
        for _ in 0..<reps {
            let s = DispatchTime.now()
            body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - s.uptimeNanoseconds) / 1e6)
        }
        return samples.sorted()
    }

    static func line(_ name: String, _ samples: [Double], extra: String = "") -> String {
        String(
            format: "%@ median_ms=%.3f p95_ms=%.3f max_ms=%.3f%@", name, samples[samples.count / 2],
            samples[samples.count * 95 / 100], samples.last!, extra)
    }

    static func run(_ args: [String]) {
        func arg(_ i: Int, _ d: Int) -> Int { args.count > i ? Int(args[i]) ?? d : d }
        let (jobs, overlaid, epochs, width, height) = (arg(2, 50), arg(3, 4), arg(4, 100_000), arg(5, 200), arg(6, 60))
        let reps = ProcessInfo.processInfo.environment["ARGUS_BENCH_REPS"].flatMap { Int($0) } ?? 50
        // The batch screen: JOBS rows with every column filled, sorted by val loss.
        let rows: [JSON] = (0..<jobs).map { k in
            let spark: [JSON] = (0..<32).map { JSON(2 * exp(-Double($0) / 8) + Double(k) / 100) }
            return [
                "id": .string("sweep-lr3e-4-seed\(k)"), "batch_id": "b", "model": "resnet50", "status": "running",
                "telemetry": [
                    "status": "running", "epoch": JSON(k * 3), "total_epochs": 200, "elapsed_s": JSON(60 * k),
                    "val_loss": JSON(0.5 + Double(k % 7) / 10), "best_val_loss": JSON(0.4 + Double(k % 5) / 10),
                    "best_val_epoch": JSON(k), "gpu_util_pct": JSON(90 + k % 10), "loss_spark": .array(spark),
                ],
            ]
        }
        var batch = AppState(screen: .jobs("b"))
        (batch.width, batch.height) = (width, height)
        _ = Update.apply(&batch, .jobsLoaded(batchID: "b", rows))
        for _ in 0..<6 { _ = Update.apply(&batch, .key(.char(">"))) }
        print(line("tui_batch_screen jobs=\(jobs) size=\(width)x\(height)", time(reps) { _ = ScreenView.render(batch) }))
        // The overlay: OVERLAID jobs of EPOCHS epochs, each its own curve, fed as the TUI receives them.
        let refs = (0..<overlaid).map { JobRef(batchID: "b", jobID: "seed\($0)") }
        var compare = AppState(screen: .jobs("b"))
        (compare.width, compare.height) = (width, height)
        compare.marked = refs
        _ = Update.apply(&compare, .key(.char("C")))
        var build: [Double] = []
        for (k, ref) in refs.enumerated() {
            var columns = EpochColumns()
            columns.epochs = Array(0..<epochs)
            columns.names = ["train_loss", "val_loss"]
            columns.values = [
                (0..<epochs).map { 2 * exp(-Double($0) / Double(epochs) * 4) + Double(k) / 10 + 0.05 * sin(Double($0)) },
                (0..<epochs).map { 2.1 * exp(-Double($0) / Double(epochs) * 4) + Double(k) / 10 },
            ]
            let view: JSON = [
                "batch": ["id": "b", "status": "running"], "job": ["id": .string(ref.jobID), "status": "running"],
                "epochs": .null, "last_event_id": 1,
            ]
            let s = DispatchTime.now()
            _ = Update.apply(&compare, .compareLoaded(ref, view, epochs: columns))
            build.append(Double(DispatchTime.now().uptimeNanoseconds - s.uptimeNanoseconds) / 1e6)
        }
        precondition(compare.compare?.visibleLabels.count == overlaid)
        // The first frame after the last job arrived works out each job's dot columns (DrawnSeries); later frames of
        // the same epochs (a job hidden, log y, a redraw) reuse them. A resize works them out again: each sample of
        // `resize` is a frame at a width not drawn before.
        let s = DispatchTime.now()
        _ = ScreenView.render(compare)
        let first = Double(DispatchTime.now().uptimeNanoseconds - s.uptimeNanoseconds) / 1e6
        print(
            line(
                "tui_compare jobs=\(overlaid) epochs=\(epochs) size=\(width)x\(height)",
                time(reps) { _ = ScreenView.render(compare) },
                extra: String(format: " arrive_ms=%.1f first_frame_ms=%.1f", build.max() ?? 0, first)))
        var widths = (0..<(reps + 1)).map { width - 1 - $0 % max(1, width / 2) }.makeIterator()
        print(
            line(
                "tui_compare_resized jobs=\(overlaid) epochs=\(epochs)",
                time(reps) {
                    compare.width = widths.next() ?? width
                    _ = ScreenView.render(compare)
                }))
        // A burst of log lines on the job screen (a script that logs every step), folded as the stream delivers them,
        // past the 10,000 lines the screen keeps: what the keys wait on before the next frame.
        let lines = 20_000
        let burst = time(max(3, reps / 10)) {
            var job = AppState(screen: .job)
            (job.width, job.height) = (width, height)
            job.job = JobData(batchID: "b", jobID: "j")
            for i in 0..<lines {
                let e: JSON = [
                    "id": JSON(1 + i), "event_type": "log_line", "batch_id": "b", "job_id": "j",
                    "timestamp": "2026-12-05T09:00:00Z", "data": ["line": JSON("step \(i) loss 0.4213 lr 3e-4"), "level": "info"],
                ]
                _ = Update.apply(&job, .streamEvent(e))
            }
        }
        print(
            line(
                "tui_log_burst lines=\(lines)", burst,
                extra: String(format: " per_line_us=%.2f", burst[burst.count / 2] * 1000 / Double(lines))))
    }
}
