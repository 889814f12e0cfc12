import ArgusClient
import Foundation
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `argus-bench load URL TOKEN SERVER_PID [SECONDS=60] [SUBSCRIBERS=500] [RATE=10000] [BATCHES=50] [PER_REQUEST=50]`:
/// SUBSCRIBERS SSE streams spread over BATCHES running batches, while RATE events a second are ingested into them
/// (PER_REQUEST events per `POST /api/events/batch`, one batch per request, on a fixed schedule from 8 clients).
/// Every event carries its batch's sequence number and its send time: each subscriber counts what it received
/// (gaps: an acknowledged event of its batch it never got) and the delivery latency, receive − send on the same
/// clock. Prints a table: events sent/acknowledged/errors, per-subscriber counts, delivery p50/p99/max, the
/// server's CPU and RSS (read from /proc/SERVER_PID), and this probe's own CPU (it shares the machine).
///
/// The subscribers are raw sockets read by two threads with poll(2) (chunked transfer decoding, then a scan of the
/// frames' bytes), not a thread each with SSEConnection: the probe shares the machine with the server, and what it
/// spends is taken from what is measured.
enum LoadTest {
    struct Options {
        var url: String
        var token: String
        var pid: Int32
        var seconds = 60.0
        var subscribers = 500
        var rate = 10_000.0
        var batches = 50
        var perRequest = 50
    }

