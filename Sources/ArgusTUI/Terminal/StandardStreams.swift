import Glibc

/// Writing to stdout and stderr by file descriptor, whole (a short write or EINTR goes on where it stopped): what
/// Foundation's `FileHandle.standardOutput/standardError.write` did.
enum StandardStreams {
    /// A write that did not go through: the disk is full, stdout is closed, …
    struct WriteFailure: Error, CustomStringConvertible {
        let code: Int32
        var description: String { "cannot write to standard output: \(String(cString: strerror(code)))." }
    }

    static func write(_ bytes: [UInt8], to fd: Int32) throws(WriteFailure) {
        let failed: Int32? = bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return n < 0 ? errno : EIO }
                done += n
            }
            return nil
        }
        if let failed { throw WriteFailure(code: failed) }
    }

    /// One line on stderr, prefixed with the program's name (nowhere else to say it if that fails too).
    static func complain(_ line: String) { try? write(Array("argus-tui: \(line)\n".utf8), to: 2) }
}
