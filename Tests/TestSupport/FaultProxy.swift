import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fake server for client robustness tests: an HTTP proxy in front of a real `argus-server` that forwards
/// everything (so the wire format is the real one) until a test tells it to misbehave — answer a path with an
/// error status, cut a reply's JSON in half, accept and then say nothing, or, on the SSE streams it is
/// forwarding, inject malformed frames, stall, or drop the connection in the middle of a frame.
///
/// It speaks HTTP/1.1 to the client with `Connection: close` and a close-delimited body (the upstream's
/// chunked SSE is decoded), so anything it injects reaches the client's SSE parser byte for byte.
public final class FaultProxy: @unchecked Sendable {
    public enum Rule: Sendable, Equatable {
        /// Forward to the real server.
        case pass
        /// Answer with this status and body, without asking the real server.
        case status(Int, body: String, contentType: String)
        /// Forward, but send only the first half of the reply's body (with a `Content-Length` that says so):
        /// valid HTTP carrying truncated JSON.
        case truncateBody
        /// Forward, and once the real server answers, send the client the start of its status line and close: the
        /// request was carried out, its answer lost on the way.
        case cutReply
        /// Accept the request, then send nothing, ever (until the client gives up).
        case stall
        /// Accept the request and wait until the rule changes, then act on the new one: holds a client's
        /// reconnection while a test looks at what it shows in between.
        case hold

        /// `status` with a JSON `{detail}` body, as the real server writes its errors.
        public static func error(_ code: Int, detail: String) -> Rule {
            .status(code, body: #"{"detail":"\#(detail)"}"#, contentType: "application/json")
        }
    }

    /// What a forwarded SSE stream is told to do next.
    enum StreamCommand {
        case inject([UInt8])
        case stall
        case drop([UInt8])
    }

    final class Stream: @unchecked Sendable {
        let lock = NSLock()
        var commands: [StreamCommand] = []
        func take() -> [StreamCommand] {
            lock.withLock {
                let c = commands
                commands = []
                return c
            }
        }
    }

    public let upstreamPort: Int
    public private(set) var port = 0
    public var url: String { "http://127.0.0.1:\(port)" }
    private let listener: Int32
    private let lock = NSLock()
    private var rules: [(prefix: String, rule: Rule)] = []
    private var streams: [ObjectIdentifier: Stream] = [:]
    private var sseRequests: [String?] = []
    private var stopped = false

