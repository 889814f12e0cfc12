import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// On a shared GPU box no other local user may read the database (everyone's logs and commands).
@Suite("Data dir and database permissions", .enabled(if: TestBackend.sqlite), .ownThread)
struct DataDirPermissionsTests {
    static func mode(_ path: String) -> Int? {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber).map { $0.intValue & 0o777 }
    }

    @Test("created 0700 with files 0600 (-wal and -shm too), even under umask 000; no warning then")
    func createdPrivate() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: parent) }
        let dir = parent.appendingPathComponent("data")
        // The first tool to touch the data dir may be `token create`, run under a permissive umask.
        let (rc, token, err) = try runTool(
            "/bin/sh",
            ["-c", "umask 000; exec \"$0\" token create --init --data-dir \"$1\" --user alice", Binaries.path("argus-server"), dir.path])
        #expect(rc == 0, "\(err)")
        #expect(Self.mode(dir.path) == 0o700)
        #expect(Self.mode(dir.appendingPathComponent("argus.sqlite").path) == 0o600)
        let s = try TestServer(dataDir: dir)
        let c = s.client(token.trimmingCharacters(in: .whitespacesAndNewlines))
        try c.mustPost(Ev.make("batch_start", batch: "b1"))
        for name in ["argus.sqlite", "argus.sqlite-wal", "argus.sqlite-shm"] {
            #expect(Self.mode(dir.appendingPathComponent(name).path) == 0o600, "\(name)")
        }
        #expect(!s.log.contains("open to other users"))
    }

    @Test("an existing data dir others can read gets a warning at start; its database files are tightened to 0600")
    func warnsAboutOpenDir() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("argus.sqlite").path
        #expect(FileManager.default.createFile(atPath: db, contents: nil, attributes: [.posixPermissions: 0o644]))
        let s = try TestServer(dataDir: dir)
        _ = try s.token()
        #expect(s.log.contains("The data directory \(dir.path) is open to other users (mode 755)"), "\(s.log)")
        #expect(Self.mode(db) == 0o600)
    }

    /// A new data dir with a database in it, made by root (`token create --init`).
    static func makeDatabase(in dir: URL) throws {
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["token", "create", "--init", "--data-dir", dir.path, "--user", "alice"])
        #expect(rc == 0, "\(err)")
    }

    /// `argus-server serve --data-dir DIR` as nobody: its exit code and stderr (nothing may reach stdout).
    static func serveAsNobody(_ dataDir: String) throws -> (Int32, String) {
        try asNobody(["serve", "--port", "0", "--data-dir", dataDir])
    }

    /// `argus-server ARGS…` as nobody: its exit code and stderr (nothing may reach stdout).
    static func asNobody(_ args: [String]) throws -> (Int32, String) {
        let (rc, out, err) = try runTool(
            "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", Binaries.path("argus-server")] + args)
        #expect(out.isEmpty, "\(out)")
        return (rc, err)
    }

    @Test(
        "a database file another user left, in a data dir this user can write: the sentence names the file's owner and mode, and nothing is left behind",
        .enabled(if: getuid() == 0, "runs the server as another user (setpriv)"))
    func anotherUsersFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.makeDatabase(in: dir)
        // root's database, readable by all, in a directory anyone may write: the server then runs as nobody.
        #expect(chmod(dir.path, 0o777) == 0 && chmod(dir.appendingPathComponent("argus.sqlite").path, 0o644) == 0)
        let (rc2, err2) = try Self.serveAsNobody(dir.path)
        #expect(rc2 == 1, "\(err2)")
        #expect(
            err2
                == "argus-server: Cannot use the database \(dir.path)/argus.sqlite: it belongs to root (mode 644) and nobody cannot write to it; run as root, or use a --data-dir of your own.\n"
        )
        // Refused before SQLite opened it: no -wal and -shm of nobody's (the -wal 0644), no serve.lock.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["argus.sqlite"])
        // nobody's database with root's -wal beside it: named, before SQLite fails on it half way.
        let db0 = dir.appendingPathComponent("argus.sqlite").path
        #expect(chown(db0, 65534, 65534) == 0 && chmod(db0, 0o600) == 0)
        #expect(FileManager.default.createFile(atPath: db0 + "-wal", contents: nil, attributes: [.posixPermissions: 0o644]))
        let (rcWal, errWal) = try Self.serveAsNobody(dir.path)
        #expect(rcWal == 1)
        #expect(
            errWal
                == "argus-server: Cannot use the database's -wal file \(db0)-wal: it belongs to root (mode 644) and nobody cannot write to it; run as root, or use a --data-dir of your own.\n"
        )
        #expect(unlink(db0 + "-wal") == 0)
        // nobody's own database, read-only to it: the fix is a chmod (read and write; a database is not run).
        let db = dir.appendingPathComponent("argus.sqlite").path
        #expect(chown(db, 65534, 65534) == 0 && chmod(db, 0o400) == 0)
        let (rc3, err3) = try Self.serveAsNobody(dir.path)
        #expect(rc3 == 1)
        #expect(
            err3
                == "argus-server: Cannot use the database \(db): its mode (400) does not let its owner nobody write to it; `chmod u+rw \(db)` would.\n"
        )
    }

    @Test(
        "a dir, or a -wal or -shm, that another user owns and left writable to all: refused by every command, not written into for its owner to read",
        .enabled(if: getuid() == 0, "runs the server as another user (setpriv)"))
    func anotherUsersWritableFiles() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: top, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: top) }
        #expect(chmod(top.path, 0o755) == 0)
        // uid 4242's dir, open to all: nobody may write in it, and its owner could read or swap what it holds.
        let theirs = top.appendingPathComponent("theirs").path
        #expect(mkdir(theirs, 0o777) == 0 && chmod(theirs, 0o777) == 0 && chown(theirs, 4242, 4242) == 0)
        for command in [["serve", "--port", "0"], ["token", "create", "--init", "--user", "nobody"]] {
            let (rc, err) = try Self.asNobody(command + ["--data-dir", theirs])
            #expect(
                rc == 1
                    && err
                        == "argus-server: Cannot use the data directory \(theirs): it belongs to uid 4242 (mode 777), who could read or replace what the server keeps in it; use a --data-dir of your own.\n",
                "\(err)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: theirs).isEmpty)
        // nobody's own dir, open to all, where uid 4242 left a -wal and -shm anyone may write before the first start.
        let mine = top.appendingPathComponent("mine").path
        #expect(mkdir(mine, 0o777) == 0 && chmod(mine, 0o777) == 0 && chown(mine, 65534, 65534) == 0)
        let db = mine + "/argus.sqlite"
        for suffix in ["-wal", "-shm"] {
            #expect(FileManager.default.createFile(atPath: db + suffix, contents: nil, attributes: [.posixPermissions: 0o666]))
            #expect(chown(db + suffix, 4242, 4242) == 0 && chmod(db + suffix, 0o666) == 0)
        }
        let (rc, err) = try Self.serveAsNobody(mine)
        #expect(
            rc == 1
                && err
                    == "argus-server: Cannot use the database's -wal file \(db)-wal: it belongs to uid 4242 (mode 666), who could read what the server writes to it; delete it, or use a --data-dir of your own.\n",
            "\(err)")
        #expect(!FileManager.default.fileExists(atPath: db), "nothing is written before the refusal")
        // One that this user cannot even write: the same advice (running as its owner would not help).
        #expect(unlink(db + "-wal") == 0 && chmod(db + "-shm", 0o644) == 0)
        let (rc2, err2) = try Self.serveAsNobody(mine)
        #expect(
            rc2 == 1
                && err2
                    == "argus-server: Cannot use the database's -shm file \(db)-shm: it belongs to uid 4242 (mode 644), who could read what the server writes to it; delete it, or use a --data-dir of your own.\n",
            "\(err2)")
        // nobody's own link in the -shm's place, to uid 4242's file: the server would write through it.
        let theirFile = top.appendingPathComponent("theirs-shm").path
        #expect(rename(db + "-shm", theirFile) == 0 && symlink(theirFile, db + "-shm") == 0)
        #expect(lchown(db + "-shm", 65534, 65534) == 0)
        let (rc3, err3) = try Self.serveAsNobody(mine)
        #expect(
            rc3 == 1
                && err3
                    == "argus-server: Cannot use the database's -shm file \(db)-shm: it is a symbolic link to \(theirFile), which the server would write through; delete it, or use a --data-dir of your own.\n",
            "\(err3)")
    }

    @Test(
        "another user's data dir, or one under another user's dir: one sentence naming the owner and mode, not a read-only database or a missing one",
        .enabled(if: getuid() == 0, "runs the server as another user (setpriv)"))
    func anotherUsersDir() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: top) }
        let dir = top.appendingPathComponent("data")
        try Self.makeDatabase(in: dir)
        #expect(chmod(top.path, 0o755) == 0)
        // root's dir and database, both readable by all: before, "its data directory is read-only".
        #expect(chmod(dir.path, 0o755) == 0 && chmod(dir.appendingPathComponent("argus.sqlite").path, 0o644) == 0)
        let (rc1, err1) = try Self.serveAsNobody(dir.path)
        #expect(rc1 == 1)
        #expect(
            err1.hasPrefix(
                "argus-server: Cannot use the data directory \(dir.path): it belongs to root (mode 755) and nobody cannot write to it; run as root, or use a --data-dir of your own.\n"
            ), "\(err1)")
        // A dir nobody cannot enter: before, "Cannot create the database …: Permission denied", as if it were missing.
        #expect(chmod(dir.path, 0o700) == 0)
        let (rc2, err2) = try Self.serveAsNobody(dir.path)
        #expect(rc2 == 1)
        #expect(
            err2.hasPrefix(
                "argus-server: Cannot use the data directory \(dir.path): it belongs to root (mode 700) and nobody cannot write to it;"
            ), "\(err2)")
        // The other commands too: before, "no Argus database in DIR", as if it were missing.
        let (rc4, err4) = try Self.asNobody(["token", "list", "--data-dir", dir.path])
        #expect(rc4 == 1 && err4 == err2, "\(err4)")
        // nobody's own dir inside root's 700 one: before, "Cannot create the data directory" (or "no Argus database").
        let own = dir.appendingPathComponent("own").path
        #expect(mkdir(own, 0o700) == 0 && chown(own, 65534, 65534) == 0)
        for command in [["serve", "--port", "0"], ["token", "list"]] {
            let (rc, err) = try Self.asNobody(command + ["--data-dir", own])
            #expect(
                rc == 1
                    && err
                        == "argus-server: Cannot use the data directory \(own): \(dir.path) belongs to root (mode 700) and nobody cannot enter it; run as root, or use a --data-dir of your own.\n",
                "\(err)")
        }
        // A new dir under root's: before, Foundation's "You don't have permission."
        let deeper = top.appendingPathComponent("new/data").path
        let (rc3, err3) = try Self.serveAsNobody(deeper)
        #expect(rc3 == 1)
        #expect(
            err3.hasPrefix(
                "argus-server: Cannot create the data directory \(deeper): \(top.path) belongs to root (mode 755) and nobody cannot write to it; run as root, or use a --data-dir of your own.\n"
            ), "\(err3)")
    }

    @Test("a file or a dangling link where the data dir should be, or an empty path: one sentence each, not Foundation's")
    func notADirectory() throws {
        let top = FileManager.default.temporaryDirectory.appendingPathComponent("argus-perm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: top, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(at: top) }
        let file = top.appendingPathComponent("afile").path
        #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
        let link = top.appendingPathComponent("dangling").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: top.appendingPathComponent("gone").path)
        let dangles = "a symbolic link to \(top.path)/gone, which does not exist."
        // Two links that point at each other: they exist, so they do not "not exist".
        let loop = top.appendingPathComponent("loopA").path
        try FileManager.default.createSymbolicLink(atPath: loop, withDestinationPath: "loopB")
        try FileManager.default.createSymbolicLink(atPath: top.appendingPathComponent("loopB").path, withDestinationPath: "loopA")
        // A data dir whose database is a dangling link (SQLite would make the file where it points), or a directory.
        let dirDB = top.appendingPathComponent("dir-db").path
        try FileManager.default.createDirectory(atPath: dirDB + "/argus.sqlite", withIntermediateDirectories: true)
        let danglingDB = top.appendingPathComponent("dangling-db").path
        try FileManager.default.createDirectory(atPath: danglingDB, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(
            atPath: danglingDB + "/argus.sqlite", withDestinationPath: top.appendingPathComponent("gone").path)
        let cases = [
            (file, "Cannot use the data directory \(file): it is a file, not a directory."),
            (file + "/sub", "Cannot use the data directory \(file)/sub: \(file) is not a directory."),
            (link, "Cannot use the data directory \(link): it is \(dangles)"),
            (link + "/sub", "Cannot use the data directory \(link)/sub: \(link) is \(dangles)"),
            (loop, "Cannot use the data directory \(loop): it is a symbolic link to loopB, which loops back to itself."),
            (
                loop + "/sub",
                "Cannot use the data directory \(loop)/sub: \(loop) is a symbolic link to loopB, which loops back to itself."
            ),
            (dirDB, "Cannot use the database \(dirDB)/argus.sqlite: it is a directory, not a file."),
            (danglingDB, "Cannot use the database \(danglingDB)/argus.sqlite: it is \(dangles)"),
            ("", "The data directory's path is empty: name a directory (--data-dir)."),
        ]
        for (dir, sentence) in cases {
            for command in [["serve", "--port", "0"], ["token", "list"]] {
                // Under a timeout: a serve that is not refused would otherwise serve on and hold the test.
                let (rc, out, err) = try runTool(
                    "/usr/bin/timeout", ["20", Binaries.path("argus-server")] + command + ["--data-dir", dir])
                #expect(rc == 1 && out.isEmpty && err == "argus-server: \(sentence)\n", "\(command) \(dir): \(err)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: top.appendingPathComponent("gone").path))
        // A database that is not one: refused, and the dir is left as it was (no serve.lock).
        let junk = top.appendingPathComponent("junk").path
        try FileManager.default.createDirectory(atPath: junk, withIntermediateDirectories: false)
        #expect(FileManager.default.createFile(atPath: junk + "/argus.sqlite", contents: Data("not a database\n".utf8)))
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", junk])
        #expect(rc == 1 && err.hasPrefix("argus-server: Cannot open the database"), "\(err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: junk) == ["argus.sqlite"])
    }
}
