import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A TCP relay on 127.0.0.1 in front of a real server (PostgreSQL, in the tests) that can be frozen: it then carries
/// no byte either way and keeps every connection open, as a network cut that sends no reset does (the peers learn
/// nothing until TCP gives up, minutes later). New connections are accepted and held while it is frozen. `thaw()`
/// carries on with what was held.
public final class TCPRelay: @unchecked Sendable {
    public let port: Int
    private let targetPort: Int
    private let listener: Int32
    private let gate = NSCondition()
    private var frozen = false
    private var refusing = false
    /// Connections held as by `freeze()`, alone (`freezeOpen()`).
    private var held: Set<Int32> = []
    private var accepted = 0
    private var stopped = false
    private var open: Set<Int32> = []

    public init(toPort targetPort: Int) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("the relay could not listen: \(String(cString: strerror(errno)))")
        }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: addr.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// Stops carrying bytes; connections stay open.
    public func freeze() { gate.withLock { frozen = true } }

    /// Freezes the connections open now and only them, as a NAT or firewall that forgot them does: new ones carry.
    public func freezeOpen() { gate.withLock { held = open } }

    /// Carries bytes again, those held first.
    public func thaw() {
        gate.withLock {
            frozen = false
            held = []
            gate.broadcast()
        }
    }

    /// Cuts every connection and closes each new one at once, as a server that is down (or a host out of reach) does.
    public func cut() {
        gate.withLock {
            refusing = true
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    /// Carries new connections again after `cut()`.
    public func restore() { gate.withLock { refusing = false } }

    /// How many connections were made to the relay so far (those it closed at once too).
    public var connectionsAccepted: Int { gate.withLock { accepted } }

    /// Closes the listener and every connection. (Under the lock: a connection leaves `open` before its descriptors
    /// are closed, so a number another part of the test process has since been given is never shut down here.)
    public func stop() {
        gate.withLock {
            if stopped { return }
            stopped = true
            frozen = false
            gate.broadcast()
            shutdown(listener, Int32(SHUT_RDWR))
            for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
        }
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    /// Waits while frozen (or while `fd` is held); false once stopped.
    private func mayCarry(_ fd: Int32 = -1) -> Bool {
        gate.withLock {
            while (frozen || held.contains(fd)) && !stopped { gate.wait() }
            return !stopped
        }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if errno == EINTR { continue }
                break
            }
            Thread.detachNewThread { [self] in relay(client) }
        }
        close(listener)
    }

    private func relay(_ client: Int32) {
        let refused = gate.withLock {
            accepted += 1
            return refusing
        }
        guard !refused, mayCarry() else {
            close(client)
            return
        }
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = Self.loopback(port: targetPort)
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(upstream)
            close(client)
            return
        }
        gate.withLock { open.formUnion([client, upstream]) }
        let done = DispatchGroup()
        for (from, to) in [(client, upstream), (upstream, client)] {
            done.enter()
            Thread.detachNewThread { [self] in
                pump(from, to)
                done.leave()
            }
        }
        done.wait()
        gate.withLock { open.subtract([client, upstream]) }
        close(client)
        close(upstream)
    }

    /// Copies `from` to `to` until either side ends, holding what it read while frozen.
    private func pump(_ from: Int32, _ to: Int32) {
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0, mayCarry(from) else { break }
            var sent = 0
            while sent < n {
                let w = buf.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { break }
                sent += w
            }
            if sent < n { break }
        }
        shutdown(to, Int32(SHUT_WR))
        shutdown(from, Int32(SHUT_RD))
    }
}

extension TestDatabase {
    /// A relay in front of this database's PostgreSQL, and this database's URL through it.
    public func relayed() throws -> (relay: TCPRelay, url: String) {
        guard let port = url.firstMatch(of: #/@127\.0\.0\.1:(\d+)//#).flatMap({ Int($0.1) }) else {
            throw TestFailure("no 127.0.0.1 port in the test database's URL")
        }
        let relay = try TCPRelay(toPort: port)
        return (relay, url.replacingOccurrences(of: ":\(port)/", with: ":\(relay.port)/"))
    }
}
