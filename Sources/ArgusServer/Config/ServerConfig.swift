import Foundation

/// Everything the server reads from `ARGUS_*` variables (`variables` below, listed by `serve --help`), parsed strictly:
/// a value that does not parse is an error naming the variable, never a silent default.
public struct ServerConfig: Sendable {
    public var host = "127.0.0.1"
    public var port = 8000
    public var dataDir = "./argus-data"
    public var baseURL: String? = nil
    public var idleJobThresholdMin = 10.0
    public var stallTimeoutMin = 15.0
    public var watchdogIntervalS = 60.0
    /// Whether the watchdog checks for stalls on its own (no variable: off only in tests that move a manual clock and
    /// call `checkStalls` themselves; its deadlines are that clock's, its sleeps real time).
    public var watchdogChecksStalls = true
    public var agentOnlineS = 30.0
    public var retentionLogLineDays = 14.0
    public var retentionSnapshotDays = 7.0
    public var retentionJobEpochDays = 30.0
    public var retentionEventOtherDays = 90.0
    public var retentionSweepMinutes = 60.0
    /// Largest accepted request body; bigger bodies get 413.
    public var maxBodyBytes = 16 * 1024 * 1024
    /// Per-SSE-connection buffer, in published chunks; a subscriber further behind is disconnected.
    public var sseBufferChunks = 256
    /// Open SSE streams per credential (token, share link, session) at most; one more is refused with 429.
    public var maxStreamsPerCredential = 32
    /// Events a second each token may send (a bucket holding 10 seconds' worth); 0 = no limit.
    public var ingestRate = 5000.0
    public var ingestMBRate = 8.0
    /// Actions (stop, rerun, mark failed, share) a second each token may ask for (a bucket of 30 s); 0 = no limit.
    public var actionRate = 1.0
    /// Who may read `GET /metrics`: `loopback` (anyone on this machine, else a token), `token` or `open`.
    public var metricsAccess = "loopback"
    public var sseKeepaliveS = 15.0
    /// A client must finish sending a request's headers within this time; also how long an idle keep-alive
    /// connection stays open.
    public var headerTimeoutS = 10.0
    /// A request's body must arrive in full within this time after its headers.
    public var bodyTimeoutS = 30.0
    /// Open connections at most (SSE streams included); one more is answered 503 at once and closed.
    public var maxConnections = 4096
    /// A request's line and headers together, at most; more is answered 431 and the connection closed.
    public var maxHeaderBytes = 16 * 1024
    /// Whether each group commit waits for fsync (SQLite `synchronous=FULL` in WAL): a 2xx then means the event
    /// is on disk, and survives a power cut. `ARGUS_FSYNC=checkpoint` trades that for speed: a commit then survives
    /// a crash of the process, and reaches the disk at the next checkpoint (a fraction of a second later).
    public var fsyncEachCommit = true
    /// Memory for jobs' epochs kept between reads (`EpochCache`); 0 reads every job whole each time.
    public var epochCacheBytes = 64 << 20
    /// PostgreSQL only: how long a statement may go unanswered before its connection is dropped
    /// (`PostgresDatabase.statementTimeout`).
    public var pgStatementTimeoutS = 30.0

    public init() {}

    /// The longest span any setting, flag or request may name: ten years. Anything longer is a typo (1e13), and
    /// turning it into microseconds or nanoseconds would overflow Int64 and kill the process.
    public static let longestSeconds: Double = 10 * 365 * 86_400

    public struct Variable: Sendable {
        public let name: String
        public let defaultText: String
        public let meaning: String
    }

