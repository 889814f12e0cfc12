import Shared

/// A share link: a bearer token that can read exactly one batch. Only its hash is stored.
struct ShareRecord: Sendable {
    var id: Int64
    var batchID: String
    var createdBy: String
    var createdUs: Int64
    var expiresUs: Int64?
    var revokedUs: Int64?

    init(row: SQLRow) {
        id = row["id"]
        batchID = row["batch_id"]
        createdBy = row["created_by"]
        createdUs = row["created_us"]
        expiresUs = row["expires_us"]
        revokedUs = row["revoked_us"]
    }

    /// The listing shape: never the secret.
    var json: JSON {
        [
            "id": JSON(id), "batch_id": .string(batchID), "created_by": .string(createdBy), "created_at": isoJSON(createdUs),
            "expires_at": isoJSON(expiresUs), "revoked": .bool(revokedUs != nil), "revoked_at": isoJSON(revokedUs),
        ]
    }
}

extension ArgusStore {
    /// Mints a share for a batch; returns the record and the secret (shown once).
    func createShare(batchID: String, by user: UserPrincipal, expiresInS: Double?) async throws -> (ShareRecord, String) {
        let secret = Secret.make(prefix: Secret.sharePrefix)
        let now = ArgusStore.nowUs()
        let expires = expiresInS.map { now + Int64($0 * 1_000_000) }
        let record = try await write { db -> ShareRecord in
            try db.fetchOne(
                """
                INSERT INTO shares(batch_id, token_hash, created_by, created_us, expires_us, token_id) VALUES (?,?,?,?,?,?)
                RETURNING *
                """,
                [batchID, SHA256.hex(secret), user.name, now, expires, user.tokenID > 0 ? user.tokenID : nil]
            ).map(ShareRecord.init(row:))!
        }
        return (record, secret)
    }

    func shares(batchID: String) async throws -> [ShareRecord] {
        try await database.read { db in
            try db.fetchAll("SELECT * FROM shares WHERE batch_id = ? ORDER BY id", [batchID]).map(
                ShareRecord.init(row:))
        }
    }

    /// Revokes one share of a batch. Returns false when there is no such share.
    func revokeShare(batchID: String, id: Int64) async throws -> Bool {
        try await write { db in
            return try db.execute(
                "UPDATE shares SET revoked_us = COALESCE(revoked_us, ?) WHERE id = ? AND batch_id = ?",
                [ArgusStore.nowUs(), id, batchID]) > 0
        }
    }

    /// The live (unrevoked, unexpired) share for a secret, if any.
    func share(forToken secret: String) async throws -> ShareRecord? {
        let hash = SHA256.hex(secret)
        let now = ArgusStore.nowUs()
        return try await database.read { db in
            try db.fetchOne(
                "SELECT * FROM shares WHERE token_hash = ? AND revoked_us IS NULL AND (expires_us IS NULL OR expires_us > ?)",
                [hash, now]
            ).map(ShareRecord.init(row:))
        }
    }
}