    static func run(_ args: [String]) throws {
        var o = Options(url: args[2], token: args[3], pid: Int32(args[4]) ?? 0)
        if args.count > 5 { o.seconds = Double(args[5]) ?? o.seconds }
        if args.count > 6 { o.subscribers = Int(args[6]) ?? o.subscribers }
        if args.count > 7 { o.rate = Double(args[7]) ?? o.rate }
        if args.count > 8 { o.batches = max(1, Int(args[8]) ?? o.batches) }
        if args.count > 9 { o.perRequest = max(1, Int(args[9]) ?? o.perRequest) }
        let options = o
        let run = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let batchIDs = (0..<o.batches).map { "load-\(run)-\($0)" }

        // The batches exist before anyone subscribes to them.
        let setup = HTTPClient(baseURL: o.url, token: o.token, timeout: 30)
        for b in batchIDs {
            let start: JSON = [
                "event_id": .string("\(b)-start"), "schema_version": "1.1", "event_type": "batch_start",
                "timestamp": .string(Timestamp.now().iso), "batch_id": .string(b), "job_id": .null,
                "source": ["project": "load", "host": "gpu-1"], "data": ["n_total_jobs": 1],
            ]
            let r = try setup.post("/api/events", json: start)
            guard r.status == 200 else { throw ClientError(.http, status: r.status, "batch_start: \(r.text)") }
        }
        let rssStart = Proc.rssMB(o.pid)

        // Subscribers: subscriber k watches batch k % BATCHES.
        let (host, port) = try hostPort(o.url)
        let subs = try (0..<o.subscribers).map { k in
            try Subscriber(host: host, port: port, token: o.token, batchIndex: k % o.batches, batchID: batchIDs[k % o.batches])
        }
        let readers = (0..<2).map { r in Reader(subs: subs.enumerated().filter { $0.offset % 2 == r }.map(\.element)) }
        readers.forEach { $0.start() }
        let connectDeadline = Date().addingTimeInterval(30)
        while subs.contains(where: { !$0.connected }) {
            if Date() > connectDeadline || subs.contains(where: { $0.failure != nil }) {
                let why = subs.compactMap(\.failure).first ?? "\(subs.filter { !$0.connected }.count) not connected in 30 s"
                throw ClientError(.connection, "subscribers did not all connect: \(why)")
            }
            usleep(10_000)
        }

        // Ingest on a fixed schedule: request k goes to batch k % BATCHES at t0 + k × PER_REQUEST / RATE.
        let totalRequests = Int(o.seconds * o.rate) / o.perRequest
        let interval = Double(o.perRequest) / o.rate
        let next = Counter()
        let posts = PostLog(batches: o.batches)
        let cpuStart = Proc.cpuSeconds(o.pid)
        let selfStart = Proc.ownCPUSeconds()
        let machineStart = Proc.machineBusySeconds()
        let t0 = Date().timeIntervalSince1970 + 0.2
        let group = DispatchGroup()
        for _ in 0..<8 {
            group.enter()
            Thread {
                let o = options
                let client = HTTPClient(baseURL: o.url, token: o.token, timeout: 30)
                while case let k = next.take(), k < totalRequests {
                    let scheduled = t0 + Double(k) * interval
                    let now = Date().timeIntervalSince1970
                    if scheduled > now { usleep(UInt32((scheduled - now) * 1_000_000)) }
                    let b = k % o.batches
                    let firstSeq = (k / o.batches) * o.perRequest
                    let sent = Date().timeIntervalSince1970
                    let stamp = String(format: "%.6f", sent)
                    let body = requestBody(batch: batchIDs[b], firstSeq: firstSeq, count: o.perRequest, stamp: stamp)
                    let r = try? client.request("POST", "/api/events/batch", body: body, headers: ["Content-Type": "application/json"])
                    let accepted = r?.status == 200 ? (r?.json?["accepted"]?.intValue ?? 0) : 0
                    posts.record(
                        batch: b, request: k / o.batches, ok: accepted == o.perRequest,
                        latencyMs: (Date().timeIntervalSince1970 - sent) * 1000, behindMs: (sent - scheduled) * 1000,
                        sentUs: Delivery.key(Double(stamp) ?? sent))
                }
                group.leave()
            }.start()
        }
        group.wait()
        let wall = Date().timeIntervalSince1970 - t0
        let cpu = Proc.cpuSeconds(o.pid) - cpuStart
        let selfCPU = Proc.ownCPUSeconds() - selfStart
        let othersCPU = Proc.machineBusySeconds() - machineStart - cpu - selfCPU

        // Let the streams catch up (at most 10 s), then count.
        let expected = posts.ackedRequests
        let catchUp = Date().addingTimeInterval(10)
        while Date() < catchUp
            && subs.contains(where: { !$0.ended && $0.receivedCount < expected[$0.batchIndex].count * o.perRequest })
        {
            usleep(20_000)
        }
        readers.forEach { $0.stop() }
        let rssEnd = Proc.rssMB(o.pid)
        let rssPeak = Proc.peakRSSMB(o.pid)

        let healthy = subs.filter { !$0.ended }
        var gaps = 0
        var unexpected = 0
        for s in healthy {
            let acked = expected[s.batchIndex]
            let (missing, extra) = s.compare(ackedRequests: acked, perRequest: o.perRequest)
            gaps += missing
            unexpected += extra
        }
        let counts = healthy.map(\.receivedCount)
        var latencies: [Float] = []
        latencies.reserveCapacity(readers.reduce(0) { $0 + $1.latencyCount })
        var afterAnswer: [Double] = []
        for r in readers {
            let d = r.allDeliveries
            latencies += d.map(\.latencyMs)
            afterAnswer += posts.afterAnswer(d)
        }
        latencies.sort()
        afterAnswer.sort()
        let beforeAnswer = Double(afterAnswer.prefix { $0 < 0 }.count) / Double(max(1, afterAnswer.count)) * 100
        let postLat = posts.latencies.sorted()
        let behind = posts.behind.sorted()
        /// The `p` quantile of sorted `a`, with `digits` decimals.
        func q<F: BinaryFloatingPoint>(_ a: [F], _ p: Double, digits: Int = 2) -> String {
            a.isEmpty ? "-" : String(format: "%.\(digits)f", Double(a[min(a.count - 1, Int(p * Double(a.count)))]))
        }
        func qd(_ a: [Double], _ p: Double) -> String { q(a, p, digits: 1) }
        let perBatch = expected.map { $0.count * o.perRequest }
        let sent = totalRequests * o.perRequest
        let ackedEvents = expected.reduce(0) { $0 + $1.count } * o.perRequest
        let rows: [(String, String)] = [
            ("duration / target ingest rate", String(format: "%.1f s / %.0f ev/s", wall, o.rate)),
            ("subscribers / batches / events per request", "\(o.subscribers) / \(o.batches) / \(o.perRequest)"),
            ("events sent / acknowledged / errors", "\(sent) / \(ackedEvents) / \(sent - ackedEvents)"),
            ("achieved ingest rate (ev/s acknowledged)", String(format: "%.0f", Double(ackedEvents) / wall)),
            ("ingest request p50 / p99 / max (ms)", "\(qd(postLat, 0.5)) / \(qd(postLat, 0.99)) / \(qd(postLat, 1))"),
            ("poster behind schedule p99 / max (ms)", "\(qd(behind, 0.99)) / \(qd(behind, 1))"),
            ("healthy subscribers / dropped by the server", "\(healthy.count) / \(subs.count - healthy.count)"),
            (
                "events per healthy subscriber min / max",
                "\(counts.min() ?? 0) / \(counts.max() ?? 0) (its batch's: \(perBatch.min() ?? 0) / \(perBatch.max() ?? 0))"
            ),
            ("gaps (acknowledged, never delivered) / unexpected", "\(gaps) / \(unexpected)"),
            ("deliveries", "\(latencies.count)"),
            ("delivery latency p50 / p99 / max (ms)", "\(q(latencies, 0.5)) / \(q(latencies, 0.99)) / \(q(latencies, 1))"),
            (
                "  after its request's answer p50 / p99 / max (ms)",
                "\(q(afterAnswer, 0.5)) / \(q(afterAnswer, 0.99)) / \(q(afterAnswer, 1)) (\(String(format: "%.0f", beforeAnswer)) % before it)"
            ),
            ("server CPU (% of one core)", String(format: "%.0f %%", cpu / wall * 100)),
            ("server RSS start / peak / end (MB)", String(format: "%.0f / %.0f / %.0f", rssStart, rssPeak, rssEnd)),
            ("this probe's CPU (% of one core)", String(format: "%.0f %%", selfCPU / wall * 100)),
            (
                "everything else on the machine (% of one core)",
                String(format: "%.0f %% (of %d cores)", max(0, othersCPU) / wall * 100, ProcessInfo.processInfo.activeProcessorCount)
            ),
        ]
        print(String(repeating: "-", count: 86))
        for (k, v) in rows { print(k.padding(toLength: 50, withPad: " ", startingAt: 0) + v) }
        print(String(repeating: "-", count: 86))
    }

