import Shared
import Testing

@testable import ArgusTUI

/// The pieces of Foundation the TUI replaced to build on FoundationEssentials alone: printf formatting, trimming.
@Suite("Formatting without Foundation")
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
    }
}
