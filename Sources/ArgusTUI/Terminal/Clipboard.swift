import FoundationEssentials

/// OSC 52: asks the terminal to put text on the clipboard. Works over SSH with no X11; inside tmux the
/// sequence is wrapped in tmux's passthrough (`ESC P tmux; … ESC \`, with inner ESCs doubled).
public enum OSC52 {
    public static func sequence(for text: String, inTmux: Bool) -> String {
        let payload = Data(text.utf8).base64EncodedString()
        let osc = "\u{1B}]52;c;\(payload)\u{07}"
        guard inTmux else { return osc }
        return "\u{1B}Ptmux;" + osc.replacing("\u{1B}", with: "\u{1B}\u{1B}") + "\u{1B}\\"
    }
}
