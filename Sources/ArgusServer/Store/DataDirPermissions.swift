import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The database holds every user's logs and commands: on a shared GPU box no other local user may read it.
/// The data dir is created 0700 and the database files 0600 whatever the process umask; SQLite gives its -wal and
/// -shm files the database file's mode, so creating that file first with 0600 covers them too.
enum DataDirPermissions {
    static let databaseFiles = ["argus.sqlite", "argus.sqlite-wal", "argus.sqlite-shm"]

    /// Creates the data dir, 0700, when it is missing.
    static func makeDirectory(_ dataDir: String) throws(ArgusStore.OpenError) {
        guard !FileManager.default.fileExists(atPath: dataDir) else { return }
        do {
            try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        } catch {
            // Another user's directory on the way: say whose, instead of Foundation's "You don't have permission".
            // (Absolute first: Foundation traps on the parent of "".)
            let absolute = dataDir.hasPrefix("/") ? dataDir : FileManager.default.currentDirectoryPath + "/" + dataDir
            var above = (absolute as NSString).deletingLastPathComponent
            while above != "/" && !FileManager.default.fileExists(atPath: above) {
                above = (above as NSString).deletingLastPathComponent
            }
            let why =
                access(above, W_OK | X_OK) != 0 && errno == EACCES
                ? notWritable(above, named: above) : error.localizedDescription
            throw ArgusStore.OpenError(description: "Cannot create the data directory \(dataDir): \(why)")
        }
        // chmod, not the create attributes: those are filtered through the umask.
        _ = chmod(dataDir, 0o700)
    }

    /// Creates the dir and an empty database file if missing, tightens our files, and returns warnings about a data
    /// dir that other users can enter or list.
    static func prepare(_ dataDir: String) throws(ArgusStore.OpenError) -> [String] {
        let fm = FileManager.default
        var warnings: [String] = []
        if fm.fileExists(atPath: dataDir) {
            // Another user's data dir: SQLite would call the database read-only, or (a dir this user cannot enter)
            // the database would look missing and its creation fail.
            if access(dataDir, W_OK | X_OK) != 0 && errno == EACCES {
                throw ArgusStore.OpenError(
                    description: "Cannot use the data directory \(dataDir): \(notWritable(dataDir, named: "it"))")
            }
            if let mode = (try? fm.attributesOfItem(atPath: dataDir))?[.posixPermissions] as? NSNumber,
                mode.intValue & 0o077 != 0
            {
                warnings.append(
                    "The data directory \(dataDir) is open to other users (mode \(String(mode.intValue & 0o777, radix: 8))); "
                        + "run `chmod 700 \(dataDir)` so that only you can reach the logs and commands it holds.")
            }
        } else {
            try makeDirectory(dataDir)
        }
        let db = (dataDir as NSString).appendingPathComponent(databaseFiles[0])
        if !fm.fileExists(atPath: db) {
            let fd = open(db, O_CREAT | O_WRONLY | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ArgusStore.OpenError(description: "Cannot create the database \(db): \(String(cString: strerror(errno))).")
            }
            close(fd)
        }
        for name in databaseFiles {
            let path = (dataDir as NSString).appendingPathComponent(name)
            if fm.fileExists(atPath: path) { _ = chmod(path, 0o600) }
        }
        return warnings
    }

    /// Why this user cannot write to `path`, as the end of a sentence: "it belongs to root (mode 755) and alice cannot
    /// write to it; run as root, or use a --data-dir of your own." (`name` is how the sentence refers to `path`).
    static func notWritable(_ path: String, named name: String) -> String {
        var st = stat()
        let me = userName(geteuid())
        guard stat(path, &st) == 0 else { return "\(me) cannot write to \(name)." }
        let mode = String(st.st_mode & 0o777, radix: 8)
        if st.st_uid == geteuid() {
            return "\(name == "it" ? "its" : name + "'s") mode (\(mode)) does not let its owner \(me) write to it; "
                + "`chmod u+rwx \(path)` would."
        }
        let owner = userName(st.st_uid)
        return "\(name) belongs to \(owner) (mode \(mode)) and \(me) cannot write to it; run as \(owner), or use a "
            + "--data-dir of your own."
    }

    /// The user's name, or "uid N" when the system has none for it.
    static func userName(_ uid: uid_t) -> String {
        guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "uid \(uid)" }
        return String(cString: name)
    }
}