    /// The documented variables, in the order `serve --help` lists them.
    public static let variables: [Variable] = [
        .init(name: "ARGUS_HOST", defaultText: "127.0.0.1", meaning: "address to listen on"),
        .init(name: "ARGUS_PORT", defaultText: "8000", meaning: "port (0 picks a free one)"),
        .init(
            name: "ARGUS_DATA_DIR", defaultText: "./argus-data",
            meaning: "where the SQLite database lives"),
        .init(
            name: "ARGUS_DATABASE_URL", defaultText: "none: SQLite in the data dir",
            meaning: "a PostgreSQL shared by replicas (postgres://USER:PASS@HOST:PORT/DB)"),
        .init(
            name: "ARGUS_BASE_URL", defaultText: "from the request", meaning: "used to build share URLs"),
        .init(
            name: "ARGUS_IDLE_JOB_THRESHOLD_MIN", defaultText: "10",
            meaning: "idle flag after this many minutes of GPU util < 5% (0 = off)"),
        .init(
            name: "ARGUS_STALL_TIMEOUT_MIN", defaultText: "15",
            meaning: "a running batch silent this long becomes stalled, a stopping one stopped (0 = off)"),
        .init(
            name: "ARGUS_WATCHDOG_INTERVAL_S", defaultText: "60",
            meaning: "how often the stall detector runs (idle is judged on each snapshot)"),
        .init(
            name: "ARGUS_AGENT_ONLINE_S", defaultText: "30",
            meaning: "an agent seen within this many seconds is online"),
        .init(
            name: "ARGUS_RETENTION_LOG_LINE_DAYS", defaultText: "14",
            meaning: "log_line events older than this are purged (0 = keep)"),
        .init(
            name: "ARGUS_RETENTION_SNAPSHOT_DAYS", defaultText: "7",
            meaning: "resource snapshots (0 = keep)"),
        .init(
            name: "ARGUS_RETENTION_JOB_EPOCH_DAYS", defaultText: "30",
            meaning: "job_epoch events (0 = keep)"),
        .init(
            name: "ARGUS_RETENTION_EVENT_OTHER_DAYS", defaultText: "90",
            meaning: "all other raw events (0 = keep)"),
        .init(
            name: "ARGUS_RETENTION_SWEEP_MINUTES", defaultText: "60",
            meaning: "sweep interval; 0 disables the in-process sweeper"),
        .init(
            name: "ARGUS_SSE_KEEPALIVE_S", defaultText: "15",
            meaning: "SSE keepalive comment after this much silence; announced in hello (argus-tui reconnects after 1.5x + 2 s of silence)"),
        .init(
            name: "ARGUS_SSE_BUFFER_CHUNKS", defaultText: "256",
            meaning: "per-connection SSE buffer; a reader further behind is dropped"),
        .init(
            name: "ARGUS_MAX_STREAMS_PER_TOKEN", defaultText: "32",
            meaning:
                "open SSE streams per token or session, 8 times as many per share link, 16 times per user and per user's links (one more gets 429)"
        ),
        .init(
            name: "ARGUS_INGEST_RATE", defaultText: "5000",
            meaning: "events a second per token, 10 s of it saved up (more gets 429 + Retry-After; 0 = off)"),
        .init(
            name: "ARGUS_INGEST_MB_RATE", defaultText: "8",
            meaning: "megabytes of events a second per token, 10 s of it saved up (more gets 429 + Retry-After; 0 = off)"),
        .init(
            name: "ARGUS_ACTION_RATE", defaultText: "1",
            meaning: "stop/rerun/share/mark-failed a second per token, 30 saved up (0 = off)"),
        .init(
            name: "ARGUS_METRICS", defaultText: "loopback",
            meaning: "GET /metrics: loopback (open from this machine, a token from others), token, or open"),
        .init(
            name: "ARGUS_MAX_BODY_MB", defaultText: "16",
            meaning: "largest request body (bigger gets 413, refused before it is read)"),
        .init(
            name: "ARGUS_MAX_HEADER_KB", defaultText: "16",
            meaning: "largest request line and headers together (bigger gets 431 and the connection is closed)"),
        .init(
            name: "ARGUS_HEADER_TIMEOUT_S", defaultText: "10",
            meaning: "time to send a request's headers; also the keep-alive idle limit"),
        .init(
            name: "ARGUS_BODY_TIMEOUT_S", defaultText: "30",
            meaning: "a request's body must arrive within this after its headers"),
        .init(
            name: "ARGUS_MAX_CONNECTIONS", defaultText: "4096",
            meaning: "open connections at most, SSE streams included (one more closes the one idle longest, or, all busy, gets 503)"),
        .init(
            name: "ARGUS_FSYNC", defaultText: "commit",
            meaning: "commit: a 2xx means on disk (fsync per group commit); checkpoint: fsync a moment later"),
        .init(
            name: "ARGUS_EPOCH_CACHE_MB", defaultText: "64",
            meaning: "memory for jobs' epochs kept between reads, so a big job opens fast again (0 = off)"),
        .init(
            name: "ARGUS_PG_STATEMENT_TIMEOUT_S", defaultText: "30",
            meaning:
                "PostgreSQL: a statement unanswered this long drops its connection (a silent network path); the write is retried on a new one, else 503 (a write waiting on another's lock gets its 503 a little sooner)"
        ),
    ]

