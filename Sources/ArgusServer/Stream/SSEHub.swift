import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import Shared
import Synchronization

/// What one SSE connection receives from the hub.
enum SSEChunk: Sendable {
    /// Frames of one commit that match the connection, in id order, and the same frames joined.
    case frames(ids: [Int64], joined: ByteBuffer, each: [ByteBuffer])
    case keepalive
}

/// Fans committed events out to SSE connections. Each frame is encoded once per commit and shared;
/// each connection has a bounded buffer, and one that falls behind is closed (it reconnects and
/// replays by id) so a slow reader never slows ingest or other readers.
final class SSEHub: Sendable {
    struct Subscriber {
        var filter: ChannelFilter
        var continuation: AsyncStream<SSEChunk>.Continuation
        var lastSendUs: Int64
        /// The credential the stream was opened with, and when it expires on its own: a revoked or expired
        /// credential's streams are closed (`close(where:)`).
        var credential: Credential?
        var expiresUs: Int64?
        var closed: SSEClosedFlag
        /// Opened by an admin, who may have read another user's batch: closed when the user is no longer one.
        var asAdmin = false
        /// Whose streams this one counts among (`maxPerUser`).
        var user: StreamAccount?
    }

    /// The streams one user's cap counts: their own (tokens, sessions), or, apart, those opened with their batches'
    /// share links, so that whoever holds the links cannot shut the owner out of their own.
    struct StreamAccount: Hashable {
        var user: Int64
        var viaShareLinks: Bool
    }

    /// Which cap refused a stream.
    enum Refusal: Error {
        /// The credential's (`limit(for:)`).
        case credential
        /// The user's, over all their tokens and sessions, or all their batches' share links (`maxPerUser`).
        case user
    }

    private let state = Mutex<(next: Int, subs: [Int: Subscriber])>((0, [:]))
    let bufferChunks: Int
    /// Open streams per credential at most (ARGUS_MAX_STREAMS_PER_TOKEN).
    let maxPerCredential: Int
    let logger: Logger

    let metrics: ServerMetrics

    /// Open streams per user at most, over all their credentials, and again over all their batches' share links: 16
    /// times a credential's, so that sessions made one after another, or share links minted one after another,
    /// cannot take every connection the server has (ARGUS_MAX_CONNECTIONS) from everyone else.
    var maxPerUser: Int {
        let (limit, overflow) = maxPerCredential.multipliedReportingOverflow(by: 16)
        return overflow ? .max : limit
    }

    init(bufferChunks: Int, maxPerCredential: Int = .max, logger: Logger, metrics: ServerMetrics = ServerMetrics()) {
        self.bufferChunks = bufferChunks
        self.maxPerCredential = maxPerCredential
        self.logger = logger
        self.metrics = metrics
    }

    var subscriberCount: Int { state.withLock { $0.subs.count } }

    /// How many streams `credential` may hold: `maxPerCredential`, and for a share link, which a lab passes round a
    /// channel for everyone to open, eight times as many.
    func limit(for credential: Credential) -> Int {
        guard case .share = credential else { return maxPerCredential }
        let (limit, overflow) = maxPerCredential.multipliedReportingOverflow(by: 8)
        return overflow ? .max : limit
    }

    /// Subscribes a stream; refused when its credential already holds `limit(for:)` streams, or its user `maxPerUser`.
    func subscribe(
        _ filter: ChannelFilter, credential: Credential? = nil, expiresUs: Int64? = nil, asAdmin: Bool = false, user: StreamAccount? = nil
    ) -> Result<(id: Int, stream: AsyncStream<SSEChunk>, closed: SSEClosedFlag), Refusal> {
        let (stream, cont) = AsyncStream<SSEChunk>.makeStream(
            bufferingPolicy: .bufferingOldest(bufferChunks))
        let closed = SSEClosedFlag()
        let id: Result<Int, Refusal> = state.withLock { s in
            if let credential, s.subs.values.lazy.filter({ $0.credential == credential }).count >= limit(for: credential) {
                return .failure(.credential)
            }
            if let user, s.subs.values.lazy.filter({ $0.user == user }).count >= maxPerUser { return .failure(.user) }
            s.next += 1
            s.subs[s.next] = Subscriber(
                filter: filter, continuation: cont, lastSendUs: ArgusStore.nowUs(), credential: credential,
                expiresUs: expiresUs, closed: closed, asAdmin: asAdmin, user: user)
            return .success(s.next)
        }
        return id.map { ($0, stream, closed) }
    }

