import Glibc

/// Writing to stdout and stderr by file descriptor, whole (a short write or EINTR goes on where it stopped): what
/// Foundation's `FileHandle.standardOutput/standardError.write` did. False when the reader has gone (EPIPE) or
/// the write fails.
enum StandardStreams {
    @discardableResult
    static func write(_ bytes: [UInt8], to fd: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                done += n
            }
            return true
        }
    }

    /// One line on stderr, prefixed with the program's name.
    static func complain(_ line: String) { write(Array("argus-tui: \(line)\n".utf8), to: 2) }
}
