import ArgusClient
import Foundation
import Shared

/// The Python SDK's spill files, delivered where the SDK cannot deliver them itself.
///
/// `argus-reporter` 0.1.3 appends the events it could not send to `~/.argus-reporter/spill-PID-TIME.jsonl`, one JSON
/// object a line, and a later `Reporter` on the host posts each file whole as one batch. Two kinds of file never go
/// through that way, and every later run retries them: one of more than 500 events (a batch holds 1 to 500, so about
/// eight minutes of a run reporting once a second through an outage), and one that holds a NaN or an infinity
/// (`requests` refuses to encode it; the server takes it). Here each file goes in batches of at most 500, its lines
/// sent as they are written (a bare `NaN` included). The server's dedupe on `event_id` makes a line sent twice
/// harmless, so a file is claimed, delivered and only then deleted.
///
/// - A file is taken once nothing has been written to it for `minAge` seconds: the SDK spills only while the server
///   cannot be reached, so a quiet file is one its run stopped writing to. It is moved to `….jsonl.argus-agent`
///   first (the SDK then no longer sees it; a link and an unlink, so it never replaces a claimed file still there)
///   and locked, as the SDK locks each append. A claimed file left by a delivery that died is taken up again.
/// - What the server refuses for good (a line that is not JSON, an event that fails validation) is moved to
///   `rejected-NAME` beside it, a name the SDK does not replay, with the first reason printed.
/// - When the server cannot be reached, answers 5xx, or refuses the token, the lines not yet delivered go back to the
///   file's own name (appended, as the SDK does), for the next try, by the agent or by the SDK; when none of the file
///   went anywhere, the file itself goes back (a link), not a copy of it.
/// - A file is read a line at a time: however long the outage, the agent holds one request's lines (500).
public struct SpillDelivery: Sendable {
    /// `~/.argus-reporter`, as the SDK finds it (`$HOME` first).
    public static var defaultDirectory: String { AgentLoop.home + "/.argus-reporter" }
    static let claimedSuffix = ".argus-agent"
    /// The server's batch limit.
    static let maxEvents = 500
    /// Bytes of lines per request: well under the server's default body limit (16 MB).
    static let maxBytes = 4 * 1024 * 1024

    public let directory: String
    public let url: String
    public let token: String
    public let minAge: Double

    public init(directory: String, url: String, token: String, minAge: Double = 60) {
        (self.directory, self.url, self.token, self.minAge) = (directory, url, token, minAge)
    }

    /// What happened to one file.
    public struct Outcome: Sendable, Equatable {
        public var file: String
        public var delivered = 0
        public var alreadyThere = 0
        public var rejected = 0
        public var firstRejection: String? = nil
        /// Left for later: why (too recent, or the delivery stopped).
        public var leftBecause: String? = nil
        public var linesLeft = 0
        /// Left as it is, under its own name, for a person to look at: why (it cannot be read, it is not a file).
        public var skipped: String? = nil
        /// It held no event at all (it is removed).
        public var empty = false

        /// One line for a person: what was delivered, what was refused and where it went, what is left and why.
        public var sentence: String {
            if let skipped { return "\(file): left as it is: \(skipped)" }
            if empty { return "\(file): empty; removed" }
            var parts: [String] = []
            if delivered + alreadyThere > 0 || (rejected == 0 && leftBecause == nil) {
                parts.append(
                    "\(delivered) event\(delivered == 1 ? "" : "s") delivered"
                        + (alreadyThere > 0 ? " (\(alreadyThere) more already there)" : ""))
            }
            if rejected > 0 {
                parts.append(
                    "\(rejected) set aside in \(SpillDelivery.rejectedName(file)), since the server cannot take "
                        + (rejected == 1 ? "it" : "them") + (firstRejection.map { " (\($0))" } ?? ""))
            }
            if let why = leftBecause {
                parts.append(
                    linesLeft > 0 ? "\(linesLeft) line\(linesLeft == 1 ? "" : "s") left for later: \(why)" : "left for later: \(why)")
            }
            return "\(file): " + parts.joined(separator: "; ")
        }
    }

    /// The run stopped early: the server cannot be reached or refused the token; what is left stays on disk.
    public struct Stopped: Error, Sendable {
        public var sentence: String
        public var outcomes: [Outcome]
    }

    static func rejectedName(_ file: String) -> String { "rejected-" + file }

