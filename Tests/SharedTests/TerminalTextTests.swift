import Shared
import Testing

@Suite("Terminal text: what a log line shows")
struct TerminalTextTests {
    @Test("escape sequences go whole (colours, cursor moves, titles, C1 CSI); plain text and other controls stay")
    func withoutEscapes() {
        let cases: [(String, String)] = [
            ("\u{1B}[31mRED ANSI\u{1B}[0m normal", "RED ANSI normal"),
            ("\u{1B}[1;38;5;208mwarn\u{1B}[m", "warn"),
            ("50%|█████     | 5/10 [00:01<00:01]\u{1B}[A\u{1B}[K", "50%|█████     | 5/10 [00:01<00:01]"),
            ("\u{1B}]0;title\u{07}after", "after"),
            ("\u{1B}]8;;https://x\u{1B}\\link\u{1B}]8;;\u{1B}\\", "link"),
            ("\u{9B}2Jcleared", "cleared"),
            ("\u{1B}(Bascii \u{1B}=keypad", "ascii keypad"),
            ("tab\there\r", "tab\there\r"),
            ("no escapes at all [31m", "no escapes at all [31m"),
            ("open string \u{1B}]0;never ended, text kept", "open string 0;never ended, text kept"),
            ("8-bit OSC \u{9D}0;title\u{9C}after", "8-bit OSC after"),
            ("lone ESC at the end\u{1B}", "lone ESC at the end"),
            ("ESC then a newline\u{1B}\nnext", "ESC then a newline\nnext"),
        ]
        for (raw, shown) in cases {
            #expect(TerminalText.withoutEscapes(raw) == shown, "\(raw.debugDescription)")
        }
    }
}
