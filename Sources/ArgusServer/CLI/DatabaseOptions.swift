import ArgumentParser
import Foundation

/// Where the database is, for every command that opens it (`serve`, `token …`, `retention sweep`): a PostgreSQL shared
/// by replicas when `--database-url` (or ARGUS_DATABASE_URL) names one, otherwise SQLite in `--data-dir`.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "Where the SQLite database lives (env ARGUS_DATA_DIR, default ./argus-data).")
    var dataDir: String?
    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "A PostgreSQL shared by replicas instead of SQLite (env ARGUS_DATABASE_URL).",
            discussion: "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|allow|prefer|require|verify-ca|verify-full]",
            valueName: "url"))
    var databaseURL: String?

    /// The PostgreSQL URL, if any: the flag, else ARGUS_DATABASE_URL — unless `--data-dir` was given: a flag on the
    /// command line beats a variable set long ago in the environment.
    var url: String? {
        if let databaseURL { return databaseURL }
        if dataDir != nil { return nil }
        return ProcessInfo.processInfo.environment["ARGUS_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    var dir: String { ServerConfig.expandingHome(dataDir ?? dataDirDefault()) }

    func validate() throws {
        if dataDir != nil, databaseURL != nil {
            throw ValidationError("Give either --data-dir (SQLite) or --database-url (PostgreSQL), not both.")
        }
    }

    /// What the server's first line says about where it keeps its data (the password left out).
    var describe: String { url.map { "database \(PostgresURL.redacted($0))" } ?? "data dir \(dir)" }

    /// Opens the database. A missing SQLite database is an error unless `create`: a mistyped or forgotten
    /// --data-dir would otherwise make a fresh empty database and print a token the running server rejects.
    /// `offerInit`: the command has --init, so the error mentions it.
    func open(create: Bool = false, offerInit: Bool = false, forServer config: ServerConfig? = nil) throws -> ArgusStore {
        if let url {
            let store: ArgusStore
            do {
                store = try ArgusStore(
                    databaseURL: url, create: create || config != nil, offerInit: offerInit,
                    statementTimeout: (config ?? ServerConfig()).pgStatementTimeoutS)
            } catch {
                throw fail(error.description)
            }
            // Every command, not only `serve`: a token made in a half-copied database would make the copy refuse it for
            // good (it holds a user the source does not).
            if let pg = store.database as? PostgresDatabase,
                let why = try? pg.readNow({ try DatabaseCopy.unfinished($0) })
            {
                throw fail(why)
            }
            return store
        }
        // Another user's dir or database, a file where the dir should be: said as such, not as a missing database.
        do { try DataDirPermissions.check(dir) } catch { throw fail(error.description) }
        guard create || FileManager.default.fileExists(atPath: ServerConfig.databasePath(in: dir)) else {
            throw fail(
                "no Argus database in \(dir): start `argus-server serve --data-dir \(dir)` first"
                    + (offerInit ? " (or pass --init to create one)." : "."))
        }
        do throws(ArgusStore.OpenError) {
            if let config {
                // The lock comes before the store opens: a second server (perhaps a newer version) must not migrate
                // or backfill the database under the one serving it, nor two started at once on a new dir both
                // create its tables. So the dir is made first, and its (empty) database file once the dir is ours.
                try DataDirPermissions.makeDirectory(dir)
                try ServeLock.acquire(dataDir: dir)
                do throws(ArgusStore.OpenError) {
                    _ = try DataDirPermissions.prepare(dir)
                    try ServeLock.lockDatabase(dataDir: dir)
                    return try ArgusStore(dataDir: dir, backgroundCheckpoints: true, fsyncEachCommit: config.fsyncEachCommit)
                } catch {
                    // The dir's lock is ours, and nothing will serve here: its lock file goes.
                    ServeLock.release(dataDir: dir)
                    throw error
                }
            }
            return try ArgusStore(dataDir: dir)
        } catch { throw fail(error.description) }
    }
}

extension PostgresURL {
    /// `text` as the user may see it: without the password (or a placeholder when it does not parse).
    static func redacted(_ text: String) -> String { (try? PostgresURL(text).redacted) ?? "the given URL" }
}