    /// What the SDK leaves while it replays a file (it renames it so, reads it, deletes it): one still there a while
    /// later belongs to a run that died while reading it, and the SDK never looks at it again.
    static let drainingSuffix = ".draining"

    /// The files to look at, oldest first, each with the name its lines go back to: the SDK's `spill-*.jsonl`, those
    /// a delivery claimed and did not finish, and the SDK's orphaned `….jsonl.draining`. The time is the last write;
    /// for a `.draining` file, its rename (the time a run began to replay it). A link or a directory of such a name
    /// is listed too (`regular` false), to be reported, never followed.
    func candidates() -> [(name: String, file: String, since: Double, regular: Bool)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { n -> (String, String, Double, Bool)? in
            guard n.hasPrefix("spill-") else { return nil }
            let file =
                [".jsonl", ".jsonl" + SpillDelivery.claimedSuffix, ".jsonl" + SpillDelivery.drainingSuffix].first {
                    n.hasSuffix($0)
                }.map { String(n.dropLast($0.count - ".jsonl".count)) }
            var st = stat()
            guard let file, lstat(directory + "/" + n, &st) == 0 else { return nil }
            let t = n.hasSuffix(SpillDelivery.drainingSuffix) ? st.st_ctim : st.st_mtim
            return (n, file, Double(t.tv_sec) + Double(t.tv_nsec) / 1e9, (st.st_mode & S_IFMT) == S_IFREG)
        }.sorted { ($0.2, $0.0) < ($1.2, $1.0) }
    }

    /// Delivers every file that is ready, in order; stops at the first that cannot be delivered for now (the server
    /// away, the token refused), since every later one would fail the same way.
    public func deliverAll(now: Double = Date().timeIntervalSince1970) throws(Stopped) -> [Outcome] {
        let client = HTTPClient(baseURL: url, token: token, timeout: 30)
        var outcomes: [Outcome] = []
        let all = candidates()
        for (n, (name, file, since, regular)) in all.enumerated() {
            let claimed = name.hasSuffix(SpillDelivery.claimedSuffix)
            if !regular {
                outcomes.append(Outcome(file: name, skipped: "it is not a regular file (a link or a directory)"))
                continue
            }
            if !claimed, now - since < minAge {
                outcomes.append(
                    Outcome(
                        file: file,
                        leftBecause: name == file
                            ? "written to \(Int(max(0, now - since))) s ago; its run may still be writing it"
                            : "a run began to replay it \(Int(max(0, now - since))) s ago"))
                continue
            }
            guard let outcome = deliver(name: name, as: file, client) else { continue }
            outcomes.append(outcome)
            if outcome.leftBecause != nil {
                let untried = all.count - n - 1
                throw Stopped(
                    sentence: outcome.sentence
                        + (untried > 0 ? " (\(untried) more file\(untried == 1 ? "" : "s") not tried)" : ""),
                    outcomes: outcomes)
            }
        }
        return outcomes
    }