    /// `subscribe`, and at a cap, first finds the streams under it whose clients have gone: some may belong to pages
    /// already left (a reader clicking through jobs). Writing to them finds out: the first write reaches a closed
    /// peer, whose answer (a reset) makes a later one fail and end that stream. It probes and asks again for up to a
    /// second before it refuses.
    func subscribeFreeingLeft(
        _ filter: ChannelFilter, credential: Credential?, expiresUs: Int64?, asAdmin: Bool = false, user: StreamAccount? = nil
    ) async throws -> Result<(id: Int, stream: AsyncStream<SSEChunk>, closed: SSEClosedFlag), Refusal> {
        var subscribed = subscribe(filter, credential: credential, expiresUs: expiresUs, asAdmin: asAdmin, user: user)
        for _ in 0..<10 {
            guard case .failure(let cap) = subscribed else { break }
            // A keepalive to every stream under the cap now: the write to one whose client has gone fails at once
            // and frees its slot, instead of at the next keepalive, up to 15 s later.
            sendKeepalive { cap == .credential ? $0.credential == credential : $0.user == user }
            try await Task.sleep(for: .milliseconds(100))
            subscribed = subscribe(filter, credential: credential, expiresUs: expiresUs, asAdmin: asAdmin, user: user)
        }
        return subscribed
    }

    /// The credentials that hold streams an admin opened.
    var openAdminCredentials: Set<Credential> {
        state.withLock { Set($0.subs.values.lazy.filter(\.asAdmin).compactMap(\.credential)) }
    }

    /// Closes the streams an admin opened with one of `credentials` (their user is no longer an admin).
    @discardableResult
    func closeAdminStreams(of credentials: Set<Credential>) -> Int {
        credentials.isEmpty ? 0 : close { $0.asAdmin && $0.credential.map(credentials.contains) == true }
    }

    /// The credentials that hold streams open right now.
    var openCredentials: Set<Credential> {
        state.withLock { Set($0.subs.values.compactMap(\.credential)) }
    }

    /// Closes every stream whose credential (and its expiry) `revoked` says is no longer valid: nothing more is
    /// written to it, not even frames already buffered. Returns how many were closed.
    @discardableResult
    func close(where revoked: (Credential, Int64?) -> Bool) -> Int {
        close { sub in sub.credential.map { revoked($0, sub.expiresUs) } == true }
    }

    /// Closes every stream `shouldClose` picks, as `close(where:)` says.
    @discardableResult
    private func close(_ shouldClose: (Subscriber) -> Bool) -> Int {
        let subs = state.withLock { s in
            let ids = s.subs.compactMap { id, sub in shouldClose(sub) ? id : nil }
            return ids.compactMap { s.subs.removeValue(forKey: $0) }
        }
        for sub in subs {
            sub.closed.set()
            sub.continuation.finish()
        }
        return subs.count
    }

    /// A sweep's verdict: closes the streams whose credential was among `checked` and is not among `valid`. A
    /// stream opened while the sweep was reading the database was not checked (its credential may be missing from
    /// `checked`, so from `valid` too) and stays open: it was authenticated just now, and the next sweep judges it.
    @discardableResult
    func close(checked: Set<Credential>, valid: Set<Credential>) -> Int {
        close { credential, _ in checked.contains(credential) && !valid.contains(credential) }
    }

