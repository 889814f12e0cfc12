import Foundation
import HTTPTypes
import Hummingbird

/// What the web page's requests have to do with where they came from: the session cookie, the CSRF rule for
/// cookie-authenticated writes, and whether the browser reached us over HTTPS (behind a proxy).
enum WebOrigin {
    static let csrfHeader = HTTPField.Name("X-Argus-CSRF")!
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!
    static let origin = HTTPField.Name("Origin")!

    /// The `argus_session` value of the `Cookie` header(s), if any.
    static func sessionCookie(_ headers: HTTPFields) -> String? {
        for field in headers[values: .cookie] {
            for pair in field.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == WebSession.cookieName else { continue }
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                if !value.isEmpty { return value }
            }
        }
        return nil
    }

    /// Whether the browser talks to us over HTTPS: a TLS-terminating proxy in front says so with X-Forwarded-Proto.
    static func isHTTPS(_ request: Request) -> Bool {
        request.headers[forwardedProto]?.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased()
            == "https"
    }

    /// The origin a link the server hands out starts with (a share link's): ARGUS_BASE_URL, else the one the request
    /// was addressed to. A `Host` that is no host name (`a b<script>`) gets a 400 rather than going into a link.
    static func linkOrigin(_ request: Request, baseURL: String?) throws(APIError) -> String {
        if let baseURL { return baseURL }
        guard let host = request.head.authority else { return "" }
        guard isHostAndPort(host), let origin = requestOrigin(request) else {
            throw APIError(
                status: .badRequest,
                detail:
                    "The request's Host header is not a host name, so no link can be made from it; set ARGUS_BASE_URL to the address users open."
            )
        }
        return origin
    }

    /// The origin the request was addressed to (its `Host`, over HTTPS when a proxy in front says so), if it named one.
    static func requestOrigin(_ request: Request) -> String? {
        request.head.authority.map { (isHTTPS(request) ? "https://" : "http://") + $0 }
    }

    /// `host[:port]` as a link can carry it: a DNS name (labels of letters, digits, inner hyphens, and underscores,
    /// which container names have), an IPv4 address, or an IPv6 one in brackets; a port of 1 to 65535.
    static func isHostAndPort(_ text: String) -> Bool {
        var host = Substring(text)
        if let colon = text.lastIndex(of: ":"), !text.hasSuffix("]") {
            let port = text[text.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCII), port.allSatisfy(\.isNumber),
                let n = Int(port), (1...65535).contains(n)
            else { return false }
            host = text[..<colon]
        }
        if host.hasPrefix("[") {
            return host.hasSuffix("]") && host.count > 2
                && host.dropFirst().dropLast().allSatisfy { $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") }
        }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return !host.isEmpty && host.utf8.count <= 253
            && labels.allSatisfy { l in
                !l.isEmpty && l.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                    && l.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
            }
    }

    /// The origins our own page can have: the one the request was addressed to, and ARGUS_BASE_URL's.
    static func ownOrigins(_ request: Request, baseURL: String?) -> Set<String> {
        var out = Set<String>()
        if let origin = requestOrigin(request) { out.insert(origin.lowercased()) }
        if let baseURL, let u = URLComponents(string: baseURL), let scheme = u.scheme, let host = u.host {
            out.insert(scheme.lowercased() + "://" + host.lowercased() + (u.port.map { ":\($0)" } ?? ""))
        }
        return out
    }

    /// A request authenticated by the cookie alone, other than GET/HEAD, must come from our own page: the browser's
    /// `Origin` is ours and the page's `X-Argus-CSRF: 1` header is present (a cross-site form cannot set it).
    static func checkCSRF(_ request: Request, baseURL: String?) throws {
        guard request.method != .get, request.method != .head else { return }
        let origin = request.headers[origin]?.lowercased()
        guard let origin, ownOrigins(request, baseURL: baseURL).contains(origin), request.headers[csrfHeader] == "1" else {
            throw APIError.forbidden(
                "A request signed in with the session cookie must come from Argus's own page (same Origin and the header X-Argus-CSRF: 1).")
        }
    }

    /// The `Set-Cookie` value that starts a session (`secret`) or ends one (nil).
    static func sessionCookieHeader(_ secret: String?, secure: Bool) -> String {
        var v = "\(WebSession.cookieName)=\(secret ?? ""); HttpOnly; SameSite=Strict; Path=/"
        // A session cookie (no Max-Age) would be lost when the browser restarts: it lives as long as the session.
        v += "; Max-Age=\(secret == nil ? 0 : Int(WebSession.lifetimeS))"
        if secure { v += "; Secure" }
        return v
    }
}
