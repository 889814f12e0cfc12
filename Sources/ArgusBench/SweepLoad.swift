import ArgusClient
import Foundation
import Shared

/// Helpers for bench/sweep.sh (retention sweep under ingest load).
enum SweepLoad {
    /// `argus-bench fill URL TOKEN N DAYS_AGO`: stores N log lines stamped DAYS_AGO days back, 500 per request,
    /// from four threads. Prints the time it took.
    static func fill(_ args: [String]) throws {
        let (url, token) = (args[2], args[3])
        let n = Int(args[4]) ?? 1_000_000
        let daysAgo = Double(args[5]) ?? 30
        let batch = "old-\(UInt32.random(in: 0...UInt32.max))"
        let baseUs = Timestamp.now().micros - Int64(daysAgo * 86_400_000_000)
        let requests = (n + 499) / 500
        let next = Counter()
        let failures = Counter()
        let t0 = Date()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread {
                let client = HTTPClient(baseURL: url, token: token, timeout: 60)
                while case let r = next.take(), r < requests {
                    var body: [UInt8] = Array(#"{"events":["#.utf8)
                    let count = min(500, n - r * 500)
                    for i in 0..<count {
                        let k = r * 500 + i
                        if i > 0 { body.append(UInt8(ascii: ",")) }
                        let ts = Timestamp(micros: baseUs + Int64(k) * 1000).iso
                        body.append(
                            contentsOf: """
                                {"event_id":"\(batch)-\(k)","schema_version":"1.1","event_type":"log_line","timestamp":"\(ts)",\
                                "batch_id":"\(batch)","job_id":"j","source":{"project":"bench","host":"gpu-1"},\
                                "data":{"line":"step \(k): loss 0.\(k % 9973) lr 3e-4 throughput 1234 img/s","level":"info"}}
                                """.utf8)
                    }
                    body.append(contentsOf: "]}".utf8)
                    let ok = (try? client.request("POST", "/api/events/batch", body: body).status) == 200
                    if !ok { _ = failures.take() }
                }
                group.leave()
            }.start()
        }
        group.wait()
        print(String(format: "filled %d log lines in %.1f s (%d failed requests)", n, Date().timeIntervalSince(t0), failures.value))
    }

    /// `argus-bench ingest-load URL TOKEN OUT STOPFILE [CLIENTS=4] [INTERVAL_MS=50] [EVENTS=50]`: each client
    /// posts EVENTS fresh events every INTERVAL_MS on a fixed schedule until STOPFILE exists, and writes
    /// `scheduled_epoch_s,latency_ms,status` per request to OUT. Latency counts from the scheduled send time,
    /// so a stalled server cannot hide its stall by delaying the requests that would have measured it.
    static func load(_ args: [String]) throws {
        let (url, token, out, stopFile) = (args[2], args[3], args[4], args[5])
        let clients = args.count > 6 ? Int(args[6]) ?? 4 : 4
        let intervalS = (args.count > 7 ? Double(args[7]) ?? 50 : 50) / 1000
        let perRequest = args.count > 8 ? Int(args[8]) ?? 50 : 50
        let rows = Rows()
        let group = DispatchGroup()
        let run = UInt32.random(in: 0...UInt32.max)
        for c in 0..<clients {
            group.enter()
            Thread {
                let client = HTTPClient(baseURL: url, token: token, timeout: 60)
                let batch = "live-\(run)-\(c)"
                var scheduled = Date().timeIntervalSince1970 + Double(c) * intervalS / Double(clients)
                var k = 0
                while !FileManager.default.fileExists(atPath: stopFile) {
                    let now = Date().timeIntervalSince1970
                    if scheduled > now { usleep(UInt32((scheduled - now) * 1_000_000)) }
                    var events: [JSON] = []
                    for _ in 0..<perRequest {
                        k += 1
                        let ts = JSON.string(Timestamp.now().iso)
                        let (type, data): (String, JSON) =
                            switch k % 5 {
                            case 0: ("job_epoch", ["epoch": JSON(k), "train_loss": 0.5, "val_loss": 0.6])
                            case 1: ("resource_snapshot", ["gpu_util_pct": 91, "gpu_mem_mb": 40000])
                            default: ("log_line", ["line": .string("live step \(k)"), "level": "info"])
                            }
                        events.append([
                            "event_id": .string("\(batch)-\(k)"), "schema_version": "1.1", "event_type": .string(type),
                            "timestamp": ts, "batch_id": .string(batch), "job_id": type == "resource_snapshot" ? .null : "j",
                            "source": ["project": "bench", "host": "gpu-1"], "data": data,
                        ])
                    }
                    let status = (try? client.post("/api/events/batch", json: ["events": .array(events)]).status) ?? 0
                    let done = Date().timeIntervalSince1970
                    rows.add(String(format: "%.6f,%.3f,%d", scheduled, (done - scheduled) * 1000, status))
                    scheduled += intervalS
                }
                group.leave()
            }.start()
        }
        group.wait()
        try (rows.all.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func take() -> Int {
        lock.withLock {
            defer { n += 1 }; return n
        }
    }
    var value: Int { lock.withLock { n } }
}

final class Rows: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [String] = []
    func add(_ r: String) { lock.withLock { rows.append(r) } }
    var all: [String] { lock.withLock { rows } }
}
