import Foundation
import GRDB
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ArgusServer

/// The database URL as `--database-url` takes it: pure parsing, no server needed.
@Suite("PostgreSQL database URL", .enabled(if: TestBackend.firstPass), .ownThread)
struct PostgresURLTests {
    @Test("user, password, host, port, database, percent-decoding, defaults and sslmode")
    func parses() throws {
        let u = try PostgresURL("postgres://ar%40gus:p%3Ass%2Fw@db.example:6543/argus%20prod?sslmode=require")
        #expect(u.user == "ar@gus" && u.password == "p:ss/w" && u.host == "db.example" && u.port == 6543)
        #expect(u.database == "argus prod" && u.sslMode == .require && u.sslRootCert == nil)
        #expect(u.redacted == "postgres://ar@gus@db.example:6543/argus prod")

        let d = try PostgresURL("postgresql://alice@10.0.0.5")
        #expect(d.password == nil && d.port == 5432 && d.database == "alice" && d.sslMode == .prefer)
        let v6 = try PostgresURL("postgres://a:b@[::1]:5433/x?sslmode=disable")
        #expect(v6.host == "::1" && v6.port == 5433 && v6.sslMode == .disable)
        // An unencoded "@" in a password: the last "@" ends the user info, as libpq reads it.
        #expect(try PostgresURL("postgres://a:p@ss@h/x").password == "p@ss")
        let cert = FileManager.default.temporaryDirectory.appendingPathComponent("argus-root-\(UUID()).pem")
        try "not a certificate".write(to: cert, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: cert) }
        let full = try PostgresURL("postgres://a@h/x?sslmode=verify-full&sslrootcert=\(cert.path)")
        #expect(full.sslMode == .verifyFull && full.sslRootCert == cert.path)
        // A root certificate that does not load is a one-sentence error when the connection settings are built.
        #expect(throws: DatabaseURLError.self) { try full.configuration() }
        #expect(try PostgresURL("postgres://a@h/x?sslmode=disable").configuration().tls.isAllowed == false)
    }

    @Test("each bad URL is one clear sentence")
    func errors() {
        let cases: [(String, String)] = [
            ("mysql://a@h/db", "must start with postgres:// or postgresql://"),
            ("postgres://h/db", "names no user"),
            ("postgres://a@/db", "names no host"),
            ("postgres://a@h:99999/db", "port \"99999\" is not a number from 1 to 65535"),
            ("postgres://a@h:x/db", "port \"x\" is not a number"),
            ("postgres://a@h/db?sslmode=always", "sslmode \"always\" is not one of disable, allow, prefer"),
            ("postgres://a@h/db?timeout=3", "unknown parameter \"timeout\""),
            ("postgres://a@h/db?sslrootcert=/nonexistent/ca.pem&sslmode=verify-ca", "is not a readable file"),
            ("postgres://a:%zz@h/db", "password has a bad percent-escape"),
            ("postgres://a@h/db/more", "is not one database name"),
            (
                "postgres://u:p@ss w/rd:1@h/argus",
                "path is not one database name: a password with @, / or : in it is written percent-encoded"
            ),
            ("postgres://a@[::1/db", "missing its closing"),
        ]
        for (url, expected) in cases {
            do {
                _ = try PostgresURL(url)
                Issue.record("\(url) was accepted")
            } catch let e as DatabaseURLError {
                #expect(e.description.contains(expected), "\(url): \(e.description)")
                #expect(!e.description.contains("rd:1"), "a password's tail is echoed: \(e.description)")
                #expect(e.description.hasSuffix(".") && !e.description.contains("\n"), "\(e.description)")
                #expect(e.description.filter { $0 == "." }.count <= 3, "one sentence: \(e.description)")
            } catch {
                Issue.record("\(url): \(error)")
            }
        }
    }

    @Test("? placeholders become $n outside literals, identifiers and comments")
    func placeholders() {
        #expect(PostgresDatabase.numberPlaceholders("SELECT ?, ?") == "SELECT $1, $2")
        #expect(
            PostgresDatabase.numberPlaceholders("SELECT '?', 'it''s ?', \"a?\", ? -- why?\n, ? /* ? */ , ?")
                == "SELECT '?', 'it''s ?', \"a?\", $1 -- why?\n, $2 /* ? */ , $3")
        #expect(PostgresDatabase.numberPlaceholders("SELECT 1/?") == "SELECT 1/$1")
        #expect(PostgresDatabase.numberPlaceholders("SELECT 2-?") == "SELECT 2-$1")
    }
}

/// The PostgreSQL backend against the throwaway cluster (scripts/pg-cluster.sh), one database per test.
/// In the PostgreSQL pass only (scripts/test.sh), not again in the SQLite pass: nothing here depends on the backend the
/// servers of that pass use.
@Suite("PostgreSQL backend primitives", .enabled(if: TestBackend.isPostgres), .ownThread)
struct PostgresDatabaseTests {
    struct Boom: Error {}

