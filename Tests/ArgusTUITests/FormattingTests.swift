import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// The pieces of Foundation the TUI replaced to build on FoundationEssentials alone: printf formatting, trimming.
@Suite("Formatting without Foundation", .ownThread)
struct FormattingTests {
    @Test("cFormat formats as printf does, however long the result")
    func printfFormatting() {
        #expect(cFormat("%.1f / %.1f GiB", 61.94, 79.6) == "61.9 / 79.6 GiB")
        #expect(cFormat("%02ld:%02ld", 7, 45) == "07:45")
        #expect(cFormat("%.4g", 0.000123456) == "0.0001235")
        #expect(cFormat("%.2e", -1.7976931348623157e308) == "-1.80e+308")
        #expect(cFormat("%g", Double.infinity) == "inf")
        // Longer than the first buffer: formatted again into one that fits.
        #expect(cFormat("%.300f", 1.0) == "1." + String(repeating: "0", count: 300))
        #expect(cFormat("%.0f%%", 97.4) == "97%")
    }

    @Test("trimmed drops whitespace (or what it is told) at both ends only")
    func trimming() {
        #expect("  a b \n\t".trimmed() == "a b")
        #expect("   ".trimmed() == "")
        #expect("".trimmed() == "")
        #expect("//tok/en//"[...].trimmed(where: { $0 == "/" }) == "tok/en")
        #expect("x".trimmed() == "x")
        // Text that starts and ends with printable ASCII skips the walk over its characters: it must trim exactly
        // as the walk does, combining marks, prepended marks and Unicode spaces included.
        let cases = [
            "tok", "a b", "e\u{301}", "a\u{301}", "x\u{A0}", "\u{A0}x", "\u{600}x", "x\u{600}y", "\u{3000}a\u{3000}",
            "~", "!\n!", "a\r\n", "\r\na", "a\u{2028}", "z\u{200D}", "\u{85}a", "a\u{85}", "ab\u{20DD}", " ",
        ]
        for c in cases {
            #expect(c.trimmed() == c.trimmed(where: \.isWhitespace), "\(Array(c.unicodeScalars))")
            #expect(c[...].trimmed() == c.trimmed(where: \.isWhitespace))
        }
    }
}

@Suite("Epoch numbers: a run while consecutive", .ownThread)
struct EpochNumbersTests {
    @Test("consecutive epochs stay a run at either end; a gap, a re-order or a middle insert turns them into a list")
    func runAndList() {
        var e = EpochNumbers()
        #expect(e.isEmpty && e.isRun)
        for n in 5..<100_000 { e.insert(n, at: e.count) }
        e.insert(4, at: 0)
        #expect(e.isRun && e.count == 99_996 && e.first == 4 && e.last == 99_999 && e[10] == 14)
        #expect(e == EpochNumbers(Array(4..<100_000)))
        var gap = e
        gap.insert(100_005, at: gap.count)
        #expect(!gap.isRun && gap.count == 99_997 && gap.last == 100_005 && gap[99_995] == 99_999)
        #expect(gap != e && Array(gap) == Array(4..<100_000) + [100_005])
        var middle: EpochNumbers = [0, 1, 3]
        #expect(!middle.isRun)
        middle.insert(2, at: 2)
        #expect(middle == [0, 1, 2, 3] && Array(middle) == [0, 1, 2, 3])
        #expect(EpochNumbers([7]).isRun && EpochNumbers([3, 2]) != [2, 3] && EpochNumbers([]) == EpochNumbers())
    }

    @Test("a series of consecutive epochs keeps them as a run through upserts and re-sent epochs")
    func seriesKeepsTheRun() {
        var s = EpochSeries()
        for n in 0..<1000 {
            let loss = JSON.number(1 / Double(n + 1))
            s.upsert(JSONObject([("epoch", .number(Double(n))), ("train_loss", loss)]))
        }
        s.upsert(JSONObject([("epoch", 500), ("train_loss", 0.25)]))
        #expect(s.epochs.isRun && s.count == 1000 && s.column("train_loss")?[500] == 0.25)
        s.upsert(JSONObject([("epoch", 2000), ("train_loss", 0.1)]))
        #expect(!s.epochs.isRun && s.count == 1001 && s.epochs.last == 2000)
    }
}

@Suite("Share links as pasted", .ownThread)
struct ShareLinkTests {
    @Test("whitespace and invisible characters anywhere, /SHARE/ in capitals, the web page's ?job= and a #fragment")
    func pasted() {
        let plain = ShareLink("http://h:8000/share/sh_abc")
        #expect(plain == ShareLink(base: "http://h:8000", token: "sh_abc", job: nil))
        #expect(ShareLink(" http://h:8000/share/sh_abc/ \n") == plain)
        #expect(ShareLink("\u{200B}http://h:8000/sh\nare/sh_a\r\nbc\u{FEFF}") == plain)
        #expect(ShareLink("HTTP://h:8000/SHARE/sh_abc#top")?.token == "sh_abc")
        #expect(ShareLink("http://h:8000/share/sh_abc?job=seed%201#x") == ShareLink(base: "http://h:8000", token: "sh_abc", job: "seed 1"))
        #expect(ShareLink("http://h:8000/share/sh_abc?x=1&job=caf%C3%A9")?.job == "café")
        #expect(ShareLink("http://h:8000/share/sh_abc?job=j%2B1+k")?.job == "j+1 k", "+ is a space, %2B a plus, as the server reads it")
        #expect(ShareLink("http://h:8000/share/?job=j") == nil)
        #expect(ShareLink("http://h:8000/shared/sh_abc") == nil)
    }
}
