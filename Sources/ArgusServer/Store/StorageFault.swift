import Foundation
import GRDB
import Shared
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Why the database cannot be written (or opened), in the words a user gets. The one place where SQLite's
/// disk errors (SQLITE_FULL, SQLITE_READONLY, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_BUSY past the busy timeout, and a
/// damaged file: SQLITE_CORRUPT, SQLITE_NOTADB) become a sentence: the HTTP layer answers them with 503 and `Retry-After` (`APIError.storage`), `/health` reports
/// the last one until a write succeeds again, and startup says it in one line.
///
/// SQLite's code alone can mislead: a full disk met while growing the `-shm` file is an I/O error, and a file system
/// gone read-only under a running server answers writes with I/O errors too. So the data directory's file system
/// is asked first (read-only flag, free space), and the code decides only when the file system looks fine.
struct StorageFault: Error, Sendable, Equatable, CustomStringConvertible {
    enum Kind: String, Sendable {
        case full, readOnly, ioError, cannotOpen, busy
        /// The data directory can be written, but a database file in it cannot, by this user (another user's file).
        case fileNotWritable
        /// The database file is damaged (SQLite finds a malformed page). It does not heal (`heals`).
        case corrupt
        /// The file at the database's path is no longer the one the server opened: deleted, or another moved there
        /// (`DatabaseFileIdentity`). Commits would go to a file nobody will open again. It does not heal either.
        case replaced
        /// PostgreSQL cannot be reached, or dropped the connection.
        case unreachable
        /// PostgreSQL refuses new connections: all its `max_connections` slots are taken.
        case noConnectionSlots
        /// PostgreSQL gave no answer to a statement within `ARGUS_PG_STATEMENT_TIMEOUT_S` (a silent network path, or a
        /// server too slow to answer). A write held that long behind another's lock is `busy`: PostgreSQL says so
        /// itself (`PostgresDatabase.lockTimeoutMs`).
        case unanswered
        /// Under `fullBelowBytes` free, though writes may still work (small commits fit in the WAL file's room):
        /// `/health` and the live streams say so rather than flap with each write (`ArgusStore.writeFault`).
        case lowSpace
    }

    let kind: Kind

    /// Whether a later successful write ends the fault. A damaged file does not heal: once met, `/health` says so and
    /// every write is refused until the server is restarted on a repaired or restored file (a write or a test commit
    /// that misses the bad pages proves nothing).
    var heals: Bool { kind != .corrupt && kind != .replaced }
    /// Whether the failed write is known to have stored nothing. Not after an I/O error: one met while flushing the
    /// commit to disk (fsync) leaves it unknown whether the commit reached the disk; a restart may find it there.
    let nothingStored: Bool

    /// How long a client should wait before trying again (`Retry-After`, seconds).
    static let retryAfterS = 10

    /// How often at most the server tries a write again after one failed, to see whether the database heals
    /// (`ArgusStore.writeFault`).
    static let healProbeEveryS: Double = 2

    /// The SQLite error as a fault, or nil when it is not about the disk (a bug, a constraint: those stay 500s).
    init?(_ error: any Error, dataDir: String?) {
        if let f = error as? StorageFault {
            self = f
            return
        }
        // PostgreSQL: gone (the connection may have dropped during COMMIT: stored or not, nobody can say), or a
        // refusal about its disk or its role rather than about the request.
        if let e = error as? PostgresUnavailable {
            // No slot: refused at connect, so nothing was sent and nothing stored.
            self =
                e.sqlState == PostgresDatabase.noSlotLeft
                ? StorageFault(.noConnectionSlots)
                : StorageFault(e.timedOut ? .unanswered : .unreachable, nothingStored: e.beforeBody)
            return
        }
        if let e = error as? PostgresSQLError {
            switch e.sqlState {
            case "53100": self = StorageFault(.full)
            case PostgresDatabase.noSlotLeft: self = StorageFault(.noConnectionSlots)
            case "25006": self = StorageFault(.readOnly)
            case "55P03", "40P01", "57014": self = StorageFault(.busy)
            case let s where s.hasPrefix("57P") || s.hasPrefix("08"): self = StorageFault(.unreachable, nothingStored: false)
            default: return nil
            }
            return
        }
        guard let e = error as? DatabaseError else { return nil }
        let code = e.resultCode
        if code == .SQLITE_CORRUPT || code == .SQLITE_NOTADB {
            // Met while reading a page, before the commit: the transaction is rolled back.
            self = StorageFault(.corrupt)
            return
        }
        guard [.SQLITE_FULL, .SQLITE_READONLY, .SQLITE_IOERR, .SQLITE_CANTOPEN, .SQLITE_BUSY].contains(code) else {
            return nil
        }
        // SQLite refuses with FULL, READONLY, CANTOPEN and BUSY before it writes the commit frame.
        nothingStored = code != .SQLITE_IOERR
        if code == .SQLITE_BUSY {
            kind = .busy
            return
        }
        let fs = dataDir.flatMap(StorageFault.fileSystem(of:))
        if fs?.readOnly == true {
            kind = .readOnly
        } else if code == .SQLITE_FULL || (fs?.freeBytes ?? .max) < StorageFault.fullBelowBytes {
            kind = .full
        } else {
            switch code {
            case .SQLITE_READONLY where dataDir.map(StorageFault.hasUnwritableFile(in:)) == true: kind = .fileNotWritable
            case .SQLITE_READONLY: kind = .readOnly
            case .SQLITE_CANTOPEN: kind = .cannotOpen
            default: kind = .ioError
            }
        }
    }

