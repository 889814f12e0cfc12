import HummingbirdCore
import Shared

/// A request's query string read the way forms and HTTP libraries write one (`application/x-www-form-urlencoded`):
/// `+` is a space and `%XX` a byte, so `%2B` is a plus; names are decoded too. Python's `urlencode` and `requests`'
/// `params=` send a space as `+`, and Hummingbird's `queryParameters` keeps it a plus (a search for `plain text`
/// found nothing). The one place the server reads a query. A value that is not valid percent-encoding is kept as
/// sent (with its `+` read as spaces), as Hummingbird does.
struct QueryString: Sendable {
    private let pairs: [(name: String, value: String)]

    init(_ query: String?) {
        func decoded(_ part: Substring) -> String {
            let spaced = String(part).replacing("+", with: " ")
            return IDEncoding.decode(spaced) ?? spaced
        }
        pairs = (query ?? "").split(separator: "&").map { pair in
            guard let eq = pair.firstIndex(of: "=") else { return (decoded(pair), "") }
            return (decoded(pair[..<eq]), decoded(pair[pair.index(after: eq)...]))
        }
    }

    /// The first value given for `name`, or nil when the query has none.
    func get(_ name: String) -> String? { pairs.first { $0.name == name }?.value }
}

extension URI {
    /// The query string, read as a form writes it (`QueryString`).
    var form: QueryString { QueryString(query) }
}