    /// `upstream` is the real server's URL (`http://127.0.0.1:PORT`).
    public init(upstream: String) throws {
        guard let p = upstream.split(separator: ":").last.flatMap({ Int($0) }) else {
            throw TestFailure("FaultProxy needs http://127.0.0.1:PORT, got \(upstream)")
        }
        upstreamPort = p
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = FaultProxy.loopback(port: 0)
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) }
        }
        guard bound == 0, listen(listener, 64) == 0 else {
            close(listener)
            throw TestFailure("FaultProxy cannot listen: \(String(cString: strerror(errno)))")
        }
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) }
        }
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    deinit { stop() }

    public func stop() {
        let first = lock.withLock {
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)) }
    }

    var isStopped: Bool { lock.withLock { stopped } }

    /// From now on, requests whose path starts with `pathPrefix` get `rule` (the longest matching prefix wins).
    public func set(_ rule: Rule, for pathPrefix: String) {
        lock.withLock {
            rules.removeAll { $0.prefix == pathPrefix }
            if rule != .pass { rules.append((pathPrefix, rule)) }
        }
    }

    /// Every request is forwarded again (streams already stalled stay stalled: they were broken).
    public func passAll() { lock.withLock { rules = [] } }

    /// The `Last-Event-ID` header of each `/api/sse` request so far, in order (nil when there was none).
    public var lastEventIDs: [String?] { lock.withLock { sseRequests } }

    /// SSE streams being forwarded now.
    public var openStreams: Int { lock.withLock { streams.count } }

    /// Writes `text` into every open stream, between two frames.
    public func injectIntoStreams(_ text: String) { command(.inject(Array(text.utf8))) }

    /// Open streams forward nothing more (not even keepalives) and stay open.
    public func stallStreams() { command(.stall) }

    /// Open streams get the first half of a frame (whose id is `fakeID`, beyond anything real), then the
    /// connection closes.
    public func dropStreamsMidFrame(fakeID: Int = 999_999) {
        let partial =
            "id: \(fakeID)\nevent: job_epoch\ndata: {\"id\":\(fakeID),\"event_type\":\"job_epoch\",\"data\":{\"epoch\":99,\"train_lo"
        command(.drop(Array(partial.utf8)))
    }

    private func command(_ c: StreamCommand) {
        for s in lock.withLock({ Array(streams.values) }) { s.lock.withLock { s.commands.append(c) } }
    }

    private func rule(for path: String) -> Rule {
        lock.withLock {
            rules.filter { path.hasPrefix($0.prefix) }.max { $0.prefix.count < $1.prefix.count }?.rule ?? .pass
        }
    }

    static func loopback(port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }

    private func acceptLoop() {
        while !isStopped {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if isStopped { break }
                continue
            }
            Thread { [self] in
                defer { close(fd) }
                handle(fd)
            }.start()
        }
        close(listener)
    }

    // MARK: one connection

    private func handle(_ client: Int32) {
        var buffered: [UInt8] = []
        guard let head = Wire.readHead(client, &buffered) else { return }
        let requestLine = head.lines.first ?? ""
        let parts = requestLine.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : "/"
        let isSSE = path.hasPrefix("/api/sse")
        if isSSE { lock.withLock { sseRequests.append(head.headers["last-event-id"]) } }
        var rule = rule(for: path)
        while rule == .hold {
            if isStopped || Wire.readable(client, timeoutMs: 50) { return }
            rule = self.rule(for: path)
        }
        switch rule {
        case .status(let code, let body, let type):
            let bytes = Array(body.utf8)
            _ = Wire.send(
                client,
                Array(
                    "HTTP/1.1 \(code) \(Wire.reason(code))\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
                        .utf8) + bytes)
            return
        case .stall:
            waitUntilClosed(client)
            return
        case .pass, .truncateBody, .hold, .cutReply: break
        }
        // The request body, if any, follows the head.
        let length = Int(head.headers["content-length"] ?? "0") ?? 0
        while buffered.count < length, let more = Wire.recv(client) { buffered += more }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var addr = FaultProxy.loopback(port: upstreamPort)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return }
        let forwarded =
            head.lines.filter { !$0.lowercased().hasPrefix("connection:") }.joined(separator: "\r\n")
            + "\r\nConnection: close\r\n\r\n"
        guard Wire.send(upstream, Array(forwarded.utf8) + buffered.prefix(length)) else { return }
        var reply: [UInt8] = []
        guard let answer = Wire.readHead(upstream, &reply) else { return }
        if rule == .cutReply {
            _ = Wire.send(client, Array((answer.lines.first ?? "HTTP/1.1").prefix(11).utf8))
            return
        }
        let status = Int(answer.lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let chunked = answer.headers["transfer-encoding"]?.lowercased().contains("chunked") == true
        let kept = answer.lines.filter { line in
            let l = line.lowercased()
            return !l.hasPrefix("transfer-encoding:") && !l.hasPrefix("content-length:") && !l.hasPrefix("connection:")
        }
        var decoder = ChunkedDecoder()
        func decode(_ bytes: [UInt8]) -> [UInt8] { chunked ? decoder.feed(bytes) : bytes }
        if isSSE && status == 200 {
            let headOut = kept.joined(separator: "\r\n") + "\r\nConnection: close\r\n\r\n"
            guard Wire.send(client, Array(headOut.utf8)) else { return }
            pump(client: client, upstream: upstream, first: decode(reply), decode: decode)
            return
        }
        // An ordinary reply: read it whole, then send it with the length we chose.
        var body = decode(reply)
        let declared = answer.headers["content-length"].flatMap { Int($0) }
        func complete() -> Bool {
            if let declared { return body.count >= declared }
            return chunked && decoder.finished
        }
        while !complete(), let more = Wire.recv(upstream) { body += decode(more) }
        if let declared, body.count > declared { body = Array(body.prefix(declared)) }
        if rule == .truncateBody { body = Array(body.prefix(body.count / 2)) }
        let headOut = kept.joined(separator: "\r\n") + "\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        _ = Wire.send(client, Array(headOut.utf8) + body)
    }

    /// Forwards the real server's SSE frames, whole frames at a time so that what a test injects lands between
    /// two of them, and carries out the test's commands.
    private func pump(client: Int32, upstream: Int32, first: [UInt8], decode: ([UInt8]) -> [UInt8]) {
        let stream = Stream()
        let key = ObjectIdentifier(stream)
        lock.withLock { streams[key] = stream }
        defer { lock.withLock { _ = streams.removeValue(forKey: key) } }
        var pending = first
        var stalled = false
        func flushWholeFrames() -> Bool {
            guard !stalled, let end = Wire.lastFrameEnd(pending) else { return true }
            defer { pending.removeFirst(end) }
            return Wire.send(client, Array(pending.prefix(end)))
        }
        guard flushWholeFrames() else { return }
        while !isStopped {
            for c in stream.take() {
                switch c {
                case .inject(let bytes): if !stalled, !Wire.send(client, bytes) { return }
                case .stall: stalled = true
                case .drop(let partial):
                    _ = Wire.send(client, partial)
                    return
                }
            }
            var fds = [
                pollfd(fd: upstream, events: Int16(POLLIN), revents: 0),
                pollfd(fd: client, events: Int16(POLLIN), revents: 0),
            ]
            guard poll(&fds, 2, 50) >= 0 else { return }
            // The client sends nothing after its request: readable means it closed.
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 {
                guard let more = Wire.recv(upstream) else { return }
                pending += decode(more)
                if stalled { pending = [] }
                guard flushWholeFrames() else { return }
            }
        }
    }

    private func waitUntilClosed(_ client: Int32) {
        while !isStopped && !Wire.readable(client, timeoutMs: 100) {}
    }
}

