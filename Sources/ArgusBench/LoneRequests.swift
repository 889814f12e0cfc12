import ArgusClient
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// `argus-bench lone URL TOKEN PID [REQUESTS=5000]`: what one request costs the server when it is the only one (one
/// client, one keep-alive connection, one request at a time: how the SDK reports a run). For `GET /health`, a single
/// `POST /api/events` and `GET /api/jobs/{b}/{j}` (a job of 100 epochs), REQUESTS each after 200 to warm up: the
/// server's CPU per request (utime + stime from /proc/PID/stat over the loop) and the round trip p50/p99, each also
/// as a multiple of `/health`'s in the same run. Three rounds, interleaved, so a drift of the machine touches every
/// kind alike; the table shows the median round.
enum LoneRequests {
    struct Figures {
        var cpuUs: Double
        var p50Ms: Double
        var p99Ms: Double
    }

    static func run(_ args: [String]) throws {
        let url = args[2]
        let token = args[3]
        let pid = Int32(args[4]) ?? 0
        var n = 5000
        if args.count > 5 {
            guard let v = Int(args[5]), v >= 100 else { throw BenchUsage("lone: REQUESTS must be a whole number, at least 100.") }
            n = v
        }
        let (host, port) = try LoadTest.hostPort(url)
        let batch = "lone-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        let setup = HTTPClient(baseURL: url, token: token, timeout: 30)
        func event(_ type: String, _ id: String, job: Bool, _ data: String) -> String {
            BenchWire.event(
                id: "\(batch)-\(id)", type: type, batch: batch, job: job ? "j" : nil, project: "lone", host: "gpu-1", data: data)
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

        let conn = try RawConnection(host: host, port: port)
        let hostHeader = "\(host):\(port)"
        var posted = 0
        let kinds: [(String, () -> [UInt8])] = [
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
        var rounds: [[Figures]] = []
        for _ in 0..<3 {
            var round: [Figures] = []
            for (name, make) in kinds {
                for _ in 0..<200 { try conn.roundTrip(make(), expect: name) }
                var times: [Double] = []
                times.reserveCapacity(n)
                let cpu0 = Proc.cpuSeconds(pid)
                for _ in 0..<n {
                    let request = make()
                    let t = DispatchTime.now().uptimeNanoseconds
                    try conn.roundTrip(request, expect: name)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
                }
                let cpu = Proc.cpuSeconds(pid) - cpu0
                times.sort()
                round.append(Figures(cpuUs: cpu / Double(n) * 1e6, p50Ms: times[n / 2], p99Ms: times[n * 99 / 100]))
            }
            rounds.append(round)
        }
        // The median round, by the total CPU it measured.
        let mid = rounds.sorted { $0.reduce(0) { $0 + $1.cpuUs } < $1.reduce(0) { $0 + $1.cpuUs } }[1]
        let base = mid[0]
        print("lone requests: \(n) each, one keep-alive connection, sequential (median of 3 interleaved rounds)")
        print(
            "request".padding(toLength: 32, withPad: " ", startingAt: 0)
                + "server CPU/req   ×/health   RTT p50   ×/health   RTT p99")
        for ((name, _), f) in zip(kinds, mid) {
            print(
                name.padding(toLength: 32, withPad: " ", startingAt: 0)
                    + String(
                        format: "%9.0f µs %9.2f× %8.3f ms %8.2f× %8.3f ms", f.cpuUs, f.cpuUs / base.cpuUs, f.p50Ms, f.p50Ms / base.p50Ms,
                        f.p99Ms))
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
