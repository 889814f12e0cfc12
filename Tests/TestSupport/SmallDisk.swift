import ArgusClient
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A small disk mounted on a fresh directory, that a test can really fill up, free again, grow or make read-only:
/// a tmpfs, or an ext4 image on a loop device (`ext4: true`) whose file system can be made to fail as a real disk's
/// does (`failFileSystem()`). Mounting needs root (CAP_SYS_ADMIN); `unavailable` / `ext4Unavailable` say why when it
/// cannot, for `.enabled(if:)`. Unmounted (and its directory and image removed) by `unmount()` or deinit.
public final class SmallDisk: @unchecked Sendable {
    public let mountPoint: URL
    /// The ext4 image (nil for a tmpfs).
    let image: URL?
    private var mounted = false
    private var filler: URL { mountPoint.appendingPathComponent("filler") }

    public init(kilobytes: Int, ext4: Bool = false) throws {
        let name = "argus-disk-\(UUID().uuidString.prefix(8))"
        mountPoint = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        image = ext4 ? FileManager.default.temporaryDirectory.appendingPathComponent(name + ".img") : nil
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        do {
            if let image {
                try Self.run(["truncate", "-s", "\(kilobytes)K", image.path])
                try Self.run(["mkfs.ext4", "-q", "-F", image.path])
                try mountImage()
            } else {
                try Self.run(["mount", "-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=700", "tmpfs", mountPoint.path])
                mounted = true
            }
        } catch {
            try? FileManager.default.removeItem(at: mountPoint)
            if let image { try? FileManager.default.removeItem(at: image) }
            throw error
        }
    }

    private func mountImage() throws {
        // errors=remount-ro: what a server's disk usually does when it fails (the default of most distributions).
        try Self.run(["mount", "-o", "loop,errors=remount-ro", image!.path, mountPoint.path])
        try Self.run(["chmod", "700", mountPoint.path])
        mounted = true
    }

    private static func run(_ args: [String]) throws {
        let (rc, _, err) = try runTool("/usr/bin/env", args)
        guard rc == 0 else { throw TestFailure("\(args.joined(separator: " ")) failed: \(err)") }
    }

    /// Why no tmpfs can be mounted here (not root, no mount in the container), or nil when it can.
    public static let unavailable: String? = probe(ext4: false)
    /// Why no ext4 image can be loop-mounted here, or nil when it can.
    public static let ext4Unavailable: String? = probe(ext4: true)

