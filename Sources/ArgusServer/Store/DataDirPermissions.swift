import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The database holds every user's logs and commands: on a shared GPU box no other local user may read it.
/// The data dir is created 0700 and the database files 0600 whatever the process umask; SQLite gives its -wal and
/// -shm files the database file's mode, so creating that file first with 0600 covers them too.
enum DataDirPermissions {
    /// The database file (`ServerConfig.databasePath`) and the -wal and -shm SQLite keeps beside it.
    static func files(ofDatabase db: String) -> [String] { [db, db + "-wal", db + "-shm"] }

    /// Refuses, in one sentence, a data dir this user cannot use: a file or a dangling link where the dir should be,
    /// another user's directory or database (SQLite would call the database read-only, a dir this user cannot enter
    /// would look empty, and SQLite would leave a -wal and -shm of this user's in it). A dir that does not exist yet
    /// passes; `makeDirectory` says why it cannot be made.
    static func check(_ dataDir: String) throws(ArgusStore.OpenError) {
        func refuse(_ why: String) -> ArgusStore.OpenError {
            ArgusStore.OpenError(description: "Cannot use the data directory \(dataDir): \(why)")
        }
        guard !dataDir.isEmpty else {
            throw ArgusStore.OpenError(description: "The data directory's path is empty: name a directory (--data-dir).")
        }
        var st = stat()
        if let dangling = danglingLink(dataDir) { throw refuse("it is \(dangling).") }
        guard stat(dataDir, &st) == 0 else {
            // A dir above it that this user cannot enter, or a file on the way: said, not taken for a missing dir.
            if let why = blocked(dataDir) { throw refuse(why) }
            return
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw refuse("it is a file, not a directory.") }
        if access(dataDir, W_OK | X_OK) != 0 && errno == EACCES { throw refuse(notWritable(dataDir, named: "it")) }
        // Another (non-root) user's dir that this user may write: its owner could swap or read what the server
        // keeps there. (root runs on any dir: an operator's `sudo argus-server token create` on the service's.)
        if let owner = otherOwner(st) {
            throw refuse("it belongs to \(owner), who could read or replace what the server keeps in it; use a --data-dir of your own.")
        }
        let db = ServerConfig.databasePath(in: dataDir)
        func refuseDatabase(_ why: String) -> ArgusStore.OpenError {
            ArgusStore.OpenError(description: "Cannot use the database \(db): \(why)")
        }
        if let dangling = danglingLink(db) { throw refuseDatabase("it is \(dangling).") }
        if stat(db, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR { throw refuseDatabase("it is a directory, not a file.") }
        // The database, or a -wal or -shm another user's run left beside it (SQLite would open the database, then
        // fail to write).
        for path in files(ofDatabase: db) + [db + "-journal"] where lstat(path, &st) == 0 {
            let side = path != db
            let what = side ? "database's \(path.dropFirst(db.count)) file" : "database"
            func refuse(_ why: String) -> ArgusStore.OpenError {
                ArgusStore.OpenError(description: "Cannot use the \(what) \(path): \(why)")
            }
            // A -wal, -shm or -journal left by another user (one planted 0666 before the first start, say), or a link in
            // its place: SQLite would write every log line and command into a file someone else reads, or through the
            // link, or fail on it half way. Running as its owner would not help (the database is not theirs): it goes.
            let delete = side ? "delete it, or " : ""
            if side, (st.st_mode & S_IFMT) == S_IFLNK {
                let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
                throw refuse(
                    "it is a symbolic link to \(target), which the server would write through; \(delete)use a --data-dir of your own.")
            }
            let unwritable = access(path, R_OK | W_OK) != 0 && errno == EACCES
            // The database itself, if this user cannot write it, is its owner's to run (`notWritable` says so).
            if let owner = otherOwner(st), side || !unwritable {
                throw refuse("it belongs to \(owner), who could read what the server writes to it; \(delete)use a --data-dir of your own.")
            }
            if unwritable { throw refuse(notWritable(path, named: "it")) }
        }
    }

    /// "bob (mode 777)" when `st` is another user's, and this process is not root's; else nil.
    static func otherOwner(_ st: stat) -> String? {
        guard geteuid() != 0, st.st_uid != geteuid(), st.st_uid != 0 else { return nil }
        return "\(userName(st.st_uid)) (mode \(String(format: "%03o", st.st_mode & 0o7777)))"
    }

    /// "a symbolic link to T, which does not exist" (or "…, which loops back to itself") when `path` is one.
    static func danglingLink(_ path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK, stat(path, &st) != 0 else { return nil }
        let loops = errno == ELOOP
        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
        return "a symbolic link to \(target), which " + (loops ? "loops back to itself" : "does not exist")
    }

    /// What stops the way to `path`, as the end of a sentence: the first directory on it that this user cannot
    /// enter, or the first thing on it that is not a directory (a file, a dangling link, a loop). Nil when nothing
    /// does (the rest is only missing).
    static func blocked(_ path: String) -> String? {
        var st = stat()
        for level in levels(path).dropLast() {
            if stat(level, &st) != 0 { return danglingLink(level).map { "\(level) is \($0)." } }
            if (st.st_mode & S_IFMT) != S_IFDIR { return "\(level) is not a directory." }
            if access(level, X_OK) != 0 { return notWritable(level, named: level, doing: "enter") }
        }
        return nil
    }

    /// `path` made absolute, and each directory from the top down to it: "/a", "/a/b", … (a "." is dropped).
    static func levels(_ path: String) -> [String] {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let parts = absolute.split(separator: "/").filter { $0 != "." }
        return parts.indices.map { "/" + parts[...$0].joined(separator: "/") }
    }

    /// Creates the data dir, 0700, when it is missing (and the dirs above it, as `mkdir -p` would).
    static func makeDirectory(_ dataDir: String) throws(ArgusStore.OpenError) {
        try check(dataDir)
        var st = stat()
        guard stat(dataDir, &st) != 0 else { return }
        func refuse(_ why: String) -> ArgusStore.OpenError {
            ArgusStore.OpenError(description: "Cannot create the data directory \(dataDir): \(why)")
        }
        // One level at a time, so that a failure says where and why.
        var levels = levels(dataDir)
        let existing = levels.lastIndex { lstat($0, &st) == 0 }
        let above = existing.map { levels[$0] } ?? "/"
        if let existing { levels.removeFirst(existing + 1) }
        // `check` has refused a file or a dangling link on the way, so `above` is a directory.
        for (k, level) in levels.enumerated() where mkdir(level, k == levels.count - 1 ? 0o700 : 0o777) != 0 {
            let code = errno
            guard code != EEXIST else { continue }
            let parent = k == 0 ? above : levels[k - 1]
            throw refuse(
                code == EACCES && k == 0
                    ? notWritable(parent, named: parent) : String(cString: strerror(code)) + ".")
        }
        // chmod, not the create mode: that is filtered through the umask.
        _ = chmod(dataDir, 0o700)
    }

    /// Creates the dir and an empty database file if missing, tightens our files, and returns warnings about a data
    /// dir that other users can enter or list.
    static func prepare(_ dataDir: String) throws(ArgusStore.OpenError) -> [String] {
        let fm = FileManager.default
        var warnings: [String] = []
        try makeDirectory(dataDir)
        var st = stat()
        if stat(dataDir, &st) == 0 && st.st_mode & 0o077 != 0 {
            let mode = String(format: "%03o", st.st_mode & 0o7777)
            let owner = userName(st.st_uid)
            let fix =
                st.st_uid == geteuid() || geteuid() == 0
                ? "run `chmod 700 \(dataDir)` so that only you can reach the logs and commands it holds."
                : "only its owner, \(owner), can close it (`chmod 700 \(dataDir)`, which would shut you out too): a "
                    + "--data-dir of your own keeps the logs and commands it holds to you."
            warnings.append("The data directory \(dataDir) is open to other users (mode \(mode)); \(fix)")
        }
        let db = ServerConfig.databasePath(in: dataDir)
        if !fm.fileExists(atPath: db) {
            let fd = open(db, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ArgusStore.OpenError(description: "Cannot create the database \(db): \(String(cString: strerror(errno))).")
            }
            close(fd)
        }
        for path in files(ofDatabase: db) where fm.fileExists(atPath: path) { _ = chmod(path, 0o600) }
        return warnings
    }

    /// Why this user cannot write to `path`, as the end of a sentence: "it belongs to root (mode 755) and alice cannot
    /// write to it; run as root, or use a --data-dir of your own." (`name` is how the sentence refers to `path`).
    static func notWritable(_ path: String, named name: String, doing verb: String = "write to") -> String {
        var st = stat()
        let me = userName(geteuid())
        guard stat(path, &st) == 0 else { return "\(me) cannot \(verb) \(name)." }
        let mode = String(format: "%03o", st.st_mode & 0o7777)
        if st.st_uid == geteuid() {
            let bits = (st.st_mode & S_IFMT) == S_IFDIR ? "u+rwx" : "u+rw"  // a database file is not run
            return "\(name == "it" ? "its" : name + "'s") mode (\(mode)) does not let its owner \(me) \(verb) it; "
                + "`chmod \(bits) \(path)` would."
        }
        let owner = userName(st.st_uid)
        return "\(name) belongs to \(owner) (mode \(mode)) and \(me) cannot \(verb) it; run as \(owner), or use a "
            + "--data-dir of your own."
    }

    /// The user's name, or "uid N" when the system has none for it.
    static func userName(_ uid: uid_t) -> String {
        guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}
