import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A long-lived child that carries out one request at a time: a line of JSON in, its output back, ended by a line
/// that starts with U+001E and holds the request's exit status (Tests/Web/page_tests.py --serve, which keeps one
/// browser for a suite's scenarios). Started at the first request; a request that times out kills it (and what it
/// started: it leads its own process group) and the next one starts it again. It ends when this process does: its
/// stdin closes.
public final class ServedTool: @unchecked Sendable {
    private let lock = NSLock()
    private let path: String
    private let args: [String]
    private let env: [String: String]
    private var child: PipedChild?

    public init(_ path: String, _ args: [String], env: [String: String] = [:]) {
        self.path = path
        self.args = args
        self.env = env
    }

    /// Sends `request` and waits up to `timeout` seconds for its end; returns its exit status and output. A child
    /// that exits or times out gives a status of its own (-1 timed out, else the child's) and says so in the output.
    public func run(_ request: [String: Any], timeout: Double) throws -> (Int32, String) {
        try lock.withLock {
            let c = try child ?? spawnPiped(path, args, env: env, mergeStderr: true, ownGroup: true)
            child = c
            var line = try JSONSerialization.data(withJSONObject: request)
            line.append(0x0A)
            var out = Data()
            guard Self.write(line, to: c.stdin) else {
                return end(c, nil, out, "could not send the request: the runner exited")
            }
            let deadline = Date().addingTimeInterval(timeout)
            var buf = [UInt8](repeating: 0, count: 65536)
            while true {
                if let (status, shown) = Self.ended(out) { return (status, shown) }
                let left = deadline.timeIntervalSinceNow
                if left <= 0 { return end(c, -1, out, "no answer within \(Int(timeout)) s: the runner was killed") }
                var p = pollfd(fd: c.stdout, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
                let n = read(c.stdout, &buf, buf.count)
                guard n > 0 else { return end(c, nil, out, "the runner exited") }
                out.append(contentsOf: buf[0..<n])
            }
        }
    }

    /// Ends the child: closes its stdin, which tells it to finish, and waits up to `timeout` seconds for it to exit;
    /// then kills it and what it started.
    public func close(timeout: Double) {
        lock.withLock {
            guard let c = child else { return }
            Glibc.close(c.stdin)
            let deadline = Date().addingTimeInterval(timeout)
            var raw: Int32 = 0
            while waitpid(c.pid, &raw, WNOHANG) == 0 {
                if Date() > deadline {
                    kill(-c.pid, SIGKILL)
                    waitpid(c.pid, &raw, 0)
                    break
                }
                usleep(50_000)
            }
            kill(-c.pid, SIGKILL)  // anything of its group left behind
            Glibc.close(c.stdout)
            child = nil
        }
    }

    /// Writes `data` to a pipe; false when its reader is gone, without the SIGPIPE that would end this process (it
    /// is blocked on this thread while writing, and one the write raised is taken off before it is unblocked).
    private static func write(_ data: Data, to fd: Int32) -> Bool {
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previous)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var now = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &now)
            }
            pthread_sigmask(SIG_SETMASK, &previous, nil)
        }
        var off = 0
        while off < data.count {
            let n = data[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// The status and output when `out` holds a whole answer: everything up to a line "\u{1E}<status>\n".
    private static func ended(_ out: Data) -> (Int32, String)? {
        let text = String(decoding: out, as: UTF8.self)
        guard text.hasSuffix("\n"), let mark = text.range(of: "\u{1E}", options: .backwards),
            mark.lowerBound == text.startIndex || text[text.index(before: mark.lowerBound)] == "\n",
            let status = Int32(text[mark.upperBound...].dropLast())
        else { return nil }
        return (status, String(text[..<mark.lowerBound]))
    }

    /// Kills the child (and its group) and forgets it; the status is `status`, or the child's own when nil.
    private func end(_ c: PipedChild, _ status: Int32?, _ out: Data, _ why: String) -> (Int32, String) {
        kill(-c.pid, SIGKILL)
        var raw: Int32 = 0
        waitpid(c.pid, &raw, 0)
        Glibc.close(c.stdin)
        Glibc.close(c.stdout)
        child = nil
        return (status ?? exitCode(raw), String(decoding: out, as: UTF8.self) + "\n(\(why))")
    }
}
