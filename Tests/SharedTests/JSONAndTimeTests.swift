import Shared
import Testing

@Suite("JSON")
struct JSONTests {
    @Test("parses Python's NaN and Infinity")
    func pythonNumbers() throws {
        let j = try JSON.parse("{\"a\": NaN, \"b\": Infinity, \"c\": -Infinity, \"d\": -1.5e3}")
        #expect(j["a"]?.rawNumber?.isNaN == true)
        #expect(j["b"]?.rawNumber == .infinity)
        #expect(j["c"]?.rawNumber == -.infinity)
        #expect(j["d"]?.doubleValue == -1500)
        #expect(j.serialized() == "{\"a\":null,\"b\":null,\"c\":null,\"d\":-1500}")
    }

    @Test("strings: escapes, unicode, surrogate pairs; keys keep their order")
    func strings() throws {
        let j = try JSON.parse(#"{"z":"a\"b\\c\n\u00e9\ud83d\ude00","a":[true,false,null]}"#)
        #expect(j["z"] == "a\"b\\c\né😀")
        #expect(j.objectValue?.keys == ["z", "a"])
        #expect(try JSON.parse(j.serialized()) == j)
    }

    @Test("rejects malformed input with a position")
    func malformed() {
        for bad in ["", "{", "{\"a\":}", "[1,]", "tru", "\"abc", "{\"a\":1}x", "01x", "nan"] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON.parse(bad) }
        }
    }

    @Test("invalid UTF-8 in a string is refused, never repaired in silence; valid multi-byte text is kept")
    func utf8() throws {
        for bad: [UInt8] in [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0x5C, 0x6E, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xE6, 0x9D, 0x22],
        ] {
            #expect(throws: JSONParseError.self, "\(bad)") { try JSON.parse(bad) }
        }
        #expect(try JSON.parse(Array("\"東京 ü \\n ✓\"".utf8)) == .string("東京 ü \n ✓"))
    }

    @Test("duplicate keys: the last wins in its first place, in small objects and in big ones")
    func duplicateKeys() throws {
        #expect(try JSON.parse(#"{"a":1,"b":2,"a":3}"#).serialized() == #"{"a":3,"b":2}"#)
        let keys = (0..<40).map { "k\($0)" }
        let text = "{" + (keys + ["k3", "k39"]).enumerated().map { "\"\($1)\":\($0)" }.joined(separator: ",") + "}"
        let o = try #require(try JSON.parse(text).objectValue)
        #expect(o.keys == keys)
        #expect(o["k3"] == 40 && o["k39"] == 41 && o["k38"] == 38)
    }

    @Test("an object with 200,000 distinct keys parses (a scan per key for duplicates made it quadratic: ~1 h at 16 MB)")
    func manyKeys() throws {
        let n = 200_000
        var text = "{"
        for k in 0..<n { text += k == 0 ? "\"\(k)\":0" : ",\"\(k)\":0" }
        text += #","7":1}"#
        let o = try #require(try JSON.parse(text).objectValue)
        #expect(o.count == n)
        #expect(o.pairs[7].value == 1)
    }

    @Test("integers print without a fraction; large and fractional numbers round-trip")
    func numbers() throws {
        #expect(JSON.number(3).serialized() == "3")
        #expect(try JSON.parse(JSON.number(0.1).serialized()).doubleValue == 0.1)
        #expect(try JSON.parse(JSON.number(1e300).serialized()).doubleValue == 1e300)
    }
}

@Suite("Timestamps")
struct TimestampTests {
    @Test(
        "ISO-8601 variants normalise to UTC Z",
        arguments: [
            ("2026-04-23T09:23:06Z", "2026-04-23T09:23:06Z"),
            ("2026-04-23T11:23:06+02:00", "2026-04-23T09:23:06Z"),
            ("2026-04-23T09:23:06.123456789-0130", "2026-04-23T10:53:06.123456Z"),
            ("2026-04-23 09:23:06.5", "2026-04-23T09:23:06.500000Z"),
            ("2024-02-29T00:00:00+00", "2024-02-29T00:00:00Z"),
            ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00Z"),
        ])
    func variants(input: String, expected: String) throws {
        #expect(try #require(Timestamp(iso: input)).iso == expected)
    }