    static func hostPort(_ url: String) throws -> (String, Int) {
        guard let u = URL(string: url), let host = u.host, let port = u.port else {
            throw ClientError(.connection, "cannot read host and port from \(url)")
        }
        return (host, port)
    }

    /// One `POST /api/events/batch` body: COUNT log lines of one batch, numbered from FIRST_SEQ, each carrying STAMP
    /// (the send time, seconds with six decimals) as `sent`.
    static func requestBody(batch: String, firstSeq: Int, count: Int, stamp: String) -> [UInt8] {
        var body: [UInt8] = Array(#"{"events":["#.utf8)
        let ts = Timestamp.now().iso
        for i in 0..<count {
            let seq = firstSeq + i
            if i > 0 { body.append(UInt8(ascii: ",")) }
            body.append(
                contentsOf: """
                    {"event_id":"\(batch)-\(seq)","schema_version":"1.1","event_type":"log_line","timestamp":"\(ts)",\
                    "batch_id":"\(batch)","job_id":"j","source":{"project":"load","host":"gpu-1"},\
                    "data":{"line":"step \(seq): loss 0.\(seq % 9973) lr 3e-4 throughput 1234 img/s","level":"info",\
                    "seq":\(seq),"sent":\(stamp)}}
                    """.utf8)
        }
        body.append(contentsOf: "]}".utf8)
        return body
    }
}

/// One event as a subscriber received it: post → receipt, and which request it came in (its `sent` stamp).
struct Delivery: Sendable {
    var latencyMs: Float
    var sentUs: Int64

    /// A request's `sent` stamp (seconds, six decimals in the body) as whole microseconds.
    static func key(_ sent: Double) -> Int64 { Int64((sent * 1_000_000).rounded()) }
}

/// What the posters did: per batch, which requests were acknowledged whole; request latencies; lateness.
final class PostLog: @unchecked Sendable {
    private let lock = NSLock()
    private var acked: [[Int]]
    private var lat: [Double] = []
    private var late: [Double] = []
    /// Each request's round trip, by its `sent` stamp (`Delivery.key`).
    private var roundTrip: [Int64: Double] = [:]

