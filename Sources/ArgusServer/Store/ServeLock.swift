import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `argus-server serve` per SQLite data dir. Two would share the database but not what each keeps in memory:
/// events posted to one never reach the other's streams, and its caches and summaries fall behind. The lock is an
/// exclusive `flock` on `serve.lock` in the data dir, held until the process ends (a crash releases it too). The
/// file holds the server's pid for people to read; the next server's message names the pid the kernel says holds
/// the lock (`holder`). Other commands (`token create`, `retention sweep`…) do not take it: they are meant to run
/// beside the server.
enum ServeLock {
    static let fileName = "serve.lock"

    /// Takes the lock for the rest of the process, or says which server holds it. A data dir where the file cannot
    /// be created (read-only) is not locked: the database could not be written there either, and says so itself.
    /// The data dir itself is locked as well, so a `serve.lock` deleted while its server runs (a tidy-up of the dir)
    /// does not let a second server in (and the database file, `lockDatabase`). Where a file system cannot lock a
    /// directory or a file opened for reading (some network file systems), those locks are skipped. The dir must exist.
    static func acquire(dataDir: String) throws(ArgusStore.OpenError) {
        let path = (dataDir as NSString).appendingPathComponent(fileName)
        let dir = open(dataDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 && flock(dir, LOCK_EX | LOCK_NB) != 0 {
            let held = errno == EWOULDBLOCK
            // The pid from the lock itself, not from the file: a file another user's server left is not rewritten.
            let pid = held ? holder(ofLockOn: dir)?.pid : nil
            close(dir)
            if held { throw refusal(dataDir, pid: pid) }
        }
        // Never through a link: a `serve.lock` pointing elsewhere (/etc/passwd) would be truncated, by root perhaps.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw refusal(dataDir, pid: holder(ofLockOn: fd)?.pid) }
        // Best effort: for people (`cat serve.lock`); the next server asks the kernel who holds the lock.
        if ftruncate(fd, 0) == 0 {
            let text = Array("\(getpid())\n".utf8)
            _ = pwrite(fd, text, text.count, 0)
        }
        // The descriptors stay open (and the locks held) until the process exits.
    }

    /// The database file as well, once `acquire` holds the dir and before the store opens it: the same file reached
    /// from another dir (a symbolic or hard link to it, the file moved while its server runs) is the same database.
    static func lockDatabase(dataDir: String) throws(ArgusStore.OpenError) {
        let database = ServerConfig.databasePath(in: dataDir)
        let db = open(database, O_RDONLY | O_CLOEXEC)
        guard db >= 0, flock(db, LOCK_EX | LOCK_NB) != 0 else { return }  // held until the process exits
        let held = errno == EWOULDBLOCK
        let other = held ? holder(ofLockOn: db) : nil
        close(db)
        guard held else { return }
        let who = other.map { " (pid \($0.pid)\($0.dataDir.map { ", data dir \($0)" } ?? ""))" } ?? ""
        throw ArgusStore.OpenError(
            description: "Another argus-server\(who) is serving the database \(database) from another directory (through a "
                + "link, or it was moved): stop it first, or give this one its own database (servers that share one "
                + "database need PostgreSQL: --database-url).")
    }

    /// The pid of the server that serves `dataDir` now (it holds the dir's lock), without taking any lock; nil when
    /// none does, or it cannot be told.
    static func servingPID(dataDir: String) -> Int? {
        let dir = open(dataDir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return nil }
        defer { close(dir) }
        return holder(ofLockOn: dir)?.pid
    }

    /// After `acquire`, when this process will not serve after all (its database refused, or another server has
    /// it): the lock file goes, so the dir is left as it was found. The locks go with the process.
    static func release(dataDir: String) {
        unlink((dataDir as NSString).appendingPathComponent(fileName))
    }

    /// The process holding a `flock` on the file open at `fd` (from /proc/locks), and the data dir it serves (the
    /// directory of the `serve.lock` it holds open, when /proc lets this user see its descriptors).
    static func holder(ofLockOn fd: Int32) -> (pid: Int, dataDir: String?)? {
        var st = stat()
        guard fstat(fd, &st) == 0, let locks = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return nil }
        let dev = UInt64(st.st_dev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~0xfff)
        let minor = (dev & 0xff) | ((dev >> 12) & ~0xff)
        // "1: FLOCK  ADVISORY  WRITE 4242 08:01:123456 0 EOF": the device in hex, the inode in decimal.
        let file = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(st.st_ino))
        for line in locks.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[1] == "FLOCK", f[5] == file, let pid = Int(f[4]), pid != Int(getpid()) else { continue }
            let fds = "/proc/\(pid)/fd"
            let dir = (try? FileManager.default.contentsOfDirectory(atPath: fds))?.lazy
                .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\($0)") }
                .first { ($0 as NSString).lastPathComponent == fileName }
                .map { ($0 as NSString).deletingLastPathComponent }
            return (pid, dir)
        }
        return nil
    }

    private static func refusal(_ dataDir: String, pid: Int?) -> ArgusStore.OpenError {
        ArgusStore.OpenError(
            description: "Another argus-server\(pid.map { " (pid \($0))" } ?? "") is serving \(dataDir): stop it first, "
                + "or give this one its own --data-dir (servers that share one database need PostgreSQL: --database-url).")
    }
}
