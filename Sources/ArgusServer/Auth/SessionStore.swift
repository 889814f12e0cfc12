import Shared

/// A browser session (README, "The web page"): the web page exchanges a user's API token for a random cookie secret, so the
/// token never has to stay in the page. Only a hash of the secret is stored; the session acts as the token's user
/// and ends when the token is revoked, when the user signs out, or after `lifetimeS`.
enum WebSession {
    static let cookieName = "argus_session"
    static let secretPrefix = "se_"
    /// How long a session lasts after sign-in, whatever the browser does with the cookie.
    static let lifetimeS: Double = 30 * 86_400
}

extension ArgusStore {
    /// Starts a session for the token `user` authenticated with; returns the secret (set as the cookie, never stored).
    func createSession(for user: UserPrincipal) async throws -> String {
        let secret = Secret.make(prefix: WebSession.secretPrefix)
        let now = ArgusStore.nowUs()
        try await write { db in
            // Sessions that ended over a day ago are of no use to anyone: each sign-in clears them away.
            let dayAgo = now - 86_400_000_000
            try db.execute("DELETE FROM sessions WHERE expires_us < ? OR revoked_us < ?", [dayAgo, dayAgo])
            try db.execute(
                "INSERT INTO sessions(token_id, secret_hash, created_us, expires_us) VALUES (?,?,?,?)",
                [user.tokenID, SHA256.hex(secret), now, now + Int64(WebSession.lifetimeS * 1_000_000)])
        }
        return secret
    }

    /// The user behind a live session (unrevoked, unexpired, its token unrevoked), carrying the session's id and expiry.
    func principal(forSession secret: String) async throws -> UserPrincipal? {
        let hash = SHA256.hex(secret)
        let now = ArgusStore.nowUs()
        return try await database.read { db in
            try db.fetchOne(
                """
                SELECT u.id, u.name, u.is_admin, t.scope, t.id AS token_id, s.id AS session_id, s.expires_us
                FROM sessions s JOIN tokens t ON t.id = s.token_id JOIN users u ON u.id = t.user_id
                WHERE s.secret_hash = ? AND s.revoked_us IS NULL AND s.expires_us > ? AND t.revoked_us IS NULL
                """, [hash, now]
            ).map {
                UserPrincipal(
                    id: $0["id"], name: $0["name"], isAdmin: $0["is_admin"], scope: $0["scope"], tokenID: $0["token_id"],
                    session: .init(id: $0["session_id"], expiresUs: $0["expires_us"]))
            }
        }
    }

    /// Signs a session out. Returns false when it was not live.
    @discardableResult
    func revokeSession(secret: String) async throws -> Bool {
        try await write { db in
            return try db.execute(
                "UPDATE sessions SET revoked_us = ? WHERE secret_hash = ? AND revoked_us IS NULL",
                [ArgusStore.nowUs(), SHA256.hex(secret)]) > 0
        }
    }
}
