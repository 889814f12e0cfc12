import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@Suite("/view?epochs=columns: the same epochs as the rows, one array per key", .ownThread)
struct EpochColumnsTests {
    /// Epochs that exercise every rule of the rows form: out of order, one re-sent (the last wins), a key that
    /// appears late, a missing fixed metric, non-numbers (skipped, except the fixed metrics' which rows show as
    /// sent), bare NaN and ±Infinity (stored as null and listed), keys that need escaping, another job's epochs.
    static func seed(_ c: HTTPClient) throws {
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        var events: [JSON] = []
        for n in [5, 0, 1, 2, 3, 4] {
            events.append(Ev.epoch("b", "j", n, extra: [("lr", 0.001), ("val_acc", JSON(0.5 + Double(n) / 10))]))
        }
        events.append(Ev.epoch("b", "j", 2, train: 0.25, val: 0.3, extra: [("lr", 0.0005)]))  // re-sent
        events.append(
            Ev.make(
                "job_epoch", batch: "b", job: "j",
                data: ["epoch": 6, "val_loss": 0.2, "lr": "auto", "note": "warm restart", "grad_norm": 3.5, "a\"b\\c": 1e-300, "αβ": -2]))
        events.append(Ev.epoch("b", "other", 0, train: 9, val: 9))
        let r = try c.postBatch(events)
        guard r.status == 200 else { throw TestFailure("batch → \(r.status): \(r.text)") }
        for (n, data) in [
            (7, #"{"epoch":7,"train_loss":NaN,"val_loss":0.19,"grad_norm":-Infinity}"#),
            (8, #"{"epoch":8,"train_loss":0.18,"val_loss":Infinity,"spikes":NaN}"#),
        ] {
            let raw = """
                {"event_id":"nonfinite-\(n)","schema_version":"1.1","event_type":"job_epoch","timestamp":"2026-04-23T09:23:2\(n)Z",
                 "batch_id":"b","job_id":"j","source":{"project":"p"},"data":\(data)}
                """
            let posted = try c.request("POST", "/api/events", body: Array(raw.utf8))
            guard posted.status == 200 else { throw TestFailure("raw epoch \(n) → \(posted.status): \(posted.text)") }
        }
    }

    @Test("every key of every row, nulls and non-finite values alike, and the columns in the order a reader of the rows meets them")
    func sameData() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.seed(c)
        let rows = try #require(try c.mustGet("/api/jobs/b/j/view")["epochs"]?.arrayValue)
        #expect(try c.mustGet("/api/jobs/b/j/epochs").arrayValue == rows)
        let reply = try c.get("/api/jobs/b/j/view?epochs=columns")
        #expect(reply.status == 200)
        let view = try #require(reply.json)
        let epochs = try #require(view["epochs"])
        let cols = try EpochColumns(epochs)
        // The rows, as before: ascending, the re-sent epoch's last values, non-finite values listed.
        #expect(rows.compactMap { $0["epoch"]?.intValue } == Array(0...8))
        #expect(rows[2]["train_loss"] == 0.25 && rows[2]["lr"] == 0.0005 && rows[2]["val_acc"] == nil)
        #expect(rows[6]["lr"] == "auto" && rows[6]["train_loss"] == .null && rows[6]["note"] == nil)
        #expect(rows[7]["train_loss"] == .null && rows[7]["nonfinite"] == ["train_loss", "grad_norm"])
        #expect(rows[8]["nonfinite"] == ["val_loss", "spikes"])

        #expect(cols.count == rows.count && epochs["count"]?.intValue == rows.count)
        // Every column is as long as the rows, and the names are the keys in the order the rows show them.
        var metOrder: [String] = []
        for (i, row) in rows.enumerated() {
            let o = try #require(row.objectValue)
            #expect(cols.epochs[i] == o["epoch"]?.intValue)
            #expect(Timestamp(micros: cols.timestampsUs[i]).iso == o["timestamp"]?.stringValue)
            let nonfinite = Set((o["nonfinite"]?.arrayValue ?? []).compactMap(\.stringValue))
            for p in o where !["epoch", "timestamp", "nonfinite"].contains(p.key) {
                if (p.value.rawNumber != nil || nonfinite.contains(p.key)) && !metOrder.contains(p.key) { metOrder.append(p.key) }
                let k = cols.names.firstIndex(of: p.key)
                if let d = p.value.rawNumber {
                    // A number: the same number in its column.
                    #expect(k.map { cols.values[$0][i] } == d, "row \(i) \(p.key)")
                } else {
                    // null or not a number (a fixed metric's "auto"): no value in the column, if it has one.
                    #expect(k.map { cols.values[$0][i].isNaN } ?? true, "row \(i) \(p.key)")
                }
            }
            for key in nonfinite where !metOrder.contains(key) { metOrder.append(key) }
            // No value in the columns that the row does not have.
            for (k, name) in cols.names.enumerated() where !cols.values[k][i].isNaN {
                #expect(o[name]?.rawNumber == cols.values[k][i], "row \(i) \(name)")
            }
            let listed = Set(cols.nonfiniteNames.indices.filter { cols.nonfiniteRows[$0].contains(i) }.map { cols.nonfiniteNames[$0] })
            #expect(listed == nonfinite, "row \(i)")
        }
        #expect(cols.names == metOrder)
        #expect(cols.names.contains("a\"b\\c") && cols.names.contains("αβ") && !cols.names.contains("note"))
        // The rest of the view is the rows form's.
        var rest = try #require(view.objectValue)
        var full = try #require(try c.mustGet("/api/jobs/b/j/view").objectValue)
        rest["epochs"] = nil
        full["epochs"] = nil
        #expect(rest == full)
        // Smaller than the rows even on these few.
        #expect(reply.body.count < (try c.get("/api/jobs/b/j/view")).body.count)
    }

    @Test("a job without epochs has empty columns; epochs=rows is the default; anything else is a 422 sentence")
    func emptyAndBadForm() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let empty = try c.mustGet("/api/jobs/b/j/view?epochs=columns")["epochs"]
        #expect(empty == ["count": 0, "epoch": [], "timestamp_us": [], "columns": [:], "nonfinite": [:]])
        #expect(try c.mustGet("/api/jobs/b/j/view?epochs=rows")["epochs"] == [])
        let bad = try c.get("/api/jobs/b/j/view?epochs=csv")
        #expect(bad.status == 422)
        #expect(bad.serverDetail == "epochs must be rows or columns.")
    }
}
