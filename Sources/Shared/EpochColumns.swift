/// A job's epochs as the server reads them from its stored `job_epoch` events, written in either form of the read
/// API (openapi.json):
/// - rows, `GET /api/jobs/{b}/{j}/epochs` and `/view`'s `epochs`: ascending
///   `[{epoch, timestamp, train_loss, val_loss, lr, ...every other numeric key, nonfinite?}]` (a metric named `timestamp` or
///   `nonfinite` is written as `timestamp_metric`, `nonfinite_metric`: `rowMembers`), the three named
///   metrics in every row (`null` when missing), `nonfinite` the keys the script reported as NaN or ±infinity;
/// - columns, `/view?epochs=columns` (what the TUI asks for): one array per key instead of one object per epoch,
///   `{"count": N, "epoch": [N ints], "timestamp_us": [N ints], "columns": {"train_loss": [N numbers or null], ...},
///   "nonfinite": {"val_loss": [row indexes], ...}}`. A column exists for every key that is a number (or was
///   non-finite) in some row, in the order a reader of the rows meets them; `null` is "no value in that row".
///   `EpochColumns` reads it back.
///
/// Values are copied as they are stored (no number is parsed and printed again) and nothing is built per epoch but
/// the row's place in one byte arena: this is the hot part of opening a 100k-epoch job. Of an epoch reported more
/// than once, the newest report stands, and a run that goes back (resumed, retried) drops the epochs after it
/// (`addData`); rows come out ordered by epoch.
public struct EpochTable: Sendable {
    /// Written in every row, `null` when the epoch did not report them.
    public static let fixedKeys = ["train_loss", "val_loss", "lr"]
    static let epochKey = 3
    static let nonfiniteKey = 4
    /// The row's own members besides the metrics (`epoch` is the row's, from the data): a metric of one of these
    /// names is written as `name_metric`.
    public static let rowMembers: Set<String> = ["timestamp", "nonfinite"]
    public static let renamedSuffix = "_metric"

    struct Field {
        var key: Int
        var start: Int
        var end: Int
        var isNumber: Bool
    }

    struct Row {
        var epoch: Int
        var tsUs: Int64
        var fields: Range<Int>
        /// The stored `_nonfinite` value's bytes, and its keys.
        var nonfiniteRaw: Range<Int>?
        var nonfinite: [Int]
    }

    var arena: [UInt8] = []
    var fields: [Field] = []
    var rows: [Row] = []
    /// Row index by epoch, made only once the epochs stopped arriving in ascending order; while they ascend (the
    /// usual case), a re-sent epoch is found by a binary search of `rows`, and 100k epochs need no hash table.
    var rowOfEpoch: [Int: Int]? = nil
    var ordered: Bool { rowOfEpoch == nil }
    /// Key ids: the fixed keys first, then `epoch` and `_nonfinite`, then every other key as first met.
    var names: [String] = fixedKeys + ["epoch", "_nonfinite"]
    /// Each key as a JSON string, quotes included (what the writers copy; what unescaped raw keys are compared with).
    var written: [[UInt8]]
    var idOfName: [String: Int]
    /// The previous row's keys in order: the first guess for this row's (rows usually share their layout).
    var lastLayout: [Int] = []
    /// Which report of an epoch stands (`EpochReports`, the loss spark's rule too).
    var reports = EpochReports()

    public init() {
        written = names.map { n in
            var b: [UInt8] = []
            JSON.writeString(n, into: &b)
            return b
        }
        idOfName = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
    }

    public var count: Int { rows.count }

    /// About how much memory the table holds (what `EpochCache` budgets).
    public var approximateBytes: Int {
        arena.capacity + fields.capacity * MemoryLayout<Field>.stride + rows.capacity * MemoryLayout<Row>.stride
            + (rowOfEpoch?.capacity ?? 0) * 3 * MemoryLayout<Int>.stride
    }

