import ArgusClient
import Foundation
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `argus-bench soak URL[,URL…] TOKEN PID[,PID…] [SECONDS=600] [RUNS=1000] [VIEWERS=100] [SAMPLE_S=60]`: a lab on
/// one box (issue 13; on replicas, issue 12). RUNS simulated training runs, each on its own keep-alive connection and
/// reporting the way the SDK does: one event a second as a single `POST /api/events` (log lines, every fifth a
/// `job_epoch`), a `resource_snapshot` every 30 s and a `GET …/stop-requested` every 10 s, in turn on that connection;
/// plus VIEWERS SSE streams, each watching one run. With several URLs the runs are spread over them and each viewer
/// watches a run that reports to another server than the one it is connected to (delivery across replicas).
///
/// Every SAMPLE_S seconds it prints a row: the servers' CPU (summed, % of one core) and RSS, events acknowledged per
/// second, ingest and stop-poll round trips p50/p99, delivery p99 (post → viewer, one clock), how late the runs are on
/// their schedule, errors, and the database's size (the shell command in ARGUS_BENCH_DB_SIZE, which prints bytes).
/// Then the totals, and the gaps: acknowledged log lines a viewer of that run never received.
///
/// The runs are raw sockets driven by two threads with poll(2), like the viewers (`Reader`): the probe shares the
/// machine with the server and must cost little.
enum Soak {
    struct Options {
        var urls: [String]
        var token: String
        var pids: [Int32]
        var seconds = 600.0
        var runs = 1000
        var viewers = 100
        var sample = 60.0
    }

