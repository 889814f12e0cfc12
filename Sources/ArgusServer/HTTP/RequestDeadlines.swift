import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import Shared
import Synchronization

/// Per-connection deadlines, so that no client holds a connection by sending slowly: the headers of each request
/// must arrive within `headerTimeout` (counted from the connection's start, or from the end of the previous
/// response: the idle keep-alive time), and its body within `bodyTimeout` of the headers. Once a request is read,
/// its response may take as long as it needs: SSE streams and long-polls are never cut. A response that says
/// `Connection: close` (a 413 sent before the body) ends the connection once written, with a lingering close: the
/// server stops sending and reads what the client still sends, discarding it, until the client closes, the body ends
/// or `lingerTimeout` passes. Closing at once, with body bytes unread, makes the kernel reset the connection, and a
/// client still uploading (curl without `Expect`, or once its 1 s wait for `100 Continue` is over) then reports "failed
/// sending data" instead of the 413 and its sentence.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headerTimeout: TimeAmount
    private let bodyTimeout: TimeAmount
    private var timer: Scheduled<Void>?
    /// Between a request's head and its end.
    private var reading = false
    /// Requests whose response has not ended yet.
    private var inFlight = 0
    private var closeAfterResponse = false
    /// After a `Connection: close` answer: output closed, input read and dropped until the connection ends.
    private var lingering = false
    private let lingerTimeout: TimeAmount

    init(headerTimeoutS: Double, bodyTimeoutS: Double) {
        headerTimeout = .nanoseconds(Int64(headerTimeoutS * 1e9))
        bodyTimeout = .nanoseconds(Int64(bodyTimeoutS * 1e9))
        lingerTimeout = .nanoseconds(Int64(min(bodyTimeoutS, 2) * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    /// At shutdown a body still on its way gets `quiesceBodyTimeout` more, not the rest of `bodyTimeout`: the server
    /// waits for requests in flight before it exits, and a client stuck mid-upload held that exit (and the port, so a
    /// replacement could not start and runs spilled their events) for up to 30 s. Read requests finish as before.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent, reading, bodyTimeout > RequestDeadlineHandler.quiesceBodyTimeout {
            arm(context, RequestDeadlineHandler.quiesceBodyTimeout)
        }
        context.fireUserInboundEventTriggered(event)
    }

    static let quiesceBodyTimeout: TimeAmount = .seconds(2)

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if lingering {
            if case .end = unwrapInboundIn(data) { context.close(promise: nil) }
            return
        }
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            inFlight += 1
            arm(context, bodyTimeout)
        case .body: break
        case .end:
            reading = false
            // Answered before its body was read (a 401, say): the connection is idle from now on.
            if inFlight == 0 { arm(context, headerTimeout) } else { disarm() }
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            if response.headerFields[.connection]?.lowercased() == "close" { closeAfterResponse = true }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            inFlight -= 1
            if closeAfterResponse {
                context.writeAndFlush(data, promise: promise)
                linger(context)
                return
            }
            context.write(data, promise: promise)
            if inFlight == 0 && !reading { arm(context, headerTimeout) }
        }
    }

    /// Half-closes: the answer is on its way and nothing more will be sent; what the client still sends is dropped.
    private func linger(_ context: ChannelHandlerContext) {
        lingering = true
        arm(context, lingerTimeout)
        let halfClosed = context.eventLoop.makePromise(of: Void.self)
        // A channel that cannot half-close is closed whole, as before.
        halfClosed.futureResult.assumeIsolated().whenFailure { _ in context.close(promise: nil) }
        context.close(mode: .output, promise: halfClosed)
    }

    /// A deadline that passes closes the connection without an answer, a body that stopped short included: a 408
    /// would make argus-reporter 0.1.3 drop the event (it drops on a 4xx it does not know), while after a dropped
    /// connection it sends the event again or keeps it in its spill file; and a 5xx would say the server failed.
    private func arm(_ context: ChannelHandlerContext, _ timeout: TimeAmount) {
        disarm()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { context.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}

@available(*, unavailable)
extension RequestDeadlineHandler: Sendable {}

/// Refuses a request whose declared `Content-Length` is over the limit with 413 before reading any of its body,
/// and closes the connection after the answer (a body sent anyway is never read).
struct DeclaredBodyLimitMiddleware: RouterMiddleware {
    typealias Context = ArgusRequestContext
    let maxBodyBytes: Int

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let text = request.headers[.contentLength], let declared = Int(text), declared > maxBodyBytes {
            throw APIError.tooLarge(declared: declared, limit: maxBodyBytes)
        }
        return try await next(request, context)
    }
}