    /// A value shared with escaping closures (a Mutex cannot be captured itself).
    final class Locked<T: Sendable>: Sendable {
        private let m: Mutex<T>
        init(_ v: T) { m = Mutex(v) }
        func with<R>(_ f: (inout T) -> R) -> R { m.withLock { f(&$0) } }
        var value: T { m.withLock { $0 } }
    }

    @Test("values round-trip: NULL, 64-bit integers, doubles, unicode; PostgreSQL types decode as the store reads them")
    func valueRoundTrip() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url)
            defer { db.close() }
            let text = "héllo ✓ 漢字 🎉 'quoted' \"double\" ? back\\slash\nnew line"
            let values: [SQLValue] = [.int(Int64.max), .int(Int64.min), .double(0.1), .double(-1.5e300), .text(text), .null]
            try await db.write { c in
                try c.execute("CREATE TABLE t(a BIGINT, b BIGINT, c DOUBLE PRECISION, d DOUBLE PRECISION, e TEXT, f TEXT)")
                #expect(try c.execute("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", values) == 1)
            }
            let row = try await db.read { c in try c.fetchOne("SELECT * FROM t")! }
            #expect(row.values == values)
            #expect(row.columns.names == ["a", "b", "c", "d", "e", "f"])
            #expect((row["a"] as Int64) == Int64.max && (row["e"] as String) == text && (row["f"] as String?) == nil)

            let r = try db.readNow { c in
                try c.fetchOne(
                    """
                    SELECT 7::int2 AS i2, 8::int4 AS i4, 9::int8 AS i8, 1.5::float4 AS f4, 2.25::float8 AS f8,
                      12345678901234::numeric AS n_int, 1.25::numeric AS n_frac, true AS yes, false AS no,
                      'v'::varchar AS vc, 'nm'::name AS nm, '{"a": 1}'::json AS js, '{"a": 1}'::jsonb AS jsb,
                      NULL::bigint AS nul, (SELECT SUM(x) FROM (VALUES (9223372036854775807::int8), (-1)) v(x)) AS total,
                      pg_notify('nobody', 'x') AS v
                    """)!
            }
            #expect(
                r.values == [
                    .int(7), .int(8), .int(9), .double(1.5), .double(2.25), .int(12_345_678_901_234), .double(1.25),
                    .int(1), .int(0), .text("v"), .text("nm"), .text("{\"a\": 1}"), .text("{\"a\": 1}"), .null,
                    .int(Int64.max - 1), .null,
                ])
            // The dialect's JSON spelling works on PostgreSQL.
            let line = try db.readNow { c in
                try c.scalar(
                    String.self, "SELECT \(SQLDialect.postgres.jsonText("?", "data", "line"))",
                    [#"{"data": {"line": "step 3 ✓"}}"#])
            }
            #expect(line == "step 3 ✓")
        }
    }

    @Test("? inside literals and identifiers is not a placeholder; rows affected come from the command tag")
    func placeholdersAndRowsAffected() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url)
            defer { db.close() }
            let row = try await db.read { c in
                try c.fetchOne(#"SELECT ? AS "what?", '?''?' AS lit, ? AS b -- trailing ?"#, [1, "x"])!
            }
            #expect(row.values == [.int(1), .text("?'?"), .text("x")])
            #expect(row.columns.names == ["what?", "lit", "b"])

            let counts = try await db.write { c in
                try c.execute("CREATE TABLE t(k BIGINT, v TEXT)")
                let inserted = try c.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
                let updated = try c.execute("UPDATE t SET v = ? WHERE k >= ?", ["z", 2])
                let none = try c.execute("UPDATE t SET v = 'q' WHERE k > 100")
                let deleted = try c.execute("DELETE FROM t")
                return [inserted, updated, none, deleted]
            }
            #expect(counts == [3, 2, 0, 3])
        }
    }

    @Test("a write whose body throws rolls back and rethrows; a refused statement keeps PostgreSQL's message and SQLSTATE")
    func rollbackAndErrors() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url)
            defer { db.close() }
            try await db.write { c in try c.execute("CREATE TABLE t(k TEXT PRIMARY KEY)") }
            await #expect(throws: Boom.self) {
                try await db.write { c in
                    try c.execute("INSERT INTO t VALUES ('gone')")
                    throw Boom()
                }
            }
            do {
                try await db.write { c in
                    try c.execute("INSERT INTO t VALUES ('dup')")
                    try c.execute("INSERT INTO t VALUES ('dup')")
                }
                Issue.record("a duplicate key was accepted")
            } catch let e as PostgresSQLError {
                #expect(e.isUniqueViolation && e.sqlState == "23505")
                #expect(
                    e.description
                        == "PostgreSQL refused a statement (SQLSTATE 23505): duplicate key value violates unique constraint \"t_pkey\" (Key (k)=(dup) already exists)."
                )
            }
            await #expect(throws: PostgresSQLError.self) {
                try await db.read { c in try c.execute("SELECT nonsense FROM t") }
            }
            // A read is read-only.
            await #expect(throws: PostgresSQLError.self) {
                try await db.read { c in try c.execute("INSERT INTO t VALUES ('r')") }
            }
            // Nothing of the failed writes is left, and the connections still work.
            #expect(try await db.read { c in try c.scalar(Int.self, "SELECT COUNT(*) FROM t") } == 0)
            try await db.write { c in try c.execute("INSERT INTO t VALUES ('kept')") }
            #expect(try await db.read { c in try c.scalar(String.self, "SELECT k FROM t") } == "kept")
        }
    }

    @Test("INSERT … ON CONFLICT DO NOTHING RETURNING id gives the id, then nil on a conflict")
    func onConflictReturning() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url)
            defer { db.close() }
            let ids = try await db.write { c in
                try c.execute(
                    "CREATE TABLE e(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, b TEXT, k TEXT, UNIQUE(b, k))")
                let sql = "INSERT INTO e(b, k) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING id"
                return [
                    try c.scalar(Int64.self, sql, ["b1", "x"]), try c.scalar(Int64.self, sql, ["b1", "x"]),
                    try c.scalar(Int64.self, sql, ["b2", "x"]),
                ]
            }
            #expect(ids[0] != nil && ids[1] == nil && ids[2] != nil && ids[2]! > ids[0]!)
        }
    }

    @Test("statements leave nothing behind: after 3,000 reads of an 8 KB row, no statement's outcome is still held")
    func noMemoryPerStatement() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url)
            defer { db.close() }
            try await db.read { c in _ = try c.scalar(Int.self, "SELECT 1") }
            let before = PendingStatements.alive.load(ordering: .relaxed)
            // Each of these runs on the same pooled connection (reads run one at a time here).
            for _ in 0..<3_000 {
                let row = try await db.read { c in try c.scalar(String.self, "SELECT repeat('x', 8192)") }
                #expect(row?.utf8.count == 8192)
            }
            // Before CloseWatch, every statement left a callback on the connection's close future that held its
            // outcome, rows and all (5,000 reads kept 40 MB): all 9,000 (three statements a read) would be alive
            // here. The count is the whole test process's, so statements in flight in the tests beside this one count
            // too: a few, not thousands.
            let after = PendingStatements.alive.load(ordering: .relaxed)
            #expect(after - before < 500, "\(after - before) more statement outcomes alive than before the reads")
        }
    }

    @Test("a server's store, closed once the server stops, leaves no connection of its own: no listener retrying, no lease held")
    func closedStoreLetsGo() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try ArgusStore(databaseURL: url)
            var logger = Logger(label: "test")
            logger.logLevel = .critical
            // As a server opens it: its event tail and the agents' wake-ups listen on connections of their own.
            let services = ArgusServices(config: ServerConfig(), store: store, logger: logger)
            #expect(await (store.database as? SharedDatabase)?.holdsLease(ReplicaSignals.Lease.stallWatchdog.rawValue) == true)
            try await services.store.ping()
            func sessions() throws -> Int {
                Int(
                    try TestPostgres.psql(
                        url,
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'argus-server %'"
                    )) ?? -1
            }
            let deadline = Date().addingTimeInterval(5)
            while try sessions() < 4 && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(try sessions() >= 4, "two listeners, the lease and a reader or the writer")
            // Before, the listeners held the store (through the event tail) and the store them: nothing ever closed,
            // and a server stopped inside a test process went on listening, and retrying, after its database was gone.
            store.close()
            var left = try sessions()
            while left > 0 && Date() < deadline.addingTimeInterval(5) {
                try await Task.sleep(for: .milliseconds(50))
                left = try sessions()
            }
            #expect(left == 0, "\(left) sessions still open after close()")
        }
    }

    @Test("the database answers a ping at once while every reader is busy and reads queue for seconds")
    func pingPassesQueuedReads() async throws {
        try await TestPostgres.withDatabase { url in
            let store = try ArgusStore(databaseURL: url)
            defer { store.close() }
            // Four readers, 48 reads of 0.5 s: 6 s of reads queued, longer than a ping waits (`pingWaitS`).
            let reads = Task {
                try await withThrowingTaskGroup(of: Void.self) { g in
                    for _ in 0..<48 {
                        g.addTask { _ = try await store.database.read { c in try c.scalar(Int.self, "SELECT 1 FROM pg_sleep(0.5)") } }
                    }
                    try await g.waitForAll()
                }
            }
            try await Task.sleep(for: .milliseconds(300))
            // Before, the ping queued behind them: after 5 s it said the database was silent, and the watchdog ended
            // every live stream (a burst of 120 streams replaying at once did that in CI).
            let start = ContinuousClock.now
            try await store.ping()
            #expect(ContinuousClock.now - start < .seconds(2), "the ping took \(ContinuousClock.now - start)")
            try await reads.value
        }
    }

    @Test("readers a burst of reads opened are closed once idle, all but the one used last; reads go on")
    func idleReadersClosed() async throws {
        try await TestPostgres.withDatabase { url in
            let db = try PostgresDatabase(url: url, readerIdle: 1)
            defer { db.close() }
            /// This database's reader connections, counted on the writer's.
            func readers() async throws -> Int {
                try await db.write { c in
                    try c.scalar(
                        Int.self,
                        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'argus-server reader'"
                    ) ?? -1
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { g in
                for _ in 0..<4 { g.addTask { _ = try await db.read { c in try c.scalar(Int.self, "SELECT 1 FROM pg_sleep(0.3)") } } }
                try await g.waitForAll()
            }
            #expect(try await readers() == 4, "four reads at once opened four readers")
            // Before, they stayed open for as long as the replica ran, holding slots its siblings' writers needed.
            let deadline = Date().addingTimeInterval(5)
            var left = try await readers()
            while left > 1 && Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                left = try await readers()
            }
            #expect(left == 1, "\(left) readers still open 5 s after a 1 s idle limit")
            #expect(try await db.read { c in try c.scalar(Int.self, "SELECT 2") } == 2)
        }
    }

    @Test("a read is one snapshot: a write committed meanwhile is not seen until the next read")
    func readSnapshot() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try PostgresDatabase(url: url)
            let b = try PostgresDatabase(url: url)
            defer {
                a.close()
                b.close()
            }
            try await a.write { c in try c.execute("CREATE TABLE t(k BIGINT)") }
            let seen = try await a.read { c in
                let before = try c.scalar(Int.self, "SELECT COUNT(*) FROM t")
                try b.writeNow { c in try c.execute("INSERT INTO t VALUES (1)") }
                return [before, try c.scalar(Int.self, "SELECT COUNT(*) FROM t")]
            }
            #expect(seen == [0, 0])
            #expect(try await a.read { c in try c.scalar(Int.self, "SELECT COUNT(*) FROM t") } == 1)
        }
    }

    /// The classic trap: ids drawn from a sequence are not committed in id order, so a reader that has passed id N
    /// may later see N-1 commit and never deliver it. Every write takes one advisory lock shared by every replica, so
    /// ids commit in order (remove the lock from `PostgresSession.transaction` and this test fails).
    @Test("writers on two replicas, a reader polling id > cursor: no id is ever skipped")
    func commitOrder() async throws {
        try await TestPostgres.withDatabase { url in
            let replicas = [try PostgresDatabase(url: url), try PostgresDatabase(url: url)]
            let reader = try PostgresDatabase(url: url)
            defer { (replicas + [reader]).forEach { $0.close() } }
            try await replicas[0].write { c in
                try c.execute("CREATE TABLE ev(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, w BIGINT)")
            }
            let perWriter = 150
            let done = Locked(0)
            let writers = replicas.count * 2
            let poller = Task {
                var seen: [Int64] = []
                var cursor: Int64 = 0
                while true {
                    let finished = done.value == writers
                    let c0 = cursor
                    let ids = try await reader.read { c in
                        try c.fetchAll("SELECT id FROM ev WHERE id > ? ORDER BY id", [c0]).map { $0[0] as Int64 }
                    }
                    seen += ids
                    cursor = ids.last ?? cursor
                    if finished { return seen }
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (r, db) in replicas.enumerated() {
                    for w in 0..<2 {
                        group.addTask {
                            for _ in 0..<perWriter {
                                try await db.write { c in
                                    try c.execute("INSERT INTO ev(w) VALUES (?)", [r * 2 + w])
                                    // Some work inside the transaction, of varying length, as an ingest's fold does.
                                    try c.execute("SELECT pg_sleep(random() * 0.002)")
                                }
                            }
                            done.with { $0 += 1 }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seen = try await poller.value
            let all = try await reader.read { c in try c.fetchAll("SELECT id FROM ev ORDER BY id").map { $0[0] as Int64 } }
            #expect(all.count == replicas.count * 2 * perWriter)
            let missed = Set(all).subtracting(seen)
            #expect(missed.isEmpty, "the poller skipped \(missed.count) ids, e.g. \(missed.sorted().prefix(5))")
            #expect(seen.count == all.count && zip(seen, seen.dropFirst()).allSatisfy { $0 < $1 })
        }
    }

    @Test("LISTEN/NOTIFY across two replicas: delivered at commit, not before, never on rollback")
    func notify() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try PostgresDatabase(url: url)
            let b = try PostgresDatabase(url: url)
            defer {
                a.close()
                b.close()
            }
            let got = Locked<[(String, Date)]>([])
            a.listen("argus_events") { p in got.with { $0.append((p, Date())) } }
            @Sendable func payloads() -> [String] { got.value.map(\.0) }
            try await eventually("listening") { payloads() == [""] }

            let (duringTransaction, committed) = try await b.write { c in
                try c.execute("SELECT pg_notify(?, ?)", ["argus_events", "e1"])
                // Not delivered while the transaction is open: give it the time a delivery takes, many times over.
                Thread.sleep(forTimeInterval: 0.2)
                return (payloads(), Date())
            }
            #expect(duringTransaction == [""])
            try await eventually("e1 delivered") { payloads() == ["", "e1"] }
            let latency = got.value[1].1.timeIntervalSince(committed)
            print("notify latency after commit: \(String(format: "%.2f", latency * 1000)) ms")

            await #expect(throws: Boom.self) {
                try await b.write { c in
                    try c.execute("SELECT pg_notify(?, ?)", ["argus_events", "rolled back"])
                    throw Boom()
                }
            }
            try await b.write { c in try c.execute("SELECT pg_notify(?, ?)", ["argus_events", "e2"]) }
            // Notifications arrive in commit order: e2 arriving means a delivered rollback would be there already.
            try await eventually("e2 delivered") { payloads().last == "e2" }
            #expect(payloads() == ["", "e1", "e2"])
        }
    }

    @Test("a listener whose connection is killed reconnects and says so with an empty payload")
    func listenerReconnects() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try PostgresDatabase(url: url)
            let b = try PostgresDatabase(url: url)
            defer {
                a.close()
                b.close()
            }
            let got = Locked<[String]>([])
            a.listen("chan") { p in got.with { $0.append(p) } }
            try await eventually("listening") { got.value == [""] }
            let killed = try await b.write { c in
                try c.scalar(
                    Int.self,
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN \"chan\"'"
                )
            }
            #expect(killed == 1)
            try await eventually("listening again") { got.value == ["", ""] }
            try await b.write { c in try c.execute("SELECT pg_notify('chan', 'after')") }
            try await eventually("delivered on the new connection") { got.value == ["", "", "after"] }
        }
    }

    @Test(
        "a listener that cannot listen again re-reads every 2 s meanwhile (empty payloads), and logs the outage at its start, while it lasts and at its end"
    )
    func listenerLost() async throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let admin = try #require(TestPostgres.adminURL)
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in CapturedLog(lines) }
        let a = try PostgresDatabase(url: db.url)
        defer { a.close() }
        let got = Locked<[String]>([])
        let l = PostgresListener(
            channel: "chan", configuration: PostgresDatabase.configuration(a.configuration, role: "listen"),
            logger: logger, relogEveryS: 1
        ) { p in got.with { $0.append(p) } }
        l.start()
        defer { l.stop() }
        try await eventually("listening") { got.value == [""] }
        try await a.write { c in try c.execute("SELECT 1") }  // the writer's connection, opened before the door shuts
        try TestPostgres.psql(admin, "ALTER DATABASE \(db.name) ALLOW_CONNECTIONS false")
        defer { _ = try? TestPostgres.psql(admin, "ALTER DATABASE \(db.name) ALLOW_CONNECTIONS true") }
        let killed = try await a.write { c in
            try c.scalar(
                Int.self,
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN \"chan\"'"
            )
        }
        #expect(killed == 1)
        // Before: silence until it could listen again (one warning, then nothing, and no re-read).
        let start = Date()
        try await eventually("re-reads while it cannot listen", timeout: 10) { got.value.count >= 5 }
        #expect(got.value.allSatisfy { $0.isEmpty })
        // Four re-reads after the first failure, each at most 2 s apart once the backoff has grown.
        #expect(Date().timeIntervalSince(start) < 8)
        try await eventually("logged again while it lasts", timeout: 10) {
            lines.value.contains { $0.contains("LISTEN chan still failing after") }
        }
        let warned = lines.value.filter { $0.contains("LISTEN chan failed, retrying") }
        #expect(warned.count == 1, "\(lines.value)")
        #expect(warned.first?.contains("re-reads every 2 s") == true, "\(warned)")
        try TestPostgres.psql(admin, "ALTER DATABASE \(db.name) ALLOW_CONNECTIONS true")
        try await eventually("listening again", timeout: 10) { lines.value.contains { $0.contains("listening on chan again after") } }
        try await a.write { c in try c.execute("SELECT pg_notify('chan', 'after')") }
        try await eventually("delivered once it listens again") { got.value.last == "after" }
        // (The reconnect's own "" may come just after its log line, so it is not counted.)
        #expect(got.value.filter { !$0.isEmpty } == ["after"])
    }

    @Test(
        "a listening connection that goes silent (a NAT that forgot it) is asked, found dead and replaced: a re-read, then notifications again"
    )
    func listenerSilent() async throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let (relay, relayedURL) = try db.relayed()
        defer { relay.stop() }
        let relayed = try PostgresDatabase(url: relayedURL)
        defer { relayed.close() }
        let a = try PostgresDatabase(url: db.url)
        defer { a.close() }
        let lines = Locked<[String]>([])
        let logger = Logger(label: "test") { _ in CapturedLog(lines) }
        let got = Locked<[String]>([])
        let l = PostgresListener(
            channel: "chan", configuration: PostgresDatabase.configuration(relayed.configuration, role: "listen"),
            logger: logger, keepaliveS: 0.5, answerWaitS: 1
        ) { p in got.with { $0.append(p) } }
        l.start()
        defer { l.stop() }
        try await eventually("listening") { got.value == [""] }
        try await a.write { c in try c.execute("SELECT pg_notify('chan', 'before')") }
        try await eventually("the first notification") { got.value == ["", "before"] }
        relay.freezeOpen()
        try await a.write { c in try c.execute("SELECT pg_notify('chan', 'lost')") }
        // Before: nothing more, ever (the connection never closed, and nothing came on it).
        try await eventually("a new connection, and a re-read", timeout: 10) { got.value == ["", "before", ""] }
        #expect(lines.value.contains { $0.contains("LISTEN chan: the connection gave no answer in 1 s") }, "\(lines.value)")
        try await a.write { c in try c.execute("SELECT pg_notify('chan', 'after')") }
        try await eventually("notifications on the new connection") { got.value.last == "after" }
    }

    @Test(
        "a statement left unanswered (its connection silent) fails after the statement timeout and drops the connection; at BEGIN the write goes on a new one; migrations may take longer"
    )
    func statementTimeout() async throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let (relay, relayedURL) = try db.relayed()
        defer { relay.stop() }
        let lines = Locked<[String]>([])
        let relayed = try PostgresDatabase(
            url: relayedURL, statementTimeout: 1, logger: Logger(label: "test") { _ in CapturedLog(lines) })
        defer { relayed.close() }
        try await relayed.write { c in
            try c.execute("CREATE TABLE t(v INT)")
            try c.execute("INSERT INTO t VALUES (1)")
        }
        // The writer's connection goes silent while idle (new connections carry). Before: this write waited for ever
        // (here until the thaw below, after 20 s).
        relay.freezeOpen()
        DispatchQueue.global().asyncAfter(deadline: .now() + 20) { relay.thaw() }
        let asked = Date()
        try await relayed.write { c in try c.execute("INSERT INTO t VALUES (2)") }
        let took = Date().timeIntervalSince(asked)
        #expect(took >= 0.9 && took < 8, "the write took \(took) s")
        #expect(
            lines.value.contains {
                $0.contains("no answer within 1 s, so the connection was dropped. Trying once more on a new connection.")
            }, "\(lines.value)")
        // Mid-transaction, a statement that takes longer than the timeout fails as PostgreSQL unavailable (503), and
        // its connection is dropped. Its backend goes on, holding the write lock (PostgreSQL does not notice a client
        // gone while it waits): the next write's new connection ends it first. Before, that write waited on the lock
        // and timed out too, as did every write for the 30 s the backend slept.
        do {
            try await relayed.write { c in try c.execute("SELECT pg_sleep(30)") }
            Issue.record("a 30 s statement with a 1 s timeout succeeded")
        } catch let e as PostgresUnavailable {
            #expect(e.timedOut && e.description.hasSuffix(" gave no answer within 1 s, so the connection was dropped."), "\(e)")
        }
        let next = Date()
        try await relayed.write { c in try c.execute("INSERT INTO t VALUES (3)") }
        #expect(Date().timeIntervalSince(next) < 5, "the next write took \(Date().timeIntervalSince(next)) s")
        #expect(lines.value.contains { $0.contains("whose connection was dropped for a statement timeout") }, "\(lines.value)")
        // Unhurried (migrations): as long as it takes.
        try relayed.writeUnhurried { c in try c.execute("SELECT pg_sleep(1.5)") }
        // Behind another session's write lock: an ordinary write is refused by PostgreSQL itself (lock_timeout, 0.9 s
        // here) as busy, on a connection that stays; a migration waits for the lock as long as it is held.
        db.holdWriteLock(seconds: 3)
        try await Task.sleep(for: .milliseconds(500))
        let queued = Date()
        do {
            try await relayed.write { c in try c.execute("INSERT INTO t VALUES (4)") }
            Issue.record("a write behind a 3 s lock with a 1 s timeout succeeded")
        } catch {
            #expect(StorageFault(error, dataDir: nil)?.kind == .busy, "\(error)")
        }
        #expect(Date().timeIntervalSince(queued) < 1.5, "the refused write took \(Date().timeIntervalSince(queued)) s")
        let migrating = Date()
        try relayed.writeUnhurried { c in try c.execute("INSERT INTO t VALUES (5)") }
        #expect(Date().timeIntervalSince(migrating) > 1, "the migration took \(Date().timeIntervalSince(migrating)) s")
        #expect(try await relayed.read { c in try c.fetchAll("SELECT v FROM t ORDER BY v").map { $0[0] as Int } } == [1, 2, 3, 5])
    }

    @Test("a reader PostgreSQL refuses to open (the database not accepting connections) reads on the writer's connection")
    func readerRefused() async throws {
        let db = try TestPostgres.freshDatabase()
        defer { db.drop() }
        let admin = try #require(TestPostgres.adminURL)
        let a = try PostgresDatabase(url: db.url)
        defer { a.close() }
        try await a.write { c in
            try c.execute("CREATE TABLE t(v INT)")
            try c.execute("INSERT INTO t VALUES (7)")
        }
        try TestPostgres.psql(admin, "ALTER DATABASE \(db.name) ALLOW_CONNECTIONS false")
        defer { _ = try? TestPostgres.psql(admin, "ALTER DATABASE \(db.name) ALLOW_CONNECTIONS true") }
        // Before: 503, "Cannot connect to PostgreSQL …: database … is not currently accepting connections".
        #expect(try await a.read { c in try c.scalar(Int.self, "SELECT v FROM t") } == 7)
    }

    @Test("a killed connection is replaced: the write it broke fails as unavailable, the next write works")
    func killedConnection() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try PostgresDatabase(url: url)
            let b = try PostgresDatabase(url: url)
            defer {
                a.close()
                b.close()
            }
            let pid = try await a.write { c in
                try c.execute("CREATE TABLE t(k BIGINT)")
                return try c.scalar(Int.self, "SELECT pg_backend_pid()")!
            }
            // Killed while idle: the next write notices at BEGIN and reconnects, invisibly.
            #expect(try await b.read { c in try c.scalar(Bool.self, "SELECT pg_terminate_backend(?::int)", [pid]) } == true)
            let pid2 = try await a.write { c in
                try c.execute("INSERT INTO t VALUES (1)")
                return try c.scalar(Int.self, "SELECT pg_backend_pid()")!
            }
            #expect(pid2 != pid)
            // Killed mid-transaction: that write fails as unavailable (503), its row is not kept, the next one works.
            do {
                try await a.write { c in
                    try c.execute("INSERT INTO t VALUES (2)")
                    _ = try b.readNow { c in try c.execute("SELECT pg_terminate_backend(?::int)", [pid2]) }
                    try c.execute("INSERT INTO t VALUES (3)")
                }
                Issue.record("a write on a killed connection succeeded")
            } catch let e as PostgresUnavailable {
                #expect(e.description.hasPrefix("Lost the connection to PostgreSQL at postgres://argus@127.0.0.1:"), "\(e.description)")
                #expect(e.description.hasSuffix(".") && !e.description.contains("\n"), "\(e.description)")
            }
            try await a.write { c in try c.execute("INSERT INTO t VALUES (4)") }
            let ks = try await a.read { c in try c.fetchAll("SELECT k FROM t ORDER BY k").map { $0[0] as Int } }
            #expect(ks == [1, 4])
        }
    }

    @Test("a server that is not there: PostgresUnavailable, one sentence")
    func unavailable() async throws {
        let port = 1  // nothing listens on port 1 here: connection refused at once
        let db = try PostgresDatabase(url: "postgres://argus:x@127.0.0.1:\(port)/db?sslmode=disable")
        do {
            try await db.write { c in try c.execute("SELECT 1") }
            Issue.record("a write without a server succeeded")
        } catch let e as PostgresUnavailable {
            #expect(e.description.hasPrefix("Cannot connect to PostgreSQL at postgres://argus@127.0.0.1:\(port)/db: "))
            #expect(e.description.hasSuffix("/db: Connection refused."), "\(e.description)")
            #expect(e.description.hasSuffix(".") && !e.description.contains("\n"), "\(e.description)")
        }
        #expect(throws: PostgresUnavailable.self) { try db.readNow { c in try c.execute("SELECT 1") } }
    }

    @Test("a wrong password, or sslmode=require against a server without TLS: PostgresUnavailable, one sentence")
    func refusedConnections() async throws {
        try await TestPostgres.withDatabase { url in
            let wrong = url.replacingOccurrences(of: #"://argus:[^@]*@"#, with: "://argus:wrong@", options: .regularExpression)
            let needsTLS = url + "?sslmode=require"
            for (u, expected) in [(wrong, "password authentication failed for user \"argus\""), (needsTLS, "TLS")] {
                let db = try PostgresDatabase(url: u)
                do {
                    try await db.read { c in try c.execute("SELECT 1") }
                    Issue.record("\(u) connected")
                } catch let e as PostgresUnavailable {
                    #expect(e.description.contains(expected), "\(e.description)")
                    #expect(!e.description.contains("wrong") && !e.description.contains("\n"), "\(e.description)")
                }
            }
        }
    }

    @Test("migrations started by three replicas at once run once; migration 1 is SQLite's final schema")
    func migrations() async throws {
        try await TestPostgres.withDatabase { url in
            let replicas = try (0..<3).map { _ in try PostgresDatabase(url: url) }
            defer { replicas.forEach { $0.close() } }
            let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
                for db in replicas { group.addTask { try await offPool { try PostgresSchema.migrate(db) } } }
                return try await group.reduce(into: [[Int]]()) { $0.append($1) }
            }
            #expect(applied.sorted { $0.count > $1.count } == [PostgresSchema.migrations.map(\.version), [], []])
            let recorded = try replicas[0].readNow { c in try c.fetchAll("SELECT version FROM argus_schema") }
            #expect(recorded.map { $0[0] as Int } == PostgresSchema.migrations.map(\.version))

            // Same tables, same columns in the same order, same indexes as SQLite's migrated schema.
            let sqlite = try DatabaseQueue()
            try Schema.migrator.migrate(sqlite)
            let (liteColumns, liteIndexes) = try await sqlite.read { db in
                let tables = try String.fetchAll(
                    db,
                    sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'grdb_%'"
                )
                var columns: [String: [String]] = [:]
                for t in tables { columns[t] = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [t]) }
                let indexes = try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
                return (columns, indexes)
            }
            let (pgColumns, pgIndexes) = try replicas[0].readNow { c in
                var columns: [String: [String]] = [:]
                for r in try c.fetchAll(
                    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'argus_schema' ORDER BY table_name, ordinal_position"
                ) {
                    columns[r[0] as String, default: []].append(r[1] as String)
                }
                let indexes = try c.fetchAll(
                    "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key' ORDER BY indexname"
                ).map { $0[0] as String }
                return (columns, indexes)
            }
            #expect(pgColumns == liteColumns)
            #expect(pgIndexes == liteIndexes)
            // The reserved column name is usable quoted; ids are identities.
            let id = try await replicas[1].write { c in
                try c.execute("INSERT INTO users(name, created_us) VALUES ('alice', 1)")
                try c.execute(
                    #"INSERT INTO batches(id, owner_id, status, "user", last_received_us, created_us) VALUES ('b', 1, 'running', 'alice', 1, 1)"#
                )
                return try c.scalar(
                    Int64.self,
                    "INSERT INTO events(event_id, batch_id, event_type, ts_us, received_us, body) VALUES ('e', 'b', 't', 1, 1, '{}') RETURNING id"
                )
            }
            #expect(id == 1)
            #expect(try PostgresSchema.migrate(replicas[2]) == [])
        }
    }
}