    /// Claims, delivers and removes one file; nil when another delivery has it (or the SDK took it meanwhile).
    func deliver(name: String, as file: String, _ client: HTTPClient) -> Outcome? {
        let source = directory + "/" + name
        let original = directory + "/" + file
        let path = original + SpillDelivery.claimedSuffix
        let claimedBefore = name.hasSuffix(SpillDelivery.claimedSuffix)
        // Opened (reading is all it takes, lock included) before it is claimed: a file this user cannot read stays
        // under its own name, where the SDK still finds it, and is reported.
        let fd = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            let why = String(cString: strerror(errno))
            return errno == ENOENT ? nil : Outcome(file: file, skipped: "it cannot be read (\(why))")
        }
        defer { close(fd) }
        // A claimed file another delivery is working on is left to it; an SDK append in progress is waited for.
        guard flock(fd, claimedBefore ? LOCK_EX | LOCK_NB : LOCK_EX) == 0 else { return nil }
        if !claimedBefore {
            // A link and an unlink never replace a claimed file of that name still there. Another user's file (the
            // kernel will not link it) is renamed, when no claimed file has that name.
            if link(source, path) == 0 {
                guard unlink(source) == 0 else {
                    unlink(path)
                    return nil
                }
            } else {
                guard errno != EEXIST, access(path, F_OK) != 0 else { return nil }
                guard rename(source, path) == 0 else {
                    let why = String(cString: strerror(errno))
                    return errno == ENOENT ? nil : Outcome(file: file, skipped: "it cannot be claimed (\(why))")
                }
            }
        }
        var st = stat()
        fstat(fd, &st)
        // Read a line at a time: a file of days of events is never held whole, only the lines of one request.
        var reader = LineReader(fd: fd)
        var outcome = Outcome(file: file)
        var kept = true
        // Lines the server cannot take, written to rejected-NAME as they gather.
        var refused: [[UInt8]] = []
        func setAside(_ line: [UInt8], _ why: String?) {
            refused.append(line)
            outcome.rejected += 1
            outcome.firstRejection = outcome.firstRejection ?? why.map { $0.hasSuffix(".") ? String($0.dropLast()) : $0 }
            if refused.count >= SpillDelivery.maxEvents { flushRefused() }
        }
        func flushRefused() {
            guard !refused.isEmpty else { return }
            kept = SpillDelivery.append(refused, to: directory + "/" + SpillDelivery.rejectedName(file)) && kept
            refused.removeAll()
        }
        // The lines read and not yet delivered, in order: at most one request's worth.
        var window: [[UInt8]] = []
        var sawLine = false
        func fill() {
            while window.count < SpillDelivery.maxEvents, let line = reader.next() {
                guard let text = SpillDelivery.trimmed(line) else { continue }
                sawLine = true
                if case .object? = try? JSON.parse(text) {
                    window.append(Array(text))
                } else {
                    setAside(Array(text), "a line is not a JSON object")
                }
            }
        }
        fill()
        // Lines per request: the server's limit, halved while it answers that a body is too large.
        var cap = SpillDelivery.maxEvents
        while !window.isEmpty {
            var end = 0
            var size = 0
            while end < window.count, end < cap, end == 0 || size + window[end].count < SpillDelivery.maxBytes {
                size += window[end].count + 1
                end += 1
            }
            var body = Array(#"{"events":["#.utf8)
            body.reserveCapacity(size + 16)
            for (k, line) in window[..<end].enumerated() {
                if k > 0 { body.append(UInt8(ascii: ",")) }
                body.append(contentsOf: line)
            }
            body.append(contentsOf: Array("]}".utf8))
            let why: String
            do {
                let r = try client.request("POST", "/api/events/batch", body: body)
                let results = r.status == 200 ? r.json?["results"]?.arrayValue : nil
                // Events of a batch another user's token reported: this token is not the run's, and another one
                // would deliver them, so they are kept, not set aside.
                if let other = results?.lazy.compactMap({ $0["error"]?.stringValue }).first(where: {
                    $0.contains(ServerSentences.anotherUsersBatch)
                }) {
                    outcome.leftBecause =
                        "\(other.hasSuffix(".") ? String(other.dropLast()) : other): deliver it with the token of the user who ran it."
                    break
                }
                if let results, results.count == end {
                    for (k, result) in results.enumerated() {
                        switch result["status"]?.stringValue {
                        case "accepted": outcome.delivered += 1
                        case "deduplicated": outcome.alreadyThere += 1
                        default: setAside(window[k], result["error"]?.stringValue)
                        }
                    }
                    window.removeFirst(end)
                    fill()
                    continue
                }
                if r.status == 429 {
                    let wait = Double(r.headers["retry-after"] ?? "") ?? 1
                    Thread.sleep(forTimeInterval: min(30, max(0.1, wait)))
                    continue
                }
                // Too large, or a body the server cannot read as a whole (a line this check let through, a BOM
                // say): halved until the one line it is about is found, which is set aside with the server's reason.
                if [400, 413, 422].contains(r.status) {
                    if end > 1 {
                        cap = max(1, end / 2)
                    } else {
                        setAside(
                            window.removeFirst(),
                            r.status == 413
                                ? "an event larger than the server takes in one request"
                                : r.serverDetail ?? "HTTP \(r.status)")
                        cap = SpillDelivery.maxEvents
                        fill()
                    }
                    continue
                }
                why =
                    r.status == 200
                    ? "\(url) answered without an Argus reply: \(ServerSentences.notAnArgusServer)"
                    : client.failure(r, path: "/api/events/batch").description
            } catch {
                why = error.description
            }
            outcome.leftBecause = why
            break
        }
        flushRefused()
        // The claimed file goes only once what it held is delivered or written elsewhere; otherwise it stays,
        // claimed, and the next delivery sends it again (what went through already is deduplicated). Lines put back
        // keep the file's age and mode, so the next pass takes them at once.
        var backWhole = false
        if outcome.leftBecause != nil {
            if outcome.delivered + outcome.alreadyThere + outcome.rejected == 0, link(path, original) == 0 {
                // Nothing of it went anywhere: the file itself goes back under its name, not a copy of it.
                backWhole = true
                outcome.linesLeft = window.count
                while let line = reader.next() { outcome.linesLeft += SpillDelivery.trimmed(line) == nil ? 0 : 1 }
            } else if var out = SpillWriter(path: original, like: st) {
                for line in window { out.add(line) }
                outcome.linesLeft = window.count
                while let line = reader.next() {
                    guard let text = SpillDelivery.trimmed(line) else { continue }
                    out.add(text)
                    outcome.linesLeft += 1
                }
                kept = out.finish() && kept
            } else {
                kept = false
            }
        }
        outcome.empty = !sawLine
        guard kept else { return outcome }
        unlink(path)
        if backWhole { return outcome }
        // An SDK that opened the file before it was claimed appends once the lock is let go, to this inode: what it
        // wrote goes back under the file's own name.
        flock(fd, LOCK_UN)
        usleep(50_000)
        var after = stat()
        if fstat(fd, &after) == 0, Int(after.st_size) > reader.consumed {
            reader.readOn()
            var late: [[UInt8]] = []
            while let line = reader.next() { if let text = SpillDelivery.trimmed(line) { late.append(Array(text)) } }
            if !late.isEmpty { _ = SpillDelivery.append(late, to: original, like: st) }
        }
        return outcome
    }

