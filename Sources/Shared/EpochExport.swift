/// A job's epochs as a file (`GET /api/jobs/{b}/{j}/epochs?format=csv|jsonl`, `argus-tui --export`), written a
/// chunk at a time from the `EpochTable` so a server streams it without a second copy of a big job:
/// - `jsonl`: the rows form's objects (`EpochTable.writeRows`), one per line;
/// - `csv`: RFC 4180. Header `epoch,timestamp,` then every other key (the fixed metrics, every key that is a number
///   in some row or was reported non-finite) sorted; one row per epoch, ascending; a missing value is an empty
///   cell. A non-finite value is empty too: ingest stores NaN and ±infinity alike as null (listing the key in the
///   row's `nonfinite`), so which one it was is not known; pandas reads an empty cell as NaN. A fixed metric sent as
///   text (`"lr": "auto"`) is that text. Numbers are written as stored; lines end with CRLF. A name or text that a
///   spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a CR) is written after a `'`;
///   control characters in a name or text (a line break, an escape sequence) are written as spaces.
public struct EpochExport: Sequence, IteratorProtocol, Sendable {
    public enum Format: String, CaseIterable, Sendable {
        case csv, jsonl

        public var contentType: String {
            switch self {
            case .csv: return "text/csv; charset=utf-8"
            case .jsonl: return "application/x-ndjson"
            }
        }
    }

    let table: EpochTable
    public let format: Format
    let order: [Int]
    /// CSV columns after epoch and timestamp: key ids, sorted by name.
    let keys: [Int]
    let chunkBytes: Int
    /// -1 before the header; then the next place in `order`.
    var position = -1
    /// Per key id, the field of the current row that holds it (-1: none); reset per row.
    var fieldOfKey: [Int]

    public init(_ table: EpochTable, format: Format, chunkBytes: Int = 64 * 1024) {
        self.table = table
        self.format = format
        self.chunkBytes = chunkBytes
        order = table.order
        var used = Set(0..<EpochTable.fixedKeys.count)
        for f in table.fields where f.isNumber { used.insert(f.key) }
        for r in table.rows { used.formUnion(r.nonfinite) }
        used.subtract([EpochTable.epochKey, EpochTable.nonfiniteKey])
        keys = used.sorted { table.names[$0] < table.names[$1] }
        fieldOfKey = [Int](repeating: -1, count: table.names.count)
    }

    /// The CSV header's names (after `epoch` and `timestamp`).
    public var csvColumns: [String] { keys.map { table.names[$0] } }

    public mutating func next() -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(chunkBytes + 1024)
        if position < 0 {
            position = 0
            if format == .csv {
                out.append(contentsOf: "epoch,timestamp".utf8)
                for k in keys {
                    out.append(UInt8(ascii: ","))
                    EpochExport.writeCell(Array(table.names[k].utf8), into: &out)
                }
                out.append(contentsOf: [0x0D, 0x0A])
            }
        }
        while position < order.count, out.count < chunkBytes {
            let r = order[position]
            position += 1
            switch format {
            case .jsonl:
                table.writeRow(r, into: &out)
                out.append(0x0A)
            case .csv: writeCSVRow(r, into: &out)
            }
        }
        return out.isEmpty ? nil : out
    }

    mutating func writeCSVRow(_ r: Int, into out: inout [UInt8]) {
        let row = table.rows[r]
        for f in row.fields { fieldOfKey[table.fields[f].key] = f }
        defer { for f in row.fields { fieldOfKey[table.fields[f].key] = -1 } }
        out.append(contentsOf: String(row.epoch).utf8)
        out.append(UInt8(ascii: ","))
        Timestamp(micros: row.tsUs).writeISO(into: &out)
        for k in keys {
            out.append(UInt8(ascii: ","))
            let f = fieldOfKey[k]
            guard f >= 0 else { continue }
            let field = table.fields[f]
            let raw = Array(table.arena[field.start..<field.end])
            if field.isNumber {
                out.append(contentsOf: raw)
            } else if raw.first == UInt8(ascii: "\"") {
                // A fixed metric sent as text: the text itself.
                let text = raw.withUnsafeBufferPointer { b -> String in
                    var p = JSONParser(b)
                    return (try? p.parseString()) ?? ""
                }
                EpochExport.writeCell(Array(text.utf8), into: &out)
            } else if raw != Array("null".utf8) {
                EpochExport.writeCell(raw, into: &out)  // true, an object, ...: its JSON text
            }
        }
        out.append(contentsOf: [0x0D, 0x0A])
    }

    /// The first characters that make a spreadsheet read a text cell as a formula (`=HYPERLINK(…)` as a metric's
    /// name, say): such a cell is written after a `'`, which spreadsheets show as text, as OWASP advises.
    static let formulaStarts: Set<UInt8> = [UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D]

    /// One RFC 4180 field of text (a name or a text value; numbers are written as they are): its control characters
    /// (an escape sequence in a metric's name) as spaces (`TerminalText.printable`), since a CSV file is `cat` to a
    /// terminal; quoted, its quotes doubled, when it holds a comma or a quote; after a `'` when it would start a formula.
    static func writeCell(_ raw: [UInt8], into out: inout [UInt8]) {
        let text =
            raw.contains { $0 < 0x20 || $0 >= 0x7F } ? Array(TerminalText.printable(String(decoding: raw, as: UTF8.self)).utf8) : raw
        let bytes = text.first.map(formulaStarts.contains) == true ? [UInt8(ascii: "'")] + text : text
        let special: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "\"")]
        guard bytes.contains(where: special.contains) else {
            out.append(contentsOf: bytes)
            return
        }
        out.append(UInt8(ascii: "\""))
        for b in bytes {
            if b == UInt8(ascii: "\"") { out.append(b) }
            out.append(b)
        }
        out.append(UInt8(ascii: "\""))
    }
}