    init(_ kind: Kind, nothingStored: Bool = true) {
        self.kind = kind
        self.nothingStored = nothingStored
    }

    /// What is wrong, as the end of "The server cannot write to its database: …".
    var reason: String {
        switch kind {
        case .full: return "the disk is full"
        case .readOnly: return "its data directory is read-only"
        case .fileNotWritable:
            return "its database files cannot be written by this user (uid \(getuid())): check their owner and mode"
        case .ioError: return "the disk reports an I/O error"
        case .cannotOpen: return "its files in the data directory cannot be opened"
        case .busy: return "another process holds the database's write lock"
        case .corrupt:
            return "its database file is damaged (SQLite finds it malformed; restore the data directory from a backup)"
        case .replaced:
            return "its database file was deleted or replaced while the server ran (the server still holds the old one open: "
                + "copy it back from /proc/\(getpid())/fd before restarting if that was a mistake; its -wal and -shm are set aside "
                + "as *.orphaned-TIME, so a restart opens the file now there as it is)"
        case .unreachable: return "its PostgreSQL cannot be reached"
        case .noConnectionSlots: return "its PostgreSQL has no connection slot left (raise max_connections)"
        case .unanswered:
            return "its PostgreSQL gave no answer within ARGUS_PG_STATEMENT_TIMEOUT_S (a silent network path, or a server "
                + "too slow to answer)"
        case .lowSpace: return "the disk is nearly full (under \(StorageFault.fullBelowBytes / 1024) KB free)"
        }
    }

    /// What a person at the command line can do about it, as a clause ("; free …"), or "" when there is nothing plain.
    func advice(dataDir: String?) -> String {
        switch kind {
        case .full, .lowSpace:
            return "; free some space on the disk that holds \(dataDir ?? "the database") (even deleting old events needs a "
                + "little room), then run this again"
        case .readOnly: return "; remount it read-write, or move the data directory, then run this again"
        default: return ""
        }
    }

    /// The 503 `detail` of a request that needed to write. Each request's writes are one transaction (or, for an
    /// action, the failed write was its first), so when the write stored nothing, nothing of the request was stored.
    var requestDetail: String {
        "The server cannot write to its database: \(reason)"
            + (nothingStored
                ? "; nothing from this request was stored." : ", so this request may or may not have been stored.")
    }

    /// The 503 `detail` of a request that only reads.
    var readDetail: String { "The server cannot read its database right now: \(reason)." }

    /// The 503 `detail` of a live stream asked for meanwhile.
    var streamDetail: String {
        kind == .lowSpace
            ? "The server's disk is nearly full (under \(StorageFault.fullBelowBytes / 1024) KB free): live updates wait until there is room."
            : "The server cannot store new events right now: \(reason)."
    }

    /// `/health`'s `detail`.
    var healthDetail: String {
        if !heals { return "The server cannot use its database: \(reason)." }
        if kind == .lowSpace {
            return
                "The disk that holds the database is nearly full (under \(StorageFault.fullBelowBytes / 1024) KB free): writes may fail at any moment, and live streams wait until there is room."
        }
        return "The server cannot write to its database: \(reason); reads still work, and writes are tried again as they come."
    }

