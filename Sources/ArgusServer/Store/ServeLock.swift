import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One `argus-server serve` per SQLite data dir. Two would share the database but not what each keeps in memory:
/// events posted to one never reach the other's streams, and its caches and summaries fall behind. The lock is an
/// exclusive `flock` on `serve.lock` in the data dir, held until the process ends (a crash releases it too); the
/// file holds the server's pid for the message of the next one. Other commands (`token create`, `retention sweep`…)
/// do not take it: they are meant to run beside the server.
enum ServeLock {
    static let fileName = "serve.lock"

    /// Takes the lock for the rest of the process, or says which server holds it. A data dir where the file cannot
    /// be created (read-only) is not locked: the database could not be written there either, and says so itself.
    static func acquire(dataDir: String) throws(ArgusStore.OpenError) {
        let path = (dataDir as NSString).appendingPathComponent(fileName)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = read(fd, &buffer, buffer.count)
            close(fd)
            let pid = n > 0 ? Int(String(decoding: buffer[..<n], as: UTF8.self).trimmed()) : nil
            throw ArgusStore.OpenError(
                description: "Another argus-server\(pid.map { " (pid \($0))" } ?? "") is serving \(dataDir): stop it first, "
                    + "or give this one its own --data-dir (servers that share one database need PostgreSQL: --database-url).")
        }
        // Best effort: the pid only makes the next server's message more precise.
        if ftruncate(fd, 0) == 0 {
            let text = Array("\(getpid())\n".utf8)
            _ = pwrite(fd, text, text.count, 0)
        }
        // The descriptor stays open (and the lock held) until the process exits.
    }
}
