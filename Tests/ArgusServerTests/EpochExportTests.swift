import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Parses RFC 4180 text: records of fields, quoted fields with doubled quotes, CRLF or LF line ends.
func parseCSV(_ text: String) -> [[String]] {
    var records: [[String]] = []
    var record: [String] = []
    var field = ""
    var quoted = false
    var chars = Array(text)[...]
    while let c = chars.popFirst() {
        if quoted {
            if c == "\"" {
                if chars.first == "\"" {
                    field.append("\"")
                    chars.removeFirst()
                } else {
                    quoted = false
                }
            } else {
                field.append(c)
            }
        } else if c == "\"" {
            quoted = true
        } else if c == "," {
            record.append(field)
            field = ""
        } else if c == "\r\n" || c == "\n" {
            record.append(field)
            records.append(record)
            (record, field) = ([], "")
        } else {
            field.append(c)
        }
    }
    if !field.isEmpty || !record.isEmpty { records.append(record + [field]) }
    return records
}

@Suite("GET /api/jobs/{b}/{j}/epochs?format=csv|jsonl|columns", .ownThread)
struct EpochExportTests {
    @Test("csv read back is the JSON array; jsonl is its objects; columns is /view's; headers and content types")
    func formats() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try EpochColumnsTests.seed(c)
        let rows = try #require(try c.mustGet("/api/jobs/b/j/epochs").arrayValue)
        #expect(rows.count == 9)

        let csv = try c.get(APIPath.epochs("b", "j", format: "csv"))
        #expect(csv.status == 200 && csv.headers["content-type"] == "text/csv; charset=utf-8")
        let records = parseCSV(csv.text)
        let header = try #require(records.first)
        // Every key any row has (numbers, the fixed metrics, keys reported non-finite), sorted.
        var keys = Set<String>()
        for row in rows {
            for p in try #require(row.objectValue) where !["epoch", "timestamp", "nonfinite"].contains(p.key) { keys.insert(p.key) }
            for k in row["nonfinite"]?.arrayValue ?? [] { keys.insert(k.stringValue ?? "") }
        }
        #expect(header == ["epoch", "timestamp"] + keys.sorted())
        #expect(header.contains("a\"b\\c") && header.contains("spikes") && !header.contains("note"))
        #expect(records.count == rows.count + 1)
        for (row, record) in zip(rows, records.dropFirst()) {
            #expect(record.count == header.count)
            let cell = Dictionary(uniqueKeysWithValues: zip(header, record))
            #expect(cell["epoch"] == row["epoch"]?.intValue.map(String.init))
            #expect(cell["timestamp"] == row["timestamp"]?.stringValue)
            for key in keys {
                switch row[key] {
                case .number(let d)?: #expect(Double(cell[key] ?? "") == d, "epoch \(row["epoch"]!) \(key)")
                case .string(let t)?: #expect(cell[key] == t)  // a fixed metric sent as text: "auto"
                default: #expect(cell[key] == "", "epoch \(row["epoch"]!) \(key): missing, null or non-finite")
                }
            }
        }

        let jsonl = try c.get(APIPath.epochs("b", "j", format: "jsonl"))
        #expect(jsonl.status == 200 && jsonl.headers["content-type"] == "application/x-ndjson")
        #expect(jsonl.text.hasSuffix("\n"))
        #expect(try jsonl.text.split(separator: "\n").map { try JSON.parse(String($0)) } == rows)

