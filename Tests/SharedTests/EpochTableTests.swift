import Testing

@testable import Shared

/// `EpochTable`'s rule for repeated and out-of-order epochs (the last one stored wins; rows come out ascending),
/// through its two ways of finding an epoch: a binary search while epochs ascend, a table once they do not.
@Suite("EpochTable: re-sent and out-of-order epochs")
struct EpochTableTests {
    static func envelope(_ epoch: Int, _ loss: Double) -> String {
        #"{"event_type":"job_epoch","data":{"epoch":\#(epoch),"train_loss":\#(loss)}}"#
    }

    /// (epoch, train_loss) of each row of the rows form, in order.
    static func rows(_ t: EpochTable) throws -> [[Double]] {
        var out: [UInt8] = []
        t.writeRows(into: &out)
        let rows = try #require(try JSON.parse(String(decoding: out, as: UTF8.self)).arrayValue)
        return try rows.map { r in
            [try #require(r["epoch"]?.doubleValue), try #require(r["train_loss"]?.doubleValue)]
        }
    }

    @Test(
        "the last value of each epoch, ascending, whatever the order they came in",
        arguments: [
            // ascending with re-sends (the first, a middle one, the last), then a step back, then re-sends again
            [0, 1, 2, 3, 0, 2, 3, 4, 5, 1, 6, 7, 7, 3, 8],
            // descending from the start
            [9, 8, 7, 6, 5, 8, 4, 9],
            // gaps, then an epoch into a gap (out of order), then a re-send of it
            [0, 10, 20, 30, 15, 25, 15, 40, 0],
        ])
    func lastWinsAscending(order: [Int]) throws {
        var t = EpochTable()
        var expected: [Int: Double] = [:]
        for (n, e) in order.enumerated() {
            let loss = Double(n) + 0.5
            t.add(envelope: Self.envelope(e, loss), tsUs: Int64(n))
            expected[e] = loss
        }
        let want = expected.keys.sorted().map { [Double($0), expected[$0]!] }
        #expect(try Self.rows(t) == want)
        #expect(t.count == expected.count)
    }

    @Test(
        "by time: an older report arriving late never replaces a newer one; a run that goes back (over a second newer) drops the epochs after it, and what it replaced stays out"
    )
    func newestStands() throws {
        let s: Int64 = 1_000_000
        var t = EpochTable()
        for e in 0...5 { t.add(envelope: Self.envelope(e, Double(10 + e)), tsUs: Int64(e) * s) }
        // A spill file's older report of epoch 4: dropped.
        t.add(envelope: Self.envelope(4, 99), tsUs: 4 * s - 1)
        #expect(try Self.rows(t) == (0...5).map { [Double($0), Double(10 + $0)] })
        // Resumed from epoch 3's checkpoint, later: epochs 4 and 5 go until reported again.
        t.add(envelope: Self.envelope(3, 3), tsUs: 100 * s)
        #expect(try Self.rows(t) == [[0, 10], [1, 11], [2, 12], [3, 3]])
        t.add(envelope: Self.envelope(4, 4), tsUs: 101 * s)
        // The first run's epoch 5, late: the resume replaced it.
        t.add(envelope: Self.envelope(5, 15), tsUs: 5 * s)
        #expect(try Self.rows(t) == [[0, 10], [1, 11], [2, 12], [3, 3], [4, 4]])
        // Within a second of the newest report (ranks of one run, say) an epoch again is no go-back.
        t.add(envelope: Self.envelope(2, 2), tsUs: 101 * s + 500_000)
        #expect(t.count == 5)
    }

    @Test("a long ascending run with a re-send near its end keeps no table of epochs")
    func ascendingNeedsNoTable() throws {
        var t = EpochTable()
        for e in 0..<10_000 { t.add(envelope: Self.envelope(e, 1), tsUs: 0) }
        t.add(envelope: Self.envelope(9_990, 2), tsUs: 0)
        #expect(t.rowOfEpoch == nil && t.count == 10_000)
        let rows = try Self.rows(t)
        #expect(rows[9_990] == [9_990, 2])
        t.add(envelope: Self.envelope(-1, 3), tsUs: 0)
        let after = try Self.rows(t)
        #expect(t.rowOfEpoch?.count == 10_001 && after.first == [-1, 3] && after.count == 10_001)
    }
}

@Suite("JSONParser: finite numbers without converting them")
struct SkipNumberTests {
    @Test(
        "skipNumberIsFinite says what converting would, and steps over the same bytes",
        arguments: [
            "0", "-0", "1", "0.1", "0.10000000000000001", "123456789012345678901234567890", "1e308",
            "1.7976931348623157e308", "1.7976931348623158e308", "1.7976931348623159e308", "1.8e308", "-1.8e308",
            "17976931348623157" + String(repeating: "0", count: 292), "17976931348623159" + String(repeating: "0", count: 292),
            "1" + String(repeating: "0", count: 309), "0.00001e313", "0.00001e314", "1e309", "1e-400", "0e999",
            "0.0e99999", "-Infinity", "9.999999999999999e307", "99e307", "1E+308", "10E307",
        ])
    func finiteAsConverted(text: String) throws {
        let bytes = Array((text + ",").utf8)
        let (converted, convertedEnd, skipped, skippedEnd) = bytes.withUnsafeBufferPointer { buf in
            var a = JSONParser(buf)
            var b = JSONParser(buf)
            let d = try? a.parseNumber()
            let f = try? b.skipNumberIsFinite()
            return (d, a.i, f, b.i)
        }
        let d = try #require(converted)
        #expect(skipped == d.isFinite, "\(text): converted \(d)")
        #expect(skippedEnd == convertedEnd && bytes[skippedEnd] == UInt8(ascii: ","))
    }
}
