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
        // Also the blanks drawn as nothing (soft hyphen, combining grapheme joiner, the Hangul fillers, the Mongolian
        // vowel separator) and the language tag.
        case 0x2028, 0x2029, 0x200B, 0x2060, 0xFEFF, 0x00AD, 0x034F, 0x115F, 0x1160, 0x3164, 0xFFA0, 0x180E, 0xE0001: return true
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

    /// `text` without the escape sequences programs colour text and move the cursor with (ECMA-48): CSI (`ESC [` or
    /// U+009B, parameters, a final byte), OSC, DCS, APC, PM and SOS strings (`ESC ]` … or their 8-bit forms, up to
    /// BEL, `ESC \` or U+009C; one never ended loses only its opening, not the rest of the line), and the short `ESC x`
    /// ones. A coloured logger's `ESC[31mloss` reads "loss", not "[31mloss". Other controls stay (shown as spaces by
    /// `printable`). The web page's log does the same (`plainLine`, log.js).
    public static func withoutEscapes(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "\u{1B}" || (0x90...0x9F).contains($0.value) }) else { return text }
        let s = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        func skipCSI() {  // parameters 0x30–0x3F, intermediates 0x20–0x2F, then the final byte 0x40–0x7E
            while i < s.count, (0x20...0x3F).contains(s[i].value) { i += 1 }
            if i < s.count, (0x40...0x7E).contains(s[i].value) { i += 1 }
        }
        /// A string's end (BEL, `ESC \` or ST) from `i`: the index after it, or nil when it never ends.
        func stringEnd() -> Int? {
            var j = i
            while j < s.count {
                if s[j] == "\u{07}" || s[j] == "\u{9C}" { return j + 1 }
                if s[j] == "\u{1B}", j + 1 < s.count, s[j + 1] == "\\" { return j + 2 }
                j += 1
            }
            return nil
        }
        while i < s.count {
            let c = s[i]
            i += 1
            if c == "\u{9B}" {
                skipCSI()
                continue
            }
            // The 8-bit DCS, SOS, OSC, PM and APC.
            if [0x90, 0x98, 0x9D, 0x9E, 0x9F].contains(c.value) {
                if let end = stringEnd() { i = end }
                continue
            }
            guard c == "\u{1B}" else {
                out.append(c)
                continue
            }
            guard i < s.count else { break }
            let kind = s[i]
            i += 1
            switch kind {
            case "[": skipCSI()
            case "]", "P", "_", "^", "X":
                if let end = stringEnd() { i = end }
            default:
                // `ESC` intermediates (0x20–0x2F) and a final byte, as `ESC ( B`; anything else was not a sequence.
                if (0x20...0x2F).contains(kind.value) {
                    while i < s.count, (0x20...0x2F).contains(s[i].value) { i += 1 }
                    if i < s.count, (0x30...0x7E).contains(s[i].value) { i += 1 }
                } else if !(0x30...0x7E).contains(kind.value) {
                    i -= 1
                }
            }
        }
        return String(out)
    }

    /// `text` with each control character drawn as a space.
    public static func printable(_ text: String) -> String {
        guard hasControl(text) else { return text }
        var out = String.UnicodeScalarView()
        for s in text.unicodeScalars { out.append(isControl(s) ? " " : s) }
        return String(out)
    }
}
