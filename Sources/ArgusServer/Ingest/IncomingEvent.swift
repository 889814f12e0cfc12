import Foundation
import Shared

/// A validated event envelope, ready to store. `body` is the normalised envelope as stored and streamed.
struct IncomingEvent: Sendable {
    var eventID: String
    var type: String
    var ts: Timestamp
    var batchID: String
    var jobID: String?
    var source: JSONObject
    var data: JSONObject
    var body: String

    static let jobScoped: Set<String> = ["job_start", "job_epoch", "job_done", "job_failed"]

    /// Why an id can never be opened by URL, if it cannot.
    static func dotSegmentProblem(_ field: String, _ id: String) -> String? {
        guard IDRules.dotSegments.contains(id) else { return nil }
        return
            "\(field) '\(id)' cannot be used: browsers and libcurl drop '.' and '..' from URL paths, so this \(field == "batch_id" ? "batch" : "job") could never be opened; choose another name."
    }

    /// Sent by a training script (not made by the server: stop_requested, batch_stalled, ...). Only these
    /// count as hearing from the run: they move `last_received` and wake a stalled batch.
    var isFromClient: Bool { EventTypes.fromClients.contains(type) }

    /// The SDK's heartbeat: a debug log_line "heartbeat". Stored, but kept out of the visible log tail.
    var isHeartbeat: Bool {
        type == "log_line" && data["line"]?.stringValue == "heartbeat"
            && (data["level"]?.stringValue ?? "").lowercased() == "debug"
    }

    /// The job this event belongs to, if any. A log_line whose job_id is the batch id (the SDK does this
    /// for heartbeats outside a job) is batch-level: it must not conjure a job named after the batch.
    var effectiveJobID: String? {
        guard let j = jobID, !(type == "log_line" && j == batchID) else { return nil }
        return j
    }

    /// The channel named in the streamed frame: the job's channel for job events, else the batch's.
    var channel: String { (effectiveJobID.map { Channel.job(batchID, $0) } ?? Channel.batch(batchID)).name }

    /// Builds the stored envelope for a server-made event (stop_requested, batch_stalled, ...).
    static func server(
        type: String, batchID: String, jobID: String? = nil, project: String?, data: JSONObject,
        at ts: Timestamp
    )
        -> IncomingEvent
    {
        let source: JSONObject = JSONObject([
            ("project", JSON(project ?? "argus")), ("host", "argus-server"),
        ])
        var e = IncomingEvent(
            eventID: UUID().uuidString.lowercased(), type: type, ts: ts, batchID: batchID, jobID: jobID,
            source: source, data: data,
            body: "")
        e.body = e.serializedEnvelope()
        return e
    }

