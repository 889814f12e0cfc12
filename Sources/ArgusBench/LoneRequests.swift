import ArgusClient
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// `argus-bench lone URL TOKEN PID [REQUESTS=5000] [URL2 TOKEN2 PID2]`: what one request costs the server when it is
/// the only one (one client, one keep-alive connection, one request at a time: how the SDK reports a run). For
/// `GET /health`, a single `POST /api/events` and `GET /api/jobs/{b}/{j}` (a job of 100 epochs), REQUESTS each after
/// 200 to warm up: the server's CPU per request (the process's CPU clock, nanoseconds, dead threads included) and
/// the round trip p50/p99, each also as a multiple of `/health`'s in the same run. The requests go in 10 rounds of
/// REQUESTS/10 per kind, interleaved, so a drift of the machine touches every kind alike. With a second server
/// (another build, the baseline), every round runs each kind on both, in alternating order: the two builds are
/// measured in the same seconds, which is what a shared machine's drift allows.
enum LoneRequests {
    struct Figures {
        var cpuNs: Double = 0
        var times: [Double] = []
        var cpuUs: Double { cpuNs / Double(times.count) / 1000 }
        var p50Ms: Double { times.sorted()[times.count / 2] }
        var p99Ms: Double { times.sorted()[times.count * 99 / 100] }
    }

    /// One server under test: its connection and the requests of each kind.
    final class Target {
        let pid: Int32
        let conn: RawConnection
        let kinds: [(String, () -> [UInt8])]
        var figures: [Figures]

        init(url: String, token: String, pid: Int32) throws {
            self.pid = pid
            let (host, port) = try LoadTest.hostPort(url)
            let batch = "lone-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
            let setup = HTTPClient(baseURL: url, token: token, timeout: 30)
            func event(_ type: String, _ id: String, job: Bool, _ data: String) -> String {
                BenchWire.event(
                    id: "\(batch)-\(id)", type: type, batch: batch, job: job ? "j" : nil, project: "lone", host: "gpu-1",
                    data: data)
            }
            var history = [
                event("batch_start", "start", job: false, #"{"n_total_jobs":1}"#), event("job_start", "j", job: true, "{}"),
            ]
            for e in 0..<100 {
                history.append(event("job_epoch", "e\(e)", job: true, #"{"epoch":\#(e),"train_loss":\#(1.0 / Double(e + 1))}"#))
            }
            let r = try setup.request(
                "POST", "/api/events/batch", body: Array("{\"events\":[\(history.joined(separator: ","))]}".utf8),
                headers: ["Content-Type": "application/json"])
            guard r.status == 200 else { throw ClientError(.http, status: r.status, "setup: \(r.text)") }
            conn = try RawConnection(host: host, port: port)
            let hostHeader = "\(host):\(port)"
            var posted = 0
            kinds = [
                ("GET /health", { BenchWire.request("GET", "/health", host: hostHeader, token: nil) }),
                (
                    "POST /api/events (one event)",
                    {
                        posted += 1
                        let body = event(
                            "log_line", "l\(posted)", job: true, #"{"line":"step \#(posted): loss 0.123 lr 3e-4","level":"info"}"#)
                        return BenchWire.request("POST", "/api/events", host: hostHeader, token: token, body: body)
                    }
                ),
                ("GET /api/jobs/{b}/{j}", { BenchWire.request("GET", APIPath.job(batch, "j"), host: hostHeader, token: token) }),
            ]
            figures = Array(repeating: Figures(), count: kinds.count)
        }

        func run(kind k: Int, _ n: Int, measured: Bool) throws {
            let (name, make) = kinds[k]
            let cpu0 = Proc.cpuNanoseconds(pid)
            for _ in 0..<n {
                let request = make()
                let t = DispatchTime.now().uptimeNanoseconds
                try conn.roundTrip(request, expect: name)
                if measured { figures[k].times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6) }
            }
            if measured { figures[k].cpuNs += Double(Proc.cpuNanoseconds(pid) - cpu0) }
        }

        func printTable() {
            let base = figures[0]
            print(
                "request".padding(toLength: 32, withPad: " ", startingAt: 0)
                    + "server CPU/req   ×/health   RTT p50   ×/health   RTT p99")
            for ((name, _), f) in zip(kinds, figures) {
                print(
                    name.padding(toLength: 32, withPad: " ", startingAt: 0)
                        + String(
                            format: "%9.0f µs %9.2f× %8.3f ms %8.2f× %8.3f ms", f.cpuUs, f.cpuUs / base.cpuUs, f.p50Ms,
                            f.p50Ms / base.p50Ms, f.p99Ms))
            }
        }
    }

    static func run(_ args: [String]) throws {
        var n = 5000
        if args.count > 5 {
            guard let v = Int(args[5]), v >= 100 else { throw BenchUsage("lone: REQUESTS must be a whole number, at least 100.") }
            n = v
        }
        guard args.count == 5 || args.count == 6 || args.count == 9 else {
            throw BenchUsage("lone: pass URL TOKEN PID [REQUESTS] and, for a baseline beside it, URL2 TOKEN2 PID2.")
        }
        var targets = [try Target(url: args[2], token: args[3], pid: Int32(args[4]) ?? 0)]
        if args.count == 9 { targets.append(try Target(url: args[6], token: args[7], pid: Int32(args[8]) ?? 0)) }
        let rounds = 10
        let chunk = (n + rounds - 1) / rounds
        for t in targets { for k in t.kinds.indices { try t.run(kind: k, 200, measured: false) } }
        for round in 0..<rounds {
            for k in targets[0].kinds.indices {
                for t in round % 2 == 0 ? targets : targets.reversed() { try t.run(kind: k, chunk, measured: true) }
            }
        }
        print("lone requests: \(chunk * rounds) each, one keep-alive connection, sequential (10 interleaved rounds)")
        if targets.count == 1 {
            targets[0].printTable()
            return
        }
        print("== this build (pid \(targets[0].pid))")
        targets[0].printTable()
        print("== baseline (pid \(targets[1].pid))")
        targets[1].printTable()
        print("this build's server CPU per request as a share of the baseline's, same rounds:")
        for (k, (name, _)) in targets[0].kinds.enumerated() {
            let ratio = targets[0].figures[k].cpuUs / targets[1].figures[k].cpuUs
            print(name.padding(toLength: 32, withPad: " ", startingAt: 0) + String(format: "%9.1f %%", ratio * 100))
        }
    }
}

/// A blocking keep-alive HTTP/1.1 connection on a raw socket: send a request, read one whole response
/// (Content-Length bodies only, which is what these routes answer).
final class RawConnection {
    let fd: Int32
    private var buffer = [UInt8](repeating: 0, count: 1 << 16)
    private var pending: [UInt8] = []

    init(host: String, port: Int) throws {
        fd = try RawSockets.connectTCP(host: host, port: port)
    }

    deinit { close(fd) }

    func roundTrip(_ request: [UInt8], expect what: String) throws {
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.count else { throw ClientError(.connection, "\(what): send failed") }
        while true {
            if case let (ok, length)? = RawSockets.wholeResponse(in: pending) {
                guard ok else {
                    throw ClientError(.http, "\(what): \(String(decoding: pending.prefix(300), as: UTF8.self))")
                }
                pending.removeFirst(length)
                return
            }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw ClientError(.connection, "\(what): the server closed the connection") }
            pending += buffer[0..<n]
        }
    }
}