    @Test(
        "nonsense is refused",
        arguments: [
            "", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-23",
            "2026-04-23T25:00:00Z", "2026-04-23T09:23:06Zjunk",
        ])
    func invalid(input: String) {
        #expect(Timestamp(iso: input) == nil)
    }

    @Test(
        "an offset that carries the instant out of the years 0000 to 9999 is refused (it was stored as '000/-12-31')",
        arguments: ["0000-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00", "0000-01-01T00:00:00.000001+00:01"])
    func outOfYears(input: String) {
        #expect(Timestamp(iso: input) == nil)
    }

    @Test("the first and the last instant of years 0000 to 9999 read back as written")
    func yearEdges() throws {
        for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "0000-01-01T00:59:00+00:59"] {
            let t = try #require(Timestamp(iso: text))
            #expect(Timestamp(iso: t.iso) == t, "\(text) → \(t.iso)")
        }
    }

    @Test("micros are ordered numerically")
    func ordering() throws {
        let a = try #require(Timestamp(iso: "2026-04-23T09:23:06Z"))
        let b = try #require(Timestamp(iso: "2026-04-23T09:23:06.5Z"))
        #expect(a < b)
        #expect(b.micros - a.micros == 500_000)
    }
}

@Suite("JSON numbers")
struct JSONNumberTests {
    @Test(
        "parsed numbers equal Swift's own conversion, on the fast path and off it",
        arguments: [
            "0", "-0", "1", "-17", "0.1", "0.6", "1e-4", "3.0e8", "0.0001", "123456789012345678",
            "1234567890123456789012",
            "2.2250738585072014e-308", "1.7976931348623157e308", "9007199254740993",
            "0.30000000000000004", "1E22", "1e23",
            "-2.5E-3", "0.1000000000000000000001", "5e-324",
        ])
    func matchesStdlib(text: String) throws {
        let parsed = try JSON.parse(text).rawNumber
        #expect(parsed == Double(text), "\(text)")
    }

    @Test("integers are written as Swift writes them, from Int64's least to its greatest")
    func integers() {
        var rng = SystemRandomNumberGenerator()
        let values: [Int64] =
            [0, 1, -1, 9, 10, -10, 99, 100, .max, .min, .max - 1, .min + 1] + (0..<10_000).map { _ in Int64(bitPattern: rng.next()) }
        for v in values {
            var out: [UInt8] = [UInt8(ascii: "x")]
            JSON.writeInteger(v, into: &out)
            #expect(out == Array("x\(v)".utf8), "\(v)")
        }
    }

    @Test(
        "17 to 19 significant digits (most shortest-form doubles) and exact ties between two Doubles read as Swift reads them"
    )
    func manyDigits() throws {
        var rng = SystemRandomNumberGenerator()
        var texts: [String] = []
        // Shortest forms: metrics in everyday ranges, and any finite Double's bits.
        for _ in 0..<50_000 { texts.append("\(Double.random(in: 0..<10, using: &rng))") }
        for _ in 0..<50_000 { texts.append("\(Double.random(in: -1e-3..<1e-3, using: &rng))") }
        for _ in 0..<50_000 {
            let d = Double(bitPattern: rng.next())
            if d.isFinite { texts.append("\(d)") }
        }
        // Up to 19 digits with a point anywhere, 10^-27 to 10^27 around them.
        for _ in 0..<50_000 {
            let digits = String(UInt64.random(in: 1...9_999_999_999_999_999_999, using: &rng))
            let point = Int.random(in: 0...digits.count, using: &rng)
            let e = Int.random(in: -27...27, using: &rng)
            let (whole, fraction) = (String(digits.prefix(point)), String(digits.dropFirst(point)))
            texts.append("\(whole.isEmpty ? "0" : whole).\(fraction.isEmpty ? "0" : fraction)e\(e)")
            texts.append("\(digits)e\(e)")
        }
        // Integers exactly halfway between two Doubles (2^k + 2^(k-53), + 3 × 2^(k-53)): ties go to the even one.
        for k in 54...63 {
            for odd in [UInt64(1), 3, 5] { texts.append(String((UInt64(1) << k) + odd << (k - 53))) }
        }
        var wrong: [String] = []
        for text in texts where try JSON.parse(text).rawNumber != Double(text) { wrong.append(text) }
        #expect(wrong.isEmpty, "\(wrong.count) of \(texts.count): \(wrong.prefix(5))")
    }
}
