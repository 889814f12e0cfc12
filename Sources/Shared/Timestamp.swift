import FoundationEssentials

/// A UTC instant with microsecond precision. Stored as microseconds since 1970 so that
/// comparisons are numeric (normalised strings with an optional fraction do not sort lexically).
public struct Timestamp: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var micros: Int64

    public init(micros: Int64) { self.micros = micros }
    public init(seconds: Double) { self.micros = Int64((seconds * 1_000_000).rounded()) }
    public init(date: Date) { self.init(seconds: date.timeIntervalSince1970) }

    public static func now() -> Timestamp { Timestamp(date: Date()) }

    public var seconds: Double { Double(micros) / 1_000_000 }
    public var date: Date { Date(timeIntervalSince1970: seconds) }

    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.micros < b.micros }

    public func adding(seconds s: Double) -> Timestamp {
        Timestamp(micros: micros + Int64((s * 1_000_000).rounded()))
    }

    /// `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (the fraction only when non-zero).
    public var iso: String {
        var out: [UInt8] = []
        out.reserveCapacity(27)
        writeISO(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// For a sentence people read (a reason the server writes): `2026-12-04 23:57:14 UTC`, whole seconds.
    public var readableUTC: String {
        let i = iso
        return String(i.prefix(10)) + " " + String(i.dropFirst(11).prefix(8)) + " UTC"
    }

    /// Appends the ISO form to a byte buffer (hot path of ingest: no intermediate strings).
    public func writeISO(into out: inout [UInt8]) {
        var secs = micros / 1_000_000
        var frac = micros % 1_000_000
        if frac < 0 {
            frac += 1_000_000
            secs -= 1
        }
        var days = secs / 86400
        var rem = secs % 86400
        if rem < 0 {
            rem += 86400
            days -= 1
        }
        let (y, m, d) = Timestamp.civil(fromDays: days)
        @inline(__always) func digits(_ v: Int64, _ n: Int) {
            var div: Int64 = 1
            for _ in 1..<n { div *= 10 }
            var x = v
            for _ in 0..<n {
                out.append(UInt8(truncatingIfNeeded: 0x30 + (x / div) % 10))
                x %= div
                div /= 10
            }
        }
        digits(y, 4)
        out.append(0x2D)
        digits(m, 2)
        out.append(0x2D)
        digits(d, 2)
        out.append(0x54)
        digits(rem / 3600, 2)
        out.append(0x3A)
        digits(rem % 3600 / 60, 2)
        out.append(0x3A)
        digits(rem % 60, 2)
        if frac != 0 {
            out.append(0x2E)
            digits(frac, 6)
        }
        out.append(0x5A)
    }

    public var description: String { iso }

    /// Parses ISO-8601 / RFC 3339 date-times: `T` or space separator, optional fraction (any
    /// number of digits, kept to microseconds), `Z`, `±HH:MM`, `±HHMM`, `±HH` or no offset (taken as UTC).
    public init?(iso s: String) {
        var text = s
        guard let v = text.withUTF8({ Timestamp.parse(UnsafeBufferPointer(rebasing: $0[...])) }) else {
            return nil
        }
        micros = v
    }

    static func parse(_ u: UnsafeBufferPointer<UInt8>) -> Int64? {
        var i = 0
        func num(_ n: Int) -> Int64? {
            guard i + n <= u.count else { return nil }
            var v: Int64 = 0
            for k in 0..<n {
                let c = u[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int64(c - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < u.count, u[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let y = num(4), expect("-"), let mo = num(2), expect("-"), let d = num(2) else {
            return nil
        }
        guard i < u.count,
            u[i] == UInt8(ascii: "T") || u[i] == UInt8(ascii: "t") || u[i] == UInt8(ascii: " ")
        else {
            return nil
        }
        i += 1
        guard let h = num(2), expect(":"), let mi = num(2) else { return nil }
        var sec: Int64 = 0
        if expect(":") {
            guard let sv = num(2) else { return nil }
            sec = sv
        }
        var frac: Int64 = 0
        if i < u.count, u[i] == UInt8(ascii: ".") || u[i] == UInt8(ascii: ",") {
            i += 1
            var digits = 0
            while i < u.count, u[i] >= 0x30, u[i] <= 0x39 {
                if digits < 6 { frac = frac * 10 + Int64(u[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 6) { frac *= 10 }
        }
        var offset: Int64 = 0
        if i < u.count {
            let c = u[i]
            if c == UInt8(ascii: "Z") || c == UInt8(ascii: "z") {
                i += 1
            } else if c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
                i += 1
                guard let oh = num(2) else { return nil }
                var om: Int64 = 0
                if expect(":") {
                    guard let v = num(2) else { return nil }
                    om = v
                } else if i < u.count {
                    guard let v = num(2) else { return nil }
                    om = v
                }
                guard oh <= 23, om <= 59 else { return nil }
                offset = (oh * 3600 + om * 60) * (c == UInt8(ascii: "-") ? -1 : 1)
            }
        }
        guard i == u.count else { return nil }
        guard (1...12).contains(mo), d >= 1, d <= Timestamp.daysIn(month: mo, year: y), h <= 23,
            mi <= 59, sec <= 60
        else { return nil }
        let days = Timestamp.days(fromCivil: y, mo, d)
        let total = days * 86400 + h * 3600 + mi * 60 + min(sec, 59) - offset
        let micros = total * 1_000_000 + frac
        // An offset can carry the instant out of the years `iso` writes ("0000-01-01T00:00:00+01:00" is in year -1).
        guard Timestamp.writable.contains(micros) else { return nil }
        return micros
    }

    /// The instants `iso` writes and reads back: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z.
    static let writable: ClosedRange<Int64> =
        Timestamp.days(fromCivil: 0, 1, 1) * 86_400_000_000...Timestamp.days(fromCivil: 10000, 1, 1) * 86_400_000_000 - 1

    static func daysIn(month m: Int64, year y: Int64) -> Int64 {
        switch m {
        case 2: return (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's civil-date algorithms.
    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
