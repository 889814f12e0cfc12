import HummingbirdCore
import Shared

/// A request's query string read the way forms and HTTP libraries write one (`IDEncoding.decodeQueryPart`: `+` is a
/// space, `%2B` a plus), names and values. Python's `urlencode` and `requests`' `params=` send a space as `+`, and
/// Hummingbird's `queryParameters` keeps it a plus (a search for `plain text` found nothing). The one place the
/// server reads a query.
struct QueryString: Sendable {
    private let pairs: [(name: String, value: String)]

    init(_ query: String?) {
        pairs = (query ?? "").split(separator: "&").map { pair in
            guard let eq = pair.firstIndex(of: "=") else { return (IDEncoding.decodeQueryPart(pair), "") }
            return (IDEncoding.decodeQueryPart(pair[..<eq]), IDEncoding.decodeQueryPart(pair[pair.index(after: eq)...]))
        }
    }

    /// The first value given for `name`, or nil when the query has none.
    func get(_ name: String) -> String? { pairs.first { $0.name == name }?.value }
}

extension URI {
    /// The query string, read as a form writes it (`QueryString`).
    var form: QueryString { QueryString(query) }
}