    func unsubscribe(_ id: Int) {
        let sub = state.withLock { $0.subs.removeValue(forKey: id) }
        sub?.continuation.finish()
    }

    /// Called by the single ingest writer after each commit, in id order. Frames are encoded once, and
    /// only when some subscriber wants them.
    func publish(_ events: [StoredEvent]) {
        guard !events.isEmpty else { return }
        // Who wants what: one lookup per channel a stream names, in the commit's events grouped by batch. (Testing
        // every event against every stream cost more than the commit itself with 500 streams: bench/load.sh.)
        let byBatch = Dictionary(grouping: events.indices, by: { events[$0].batchID })
        let interested: [(Int, [Int])] = state.withLock { s in
            s.subs.compactMap { id, sub in
                let matched = sub.filter.matching(events, byBatch: byBatch)
                return matched.isEmpty ? nil : (id, matched)
            }
        }
        guard !interested.isEmpty else { return }
        let ids = events.map(\.id)
        var frames = [ByteBuffer?](repeating: nil, count: events.count)
        for (_, matched) in interested {
            for k in matched where frames[k] == nil { frames[k] = ByteBuffer(string: events[k].sseFrame) }
        }
        let now = ArgusStore.nowUs()
        // Streams that want the same events (those of one batch, say) share one chunk: built once, not per stream.
        var shared: [[Int]: SSEChunk] = [:]
        var chunks: [Int: SSEChunk] = [:]
        for (id, matched) in interested {
            if let chunk = shared[matched] {
                chunks[id] = chunk
                continue
            }
            var joined = ByteBuffer()
            for k in matched { joined.writeImmutableBuffer(frames[k]!) }
            let chunk = SSEChunk.frames(ids: matched.map { ids[$0] }, joined: joined, each: matched.map { frames[$0]! })
            shared[matched] = chunk
            chunks[id] = chunk
        }
        let overflowed: [Int] = state.withLock { s in
            var dropped: [Int] = []
            for (id, chunk) in chunks {
                guard let sub = s.subs[id] else { continue }
                if case .dropped = sub.continuation.yield(chunk) { dropped.append(id) }
                s.subs[id]?.lastSendUs = now
            }
            return dropped
        }
        for id in overflowed {
            metrics.sseDroppedSlowReaders.increment()
            logger.warning(
                "SSE subscriber fell behind; closing it so it reconnects and replays",
                metadata: ["subscriber": "\(id)"])
            unsubscribe(id)
        }
    }

    /// Sends a keepalive comment to every connection silent for `silenceS`; a dead peer's write fails and ends it.
    func keepalive(silenceS: Double) {
        let cutoff = ArgusStore.nowUs() - Int64(silenceS * 1_000_000)
        sendKeepalive { $0.lastSendUs <= cutoff }
    }

    private func sendKeepalive(to chosen: (Subscriber) -> Bool) {
        let now = ArgusStore.nowUs()
        state.withLock { s in
            for (id, sub) in s.subs where chosen(sub) {
                sub.continuation.yield(.keepalive)
                s.subs[id]?.lastSendUs = now
            }
        }
    }

    /// Ends every stream after what it has buffered (the server stops; its database stopped answering:
    /// `WatchdogService`). Returns how many there were.
    @discardableResult
    func finishAll() -> Int {
        let subs = state.withLock { s in
            let all = s.subs
            s.subs = [:]
            return all
        }
        for sub in subs.values { sub.continuation.finish() }
        return subs.count
    }
}

/// Set when a stream's credential was revoked: its writer stops at once, even with frames still buffered.
final class SSEClosedFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// Runs the hub's keepalive clock for the life of the server.
struct SSEKeepaliveService: Service {
    let hub: SSEHub
    let silenceS: Double

    func run() async throws {
        let tick = max(0.05, min(5, silenceS / 3))
        // Sleeping must end at once on SIGTERM, or shutdown waits out the tick.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(tick))
                hub.keepalive(silenceS: silenceS)
            }
        }
        hub.finishAll()
    }
}
