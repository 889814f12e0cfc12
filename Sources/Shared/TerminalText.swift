/// Text from users that ends up on a terminal (argus-tui's screen, the server's command-line listings): the one
/// rule for which characters must never reach a terminal as they are.
public enum TerminalText {
    /// C0 controls, DEL and C1 controls (ESC, BEL, CSI …), and the bidi controls (LRM/RLM, ALM, embeddings/overrides
    /// U+202A–202E, isolates U+2066–2069) that would let a text reorder what a row shows.
    public static func isControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0..<0x20, 0x7F..<0xA0, 0x061C, 0x200E...0x200F, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    public static func hasControl(_ text: String) -> Bool { text.unicodeScalars.contains(where: isControl) }

    /// Characters that make a text read as something it is not, beyond the controls: line and paragraph separators
    /// (some programs break the line there) and the invisible spaces with no use in a command (zero-width space, word
    /// joiner, BOM). Not the joiners and variation selectors that emoji and Persian or Indic words are spelled with.
    public static func isHidden(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x2028, 0x2029, 0x200B, 0x2060, 0xFEFF: return true
        default: return isControl(s)
        }
    }

    /// The hidden characters in `text` (`isHidden`), named once each in order of appearance ("newline", "tab",
    /// "U+202E").
    public static func hiddenNames(_ text: String) -> [String] {
        var seen: [String] = []
        for s in text.unicodeScalars where isHidden(s) {
            let hex = String(s.value, radix: 16, uppercase: true)
            let name =
                s == "\n"
                ? "newline"
                : s == "\r"
                    ? "carriage return"
                    : s == "\t"
                        ? "tab"
                        : "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            if !seen.contains(name) { seen.append(name) }
            if seen.count > 5 { return seen.prefix(5) + ["…"] }
        }
        return seen
    }

    /// `text` with each control character drawn as a space.
    public static func printable(_ text: String) -> String {
        guard hasControl(text) else { return text }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars { out.append(isControl(s) ? " " : s) }
        return String(out)
    }
}
