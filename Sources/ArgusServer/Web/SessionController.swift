import Foundation
import HTTPTypes
import Hummingbird
import Shared

/// Web sign-in: `POST /api/session` exchanges a user's API token for the session cookie, `GET` says who
/// is signed in, `DELETE` signs out. The token itself never stays in the browser.
struct SessionController {
    let auth: Authenticator
    let store: ArgusStore
    let revocations: RevocationWatcher

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/session") { req, ctx in try await signIn(req, ctx) }
        router.get("/api/session") { _, ctx in
            guard case .user(let u)? = ctx.principal else {
                throw APIError(status: .unauthorized, detail: "Not signed in: open the page with #token=<token> or paste a token.")
            }
            return Response.json(["user": .string(u.name), "is_admin": .bool(u.isAdmin)])
        }
        router.delete("/api/session") { req, _ in
            // The middleware already held a cookie-authenticated DELETE to the CSRF rule.
            if let secret = WebOrigin.sessionCookie(req.headers), try await store.revokeSession(secret: secret) {
                // Its open streams close now, here and (through the revocation marker) on other replicas.
                try await revocations.sweep()
            }
            return Response(
                status: .noContent,
                headers: [.setCookie: WebOrigin.sessionCookieHeader(nil, secure: WebOrigin.isHTTPS(req))])
        }
    }

    /// A browser signed in as one user is switched to another's token only when the body says `"replace": true`:
    /// otherwise 409, which the page turns into a question, so that no link puts someone into another account
    /// unnoticed.
    func signIn(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let body = try await req.jsonBody(limit: 8 * 1024, ifEmpty: .null)
        guard let token = body["token"]?.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !token.isEmpty else {
            throw APIError.unprocessable("The body must be {\"token\": \"<your API token>\"}.")
        }
        let replace: Bool
        switch body["replace"] {
        case nil, .null?: replace = false
        case .bool(let b)?: replace = b
        default: throw APIError.unprocessable("replace must be true or false.")
        }
        guard case .user(let user)? = try await auth.principal(for: token) else {
            throw APIError(status: .unauthorized, detail: "That is not a valid API token (share links open without signing in).")
        }
        if !replace, case .user(let current)? = ctx.principal, current.name != user.name {
            throw APIError(status: .conflict, detail: "This link signs you in as \(user.name), in place of \(current.name).")
        }
        let secret = try await store.createSession(for: user)
        // A browser holds one session: the one this replaces ends, with its open streams (a user switched away from
        // would otherwise stay signed in for 30 days, their tabs streaming on, and Sign out would leave them behind).
        if let old = WebOrigin.sessionCookie(req.headers), old != secret, try await store.revokeSession(secret: old) {
            try await revocations.sweep()
        }
        return Response(
            status: .noContent,
            headers: [.setCookie: WebOrigin.sessionCookieHeader(secret, secure: WebOrigin.isHTTPS(req))])
    }
}
