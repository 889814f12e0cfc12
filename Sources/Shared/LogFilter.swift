/// The log search rule, one for the server's `q=` and the TUI's live lines: a line matches when its text or its
/// level contains the query, ignoring case (so `/ERROR` finds error-level lines as well as lines saying ERROR).
public struct LogFilter: Sendable, Equatable {
    /// Lines per page: the job view's log tail and the default `limit` of the log-lines routes.
    public static let pageSize = 200
    /// Longest accepted query, in characters.
    public static let maxQueryLength = 256

    public let query: String
    private let needle: String

    public init(_ query: String) {
        self.query = query
        needle = query.lowercased()
    }

    public var isEmpty: Bool { needle.isEmpty }

    public func matches(line: String, level: String) -> Bool {
        needle.isEmpty || line.lowercased().contains(needle) || level.lowercased().contains(needle)
    }
}
