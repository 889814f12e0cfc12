import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// The TUI asks for its epochs in the columns form (`/view?epochs=columns`); whatever form they come in, the
/// screen must be the same.
@Suite("Epochs in the columns form draw the same frame as rows", .ownThread)
struct EpochColumnsFrameTests {
    /// The columns form of a rows view, made by the server's own writer (`EpochTable`) from the rows as stored data.
    static func columns(of view: JSON) throws -> EpochColumns {
        var table = EpochTable()
        for row in view["epochs"]?.arrayValue ?? [] {
            var data = try #require(row.objectValue)
            data["timestamp"] = nil
            if let nf = data["nonfinite"] {
                data["nonfinite"] = nil
                data["_nonfinite"] = nf
            }
            let envelope: JSON = ["data": .object(data)]
            table.add(envelope: envelope.serialized(), tsUs: 0)
        }
        var bytes: [UInt8] = []
        table.writeColumns(into: &bytes)
        return try EpochColumns(decoding: bytes)
    }

    static func frame(_ action: Action, width: Int, height: Int) -> String {
        var s = AppState(screen: .job)
        s.width = width
        s.height = height
        s.now = Timestamp(iso: "2026-04-23T09:10:00Z")!.seconds
        _ = Update.apply(&s, action)
        _ = Update.apply(&s, .connection(.live))
        return ScreenView.render(s).text
    }

    @Test("the fixed fixtures: the ordinary job and 30k epochs with a spike and a NaN, frame for frame")
    func fixtures() throws {
        let spiky = Fixture.view(epochs: 30_000) { n in
            var o = JSONObject([("epoch", JSON(n)), ("train_loss", JSON(1.0 + 0.01 * sin(Double(n))))])
            if n == 15_000 { o["train_loss"] = 9.0 }
            if n == 22_500 {
                o["train_loss"] = .null
                o["nonfinite"] = ["train_loss", "grad_norm"]
            }
            o["val_loss"] = JSON(1.2)
            if n % 3 == 0 { o["val_acc"] = JSON(Double(n) / 30_000) }
            return o
        }
        for (view, width, height) in [(Fixture.view(), 120, 40), (spiky, 200, 60)] {
            let cols = try Self.columns(of: view)
            var bare = try #require(view.objectValue)
            bare["epochs"] = .null
            let fromRows = Self.frame(.viewLoaded(view), width: width, height: height)
            let fromColumns = Self.frame(.viewLoaded(.object(bare), epochs: cols), width: width, height: height)
            #expect(fromColumns == fromRows)
            #expect(fromRows.contains("1━train_loss"))
        }
        // The series themselves: the same names, epochs and values (NaN for none, +inf for non-finite).
        let rows = JobData(view: spiky)
        let columns = JobData(view: spiky, epochs: try Self.columns(of: spiky))
        #expect(columns.series.names == rows.series.names)
        #expect(columns.series.epochs == rows.series.epochs)
        for name in rows.series.names {
            let (a, b) = (try #require(rows.series.column(name)), try #require(columns.series.column(name)))
            #expect(a.count == b.count && zip(a, b).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(name)")
        }
        #expect(rows.series.column("grad_norm")?[22_500] == EpochSeries.nonFinite)
    }

    @Test("through a real server: what the TUI loads (columns) draws what the rows of the same job draw")
    func realServer() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_start", batch: "b1", job: "j1", data: ["model": "m"]))
        var events: [JSON] = []
        for n in (0..<400).reversed() {
            let x = Double(n)
            let extra: [(String, JSON)] = n % 7 == 0 ? [("val_acc", JSON(x / 400))] : []
            let train: Double = 2 * exp(-x / 90) + 0.1
            let val: Double = 2.2 * exp(-x / 90) + 0.15
            events.append(Ev.epoch("b1", "j1", n, train: train, val: val, extra: extra))
        }
        events.append(Ev.epoch("b1", "j1", 123, train: 5, val: 5))  // re-sent: a spike
        let r = try c.postBatch(events)
        #expect(r.status == 200)
        let raw = """
            {"event_id":"nan-epoch-400","schema_version":"1.1","event_type":"job_epoch","timestamp":"2026-04-23T09:23:20Z",
             "batch_id":"b1","job_id":"j1","source":{"project":"p"},"data":{"epoch":400,"train_loss":NaN,"val_loss":0.2,"grad_norm":Infinity}}
            """
        #expect(try c.request("POST", "/api/events", body: Array(raw.utf8)).status == 200)
        let loaded = try JobData.loadView(c, batchID: "b1", jobID: "j1")
        guard case .viewLoaded(_, let cols) = loaded else { throw TestFailure("not a view: \(loaded)") }
        #expect(cols?.count == 401)
        let rowsView = try c.mustGet("/api/jobs/b1/j1/view")
        for (w, h) in [(120, 40), (200, 60)] {
            #expect(Self.frame(loaded, width: w, height: h) == Self.frame(.viewLoaded(rowsView), width: w, height: h))
        }
    }
}