    /// Adds one stored event: its envelope's JSON text (`{..., "data": {...}}`) and timestamp. An envelope whose
    /// data has no integer `epoch` is skipped, as is one that is not JSON.
    public mutating func add(envelope text: String, tsUs: Int64) {
        var text = text
        let done = text.withUTF8 { buf -> Bool in
            var p = JSONParser(buf)
            return addEnvelope(&p, tsUs: tsUs)
        }
        if done { return }
        // Not in the form our ingest writes (a non-finite literal, say): parse it, then read its data as we write it.
        guard let data = (try? JSON.parse(text))?["data"]?.objectValue else { return }
        var bytes: [UInt8] = []
        JSON.object(data).write(into: &bytes)
        bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(buf)
            _ = addData(&p, tsUs: tsUs)
        }
    }

    /// Finds the envelope's `data` member and adds it; false when the text is not in the form expected.
    mutating func addEnvelope(_ p: inout JSONParser, tsUs: Int64) -> Bool {
        p.skipWS()
        guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "{") else { return false }
        p.i += 1
        while true {
            p.skipWS()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { return false }
            let keyStart = p.i + 1
            guard let escaped = try? p.skipString() else { return false }
            let isData =
                !escaped && p.i - 1 - keyStart == 4 && p.b[keyStart] == UInt8(ascii: "d") && p.b[keyStart + 1] == UInt8(ascii: "a")
                && p.b[keyStart + 2] == UInt8(ascii: "t") && p.b[keyStart + 3] == UInt8(ascii: "a")
            p.skipWS()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: ":") else { return false }
            p.i += 1
            p.skipWS()
            if isData { return addData(&p, tsUs: tsUs) }
            guard (try? p.skipValue()) != nil else { return false }
            p.skipWS()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: ",") else { return false }
            p.i += 1
        }
    }

    /// Adds the data object at the parser's position; false (nothing added) when a value is not plain JSON.
    mutating func addData(_ p: inout JSONParser, tsUs: Int64) -> Bool {
        let (fieldsStart, arenaStart) = (fields.count, arena.count)
        func undo() -> Bool {
            fields.removeLast(fields.count - fieldsStart)
            arena.removeLast(arena.count - arenaStart)
            return false
        }
        guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "{") else { return false }
        p.i += 1
        var epoch: Int? = nil
        var nonfiniteRaw: Range<Int>? = nil
        var nonfinite: [Int] = []
        var layout = 0
        p.skipWS()
        var empty = p.i < p.b.count && p.b[p.i] == UInt8(ascii: "}")
        if empty { p.i += 1 }
        while !empty {
            p.skipWS()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: "\"") else { return undo() }
            let keyStart = p.i
            guard let escaped = try? p.skipString() else { return undo() }
            let key = keyID(p.b, keyStart..<p.i, escaped: escaped, at: layout)
            if layout < lastLayout.count { lastLayout[layout] = key } else { lastLayout.append(key) }
            layout += 1
            p.skipWS()
            guard p.i < p.b.count, p.b[p.i] == UInt8(ascii: ":") else { return undo() }
            p.i += 1
            p.skipWS()
            guard p.i < p.b.count else { return undo() }
            let valueStart = p.i
            let c = p.b[p.i]
            var isNumber = false
            if c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39) {
                isNumber = true
                if key == EpochTable.epochKey {
                    guard let d = try? p.parseNumber(), d.isFinite else { return undo() }
                    epoch = JSON.number(d).intValue
                } else {
                    // Copied as written: only whether a Double holds it matters, not its value.
                    guard (try? p.skipNumberIsFinite()) == true else { return undo() }
                }
            } else if c == UInt8(ascii: "N") || c == UInt8(ascii: "I") {
                return undo()
            } else {
                guard (try? p.skipValue()) != nil else { return undo() }
            }
            let value = UnsafeBufferPointer(rebasing: p.b[valueStart..<p.i])
            if key == EpochTable.nonfiniteKey {
                nonfiniteRaw = arena.count..<(arena.count + value.count)
                arena.append(contentsOf: value)
                for name in (try? JSON.parse(value))?.arrayValue ?? [] {
                    if let n = name.stringValue { nonfinite.append(id(of: n)) }
                }
            } else if key != EpochTable.epochKey, isNumber || key < EpochTable.fixedKeys.count {
                fields.append(Field(key: key, start: arena.count, end: arena.count + value.count, isNumber: isNumber))
                arena.append(contentsOf: value)
            }
            p.skipWS()
            guard p.i < p.b.count else { return undo() }
            if p.b[p.i] == UInt8(ascii: ",") {
                p.i += 1
                continue
            }
            guard p.b[p.i] == UInt8(ascii: "}") else { return undo() }
            p.i += 1
            empty = true
        }
        guard let epoch else {
            _ = undo()
            return true
        }
        // Which report of an epoch stands (`EpochReports`): never one older than the report the row holds (a spill
        // file's, late) nor one the run replaced; a run that goes back drops the epochs after it.
        if let at = self.row(of: epoch), rows[at].tsUs > tsUs {
            _ = undo()
            return true
        }
        switch reports.note(epoch: Int64(epoch), atUs: tsUs) {
        case .replaced:
            _ = undo()
            return true
        case .goesBack: drop(after: epoch)
        case .stands: break
        }
        let row = Row(epoch: epoch, tsUs: tsUs, fields: fieldsStart..<fields.count, nonfiniteRaw: nonfiniteRaw, nonfinite: nonfinite)
        if let at = self.row(of: epoch) {
            rows[at] = row
        } else {
            if ordered, let last = rows.last, last.epoch > epoch {
                rowOfEpoch = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1.epoch, $0) })
            }
            rowOfEpoch?[epoch] = rows.count
            rows.append(row)
        }
        return true
    }

    /// The key at `range` (its quotes included): the previous row's key at this place when the bytes match, else
    /// looked up by name.
    mutating func keyID(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, escaped: Bool, at place: Int) -> Int {
        let raw = UnsafeBufferPointer(rebasing: b[range])
        if !escaped, place < lastLayout.count {
            let guess = lastLayout[place]
            if written[guess].elementsEqual(raw) { return guess }
        }
        var p = JSONParser(b, at: range.lowerBound)
        return id(of: (try? p.parseString()) ?? "")
    }

    mutating func id(of name: String) -> Int {
        if let k = idOfName[name] { return k }
        idOfName[name] = names.count
        // A metric named like a member of the row itself is written under another name: two `timestamp` keys in one
        // object lose the epoch's time to whichever a reader keeps, and a number under `nonfinite` broke the page.
        let shown = EpochTable.rowMembers.contains(name) ? name + EpochTable.renamedSuffix : name
        names.append(shown)
        var b: [UInt8] = []
        JSON.writeString(shown, into: &b)
        written.append(b)
        return names.count - 1
    }

    /// Removes the rows of epochs after `epoch` (their bytes stay in the arena until the table is read again).
    mutating func drop(after epoch: Int) {
        rows.removeAll { $0.epoch > epoch }
        if rowOfEpoch != nil {
            rowOfEpoch = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ($1.epoch, $0) })
        }
    }

    /// The row holding `epoch`, if any.
    func row(of epoch: Int) -> Int? {
        if let rowOfEpoch { return rowOfEpoch[epoch] }
        guard let last = rows.last, epoch <= last.epoch else { return nil }
        var (lo, hi) = (0, rows.count)
        while lo < hi {
            let mid = (lo + hi) / 2
            if rows[mid].epoch < epoch { lo = mid + 1 } else { hi = mid }
        }
        return lo < rows.count && rows[lo].epoch == epoch ? lo : nil
    }

    /// Row indexes by epoch.
    var order: [Int] {
        let all = Array(rows.indices)
        return ordered ? all : all.sorted { rows[$0].epoch < rows[$1].epoch }
    }

    /// The rows form: a JSON array, one object per epoch.
    public func writeRows(into out: inout [UInt8]) {
        arena.withUnsafeBufferPointer { arena in
            out.append(UInt8(ascii: "["))
            for (n, r) in order.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                writeRow(r, arena, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        }
    }

    /// Row `r` (an index of `rows`) as the rows form's object.
    func writeRow(_ r: Int, into out: inout [UInt8]) {
        arena.withUnsafeBufferPointer { arena in writeRow(r, arena, into: &out) }
    }

    /// The same with the arena borrowed by the caller: once for all rows, instead of a retain and a release for
    /// every value's slice.
    private func writeRow(_ r: Int, _ arena: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let row = rows[r]
        func value(_ range: Range<Int>) { out.append(contentsOf: UnsafeBufferPointer(rebasing: arena[range])) }
        out.append(contentsOf: #"{"epoch":"#.utf8)
        JSON.writeInteger(Int64(row.epoch), into: &out)
        out.append(contentsOf: #","timestamp":""#.utf8)
        Timestamp(micros: row.tsUs).writeISO(into: &out)
        out.append(UInt8(ascii: "\""))
        for k in 0..<EpochTable.fixedKeys.count {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: written[k])
            out.append(UInt8(ascii: ":"))
            if let f = fields[row.fields].first(where: { $0.key == k }) {
                value(f.start..<f.end)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        }
        for f in fields[row.fields] where f.isNumber && f.key >= EpochTable.fixedKeys.count {
            out.append(UInt8(ascii: ","))
            out.append(contentsOf: written[f.key])
            out.append(UInt8(ascii: ":"))
            value(f.start..<f.end)
        }
        if let nf = row.nonfiniteRaw {
            out.append(contentsOf: #","nonfinite":"#.utf8)
            value(nf)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The rows form as a JSON value (spliced verbatim when the response is written).
    public var rowsJSON: JSON {
        var out: [UInt8] = []
        // At most every key in every row, beside the values: pages never written are never touched, and growing
        // would copy it all.
        out.reserveCapacity(arena.count + rows.count * (64 + written.reduce(0) { $0 + $1.count + 2 }))
        writeRows(into: &out)
        return .raw(out)
    }

    /// The columns form: `{"count", "epoch", "timestamp_us", "columns", "nonfinite"}`. The hot part of a big job's
    /// `/view`: values are copied from the arena, borrowed once, and integers written without a String each.
    public func writeColumns(into out: inout [UInt8]) {
        arena.withUnsafeBufferPointer { arena in writeColumns(arena, into: &out) }
    }

    private func writeColumns(_ arena: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        let order = self.order
        // The columns, in the order a reader of the rows meets them: the fixed keys, the row's other numbers, then
        // non-finite keys that have no value in the row; and each non-finite key's rows.
        var isColumn = [Bool](repeating: false, count: names.count)
        var keys: [Int] = []
        var nonfinite: [(key: Int, rows: [UInt8])] = []
        var nonfiniteOfKey: [Int: Int] = [:]
        func column(_ key: Int) {
            if !isColumn[key] {
                isColumn[key] = true
                keys.append(key)
            }
        }
        for (n, r) in order.enumerated() {
            let row = rows[r]
            for k in 0..<EpochTable.fixedKeys.count
            where !isColumn[k] && (row.nonfinite.contains(k) || fields[row.fields].contains(where: { $0.key == k && $0.isNumber })) {
                column(k)
            }
            for f in row.fields where fields[f].isNumber { column(fields[f].key) }
            for k in row.nonfinite where k != EpochTable.epochKey && k != EpochTable.nonfiniteKey {
                column(k)
                if let at = nonfiniteOfKey[k] {
                    nonfinite[at].rows.append(UInt8(ascii: ","))
                    JSON.writeInteger(Int64(n), into: &nonfinite[at].rows)
                } else {
                    nonfiniteOfKey[k] = nonfinite.count
                    var rows: [UInt8] = []
                    JSON.writeInteger(Int64(n), into: &rows)
                    nonfinite.append((k, rows))
                }
            }
        }
        out.append(contentsOf: #"{"count":"#.utf8)
        JSON.writeInteger(Int64(order.count), into: &out)
        out.append(contentsOf: #","epoch":["#.utf8)
        for (n, r) in order.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeInteger(Int64(rows[r].epoch), into: &out)
        }
        out.append(contentsOf: #"],"timestamp_us":["#.utf8)
        for (n, r) in order.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            JSON.writeInteger(rows[r].tsUs, into: &out)
        }
        out.append(contentsOf: #"],"columns":{"#.utf8)
        // Each column straight into `out`: a row's value (of a key given twice, the last), or null.
        for (c, key) in keys.enumerated() {
            if c > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: written[key])
            out.append(contentsOf: ":[".utf8)
            for (n, r) in order.enumerated() {
                if n > 0 { out.append(UInt8(ascii: ",")) }
                if let f = fields[rows[r].fields].last(where: { $0.key == key && $0.isNumber }) {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: arena[f.start..<f.end]))
                } else {
                    out.append(contentsOf: "null".utf8)
                }
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(contentsOf: #"},"nonfinite":{"#.utf8)
        for (n, nf) in nonfinite.enumerated() {
            if n > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: written[nf.key])
            out.append(contentsOf: ":[".utf8)
            out.append(contentsOf: nf.rows)
            out.append(UInt8(ascii: "]"))
        }
        out.append(contentsOf: "}}".utf8)
    }

    public var columnsJSON: JSON {
        var out: [UInt8] = []
        // More than it needs (its epoch, time, separators and nulls are under 48 bytes a row beside the arena's
        // values): pages never written are never touched, and growing would copy it all.
        out.reserveCapacity(arena.count + rows.count * 48)
        writeColumns(into: &out)
        return .raw(out)
    }
}

/// Which report of a job's epoch stands, by the events' times: the rule of the epoch table (`EpochTable`) and of
/// the loss spark the server keeps (`LossSpark`). A run that goes back (resumed from a checkpoint, a job retried)
/// reports an epoch it reported before, over a second newer than every report (`goBackAfterUs`): the epochs after it
/// go until reported again. A report older than that go-back, for an epoch from there on, arriving late (a spill
/// file), is one the run replaced.
public struct EpochReports: Sendable, Equatable {
    /// How much newer than every report an epoch reported again must be to count as the run going back: more than a
    /// second, so that ranks or threads of one run reporting around the same moment never read as one.
    public static let goBackAfterUs: Int64 = 1_000_000

    public enum Verdict: Sendable, Equatable {
        case stands
        /// It stands, and the epochs after it go.
        case goesBack
        /// The run replaced it: left out.
        case replaced
    }

    public struct GoBack: Sendable, Equatable {
        public var epoch: Int64
        public var atUs: Int64

        public init(epoch: Int64, atUs: Int64) { (self.epoch, self.atUs) = (epoch, atUs) }
    }

    /// The newest time of any report, the highest epoch standing, and the run's last go-back; nil until known.
    public var newestUs: Int64?
    public var topEpoch: Int64?
    public var goBack: GoBack?

    public init(newestUs: Int64? = nil, topEpoch: Int64? = nil, goBack: GoBack? = nil) {
        (self.newestUs, self.topEpoch, self.goBack) = (newestUs, topEpoch, goBack)
    }

    /// Notes a report of `epoch` at `atUs` and says what it does.
    public mutating func note(epoch: Int64, atUs: Int64) -> Verdict {
        if let g = goBack, epoch >= g.epoch, atUs < g.atUs { return .replaced }
        var verdict = Verdict.stands
        if let top = topEpoch, let newest = newestUs, epoch <= top, atUs > newest + EpochReports.goBackAfterUs {
            goBack = GoBack(epoch: epoch, atUs: atUs)
            topEpoch = epoch
            verdict = .goesBack
        }
        newestUs = max(newestUs ?? atUs, atUs)
        topEpoch = max(topEpoch ?? epoch, epoch)
        return verdict
    }
}

/// The columns form of a job's epochs (`/view?epochs=columns`, written by `EpochTable.writeColumns`), read
/// straight into arrays of numbers: no JSON value is built per epoch.
public struct EpochColumns: Sendable, Equatable {
    public var epochs: [Int] = []
    public var timestampsUs: [Int64] = []
    /// Column names, in the order the server sent them, and their values (NaN: no value in that row).
    public var names: [String] = []
    public var values: [[Double]] = []
    /// Keys reported as non-finite, and in which rows.
    public var nonfiniteNames: [String] = []
    public var nonfiniteRows: [[Int]] = []

    public var count: Int { epochs.count }

    public init() {}

    public init(decoding bytes: [UInt8]) throws(JSONParseError) {
        self = try bytes.withUnsafeBufferPointer { buf -> Result<EpochColumns, JSONParseError> in
            var p = JSONParser(buf)
            do throws(JSONParseError) { return .success(try EpochColumns.decode(&p)) } catch { return .failure(error) }
        }.get()
    }

    /// From a parsed tree (a client that parsed the whole reply): the same checks as the bytes.
    public init(_ json: JSON) throws(JSONParseError) {
        if case .raw(let bytes) = json {
            try self.init(decoding: bytes)
        } else {
            var bytes: [UInt8] = []
            json.write(into: &bytes)
            try self.init(decoding: bytes)
        }
    }

    static func decode(_ p: inout JSONParser) throws(JSONParseError) -> EpochColumns {
        var c = EpochColumns()
        var count: Int? = nil
        p.skipWS()
        try p.members { p, key throws(JSONParseError) in
            switch key {
            case "count":
                guard let n = JSON.number(try p.parseNumber()).intValue, n >= 0 else { throw p.fail("count must be a count") }
                count = n
            case "epoch": c.epochs = try p.numbers().map { d throws(JSONParseError) in try EpochColumns.int(d, p) }
            case "timestamp_us": c.timestampsUs = try p.numbers().map { d throws(JSONParseError) in Int64(try EpochColumns.int(d, p)) }
            case "columns":
                try p.members { p, name throws(JSONParseError) in
                    c.names.append(name)
                    c.values.append(try p.numbers())
                }
            case "nonfinite":
                try p.members { p, name throws(JSONParseError) in
                    c.nonfiniteNames.append(name)
                    c.nonfiniteRows.append(try p.numbers().map { d throws(JSONParseError) in try EpochColumns.int(d, p) })
                }
            default: try p.skipValue()
            }
        }
        p.skipWS()
        guard p.i == p.b.count else { throw p.fail("unexpected trailing characters") }
        let n = c.epochs.count
        guard count == n, c.timestampsUs.count == n, c.values.allSatisfy({ $0.count == n }) else {
            throw p.fail("the epoch columns differ in length")
        }
        guard c.nonfiniteRows.allSatisfy({ $0.allSatisfy { (0..<n).contains($0) } }) else {
            throw p.fail("a non-finite row index is out of range")
        }
        return c
    }

    static func int(_ d: Double, _ p: JSONParser) throws(JSONParseError) -> Int {
        guard let v = JSON.number(d).intValue else { throw p.fail("expected an integer") }
        return v
    }
}

extension JSONParser {
    /// An array of numbers and nulls (NaN), as doubles.
    mutating func numbers() throws(JSONParseError) -> [Double] {
        guard i < b.count, b[i] == UInt8(ascii: "[") else { throw fail("expected an array") }
        i += 1
        var out: [Double] = []
        skipWS()
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1
            return out
        }
        while true {
            skipWS()
            guard i < b.count else { throw fail("unterminated array") }
            switch b[i] {
            case UInt8(ascii: "n"):
                try literal("null")
                out.append(.nan)
            case UInt8(ascii: "N"), UInt8(ascii: "I"):
                guard case .number(let d) = try parseValue() else { throw fail("expected a number") }
                out.append(d)
            default: out.append(try parseNumber())
            }
            skipWS()
            guard i < b.count else { throw fail("unterminated array") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if b[i] == UInt8(ascii: "]") {
                i += 1
                return out
            }
            throw fail("expected ',' or ']'")
        }
    }
}