/// Open connections across the server's event loops, against ARGUS_MAX_CONNECTIONS.
///
/// At the cap, a new connection takes the place of the one that has sat idle the longest (no request in flight: one
/// that never sent a whole request head, or a kept-alive one between requests), which is closed; only when every
/// connection is busy (requests being answered, SSE streams) is the new one refused. Any local user can open
/// thousands of connections that send a header line every few seconds, and before, the cap then refused everyone
/// else for as long as they liked. Nothing in flight is ever cut: a client whose idle connection is closed connects
/// again (argus-reporter sends the event again, or keeps it in its spill file).
final class ConnectionCounter: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)
    /// Every admitted connection that still holds its place.
    private let slots = Mutex<[ObjectIdentifier: ConnectionSlot]>([:])
    /// When a refusal, or an eviction, was last logged.
    private let lastLogged = Mutex<(refused: ContinuousClock.Instant?, evicted: ContinuousClock.Instant?)>((nil, nil))
    let logger: Logger
    let metrics: ServerMetrics

    init(limit: Int, logger: Logger, metrics: ServerMetrics) {
        self.limit = limit
        self.logger = logger
        self.metrics = metrics
    }

    var count: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection in, closing the connection idle the longest when `limit` are open already; nil (and
    /// not counted) when every open connection is busy.
    func admit(_ channel: any NIOCore.Channel) -> ConnectionSlot? {
        let slot = ConnectionSlot(channel)
        if open.add(1, ordering: .relaxed).newValue > limit {
            open.subtract(1, ordering: .relaxed)
            guard let victim = evictIdlest() else {
                metrics.connectionsRefused.increment()
                logAtMostEvery10s(\.refused) {
                    "Refusing connections: ARGUS_MAX_CONNECTIONS (\(limit)) are open and busy; each further one gets 503 until some end."
                }
                return nil
            }
            // The new connection takes the victim's place in the count.
            victim.channel.close(promise: nil)
            metrics.connectionsEvicted.increment()
            logAtMostEvery10s(\.evicted) {
                "ARGUS_MAX_CONNECTIONS (\(limit)) are open: closing the connections idle the longest to admit new ones."
            }
        }
        slots.withLock { $0[ObjectIdentifier(slot)] = slot }
        return slot
    }

    /// Gives back a slot's place, unless it was taken over by an eviction.
    func release(_ slot: ConnectionSlot) {
        slots.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(slot)) }
        if slot.state.exchange(ConnectionSlot.released, ordering: .relaxed) != ConnectionSlot.evicted {
            open.subtract(1, ordering: .relaxed)
        }
    }

    /// Marks the connection idle the longest as evicted (its place now someone else's) and returns it; nil when
    /// none is idle. A scan of the open connections, done only at the cap.
    private func evictIdlest() -> ConnectionSlot? {
        slots.withLock { slots in
            while true {
                var idlest: (slot: ConnectionSlot, since: Int64)?
                for slot in slots.values {
                    let since = slot.state.load(ordering: .relaxed)
                    if since > 0, since < idlest?.since ?? .max { idlest = (slot, since) }
                }
                guard let (slot, since) = idlest else { return nil }
                // It may have become busy since: then look again.
                if slot.state.compareExchange(expected: since, desired: ConnectionSlot.evicted, ordering: .relaxed).exchanged {
                    slots.removeValue(forKey: ObjectIdentifier(slot))
                    return slot
                }
            }
        }
    }

    private func logAtMostEvery10s(
        _ which: WritableKeyPath<(refused: ContinuousClock.Instant?, evicted: ContinuousClock.Instant?), ContinuousClock.Instant?>,
        _ message: () -> Logger.Message
    ) {
        let log = lastLogged.withLock { last in
            let t = ContinuousClock.now
            guard last[keyPath: which].map({ t - $0 >= .seconds(10) }) ?? true else { return false }
            last[keyPath: which] = t
            return true
        }
        if log { logger.warning(message()) }
    }
}

/// An admitted connection's place under ARGUS_MAX_CONNECTIONS, and whether it is idle: its state is since when it has
/// been idle (monotonic ns), or `busy` while a request is in flight, `evicted` once its place went to a newer
/// connection, `released` once it closed.
final class ConnectionSlot: Sendable {
    let channel: any NIOCore.Channel
    let state: Atomic<Int64>
    static let busy: Int64 = 0
    static let evicted: Int64 = -1
    static let released: Int64 = -2

