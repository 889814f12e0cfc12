import ArgusClient
import Foundation
import Shared
import TestSupport

/// Clients that post events until told to stop, remembering what the server acknowledged and every request it
/// refused. With `batchSize` 1 each posts single events (`POST /api/events`); with more, batches of that many
/// (`POST /api/events/batch`). `lineBytes` pads the log lines (a third of the events), to fill a disk sooner.
final class Ingesters: @unchecked Sendable {
    /// A request the server did not answer with 200: its status, `detail`, `Retry-After`, and the events it held.
    struct Refusal: Sendable {
        var status: Int
        var detail: String
        var retryAfter: String?
        var events: [JSON]
        var eventIDs: [String] { events.map { $0["event_id"]!.stringValue! } }
    }

    private let lock = NSLock()
    private var acked: [String: Int64] = [:]
    private var refused: [Refusal] = []
    private var running = true
    private var threads: [Thread] = []
    private let done = DispatchGroup()

    init(url: String, token: String, clients: Int, batch: String, batchSize: Int = 1, lineBytes: Int = 0) {
        let padding = String(repeating: "x", count: lineBytes)
        for k in 0..<clients {
            done.enter()
            let t = Thread { [self] in
                defer { done.leave() }
                let c = HTTPClient(baseURL: url, token: token, timeout: 5)
                var n = 0
                while lock.withLock({ running }) {
                    let events = (0..<batchSize).map { _ in
                        defer { n += 1 }
                        return n % 3 == 2
                            ? Ev.make("log_line", batch: batch, job: "j\(k)", data: ["line": .string("line \(n) \(padding)")])
                            : Ev.epoch(batch, "j\(k)", n)
                    }
                    let ids = events.map { $0["event_id"]!.stringValue! }
                    let answer =
                        batchSize == 1
                        ? try? c.post("/api/events", json: events[0]) : try? c.postBatch(events)
                    guard let r = answer else {
                        usleep(20_000)  // the server is gone: try again until told to stop
                        continue
                    }
                    lock.withLock {
                        guard r.status == 200 else {
                            refused.append(
                                Refusal(status: r.status, detail: r.detail, retryAfter: r.headers["retry-after"], events: events))
                            return
                        }
                        if batchSize == 1, let id = r.json?["event_id"]?.intValue { acked[ids[0]] = Int64(id) }
                        for item in r.json?["results"]?.arrayValue ?? [] where item["status"] == "accepted" {
                            if let e = item["event_id"]?.stringValue, let id = item["db_id"]?.intValue { acked[e] = Int64(id) }
                        }
                    }
                    if r.status != 200 { usleep(20_000) }
                }
            }
            threads.append(t)
            t.start()
        }
    }

    var acknowledged: [String: Int64] { lock.withLock { acked } }
    var refusals: [Refusal] { lock.withLock { refused } }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }
}
