import ArgusClient
import Foundation
import Shared
import TestSupport

/// What a server has stored for a batch, read through its public interface: for tests that check that nothing was
/// lost, doubled or half-written after a crash or a fault.
extension TestServer {
    /// Every stored event of a batch, in id order, as a replay from the start streams it.
    func storedEvents(_ token: String, batch: String) throws -> [JSON] {
        let sub = SSECollector(url: url + APIPath.sse([.batch(batch)]), token: token, lastEventID: "0")
        defer { sub.stop() }
        try sub.wait(timeout: 30, "the replay", until: { $0.contains { $0.type == SummaryFrame.eventType } })
        return sub.dataEvents.compactMap { try? JSON.parse($0.data) }
    }

    /// The summaries the server keeps for a batch, without what depends on when the server received things.
    func summaries(_ token: String, batch: String) throws -> JSON {
        func strip(_ v: JSON, _ keys: Set<String>) -> JSON {
            guard case .object(let o) = v else { return v }
            return .object(JSONObject(o.filter { !keys.contains($0.key) }.map { ($0.key, $0.value) }))
        }
        let c = client(token)
        let b = strip(try c.mustGet(APIPath.batch(batch)), ["last_received", "last_seen", "agent_online"])
        let jobs = (try c.mustGet(APIPath.jobs(batch))).arrayValue ?? []
        return ["batch": b, "jobs": .array(jobs.sorted { $0["id"]!.stringValue! < $1["id"]!.stringValue! })]
    }

    /// The summaries a fresh server folds from scratch out of this batch's stored events (posted to it in id order):
    /// what this server's summaries must equal when nothing was half-written.
    func refoldedSummaries(_ token: String, batch: String) throws -> JSON {
        let fresh = try TestServer()
        defer { _ = fresh.stop() }
        let freshToken = try fresh.token()
        let replayed: [JSON] = try storedEvents(token, batch: batch).map { e in
            guard case .object(let o) = e else { return e }
            return .object(JSONObject(o.filter { $0.key != "id" && $0.key != "channel" }.map { ($0.key, $0.value) }))
        }
        for start in stride(from: 0, to: replayed.count, by: 500) {
            let r = try fresh.client(freshToken).postBatch(Array(replayed[start..<min(start + 500, replayed.count)]))
            guard r.json?["rejected"] == 0 else { throw TestFailure("the fresh server refused a replayed event: \(r.text)") }
        }
        return try fresh.summaries(freshToken, batch: batch)
    }
}