/// Latency and throughput of the primitives, printed as a table: bench/pg.sh runs it (ARGUS_PG_BENCH=1); no
/// assertion on time. Debug build, PostgreSQL on the same 2 cores.
@Suite(
    "PostgreSQL primitives benchmark",
    .enabled(if: ProcessInfo.processInfo.environment["ARGUS_PG_BENCH"] == "1" && TestPostgres.adminURL != nil), .ownThread)
struct PostgresBench {
    static func percentiles(_ xs: [Double]) -> String {
        let s = xs.sorted()
        func p(_ q: Double) -> Double { s[min(s.count - 1, Int(Double(s.count) * q))] * 1000 }
        return String(format: "p50 %6.2f ms  p99 %6.2f ms", p(0.5), p(0.99))
    }

    @Test("write, read, two-replica writes, notify across replicas")
    func table() async throws {
        try await TestPostgres.withDatabase { url in
            let a = try PostgresDatabase(url: url)
            let b = try PostgresDatabase(url: url)
            defer {
                a.close()
                b.close()
            }
            try await a.write { c in
                try c.execute("CREATE TABLE ev(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, body TEXT)")
            }
            var rows: [String] = []
            let n = 500
            var lat: [Double] = []
            var start = Date()
            for i in 0..<n {
                let t = Date()
                try await a.write { c in try c.execute("INSERT INTO ev(body) VALUES (?)", ["event \(i)"]) }
                lat.append(Date().timeIntervalSince(t))
            }
            rows.append(
                String(
                    format: "write txn, 1 INSERT, 1 replica      %@  %6.0f txn/s", Self.percentiles(lat),
                    Double(n) / Date().timeIntervalSince(start)))

            lat = []
            start = Date()
            for i in 0..<n {
                let t = Date()
                _ = try await a.read { c in try c.scalar(String.self, "SELECT body FROM ev WHERE id = ?", [i + 1]) }
                lat.append(Date().timeIntervalSince(t))
            }
            rows.append(
                String(
                    format: "read txn, 1 SELECT                  %@  %6.0f txn/s", Self.percentiles(lat),
                    Double(n) / Date().timeIntervalSince(start)))

            let shared = PostgresDatabaseTests.Locked<[Double]>([])
            start = Date()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for db in [a, b] {
                    for _ in 0..<4 {
                        group.addTask {
                            for _ in 0..<(n / 4) {
                                let t = Date()
                                try await db.write { c in try c.execute("INSERT INTO ev(body) VALUES ('x')") }
                                let d = Date().timeIntervalSince(t)
                                shared.with { $0.append(d) }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            rows.append(
                String(
                    format: "write txn, 2 replicas x 4 callers   %@  %6.0f txn/s", Self.percentiles(shared.value),
                    Double(2 * n) / Date().timeIntervalSince(start)))

            let sent = PostgresDatabaseTests.Locked<[String: Date]>([:])
            let delivered = PostgresDatabaseTests.Locked<[Double]>([])
            let listening = PostgresDatabaseTests.Locked(false)
            a.listen("bench") { p in
                let now = Date()
                if p == "" { listening.with { $0 = true } }
                if let t0 = sent.value[p] { delivered.with { $0.append(now.timeIntervalSince(t0)) } }
            }
            try await eventually("listening") { listening.value }
            for i in 0..<200 {
                let key = "n\(i)"
                sent.with { $0[key] = Date() }
                try await b.write { c in try c.execute("SELECT pg_notify('bench', ?)", [key]) }
            }
            try await eventually("all delivered") { delivered.value.count == 200 }
            rows.append("notify: write start on B → A's callback  \(Self.percentiles(delivered.value))")
            print("\n| PostgreSQL primitive | latency | rate |\n" + rows.joined(separator: "\n"))
        }
    }
}

/// Keeps each log line's level and message, for tests that read what the server logged.
struct CapturedLog: LogHandler {
    let lines: PostgresDatabaseTests.Locked<[String]>
    init(_ lines: PostgresDatabaseTests.Locked<[String]>) { self.lines = lines }
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lines.with { $0.append("\(event.level) \(event.message)") } }
}
