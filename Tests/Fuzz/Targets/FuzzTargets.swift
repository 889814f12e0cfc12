import Foundation
import HummingbirdCore
import Shared

@testable import ArgusServer

/// The fuzz targets: what libFuzzer (`ArgusFuzz`, run by scripts/fuzz.sh) and the regression suite
/// (`FuzzRegressionTests`) feed bytes to. Each runs the real parsing code of the server or the client on the bytes
/// and checks properties that must hold for any input; it returns the properties that broke (none: all held).
/// A trap (overflow, precondition, out-of-bounds) is a finding too: libFuzzer saves the input, the test crashes.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// An ingest body, as `POST /api/events` and `POST /api/events/batch` read it: bytes to JSON (`Request.decodeJSON`),
    /// the single event or the batch's items validated (`EventValidator`), accepted events folded into a batch's and
    /// its jobs' records as the store does, and streamed as SSE frames.
    case ingest
    /// A byte stream from the server, as the client and the TUI read it: `SSEParser` fed in chunks of any size.
    case sse
    /// A request target (path and query), as the SSE and read routes read it: Hummingbird's `URI` and its query
    /// parameters, `channels=` (`ChannelFilter`, `Channel`), `Last-Event-ID`, the log-lines query, and the percent-
    /// decoding of path segments (`IDEncoding`, what `ArgusRequestContext.parameters` does to every id in a path).
    case query

    /// Tests/Fuzz: `corpus/<target>/` holds the seeds, `regressions/<target>/` every input a fuzzer found.
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The seed corpus and the saved findings of this target.
    public var inputFiles: [URL] {
        ["corpus", "regressions"].flatMap { kind -> [URL] in
            let dir = FuzzTarget.directory.appendingPathComponent(kind).appendingPathComponent(rawValue)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
        }
    }

    /// Runs the target on one input; returns the properties that did not hold.
    public func run(_ input: [UInt8]) -> [String] {
        var check = Check()
        switch self {
        case .ingest: FuzzTarget.ingest(input, &check)
        case .sse: FuzzTarget.sse(input, &check)
        case .query: FuzzTarget.query(input, &check)
        }
        return check.problems
    }

    struct Check {
        var problems: [String] = []

        mutating func expect(_ ok: Bool, _ what: @autoclosure () -> String) {
            if !ok { problems.append(what()) }
        }

        /// An error answer: a 4xx with one short sentence on one line, never a 500.
        mutating func refusal(_ status: Int, _ detail: String, _ context: String) {
            let quoted = "'\(detail.prefix(300))'"
            expect((400..<500).contains(status), "\(context): status \(status) for \(quoted)")
            expect(!detail.isEmpty, "\(context): an empty detail")
            // As HostileInputTests asks of every write route: one line, at most 400 characters (quoted values cut).
            expect(detail.count <= 400, "\(context): a detail of \(detail.count) characters: \(quoted)")
            expect(
                !detail.unicodeScalars.contains { $0.properties.generalCategory == .control },
                "\(context): a control character (a line break) in the detail: \(quoted)")
        }

        mutating func refusal(_ e: APIError, _ context: String) { refusal(Int(e.status.code), e.detail, context) }
    }

    /// The server's clock for every run: a fixed instant, so an input gets the same verdict on every replay.
    static let nowUs = Timestamp(iso: "2026-06-01T12:00:00Z")!.micros

    // MARK: ingest

    static func ingest(_ input: [UInt8], _ check: inout Check) {
        let decoded = input.withUnsafeBytes { raw in Result { () throws(APIError) in try Request.decodeJSON(raw) } }
        let body: JSON
        switch decoded {
        case .success(let b): body = b
        case .failure(let e):
            check.refusal(e, "malformed body")
            return
        }
        // What the server writes (responses, stored bodies) reads back as the same value, NaN and ±Infinity as null.
        let text = body.serialized()
        if let again = try? JSON.parse(text) {
            check.expect(again == finite(body), "serialized JSON reads back different: \(text.prefix(200))")
        } else {
            check.expect(false, "serialized JSON does not parse: \(text.prefix(200))")
        }
        var accepted: [IncomingEvent] = []
        do throws(APIError) {
            accepted.append(try IngestController.event(body, nowUs: nowUs))
        } catch {
            check.refusal(error, "single event")
        }
        do throws(APIError) {
            for item in try IngestController.batchItems(body) {
                switch EventValidator.validate(item, nowUs: nowUs) {
                case .success(let e): accepted.append(e)
                case .failure(let r): check.refusal(r.status, r.message, "batch item")
                }
            }
        } catch {
            check.refusal(error, "batch body")
        }
        for e in accepted { storedBody(e, &check) }
        fold(accepted, &check)
    }

    /// NaN and ±Infinity as null: what the writer makes of them.
    static func finite(_ v: JSON) -> JSON {
        switch v {
        case .number(let d) where !d.isFinite: return .null
        case .array(let a): return .array(a.map(finite))
        case .object(let o): return .object(JSONObject(o.pairs.map { (key: $0.key, value: finite($0.value)) }))
        default: return v
        }
    }

    /// The stored envelope is valid JSON that validates again to itself (normalising twice changes nothing), and its
    /// SSE frame reads back, through the client's parser, as that envelope with the frame's id and channel.
    static func storedBody(_ e: IncomingEvent, _ check: inout Check) {
        guard let stored = try? JSON.parse(e.body) else {
            check.expect(false, "stored body is not JSON: \(e.body.prefix(200))")
            return
        }
        switch EventValidator.validate(stored, nowUs: nowUs) {
        case .success(let again):
            check.expect(again.body == e.body, "stored body changes when validated again: \(e.body.prefix(200))")
        case .failure(let r):
            check.expect(false, "stored body is refused when sent again (\(r.message)): \(e.body.prefix(200))")
        }
        let frame = StoredEvent(
            id: 7, batchID: e.batchID, jobID: e.effectiveJobID, type: e.type, tsUs: e.ts.micros, body: e.body,
            channel: e.channel, snapshotJobs: []
        ).sseFrame
        var parser = SSEParser()
        let messages = parser.feed(Array(frame.utf8))
        guard messages.count == 1, case .event(let m) = messages[0], let data = try? JSON.parse(m.data),
            case .object(var o) = data
        else {
            check.expect(false, "the SSE frame does not read back as one event: \(frame.prefix(200))")
            return
        }
        check.expect(m.id == "7" && m.type == e.type, "the SSE frame's id or event type changed: \(frame.prefix(200))")
        check.expect(
            o["id"] == 7 && o["channel"]?.stringValue == e.channel, "the frame's id or channel changed: \(m.data.prefix(200))")
        o["id"] = nil
        o["channel"] = nil
        check.expect(JSON.object(o) == stored, "the frame's data is not the stored body: \(m.data.prefix(200))")
    }

    /// The accepted events folded into a batch's and its jobs' records, as `ArgusStore.ingestOne` does, and the
    /// `summary` frame they make: every record serialises to JSON that reads back.
    static func fold(_ events: [IncomingEvent], _ check: inout Check) {
        var batches: [String: BatchRecord] = [:]
        var jobs: [String: [String: JobRecord]] = [:]
        for (n, e) in events.enumerated() {
            let received = nowUs + Int64(n)
            batches[e.batchID, default: BatchRecord(id: e.batchID, ownerID: 1, now: received)].apply(
                e, receivedUs: received)
            let gpu = e.type == "resource_snapshot" ? GPUFigures(e.data) : nil
            if let j = e.effectiveJobID {
                var job = jobs[e.batchID]?[j] ?? JobRecord(batchID: e.batchID, id: j, now: received)
                job.apply(e)
                if let gpu, job.covers(e.ts.micros) { job.applySnapshot(gpu, at: e.ts.micros) }
                jobs[e.batchID, default: [:]][j] = job
            } else if let gpu {
                for (id, job) in jobs[e.batchID] ?? [:] where job.covers(e.ts.micros) {
                    jobs[e.batchID]![id]!.applySnapshot(gpu, at: e.ts.micros)
                }
            }
        }
        for (id, b) in batches {
            let frame = BatchSummary(batch: b, jobs: Array((jobs[id] ?? [:]).values))
                .json(id: 1, channel: Channel.batch(id).name).serialized()
            check.expect((try? JSON.parse(frame)) != nil, "a summary frame is not JSON: \(frame.prefix(200))")
            _ = b.detailJSON(agentOnline: false).serialized()
        }
    }

    // MARK: sse

    static func sse(_ input: [UInt8], _ check: inout Check) {
        // The first byte picks how the rest is cut into reads (a network hands over any split).
        guard let seed = input.first else { return }
        let stream = Array(input.dropFirst())
        var whole = SSEParser()
        let expected = whole.feed(stream)
        var chunked = SSEParser()
        var got: [SSEMessage] = []
        var rest = stream[...]
        var step = UInt(seed)
        while !rest.isEmpty {
            let n = min(rest.count, 1 + Int(step % 17))
            got += chunked.feed(rest.prefix(n))
            rest = rest.dropFirst(n)
            step = step &* 31 &+ 7
        }
        check.expect(got == expected, "the messages depend on how the stream was cut into reads")
        check.expect(chunked.lastEventID == whole.lastEventID, "the last event id depends on the reads")
        for m in expected {
            switch m {
            case .event(let e):
                // What the encoder writes, the parser reads back; the client parses each data line as JSON.
                var p = SSEParser()
                let back = p.feed(Array(SSEEncoder.frame(id: nil, event: e.type, data: e.data).utf8))
                check.expect(
                    back == [.event(SSEEvent(id: "", type: e.type, data: e.data))],
                    "an event does not survive encoding: \(e.type.prefix(80)) \(e.data.prefix(200))")
                _ = try? JSON.parse(e.data)
            case .comment(let text):
                var p = SSEParser()
                let back = p.feed(Array(SSEEncoder.comment(text).utf8))
                check.expect(back == [.comment(text)], "a comment does not survive encoding: \(text.prefix(200))")
            case .retry(let ms):
                check.expect(ms >= 0, "a negative retry")
            }
        }
    }

    // MARK: query

    static func query(_ input: [UInt8], _ check: inout Check) {
        // The HTTP server hands the request target over as a String (invalid UTF-8 repaired).
        let target = String(decoding: input, as: UTF8.self)
        let uri = URI(target)
        do throws(APIError) {
            let (filter, _) = try StreamController.subscription(uri, lastEventIDHeader: nil)
            // Canonical names read back as themselves: what a client sends back on reconnect means the same.
            let again = try ChannelFilter.parse(filter.names.joined(separator: ","))
            check.expect(again.names == filter.names, "channel names do not read back: \(filter.names.prefix(5))")
            check.expect(again.batchIDs == filter.batchIDs, "channel batch ids do not read back")
        } catch {
            check.refusal(error, "channels")
        }
        // The whole input as a Last-Event-ID header.
        do throws(APIError) {
            _ = try StreamController.subscription(URI("/api/sse?channels=batch:b"), lastEventIDHeader: target)
        } catch {
            check.refusal(error, "Last-Event-ID")
        }
        do throws(APIError) {
            let q = try LogLinesQuery(uri)
            check.expect((1...2000).contains(q.limit), "limit \(q.limit) out of range")
            check.expect((q.beforeID ?? 1) > 0, "before_id \(q.beforeID ?? 0) not positive")
        } catch {
            check.refusal(error, "log-lines query")
        }
        do throws(APIError) {
            _ = try intParam(uri, "limit", default: 50, range: 1...1000)
        } catch {
            check.refusal(error, "limit")
        }
        // Path segments and ids: decoding what was encoded gives the id back; encoded text decodes to itself.
        for segment in uri.path.split(separator: "/", omittingEmptySubsequences: false) + [target[...]] {
            let text = String(segment)
            check.expect(IDEncoding.decode(IDEncoding.encode(text)) == text, "an id does not survive encoding")
            if let id = IDEncoding.decode(text) {
                check.expect(
                    IDEncoding.decode(IDEncoding.encode(id)) == id, "a decoded id does not survive encoding")
                for channel in [Channel.batch(id), Channel.job(id, text)] where !id.isEmpty && !text.isEmpty {
                    check.expect(
                        (try? Channel(parsing: channel.name)) == channel, "a channel does not read back: \(channel)")
                }
            }
        }
    }
}