/// Just enough HTTP/1.1 framing for `FaultProxy`.
enum Wire {
    struct Head {
        var lines: [String]
        /// Lowercased names.
        var headers: [String: String]
    }

    /// Reads up to the blank line; what came after it stays in `buffered`.
    static func readHead(_ fd: Int32, _ buffered: inout [UInt8]) -> Head? {
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            if let r = find(end, in: buffered) {
                let text = String(decoding: buffered[..<r], as: UTF8.self)
                buffered.removeFirst(r + 4)
                let lines = text.components(separatedBy: "\r\n")
                var headers: [String: String] = [:]
                for l in lines.dropFirst() {
                    guard let colon = l.firstIndex(of: ":") else { continue }
                    headers[l[..<colon].lowercased()] = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                return Head(lines: lines, headers: headers)
            }
            guard buffered.count < 1 << 20, let more = recv(fd) else { return nil }
            buffered += more
        }
    }

    static func find(_ needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }

    /// Just past the last blank line ("\n\n") in `bytes`: everything before it is whole SSE frames.
    static func lastFrameEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        var i = bytes.count - 1
        while i >= 1 {
            if bytes[i] == 10 && bytes[i - 1] == 10 { return i + 1 }
            i -= 1
        }
        return nil
    }

    /// Whether `fd` has something to read (for a client that has sent its request: it closed) within the timeout.
    static func readable(_ fd: Int32, timeoutMs: Int32) -> Bool {
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        return poll(&fds, 1, timeoutMs) > 0
    }

    /// Blocks for the next bytes; nil at the end of the stream or on an error.
    static func recv(_ fd: Int32) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: 65536)
        let n = Glibc.recv(fd, &buf, buf.count, 0)
        return n > 0 ? Array(buf[..<n]) : nil
    }

    /// Writes everything (never raising SIGPIPE); false when the peer is gone.
    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    static func reason(_ code: Int) -> String {
        [
            200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable",
        ][code] ?? "Status"
    }
}

/// Decodes `Transfer-Encoding: chunked` incrementally.
struct ChunkedDecoder {
    private var buffer: [UInt8] = []
    private(set) var finished = false

    mutating func feed(_ bytes: [UInt8]) -> [UInt8] {
        buffer += bytes
        var out: [UInt8] = []
        while !finished, let lineEnd = Wire.find([13, 10], in: buffer) {
            let sizeText = String(decoding: buffer[..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                finished = true
                break
            }
            if size == 0 {
                finished = true
                break
            }
            let start = lineEnd + 2
            guard buffer.count >= start + size + 2 else { break }
            out += buffer[start..<(start + size)]
            buffer.removeFirst(start + size + 2)
        }
        return out
    }
}
