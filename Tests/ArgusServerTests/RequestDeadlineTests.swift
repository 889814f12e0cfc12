import ArgusClient
import ArgusServer
import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to 127.0.0.1, for sending exactly the bytes a misbehaving client would.
final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure("connect failed: \(String(cString: strerror(errno)))")
        }
    }

    func send(_ text: String) {
        _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until the server closes the connection or `timeout` passes: (what arrived, closed, seconds waited).
    func readUntilClosed(timeout: TimeInterval) -> (text: String, closed: Bool, seconds: TimeInterval) {
        let t0 = Date()
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(t0) < timeout {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return (String(decoding: got, as: UTF8.self), true, Date().timeIntervalSince(t0)) }
            got += buf[0..<n]
        }
        return (String(decoding: got, as: UTF8.self), false, Date().timeIntervalSince(t0))
    }

    deinit { close(fd) }
}

/// No client holds a connection by sending slowly; oversized bodies are refused before they are read; the number of
/// connections is capped. Streams and long-polls, which are slow by design, are never cut.
@Suite("Request deadlines and limits")
struct RequestDeadlineTests {
    static let fast = ["ARGUS_HEADER_TIMEOUT_S": "1", "ARGUS_BODY_TIMEOUT_S": "1", "ARGUS_MAX_BODY_MB": "1"]

    @Test("unfinished headers and a body shorter than its Content-Length are cut off after the configured timeout")
    func slowClientsAreClosed() throws {
        let s = try TestServer(env: Self.fast)
        let token = try s.token()
        let headers = try RawConnection(port: s.port)
        headers.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        let body = try RawConnection(port: s.port)
        body.send(
            "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event_id\":")
        let (_, headersClosed, t1) = headers.readUntilClosed(timeout: 5)
        #expect(headersClosed && t1 < 2.5, "unfinished headers held the connection \(t1) s")
        let (_, bodyClosed, t2) = body.readUntilClosed(timeout: 5)
        #expect(bodyClosed && t2 < 2.5, "a short body held the connection \(t2) s")
        // A well-behaved client on the same server is served as usual; a cut-off body is no server error.
        #expect(try s.client(token).get("/health").status == 200)
        #expect(!s.log.contains("internal error"), "\(s.log)")
        #expect(s.log.contains("POST /api/events 400"))
    }

    @Test("a connection answered before its body arrived is closed once idle, like any other")
    func idleAfterEarlyAnswer() throws {
        let s = try TestServer(env: Self.fast)
        let c = try RawConnection(port: s.port)
        c.send("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\nContent-Length: 2\r\n\r\n")
        let (early, closedEarly, _) = c.readUntilClosed(timeout: 0.5)
        #expect(early.hasPrefix("HTTP/1.1 401") && !closedEarly, "\(early)")
        c.send("{}")
        let (_, closed, seconds) = c.readUntilClosed(timeout: 5)
        #expect(closed && seconds < 2.5, "an idle keep-alive connection stayed open \(seconds) s")
    }

    @Test("a Content-Length over the limit is 413 at once, without the body being sent, and the connection closes")
    func declaredTooLarge() throws {
        let s = try TestServer(env: Self.fast)
        let token = try s.token()
        let c = try RawConnection(port: s.port)
        c.send(
            "POST /api/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n")
        let (text, closed, seconds) = c.readUntilClosed(timeout: 5)
        #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
        #expect(text.contains("The body is too large (5000000 bytes); the limit is 1048576 bytes (ARGUS_MAX_BODY_MB)."))
        #expect(closed && seconds < 0.9, "answered and closed in \(seconds) s, before any body timeout")
    }

    @Test("an SSE stream and a long-poll outlive the header and body timeouts")
    func streamsAreNotCut() throws {
        let s = try TestServer(env: Self.fast)
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b1"))
        let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1", token: token)
        defer { stream.stop() }
        try stream.waitUntilConnected()
        let reg = try c.post("/api/agents/register", json: ["hostname": "h"])
        let agentID = try #require(reg.json?["agent_id"]?.intValue)
        let agent = s.client(reg.json?["agent_token"]?.stringValue)
        let t0 = Date()
        let poll = try agent.get("/api/agents/\(agentID)/jobs?wait=2.5")
        #expect(poll.status == 200)
        #expect(Date().timeIntervalSince(t0) >= 2.4, "the long-poll waited its full time")
        #expect(stream.ended == nil, "a quiet stream must stay open past the timeouts")
        try c.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "still streaming", "level": "info"]))
        try stream.wait(until: { $0.contains { $0.data.contains("still streaming") } })
    }

    @Test("connections are capped: 20 unfinished ones hold about ARGUS_MAX_CONNECTIONS sockets, and service resumes")
    func connectionCap() throws {
        let s = try TestServer(env: ["ARGUS_MAX_CONNECTIONS": "5", "ARGUS_HEADER_TIMEOUT_S": "2"])
        let pid = s.process.processIdentifier
        func serverSockets() -> Int {
            let dir = "/proc/\(pid)/fd"
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
            return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")) ?? "").hasPrefix("socket:") }
                .count
        }
        let baseline = serverSockets()
        let idle = try (0..<20).map { _ in
            let c = try RawConnection(port: s.port)
            c.send("GET /health HTTP/1.1\r\n")
            return c
        }
        Thread.sleep(forTimeInterval: 0.5)
        let held = serverSockets() - baseline
        // SwiftNIO accepts up to 4 connections per wakeup, so the cap can be passed by at most 3.
        #expect(held <= 5 + 3, "the server holds \(held) connections")
        #expect(held >= 1)
        // The unfinished ones time out and everyone else gets in.
        #expect(try HTTPClient(baseURL: s.url, token: nil, timeout: 20).get("/health").status == 200)
        withExtendedLifetime(idle) {}
    }
}

@Suite("Request limit settings")
struct RequestLimitConfigTests {
    @Test("timeouts and the connection cap have defaults, parse strictly and are listed for `serve --help`")
    func parsing() throws {
        let d = try ServerConfig.fromEnvironment([:])
        #expect(d.headerTimeoutS == 10 && d.bodyTimeoutS == 30 && d.maxConnections == 1000)
        let set = try ServerConfig.fromEnvironment([
            "ARGUS_HEADER_TIMEOUT_S": "2.5", "ARGUS_BODY_TIMEOUT_S": "0.5", "ARGUS_MAX_CONNECTIONS": "64",
        ])
        #expect(set.headerTimeoutS == 2.5 && set.bodyTimeoutS == 0.5 && set.maxConnections == 64)
        for (name, bad) in [
            ("ARGUS_HEADER_TIMEOUT_S", "0"), ("ARGUS_HEADER_TIMEOUT_S", "soon"), ("ARGUS_BODY_TIMEOUT_S", "-1"),
            ("ARGUS_MAX_CONNECTIONS", "0"), ("ARGUS_MAX_CONNECTIONS", "2.5"),
        ] {
            #expect(throws: ServerConfig.ConfigError.self, "\(name)=\(bad)") { try ServerConfig.fromEnvironment([name: bad]) }
            do { _ = try ServerConfig.fromEnvironment([name: bad]) } catch { #expect(error.description.contains(name)) }
        }
        let listed = ServerConfig.variables.map { "\($0.name)=\($0.defaultText)" }
        for v in ["ARGUS_HEADER_TIMEOUT_S=10", "ARGUS_BODY_TIMEOUT_S=30", "ARGUS_MAX_CONNECTIONS=1000"] {
            #expect(listed.contains(v))
        }
    }
}
