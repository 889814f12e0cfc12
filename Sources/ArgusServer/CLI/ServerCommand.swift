import ArgumentParser
import Foundation
import Logging
import Shared

/// `argus-server`: the root command. Each subcommand lives in its own type.
public struct ServerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "argus-server",
        abstract: "Argus: ingest training events, store them (SQLite, or PostgreSQL for replicas), stream them over SSE.",
        discussion: """
            Start a server with `argus-server serve`, mint a token with `argus-server token create --user NAME`, \
            then point a training script (the argus-reporter SDK) or `argus-server simulate` at it.
            """,
        version: ArgusVersion.string,
        subcommands: [
            ServeCommand.self, TokenCommand.self, AgentsCommand.self, RetentionCommand.self, DatabaseCommand.self,
            SimulateCommand.self,
        ])

    public init() {}
}

/// Prints one sentence to stderr and exits non-zero: how every command reports a failure.
/// One line on stderr beside a command's output: what it did that the user may not have meant.
func note(_ sentence: String) {
    FileHandle.standardError.write(Data("argus-server: \(sentence)\n".utf8))
}

func fail(_ sentence: String, code: Int32 = 1) -> ExitCode {
    FileHandle.standardError.write(Data("argus-server: \(sentence)\n".utf8))
    return ExitCode(code)
}

/// Prints a line to stdout and flushes it at once (scripts wait for these lines).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

func dataDirDefault() -> String {
    ProcessInfo.processInfo.environment["ARGUS_DATA_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        ?? "./argus-data"
}

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the server.",
        discussion: "Environment (a value that does not parse is a startup error):\n"
            + ServerConfig.variables.map { "  \($0.name) (default \($0.defaultText))\n" + indented($0.meaning) }
            .joined(separator: "\n"))

    /// `text` word-wrapped within 80 columns under a 6-column indent (left to the help printer, its continuation
    /// lines would start at column 0).
    static func indented(_ text: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty, 6 + line.count + 1 + word.count > 78 {
                lines.append(line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(line) }
        return lines.map { "      " + $0 }.joined(separator: "\n")
    }

    @Option(help: "Address to listen on (env ARGUS_HOST, default 127.0.0.1).") var host: String?
    @Option(parsing: .unconditional, help: "Port to listen on; 0 picks a free one (env ARGUS_PORT, default 8000).") var port: Int?
    @OptionGroup var database: DatabaseOptions
    @Option(
        name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        var config: ServerConfig
        do { config = try ServerConfig.fromEnvironment() } catch { throw fail(error.description) }
        if let host {
            guard !host.trimmed().isEmpty else {
                throw fail("--host must be an address or a name (127.0.0.1 for this machine only, 0.0.0.0 for every interface).")
            }
            config.host = host.trimmed()
        }
        if let port {
            guard (0...65535).contains(port) else {
                throw fail("--port must be from 0 to 65535, got \(port).")
            }
            config.port = port
        }
        if database.dataDir != nil { config.dataDir = database.dir }
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw fail("--log-level '\(logLevel)' is not a log level.")
        }
        var logger = Logger(label: "argus-server")
        logger.logLevel = level
        let store = try database.open(create: true, forServer: config)
        for warning in store.startupWarnings { logger.warning("\(warning)") }
        if let warning = raiseOpenFileLimit(toHold: config.maxConnections) { logger.warning("\(warning)") }
        let services = ArgusServices(config: config, store: store, logger: logger)
        let host = config.host.contains(":") ? "[\(config.host)]" : config.host
        let place = database.describe
        let app = buildApplication(services, logger: logger) { port in
            say("argus-server listening on http://\(host):\(port) (\(place))")
        }
        do {
            try await app.runService()
            store.close()
            let aside = store.setAsideOrphanedFiles()
            if !aside.isEmpty {
                logger.warning(
                    "The database file was replaced while the server ran; its old -wal and -shm were set aside: \(aside.joined(separator: ", "))."
                )
            }
        } catch {
            let text = "\(error)"
            if text.contains("Address already in use") {
                throw fail("cannot listen on \(config.host):\(config.port): the address is already in use.")
            }
            if text.contains("Permission denied") || text.contains("errno: 13") {
                throw fail("cannot listen on \(config.host):\(config.port): permission denied.")
            }
            if text.contains("Cannot assign requested address") || text.contains("errno: 99") {
                throw fail("cannot listen on \(config.host):\(config.port): no network interface of this machine has that address.")
            }
            if text.contains("UnknownHost") || text.contains("Name or service not known") {
                throw fail("cannot listen on \(config.host): it is neither an address nor a name this machine can resolve.")
            }
            throw fail("the server stopped: \(text)")
        }
    }
}

