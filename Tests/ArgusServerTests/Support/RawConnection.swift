import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to 127.0.0.1, for sending exactly the bytes a misbehaving client would.
final class RawConnection {
    let fd: Int32

    /// `receiveBuffer`: a small one makes a client that never reads look full to the server at once.
    init(port: Int, receiveBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
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

    /// Sends every byte, blocking as the socket fills: false when the connection broke first.
    func send(bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { all in
            var offset = 0
            while offset < all.count {
                let n = Glibc.send(fd, all.baseAddress! + offset, all.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return false }
                offset += n
            }
            return true
        }
    }

    /// Reads until the server closes the connection or `timeout` passes: (what arrived, closed, seconds waited).
    /// `untilEndOfChunkedBody`: stop as well once a chunked response has ended (its `0\r\n\r\n`), though the
    /// connection stays open for the next request.
    func readUntilClosed(timeout: TimeInterval, untilEndOfChunkedBody: Bool = false)
        -> (text: String, closed: Bool, seconds: TimeInterval)
    {
        let t0 = Date()
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let lastChunk = Array("\r\n0\r\n\r\n".utf8)
        while Date().timeIntervalSince(t0) < timeout {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) > 0 else { continue }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return (String(decoding: got, as: UTF8.self), true, Date().timeIntervalSince(t0)) }
            got += buf[0..<n]
            if untilEndOfChunkedBody && got.count >= lastChunk.count && Array(got.suffix(lastChunk.count)) == lastChunk {
                return (String(decoding: got, as: UTF8.self), false, Date().timeIntervalSince(t0))
            }
        }
        return (String(decoding: got, as: UTF8.self), false, Date().timeIntervalSince(t0))
    }

    deinit { close(fd) }
}
