extension StringProtocol {
    /// The text without the leading and trailing characters `drop` selects (whitespace unless told): what
    /// Foundation's `trimmingCharacters(in:)` does, which FoundationEssentials (all the TUI and the client build on)
    /// does not have.
    public func trimmed(where drop: (Character) -> Bool = \.isWhitespace) -> String {
        guard let first = firstIndex(where: { !drop($0) }), let last = lastIndex(where: { !drop($0) }) else { return "" }
        return String(self[first...last])
    }
}
