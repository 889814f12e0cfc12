import FoundationEssentials

/// What a batch or job id can never be, so that every client can open it by URL: the server refuses such ids at
/// ingest (`EventValidator`), and argus-tui refuses a target naming one before it asks (no batch or job can have it).
public enum IDRules {
    /// Refused in a batch_id. Clients put the batch id into URLs, and the SDK (argus-reporter 0.1.3) does so
    /// unencoded: '?' and '#' would end its path early, '/' add a segment, and '%' start an escape the server
    /// decodes ('a%41' would poll batch 'aA'). A `BATCH/JOB` target splits at '/' too. Every other character
    /// works: clients percent-encode ids (`APIPath`) and the server decodes them.
    public static let batchDelimiters: Set<Character> = ["/", "?", "#", "%"]

    /// Refused as a whole batch_id or job_id: libcurl and browsers remove '.' and '..' path segments
    /// (RFC 3986 §5.2.4) even when percent-encoded as %2E, so no client could ever open such a batch or job.
    public static let dotSegments: Set<String> = [".", ".."]

    /// Why no batch (or, with `job`, no job of it) can be named so, as a clause ("a batch id cannot be empty"); nil
    /// when one can.
    public static func targetProblem(batch: String, job: String? = nil) -> String? {
        if batch.isEmpty { return "a batch id cannot be empty" }
        if let c = batch.first(where: batchDelimiters.contains) { return "a batch id cannot contain '\(c)'" }
        return dotProblem("batch", batch) ?? job.flatMap { dotProblem("job", $0) }
    }

    /// Why no job can be named `job` (a share link's `?job=`), as a clause; nil when one can.
    public static func targetProblem(job: String) -> String? { dotProblem("job", job) }

    static func dotProblem(_ kind: String, _ id: String) -> String? {
        dotSegments.contains(id)
            ? "a \(kind) id cannot be '\(id)' (browsers and libcurl drop '.' and '..' from URLs, so the server refuses them)"
            : nil
    }
}

/// How ids travel in URLs and SSE channel names. A batch or job id is any text a training script chose
/// ("my run", "αβ-3", "fold:1,2"), so wherever one sits inside a path segment, a query value or a channel
/// name it is percent-encoded here, and decoded on the way in (the server's `ArgusRequestContext.parameters`).
public enum IDEncoding {
    /// RFC 3986 unreserved characters: the only ones written as themselves.
    @inline(__always)
    static func isUnreserved(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            return true
        default: return false
        }
    }

    /// Every byte of the UTF-8 form outside the unreserved set as `%XX`; ordinary ids come back unchanged.
    public static func encode(_ s: String) -> String {
        if s.utf8.allSatisfy(isUnreserved) { return s }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count * 3)
        for b in s.utf8 {
            if isUnreserved(b) {
                out.append(b)
            } else {
                out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 0xF)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The one form of an id the server stores and compares: Unicode NFC. Swift compares strings by canonical
    /// equivalence ("café" written with é or with e + U+0301 are equal, and hash alike) while the database compares
    /// bytes, so two spellings would be one id in memory (a cache, a stream's filter, a commit's batches) and two in
    /// the database. Every id reaching the server (at ingest, in a path, in a channel name) is put in this form, so
    /// the two spellings are one id everywhere. ASCII ids come back as they are. The standard library's own
    /// normalizer (Foundation's is not in FoundationEssentials, which the TUI builds on).
    public static func canonical(_ s: String) -> String {
        if s.utf8.allSatisfy({ $0 < 0x80 }) { return s }
        return String(decoding: s._nfcCodeUnits, as: UTF8.self)
    }

    /// A name or value from a query string, read as forms and HTTP libraries write one
    /// (`application/x-www-form-urlencoded`): `+` is a space and `%XX` a byte, so `%2B` is a plus. Text that is not
    /// valid percent-encoding is kept as sent (its `+` read as spaces). The one rule for a query, on the server
    /// (`QueryString`) and in a share link's `?job=` (argus-tui).
    public static func decodeQueryPart(_ part: some StringProtocol) -> String {
        let spaced = String(part).replacing("+", with: " ")
        return decode(spaced) ?? spaced
    }

    /// The inverse of `encode` (and of any other client's percent-encoding). Nil when a `%` is not followed
    /// by two hex digits or the bytes are not UTF-8. `+` stays `+`: it means a space only in HTML forms.
    public static func decode(_ s: String) -> String? {
        guard s.utf8.contains(UInt8(ascii: "%")) else { return s }
        func hexValue(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        let bytes = Array(s.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2])
                else { return nil }
                out.append(hi << 4 | lo)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }
}

/// An SSE channel: `batch:<b>` or `job:<b>:<j>`. Inside a name each id is percent-encoded
/// (`IDEncoding`), so a ':' or ',' in an id cannot split it; ids without such characters read as themselves.
/// One definition for the server (subscriptions and the `channel` of each frame) and its clients.
public enum Channel: Hashable, Sendable {
    case batch(String)
    case job(String, String)

    public var name: String {
        switch self {
        case .batch(let b): return "batch:" + IDEncoding.encode(b)
        case .job(let b, let j): return "job:" + IDEncoding.encode(b) + ":" + IDEncoding.encode(j)
        }
    }

    public var batchID: String {
        switch self {
        case .batch(let b), .job(let b, _): return b
        }
    }

    /// The channels of a `channels=` query value: names separated by commas.
    public static func list(_ channels: [Channel]) -> String { channels.map(\.name).joined(separator: ",") }

    /// Parses one name; the error is a sentence for a `{"detail"}` answer.
    public init(parsing text: String) throws(ChannelSyntaxError) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func id(_ raw: String) throws(ChannelSyntaxError) -> String {
            guard !raw.isEmpty else { throw ChannelSyntaxError(channel: text, problem: .shape) }
            guard let decoded = IDEncoding.decode(raw) else {
                throw ChannelSyntaxError(channel: text, problem: .escape)
            }
            return IDEncoding.canonical(decoded)
        }
        // A raw ':' can only be part of the last id (encoded names never contain one), so older clients
        // that wrote `job:b:a:b` for job "a:b" still mean what they meant.
        switch (parts.first, parts.count) {
        case ("batch"?, 2...): self = .batch(try id(parts[1...].joined(separator: ":")))
        case ("job"?, 3...): self = .job(try id(parts[1]), try id(parts[2...].joined(separator: ":")))
        default: throw ChannelSyntaxError(channel: text, problem: .shape)
        }
    }
}

public struct ChannelSyntaxError: Error, Sendable, CustomStringConvertible {
    public enum Problem: Sendable { case shape, escape }
    public var channel: String
    public var problem: Problem

    public var description: String {
        switch problem {
        case .shape:
            return
                "Channel '\(channel.prefix(200))' is not of the form batch:<batch_id> or job:<batch_id>:<job_id> (write ':' and ',' inside an id as %3A and %2C)."
        case .escape:
            return
                "Channel '\(channel.prefix(200))' has a bad percent-escape: write '%' inside an id as %25."
        }
    }
}
