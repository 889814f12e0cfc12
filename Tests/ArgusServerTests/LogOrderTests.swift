import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Lines an SDK kept through an outage (its spill file, delivered later by `argus-agent`) arrive after lines written
/// since. They are read where they were written: by timestamp, then by arrival.
@Suite("Log lines in the order they were written", .ownThread)
struct LogOrderTests {
    /// Job `j` of batch `b`: four lines that came live, then three delivered late with earlier timestamps (one of
    /// them in the same microsecond as a live one). Returns the lines newest first, as every route should list them.
    static func seedLate(_ c: HTTPClient) throws -> [String] {
        let base = Timestamp.now().adding(seconds: -600)
        func line(_ text: String, _ s: Double) -> JSON {
            Ev.make("log_line", batch: "b", job: "j", data: ["line": .string(text), "level": "info"], ts: base.adding(seconds: s).iso)
        }
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: base.iso))
        for (text, s) in [("live 1", 1.0), ("live 2", 2.0), ("live 5", 5.0), ("live 6", 6.0)] { try c.mustPost(line(text, s)) }
        let late = [line("spilled 3", 3.0), line("spilled 4", 4.0), line("spilled at 5, after live 5", 5.0)]
        #expect(try c.postBatch(late).json?["accepted"]?.intValue == 3)
        return ["live 6", "spilled at 5, after live 5", "live 5", "spilled 4", "spilled 3", "live 2", "live 1"]
    }

    static func texts(_ rows: JSON?) -> [String] { rows?.arrayValue?.compactMap { $0["line"]?.stringValue } ?? [] }

    /// Every line of `path` (which sets `limit`), page after page, each before the last one's oldest line.
    static func paged(_ c: HTTPClient, _ path: String) throws -> [String] {
        var lines: [String] = []
        var before: Int?
        for _ in 0..<20 {
            let page = try c.mustGet(path + (before.map { "&before_id=\($0)" } ?? "")).arrayValue ?? []
            if page.isEmpty { break }
            lines += texts(.array(page))
            before = page.last?["id"]?.intValue
        }
        return lines
    }

    @Test("every log-lines route and the view's tail list late-delivered lines by timestamp; pages by before_id meet without gap or repeat")
    func lateLinesInPlace() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let expected = try Self.seedLate(c)
        for path in ["/api/jobs/b/j/log-lines", "/api/batches/b/log-lines", "/api/batches/b/log-lines?job_id=j"] {
            #expect(Self.texts(try c.mustGet(path)) == expected, "\(path)")
        }
        #expect(Self.texts(try c.mustGet(APIPath.job("b", "j") + "/view")["log_tail"]) == expected)

        // Two at a time, each page before the last one's oldest line: the same lines, once each.
        #expect(try Self.paged(c, "/api/jobs/b/j/log-lines?limit=2") == expected)
        // A search pages the same way.
        let first = try c.mustGet("/api/batches/b/log-lines?q=spilled&limit=1").arrayValue ?? []
        #expect(Self.texts(.array(first)) == ["spilled at 5, after live 5"])
        let id = try #require(first.first?["id"]?.intValue)
        #expect(Self.texts(try c.mustGet("/api/batches/b/log-lines?q=spilled&before_id=\(id)")) == ["spilled 4", "spilled 3"])
        // A batch's lines from several jobs, from none and under the batch's own id (the SDK's batch-level log) merge
        // in the same order, and page back across them.
        let base = Timestamp.now().adding(seconds: -300)
        func line(_ job: String?, _ text: String, _ s: Double) -> JSON {
            Ev.make("log_line", batch: "m", job: job, data: ["line": .string(text)], ts: base.adding(seconds: s).iso)
        }
        try c.mustPost(Ev.make("batch_start", batch: "m"))
        let merged = [
            line("j1", "j1 at 1", 1), line("j2", "j2 at 2", 2), line(nil, "batch at 3", 3), line("m", "own id at 4", 4),
            line("j2", "j2 at 5", 5), line("j1", "j1 at 6", 6),
        ]
        #expect(try c.postBatch(Array(merged.reversed())).json?["accepted"]?.intValue == 6)
        let all = ["j1 at 6", "j2 at 5", "own id at 4", "batch at 3", "j2 at 2", "j1 at 1"]
        #expect(Self.texts(try c.mustGet("/api/batches/m/log-lines")) == all)
        #expect(try Self.paged(c, "/api/batches/m/log-lines?limit=4") == all)
        #expect(Self.texts(try c.mustGet("/api/batches/m/log-lines?q=j2")) == ["j2 at 5", "j2 at 2"])

        // A cursor that names no line of the job (another batch's, or one purged since) still answers.
        try c.mustPost(Ev.make("log_line", batch: "other", job: "j", data: ["line": "elsewhere"]))
        let elsewhere = try #require(try c.mustGet("/api/jobs/other/j/log-lines").arrayValue?.first?["id"]?.intValue)
        #expect(Self.texts(try c.mustGet("/api/jobs/b/j/log-lines?before_id=\(elsewhere)")) == expected)
    }
}