    /// The stored envelope as compact JSON, written straight to bytes (the ingest hot path).
    func serializedEnvelope() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: #"{"event_id":"#.utf8)
        JSON.writeString(eventID, into: &out)
        out.append(contentsOf: #","schema_version":"1.1","event_type":"#.utf8)
        JSON.writeString(type, into: &out)
        out.append(contentsOf: #","timestamp":""#.utf8)
        ts.writeISO(into: &out)
        out.append(contentsOf: #"","batch_id":"#.utf8)
        JSON.writeString(batchID, into: &out)
        out.append(contentsOf: #","job_id":"#.utf8)
        if let jobID {
            JSON.writeString(jobID, into: &out)
        } else {
            out.append(contentsOf: "null".utf8)
        }
        out.append(contentsOf: #","source":"#.utf8)
        JSON.object(source).write(into: &out)
        out.append(contentsOf: #","data":"#.utf8)
        JSON.object(data).write(into: &out)
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

/// Why an event was refused: an HTTP status and one readable sentence.
struct EventRejection: Error, Sendable {
    var status: Int
    var message: String

    init(status: Int, message: String) {
        self.status = status
        self.message = APIError.oneLine(message)
    }
}

extension IncomingEvent {
    /// `o` with each NUL character in its keys and strings replaced by U+FFFD (untouched when it has none).
    static func withoutNUL(_ o: JSONObject) -> JSONObject {
        func has(_ j: JSON) -> Bool {
            switch j {
            case .string(let s): return s.utf8.contains(0)
            case .array(let a): return a.contains(where: has)
            case .object(let o): return o.pairs.contains { $0.key.utf8.contains(0) || has($0.value) }
            default: return false
            }
        }
        guard has(.object(o)) else { return o }
        func clean(_ s: String) -> String { s.utf8.contains(0) ? s.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : s }
        func walk(_ j: JSON) -> JSON {
            switch j {
            case .string(let s): return .string(clean(s))
            case .array(let a): return .array(a.map(walk))
            case .object(let o): return .object(withoutNUL(o))
            default: return j
            }
        }
        return JSONObject(o.pairs.map { (clean($0.key), walk($0.value)) })
    }
}

enum EventValidator {
    /// How far ahead of the server's clock a timestamp may be. Clocks of training hosts drift by seconds, not days;
    /// one line stamped 9999-12-31 would otherwise stretch ELAPSED to millennia and pin its batch first forever.
    static let maxAheadUs: Int64 = 24 * 3600 * 1_000_000
    /// The earliest timestamp taken: 2000-01-01T00:00:00Z. A host whose clock came up at 1970 (no clock battery,
    /// no NTP yet), or a zero date, would otherwise start its job decades ago (ELAPSED ">100y").
    static let earliestUs: Int64 = 946_684_800 * 1_000_000

    /// Validates one envelope; `nowUs` is the server's clock (injectable, so tests can move it).
    static func validate(_ json: JSON, nowUs: Int64) -> Result<IncomingEvent, EventRejection> {
        func bad(_ m: String) -> Result<IncomingEvent, EventRejection> {
            .failure(EventRejection(status: 422, message: m))
        }
        guard case .object(let o) = json else { return bad("An event must be a JSON object.") }
        // Ids name rows and URLs: a NUL in one is refused (PostgreSQL's text cannot hold it, and no name needs it).
        for key in ["event_id", "batch_id", "job_id"] where o[key]?.stringValue?.utf8.contains(0) == true {
            return bad("\(key) must not contain a NUL character (\\u0000).")
        }
        // Nor any other control character in the ids people read and type (a BEL or an escape shows as a blank or
        // `?` on the screen, a bidi control reorders the row, and no one can type it back as a target), nor an
        // invisible one (a zero-width space makes two jobs that look the same): `TerminalText.isHidden`, the rule
        // user names follow too.
        for key in ["batch_id", "job_id"] {
            if let c = o[key]?.stringValue?.unicodeScalars.first(where: TerminalText.isHidden) {
                let kind = TerminalText.isControl(c) ? "control" : "invisible"
                return bad("\(key) must not contain \(kind) characters (found U+\(String(format: "%04X", c.value))).")
            }
        }
        guard let version = o["schema_version"] else {
            return bad("schema_version is required (expected \"1.1\").")
        }
        guard version.stringValue == "1.1" else {
            return .failure(
                EventRejection(
                    status: 415,
                    message: "Unsupported schema_version \(version.serialized().prefix(64)); this server speaks \"1.1\"."
                ))
        }
        guard let eventID = o["event_id"]?.stringValue else {
            return bad("event_id is required and must be a string.")
        }
        guard (8...64).contains(eventID.unicodeScalars.count) else {
            return bad("event_id must be 8 to 64 characters long.")
        }
        guard let type = o["event_type"]?.stringValue else {
            return bad("event_type is required and must be a string.")
        }
        guard EventTypes.fromClients.contains(type) else { return bad("Unknown event_type '\(type.prefix(64))'.") }
        guard let tsText = o["timestamp"]?.stringValue else {
            return bad("timestamp is required and must be an ISO-8601 string.")
        }
        guard let ts = Timestamp(iso: tsText) else {
            return bad("timestamp '\(tsText.prefix(64))' is not a valid ISO-8601 date-time.")
        }
        guard ts.micros >= earliestUs else {
            return bad("timestamp \(tsText.prefix(64)) is before 2000-01-01; fix the sending host's clock.")
        }
        guard ts.micros <= nowUs + maxAheadUs else {
            return bad(
                "timestamp \(ts.iso) is more than 24 hours ahead of the server's clock (\(Timestamp(micros: nowUs).iso)); fix the sending host's clock."
            )
        }
        // Ids are kept in one form (NFC, `IDEncoding.canonical`): two spellings of "café" are one batch.
        guard let batchID = o["batch_id"]?.stringValue.map(IDEncoding.canonical),
            (1...128).contains(batchID.unicodeScalars.count)
        else {
            return bad("batch_id is required and must be a string of 1 to 128 characters.")
        }
        if let c = batchID.first(where: IDRules.batchDelimiters.contains) {
            return bad(
                "batch_id '\(batchID.prefix(128))' contains '\(c)': the SDK polls /api/batches/<batch_id>/stop-requested without encoding it, so Stop could never reach this run; choose a name without '/', '?', '#' or '%'."
            )
        }
        if let problem = IncomingEvent.dotSegmentProblem("batch_id", batchID) { return bad(problem) }
        var jobID: String? = nil
        switch o["job_id"] {
        case nil, .null?: break
        case .string(let raw)?:
            let j = IDEncoding.canonical(raw)
            guard j.unicodeScalars.count <= 256 else {
                return bad("job_id must be at most 256 characters.")
            }
            if let problem = IncomingEvent.dotSegmentProblem("job_id", j) { return bad(problem) }
            jobID = j.isEmpty ? nil : j
        default: return bad("job_id must be a string or null.")
        }
        if IncomingEvent.jobScoped.contains(type), jobID == nil {
            return bad("\(type) requires a job_id.")
        }
        guard case .object(var source)? = o["source"] else {
            return bad("source is required and must be an object.")
        }
        guard let project = source["project"]?.stringValue, !project.isEmpty else {
            return bad("source.project is required.")
        }
        for key in ["host", "user", "commit", "command"] {
            if let v = source[key], !v.isNull, v.stringValue == nil {
                return bad("source.\(key) must be a string.")
            }
        }
        var data: JSONObject
        switch o["data"] {
        case nil, .null?: data = JSONObject()
        case .object(let d)?: data = d
        default: return bad("data must be an object.")
        }
        // Any other NUL character becomes U+FFFD, the same on both backends (PostgreSQL's text cannot hold it).
        source = IncomingEvent.withoutNUL(source)
        data = IncomingEvent.withoutNUL(data)
        if type == "job_epoch" {
            guard let ep = data["epoch"] else { return bad("job_epoch requires data.epoch.") }
            guard ep.intValue != nil else {
                if case .number(let d) = ep, d.isFinite, d.rounded() == d {
                    return bad("data.epoch is out of range: it must be between -9e15 and 9e15.")
                }
                return bad("data.epoch must be an integer.")
            }
            // A metric sent as a number in a string (`f"{loss:.4f}"`) is stored as that number: otherwise the rows
            // showed the text, the columns, the charts and the tiles nothing, each its own way.
            for p in data.pairs where p.key != "epoch" {
                if case .string(let text) = p.value, EventValidator.isJSONNumber(text), let d = Double(text), d.isFinite {
                    data[p.key] = .number(d)
                }
            }
            // A metric named like a member of an epoch's row is stored under its row name (`EpochTable.rowMembers`),
            // so the live frames carry what the rows do.
            // (`timestamp_metric_2` when the script also sent a `timestamp_metric`.)
            for name in EpochTable.rowMembers.sorted() {
                guard let value = data[name] else { continue }
                var renamed = name + EpochTable.renamedSuffix
                var n = 2
                while data[renamed] != nil {
                    renamed = name + EpochTable.renamedSuffix + "_\(n)"
                    n += 1
                }
                data.pairs = data.pairs.map { $0.key == name ? (renamed, value) : $0 }
            }
        }
        if type == "log_line", let line = data["line"], line.stringValue == nil, !line.isNull {
            data["line"] = .string(line.serialized())
        }
        // Non-finite numbers are stored as null and listed, so "the loss went NaN" is not lost. A list that came
        // with the event (a stored body sent again, say) counts only for keys whose value is null: it cannot make a
        // finite loss read NaN. The stored form validates to itself.
        let claimed = Set(data["_nonfinite"]?.arrayValue?.compactMap(\.stringValue) ?? [])
        data["_nonfinite"] = nil
        let nonFinite = data.pairs.compactMap { p -> JSON? in
            if case .number(let d) = p.value, !d.isFinite { return .string(p.key) }
            return p.value.isNull && claimed.contains(p.key) ? .string(p.key) : nil
        }
        if !nonFinite.isEmpty { data["_nonfinite"] = .array(nonFinite) }
        var e = IncomingEvent(
            eventID: eventID, type: type, ts: ts, batchID: batchID, jobID: jobID, source: source,
            data: data, body: "")
        e.body = e.serializedEnvelope()
        return .success(e)
    }

    /// Whether `text` is a number as JSON writes one (`-0.5`, `3`, `1e-3`; not `+1`, ` 2`, `0x10`, `NaN`).
    static func isJSONNumber(_ text: String) -> Bool {
        var u = Substring(text).utf8[...]
        func digits() -> Int {
            let n = u.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
            u = u.dropFirst(n)
            return n
        }
        if u.first == UInt8(ascii: "-") { u = u.dropFirst() }
        let whole = u.first
        let n = digits()
        guard n > 0, whole != UInt8(ascii: "0") || n == 1 else { return false }
        if u.first == UInt8(ascii: ".") {
            u = u.dropFirst()
            guard digits() > 0 else { return false }
        }
        if u.first == UInt8(ascii: "e") || u.first == UInt8(ascii: "E") {
            u = u.dropFirst()
            if u.first == UInt8(ascii: "+") || u.first == UInt8(ascii: "-") { u = u.dropFirst() }
            guard digits() > 0 else { return false }
        }
        return u.isEmpty
    }
}
