import Foundation
import Synchronization

/// Makes a revocation take effect everywhere within a second: it empties the token cache and closes every SSE
/// stream opened with a credential that is no longer valid (revoked token or share link, expired link).
/// Revocations come through the HTTP API (share DELETE, which calls `sweep()` at once) or from another process on
/// the same database (`argus-server token revoke`), which `poll()` notices with one cheap query per tick.
final class RevocationWatcher: Sendable {
    let store: ArgusStore
    let hub: SSEHub
    let auth: Authenticator
    /// How often the server calls `poll()`.
    static let tick = Duration.milliseconds(250)
    private let state = Mutex<(marker: RevocationMarker?, sweepsDue: Int)>((nil, 0))

    init(store: ArgusStore, hub: SSEHub, auth: Authenticator) {
        self.store = store
        self.hub = hub
        self.auth = auth
    }

    /// Forgets cached tokens, wakes every waiting agent long-poll (each asks whether its agent still works), then
    /// closes every stream whose credential is no longer valid.
    func sweep() async throws {
        auth.forgetAll()
        store.agentWakeups.wakeAll()
        let open = hub.openCredentials
        guard !open.isEmpty else { return }
        let valid = try await store.stillValid(open)
        hub.close(checked: open, valid: valid)
        // A user no longer an admin (`token demote`): the streams they opened as one may show others' batches.
        let admins = hub.openAdminCredentials
        if !admins.isEmpty { hub.closeAdminStreams(of: admins.subtracting(try await store.stillAdmin(admins))) }
    }

    /// One tick: closes streams of share links that just expired, and sweeps when anything was revoked since the
    /// last tick. It sweeps on the tick after, too: a request authenticated from the cache just before the first
    /// sweep may have subscribed just after it.
    func poll() async throws {
        let now = ArgusStore.nowUs()
        hub.close { _, expires in expires.map { $0 <= now } ?? false }
        let marker = try await store.revocationMarker()
        let sweepNow = state.withLock { s -> Bool in
            // The first tick sweeps too: a revocation may have landed before the watcher first looked.
            if s.marker != marker { s.sweepsDue = 2 }
            s.marker = marker
            guard s.sweepsDue > 0 else { return false }
            s.sweepsDue -= 1
            return true
        }
        if sweepNow { try await sweep() }
    }
}

/// Changes whenever a token, a share link, a web session or an agent is revoked (counts only grow, except that sessions ended
/// long ago are deleted; the latest revocation time moves).
struct RevocationMarker: Equatable, Sendable {
    var tokens: Int64
    var tokensLatestUs: Int64
    var shares: Int64
    var sharesLatestUs: Int64
    var sessions: Int64
    var sessionsLatestUs: Int64
    var agents: Int64
    var agentsLatestUs: Int64
    /// How many users are admins: a demotion changes it.
    var admins: Int64
}

extension ArgusStore {
    func revocationMarker() async throws -> RevocationMarker {
        try await database.read { db in
            let row = try db.fetchOne(
                """
                SELECT (SELECT COUNT(*) FROM tokens WHERE revoked_us IS NOT NULL) AS t,
                       (SELECT COALESCE(MAX(revoked_us), 0) FROM tokens) AS tl,
                       (SELECT COUNT(*) FROM shares WHERE revoked_us IS NOT NULL) AS s,
                       (SELECT COALESCE(MAX(revoked_us), 0) FROM shares) AS sl,
                       (SELECT COUNT(*) FROM sessions WHERE revoked_us IS NOT NULL) AS se,
                       (SELECT COALESCE(MAX(revoked_us), 0) FROM sessions) AS sel,
                       (SELECT COUNT(*) FROM agents WHERE revoked_us IS NOT NULL) AS a,
                       (SELECT COALESCE(MAX(revoked_us), 0) FROM agents) AS al,
                       (SELECT COUNT(*) FROM users WHERE is_admin <> 0) AS ad
                """)!
            return RevocationMarker(
                tokens: row["t"], tokensLatestUs: row["tl"], shares: row["s"], sharesLatestUs: row["sl"], sessions: row["se"],
                sessionsLatestUs: row["sel"], agents: row["a"], agentsLatestUs: row["al"], admins: row["ad"])
        }
    }

    /// Credentials' ids, by kind.
    struct CredentialIDs: Sendable {
        var tokens: [Int64] = []
        var shares: [Int64] = []
        var agents: [Int64] = []
        var sessions: [Int64] = []

        init(_ credentials: Set<Credential>) {
            for c in credentials {
                switch c {
                case .token(let id): tokens.append(id)
                case .share(let id): shares.append(id)
                case .agent(let id): agents.append(id)
                case .session(let id): sessions.append(id)
                }
            }
        }
    }

    /// The ids of `list` that `sql` (a SELECT of one id `column`, ending in its WHERE clause) returns.
    static func ids(
        _ db: SQLConnection, _ sql: String, _ list: [Int64], _ extra: [any SQLBindable] = [], column: String = "id"
    ) throws -> [Int64] {
        guard !list.isEmpty else { return [] }
        let marks = Array(repeating: "?", count: list.count).joined(separator: ",")
        return try db.column(Int64.self, sql + " AND \(column) IN (\(marks))", extra + list.map { $0 as any SQLBindable })
    }

    /// The subset of token and session `credentials` whose user is an admin.
    func stillAdmin(_ credentials: Set<Credential>) async throws -> Set<Credential> {
        let c = CredentialIDs(credentials)
        return try await database.read { db in
            var admin = Set<Credential>()
            let tokens = "SELECT t.id FROM tokens t JOIN users u ON u.id = t.user_id WHERE u.is_admin <> 0"
            for id in try ArgusStore.ids(db, tokens, c.tokens, column: "t.id") { admin.insert(.token(id)) }
            let sessions =
                "SELECT s.id FROM sessions s JOIN tokens t ON t.id = s.token_id JOIN users u ON u.id = t.user_id WHERE u.is_admin <> 0"
            for id in try ArgusStore.ids(db, sessions, c.sessions, column: "s.id") { admin.insert(.session(id)) }
            return admin
        }
    }

    /// The subset of `credentials` that still authenticates: unrevoked tokens, live share links, existing agents, and
    /// live sessions whose token is unrevoked.
    func stillValid(_ credentials: Set<Credential>) async throws -> Set<Credential> {
        let c = CredentialIDs(credentials)
        let now = ArgusStore.nowUs()
        return try await database.read { db in
            var valid = Set<Credential>()
            for id in try ArgusStore.ids(db, "SELECT id FROM tokens WHERE revoked_us IS NULL", c.tokens) { valid.insert(.token(id)) }
            for id in try ArgusStore.ids(
                db, "SELECT id FROM shares WHERE revoked_us IS NULL AND (expires_us IS NULL OR expires_us > ?)", c.shares, [now])
            {
                valid.insert(.share(id))
            }
            for id in try ArgusStore.ids(db, "SELECT a.id FROM agents a WHERE \(ArgusStore.liveAgent)", c.agents, column: "a.id") {
                valid.insert(.agent(id))
            }
            for id in try ArgusStore.ids(
                db,
                """
                SELECT s.id FROM sessions s JOIN tokens t ON t.id = s.token_id
                WHERE s.revoked_us IS NULL AND s.expires_us > ? AND t.revoked_us IS NULL
                """, c.sessions, [now], column: "s.id")
            {
                valid.insert(.session(id))
            }
            return valid
        }
    }
}
