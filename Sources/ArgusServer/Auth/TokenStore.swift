import Shared

/// Token scopes and their secret prefixes. Only a SHA-256 of each token is stored.
public enum TokenScope: String, Sendable, CaseIterable {
    case reporter
    case viewer

    var prefix: String { self == .reporter ? "em_live_" : "em_view_" }
}

public struct TokenInfo: Sendable {
    public var id: Int64
    public var user: String
    public var isAdmin: Bool
    public var scope: String
    public var prefix: String
    public var createdAt: String
    public var revoked: Bool
}

extension ArgusStore {
    /// What minting a token did to its user, beside the token: `promoted`, an existing user made an admin (every
    /// token of theirs now sees every batch); `wasAdmin`, an admin already (this token sees every batch too).
    public struct MintedToken: Sendable {
        public var secret: String
        public var promoted: Bool
        public var wasAdmin: Bool
        public var otherTokens: Int
    }

    /// Creates the user if missing (promoting to admin when asked) and mints a token: its secret, and what that did.
    public func createToken(user: String, scope: TokenScope, admin: Bool) throws -> MintedToken {
        let secret = Secret.make(prefix: scope.prefix)
        let now = ArgusStore.nowUs()
        return try database.writeNow { db in
            let before = try db.scalar(Bool.self, "SELECT is_admin FROM users WHERE name = ?", [user])
            try db.execute(
                "INSERT INTO users(name, is_admin, created_us) VALUES (?, ?, ?) ON CONFLICT(name) DO NOTHING",
                [user, admin, now])
            if admin {
                try db.execute("UPDATE users SET is_admin = 1 WHERE name = ?", [user])
            }
            let userID = try db.scalar(Int64.self, "SELECT id FROM users WHERE name = ?", [user])!
            let others =
                Int(try db.scalar(Int64.self, "SELECT count(*) FROM tokens WHERE user_id = ? AND revoked_us IS NULL", [userID]) ?? 0)
            try db.execute(
                "INSERT INTO tokens(user_id, scope, token_hash, prefix, created_us) VALUES (?,?,?,?,?)",
                [userID, scope.rawValue, SHA256.hex(secret), String(secret.prefix(12)), now])
            return MintedToken(secret: secret, promoted: admin && before == false, wasAdmin: before == true, otherTokens: others)
        }
    }

    public enum Demotion: Equatable, Sendable {
        case noSuchUser, notAnAdmin
        /// Done: how many active tokens the user has, which now see and act on their own batches only.
        case demoted(tokens: Int)
    }

    /// Takes admin from a user (what `token create --admin` gave): their tokens keep working, on their own batches.
    public func demote(user: String) throws -> Demotion {
        try database.writeNow { db in
            guard let isAdmin = try db.scalar(Bool.self, "SELECT is_admin FROM users WHERE name = ?", [user]) else {
                return .noSuchUser
            }
            guard isAdmin else { return .notAnAdmin }
            try db.execute("UPDATE users SET is_admin = 0 WHERE name = ?", [user])
            let tokens = try db.scalar(
                Int64.self,
                "SELECT count(*) FROM tokens t JOIN users u ON u.id = t.user_id WHERE u.name = ? AND t.revoked_us IS NULL", [user])
            return .demoted(tokens: Int(tokens ?? 0))
        }
    }

    public func listTokens() throws -> [TokenInfo] {
        try database.readNow { db in
            try db.fetchAll(
                """
                SELECT t.id, u.name, u.is_admin, t.scope, t.prefix, t.created_us, t.revoked_us
                FROM tokens t JOIN users u ON u.id = t.user_id ORDER BY t.id
                """
            ).map { r in
                TokenInfo(
                    id: r["id"], user: r["name"], isAdmin: r["is_admin"], scope: r["scope"],
                    prefix: r["prefix"],
                    createdAt: Timestamp(micros: r["created_us"]).iso,
                    revoked: (r["revoked_us"] as Int64?) != nil)
            }
        }
    }

    /// Revokes a token by id, and the share links it minted (a leaked token's thief may have minted some to keep
    /// reading). Returns false when there is no such (unrevoked) token.
    public func revokeToken(id: Int64) throws -> Bool {
        try database.writeNow { db in
            let now = ArgusStore.nowUs()
            guard try db.execute("UPDATE tokens SET revoked_us = ? WHERE id = ? AND revoked_us IS NULL", [now, id]) > 0 else {
                return false
            }
            try db.execute("UPDATE shares SET revoked_us = ? WHERE token_id = ? AND revoked_us IS NULL", [now, id])
            return true
        }
    }

    /// Whether this secret is a token that was revoked (its 401 then says so).
    func tokenWasRevoked(_ secret: String) async throws -> Bool {
        let hash = SHA256.hex(secret)
        return try await database.read { db in
            try db.scalar(Int64.self, "SELECT id FROM tokens WHERE token_hash = ? AND revoked_us IS NOT NULL", [hash]) != nil
        }
    }

    func principal(forToken secret: String) async throws -> UserPrincipal? {
        let hash = SHA256.hex(secret)
        return try await database.quickRead { db in
            try db.fetchOne(
                """
                SELECT u.id, u.name, u.is_admin, t.scope, t.id AS token_id FROM tokens t JOIN users u ON u.id = t.user_id
                WHERE t.token_hash = ? AND t.revoked_us IS NULL
                """, [hash]
            ).map {
                UserPrincipal(
                    id: $0["id"], name: $0["name"], isAdmin: $0["is_admin"], scope: $0["scope"], tokenID: $0["token_id"])
            }
        }
    }
}
