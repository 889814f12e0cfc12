import ArgusClient
import ArgusTUI
import Foundation
import Shared

/// `argus-bench sse-latency URL TOKEN [SUBSCRIBERS] [EVENTS] [--post-url URL2]`: SSE delivery latency, ingest →
/// subscriber. Each subscriber is a thread with its own libcurl connection; the poster stamps every event with its
/// send time (same clock), and each subscriber records receive − send. Prints p50/p99/max over all deliveries.
/// `--post-url` posts the events to another server than the one subscribed to (a sibling replica), otherwise to URL.
enum SSELatency {
    static func run(_ arguments: [String]) throws {
        var args = arguments
        var postURL: String?
        if let i = args.firstIndex(of: "--post-url") {
            guard i + 1 < args.count else {
                FileHandle.standardError.write(Data("argus-bench sse-latency: --post-url needs a URL.\n".utf8))
                exit(2)
            }
            postURL = args[i + 1]
            args.removeSubrange(i...(i + 1))
        }
        let url = args[2]
        let token = args[3]
        let subs = args.count > 4 ? Int(args[4]) ?? 100 : 100
        let count = args.count > 5 ? Int(args[5]) ?? 300 : 300
        let batch = "lat-\(UInt32.random(in: 0...UInt32.max))"
        let poster = HTTPClient(baseURL: postURL ?? url, token: token)
        func event(_ type: String, _ data: JSON) -> JSON {
            [
                "event_id": .string(UUID().uuidString), "schema_version": "1.1",
                "event_type": .string(type),
                "timestamp": .string(Timestamp.now().iso), "batch_id": .string(batch), "job_id": "j",
                "source": ["project": "bench"],
                "data": data,
            ]
        }
        guard try poster.post("/api/events", json: event("job_start", [:])).status == 200 else {
            throw ClientError(.http, "could not start the batch")
        }

        let shared = Tally()
        var connections: [SSEConnection] = []
        let done = DispatchGroup()
        for _ in 0..<subs {
            let c = SSEConnection(url: url + APIPath.sse([.batch(batch)]), token: token)
            connections.append(c)
            done.enter()
            Thread {
                var got = 0
                _ = c.run(lastEventID: nil) { m in
                    let now = Date().timeIntervalSince1970
                    guard case .event(let e) = m else { return true }
                    if e.type == "hello" {
                        shared.lock.withLock { shared.ready += 1 }
                        return true
                    }
                    if let sent = (try? JSON.parse(e.data))?["data"]?["sent"]?.doubleValue {
                        shared.lock.withLock { shared.latencies.append(now - sent) }
                        got += 1
                    }
                    return got < count
                }
                done.leave()
            }.start()
        }
        while shared.lock.withLock({ shared.ready }) < subs { usleep(5000) }
        var rtts: [Double] = []
        for _ in 0..<count {
            let t0 = Date().timeIntervalSince1970
            _ = try poster.post(
                "/api/events",
                json: event("log_line", ["line": "tick", "level": "info", "sent": .number(t0)]))
            rtts.append(Date().timeIntervalSince1970 - t0)
            usleep(20_000)
        }
        if done.wait(timeout: .now() + 30) == .timedOut { connections.forEach { $0.cancel() } }
        let l = shared.lock.withLock { shared.latencies.sorted() }
        rtts.sort()
        func q(_ a: [Double], _ p: Double) -> Double {
            a.isEmpty ? .nan : a[min(a.count - 1, Int(p * Double(a.count)))] * 1000
        }
        print(
            String(
                format:
                    "sse_latency subscribers=%d deliveries=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f post_rtt_p99_ms=%.2f",
                subs, l.count, q(l, 0.5), q(l, 0.99), (l.last ?? .nan) * 1000, q(rtts, 0.99)))
    }
}

final class Tally: @unchecked Sendable {
    let lock = NSLock()
    var latencies: [Double] = []
    var ready = 0
}
