import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Shared

/// A request of the simulator's that failed, phrased for a person at a prompt.
struct SimulateError: Error, CustomStringConvertible {
    var description: String
    /// The reply's status when there was one (a refused token, a rejected event).
    var status = 0
    /// Trying again cannot help (a certificate this machine does not trust): the simulator gives up at once.
    var permanent = false
    /// The connection closed before the reply was complete (not a timeout, not TLS).
    var closedBeforeReply = false
}

/// A reply to the simulator.
struct SimulatorReply: Sendable {
    var status: Int
    var body: [UInt8]
    var headers: HTTPHeaders
    var json: JSON? { try? JSON.parse(body) }
    /// The server's `detail` sentence, or the status.
    var detail: String { json?["detail"]?.stringValue ?? "HTTP \(status)" }
}

/// The simulator's HTTP/1.1 client: SwiftNIO, the server's own network stack (and NIOSSL for https, which the
/// PostgreSQL driver brings anyway), over one keep-alive connection, blocking its caller: `simulate` is a plain
/// loop in a command-line process. The server's clients (argus-tui, argus-agent) use libcurl; argus-server does
/// not link it, so a server host loads neither libcurl nor its TLS and Kerberos libraries.
final class SimulatorClient {
    let baseURL: String
    let token: String
    let timeout: TimeAmount
    private let host: String
    private let port: Int
    private let https: Bool
    /// The base URL's path, before each request's (a server behind a proxy at https://lab/argus).
    private let prefix: String
    private var channel: NIOCore.Channel?

    /// Nil when the URL is not http(s)://host[:port][/path].
    init?(baseURL: String, token: String, timeout: Double = 10) {
        let trimmed = String(baseURL.reversed().drop(while: { $0 == "/" }).reversed())
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else { return nil }
        self.baseURL = trimmed
        self.token = token
        self.timeout = .milliseconds(Int64(timeout * 1000))
        self.https = scheme == "https"
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = url.port ?? (https ? 443 : 80)
        self.prefix = url.path
    }

    deinit { try? channel?.close().wait() }

    func post(_ path: String, json: JSON) throws(SimulateError) -> SimulatorReply {
        var bytes: [UInt8] = []
        json.write(into: &bytes)
        return try request(.POST, path, body: bytes)
    }

    func get(_ path: String) throws(SimulateError) -> SimulatorReply { try request(.GET, path, body: nil) }

    /// One request on the kept connection, opening it first when there is none (or the server closed it). A kept
    /// connection the server closed without saying so (no `Connection: close`) fails before any reply: the request
    /// goes once more on a new one (the simulator's requests are safe to repeat: events carry their event_id).
    func request(_ method: HTTPMethod, _ path: String, body: [UInt8]?) throws(SimulateError) -> SimulatorReply {
        let reused = channel?.isActive == true
        do {
            return try exchange(method, path, body: body)
        } catch let e where reused && e.closedBeforeReply {
            return try exchange(method, path, body: body)
        }
    }

