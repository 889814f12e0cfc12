import Foundation

/// Benchmarks that need real code paths rather than timed unit tests; bench/*.sh drive them and print tables.
@main
struct ArgusBench {
    static func main() {
        do {
            try run(CommandLine.arguments)
        } catch let e as BenchUsage {
            FileHandle.standardError.write(Data("argus-bench \(e.description)\n".utf8))
            exit(2)
        } catch {
            FileHandle.standardError.write(Data("argus-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func run(_ args: [String]) throws {
        switch args.count > 1 ? args[1] : "" {
        case "sse-latency" where args.count >= 4: try SSELatency.run(args)
        case "tui-render": TUIRender.run(args)
        case "tui-screens": TUIScreens.run(args)
        case "tui-load" where args.count >= 5: try TUILoad.run(args)
        case "fill" where args.count >= 6: try SweepLoad.fill(args)
        case "ingest-load" where args.count >= 6: try SweepLoad.load(args)
        case "load" where args.count >= 5: try LoadTest.run(args)
        case "soak" where args.count >= 5: try Soak.run(args)
        case "lone" where args.count >= 5: try LoneRequests.run(args)
        case "raw-sqlite" where args.count >= 3: try RawSQLite.run(args)
        default:
            FileHandle.standardError.write(
                Data(
                    "usage: argus-bench sse-latency URL TOKEN [SUBSCRIBERS=100] [EVENTS=300] [--post-url URL]\n       argus-bench tui-render [EPOCHS=100000] [WIDTH=200] [HEIGHT=60]\n       argus-bench tui-screens [JOBS=50] [OVERLAID=4] [EPOCHS=100000] [WIDTH=200] [HEIGHT=60]\n       argus-bench tui-load URL TOKEN BATCH/JOB [REPS=5]\n       argus-bench fill URL TOKEN N DAYS_AGO\n       argus-bench ingest-load URL TOKEN OUT STOPFILE [CLIENTS=4] [INTERVAL_MS=50] [EVENTS=50]\n       argus-bench load URL TOKEN SERVER_PID [SECONDS=60] [SUBSCRIBERS=500] [RATE=10000] [BATCHES=50] [PER_REQUEST=50]\n       argus-bench soak URL[,URL…] TOKEN PID[,PID…] [SECONDS=600] [RUNS=1000] [VIEWERS=100] [SAMPLE_S=60]\n       argus-bench lone URL TOKEN PID [REQUESTS=5000] [URL2 TOKEN2 PID2]\n       argus-bench raw-sqlite SERVER_DB [PER_COMMIT=500]\n"
                        .utf8))
            exit(2)
        }
    }
}

/// Arguments that do not make a benchmark: one sentence, exit status 2.
struct BenchUsage: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
