import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("Ingest", .ownThread)
struct IngestTests {
    @Test("a single event is stored once; a repeat answers with the original id")
    func singleAndDedupe() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let ev = Ev.make("batch_start", batch: "b1", data: ["experiment_type": "t", "n_total_jobs": 1])
        let first = try c.post("/api/events", json: ev)
        #expect(first.status == 200)
        #expect(first.json?["accepted"] == true)
        #expect(first.json?["deduplicated"] == false)
        let id = try #require(first.json?["event_id"]?.intValue)
        let again = try c.post("/api/events", json: ev)
        #expect(again.status == 200)
        #expect(again.json?["deduplicated"] == true)
        #expect(again.json?["event_id"]?.intValue == id)
        let batches = try c.mustGet("/api/batches")
        #expect(batches.arrayValue?.count == 1)
    }

    @Test("eight copies of one event sent at the same moment store exactly one row")
    func concurrentDuplicates() throws {
        let s = try TestServer()
        let token = try s.token()
        try s.client(token).mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let ev = Ev.epoch("b", "j", 0)
        let results = LockedResults()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            let r = try? s.client(token).post("/api/events", json: ev)
            results.append(r)
        }
        let all = results.values
        #expect(all.count == 8)
        #expect(all.allSatisfy { $0?.status == 200 })
        let ids = Set(all.compactMap { $0?.json?["event_id"]?.intValue })
        #expect(ids.count == 1)
        #expect(all.filter { $0?.json?["deduplicated"] == false }.count == 1)
        let epochs = try s.client(token).mustGet("/api/jobs/b/j/epochs")
        #expect(epochs.arrayValue?.count == 1)
    }

    @Test("a batch stores the good items and rejects each bad one with a readable error")
    func batchPartialReject() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        var events = (0..<5).map { Ev.epoch("b", "j", $0) }
        events.insert(Ev.make("job_epoch", batch: "b", job: "j", data: ["train_loss": 1]), at: 2)  // no epoch
        var wrongVersion = Ev.epoch("b", "j", 9)
        if case .object(var o) = wrongVersion {
            o["schema_version"] = "1.0"
            wrongVersion = .object(o)
        }
        events.append(wrongVersion)
        events.append(.string("not an object"))
        events.append(Ev.epoch("b", "j", 0))  // duplicate epoch number but a new event_id: stored
        events.append(events[0])  // same event_id as the first: deduplicated
        let r = try c.postBatch(events)
        #expect(r.status == 200)
        let body = try #require(r.json)
        // Each item counts once: 6 stored, 1 copy of an item earlier in the request, 3 refused.
        #expect(body["accepted"]?.intValue == 6)
        #expect(body["rejected"]?.intValue == 3)
        let results = try #require(body["results"]?.arrayValue)
        #expect(results.count == events.count)
        #expect(results[2]["status"] == "rejected")
        #expect(results[2]["error"]?.stringValue?.contains("epoch") == true)
        #expect(results[6]["status"] == "rejected")
        #expect(results[6]["error"]?.stringValue?.contains("schema_version") == true)
        #expect(results[7]["status"] == "rejected")
        #expect(results[9]["status"] == "deduplicated")
        #expect(results[9]["db_id"] == results[0]["db_id"])
        #expect(results[0]["status"] == "accepted")
        #expect(results[0]["event_id"] == events[0]["event_id"])
        let epochs = try c.mustGet("/api/jobs/b/j/epochs")
        // Epoch 0 was sent twice with different event ids: the later one replaces it in the series.
        #expect(epochs.arrayValue?.compactMap { $0["epoch"]?.intValue } == [0, 1, 2, 3, 4])
        #expect(body["deduplicated"]?.intValue == 1)
    }

    @Test("an empty batch and one of 501 events are refused with 422")
    func batchBounds() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let empty = try c.postBatch([])
        #expect(empty.status == 422)
        #expect(empty.json?["detail"]?.stringValue?.isEmpty == false)
        let big = try c.postBatch((0..<501).map { Ev.epoch("b", "j", $0) })
        #expect(big.status == 422)
        let ok = try c.postBatch((0..<500).map { Ev.epoch("b", "j", $0) })
        #expect(ok.status == 200)
        #expect(ok.json?["accepted"]?.intValue == 500)
    }

    @Test("bare NaN and Infinity from Python are accepted and kept visible as non-finite")
    func nanAndInfinity() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let id = UUID().uuidString.lowercased()
        let raw = """
            {"event_id":"\(id)","schema_version":"1.1","event_type":"job_epoch","timestamp":"2026-04-23T09:23:20Z",
             "batch_id":"b","job_id":"j","source":{"project":"p"},"data":{"epoch":1,"train_loss":NaN,"val_loss":Infinity,"grad_norm":-Infinity}}
            """
        let r = try c.request("POST", "/api/events", body: Array(raw.utf8))
        #expect(r.status == 200)
        let epochs = try c.mustGet("/api/jobs/b/j/epochs")
        let e = try #require(epochs.arrayValue?.first)
        #expect(e["train_loss"] == .null)
        #expect(e["val_loss"] == .null)
        #expect(e["nonfinite"] == ["train_loss", "val_loss", "grad_norm"])
        // The latest loss says the run diverged (null is "not reported"), after a restart too.
        let t = try c.mustGet("/api/jobs/b/j")["telemetry"]
        #expect(t?["train_loss"] == .null && t?["val_loss"] == .null && t?["nonfinite"] == ["train_loss", "val_loss"])
        try c.mustPost(Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": 2, "train_loss": 0.5]))
        let dataDir = s.dataDir
        _ = s.stop()
        let again = try TestServer(dataDir: dataDir)
        defer { try? FileManager.default.removeItem(at: dataDir) }
        let after = try again.client(token).mustGet("/api/jobs/b/j")["telemetry"]
        #expect(after?["train_loss"] == 0.5 && after?["val_loss"] == .null && after?["nonfinite"] == ["val_loss"])
        let listed = try again.client(token).mustGet("/api/batches/b/jobs").arrayValue?.first?["telemetry"]
        #expect(listed?["nonfinite"] == ["val_loss"])
        // A list sent with the event counts only for keys whose value is null: a finite loss is never NaN.
        try again.client(token).mustPost(
            Ev.make(
                "job_epoch", batch: "b", job: "j",
                data: ["epoch": 3, "train_loss": 0.7, "val_loss": 0.8, "_nonfinite": ["train_loss", "val_loss"]]))
        let honest = try again.client(token).mustGet("/api/jobs/b/j")["telemetry"]
        #expect(honest?["train_loss"] == 0.7 && honest?["val_loss"] == 0.8 && honest?["nonfinite"] == [])
        #expect(try again.client(token).mustGet("/api/jobs/b/j/epochs").arrayValue?.last?["nonfinite"] == nil)
    }

    @Test("timestamps are normalised to UTC Z; an unparsable one is a 422")
    func timestamps() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: "2026-04-23T11:23:06.5+02:00"))
        let job = try c.mustGet("/api/jobs/b/j")
        #expect(job["start_time"] == "2026-04-23T09:23:06.500000Z")
        let bad = try c.post(
            "/api/events", json: Ev.make("job_start", batch: "b", job: "j", ts: "yesterday"))
        #expect(bad.status == 422)
        #expect(bad.json?["detail"]?.stringValue?.contains("timestamp") == true)
    }

    @Test("bad input gets one readable sentence and the right status, never a 500")
    func errorStatuses() throws {
        let s = try TestServer()
        let token = try s.token()
        let viewer = try s.token(user: "vic", scope: "viewer")
        let c = s.client(token)
        func check(
            _ r: HTTPResult, _ status: Int, _ fragment: String,
            sourceLocation: SourceLocation = #_sourceLocation
        ) {
            #expect(r.status == status, "\(r.text)", sourceLocation: sourceLocation)
            let detail = r.json?["detail"]?.stringValue ?? ""
            #expect(
                detail.lowercased().contains(fragment.lowercased()), "detail was '\(detail)'",
                sourceLocation: sourceLocation)
        }
        check(
            try c.request("POST", "/api/events", body: Array("{not json".utf8)), 422, "not valid JSON")
        check(try c.request("POST", "/api/events", body: Array("[1,2]".utf8)), 422, "object")
        var v10 = Ev.make("batch_start", batch: "b")
        if case .object(var o) = v10 {
            o["schema_version"] = "1.0"
            v10 = .object(o)
        }
        check(try c.post("/api/events", json: v10), 415, "schema_version")
        // As the README says: any other value, even the number 1.1, is 415; none at all is 422.
        for (version, status) in [(JSON(1.1), 415), (.null, 415)] {
            guard case .object(var o) = Ev.make("batch_start", batch: "b") else { continue }
            o["schema_version"] = version
            check(try c.post("/api/events", json: .object(o)), status, "schema_version")
        }
        if case .object(var o) = Ev.make("batch_start", batch: "b") {
            o["schema_version"] = nil
            check(try c.post("/api/events", json: .object(o)), 422, "schema_version is required")
        }
        check(
            try c.post(
                "/api/events", json: Ev.make("job_epoch", batch: "b", job: "j", data: ["train_loss": 1])),
            422, "epoch")
        check(try c.post("/api/events", json: Ev.make("job_start", batch: "b")), 422, "job_id")
        check(try c.post("/api/events", json: Ev.make("made_up", batch: "b")), 422, "event_type")
        check(
            try c.post("/api/events", json: Ev.make("batch_start", batch: "b", id: "short")), 422,
            "event_id")
        check(
            try c.post("/api/events", json: Ev.make("batch_start", batch: "b", source: ["host": "x"])),
            422, "project")
        check(
            try c.post(
                "/api/events", json: Ev.make("batch_start", batch: String(repeating: "x", count: 129))),
            422, "batch_id")
        check(
            try c.post("/api/events", json: Ev.make("batch_start", batch: "b", data: [1, 2])), 422, "data"
        )
        let huge = Array(
            ("{\"events\":[\"" + String(repeating: "x", count: 17 * 1024 * 1024) + "\"]}").utf8)
        check(try c.request("POST", "/api/events/batch", body: huge), 413, "too large")
        // A route with a small limit of its own names that limit, not the server-wide one.
        try c.mustPost(Ev.make("batch_start", batch: "small"))
        let reason = Array(("{\"reason\":\"" + String(repeating: "r", count: 70_000) + "\"}").utf8)
        for path in ["/api/batches/small/mark-failed", "/api/batches/small/shares"] {
            let r = try c.request("POST", path, body: reason)
            #expect(
                r.status == 413 && r.serverDetail == "The body is too large; this request takes at most 65536 bytes.", "\(path): \(r.text)")
        }
        check(
            try s.client(nil).post("/api/events", json: Ev.make("batch_start", batch: "b")), 401, "token")
        check(
            try s.client("em_live_nope").post("/api/events", json: Ev.make("batch_start", batch: "b")),
            401, "token")
        check(
            try s.client(viewer).post("/api/events", json: Ev.make("batch_start", batch: "b")), 403,
            "reporter")
        check(try c.get("/api/nowhere"), 404, "no such route")
        #expect(!s.log.contains("internal error"))
    }

    @Test("a 2xx means committed: the event is readable the moment the POST returns")
    func durableBeforeResponse() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        for n in 0..<50 {
            try c.mustPost(Ev.epoch("b", "j", n))
            let job = try c.mustGet("/api/jobs/b/j")
            #expect(job["telemetry"]?["epoch"]?.intValue == n)
        }
    }
}

final class LockedResults: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [HTTPResult?] = []
    func append(_ r: HTTPResult?) { lock.withLock { items.append(r) } }
    var values: [HTTPResult?] { lock.withLock { items } }
}
