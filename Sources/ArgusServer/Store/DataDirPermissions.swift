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
            throw ArgusStore.OpenError(description: "Cannot create the data directory \(dataDir): \(error.localizedDescription)")
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
}
