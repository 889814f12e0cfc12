import Foundation

/// The throwaway PostgreSQL cluster the tests use (scripts/test.sh starts it with scripts/pg-cluster.sh and exports
/// its admin URL as ARGUS_TEST_DATABASE_URL). Each test makes a database of its own and drops it.
public enum TestPostgres {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }

    /// The cluster's admin URL (postgres://argus:PASS@127.0.0.1:PORT/postgres), when set.
    public static var adminURL: String? { environment["ARGUS_TEST_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// A new empty database `argus_t_<random>` on the test cluster. Drop it with `drop()`, or use `withDatabase`.
    public static func freshDatabase() throws -> TestDatabase {
        guard let admin = adminURL else {
            throw TestFailure(
                "ARGUS_TEST_DATABASE_URL is not set: run the tests through scripts/test.sh, or start a cluster with "
                    + "`export ARGUS_TEST_DATABASE_URL=$(scripts/pg-cluster.sh start)`.")
        }
        let name = "argus_t_" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try psql(admin, "CREATE DATABASE \(name)")
        return TestDatabase(name: name, url: url(admin, database: name), adminURL: admin)
    }

    /// Runs `body` with the URL of a new database, dropped afterwards (also when `body` throws).
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let db = try freshDatabase()
        do {
            let r = try await body(db.url)
            db.drop()
            return r
        } catch {
            db.drop()
            throw error
        }
    }

    /// Drops the database `name` (its connections closed first); the one at the end of `url` with `drop(url:)`.
    static func drop(_ name: String, admin: String) {
        _ = try? psql(admin, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    public static func drop(url: String) {
        guard let admin = adminURL, let name = databaseName(of: url) else { return }
        drop(name, admin: admin)
    }

    /// The database a postgres:// URL names (its last path part, without the query).
    public static func databaseName(of url: String) -> String? {
        url.split(separator: "/").last.map { String($0.split(separator: "?", omittingEmptySubsequences: false)[0]) }
    }

    /// `admin` with its database name replaced.
    static func url(_ admin: String, database: String) -> String {
        let parts = admin.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var base = String(parts[0])
        let hostStart = base.range(of: "://").map { $0.upperBound } ?? base.startIndex
        if let slash = base[hostStart...].firstIndex(of: "/") { base = String(base[..<slash]) }
        return base + "/" + database + (parts.count > 1 ? "?" + parts[1] : "")
    }

    /// Runs one SQL command through psql against `url`.
    @discardableResult
    public static func psql(_ url: String, _ sql: String) throws -> String {
        let path = ["/usr/bin/psql", "/usr/local/bin/psql"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw TestFailure("psql is not installed (scripts/deps.sh installs postgresql).") }
        let (rc, out, err) = try runTool(path, ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        guard rc == 0 else { throw TestFailure("psql \(sql) failed (\(rc)): \(err)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// One test's database on the test cluster.
public struct TestDatabase: Sendable {
    public let name: String
    /// postgres://argus:PASS@127.0.0.1:PORT/argus_t_…
    public let url: String
    let adminURL: String

    /// Drops the database, closing whatever connections are still open to it.
    public func drop() { TestPostgres.drop(name, admin: adminURL) }
}