        let columns = try c.get(APIPath.epochs("b", "j", format: "columns"))
        #expect(columns.status == 200 && columns.headers["content-type"] == "application/json")
        #expect(columns.json == (try c.mustGet("/api/jobs/b/j/view?epochs=columns"))["epochs"])
    }

    @Test("a metric name or text a spreadsheet would run as a formula is written after a ', as text; numbers stay numbers")
    func noFormulas() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(
            Ev.make(
                "job_epoch", batch: "b", job: "j",
                data: ["epoch": 0, "train_loss": -0.5, "=HYPERLINK(\"http://x\",\"y\")": 1, "@SUM(A1)": 2, "lr": "+1"]))
        let records = parseCSV(try c.get(APIPath.epochs("b", "j", format: "csv")).text)
        let cell = Dictionary(uniqueKeysWithValues: zip(records[0], records[1]))
        #expect(records[0].contains("'=HYPERLINK(\"http://x\",\"y\")") && records[0].contains("'@SUM(A1)"), "\(records[0])")
        #expect(cell["lr"] == "'+1" && cell["train_loss"] == "-0.5", "\(cell)")
        // Escape sequences in a name or text (the file is `cat` to a terminal): spaces, never ESC, BEL or a C1 CSI.
        try c.mustPost(
            Ev.make(
                "job_epoch", batch: "b", job: "k",
                data: ["epoch": 0, "m\u{1B}]0;HACKED\u{07}\u{1B}[2J\u{9B}1m": 3, "two\nlines": 4, "lr": "auto\u{1B}[31m"]))
        let hostile = try c.get(APIPath.epochs("b", "k", format: "csv")).text
        #expect(!hostile.unicodeScalars.contains { TerminalText.isControl($0) && $0 != "\r" && $0 != "\n" }, "\(hostile.debugDescription)")
        let h = parseCSV(hostile)
        #expect(h[0] == ["epoch", "timestamp", "lr", "m ]0;HACKED  [2J 1m", "train_loss", "two lines", "val_loss"], "\(h[0])")
        #expect(h[1][2] == "auto [31m", "\(h[1])")
    }

    @Test(
        "a metric named timestamp or nonfinite is written as timestamp_metric, nonfinite_metric: the row keeps its time and its list, in every form"
    )
    func metricsNamedLikeTheRow() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b"))
        let live = SSECollector(url: s.url + APIPath.sse([.batch("b")]), token: token)
        defer { live.stop() }
        try live.waitUntilConnected()
        for (epoch, ts) in [(0, 123.0), (1, 456.0)] {
            try c.mustPost(
                Ev.make(
                    "job_epoch", batch: "b", job: "j",
                    data: ["epoch": .number(Double(epoch)), "train_loss": 1, "timestamp": .number(ts), "nonfinite": 7]))
        }
        // One key of each name per row (a parser keeps either of two), the event's time under `timestamp`.
        let text = try c.get(APIPath.epochs("b", "j")).text
        let first = String(text.dropFirst().prefix { $0 != "}" })
        #expect(first.components(separatedBy: "\"timestamp\":").count == 2, "\(first)")
        #expect(!first.contains("\"nonfinite\":"), "\(first)")
        let rows = try #require(try c.mustGet(APIPath.epochs("b", "j")).arrayValue)
        #expect(rows.map { $0["timestamp"]?.stringValue?.hasPrefix("20") } == [true, true], "\(rows)")
        #expect(rows.map { $0["timestamp_metric"]?.doubleValue } == [123, 456] && rows[0]["nonfinite_metric"] == 7, "\(rows)")
        let csv = parseCSV(try c.get(APIPath.epochs("b", "j", format: "csv")).text)
        #expect(csv[0].filter { $0 == "timestamp" }.count == 1 && csv[0].contains("timestamp_metric"), "\(csv[0])")
        let columns = try c.mustGet(APIPath.epochs("b", "j", format: "columns"))
        #expect(columns["columns"]?["timestamp_metric"] == [123, 456] && columns["columns"]?["nonfinite_metric"] == [7, 7], "\(columns)")
        // A script that sends both names: the second gets a number, never a duplicate key.
        try c.mustPost(Ev.make("job_epoch", batch: "b", job: "both", data: ["epoch": 0, "timestamp": 5, "timestamp_metric": 7]))
        let both = try c.get(APIPath.epochs("b", "both")).text
        #expect(both.contains("\"timestamp_metric\":7") && both.contains("\"timestamp_metric_2\":5"), "\(both)")
        // The live frames carry the same names, as the clients apply them to their charts.
        try live.wait(until: { $0.filter { $0.type == "job_epoch" }.count == 3 })
        for frame in live.dataEvents where frame.type == "job_epoch" {
            #expect(frame.data.contains("\"timestamp_metric\":") && !frame.data.contains("\"nonfinite\":"), "\(frame.data)")
        }
    }

    @Test("a metric sent as a number in a string is that number in every form and in the job's telemetry; other text stays text")
    func numbersInStrings() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_epoch", batch: "b", job: "j", data: ["epoch": 0, "train_loss": 1.0, "val_loss": 1.0]))
        try c.mustPost(
            Ev.make(
                "job_epoch", batch: "b", job: "j",
                data: ["epoch": 1, "train_loss": "0.5", "val_loss": "4e-1", "lr": "+1", "note": "0x10", "odd": "01", "neg": "-2"]))
        let rows = try #require(try c.mustGet(APIPath.epochs("b", "j")).arrayValue)
        #expect(rows[1]["train_loss"] == 0.5 && rows[1]["val_loss"] == 0.4 && rows[1]["neg"] == -2, "\(rows[1])")
        #expect(rows[1]["lr"] == "+1" && rows[1]["odd"] == nil && rows[1]["note"] == nil, "\(rows[1])")
        let columns = try c.mustGet(APIPath.epochs("b", "j", format: "columns"))
        #expect(columns["columns"]?["train_loss"] == [1.0, 0.5], "\(columns)")
        let telemetry = try c.mustGet(APIPath.job("b", "j"))["telemetry"]
        #expect(telemetry?["train_loss"] == 0.5 && telemetry?["val_loss"] == 0.4, "\(telemetry ?? .null)")
    }

    @Test("a bad format is a 422 sentence naming the accepted ones; 404 and 401 as the route has them")
    func errors() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j"))
        let bad = try c.get(APIPath.epochs("b", "j", format: "xml"))
        #expect(bad.status == 422)
        #expect(bad.serverDetail == "format must be csv, jsonl or columns (or absent, for the JSON array).")
        let missing = try c.get(APIPath.epochs("b", "nope", format: "csv"))
        #expect(missing.status == 404 && missing.serverDetail == "Job 'nope' of batch 'b' not found.")
        let anonymous = try s.client(nil).get(APIPath.epochs("b", "j", format: "csv"))
        #expect(anonymous.status == 401)
        let other = try s.client(try s.token(user: "bob")).get(APIPath.epochs("b", "j", format: "jsonl"))
        #expect(other.status == 404)
        // A job without epochs: the header alone, and an empty jsonl.
        #expect(try c.get(APIPath.epochs("b", "j", format: "csv")).text == "epoch,timestamp,lr,train_loss,val_loss\r\n")
        #expect(try c.get(APIPath.epochs("b", "j", format: "jsonl")).body.isEmpty)
    }

    @Test("5,000 epochs stream in several chunks and read back whole")
    func manyEpochs() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        for part in stride(from: 0, to: 5000, by: 500) {
            #expect(try c.postBatch((part..<part + 500).map { Ev.epoch("b", "j", $0, extra: [("lr", 0.001)]) }).status == 200)
        }
        let rows = try #require(try c.mustGet("/api/jobs/b/j/epochs").arrayValue)
        let records = parseCSV(try c.get(APIPath.epochs("b", "j", format: "csv")).text)
        #expect(records.count == 5001)
        #expect(records.dropFirst().map { Int($0[0]) } == Array(0..<5000))
        #expect(records.first?[3] == "train_loss" && records.last.map { Double($0[3]) } == rows.last?["train_loss"]?.doubleValue)
        let lines = try c.get(APIPath.epochs("b", "j", format: "jsonl")).text.split(separator: "\n")
        #expect(try lines.map { try JSON.parse(String($0)) } == rows)
    }
}
