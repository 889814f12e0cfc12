import Shared

/// Moving up from one machine: a SQLite history copied into a PostgreSQL (`argus-server db copy`), ids kept, so that
/// tokens still work, share links still open and clients resume their streams where they were.
enum DatabaseCopy {
    /// Every table, parents before children. `key`: the columns that identify a row; `numericID`: the identity column
    /// whose counter must move past the copy; `again`: what a later run does to a row already in the target, so the
    /// copy is safe to run again, also after the SQLite server ran on.
    struct Table: Sendable {
        var name: String
        var key: [String]
        var numericID = true
        var again = Again.keep
    }

    enum Again: Sendable {
        /// Left as it is (a user, an event: never changed by the server).
        case keep
        /// The source's values (the summaries and agent commands the live server rewrites with every event or ack).
        /// A server on the target changes these only while storing events, which the events check refuses first.
        case follow
        /// Only a revocation reaches it, and one in the target stays: a credential revoked on either side is revoked
        /// (copying again never brings one back). Agents also take the latest `last_seen_us`.
        case revocation
    }

    static let tables: [Table] = [
        Table(name: "users", key: ["id"]),
        Table(name: "tokens", key: ["id"], again: .revocation),
        Table(name: "batches", key: ["id"], numericID: false, again: .follow),
        Table(name: "jobs", key: ["batch_id", "id"], numericID: false, again: .follow),
        Table(name: "events", key: ["id"]),
        Table(name: "shares", key: ["id"], again: .revocation),
        Table(name: "agents", key: ["id"], again: .revocation),
        Table(name: "agent_commands", key: ["id"], again: .follow),
        Table(name: "sessions", key: ["id"], again: .revocation),
    ]

    /// What follows `INSERT …` for a row already in the target (`Table.again`).
    static func onConflict(_ t: Table, columns: [String]) -> String {
        let key = t.key.map { "\"\($0)\"" }.joined(separator: ", ")
        switch t.again {
        case .keep:
            return " ON CONFLICT DO NOTHING"
        case .follow:
            let others = columns.filter { !t.key.contains($0) }.map { "\"\($0)\"" }
            guard !others.isEmpty else { return " ON CONFLICT DO NOTHING" }
            return " ON CONFLICT (\(key)) DO UPDATE SET " + others.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
                + " WHERE (\(others.map { "\(t.name).\($0)" }.joined(separator: ", "))) IS DISTINCT FROM ("
                + others.map { "EXCLUDED.\($0)" }.joined(separator: ", ") + ")"
        case .revocation:
            var set = ["revoked_us = COALESCE(\(t.name).revoked_us, EXCLUDED.revoked_us)"]
            if columns.contains("last_seen_us") {
                set.append("last_seen_us = GREATEST(\(t.name).last_seen_us, EXCLUDED.last_seen_us)")
            }
            return " ON CONFLICT (\(key)) DO UPDATE SET " + set.joined(separator: ", ")
                + " WHERE (\(t.name).revoked_us IS NULL AND EXCLUDED.revoked_us IS NOT NULL)"
                + (columns.contains("last_seen_us") ? " OR \(t.name).last_seen_us < EXCLUDED.last_seen_us" : "")
        }
    }

    struct Count: Sendable, Equatable {
        var table: String
        var source: Int64
        /// Rows of the source's keys found in the target after the copy.
        var target: Int64
        var copied: Int64
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Nothing was written (the target was refused up front).
        var nothingWritten = false
    }

