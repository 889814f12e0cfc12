import ArgumentParser
import Foundation

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Move a server's history between databases.", subcommands: [Copy.self])

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a SQLite history (events, summaries, tokens, shares, agents) into PostgreSQL.",
            discussion: """
                Copy into a new, empty database (a target holding another history, or one that servers have written \
                to since the last copy, is refused before anything is written). Ids are kept, so tokens keep working, \
                share links keep opening and clients resume their streams. Summaries and agent commands already in the \
                target are brought up to date, revocations reach it (one there is never undone) and other rows are \
                added, so the copy is safe to run again (after an interruption, or after the SQLite server ran on). It ends by checking that every source row is in the target as it is in the source, \
                table by table. Stop the SQLite server first: what it stores during the copy may be missed (run the \
                copy again to add it).
                """)

        @Option(name: .customLong("from-data-dir"), help: "The SQLite server's data directory.")
        var fromDataDir: String
        @Option(
            name: .customLong("to-database-url"),
            help: ArgumentHelp(
                "The PostgreSQL to copy into (env ARGUS_DATABASE_URL, the one the servers will use; a password on the command line shows in `ps`).",
                discussion: "postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]", valueName: "url"))
        var toDatabaseURL: String?

        func run() async throws {
            guard
                let toDatabaseURL = toDatabaseURL
                    ?? ProcessInfo.processInfo.environment["ARGUS_DATABASE_URL"].flatMap({ $0.isEmpty ? nil : $0 })
            else { throw fail("give --to-database-url or set ARGUS_DATABASE_URL: the PostgreSQL to copy into.") }
            // A URL here is a mistake, and may hold a password: not echoed.
            if fromDataDir.contains("://") || fromDataDir.lowercased().hasPrefix("postgres") || fromDataDir.contains("@") {
                throw fail(
                    "--from-data-dir takes the SQLite server's data directory, not a database URL: the copy goes from SQLite into the PostgreSQL given as --to-database-url."
                )
            }
            do { try DataDirPermissions.check(fromDataDir) } catch { throw fail(error.description) }
            guard FileManager.default.fileExists(atPath: ServerConfig.databasePath(in: fromDataDir)) else {
                throw fail("there is no Argus database in \(fromDataDir) (expected \(ServerConfig.databasePath(in: fromDataDir))).")
            }
            let from: ArgusStore
            let to: ArgusStore
            do {
                from = try ArgusStore(dataDir: fromDataDir)
                to = try ArgusStore(databaseURL: toDatabaseURL)
            } catch { throw fail(error.description) }
            if let pid = ServeLock.servingPID(dataDir: fromDataDir) {
                FileHandle.standardError.write(
                    Data(
                        "argus-server: warning: a server (pid \(pid)) is serving \(fromDataDir): what it stores from now on reaches the target only when the copy runs again; stop it before the last copy.\n"
                            .utf8))
            }
            let started = ContinuousClock.now
            let counts: [DatabaseCopy.Count]
            do {
                counts = try await DatabaseCopy.run(from: from.database, to: to.database, sourceName: fromDataDir) { say($0) }
            } catch let e as DatabaseCopy.Failure {
                throw fail(e.nothingWritten ? "nothing was copied: \(e.description)" : "the copy is incomplete: \(e.description)")
            } catch {
                throw fail("the copy stopped: \(error)")
            }
            let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
            let total = counts.reduce(0) { $0 + $1.source }
            let copied = counts.reduce(0) { $0 + $1.copied }
            say(
                "verified: all \(total) rows of \(counts.count) tables are in \(PostgresURL.redacted(toDatabaseURL)) "
                    + "(\(copied) copied now) in \(String(format: "%.1f", seconds)) s")
        }
    }
}
