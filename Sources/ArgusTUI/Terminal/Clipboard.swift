import FoundationEssentials

/// OSC 52: asks the terminal to put text on the clipboard. Works over SSH with no X11. Inside tmux it is sent twice:
/// as is (tmux takes it with `set-clipboard on` and passes it on to the terminal) and wrapped in tmux's passthrough
/// (`ESC P tmux; … ESC \`, inner ESCs doubled; tmux 3.3+ lets it through only with `allow-passthrough on`), since
/// which of the two a given tmux accepts depends on its settings; a terminal ignores the one it does not get.
public enum OSC52 {
    public static func sequence(for text: String, inTmux: Bool) -> String {
        let payload = Data(text.utf8).base64EncodedString()
        let osc = "\u{1B}]52;c;\(payload)\u{07}"
        guard inTmux else { return osc }
        return osc + "\u{1B}Ptmux;" + osc.replacing("\u{1B}", with: "\u{1B}\u{1B}") + "\u{1B}\\"
    }
}