    init(batches: Int) { acked = Array(repeating: [], count: batches) }

    func record(batch: Int, request: Int, ok: Bool, latencyMs: Double, behindMs: Double, sentUs: Int64) {
        lock.withLock {
            if ok { acked[batch].append(request) }
            lat.append(latencyMs)
            late.append(behindMs)
            roundTrip[sentUs] = latencyMs
        }
    }

    /// Receipt after the event's request was answered (ms; below 0 when the stream was faster than the answer):
    /// what the SSE fan-out adds to the ingest round trip.
    func afterAnswer(_ deliveries: [Delivery]) -> [Double] {
        lock.withLock { deliveries.compactMap { d in roundTrip[d.sentUs].map { Double(d.latencyMs) - $0 } } }
    }

    var ackedRequests: [[Int]] { lock.withLock { acked } }
    var latencies: [Double] { lock.withLock { lat } }
    var behind: [Double] { lock.withLock { late } }
}

/// One SSE stream on a raw socket: the request, the response head, chunked transfer decoding, SSE frames.
final class Subscriber: @unchecked Sendable {
    let fd: Int32
    let batchIndex: Int
    // Read by the main thread while a reader thread writes them.
    private let connectedFlag = Atomic<Bool>(false)
    private let endedFlag = Atomic<Bool>(false)
    private let count = Atomic<Int>(0)
    private let failureText = Mutex<String?>(nil)
    var connected: Bool { connectedFlag.load(ordering: .relaxed) }
    var ended: Bool { endedFlag.load(ordering: .relaxed) }
    var receivedCount: Int { count.load(ordering: .relaxed) }
    var failure: String? { failureText.withLock { $0 } }
    private var head: [UInt8] = []
    private var inHead = true
    private var chunks = ChunkedDecoder()
    /// Bytes of the stream not yet making a whole SSE frame.
    private var pending: [UInt8] = []
    /// Sequence numbers received (a bit each).
    private var seen: [UInt64] = []

    /// `lastEventID`: resume after that id (the soak's viewers pass "0": the whole batch from its start, so that
    /// events posted before the stream opened count too).
    init(host: String, port: Int, token: String, batchIndex: Int, batchID: String, lastEventID: String? = nil) throws {
        self.batchIndex = batchIndex
        fd = try RawSockets.connectTCP(host: host, port: port)
        let request =
            "GET \(APIPath.sse([.batch(batchID)])) HTTP/1.1\r\nHost: \(host):\(port)\r\nAuthorization: Bearer \(token)\r\n"
            + "Accept: text/event-stream\r\n" + (lastEventID.map { "Last-Event-ID: \($0)\r\n" } ?? "") + "\r\n"
        _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        RawSockets.setNonBlocking(fd)
    }

    /// Handles bytes read from the socket; appends the delivery latency (ms) of each event to `latencies`.
    func consume(_ bytes: UnsafeBufferPointer<UInt8>, now: Double, latencies: inout [Delivery]) {
        guard inHead else { return consumeBody(bytes[...], now: now, latencies: &latencies) }
        head += bytes
        guard let end = head.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        guard String(decoding: head.prefix(12), as: UTF8.self).hasSuffix("200") else {
            failureText.withLock { $0 = String(decoding: head, as: UTF8.self) }
            markEnded()
            return
        }
        let rest = Array(head[end.upperBound...])
        inHead = false
        head = []
        rest.withUnsafeBufferPointer { consumeBody($0[...], now: now, latencies: &latencies) }
    }