    init(_ channel: any NIOCore.Channel) {
        self.channel = channel
        state = Atomic(Self.now())
    }

    static func now() -> Int64 { Int64(clamping: NIODeadline.now().uptimeNanoseconds) | 1 }

    /// Returns false when the place went to another connection meanwhile (this one is closing).
    func markBusy() -> Bool { set(Self.busy) }

    func markIdle() { _ = set(Self.now()) }

    private func set(_ value: Int64) -> Bool {
        var current = state.load(ordering: .relaxed)
        while current != Self.evicted && current != Self.released {
            let (exchanged, now) = state.compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return true }
            current = now
        }
        return false
    }
}

/// Caps open connections (ARGUS_MAX_CONNECTIONS, SSE streams included; `ConnectionCounter`). One over the cap takes
/// the place of the connection idle the longest, or, when every one is busy, is answered at once with 503 and
/// `Retry-After`, without waiting for its request, and closed: nothing is held for it. A connection is busy from a
/// request's head until its response ends.
final class ConnectionLimitHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counter: ConnectionCounter
    private enum State {
        case new, refused, released
        case admitted(ConnectionSlot)
    }
    private var state = State.new
    /// Requests whose response has not ended yet.
    private var inFlight = 0

    init(counter: ConnectionCounter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { decide(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        decide(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A refused connection's request is never served, nor one read after its place went to another (it closes).
        guard case .admitted(let slot) = state else { return }
        if case .head = unwrapInboundIn(data) {
            guard slot.markBusy() else {
                // Its place went to another connection just now: nothing more of it is read (the slot is out of the
                // count already), and the channel is closing.
                state = .refused
                return
            }
            inFlight += 1
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data), case .admitted = state else {
            context.write(data, promise: promise)
            return
        }
        // An answer the handlers after this one made before a request head was read (a 431) counts none.
        inFlight = max(0, inFlight - 1)
        guard inFlight == 0 else {
            context.write(data, promise: promise)
            return
        }
        // Idle once the answer's end is on the socket, not before: closing the connection for a newer one must not
        // discard an answer still queued.
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenSuccess {
            if self.inFlight == 0, case .admitted(let slot) = self.state { slot.markIdle() }
        }
        context.write(data, promise: written)
    }

    private func decide(_ context: ChannelHandlerContext) {
        guard case .new = state else { return }
        if let slot = counter.admit(context.channel) {
            state = .admitted(slot)
            return
        }
        state = .refused
        let e = APIError(
            status: .serviceUnavailable,
            detail: "The server is at its connection limit (ARGUS_MAX_CONNECTIONS is \(counter.limit)); try again shortly.",
            headers: [.retryAfter: "1"])
        HTTPCannedResponse.send(e, context: context, wrap: wrapOutboundOut)
    }

    private func release() {
        if case .admitted(let slot) = state { counter.release(slot) }
        state = .released
    }
}

@available(*, unavailable)
extension ConnectionLimitHandler: Sendable {}

/// Request line and headers over ARGUS_MAX_HEADER_KB: the HTTP decoder stops reading at the limit (so no client makes
/// the server buffer more), and this answers 431 with a sentence instead of a bare 400, and closes the connection.
final class HeaderLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    let maxHeaderBytes: Int

    init(maxHeaderBytes: Int) { self.maxHeaderBytes = maxHeaderBytes }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let e = error as? HTTPParserError, e == .headerOverflow else {
            context.fireErrorCaught(error)
            return
        }
        let answer = APIError(
            status: .requestHeaderFieldsTooLarge,
            detail: "The request's headers are too large; the limit is \(maxHeaderBytes) bytes (ARGUS_MAX_HEADER_KB).")
        HTTPCannedResponse.send(answer, context: context, wrap: wrapOutboundOut)
    }
}

@available(*, unavailable)
extension HeaderLimitHandler: Sendable {}

/// An answer written from a channel handler, below the router: `{"detail": …}`, then the connection is closed.
enum HTTPCannedResponse {
    static func send(
        _ e: APIError, context: ChannelHandlerContext, wrap: (HTTPResponsePart) -> NIOAny
    ) {
        let body = ByteBuffer(string: JSON.object(JSONObject([("detail", .string(e.detail))])).serialized())
        var fields = e.headers
        fields[.contentType] = "application/json"
        fields[.contentLength] = String(body.readableBytes)
        fields[.connection] = "close"
        context.write(wrap(.head(HTTPResponse(status: e.status, headerFields: fields))), promise: nil)
        context.write(wrap(.body(body)), promise: nil)
        context.writeAndFlush(wrap(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
