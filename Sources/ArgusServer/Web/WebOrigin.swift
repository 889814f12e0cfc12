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
        let hostChars = host.utf8.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || [UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]")].contains(b)
        }
        guard hostChars, !host.isEmpty, host.utf8.count <= 255 else {
            throw APIError(
                status: .badRequest,
                detail:
                    "The request's Host header is not a host name, so no link can be made from it; set ARGUS_BASE_URL to the address users open."
            )
        }
        return (isHTTPS(request) ? "https://" : "http://") + host
    }

    /// The origins our own page can have: the one the request was addressed to, and ARGUS_BASE_URL's.
    static func ownOrigins(_ request: Request, baseURL: String?) -> Set<String> {
        var out = Set<String>()
        if let host = request.head.authority {
            out.insert((isHTTPS(request) ? "https://" : "http://") + host.lowercased())
        }
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