    private func consumeBody(_ bytes: Slice<UnsafeBufferPointer<UInt8>>, now: Double, latencies: inout [Delivery]) {
        pending += chunks.feed(bytes)
        if chunks.finished { markEnded() }
        // Whole frames only ("\n\n" ends one); the rest waits for more bytes. A scan of the bytes, not the shared
        // SSEParser: at 100,000 deliveries a second the probe's own parsing would otherwise be what is measured.
        var start = 0
        pending.withUnsafeBufferPointer { buf in
            while let end = Self.find(Self.frameEnd, in: buf, from: start) {
                let frame = UnsafeBufferPointer(rebasing: buf[start..<end])
                start = end + 2
                if Self.find(Self.helloLine, in: frame, from: 0) != nil {
                    connectedFlag.store(true, ordering: .relaxed)
                    continue
                }
                guard Self.find(Self.logLine, in: frame, from: 0) != nil,
                    let seq = Self.number(after: Self.seqKey, in: frame),
                    let sent = Self.number(after: Self.sentKey, in: frame)
                else { continue }
                let s = Int(seq)
                let word = s / 64
                if word >= seen.count { seen += Array(repeating: 0, count: word - seen.count + 1) }
                if seen[word] & (1 << UInt64(s % 64)) == 0 {
                    seen[word] |= 1 << UInt64(s % 64)
                    count.add(1, ordering: .relaxed)
                }
                latencies.append(Delivery(latencyMs: Float((now - sent) * 1000), sentUs: Delivery.key(sent)))
            }
        }
        if start > 0 { pending.removeFirst(start) }
    }

    static let frameEnd = Array("\n\n".utf8)
    static let helloLine = Array("event: hello\n".utf8)
    static let logLine = Array("event: log_line\n".utf8)
    static let seqKey = Array("\"seq\":".utf8)
    static let sentKey = Array("\"sent\":".utf8)

    /// Where `needle` starts in `hay` at or after `from`, or nil (memchr for its first byte, then memcmp).
    static func find(_ needle: [UInt8], in hay: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard let base = hay.baseAddress else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            guard let p = memchr(base + i, Int32(needle[0]), hay.count - i - needle.count + 1) else { return nil }
            let j = UnsafePointer(p.assumingMemoryBound(to: UInt8.self)) - base
            if memcmp(base + j, needle, needle.count) == 0 { return j }
            i = j + 1
        }
        return nil
    }

    /// The number after `key` in a frame (these are the bench's own events: plain decimals).
    static func number(after key: [UInt8], in frame: UnsafeBufferPointer<UInt8>) -> Double? {
        guard var i = find(key, in: frame, from: 0) else { return nil }
        i += key.count
        var whole: Double = 0
        var scale: Double = 0
        while i < frame.count {
            let c = frame[i]
            if c >= 48 && c <= 57 {
                whole = whole * 10 + Double(c - 48)
                if scale > 0 { scale *= 10 }
            } else if c == UInt8(ascii: ".") && scale == 0 {
                scale = 1
            } else {
                break
            }
            i += 1
        }
        return scale > 0 ? whole / scale : whole
    }

    /// (acknowledged events never received, events received that were never acknowledged).
    func compare(ackedRequests: [Int], perRequest: Int) -> (missing: Int, unexpected: Int) {
        var got = 0
        for r in ackedRequests {
            for s in r * perRequest..<(r + 1) * perRequest {
                let word = s / 64
                if word < seen.count, seen[word] & (1 << UInt64(s % 64)) != 0 { got += 1 }
            }
        }
        return (ackedRequests.count * perRequest - got, receivedCount - got)
    }

    /// Acknowledged sequence numbers this subscriber never received (the first few, to say which).
    func missing(ackedRequests: [Int], perRequest: Int, first: Int = 5) -> [Int] {
        var out: [Int] = []
        for r in ackedRequests {
            for s in r * perRequest..<(r + 1) * perRequest where out.count < first {
                let word = s / 64
                if !(word < seen.count && seen[word] & (1 << UInt64(s % 64)) != 0) { out.append(s) }
            }
        }
        return out
    }

    func markEnded() { endedFlag.store(true, ordering: .relaxed) }

}

/// HTTP/1.1 chunked transfer decoding, incrementally.
struct ChunkedDecoder {
    private enum State { case size, data(Int), dataCRLF(Int), done }
    private var state = State.size
    private var sizeLine: [UInt8] = []
    var finished: Bool { if case .done = state { true } else { false } }

