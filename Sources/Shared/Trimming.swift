extension StringProtocol {
    /// The text without the leading and trailing characters `drop` selects: what
    /// Foundation's `trimmingCharacters(in:)` does, which FoundationEssentials (all the TUI and the client build on)
    /// does not have.
    public func trimmed(where drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }

    /// The text without leading and trailing whitespace. Text that starts and ends with a printable ASCII character
    /// (a token, an id: what the server trims on every request) comes back as it is without walking its characters:
    /// such a byte begins its own character at the start, and at the end it is the last character's last scalar,
    /// after either itself or a prepended mark, neither of them whitespace.
    public func trimmed() -> String {
        let s = String(self)
        if let f = s.utf8.first, let l = s.utf8.last, (0x21...0x7E).contains(f), (0x21...0x7E).contains(l) { return s }
        return s.trimmed(where: \.isWhitespace)
    }
}
