import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Per-connection deadlines, so that no client holds a connection by sending slowly: the headers of each request
/// must arrive within `headerTimeout` (counted from the connection's start, or from the end of the previous
/// response: the idle keep-alive time), and its body within `bodyTimeout` of the headers. Once a request is read,
/// its response may take as long as it needs: SSE streams and long-polls are never cut. A response that says
/// `Connection: close` (a 413 sent before the body) closes the connection once written, so the body is never read.
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

    init(headerTimeoutS: Double, bodyTimeoutS: Double) {
        headerTimeout = .nanoseconds(Int64(headerTimeoutS * 1e9))
        bodyTimeout = .nanoseconds(Int64(bodyTimeoutS * 1e9))
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, headerTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, headerTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
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
                context.close(promise: nil)
                return
            }
            context.write(data, promise: promise)
            if inFlight == 0 && !reading { arm(context, headerTimeout) }
        }
    }

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