    /// A line without the blanks before it, or nil when nothing else is left of it.
    static func trimmed(_ line: [UInt8]) -> ArraySlice<UInt8>? {
        let text = line.drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        return text.isEmpty ? nil : text
    }

    /// A file's lines, a block read at a time.
    struct LineReader {
        let fd: Int32
        /// Bytes read from the file so far.
        private(set) var consumed = 0
        private var buffer: [UInt8] = []
        private var start = 0
        private var scanned = 0
        private var atEnd = false

        init(fd: Int32) { self.fd = fd }

        /// Reads on past the end met before: what was appended since.
        mutating func readOn() { atEnd = false }

        mutating func next() -> [UInt8]? {
            while true {
                if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(buffer[start..<nl])
                    (start, scanned) = (nl + 1, nl + 1)
                    return line
                }
                scanned = buffer.count
                if atEnd {
                    guard start < buffer.count else { return nil }
                    defer { start = buffer.count }
                    return Array(buffer[start...])
                }
                buffer.removeFirst(start)
                (scanned, start) = (scanned - start, 0)
                let old = buffer.count
                let block = 1 << 16
                buffer.append(contentsOf: repeatElement(0, count: block))
                let n = buffer.withUnsafeMutableBufferPointer { read(fd, $0.baseAddress! + old, block) }
                buffer.removeLast(block - max(0, n))
                if n > 0 { consumed += n } else { atEnd = true }
            }
        }
    }

    /// Appends lines to `path` under the lock the SDK takes for its own appends, creating it 0600, or, `like` a
    /// file, with that file's mode and modification time (lines put back keep their age).
    static func append(_ lines: [[UInt8]], to path: String, like: stat? = nil) -> Bool {
        guard var out = SpillWriter(path: path, like: like) else { return false }
        for line in lines { out.add(line) }
        return out.finish()
    }
}

/// Lines appended to a spill file, as `SpillDelivery.append` describes, written a block at a time.
struct SpillWriter {
    private let fd: Int32
    private let created: Bool
    private let like: stat?
    private var pending: [UInt8] = []
    private var failed = false

    init?(path: String, like: stat?) {
        created = access(path, F_OK) != 0
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, like.map { $0.st_mode & 0o777 } ?? 0o600)
        guard fd >= 0 else { return nil }
        self.like = like
        flock(fd, LOCK_EX)
    }

    mutating func add(_ line: some Collection<UInt8>) {
        pending.append(contentsOf: line)
        pending.append(UInt8(ascii: "\n"))
        if pending.count >= 1 << 20 { flush() }
    }

    private mutating func flush() {
        var done = 0
        while !failed, done < pending.count {
            let n = pending[done...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { failed = true } else { done += n }
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Writes what is left, syncs and closes; false when any of it could not be written.
    consuming func finish() -> Bool {
        flush()
        if created, let like {
            let times = [timespec(tv_sec: like.st_atim.tv_sec, tv_nsec: like.st_atim.tv_nsec), like.st_mtim]
            futimens(fd, times)
        }
        let synced = fsync(fd) == 0
        close(fd)
        return !failed && synced
    }
}
