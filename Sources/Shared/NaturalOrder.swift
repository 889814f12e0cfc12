/// Text order with runs of digits compared as numbers, so `seed2` comes before `seed10`; case ignored, then ids that
/// read the same that way (`x07` and `x7`, `Run` and `run`) by their text, so that no two ids tie. The one comparison
/// of ids as a person reads them: the server's job lists (jobs that start together) and argus-tui's sort by a text
/// column.
public enum NaturalOrder {
    public static func less(_ a: String, _ b: String) -> Bool {
        readsBefore(a, b) || (!readsBefore(b, a) && a < b)
    }

    private static func readsBefore(_ a: String, _ b: String) -> Bool {
        let (x, y) = (Array(a.lowercased().unicodeScalars), Array(b.lowercased().unicodeScalars))
        var (i, j) = (0, 0)
        func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 48 && c.value <= 57 }
        while i < x.count && j < y.count {
            if isDigit(x[i]) && isDigit(y[j]) {
                let (i0, j0) = (i, j)
                while i < x.count && isDigit(x[i]) { i += 1 }
                while j < y.count && isDigit(y[j]) { j += 1 }
                // Leading zeros aside, the longer run is the larger number.
                let dx = x[i0..<i].drop { $0 == "0" }
                let dy = y[j0..<j].drop { $0 == "0" }
                if dx.count != dy.count { return dx.count < dy.count }
                if let k = zip(dx, dy).first(where: { $0.0 != $0.1 }) { return k.0.value < k.1.value }
                continue
            }
            if x[i] != y[j] { return x[i].value < y[j].value }
            i += 1
            j += 1
        }
        // One is a prefix of the other: the shorter first.
        return i == x.count && j < y.count
    }
}
