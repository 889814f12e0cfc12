import ArgusClient
import Foundation
import Shared

#if canImport(Glibc)
    import Glibc
#endif

/// What the probes' raw sockets share: connecting, and finding a whole response in the bytes read so far.
enum RawSockets {
    /// A blocking TCP connection to HOST:PORT (IPv4; "localhost" is 127.0.0.1), with TCP_NODELAY.
    static func connectTCP(host: String, port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw ClientError(.connection, "connect to \(host):\(port): \(why)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    static func setNonBlocking(_ fd: Int32) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }

    /// The first response in `bytes` once it is whole (its head and a Content-Length body): whether it is a 200, and
    /// how many bytes it takes; nil while more is to come.
    static func wholeResponse(in bytes: [UInt8]) -> (ok: Bool, length: Int)? {
        guard let end = bytes.firstRange(of: [13, 10, 13, 10]) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        let body =
            head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
        guard bytes.count >= end.upperBound + body else { return nil }
        return (head.hasPrefix("HTTP/1.1 200"), end.upperBound + body)
    }
}

/// The wire text the raw-socket probes send, written once: an event as the SDK posts it, and an HTTP/1.1 request.
enum BenchWire {
    /// One event's JSON; `data` is a JSON object's text, `job` nil for a batch-level event.
    static func event(id: String, type: String, batch: String, job: String?, project: String, host: String, data: String)
        -> String
    {
        """
        {"event_id":"\(id)","schema_version":"1.1","event_type":"\(type)","timestamp":"\(Timestamp.now().iso)",\
        "batch_id":"\(batch)","job_id":\(job.map { "\"\($0)\"" } ?? "null"),\
        "source":{"project":"\(project)","host":"\(host)"},"data":\(data)}
        """
    }

    /// A keep-alive request: `token` as a bearer token when given, `body` as JSON when given.
    static func request(_ method: String, _ path: String, host: String, token: String?, body: String? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        return Array((head + "\r\n" + (body ?? "")).utf8)
    }
}