    static func run(_ args: [String]) throws {
        var o = Options(
            urls: args[2].split(separator: ",").map(String.init), token: args[3],
            pids: args[4].split(separator: ",").compactMap { Int32($0) })
        func bad(_ what: String) -> BenchUsage { BenchUsage("soak: \(what)") }
        guard !o.urls.isEmpty, o.pids.count == o.urls.count else { throw bad("give one server PID per URL.") }
        if args.count > 5 { guard let v = Double(args[5]), v >= 5 else { throw bad("SECONDS must be at least 5.") }; o.seconds = v }
        if args.count > 6 { guard let v = Int(args[6]), v >= 1 else { throw bad("RUNS must be at least 1.") }; o.runs = v }
        if args.count > 7 {
            guard let v = Int(args[7]), (0...o.runs).contains(v) else { throw bad("VIEWERS must be from 0 to RUNS.") }
            o.viewers = v
        }
        if args.count > 8 { guard let v = Double(args[8]), v >= 1 else { throw bad("SAMPLE_S must be at least 1.") }; o.sample = v }
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        let clock = { Date().timeIntervalSince1970 }
        let t0 = clock() + 1
        let runs = try (0..<o.runs).map { i in
            let (host, port) = try LoadTest.hostPort(o.urls[i % o.urls.count])
            return try SimulatedRun(
                index: i, batchID: "soak-\(tag)-\(i)", host: host, port: port, token: o.token,
                start: t0 + Double(i) / Double(o.runs))
        }
        let drivers = (0..<2).map { d in RunDriver(runs: runs.enumerated().filter { $0.offset % 2 == d }.map(\.element)) }
        drivers.forEach { $0.start() }
        // The viewers subscribe once their runs' batches exist (each run's first request is its batch_start).
        let watched = (0..<o.viewers).map { $0 * o.runs / max(1, o.viewers) }
        while watched.contains(where: { runs[$0].acked.load(ordering: .relaxed) == 0 }) {
            if clock() > t0 + 30 {
                let failed = runs.filter { $0.errors.load(ordering: .relaxed) > 0 }.count
                throw ClientError(
                    .connection,
                    "soak: the runs' batches were not all created in 30 s (\(failed) runs had errors: is ARGUS_MAX_CONNECTIONS above RUNS + VIEWERS?)"
                )
            }
            usleep(20_000)
        }
        let viewers = try watched.enumerated().map { v, r in
            // Another server than the run's, when there are several.
            let (host, port) = try LoadTest.hostPort(o.urls[(r + 1) % o.urls.count])
            return try Subscriber(
                host: host, port: port, token: o.token, batchIndex: r, batchID: runs[r].batchID, lastEventID: "0")
        }
        let readers = (0..<2).map { r in Reader(subs: viewers.enumerated().filter { $0.offset % 2 == r }.map(\.element)) }
        readers.forEach { $0.start() }

        let header = [
            "t (s)", o.pids.count > 1 ? "CPU %Σ" : "CPU %", "RSS MB", "ev/s", "ingest p50/p99 ms", "poll p99", "delivery p99", "late p99",
            "err",
            "DB MB",
        ]
        let widths = [6, 6, 9, 6, 18, 9, 13, 9, 5, 8]
        func row(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.0.padding(toLength: max($0.1, $0.0.count), withPad: " ", startingAt: 0) }
                .joined(separator: " ")
        }
        say("soak: \(o.runs) runs on \(o.urls.count) server(s), \(o.viewers) viewers, \(Int(o.seconds)) s")
        say(row(header))
        let cpu = { o.pids.reduce(0.0) { $0 + Proc.cpuSeconds($1) } }
        let cpuStart = cpu()
        let rss = { o.pids.map { String(format: "%.0f", Proc.rssMB($0)) }.joined(separator: "+") }
        let rssStart = rss()
        let dbStart = databaseBytes()
        var lastCPU = cpuStart
        var lastT = clock()
        var lastAcked = 0
        var allIngest: [Float] = []
        var allPoll: [Float] = []
        var allLate: [Float] = []
        var latencyMark = Array(repeating: 0, count: readers.count)
        var allDelivery: [Float] = []
        var peakCPU = 0.0
        let end = t0 + o.seconds
        while clock() < end - 1 {
            usleep(UInt32(max(0, min(o.sample, end - clock())) * 1_000_000))
            let now = clock()
            let c = cpu()
            let samples = drivers.map { $0.drain() }
            let ingest = samples.flatMap(\.ingest).sorted()
            let poll = samples.flatMap(\.poll).sorted()
            let late = samples.flatMap(\.late).sorted()
            var delivery: [Float] = []
            for (k, r) in readers.enumerated() {
                let all = r.allLatencies
                delivery += all[min(latencyMark[k], all.count)...]
                latencyMark[k] = all.count
            }
            delivery.sort()
            let acked = runs.reduce(0) { $0 + $1.acked.load(ordering: .relaxed) }
            let errors = runs.reduce(0) { $0 + $1.errors.load(ordering: .relaxed) }
            let pct = (c - lastCPU) / (now - lastT) * 100
            peakCPU = max(peakCPU, pct)
            say(
                row([
                    String(format: "%.0f", now - t0), String(format: "%.0f", pct), rss(),
                    String(format: "%.0f", Double(acked - lastAcked) / (now - lastT)),
                    "\(q(ingest, 0.5)) / \(q(ingest, 0.99))", q(poll, 0.99), q(delivery, 0.99), q(late, 0.99), "\(errors)",
                    databaseBytes().map { String(format: "%.1f", Double($0) / 1e6) } ?? "-",
                ]))
            allIngest += ingest
            allPoll += poll
            allLate += late
            allDelivery += delivery
            lastCPU = c
            lastT = now
            lastAcked = acked
        }
        drivers.forEach { $0.stop() }
        // Let the viewers catch up (at most 10 s), then compare what they got with what was acknowledged.
        let catchUp = clock() + 10
        while clock() < catchUp, viewers.contains(where: { !$0.ended && $0.receivedCount < runs[$0.batchIndex].ackedLogSeqs.count }) {
            usleep(50_000)
        }
        readers.forEach { $0.stop() }
        for (k, r) in readers.enumerated() { allDelivery += r.allLatencies[min(latencyMark[k], r.allLatencies.count)...] }
        var gaps = 0
        var unexpected = 0
        var examples: [String] = []
        for v in viewers where !v.ended {
            let acked = runs[v.batchIndex].ackedLogSeqs
            let (missing, extra) = v.compare(ackedRequests: acked, perRequest: 1)
            gaps += missing
            unexpected += extra
            if missing > 0 && examples.count < 3 {
                examples.append(
                    "run \(v.batchIndex): \(v.missing(ackedRequests: acked, perRequest: 1).map(String.init).joined(separator: ","))")
            }
        }
        allIngest.sort()
        allPoll.sort()
        allLate.sort()
        allDelivery.sort()
        let wall = clock() - t0
        let acked = runs.reduce(0) { $0 + $1.acked.load(ordering: .relaxed) }
        let sent = runs.reduce(0) { $0 + $1.sent.load(ordering: .relaxed) }
        let errors = runs.reduce(0) { $0 + $1.errors.load(ordering: .relaxed) }
        let dbEnd = databaseBytes()
        let peak = o.pids.map { String(format: "%.0f", Proc.peakRSSMB($0)) }.joined(separator: "+")
        let rows: [(String, String)] = [
            ("runs / viewers / servers", "\(o.runs) / \(o.viewers) / \(o.urls.count)"),
            ("requests sent / acknowledged events / errors", "\(sent) / \(acked) / \(errors)"),
            ("ingest round trip p50 / p99 / max (ms)", "\(q(allIngest, 0.5)) / \(q(allIngest, 0.99)) / \(q(allIngest, 1))"),
            ("stop-requested poll p50 / p99 (ms)", "\(q(allPoll, 0.5)) / \(q(allPoll, 0.99))"),
            ("runs behind their schedule p99 / max (ms)", "\(q(allLate, 0.99)) / \(q(allLate, 1))"),
            (
                "deliveries / delivery p50 / p99 / max (ms)",
                "\(allDelivery.count) / \(q(allDelivery, 0.5)) / \(q(allDelivery, 0.99)) / \(q(allDelivery, 1))"
            ),
            (
                "viewers healthy / gaps / unexpected",
                "\(viewers.filter { !$0.ended }.count) of \(viewers.count) / \(gaps) / \(unexpected)"
                    + (examples.isEmpty ? "" : " (missing: \(examples.joined(separator: "; ")))")
            ),
            (
                o.pids.count > 1
                    ? "servers' CPU summed, average / peak (% of a core)" : "server CPU average / peak sample (% of one core)",
                String(format: "%.0f %% / %.0f %%", (cpu() - cpuStart) / wall * 100, peakCPU)
            ),
            (
                o.pids.count > 1 ? "RSS of each server start / peak / end (MB)" : "server RSS start / peak / end (MB)",
                "\(rssStart) / \(peak) / \(rss())"
            ),
            (
                "database start / end / per acknowledged event",
                dbStart.flatMap { s in
                    dbEnd.map { e in
                        String(format: "%.1f / %.1f MB / %.0f B", Double(s) / 1e6, Double(e) / 1e6, Double(e - s) / Double(max(1, acked)))
                    }
                } ?? "- (set ARGUS_BENCH_DB_SIZE)"
            ),
        ]
        say(String(repeating: "-", count: 86))
        for (k, v) in rows { say(k.padding(toLength: 50, withPad: " ", startingAt: 0) + v) }
        say(String(repeating: "-", count: 86))
        for r in runs { r.close() }
    }

    /// Straight to stdout, unbuffered: the rows appear as they are measured, even through a pipe.
    static func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    static func q(_ a: [Float], _ p: Double) -> String {
        a.isEmpty ? "-" : String(format: "%.1f", a[min(a.count - 1, Int(p * Double(a.count)))])
    }

    /// Bytes the database holds now: the output of `sh -c "$ARGUS_BENCH_DB_SIZE"`, or nil without it.
    static func databaseBytes() -> Int? {
        guard let command = ProcessInfo.processInfo.environment["ARGUS_BENCH_DB_SIZE"], !command.isEmpty else { return nil }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Int(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// One simulated training run: a batch with one job, reporting on its own keep-alive connection, one request at a
/// time, as the SDK does.
final class SimulatedRun: @unchecked Sendable {
    enum Kind { case event, snapshot, poll }
    let batchID: String
    let fd: Int32
    private let hostHeader: String
    private let token: String
    let acked = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let errors = Atomic<Int>(0)
    /// The sequence numbers of the log lines acknowledged (read once the drivers have stopped).
    private(set) var ackedLogSeqs: [Int] = []
    // Driven by one RunDriver thread only.
    private var nextEvent: Double
    private var nextSnapshot: Double
    private var nextPoll: Double
    private var started = 0  // 0: batch_start next, 1: job_start next, 2: reporting
    private var tick = 0
    private var inFlight: (kind: Kind, sentAt: Double, logSeq: Int?)?
    private var response: [UInt8] = []
    private var logSeq = 0

    init(index: Int, batchID: String, host: String, port: Int, token: String, start: Double) throws {
        self.batchID = batchID
        self.token = token
        hostHeader = "\(host):\(port)"
        nextEvent = start
        nextSnapshot = start + 30 * Double(index % 97) / 97
        nextPoll = start + 10 * Double(index % 89) / 89
        fd = try RawSockets.connectTCP(host: host, port: port)
        RawSockets.setNonBlocking(fd)
    }

    var busy: Bool { inFlight != nil }
    /// Its connection was closed (counted as an error); it sends nothing more.
    private(set) var dead = false
    /// When this run next has something to send (its earliest due request).
    var due: Double { started < 2 ? nextEvent : min(nextEvent, nextSnapshot, nextPoll) }

    /// Sends the request that is due; returns how late it is (ms).
    func sendDue(now: Double) -> Float {
        let scheduled = due
        let body: String
        var kind = Kind.event
        var seq: Int?
        func event(_ type: String, job: Bool, _ data: String) -> String {
            BenchWire.event(
                id: "\(batchID)-\(type)-\(tick)", type: type, batch: batchID, job: job ? "train" : nil, project: "soak",
                host: "gpu-\(fd % 16)", data: data)
        }
        tick += 1
        if started == 0 {
            body = event("batch_start", job: false, #"{"n_total_jobs":1,"command":"python train.py","cwd":"/work"}"#)
            started = 1
        } else if started == 1 {
            body = event("job_start", job: true, #"{"epochs":100000}"#)
            started = 2
            nextEvent += 1
        } else if nextPoll <= nextEvent && nextPoll <= nextSnapshot {
            kind = .poll
            body = ""
            nextPoll += 10
        } else if nextSnapshot <= nextEvent {
            kind = .snapshot
            let util = 50 + tick % 50
            body = event(
                "resource_snapshot", job: true,
                #"{"gpus":[{"index":0,"util_pct":\#(util),"mem_mb":61000,"mem_total_mb":81559,"temp_c":71}],"gpu_util_pct":\#(util),"gpu_mem_mb":61000,"gpu_mem_total_mb":81559,"cpu_util_pct":35,"ram_mb":48000}"#
            )
            nextSnapshot += 30
        } else {
            let sentAt = String(format: "%.6f", now)
            if logSeq % 5 == 4 {
                body = event(
                    "job_epoch", job: true,
                    #"{"epoch":\#(logSeq / 5),"train_loss":\#(2.0 / Double(logSeq + 1)),"val_loss":\#(2.1 / Double(logSeq + 1))}"#)
            } else {
                seq = logSeq
                body = event(
                    "log_line", job: true,
                    #"{"line":"step \#(logSeq): loss 0.\#(logSeq % 9973) lr 3e-4","level":"info","seq":\#(logSeq),"sent":\#(sentAt)}"#)
            }
            logSeq += 1
            nextEvent += 1
        }
        let bytes =
            kind == .poll
            ? BenchWire.request("GET", APIPath.stopRequested(batchID), host: hostHeader, token: token)
            : BenchWire.request("POST", "/api/events", host: hostHeader, token: token, body: body)
        let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        sent.add(1, ordering: .relaxed)
        if n != bytes.count { errors.add(1, ordering: .relaxed) }  // a request this small fits the socket buffer
        inFlight = (kind, now, seq)
        return Float(max(0, now - scheduled) * 1000)
    }

    /// Reads what arrived; when a whole response is in, returns (kind, round trip ms).
    func receive(now: Double, buffer: inout [UInt8]) -> (Kind, Float)? {
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                response += buffer[0..<n]
                continue
            }
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                errors.add(1, ordering: .relaxed)
                inFlight = nil
                dead = true
                nextEvent = .infinity
                nextSnapshot = .infinity
                nextPoll = .infinity
                return nil
            }
            break
        }
        guard let flight = inFlight, case let (ok, length)? = RawSockets.wholeResponse(in: response) else { return nil }
        response.removeFirst(length)
        inFlight = nil
        if !ok {
            errors.add(1, ordering: .relaxed)
        } else if flight.kind != .poll {
            acked.add(1, ordering: .relaxed)
            if let s = flight.logSeq { ackedLogSeqs.append(s) }
        }
        return (flight.kind, Float((now - flight.sentAt) * 1000))
    }

    func close() { Glibc.close(fd) }
}

/// Drives a share of the runs with poll(2): sends each one's due request when it has none in flight, reads the
/// answers. Keeps the round trips and lateness since the last `drain()`.
final class RunDriver: @unchecked Sendable {
    struct Samples {
        var ingest: [Float] = []
        var poll: [Float] = []
        var late: [Float] = []
    }
    let runs: [SimulatedRun]
    private let state = Mutex((running: true, samples: Samples()))
    private let done = DispatchSemaphore(value: 0)

    init(runs: [SimulatedRun]) { self.runs = runs }

    func start() {
        Thread { [self] in
            var buf = [UInt8](repeating: 0, count: 1 << 14)
            var local = Samples()
            var lastFlush = 0.0
            var fds = runs.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            while state.withLock({ $0.running }) {
                var now = Date().timeIntervalSince1970
                var nextDue = now + 0.1
                for r in runs where !r.busy && !r.dead {
                    if r.due <= now {
                        local.late.append(r.sendDue(now: now))
                    } else {
                        nextDue = min(nextDue, r.due)
                    }
                }
                for i in fds.indices { fds[i].revents = 0 }
                let wait = Int32(max(0, min(100, (nextDue - now) * 1000)).rounded(.up))
                if poll(&fds, nfds_t(fds.count), wait) > 0 {
                    now = Date().timeIntervalSince1970
                    for (i, r) in runs.enumerated() where fds[i].revents != 0 {
                        defer { if r.dead { fds[i].fd = -1 } }
                        guard let (kind, ms) = r.receive(now: now, buffer: &buf) else { continue }
                        if kind == .poll { local.poll.append(ms) } else { local.ingest.append(ms) }
                    }
                }
                if now - lastFlush > 0.5 {
                    let batch = local
                    local = Samples()
                    lastFlush = now
                    state.withLock {
                        $0.samples.ingest += batch.ingest
                        $0.samples.poll += batch.poll
                        $0.samples.late += batch.late
                    }
                }
            }
            done.signal()
        }.start()
    }

    /// The round trips and lateness recorded since the last call.
    func drain() -> Samples {
        state.withLock { s in
            defer { s.samples = Samples() }; return s.samples
        }
    }

    func stop() {
        state.withLock { $0.running = false }
        done.wait()
    }
}