/// Lifts the soft limit on open files to the hard one, as servers do (the soft default, often 1024, would refuse
/// connections long before ARGUS_MAX_CONNECTIONS). Returns a warning when even the hard limit is too low.
func raiseOpenFileLimit(toHold connections: Int) -> String? {
    var r = rlimit()
    guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return nil }
    if r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &r)
    }
    // The database, its WAL and readers, the listener and the log take a few dozen more.
    guard r.rlim_cur < rlim_t(connections + 64) else { return nil }
    return "The open-file limit (\(r.rlim_cur)) is below ARGUS_MAX_CONNECTIONS (\(connections)) plus the server's own files;"
        + " connections beyond it fail to be accepted: raise `ulimit -n` or lower ARGUS_MAX_CONNECTIONS."
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke API tokens; take admin from a user.",
        subcommands: [Create.self, List.self, Revoke.self, Demote.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create user NAME if missing and print a new token for it (only the token, on stdout).")
        @OptionGroup var dir: DatabaseOptions
        @Option(help: "The user the token acts as.") var user: String
        @Option(help: "reporter (send events and read) or viewer (read only).") var scope: String =
            "reporter"
        @Flag(help: "Make the user an admin (sees and acts on every batch).") var admin = false
        @Flag(
            name: .customLong("init"),
            help: "Create the data directory and database if there is none yet (to mint tokens before the first start).")
        var initialize = false

        func validate() throws {
            guard TokenScope(rawValue: scope) != nil else {
                throw ValidationError("--scope must be reporter or viewer, got '\(scope)'.")
            }
            guard !user.trimmingCharacters(in: .whitespaces).isEmpty, user.count <= 128 else {
                throw ValidationError("--user must be a name of 1 to 128 characters.")
            }
            // Shown in listings, on the web page and in 409s: printable text only, as host names are.
            guard !user.unicodeScalars.contains(where: TerminalText.isHidden) else {
                throw ValidationError("--user must be printable text, without control, bidi or invisible characters.")
            }
        }

        func run() throws {
            let store = try dir.open(create: initialize, offerInit: true)
            do {
                // One spelling per name (NFC, as ids): "é" typed as one character or as e and an accent is one user.
                let name = IDEncoding.canonical(user)
                let minted = try store.createToken(user: name, scope: TokenScope(rawValue: scope)!, admin: admin)
                print(minted.secret)
                // Being an admin belongs to the user, not to one token: say so when it is not what was just asked.
                let shown = TerminalText.printable(name)
                // What an admin's token may do: a viewer token of an admin still only reads.
                let reach = scope == TokenScope.viewer.rawValue ? "sees every batch (it only reads)" : "sees and acts on every batch"
                if minted.promoted {
                    let others =
                        switch minted.otherTokens {
                        case 0: ""
                        case 1: "; so does their other token"
                        case let n: "; so do their \(n) other tokens"
                        }
                    note("\(shown) is now an admin: this token \(reach)\(others) (their viewer tokens only read).")
                } else if minted.wasAdmin, !admin {
                    note("\(shown) is an admin, so this token too \(reach).")
                }
            } catch { throw fail("could not create the token: \(error)") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (no secrets).")
        @OptionGroup var dir: DatabaseOptions

        func run() throws {
            let rows: [TokenInfo]
            do { rows = try dir.open().listTokens() } catch let e as ExitCode { throw e } catch {
                throw fail("\(error)")
            }
            printTable(
                ["ID", "USER", "SCOPE", "ADMIN", "PREFIX", "CREATED", "STATE"],
                rows.map { t in
                    [
                        String(t.id), t.user, t.scope, t.isAdmin ? "yes" : "no", t.prefix + "…", t.createdAt,
                        t.revoked ? "revoked" : "active",
                    ]
                })
        }
    }

    struct Demote: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take admin from a user (`token create --admin` gave it); their tokens keep working, on their own batches.")
        @OptionGroup var dir: DatabaseOptions
        @Option(help: "The user who is no longer an admin.") var user: String

        func run() throws {
            let name = IDEncoding.canonical(user)
            let shown = TerminalText.printable(name)
            let outcome: ArgusStore.Demotion
            do { outcome = try dir.open().demote(user: name) } catch let e as ExitCode { throw e } catch {
                throw fail("\(error)")
            }
            switch outcome {
            case .noSuchUser: throw fail("there is no user '\(shown)' (see `argus-server token list`).")
            case .notAnAdmin: print("\(shown) is not an admin; nothing changed.")
            case .demoted(let n):
                print(
                    "\(shown) is no longer an admin: \(n == 1 ? "their token sees" : "their \(n) tokens see") and \(n == 1 ? "acts" : "act") on their own batches only (within 2 s on a running server)."
                )
            }
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token by its id (see `token list`); the agents it registered stop working too.")
        @OptionGroup var dir: DatabaseOptions
        @Argument(help: "The token id.") var id: Int64

        func run() throws {
            let done: Bool
            do { done = try dir.open().revokeToken(id: id) } catch let e as ExitCode { throw e } catch {
                throw fail("\(error)")
            }
            guard done else { throw fail("there is no active token with id \(id).") }
            print("revoked token \(id)")
        }
    }
}

struct AgentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent", abstract: "List and revoke argus-agents (revoking the token that registered one stops it too).",
        subcommands: [List.self, Revoke.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List registered agents (no secrets).")
        @OptionGroup var dir: DatabaseOptions

        func run() throws {
            let rows: [AgentInfo]
            do { rows = try dir.open().listAgents() } catch let e as ExitCode { throw e } catch {
                throw fail("\(error)")
            }
            printTable(
                ["ID", "HOST", "USER", "TOKEN", "LAST SEEN", "STATE"],
                rows.map { a in
                    [
                        String(a.id), a.hostname, a.user, a.tokenID.map(String.init) ?? "-", a.lastSeenAt,
                        a.revoked ?? "active",
                    ]
                })
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke an agent by its id (see `agent list`): within a second the server refuses it with 401.")
        @OptionGroup var dir: DatabaseOptions
        @Argument(help: "The agent id.") var id: Int64

        func run() throws {
            let done: Bool
            do { done = try dir.open().revokeAgent(id: id) } catch let e as ExitCode { throw e } catch {
                throw fail("\(error)")
            }
            guard done else { throw fail("there is no active agent with id \(id).") }
            print("revoked agent \(id)")
        }
    }
}

/// A listing for the terminal: each column as wide as its widest cell, up to `maxWidth` (longer cells end in "…"), and
/// every cell printable (`TerminalText`: a hostname or user name cannot move the cursor or fake a row).
func printTable(_ header: [String], _ rows: [[String]], maxWidth: Int = 40) {
    let cells = ([header] + rows).map { row in
        row.map { cell -> String in
            let text = TerminalText.printable(cell)
            return text.count > maxWidth ? String(text.prefix(maxWidth - 1)) + "…" : text
        }
    }
    let widths = header.indices.map { k in cells.map { $0[k].count }.max() ?? 0 }
    for row in cells {
        let padded = row.enumerated().map { k, cell in
            k == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[k] - cell.count)
        }
        print(padded.joined(separator: "  "))
    }
}
