import FoundationEssentials

/// A JSON value that keeps object key order, and accepts the bare `NaN`, `Infinity` and
/// `-Infinity` that Python's `json.dumps` emits (they become `.number(.nan)` / `.number(±.infinity)`).
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object(JSONObject)
    /// Already-serialised JSON bytes, spliced verbatim when writing (server responses built in bulk).
    case raw([UInt8])

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    /// The bytes of the `.raw` parts within: what a writer reserves before it writes (a 100k-epoch job's view is
    /// 8 MB of them), instead of growing its buffer by doubling, a copy and fresh pages at each step.
    public var rawByteCount: Int {
        switch self {
        case .raw(let b): return b.count
        case .array(let a): return a.reduce(0) { $0 + $1.rawByteCount }
        case .object(let o): return o.pairs.reduce(0) { $0 + $1.value.rawByteCount }
        default: return 0
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A finite number, or nil (NaN and infinities are treated as "no value").
    public var doubleValue: Double? {
        if case .number(let d) = self, d.isFinite { return d }
        return nil
    }

    /// Any number including NaN/Inf, or nil for non-numbers.
    public var rawNumber: Double? {
        if case .number(let d) = self { return d }
        return nil
    }

    public var intValue: Int? {
        if case .number(let d) = self, d.isFinite, d == d.rounded(), abs(d) < 9e15 { return Int(d) }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

/// An ordered JSON object. Lookups are linear, which beats hashing for the small objects we handle.
public struct JSONObject: Sendable, Equatable, Sequence {
    public var pairs: [(key: String, value: JSON)]

    public init(_ pairs: [(key: String, value: JSON)] = []) { self.pairs = pairs }

    public subscript(key: String) -> JSON? {
        get {
            for p in pairs where p.key == key { return p.value }
            return nil
        }
        set {
            if let i = pairs.firstIndex(where: { $0.key == key }) {
                if let v = newValue { pairs[i].value = v } else { pairs.remove(at: i) }
            } else if let v = newValue {
                pairs.append((key, v))
            }
        }
    }

    public var keys: [String] { pairs.map(\.key) }
    public var count: Int { pairs.count }
    public func makeIterator() -> IndexingIterator<[(key: String, value: JSON)]> {
        pairs.makeIterator()
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.pairs.count == b.pairs.count
            && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(stringLiteral v: String) { self = .string(v) }
    public init(integerLiteral v: Int) { self = .number(Double(v)) }
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

extension JSON: ExpressibleByStringInterpolation {}

extension JSON {
    public init(_ s: String?) { self = s.map { .string($0) } ?? .null }
    public init(_ d: Double?) { self = d.map { .number($0) } ?? .null }
    public init(_ i: Int?) { self = i.map { .number(Double($0)) } ?? .null }
    public init(_ i: Int64?) { self = i.map { .number(Double($0)) } ?? .null }
    public init(_ b: Bool) { self = .bool(b) }
}

// MARK: - Parsing

public struct JSONParseError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

extension JSON {
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSON {
        let result: Result<JSON, JSONParseError> =
            bytes.withContiguousStorageIfAvailable { parse(buffer: $0) }
            ?? Array(bytes).withUnsafeBufferPointer { parse(buffer: $0) }
        return try result.get()
    }

    public static func parse(_ string: String) throws(JSONParseError) -> JSON {
        var s = string
        return try s.withUTF8 { parse(buffer: $0) }.get()
    }

    /// Parses a document whose top-level object's members named in `rawMembers` are kept as `.raw` bytes (checked
    /// only for balanced brackets and strings), for a caller with a faster decoder of its own for them (the
    /// columnar epochs of `/view?epochs=columns`, see `EpochColumns`).
    public static func parse(_ bytes: [UInt8], rawMembers: Set<String>) throws(JSONParseError) -> JSON {
        try bytes.withUnsafeBufferPointer { buf -> Result<JSON, JSONParseError> in
            var p = JSONParser(buf)
            p.rawMembers = rawMembers
            do throws(JSONParseError) { return .success(try p.parseDocument()) } catch { return .failure(error) }
        }.get()
    }

    static func parse(buffer: UnsafeBufferPointer<UInt8>) -> Result<JSON, JSONParseError> {
        var p = JSONParser(buffer)
        do { return .success(try p.parseDocument()) } catch { return .failure(error) }
    }
}

struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0
    /// Members of the top-level object kept as `.raw` bytes (see `JSON.parse(_:rawMembers:)`).
    var rawMembers: Set<String> = []

    init(_ b: UnsafeBufferPointer<UInt8>, at start: Int = 0) {
        self.b = b
        i = start
    }

    func fail(_ m: String) -> JSONParseError { JSONParseError(message: m, offset: i) }

    mutating func skipWS() {
        while i < b.count {
            let c = b[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
        }
    }

    mutating func parseDocument() throws(JSONParseError) -> JSON {
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { i = 3 }
        skipWS()
        let v = try parseValue()
        skipWS()
        if i != b.count { throw fail("unexpected trailing characters") }
        return v
    }

    mutating func parseValue() throws(JSONParseError) -> JSON {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "N"):
            try literal("NaN")
            return .number(.nan)
        case UInt8(ascii: "I"):
            try literal("Infinity")
            return .number(.infinity)
        default: return .number(try parseNumber())
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw fail("invalid literal") }
        let w = word.utf8Start
        for k in 0..<n where b[i + k] != w[k] { throw fail("invalid literal") }
        i += n
    }

    mutating func parseObject() throws(JSONParseError) -> JSON {
        depth += 1
        if depth > 128 { throw fail("nesting too deep") }
        defer { depth -= 1 }
        var pairs: [(key: String, value: JSON)] = []
        // Where each key sits, once the object has more than a few: a scan per key for duplicates is quadratic (a 1 MB
        // object of distinct keys took 13 s in a release build, one at the 16 MB body limit about an hour).
        var positions: [String: Int]? = nil
        try members { p, k throws(JSONParseError) in
            let v: JSON
            if p.depth == 1, !p.rawMembers.isEmpty, p.rawMembers.contains(k) {
                let start = p.i
                try p.skipValue()
                v = .raw(Array(p.b[start..<p.i]))
            } else {
                v = try p.parseValue()
            }
            // Duplicate keys: the last one wins, as in Python's json module.
            if positions == nil, pairs.count >= JSONParser.scannedKeys {
                positions = Dictionary(pairs.enumerated().map { ($1.key, $0) }, uniquingKeysWith: { a, _ in a })
            }
            if positions != nil {
                if let idx = positions![k] {
                    pairs[idx].value = v
                } else {
                    positions![k] = pairs.count
                    pairs.append((k, v))
                }
            } else if let idx = pairs.firstIndex(where: { $0.key == k }) {
                pairs[idx].value = v
            } else {
                pairs.append((k, v))
            }
        }
        return .object(JSONObject(pairs))
    }

    /// Calls `body` with each member's key, the parser at its value (which `body` must consume).
    mutating func members(_ body: (inout JSONParser, String) throws(JSONParseError) -> Void) throws(JSONParseError) {
        skipWS()
        guard i < b.count, b[i] == UInt8(ascii: "{") else { throw fail("expected an object") }
        i += 1
        skipWS()
        if i < b.count, b[i] == UInt8(ascii: "}") {
            i += 1
            return
        }
        while true {
            skipWS()
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            skipWS()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            i += 1
            skipWS()
            try body(&self, key)
            skipWS()
            guard i < b.count else { throw fail("unterminated object") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if b[i] == UInt8(ascii: "}") {
                i += 1
                return
            }
            throw fail("expected ',' or '}'")
        }
    }

    mutating func parseArray() throws(JSONParseError) -> JSON {
        depth += 1
        if depth > 128 { throw fail("nesting too deep") }
        defer { depth -= 1 }
        i += 1
        var items: [JSON] = []
        skipWS()
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1
            return .array(items)
        }
        while true {
            skipWS()
            items.append(try parseValue())
            skipWS()
            guard i < b.count else { throw fail("unterminated array") }
            if b[i] == UInt8(ascii: ",") {
                i += 1
                continue
            }
            if b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(items)
            }
            throw fail("expected ',' or ']'")
        }
    }

    /// Steps over one value without building it: strings are only checked for their end, numbers and literals
    /// for their grammar, containers for balanced brackets (and the same depth limit as parsing).
    mutating func skipValue() throws(JSONParseError) {
        guard i < b.count else { throw fail("unexpected end of input") }
        switch b[i] {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            let close = b[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
            depth += 1
            if depth > 128 { throw fail("nesting too deep") }
            defer { depth -= 1 }
            i += 1
            skipWS()
            if i < b.count, b[i] == close {
                i += 1
                return
            }
            while true {
                skipWS()
                if close == UInt8(ascii: "}") {
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    try skipString()
                    skipWS()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipWS()
                }
                try skipValue()
                skipWS()
                guard i < b.count else { throw fail("unterminated container") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == close {
                    i += 1
                    return
                }
                throw fail("expected ',' or a closing bracket")
            }
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            // The number's characters; its grammar is the decoder's business (no value is computed here).
            let start = i
            i += 1
            scan: while i < b.count {
                switch b[i] {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                    UInt8(ascii: "+"), UInt8(ascii: "-"):
                    i += 1
                case UInt8(ascii: "I") where i == start + 1:
                    try literal("Infinity")
                    break scan
                default: break scan
                }
            }
        default: _ = try parseValue()
        }
    }

    /// Steps over a string (`i` at its opening quote); returns whether it holds an escape.
    @discardableResult
    mutating func skipString() throws(JSONParseError) -> Bool {
        i += 1
        var escaped = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return escaped
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                i += 2
                continue
            }
            if c < 0x20 { throw fail("control character in string") }
            i += 1
        }
        throw fail("unterminated string")
    }

    /// Objects up to this many keys are searched for a duplicate key by a scan (cheaper than hashing when small).
    static let scannedKeys = 16

    static let powersOf10: [Double] = (0...22).map { Double("1e\($0)")! }

    /// Numbers: exact integers, Clinger's fast path (a mantissa below 2^53 scaled by 10^±22 at most is
    /// correctly rounded by one multiply or divide), else Swift's locale-independent Double(String).
    mutating func parseNumber() throws(JSONParseError) -> Double {
        guard let n = try scanNumber() else { return -.infinity }
        return try value(of: n)
    }

    /// Steps over a number and says whether a Double holds it (false for `-Infinity` and `1e999`). Only a number
    /// that may reach the largest Double is converted to tell: the rest are finite by their count of digits.
    mutating func skipNumberIsFinite() throws(JSONParseError) -> Bool {
        guard let n = try scanNumber() else { return false }
        if n.below10 <= 308 { return true }
        return try value(of: n).isFinite
    }

    /// A number as scanned: enough to convert it, and a bound on its size.
    struct ScannedNumber {
        var range: Range<Int>
        var negative: Bool
        /// Its first 19 significant digits, and whether they are all of them.
        var mantissa: UInt64
        var exact: Bool
        /// The power of 10 that scales `mantissa` (when exact).
        var exp10: Int
        /// Its magnitude is below 10^below10.
        var below10: Int
    }

    /// Scans a number (nil for the literal `-Infinity`).
    mutating func scanNumber() throws(JSONParseError) -> ScannedNumber? {
        let start = i
        var negative = false
        if b[i] == UInt8(ascii: "-") {
            negative = true
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "I") {
                try literal("Infinity")
                return nil
            }
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var exp10 = 0
        var exact = true
        var intDigits = 0
        var explicitExp10 = 0
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
            if digits < 19 { mantissa = mantissa * 10 + UInt64(b[i] - 0x30) } else { exact = false }
            if mantissa > 0 { digits += 1 }
            intDigits += 1
            i += 1
        }
        if intDigits == 0 { throw fail("invalid value") }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var frac = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if digits < 19 {
                    mantissa = mantissa * 10 + UInt64(b[i] - 0x30)
                    exp10 -= 1
                    if mantissa > 0 { digits += 1 }
                } else if b[i] != 0x30 {
                    exact = false
                }
                i += 1
                frac += 1
            }
            if frac == 0 { throw fail("invalid number") }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            var expNeg = false
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
                expNeg = b[i] == UInt8(ascii: "-")
                i += 1
            }
            var e = 0
            var ex = 0
            while i < b.count, b[i] >= 0x30, b[i] <= 0x39 {
                if e < 100_000 { e = e * 10 + Int(b[i] - 0x30) }
                i += 1
                ex += 1
            }
            if ex == 0 { throw fail("invalid number") }
            exp10 += expNeg ? -e : e
            explicitExp10 = expNeg ? -e : e
        }
        // JSON allows no leading zeros, so an integer part that does not start with 0 has all its digits significant.
        let intPlaces = b[negative ? start + 1 : start] == UInt8(ascii: "0") ? 0 : intDigits
        return ScannedNumber(
            range: start..<i, negative: negative, mantissa: mantissa, exact: exact, exp10: exp10,
            below10: intPlaces + explicitExp10)
    }

    /// The Double nearest a scanned number: exact integers and Clinger's fast path, then (on x86-64) the same in
    /// 80-bit floats, else Swift's own conversion.
    func value(of n: ScannedNumber) throws(JSONParseError) -> Double {
        if n.exact, n.mantissa <= (1 << 53), abs(n.exp10) <= 22 {
            var d = Double(n.mantissa)
            d = n.exp10 < 0 ? d / JSONParser.powersOf10[-n.exp10] : d * JSONParser.powersOf10[n.exp10]
            return n.negative ? -d : d
        }
        #if arch(x86_64) && !os(Windows)
            if n.exact, abs(n.exp10) <= 27, let d = Self.extendedFastPath(n.mantissa, n.exp10) { return n.negative ? -d : d }
        #endif
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[n.range]), as: UTF8.self)
        guard let d = Double(text) else { throw fail("invalid number") }
        return d
    }

    #if arch(x86_64) && !os(Windows)
        /// 10^0 … 10^27, each exact (5^27 < 2^64).
        static let powersOf10Extended: [Float80] = (0...27).map { k in (0..<k).reduce(Float80(1)) { p, _ in p * 10 } }

        /// Shortest-form doubles often have 17 significant digits, over Clinger's 2^53: most of a 100k-epoch job's
        /// metrics took the slow path (a String and `strtod`, ~170 ns a number). In 80-bit floats a mantissa of up
        /// to 19 digits and 10^k up to 10^27 are exact, so `m × 10^±k` is one correctly rounded operation (to 64
        /// bits); rounding that to a Double again gives the nearest Double unless the 64-bit result sits exactly
        /// halfway between two Doubles, where the first rounding may have decided the tie: those (about one in
        /// 2,048) are left to the slow path (nil).
        static func extendedFastPath(_ mantissa: UInt64, _ exp10: Int) -> Double? {
            let m = Float80(mantissa)
            let r = exp10 < 0 ? m / powersOf10Extended[-exp10] : m * powersOf10Extended[exp10]
            // Float80's 63 fraction bits: a Double keeps the top 52; the 11 below them are exactly 100…0 at a tie.
            guard r.significandBitPattern & 0x7FF != 0x400 else { return nil }
            return Double(r)
        }
    #endif

    mutating func parseString() throws(JSONParseError) -> String {
        i += 1
        let start = i
        // Any byte over 0x7F: the string's UTF-8 is checked (invalid UTF-8 is refused, never silently repaired).
        var high: UInt8 = 0
        // Fast path: no escapes.
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: b[start..<i])
                guard high < 0x80 || String(validating: raw, as: UTF8.self) != nil else {
                    throw fail("invalid UTF-8 in a string")
                }
                let s = String(decoding: raw, as: UTF8.self)
                i += 1
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw fail("control character in string") }
            high |= c
            i += 1
        }
        var out = Array(b[start..<i])
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                guard high < 0x80 || String(validating: out, as: UTF8.self) != nil else {
                    throw fail("invalid UTF-8 in a string")
                }
                return String(decoding: out, as: UTF8.self)
            }
            high |= c
            if c < 0x20 { throw fail("control character in string") }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00 {
                    // A surrogate pair; a lone high surrogate becomes U+FFFD.
                    if i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let lo = try hex4()
                        if lo >= 0xDC00 && lo < 0xE000 {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (lo - 0xDC00)
                        } else {
                            scalar = 0xFFFD
                        }
                    } else {
                        scalar = 0xFFFD
                    }
                } else if scalar >= 0xDC00 && scalar < 0xE000 {
                    scalar = 0xFFFD
                }
                let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default: throw fail("invalid escape")
            }
        }
        throw fail("unterminated string")
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= b.count else { throw fail("invalid \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = b[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}

// MARK: - Serialising

extension JSON {
    /// Compact, one-line JSON. NaN and infinities become `null` so the output is strict JSON.
    public func serialized() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let v): out.append(contentsOf: (v ? "true" : "false").utf8)
        case .number(let d): JSON.writeNumber(d, into: &out)
        case .string(let s): JSON.writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (k, v) in a.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                v.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .raw(let bytes): out.append(contentsOf: bytes)
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (k, p) in o.pairs.enumerated() {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                JSON.writeString(p.key, into: &out)
                out.append(UInt8(ascii: ":"))
                p.value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            writeInteger(Int64(d), into: &out)
        } else {
            out.append(contentsOf: d.description.utf8)
        }
    }

    /// An integer in decimal, without a String made for it.
    public static func writeInteger(_ v: Int64, into out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var m = v.magnitude
        if m < 10 {
            out.append(0x30 + UInt8(m))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: UInt64's 20 digits fit
        withUnsafeMutableBytes(of: &digits) { d in
            var at = d.count
            while m > 0 {
                at -= 1
                d[at] = 0x30 + UInt8(m % 10)
                m /= 10
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[at...]))
        }
    }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var str = s
        // Fast path: nothing to escape (the common case), copy the bytes in one go.
        let clean = str.withUTF8 { buf -> Bool in
            for c in buf where c < 0x20 || c == 0x22 || c == 0x5C { return false }
            out.append(contentsOf: buf)
            return true
        }
        if clean {
            out.append(UInt8(ascii: "\""))
            return
        }
        for c in str.utf8 {
            switch c {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: out.append(c)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
