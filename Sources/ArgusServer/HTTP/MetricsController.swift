import Foundation
import Hummingbird
import NIOCore

/// `GET /metrics` in the Prometheus text format (ServerMetrics), behind ARGUS_METRICS.
struct MetricsController {
    let services: ArgusServices

    func register(on router: Router<ArgusRequestContext>) {
        router.get("/metrics") { _, ctx in
            let access = services.config.metricsAccess
            if access == "token" || (access == "loopback" && !ctx.fromLoopback) {
                _ = try ctx.requireUser()
            }
            let m = services.metrics
            m.sseSubscribers.record(services.hub.subscriberCount)
            m.openConnections.record(services.connections.count)
            // The database away (PostgreSQL down, say) is when a scrape matters most: what the server holds is
            // answered all the same, the figures read from the database as last read, and argus_database_up 0; a
            // database that hangs is given `ArgusStore.pingWaitS`, within a scraper's usual 10 s timeout.
            // (The reads too: a ping that a recent answer stands for does not ask the database.)
            let store = services.store
            let figures = Task {
                try await store.ping()
                m.databaseBytes.record(try await store.databaseBytes())
                m.agentCommands(try await store.agentCommandCounts())
            }
            do {
                try await ArgusStore.outcome(of: figures, within: ArgusStore.pingWaitS)
                m.databaseUp.record(1)
            } catch {
                m.databaseUp.record(0)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: m.exposition())))
        }
    }
}

extension ArgusStore {
    /// The database's size in bytes: SQLite's file and its WAL, or what PostgreSQL reports for the database.
    func databaseBytes() async throws -> Int {
        guard let path = pool?.path else {
            return try await database.read { db in
                try db.scalar(Int.self, "SELECT pg_database_size(current_database())") ?? 0
            }
        }
        return [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0)
        }
    }

    /// Agent commands by status (pending, started, exited, failed...).
    func agentCommandCounts() async throws -> [String: Int] {
        try await database.read { db in
            var out: [String: Int] = [:]
            for row in try db.fetchAll("SELECT status, count(*) AS n FROM agent_commands GROUP BY status") {
                out[row["status"]] = row["n"]
            }
            return out
        }
    }
}
