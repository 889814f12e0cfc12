import CoreMetrics
import Foundation
import Prometheus
import Shared
import Synchronization

/// What `GET /metrics` reports, in the Prometheus text format. Counters and histograms are swift-metrics handles
/// made by a Prometheus factory of this server's own (no process-wide bootstrap, so tests can run several servers);
/// gauges of state the server already holds (subscribers, database size, agent commands) are read when scraped.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    let eventsIngested: CoreMetrics.Counter
    let eventsDeduplicated: CoreMetrics.Counter
    let commitSeconds: CoreMetrics.Timer
    let commitGroupSize: CoreMetrics.Recorder
    let queueDepth: CoreMetrics.Gauge
    let sseSubscribers: CoreMetrics.Gauge
    let sseDroppedSlowReaders: CoreMetrics.Counter
    let databaseBytes: CoreMetrics.Gauge
    /// 1 when the scrape could read the database, 0 when it could not (the rest of the scrape is there either way).
    let databaseUp: CoreMetrics.Gauge
    /// Connections answered 503 at once because ARGUS_MAX_CONNECTIONS were open.
    let connectionsRefused: CoreMetrics.Counter
    /// Idle connections closed at ARGUS_MAX_CONNECTIONS to admit a new one (`ConnectionCounter.admit`).
    let connectionsEvicted: CoreMetrics.Counter
    let openConnections: CoreMetrics.Gauge
    private let labelled = Mutex<[String: CoreMetrics.Counter]>([:])
    private let commandGauges = Mutex<[String: CoreMetrics.Gauge]>([:])

    public init() {
        var f = PrometheusMetricsFactory(registry: registry)
        f.valueHistogramBuckets["argus_commit_group_size"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        f.durationHistogramBuckets["argus_commit_seconds"] = [
            .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory = f
        eventsIngested = Counter(label: "argus_events_ingested_total", factory: f)
        eventsDeduplicated = Counter(label: "argus_events_deduplicated_total", factory: f)
        commitSeconds = Timer(label: "argus_commit_seconds", factory: f)
        commitGroupSize = Recorder(label: "argus_commit_group_size", aggregate: true, factory: f)
        queueDepth = Gauge(label: "argus_pipeline_queue_depth", factory: f)
        sseSubscribers = Gauge(label: "argus_sse_subscribers", factory: f)
        sseDroppedSlowReaders = Counter(label: "argus_sse_dropped_slow_readers_total", factory: f)
        databaseBytes = Gauge(label: "argus_database_bytes", factory: f)
        databaseUp = Gauge(label: "argus_database_up", factory: f)
        connectionsRefused = Counter(label: "argus_connections_refused_total", factory: f)
        connectionsEvicted = Counter(label: "argus_connections_evicted_total", factory: f)
        openConnections = Gauge(label: "argus_open_connections", factory: f)
    }

    private func counter(_ name: String, _ label: String, _ value: String) -> CoreMetrics.Counter {
        let key = "\(name)|\(value)"
        return labelled.withLock { cache in
            if let c = cache[key] { return c }
            let c = Counter(label: name, dimensions: [(label, value)], factory: factory)
            cache[key] = c
            return c
        }
    }

    /// An event refused at ingest, by the HTTP status that says why (403 another's batch, 409, 422, 429...).
    func rejected(status: Int) { counter("argus_events_rejected_total", "status", String(status)).increment() }

    /// The server-made events that are guardrails firing.
    static let guardrailEvents: Set<String> = [
        ServerEventTypes.jobIdleFlagged, ServerEventTypes.batchStalled, ServerEventTypes.batchStopped, ServerEventTypes.batchMarkedFailed,
    ]

    /// A guardrail fired: the server-made event's type (job_idle_flagged, batch_stalled, batch_stopped...).
    func guardrail(_ eventType: String) { counter("argus_guardrail_firings_total", "event", eventType).increment() }

    func agentCommands(_ counts: [String: Int]) {
        commandGauges.withLock { gauges in
            for state in Set(gauges.keys).union(counts.keys) {
                let g =
                    gauges[state]
                    ?? Gauge(label: "argus_agent_commands", dimensions: [("state", state)], factory: factory)
                gauges[state] = g
                g.record(counts[state] ?? 0)
            }
        }
    }

    /// The registry in the Prometheus text format.
    func exposition() -> String {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