    /// For the log (a background task has no request to speak of).
    var description: String { "The server cannot write to its database: \(reason)." }

    /// Whether `dir` can be written but one of the database's files in it cannot (a file left by another user).
    static func hasUnwritableFile(in dir: String) -> Bool {
        guard access(dir, W_OK) == 0 else { return false }
        return DataDirPermissions.files(ofDatabase: ServerConfig.databasePath(in: dir)).contains { file in
            access(file, F_OK) == 0 && access(file, W_OK) != 0
        }
    }

    /// Free space below which a disk counts as full: a 500-event commit needs more.
    static let fullBelowBytes: UInt64 = 256 * 1024

    /// The file system holding `dir`: whether it is mounted read-only, and the bytes an unprivileged writer may use.
    static func fileSystem(of dir: String) -> (readOnly: Bool, freeBytes: UInt64)? {
        var s = statvfs()
        guard statvfs(dir, &s) == 0 else { return nil }
        return ((s.f_flag & UInt(ST_RDONLY)) != 0, UInt64(s.f_bavail) * UInt64(s.f_frsize))
    }
}

/// Which file the server opened as its database (SQLite): its device and inode. A file deleted, or replaced by a
/// rename, under a running server keeps taking commits through the open descriptors, so every 2xx after that would
/// be lost at the next start; each write and `/health` compare the path's file with this (one `stat`).
struct DatabaseFileIdentity: Sendable {
    struct FileID: Sendable, Equatable {
        let device: UInt64
        let inode: UInt64

        init?(_ path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
        }
    }

    let path: String
    let file: FileID
    /// The `-wal` and `-shm` the server's connections opened beside it (SQLite keeps them while any is open).
    let companions: [(path: String, file: FileID)]

    /// Taken once the database is open (its `-wal` and `-shm` exist then).
    init?(path: String) {
        guard let file = FileID(path) else { return nil }
        self.path = path
        self.file = file
        companions = DataDirPermissions.files(ofDatabase: path).dropFirst().compactMap { p in FileID(p).map { (p, $0) } }
    }

    /// Whether the path still names the file that was opened.
    var isStillThere: Bool { FileID(path) == file }

    /// Renames the `-wal` and `-shm` that belong to the opened file, when they are still at their paths, to
    /// `NAME.orphaned-TIME`: left there, the next start would apply the old file's WAL to the file now at the path
    /// (a restored backup) and corrupt it. Returns the new paths.
    func setAsideCompanions() -> [String] {
        guard !isStillThere else { return [] }
        let stamp = Timestamp.now().iso.filter { $0.isNumber }
        return companions.compactMap { c in
            guard FileID(c.path) == c.file else { return nil }
            let aside = "\(c.path).orphaned-\(stamp)"
            return rename(c.path, aside) == 0 ? aside : nil
        }
    }
}

/// The state of writes, for `/health`: the fault the last write met, until a write succeeds again.
final class WriteHealth: Sendable {
    private struct State {
        var fault: StorageFault?
        var lastFailureUs: Int64 = 0
    }

    private let state = Mutex(State())

    /// The fault of the last write, if it failed; and when.
    var current: (fault: StorageFault, atUs: Int64)? {
        state.withLock { s in s.fault.map { ($0, s.lastFailureUs) } }
    }

    /// Records a failed write; true when writes were working until now (the caller logs the change once).
    func failed(_ fault: StorageFault, atUs: Int64) -> Bool {
        state.withLock { s in
            let wasWorking = s.fault == nil
            s.fault = fault
            s.lastFailureUs = atUs
            return wasWorking
        }
    }

    /// Records a successful write; returns the fault that just ended, if any (the caller logs the recovery once). A
    /// damaged file does not end with a write that happened to miss its bad pages.
    func succeeded() -> StorageFault? {
        state.withLock { s in
            guard s.fault?.heals != false else { return nil }
            defer { s.fault = nil }
            return s.fault
        }
    }
}

/// The database gave no answer to `ArgusStore.ping()` in time: a PostgreSQL that hangs, or a network cut that sends
/// no reset.
struct DatabaseSilent: Error, CustomStringConvertible {
    let waitedS: Double
    var description: String { "no reply within \(Int(waitedS)) s" }
}