    /// Copies every row of `from` that is missing in `to` or differs there, `pageRows` at a time (one transaction
    /// each), then checks that each source row is in the target as it is in the source. Returns the counts per table;
    /// throws when a row is missing.
    static func run(
        from: any SQLDatabase, to: any SQLDatabase, sourceName: String = "", pageRows: Int = 500,
        progress: (String) -> Void = { _ in }
    ) async throws -> [Count] {
        // Into a new database, or again into the one an earlier run filled (the source may have changed since: a
        // server that went on running): never over another history (its ids would collide with the copy's and leave
        // it half in), nor over one that servers have written to since (the copy would undo what they did).
        for t in tables where ["users", "batches"].contains(t.name) {
            let theirs = try await to.read { try $0.scalar(Int64.self, "SELECT COUNT(*) FROM \(t.name)") ?? 0 }
            guard theirs > 0 else { continue }
            // A user is the same user only with the same name (ids of two histories collide); a batch's summary
            // changes as the source runs on.
            let ours = try await present(t, from: to, in: from, pageRows: pageRows, sameContent: t.again == .keep)
            if ours < theirs {
                throw Failure(
                    description:
                        "the target holds \(t.name) the source does not (\(theirs - ours)): another Argus history, or one servers have written to since the last copy, which a copy now would mix with this one; copy into a new, empty database.",
                    nothingWritten: true)
            }
        }
        let sourceEnd = try await from.read { db in
            max(
                try db.scalar(Int64.self, "SELECT MAX(id) FROM events") ?? 0,
                try db.scalar(Int64.self, "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0)
        }
        let targetEnd = try await to.read { try $0.scalar(Int64.self, "SELECT MAX(id) FROM events") ?? 0 }
        if targetEnd > sourceEnd {
            throw Failure(
                description:
                    "the target has events the source never had (ids up to \(targetEnd), the source's end at \(sourceEnd)): servers have written to it since the last copy, and copying again would undo what they stored.",
                nothingWritten: true)
        }
        // Until the copy is verified, a server refuses the target: a copy stopped halfway (Ctrl-C, a lost
        // connection) served jobs with half their epochs, without a word.
        try await to.write { db in
            try db.execute("CREATE TABLE IF NOT EXISTS \(unfinishedTable)(since_us BIGINT NOT NULL, source TEXT NOT NULL)")
            try db.execute("DELETE FROM \(unfinishedTable)")
            try db.execute("INSERT INTO \(unfinishedTable)(since_us, source) VALUES (?, ?)", [ArgusStore.nowUs(), sourceName])
        }
        var counts: [Count] = []
        for t in tables {
            var after: [SQLValue]? = nil
            var copied: Int64 = 0
            var source: Int64 = 0
            while true {
                let rows = try await page(t, of: from, after: after, rows: pageRows)
                guard let last = rows.last else { break }
                source += Int64(rows.count)
                after = t.key.map { last.value($0) ?? .null }
                let columns = last.columns.names
                let inserted = try await to.write { db -> Int in
                    // Up to 100 rows per statement (PostgreSQL takes at most 65,535 parameters). A row already there
                    // is written only when it changes (so a rerun counts changes).
                    let quoted = columns.map { "\"\($0)\"" }
                    let update = onConflict(t, columns: columns)
                    var n = 0
                    for chunk in stride(from: 0, to: rows.count, by: 100).map({ rows[$0..<min($0 + 100, rows.count)] }) {
                        let one = "(" + columns.map { _ in "?" }.joined(separator: ", ") + ")"
                        let sql =
                            "INSERT INTO \(t.name)(\(quoted.joined(separator: ", "))) VALUES "
                            + Array(repeating: one, count: chunk.count).joined(separator: ", ") + update
                        n += try db.execute(sql, chunk.flatMap(\.values))
                    }
                    return n
                }
                copied += Int64(inserted)
            }
            // Counters go on after the highest id copied (and, for events, the highest ever handed out: SSE ids are
            // never reused, even when retention deleted the newest rows).
            if t.numericID {
                let floor = try await from.read { db -> Int64 in
                    let top = try db.scalar(Int64.self, "SELECT MAX(id) FROM \(t.name)") ?? 0
                    let seq = try db.scalar(Int64.self, "SELECT seq FROM sqlite_sequence WHERE name = ?", [t.name]) ?? 0
                    return max(top, seq)
                }
                if floor > 0 {
                    try await to.write { db in
                        _ = try db.fetchOne(
                            "SELECT setval(pg_get_serial_sequence(?, 'id'), GREATEST(?, (SELECT COALESCE(MAX(id), 0) FROM \(t.name))))",
                            [t.name, floor])
                    }
                }
            }
            let target = try await present(t, from: from, in: to, pageRows: pageRows)
            counts.append(Count(table: t.name, source: source, target: target, copied: copied))
            progress("\(t.name): \(source) row\(source == 1 ? "" : "s"), \(copied) copied now, \(target) found in the target")
            if target != source {
                throw Failure(
                    description:
                        "\(t.name): \(source - target) of \(source) rows did not reach the target (a row with the same key and other content is in the way?)."
                )
            }
        }
        try await to.write { db in try db.execute("DROP TABLE IF EXISTS \(unfinishedTable)") }
        return counts
    }

    /// Marks a target whose copy has not been verified yet (`run`).
    static let unfinishedTable = "argus_copy_unfinished"

    /// Why a server must not serve from this database: a `db copy` into it started and was not verified. Nil when
    /// none is.
    static func unfinished(_ db: SQLConnection) throws -> String? {
        guard try db.scalar(String.self, "SELECT to_regclass(?)::text", [unfinishedTable]) != nil,
            let row = try db.fetchOne("SELECT since_us, source FROM \(unfinishedTable) LIMIT 1")
        else { return nil }
        let since = Timestamp(micros: row["since_us"]).iso
        let source: String = row["source"]
        return "this database is the target of an `argus-server db copy` that did not finish (started \(since)"
            + (source.isEmpty ? "" : " from \(source)")
            + "): run the copy again to finish it; until then no argus-server command uses it."
    }

    /// The next `rows` rows of `t` after the key `after`, in key order (keyset pages: stable whatever the size).
    static func page(_ t: Table, of db: any SQLDatabase, after: [SQLValue]?, rows: Int) async throws -> [SQLRow] {
        let quotedKey = t.key.map { "\"\($0)\"" }.joined(separator: ", ")
        return try await db.read { db in
            var sql = "SELECT * FROM \(t.name)"
            if let after { sql += " WHERE (\(quotedKey)) > (\(after.map { _ in "?" }.joined(separator: ", ")))" }
            return try db.fetchAll(sql + " ORDER BY \(quotedKey) LIMIT ?", (after ?? []) + [rows])
        }
    }

    /// How many of the source's rows of `t` the target holds with the same key and (with `sameContent`) the same content.
    static func present(
        _ t: Table, from: any SQLDatabase, in to: any SQLDatabase, pageRows: Int, sameContent: Bool = true
    ) async throws -> Int64 {
        let quotedKey = t.key.map { "\"\($0)\"" }.joined(separator: ", ")
        var after: [SQLValue]? = nil
        var found: Int64 = 0
        while true {
            let rows = try await page(t, of: from, after: after, rows: pageRows)
            guard let last = rows.last else { return found }
            after = t.key.map { last.value($0) ?? .null }
            let same = try await to.read { db -> Int64 in
                // The target's rows with the page's keys (equality: no collation decides what is in range).
                let marks = "(" + t.key.map { _ in "?" }.joined(separator: ", ") + ")"
                let theirs = try db.fetchAll(
                    "SELECT * FROM \(t.name) WHERE (\(quotedKey)) IN (\(Array(repeating: marks, count: rows.count).joined(separator: ", ")))",
                    rows.flatMap { r in t.key.map { r.value($0) ?? .null } })
                var byKey: [[SQLValue]: SQLRow] = [:]
                for r in theirs { byKey[t.key.map { r.value($0) ?? .null }] = r }
                var n: Int64 = 0
                for r in rows {
                    guard let other = byKey[t.key.map { r.value($0) ?? .null }] else { continue }
                    if !sameContent
                        || r.columns.names.allSatisfy({ c in DatabaseCopy.same(r.value(c), other.value(c)) || newerThere(t, c, other) })
                    {
                        n += 1
                    }
                }
                return n
            }
            found += same
        }
    }

    /// A column of a revocation table the target may hold newer than the source: a revocation, a later sighting.
    static func newerThere(_ t: Table, _ column: String, _ target: SQLRow) -> Bool {
        guard t.again == .revocation else { return false }
        if column == "revoked_us" { return target.value(column) != .null && target.value(column) != nil }
        return column == "last_seen_us"
    }

    /// Equal as stored: a REAL that holds a whole number may come back as either kind.
    static func same(_ a: SQLValue?, _ b: SQLValue?) -> Bool {
        switch (a, b) {
        case (.int(let x)?, .double(let y)?), (.double(let y)?, .int(let x)?): return Double(x) == y
        default: return a == b
        }
    }
}
