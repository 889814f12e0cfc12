import Shared

/// What a log line may show of a request URI. No secret reaches a log at any level: share links carry their token
/// in the path (`/share/<token>`), EventSource clients in the query (`?token=`), and a pasted token can land anywhere.
enum LogRedaction {
    static let placeholder = "<redacted>"
    /// Query parameters whose value is a credential, whatever it looks like.
    static let secretParameters: Set<String> = ["token", "access_token", "api_key", "key", "secret", "password", "auth"]

    /// The path with the segment after `share` and anything shaped like one of our secrets replaced, and the query
    /// with the values of credential parameters replaced.
    static func uri(path: String, query: String?) -> String {
        var segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        for k in segments.indices where (k > 0 && segments[k - 1] == "share" && !segments[k].isEmpty) || looksSecret(segments[k]) {
            segments[k] = placeholder
        }
        var out = segments.joined(separator: "/")
        if let query, !query.isEmpty {
            let pairs = query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(parts[0])
                let value = parts.count > 1 ? String(parts[1]) : ""
                let key = (IDEncoding.decode(name) ?? name).lowercased()
                if secretParameters.contains(key) || looksSecret(value) { return "\(name)=\(placeholder)" }
                return looksSecret(name) ? placeholder : String(pair)
            }
            out += "?" + pairs.joined(separator: "&")
        }
        return out
    }

    /// A minted secret: one of our prefixes followed by a long random tail (32 bytes, base64url). Counted in
    /// bytes (the prefixes and a real tail are ASCII), so a tail of other characters is taken for one sooner.
    static func looksSecret(_ text: String) -> Bool {
        let decoded = IDEncoding.decode(text) ?? text
        return Secret.prefixes.contains { decoded.utf8.count >= $0.utf8.count + 40 && decoded.hasPrefix($0) }
    }
}
