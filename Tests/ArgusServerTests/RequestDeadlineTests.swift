import ArgusClient
import ArgusServer
import Foundation
import Shared
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// No client holds a connection by sending slowly; oversized bodies are refused before they are read; the number of
/// connections is capped. Streams and long-polls, which are slow by design, are never cut.
@Suite("Request deadlines and limits", .enabled(if: TestBackend.firstPass), .ownThread)
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
        let (answer, bodyClosed, t2) = body.readUntilClosed(timeout: 5)
        #expect(bodyClosed && t2 < 2.5, "a short body held the connection \(t2) s")
        // Closed without an answer, which argus-reporter sends again (it would drop the event after a 408).
        #expect(answer.isEmpty, "\(answer)")
        // A well-behaved client on the same server is served as usual; a cut-off body is no server error.
        #expect(try s.client(token).get("/health").status == 200)
        #expect(!s.log.contains("internal error"), "\(s.log)")
        #expect(s.log.contains("POST /api/events 400"))
    }

    @Test("shutdown does not wait out the body timeout for an upload stuck halfway: it exits within seconds")
    func shutdownCutsAStuckUpload() throws {
        let s = try TestServer()
        let token = try s.token()
        let stuck = try RawConnection(port: s.port)
        stuck.send(
            "POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event_id\":")
        #expect(try s.client(token).get("/health").status == 200)
        // ARGUS_BODY_TIMEOUT_S is 30 s; SIGTERM gives the upload 2 s more, then the server exits.
        let took = s.stop()
        #expect(took < 8, "shutdown waited \(took) s for a stuck upload")
        #expect(!s.process.isRunning)
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

    @Test("a client that sends its oversized body anyway still reads the 413 and its sentence, not a reset")
    func declaredTooLargeSentAnyway() throws {
        let s = try TestServer(env: Self.fast)
        let token = try s.token()
        for _ in 0..<3 {
            let c = try RawConnection(port: s.port)
            c.send(
                "POST /api/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n")
            // The whole body, at once, without waiting for an answer: a client with no `Expect: 100-continue`.
            let sent = c.send(bytes: [UInt8](repeating: UInt8(ascii: "x"), count: 3_000_000))
            let (text, closed, seconds) = c.readUntilClosed(timeout: 5)
            #expect(sent, "the server reset the connection while the body was being sent")
            #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
            #expect(text.contains("The body is too large (3000000 bytes)"), "\(text)")
            #expect(closed && seconds < 2.5, "closed after \(seconds) s")
        }
        #expect(try s.client(token).get("/health").status == 200)
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
        for bad in ["abc", "31", "-1", "nan"] {
            let r = try agent.get("/api/agents/\(agentID)/jobs?wait=\(bad)")
            #expect(r.status == 422 && r.serverDetail == "wait must be a number of seconds from 0 to 30, got '\(bad)'.", "\(r.text)")
        }
        let poll = try agent.get("/api/agents/\(agentID)/jobs?wait=2.5")
        #expect(poll.status == 200)
        #expect(Date().timeIntervalSince(t0) >= 2.4, "the long-poll waited its full time")
        #expect(stream.ended == nil, "a quiet stream must stay open past the timeouts")
        try c.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "still streaming", "level": "info"]))
        try stream.wait(until: { $0.contains { $0.data.contains("still streaming") } })
    }

    @Test("request line and headers over ARGUS_MAX_HEADER_KB are 431 with a sentence, and the connection closes")
    func headerLimit() throws {
        let s = try TestServer(env: ["ARGUS_MAX_HEADER_KB": "2"])
        let token = try s.token()
        let pad = { (n: Int) in "X-Pad: \(String(repeating: "p", count: n))\r\n" }
        let under = try RawConnection(port: s.port)
        under.send("GET /api/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\(pad(1500))\r\n")
        let (ok, _, _) = under.readUntilClosed(timeout: 0.5)
        #expect(ok.hasPrefix("HTTP/1.1 200"), "\(ok.prefix(200))")
        for request in [
            "GET /api/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\(pad(2100))\r\n",
            "GET /api/batches HTTP/1.1\r\nHost: x\r\n" + String(repeating: pad(100), count: 30) + "\r\n",
            // Never finished: refused as soon as the limit is passed, not at the header deadline.
            "GET /health HTTP/1.1\r\nHost: x\r\n\(pad(3000))",
        ] {
            let c = try RawConnection(port: s.port)
            c.send(request)
            let (text, closed, seconds) = c.readUntilClosed(timeout: 5)
            #expect(text.hasPrefix("HTTP/1.1 431"), "\(text.prefix(200))")
            #expect(text.contains(#"{"detail":"The request's headers are too large; the limit is 2048 bytes (ARGUS_MAX_HEADER_KB)."}"#))
            #expect(closed && seconds < 1, "closed after \(seconds) s")
        }
        #expect(try s.client(token).get("/api/batches").status == 200)
    }

    /// Lifts this process's soft limit on open files to the hard one (the test holds thousands of sockets).
    static func raiseOpenFileLimit(atLeast n: Int) throws {
        var r = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
        r.rlim_cur = r.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
        guard r.rlim_cur >= rlim_t(n) else { throw TestFailure("the open-file limit is \(r.rlim_cur); this test needs \(n)") }
    }

    @Test(
        "2,000 idle connections while a client ingests and a stream reads: ingest stays quick, each one past ARGUS_MAX_CONNECTIONS takes the place of the one idle the longest, the rest are cut at the header deadline, memory stays bounded"
    )
    func idleConnections() throws {
        try Self.raiseOpenFileLimit(atLeast: 2500)
        let headerTimeout = 3.0
        let cap = 600
        let s = try TestServer(env: [
            "ARGUS_MAX_CONNECTIONS": String(cap), "ARGUS_HEADER_TIMEOUT_S": String(headerTimeout), "ARGUS_INGEST_RATE": "0",
        ])
        let pid = s.process.processIdentifier
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b"))
        let stream = SSECollector(url: s.url + APIPath.sse([.batch("b")]), token: token)
        defer { stream.stop() }
        try stream.waitUntilConnected()

        // One client ingests all along, on its kept-alive connection, timing each request.
        final class Ingest: @unchecked Sendable {
            let lock = NSLock()
            var latencies: [Double] = []
            var failures: [String] = []
            var running = true
        }
        let ingest = Ingest()
        let ingestDone = DispatchSemaphore(value: 0)
        Thread {
            let c = HTTPClient(baseURL: s.url, token: token, timeout: 10)
            var n = 0
            while ingest.lock.withLock({ ingest.running }) {
                let t0 = Date()
                let r = try? c.post("/api/events", json: Ev.make("log_line", batch: "b", data: ["line": .string("line \(n)")]))
                let ms = Date().timeIntervalSince(t0) * 1000
                ingest.lock.withLock {
                    if r?.status == 200 {
                        ingest.latencies.append(ms)
                    } else {
                        ingest.failures.append(r.map { "\($0.status) \($0.text)" } ?? "no answer")
                    }
                }
                n += 1
                usleep(5_000)
            }
            ingestDone.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.3)
        let rssBefore = s.rssMB
        func serverSockets() -> Int {
            let dir = "/proc/\(pid)/fd"
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter {
                ((try? FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/\($0)")) ?? "").hasPrefix("socket:")
            }.count
        }
        let socketsBefore = serverSockets()

        // 2,000 connections: half send nothing, half the start of a request that never ends. Every socket is
        // watched until the server closes it (when, and what it said first), already while the rest are opened: on
        // a loaded machine opening them all takes seconds, and a refusal must be seen when it comes.
        let total = 2000
        var conns: [(conn: RawConnection, opened: Date)] = []
        var closedAt = [Date?](repeating: nil, count: total)
        var said = [String](repeating: "", count: total)
        var buf = [UInt8](repeating: 0, count: 4096)
        func watch(_ timeoutMs: Int32) {
            let open = conns.indices.filter { closedAt[$0] == nil }
            var fds = open.map { pollfd(fd: conns[$0].conn.fd, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), timeoutMs)
            for (k, p) in zip(open, fds) where p.revents != 0 {
                let n = recv(p.fd, &buf, buf.count, 0)
                if n > 0 { said[k] += String(decoding: buf[0..<n], as: UTF8.self) } else { closedAt[k] = Date() }
            }
        }
        for k in 0..<total {
            let c = try RawConnection(port: s.port)
            if k % 2 == 1 { c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ") }
            conns.append((c, Date()))
            if k % 50 == 49 { watch(0) }
        }
        let openedIn = Date().timeIntervalSince(conns[0].opened)
        var rssPeak = s.rssMB
        var socketsPeak = 0
        var lastSample = Date.distantPast
        let deadline = Date().addingTimeInterval(headerTimeout + 20)
        while closedAt.contains(where: { $0 == nil }) && Date() < deadline {
            watch(50)
            if Date().timeIntervalSince(lastSample) > 0.2 {
                lastSample = Date()
                rssPeak = max(rssPeak, s.rssMB)
                socketsPeak = max(socketsPeak, serverSockets() - socketsBefore)
            }
        }
        ingest.lock.withLock { ingest.running = false }
        ingestDone.wait()
        Thread.sleep(forTimeInterval: 0.5)
        let rssAfter = s.rssMB

        let held = conns.indices.map { k in closedAt[k].map { $0.timeIntervalSince(conns[k].opened) } }
        #expect(held.allSatisfy { $0 != nil }, "\(held.filter { $0 == nil }.count) connections still open")
        // Every one cut without an answer: none refused, as idle ones held the places a new one took.
        let cut = conns.indices.filter { said[$0].isEmpty }
        #expect(cut.count == conns.count, "\(conns.indices.filter { !said[$0].isEmpty }.prefix(3).map { said[$0] })")
        // Never more than the cap held (the stream and the ingest client hold two of it). A sample also counts
        // sockets in passing: an evicted one whose close is queued on its event loop, and accepted ones waiting for
        // theirs to count them in. Alone that is under 25; CI, with four tests beside this one, once saw 59, so 100
        // are allowed, against the 1,400 more that a cap not kept would hold.
        // (On PostgreSQL the server also holds up to 7 sockets to its database, opened as the load needs them.)
        let own = TestBackend.isPostgres ? 7 : 0
        #expect(socketsPeak <= cap + 100 + own, "the server held \(socketsPeak) connections")
        // Past the cap, the oldest went first, long before their header deadline.
        let evicted = conns.indices.filter { (held[$0] ?? 0) < headerTimeout - 0.5 }
        #expect(evicted.count > 0 && evicted.allSatisfy { $0 < total - cap / 2 }, "\(evicted.suffix(3))")
        // The youngest: cut at the header deadline (nothing newer took their places). It counts from the server's
        // accept, which trails the client's connect while the server accepts 2,000 of them beside other tests (CI
        // saw 3.9–4.1 s for a 3 s deadline): up to 2 s late.
        let lastCut = cut.suffix(100).compactMap { held[$0] }
        #expect(
            lastCut.allSatisfy { $0 >= headerTimeout - 0.1 && $0 < headerTimeout + 2 }, "\(lastCut.min() ?? 0)…\(lastCut.max() ?? 0) s")
        let longest = cut.compactMap { held[$0] }.max() ?? 0
        #expect(longest < headerTimeout + openedIn + 2, "an idle connection was held \(longest) s")

        let (lat, failures) = ingest.lock.withLock { (ingest.latencies.sorted(), ingest.failures) }
        #expect(failures.isEmpty, "\(failures.prefix(3))")
        #expect(lat.count > 100)
        let p50 = lat[lat.count / 2]
        let p99 = lat[lat.count * 99 / 100]
        let slowest = lat.last ?? 0
        // Quick while the connections pile up: p99 under a second; and none waited for idle connections to be cut,
        // which would take the 3 s header deadline. (The slowest alone is not held to a second: on a loaded 2-core
        // machine, with four tests beside it, one request in 166 once took 1.5 s while p99 was 0.33 s.)
        #expect(p99 < 1000, "ingest p99 \(p99) ms")
        #expect(slowest < (headerTimeout - 1) * 1000, "an ingest request took \(slowest) ms")
        try stream.wait(timeout: 10, "every ingested event on the stream") { evs in
            evs.filter { $0.type == "log_line" }.count == lat.count
        }
        // Memory: 2,000 connections cost a few MB, and are given back.
        #expect(rssPeak - rssBefore < 150, "RSS \(rssBefore) → \(rssPeak) MB")
        #expect(rssAfter - rssBefore < 100, "RSS \(rssBefore) → \(rssAfter) MB after")
        print(
            String(
                format:
                    "idle connections: opened in %.2f s; %d closed early for newer ones, the last 100 cut in %.2f–%.2f s, all within %.2f s; peak %d held; ingest %d requests p50 %.1f ms p99 %.1f ms max %.1f ms; RSS %.0f → peak %.0f → %.0f MB",
                openedIn, evicted.count, lastCut.min() ?? 0, lastCut.max() ?? 0, longest,
                socketsPeak, lat.count, p50, p99, slowest, rssBefore, rssPeak, rssAfter))
        #expect(try s.client(token).get("/health").status == 200)
        let metrics = try s.client(nil).get("/metrics").text
        #expect(metrics.contains("argus_connections_refused_total 0"), "\(metrics.prefix(500))")
        let evictions = metrics.split(separator: "\n").first { $0.hasPrefix("argus_connections_evicted_total ") }
        #expect(evictions.flatMap { Int($0.split(separator: " ")[1]) }.map { $0 >= evicted.count } == true, "\(evictions ?? "")")
    }

    @Test(
        "slow-loris: connections that never finish their headers cannot lock others out; only when every connection is busy is one refused with 503"
    )
    func slowLoris() throws {
        let cap = 6
        let s = try TestServer(env: ["ARGUS_MAX_CONNECTIONS": String(cap), "ARGUS_HEADER_TIMEOUT_S": "30"])
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b"))
        // Another local user takes every place with requests whose headers never end.
        var loris: [RawConnection] = []
        for _ in 0..<cap {
            let c = try RawConnection(port: s.port)
            c.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            loris.append(c)
            Thread.sleep(forTimeInterval: 0.02)
        }
        Thread.sleep(forTimeInterval: 0.3)
        // A run's report and a viewer are served all the same (before: 503 for 30 s, or for as long as they liked),
        // and the oldest of the crowd is closed to make room, without an answer.
        #expect(try s.client(token).post("/api/events", json: Ev.make("log_line", batch: "b")).status == 200)
        let (answer, closed, _) = loris[0].readUntilClosed(timeout: 3)
        #expect(closed && answer.isEmpty, "\(answer)")
        // Busy connections are never cut: with every place taken by streams, the next is refused at once.
        var streams: [SSECollector] = []
        defer { streams.forEach { $0.stop() } }
        for _ in 0..<cap {
            let c = SSECollector(url: s.url + APIPath.sse([.batch("b")]), token: token)
            streams.append(c)
            try c.waitUntilConnected()
        }
        let refused = try s.client(token).get("/health")
        #expect(refused.status == 503, "\(refused.status) \(refused.text)")
        #expect(refused.text.contains("The server is at its connection limit (ARGUS_MAX_CONNECTIONS is \(cap))"), "\(refused.text)")
        #expect(streams.allSatisfy { $0.end == nil }, "a stream was cut")
    }
}

@Suite("Request limit settings", .enabled(if: TestBackend.firstPass), .ownThread)
struct RequestLimitConfigTests {
    @Test("timeouts and the connection cap have defaults, parse strictly and are listed for `serve --help`")
    func parsing() throws {
        let d = try ServerConfig.fromEnvironment([:])
        #expect(d.headerTimeoutS == 10 && d.bodyTimeoutS == 30 && d.maxConnections == 4096 && d.maxHeaderBytes == 16384)
        let set = try ServerConfig.fromEnvironment([
            "ARGUS_HEADER_TIMEOUT_S": "2.5", "ARGUS_BODY_TIMEOUT_S": "0.5", "ARGUS_MAX_CONNECTIONS": "64",
            "ARGUS_MAX_HEADER_KB": "8",
        ])
        #expect(set.headerTimeoutS == 2.5 && set.bodyTimeoutS == 0.5 && set.maxConnections == 64 && set.maxHeaderBytes == 8192)
        for (name, bad) in [
            ("ARGUS_HEADER_TIMEOUT_S", "0"), ("ARGUS_HEADER_TIMEOUT_S", "soon"), ("ARGUS_BODY_TIMEOUT_S", "-1"),
            ("ARGUS_MAX_CONNECTIONS", "0"), ("ARGUS_MAX_CONNECTIONS", "2.5"), ("ARGUS_MAX_HEADER_KB", "0"),
            ("ARGUS_MAX_HEADER_KB", "1.5"), ("ARGUS_MAX_HEADER_KB", "2048"), ("ARGUS_PG_STATEMENT_TIMEOUT_S", "0"),
            ("ARGUS_PG_STATEMENT_TIMEOUT_S", "0.5"), ("ARGUS_PG_STATEMENT_TIMEOUT_S", "soon"), ("ARGUS_PG_STATEMENT_TIMEOUT_S", "-1"),
        ] {
            #expect(throws: ServerConfig.ConfigError.self, "\(name)=\(bad)") { try ServerConfig.fromEnvironment([name: bad]) }
            do { _ = try ServerConfig.fromEnvironment([name: bad]) } catch {
                #expect(error.description.contains(name))
                if name == "ARGUS_PG_STATEMENT_TIMEOUT_S" { #expect(error.description.contains("from 1 to "), "\(error)") }
            }
        }
        let listed = ServerConfig.variables.map { "\($0.name)=\($0.defaultText)" }
        for v in [
            "ARGUS_HEADER_TIMEOUT_S=10", "ARGUS_BODY_TIMEOUT_S=30", "ARGUS_MAX_CONNECTIONS=4096", "ARGUS_MAX_HEADER_KB=16",
            "ARGUS_PG_STATEMENT_TIMEOUT_S=30",
        ] {
            #expect(listed.contains(v))
        }
    }
}