    private func exchange(_ method: HTTPMethod, _ path: String, body: [UInt8]?) throws(SimulateError) -> SimulatorReply {
        let channel: NIOCore.Channel
        if let open = self.channel, open.isActive {
            channel = open
        } else {
            channel = try connect()
            self.channel = channel
        }
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: prefix + path)
        head.headers.add(name: "Host", value: port == (https ? 443 : 80) ? host : "\(host):\(port)")
        head.headers.add(name: "Authorization", value: "Bearer \(token)")
        head.headers.add(name: "Content-Length", value: String(body?.count ?? 0))
        if body != nil { head.headers.add(name: "Content-Type", value: "application/json") }
        let reply = channel.eventLoop.makePromise(of: SimulatorReply.self)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            reply.fail(
                SimulateError(description: "\(self.baseURL) sent no complete reply within \(self.timeout.nanoseconds / 1_000_000_000) s."))
            channel.close(promise: nil)
        }
        // A write that fails (the connection closed under it) ends the wait at once, not at the deadline.
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenFailure { reply.fail($0) }
        channel.writeAndFlush(
            SimulatorExchange.Request(head: head, body: body.map { ByteBuffer(bytes: $0) }, reply: reply), promise: written)
        do {
            let r = try reply.futureResult.wait()
            deadline.cancel()
            return r
        } catch let e as SimulateError {
            self.channel = nil
            throw e
        } catch let e where e is NIOSSLError || e is NIOSSLExtraError {
            deadline.cancel()
            self.channel = nil
            // A certificate is not trusted a minute later either; a handshake cut short may work on the next try.
            let certificate = e is NIOSSLExtraError || "\(e)".contains("CERTIFICATE_VERIFY_FAILED")
            throw SimulateError(description: "Cannot reach \(baseURL) (\(Self.describe(e))).", permanent: certificate)
        } catch {
            deadline.cancel()
            self.channel = nil
            throw SimulateError(
                description: "The connection to \(baseURL) broke before the reply was complete (\(Self.describe(error))).",
                closedBeforeReply: true)
        }
    }

    private func connect() throws(SimulateError) -> NIOCore.Channel {
        let tls: NIOSSLContext?
        do {
            var config = TLSConfiguration.makeClientConfiguration()
            // As OpenSSL and libcurl do: a CA bundle named in SSL_CERT_FILE (a lab's own CA) replaces the system's.
            if let bundle = ProcessInfo.processInfo.environment["SSL_CERT_FILE"], !bundle.isEmpty {
                config.trustRoots = .file(bundle)
            }
            tls = https ? try NIOSSLContext(configuration: config) : nil
        } catch {
            throw SimulateError(description: "Cannot set up TLS for \(baseURL) (\(error)).")
        }
        // A name is checked against the certificate; an address literal is not a name (SNI forbids it).
        let serverName = host.contains(":") || host.allSatisfy({ $0.isNumber || $0 == "." }) ? nil : host
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(SimulatorExchange())
                }
            }
        do {
            return try bootstrap.connect(host: host, port: port).wait()
        } catch {
            throw SimulateError(description: "Cannot reach \(baseURL) (\(Self.describe(error))).")
        }
    }

    /// A network error in a few words ("Connection refused"), not NIO's type dump.
    static func describe(_ error: Error) -> String {
        switch error {
        case let e as IOError: return String(cString: strerror(e.errnoCode))
        case let e as NIOConnectionError:
            if let first = e.connectionErrors.first { return describe(first.error) }
            return "cannot resolve the host name \(e.host)"
        case ChannelError.connectTimeout: return "no answer within 5 s"
        case let e as NIOSSLExtraError where e == .failedToValidateHostname:
            return "its TLS certificate does not list this address: give a name or an address the certificate lists"
        case let e as NIOSSLError:
            // BoringSSL's reason is the one word after its last colon, before " at <source file>".
            let text = "\(e)"
            if text.contains("CERTIFICATE_VERIFY_FAILED") {
                return "its TLS certificate is not trusted here; set SSL_CERT_FILE to the bundle of the CA that signed it"
            }
            let reason = text.split(separator: ":").last.map { $0.split(separator: " ").first.map(String.init) ?? "" } ?? ""
            return "the TLS handshake failed" + (reason.isEmpty ? "" : ": \(reason)")
        case ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed, ChannelError.eof: return "the server closed the connection"
        default: return "\(error)"
        }
    }
}

/// One request and its reply on the connection: writes the request's parts, gathers the reply's.
final class SimulatorExchange: ChannelDuplexHandler {
    struct Request: Sendable {
        var head: HTTPRequestHead
        var body: ByteBuffer?
        var reply: EventLoopPromise<SimulatorReply>
    }
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Request
    typealias OutboundOut = HTTPClientRequestPart

    private var reply: EventLoopPromise<SimulatorReply>?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let r = unwrapOutboundIn(data)
        reply = r.reply
        context.write(wrapOutboundOut(.head(r.head)), promise: nil)
        if let b = r.body { context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
        case .body(let b):
            body.append(contentsOf: b.readableBytesView)
        case .end:
            guard let h = head, let r = reply else { return }
            (head, reply) = (nil, nil)
            r.succeed(SimulatorReply(status: Int(h.status.code), body: body, headers: h.headers))
            if !h.isKeepAlive { context.close(promise: nil) }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        reply?.fail(ChannelError.eof)
        reply = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        reply?.fail(error)
        reply = nil
        context.close(promise: nil)
    }
}