    mutating func feed(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> [UInt8] {
        var out: [UInt8] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            switch state {
            case .size:
                let c = bytes[i]
                i += 1
                if c == UInt8(ascii: "\n") {
                    let hex =
                        String(decoding: sizeLine, as: UTF8.self).split(separator: ";").first?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                    sizeLine = []
                    let n = Int(hex, radix: 16) ?? 0
                    state = n == 0 ? .done : .data(n)
                } else {
                    sizeLine.append(c)
                }
            case .data(let left):
                let take = min(left, bytes.endIndex - i)
                out.append(contentsOf: bytes[i..<i + take])
                i += take
                state = left - take == 0 ? .dataCRLF(2) : .data(left - take)
            case .dataCRLF(let left):
                i += 1
                state = left == 1 ? .size : .dataCRLF(left - 1)
            case .done:
                return out
            }
        }
        return out
    }
}

/// Reads a share of the subscribers with poll(2) until stopped; keeps the latencies it measured.
final class Reader: @unchecked Sendable {
    let subs: [Subscriber]
    private let lock = NSLock()
    private var running = true
    private var latencies: [Delivery] = []
    private let done = DispatchSemaphore(value: 0)

    init(subs: [Subscriber]) { self.subs = subs }

    func start() {
        Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            var local: [Delivery] = []
            local.reserveCapacity(1 << 20)
            var lastFlush = 0.0
            while lock.withLock({ running }) {
                let open = subs.filter { !$0.ended }
                var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
                for (s, p) in zip(open, fds) where p.revents != 0 {
                    while true {
                        let n = recv(s.fd, &buf, buf.count, 0)
                        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                            s.markEnded()
                            break
                        }
                        if n < 0 { break }
                        let now = Date().timeIntervalSince1970
                        buf.withUnsafeBufferPointer { b in
                            s.consume(UnsafeBufferPointer(rebasing: b[0..<n]), now: now, latencies: &local)
                        }
                    }
                }
                // Handed over twice a second (the soak reads them per interval), or when many have piled up.
                let now = Date().timeIntervalSince1970
                if local.count > 100_000 || now - lastFlush > 0.5 {
                    lastFlush = now
                    let batch = local
                    local.removeAll(keepingCapacity: true)
                    lock.withLock { latencies += batch }
                }
            }
            lock.withLock { latencies += local }
            for s in subs { close(s.fd) }
            done.signal()
        }.start()
    }

    func stop() {
        lock.withLock { running = false }
        done.wait()
    }

    var latencyCount: Int { lock.withLock { latencies.count } }
    var allLatencies: [Float] { lock.withLock { latencies.map(\.latencyMs) } }
    var allDeliveries: [Delivery] { lock.withLock { latencies } }
}

/// The server's CPU time and memory, from /proc.
enum Proc {
    static func status(_ pid: Int32, _ key: String) -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(key) } ?? ""
        return (Double(line.split(separator: " ").dropFirst().first ?? "") ?? 0) / 1024
    }

    static func rssMB(_ pid: Int32) -> Double { status(pid, "VmRSS:") }
    static func peakRSSMB(_ pid: Int32) -> Double { status(pid, "VmHWM:") }

    /// User + system CPU seconds of the process so far.
    static func cpuSeconds(_ pid: Int32) -> Double {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        // Fields after the command name (which may hold spaces) in parentheses: utime and stime are 14 and 15.
        guard let close = text.lastIndex(of: ")") else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The process's CPU time so far in nanoseconds (its CPU clock: every thread, the ones that ended included), for
    /// figures finer than /proc's 10 ms ticks; 0 when the clock cannot be read.
    static func cpuNanoseconds(_ pid: Int32) -> UInt64 {
        var clock = clockid_t()
        var t = timespec()
        guard clock_getcpuclockid(pid, &clock) == 0, clock_gettime(clock, &t) == 0 else { return 0 }
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }

    /// CPU seconds all cores spent busy so far (user, nice, system, irq, softirq, steal in /proc/stat).
    static func machineBusySeconds() -> Double {
        let text = (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)) ?? ""
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") }) else { return 0 }
        let f = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard f.count >= 8 else { return 0 }
        return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func ownCPUSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
            + Double(u.ru_stime.tv_usec) / 1e6
    }
}
