/// Where the command-line tools find their server and token (the flag, else `ARGUS_URL` / `ARGUS_TOKEN`, the
/// variables the SDK reads), and the one wording of what is missing or wrong with them.
public enum ServerAddress {
    public struct Problem: Error, Sendable {
        public var sentence: String
    }

    /// Why `url` cannot be a server's address (its scheme, in any case: libcurl reads `HTTP://` too), or nil.
    public static func schemeProblem(_ url: String) -> String? {
        let lower = url.lowercased()
        return lower.hasPrefix("http://") || lower.hasPrefix("https://")
            ? nil : "the server URL must start with http:// or https://, got '\(url)'."
    }

    /// The URL and token a tool was given, or the sentence for the first one missing or wrong.
    public static func resolve(url: String?, token: String?, env: [String: String]) throws(Problem) -> (
        url: String, token: String
    ) {
        guard var url = url ?? env["ARGUS_URL"], !url.isEmpty else { throw Problem(sentence: "give --url or set ARGUS_URL.") }
        if let problem = schemeProblem(url) { throw Problem(sentence: problem) }
        // The API's address is the server's: `http://host:8000/api` works as `http://host:8000` does.
        while url.hasSuffix("/") { url.removeLast() }
        if url.lowercased().hasSuffix("/api") { url.removeLast(4) }
        guard let token = token ?? env["ARGUS_TOKEN"], !token.isEmpty else {
            throw Problem(sentence: "give --token or set ARGUS_TOKEN.")
        }
        return (url, token)
    }
}