    public struct ConfigError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Reads the environment. Flags given on the command line are applied afterwards by the caller.
    /// The shortest retention sweep interval taken (minutes): sweeps one after another would keep a core busy.
    static let shortestSweepMinutes = 0.005

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigError) -> ServerConfig
    {
        var c = ServerConfig()
        func text(_ name: String) -> String? {
            guard let v = env[name]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
            return v
        }
        func number(_ name: String, _ target: inout Double, least: Double = 0) throws(ConfigError) {
            guard let v = text(name) else { return }
            let (unit, longest) = durationUnit(of: name)
            // Decimal only: Swift also reads "0x10" as 16.
            guard v.allSatisfy({ "0123456789.eE+-".contains($0) }), let d = Double(v), d.isFinite, d >= least, d <= longest
            else {
                throw ConfigError(
                    description:
                        "\(name) must be a number of \(unit) from \(least.formatted()) to \(Int(longest)) (10 years), got '\(v)'.")
            }
            target = d
        }
        if let v = text("ARGUS_HOST") { c.host = v }
        if let v = text("ARGUS_PORT") {
            guard let p = Int(v), (0...65535).contains(p) else {
                throw ConfigError(
                    description: "ARGUS_PORT must be a port number from 0 to 65535, got '\(v)'.")
            }
            c.port = p
        }
        if let v = text("ARGUS_DATA_DIR") { c.dataDir = ServerConfig.expandingHome(v) }
        if let v = text("ARGUS_BASE_URL") {
            // Share links are this plus /share/<token>: a scheme and a host, maybe a port and a path, nothing else.
            let parts = URLComponents(string: v)
            guard v.hasPrefix("http://") || v.hasPrefix("https://"), let parts, parts.host?.isEmpty == false,
                parts.query == nil, parts.fragment == nil, parts.user == nil, (parts.port ?? 1) <= 65535,
                !v.contains(where: { $0.isWhitespace || $0 == "%" })
            else {
                throw ConfigError(
                    description:
                        "ARGUS_BASE_URL must be an http:// or https:// address with a host and no query (like https://argus.example or http://10.0.0.5:8000), got '\(v)'."
                )
            }
            c.baseURL = String(v.reversed().drop(while: { $0 == "/" }).reversed())
        }
        try number("ARGUS_IDLE_JOB_THRESHOLD_MIN", &c.idleJobThresholdMin)
        try number("ARGUS_STALL_TIMEOUT_MIN", &c.stallTimeoutMin)
        try number("ARGUS_WATCHDOG_INTERVAL_S", &c.watchdogIntervalS)
        try number("ARGUS_AGENT_ONLINE_S", &c.agentOnlineS)
        try number("ARGUS_RETENTION_LOG_LINE_DAYS", &c.retentionLogLineDays)
        try number("ARGUS_RETENTION_SNAPSHOT_DAYS", &c.retentionSnapshotDays)
        try number("ARGUS_RETENTION_JOB_EPOCH_DAYS", &c.retentionJobEpochDays)
        try number("ARGUS_RETENTION_EVENT_OTHER_DAYS", &c.retentionEventOtherDays)
        try number("ARGUS_RETENTION_SWEEP_MINUTES", &c.retentionSweepMinutes)
        // One sweep right after another would keep a core busy.
        if c.retentionSweepMinutes > 0 && c.retentionSweepMinutes < ServerConfig.shortestSweepMinutes {
            throw ConfigError(
                description:
                    "ARGUS_RETENTION_SWEEP_MINUTES must be 0 (no sweeps) or at least \(ServerConfig.shortestSweepMinutes) (0.3 s), got '\(text("ARGUS_RETENTION_SWEEP_MINUTES") ?? "")'."
            )
        }
        for (name, target) in [
            ("ARGUS_INGEST_RATE", \ServerConfig.ingestRate), ("ARGUS_INGEST_MB_RATE", \.ingestMBRate), ("ARGUS_ACTION_RATE", \.actionRate),
        ] {
            guard let v = text(name) else { continue }
            guard let d = Double(v), d.isFinite, d >= 0, d <= 1e9 else {
                throw ConfigError(description: "\(name) must be a number from 0 (no limit) to 1000000000, got '\(v)'.")
            }
            c[keyPath: target] = d
        }
        try number("ARGUS_SSE_KEEPALIVE_S", &c.sseKeepaliveS)
        if c.sseKeepaliveS == 0 {
            throw ConfigError(description: "ARGUS_SSE_KEEPALIVE_S must be greater than 0.")
        }
        for (name, target) in [("ARGUS_HEADER_TIMEOUT_S", \ServerConfig.headerTimeoutS), ("ARGUS_BODY_TIMEOUT_S", \.bodyTimeoutS)] {
            try number(name, &c[keyPath: target])
            if c[keyPath: target] == 0 { throw ConfigError(description: "\(name) must be greater than 0.") }
        }
        // At least a second: under it, an ordinary statement on a loaded server would time out.
        try number("ARGUS_PG_STATEMENT_TIMEOUT_S", &c.pgStatementTimeoutS, least: 1)
        if let v = text("ARGUS_MAX_CONNECTIONS") {
            guard let n = Int(v), n >= 1 else {
                throw ConfigError(description: "ARGUS_MAX_CONNECTIONS must be a whole number of at least 1, got '\(v)'.")
            }
            c.maxConnections = n
        }
        if let v = text("ARGUS_MAX_HEADER_KB") {
            guard let kb = Int(v), (1...1024).contains(kb) else {
                throw ConfigError(description: "ARGUS_MAX_HEADER_KB must be a whole number of kilobytes from 1 to 1024, got '\(v)'.")
            }
            c.maxHeaderBytes = kb * 1024
        }
        if let v = text("ARGUS_EPOCH_CACHE_MB") {
            guard let mb = Int(v), (0...65_536).contains(mb) else {
                throw ConfigError(description: "ARGUS_EPOCH_CACHE_MB must be a whole number of megabytes from 0 to 65536, got '\(v)'.")
            }
            c.epochCacheBytes = mb << 20
        }
        if let v = text("ARGUS_FSYNC") {
            guard ["commit", "checkpoint"].contains(v) else {
                throw ConfigError(description: "ARGUS_FSYNC must be 'commit' or 'checkpoint', got '\(v)'.")
            }
            c.fsyncEachCommit = v == "commit"
        }
        if let v = text("ARGUS_METRICS") {
            guard ["loopback", "token", "open"].contains(v) else {
                throw ConfigError(description: "ARGUS_METRICS must be 'loopback', 'token' or 'open', got '\(v)'.")
            }
            c.metricsAccess = v
        }
        if let v = text("ARGUS_MAX_STREAMS_PER_TOKEN") {
            guard let n = Int(v), n >= 1 else {
                throw ConfigError(
                    description: "ARGUS_MAX_STREAMS_PER_TOKEN must be a whole number of at least 1, got '\(v)'.")
            }
            c.maxStreamsPerCredential = n
        }
        if let v = text("ARGUS_SSE_BUFFER_CHUNKS") {
            guard let n = Int(v), n >= 1 else {
                throw ConfigError(
                    description: "ARGUS_SSE_BUFFER_CHUNKS must be a whole number of at least 1, got '\(v)'.")
            }
            c.sseBufferChunks = n
        }
        if let v = text("ARGUS_MAX_BODY_MB") {
            guard let mb = Double(v), mb > 0, mb <= 1024 else {
                throw ConfigError(
                    description: "ARGUS_MAX_BODY_MB must be a number of megabytes above 0 and at most 1024, got '\(v)'."
                )
            }
            c.maxBodyBytes = Int(mb * 1024 * 1024)
        }
        return c
    }

    /// The unit a duration variable or flag is given in (from its name's suffix) and the most it may say:
    /// `longestSeconds` in that unit.
    public static func durationUnit(of name: String) -> (unit: String, longest: Double) {
        let upper = name.uppercased()
        if upper.hasSuffix("_DAYS") || upper.hasSuffix("-DAYS") { return ("days", longestSeconds / 86_400) }
        if upper.hasSuffix("_MIN") || upper.hasSuffix("_MINUTES") { return ("minutes", longestSeconds / 60) }
        return ("seconds", longestSeconds)
    }

    public var databasePath: String { Self.databasePath(in: dataDir) }

    /// `~` and `~/…` read as a shell would have: a data dir set in a systemd unit or an .env file, where no shell
    /// expands it, would otherwise be a folder named `~` under the working directory.
    /// `~user/…` is that user's home, as a shell reads it.
    public static func expandingHome(_ path: String) -> String {
        guard path.hasPrefix("~") else { return path }
        let name = path.dropFirst().prefix { $0 != "/" }
        let rest = path.dropFirst(1 + name.count)
        let home =
            name.isEmpty
            ? ProcessInfo.processInfo.environment["HOME"]
            : getpwnam(String(name)).flatMap { $0.pointee.pw_dir.map { String(cString: $0) } }
        guard let home, !home.isEmpty else { return path }
        return home + rest
    }

    public static func databasePath(in dataDir: String) -> String {
        (dataDir as NSString).appendingPathComponent("argus.sqlite")
    }
}