    private static func probe(ext4: Bool) -> String? {
        do {
            let disk = try SmallDisk(kilobytes: ext4 ? 4096 : 64, ext4: ext4)
            defer { try? disk.unmount() }
            if ext4, !FileManager.default.isWritableFile(atPath: try disk.errorTrigger()) {
                return "this kernel has no ext4 trigger_fs_error"
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// The kernel's switch that makes this ext4 file system fail as on a disk error.
    private func errorTrigger() throws -> String {
        let (_, source, _) = try runTool("/usr/bin/env", ["findmnt", "-n", "-o", "SOURCE", mountPoint.path])
        let device = URL(fileURLWithPath: source.trimmingCharacters(in: .whitespacesAndNewlines)).lastPathComponent
        return "/sys/fs/ext4/\(device)/trigger_fs_error"
    }

    /// Makes the ext4 file system fail as if the disk had reported an error: with errors=remount-ro the kernel stops
    /// every write to it at once, under the open files of a running process too (which a plain `mount -o remount,ro`
    /// refuses to do). It stays so until it is unmounted and checked (`repair()`).
    public func failFileSystem() throws {
        let trigger = try errorTrigger()
        guard let h = FileHandle(forWritingAtPath: trigger) else { throw TestFailure("cannot open \(trigger)") }
        h.write(Data("argus test: the disk failed\n".utf8))
        try h.close()
    }

    /// Unmounts the failed ext4 file system, checks it (e2fsck -fy) and mounts it again, writable: what an operator
    /// does after a disk error. Every process using it must have exited.
    public func repair() throws {
        try unmount(keepImage: true)
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let (rc, out, err) = try runTool("/usr/bin/env", ["e2fsck", "-fy", image!.path])
        // 0: clean, 1: errors corrected.
        guard rc <= 1 else { throw TestFailure("e2fsck failed (\(rc)): \(out) \(err)") }
        try mountImage()
    }

    /// Bytes still free for a writer.
    public var freeBytes: UInt64 {
        var s = statvfs()
        guard statvfs(mountPoint.path, &s) == 0 else { return 0 }
        return UInt64(s.f_bavail) * UInt64(s.f_frsize)
    }

    /// Writes a filler file until the disk refuses another byte (ENOSPC); returns its size.
    @discardableResult
    public func fill() throws -> Int {
        let fd = open(filler.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(filler.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        // Big blocks first, then ever smaller ones, down to single bytes: nothing is left over.
        for block in [65536, 4096, 512, 1] {
            let chunk = [UInt8](repeating: 0x41, count: block)
            while true {
                let n = write(fd, chunk, block)
                if n <= 0 { break }
                written += n
            }
        }
        guard errno == ENOSPC else { throw TestFailure("filling the disk stopped on \(String(cString: strerror(errno)))") }
        return written
    }

    /// Fills the disk but for about `kilobytes`: a disk nearly full, on which small writes still fit.
    public func fill(leavingKilobytes kilobytes: Int) throws {
        var s = statvfs()
        guard statvfs(mountPoint.path, &s) == 0 else { throw TestFailure("statvfs \(mountPoint.path) failed") }
        let size = Int(s.f_bavail) * Int(s.f_frsize) - kilobytes * 1024
        guard size > 0 else { return }
        let fd = open(filler.path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create \(filler.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0x41, count: 4096)
        var left = size
        while left > 0 {
            let n = write(fd, chunk, min(left, chunk.count))
            guard n > 0 else { throw TestFailure("filling the disk stopped on \(String(cString: strerror(errno)))") }
            left -= n
        }
    }

    /// Deletes the filler file: the space it held is free again.
    public func free() throws { try FileManager.default.removeItem(at: filler) }

    /// Remounts with a new size (a tmpfs can grow under open files), or read-only / read-write (Linux refuses
    /// read-only while any file on it is open for writing, e.g. by a running server).
    public func remount(kilobytes: Int? = nil, readOnly: Bool? = nil) throws {
        var options = ["remount"]
        if let kilobytes { options.append("size=\(kilobytes)k") }
        if let readOnly { options.append(readOnly ? "ro" : "rw") }
        let (rc, _, err) = try runTool("/usr/bin/env", ["mount", "-o", options.joined(separator: ","), mountPoint.path])
        guard rc == 0 else { throw TestFailure("mount -o \(options.joined(separator: ",")) failed: \(err)") }
    }

    public func unmount() throws { try unmount(keepImage: false) }

    private func unmount(keepImage: Bool) throws {
        if mounted {
            var (rc, _, err) = try runTool("/usr/bin/env", ["umount", mountPoint.path])
            // Still busy (a process the test started has not exited yet): detach it now, freed when the last file
            // closes (a loop device is detached then too).
            if rc != 0 { (rc, _, err) = try runTool("/usr/bin/env", ["umount", "-l", mountPoint.path]) }
            guard rc == 0 else { throw TestFailure("umount \(mountPoint.path) failed: \(err)") }
            mounted = false
        }
        try? FileManager.default.removeItem(at: mountPoint)
        if !keepImage, let image { try? FileManager.default.removeItem(at: image) }
    }

    deinit { try? unmount() }
}

extension SmallDisk {
    /// The sentence a write gets while the disk is full (`StorageFault`).
    public static let fullDetail =
        "The server cannot write to its database: the disk is full; nothing from this request was stored."

    /// Fills the disk, then posts small log lines to `batch` until the server refuses one for the full disk: SQLite
    /// first uses up the room its WAL file already holds, and from then on every write fails. Returns what it
    /// accepted meanwhile (event_id → id).
    @discardableResult
    public func fillUntilWritesFail(_ c: HTTPClient, batch: String) throws -> [String: Int64] {
        try fill()
        var accepted: [String: Int64] = [:]
        for n in 0..<5000 {
            let ev = Ev.make("log_line", batch: batch, data: ["line": .string("filling the disk \(n)"), "level": "info"])
            let r = try c.post("/api/events", json: ev)
            if r.status == 503, r.detail == Self.fullDetail { return accepted }
            guard r.status == 200, let id = r.json?["event_id"]?.intValue else {
                throw TestFailure("POST /api/events on a full disk → \(r.status): \(r.text)")
            }
            accepted[ev["event_id"]!.stringValue!] = Int64(id)
        }
        throw TestFailure("5000 events still fitted on a full disk")
    }
}
