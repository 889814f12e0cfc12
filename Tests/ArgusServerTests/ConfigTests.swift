import ArgusServer
import Foundation
import TestSupport
import Testing

@Suite("Configuration", .enabled(if: TestBackend.firstPass), .ownThread)
struct ConfigTests {
    static let numeric = [
        "ARGUS_IDLE_JOB_THRESHOLD_MIN", "ARGUS_STALL_TIMEOUT_MIN", "ARGUS_WATCHDOG_INTERVAL_S", "ARGUS_AGENT_ONLINE_S",
        "ARGUS_RETENTION_LOG_LINE_DAYS", "ARGUS_RETENTION_SNAPSHOT_DAYS", "ARGUS_RETENTION_JOB_EPOCH_DAYS",
        "ARGUS_RETENTION_EVENT_OTHER_DAYS", "ARGUS_RETENTION_SWEEP_MINUTES",
    ]

    @Test("a data dir written ~/… where no shell expands it (a systemd unit, an .env file) is under $HOME, not a folder named ~")
    func dataDirTilde() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("argus-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let bin = Binaries.path("argus-server")
        let (rc, _, err) = try runTool(
            bin, ["token", "create", "--user", "ann", "--init"], env: ["HOME": home.path, "ARGUS_DATA_DIR": "~/argus-data"])
        #expect(rc == 0, "\(err)")
        #expect(FileManager.default.fileExists(atPath: home.path + "/argus-data/argus.sqlite"))
        let (rc2, out2, err2) = try runTool(bin, ["token", "list", "--data-dir", "~/argus-data"], env: ["HOME": home.path])
        #expect(rc2 == 0 && out2.contains("ann"), "\(err2)")
        #expect(!FileManager.default.fileExists(atPath: FileManager.default.currentDirectoryPath + "/~"))
        // ~user, as a shell reads it.
        #expect(
            ServerConfig.expandingHome("~root/d") == "/root/d"
                && ServerConfig.expandingHome("~/d") == (ProcessInfo.processInfo.environment["HOME"] ?? "~") + "/d")
        #expect(
            ServerConfig.expandingHome("~no-such-user-here/d") == "~no-such-user-here/d" && ServerConfig.expandingHome("/a/~b") == "/a/~b")
    }

    @Test("the server listens on 127.0.0.1 unless told otherwise")
    func loopbackByDefault() throws {
        #expect(try ServerConfig.fromEnvironment([:]).host == "127.0.0.1")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-bind-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out").path
        // No --host and no ARGUS_HOST: what a user gets who just runs `serve`.
        let p = try startProcess(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dir.appendingPathComponent("d").path],
            env: ["ARGUS_HOST": ""], stdout: out)
        defer { _ = stopProcess(p) }
        var said = ""
        for _ in 0..<200 where !said.contains("listening") {
            usleep(50_000)
            said = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        }
        #expect(said.contains("listening on http://127.0.0.1:"), "\(said)")
    }

    @Test("a value that does not parse stops the server with one sentence naming the variable")
    func badValues() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in Self.numeric {
            for bad in ["ten", "-1", "nan", "1e999", "5m"] {
                let (rc, out, err) = try runTool(
                    Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dir.path], env: [name: bad])
                #expect(rc == 1, "\(name)=\(bad) started the server: \(out)")
                #expect(err.contains(name) && err.contains("'\(bad)'"), "\(name)=\(bad): \(err)")
                #expect(err.split(separator: "\n").count == 1, "\(err)")
            }
        }
        for (name, bad) in [
            ("ARGUS_PORT", "80000"), ("ARGUS_BASE_URL", "example.com"), ("ARGUS_BASE_URL", "https://"),
            ("ARGUS_BASE_URL", "http://h:8000?x=1"), ("ARGUS_BASE_URL", "http://exa mple"), ("ARGUS_BASE_URL", "https://a.b/x y"),
            ("ARGUS_BASE_URL", "https://a.b%20"), ("ARGUS_BASE_URL", "https://a.b:99999"), ("ARGUS_MAX_BODY_MB", "0"),
        ] {
            let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["serve", "--data-dir", dir.path], env: [name: bad])
            #expect(rc == 1 && err.contains(name) && err.contains("'\(bad)'"), "\(name)=\(bad): \(err)")
            #expect(err.split(separator: "\n").count == 1, "\(err)")
            #expect(!err.contains("from 0 to 1024"), "0 is refused, so the range must not offer it: \(err)")
        }
    }

    @Test("simulate refuses a server URL with no scheme at once, instead of retrying it for a minute")
    func simulateBadURL() throws {
        let started = Date()
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["simulate", "--url", "notaurl", "--token", "t"])
        #expect(rc == 1 && err == "argus-server: the server URL must start with http:// or https://, got 'notaurl'.\n", "\(err)")
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// Every duration variable, whatever its unit, refuses values too big to be meant (they once overflowed Int64
    /// at start or on the first connection), naming the variable and its range; ten years is still accepted.
    @Test("absurdly long durations are refused with one sentence naming the variable and its range")
    func tooLongDurations() throws {
        let durations = Self.numeric + ["ARGUS_SSE_KEEPALIVE_S", "ARGUS_HEADER_TIMEOUT_S", "ARGUS_BODY_TIMEOUT_S"]
        let tenYears = [
            "_S": "315360000", "_MIN": "5256000", "_MINUTES": "5256000", "_DAYS": "3650",
        ]
        for name in durations {
            for bad in ["1e300", "1e13"] {
                do {
                    _ = try ServerConfig.fromEnvironment([name: bad])
                    Issue.record("\(name)=\(bad) was accepted")
                } catch {
                    #expect(error.description.hasPrefix("\(name) must be a number of "), "\(error)")
                    #expect(error.description.contains("'\(bad)'") && error.description.contains("(10 years)"), "\(error)")
                }
            }
            let unit = try #require(tenYears.keys.filter { name.hasSuffix($0) }.max { $0.count < $1.count })
            #expect(throws: Never.self, "\(name)=\(tenYears[unit]!)") {
                try ServerConfig.fromEnvironment([name: tenYears[unit]!])
            }
        }
        // The one that used to crash `serve` (exit 132) now stops it with the startup sentence.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["serve", "--port", "0", "--data-dir", dir.path],
            env: ["ARGUS_STALL_TIMEOUT_MIN": "1e300"])
        #expect(rc == 1 && err.contains("ARGUS_STALL_TIMEOUT_MIN") && err.split(separator: "\n").count == 1, "\(rc): \(err)")
    }

    @Test("a retention sweep interval too short to be meant (a core kept busy) and a number in hex are refused in one sentence")
    func sweepIntervalAndHex() throws {
        #expect(throws: Never.self) { try ServerConfig.fromEnvironment(["ARGUS_RETENTION_SWEEP_MINUTES": "0.005"]) }
        #expect(throws: Never.self) { try ServerConfig.fromEnvironment(["ARGUS_RETENTION_SWEEP_MINUTES": "0"]) }
        do {
            _ = try ServerConfig.fromEnvironment(["ARGUS_RETENTION_SWEEP_MINUTES": "1e-9"])
            Issue.record("1e-9 was accepted")
        } catch {
            #expect(error.description == "ARGUS_RETENTION_SWEEP_MINUTES must be 0 (no sweeps) or at least 0.005 (0.3 s), got '1e-9'.")
        }
        do {
            _ = try ServerConfig.fromEnvironment(["ARGUS_STALL_TIMEOUT_MIN": "0x10"])
            Issue.record("0x10 was accepted")
        } catch {
            #expect(error.description.hasPrefix("ARGUS_STALL_TIMEOUT_MIN must be a number of minutes"), "\(error)")
        }
    }

    @Test("`help NAME` with a NAME that is no command is an error naming the commands there are, in both CLIs")
    func helpOfNoCommand() throws {
        for (tool, commands) in [("argus-server", "serve, token"), ("argus-agent", "register, run")] {
            let (rc, _, err) = try runTool(Binaries.path(tool), ["help", "bogus"])
            #expect(rc == 64, "\(tool): \(err)")
            #expect(err.contains("'bogus' is not a command of \(tool) (its commands: \(commands)"), "\(err)")
        }
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["help", "token", "bogus"])
        #expect(rc == 64 && err.contains("'bogus' is not a command of argus-server token (its commands: create"), "\(err)")
        // Commands that exist still get their help.
        let (okRC, out, _) = try runTool(Binaries.path("argus-server"), ["help", "token", "create"])
        #expect(okRC == 0 && out.contains("--user"), "\(out)")
    }

    @Test("fractions are accepted, and `serve --help` lists every variable with its default")
    func fractionsAndHelp() throws {
        let s = try TestServer(env: [
            "ARGUS_STALL_TIMEOUT_MIN": "0.05", "ARGUS_IDLE_JOB_THRESHOLD_MIN": "0.5", "ARGUS_WATCHDOG_INTERVAL_S": "2.5",
            "ARGUS_RETENTION_LOG_LINE_DAYS": "0.25", "ARGUS_RETENTION_SWEEP_MINUTES": "0",
        ])
        #expect(try s.client(nil).get("/health").status == 200)
        let (rc, out, _) = try runTool(Binaries.path("argus-server"), ["serve", "--help"])
        #expect(rc == 0)
        let expected = [
            ("ARGUS_HOST", "127.0.0.1"), ("ARGUS_PORT", "8000"), ("ARGUS_DATA_DIR", "./argus-data"),
            ("ARGUS_BASE_URL", "from the request"), ("ARGUS_IDLE_JOB_THRESHOLD_MIN", "10"),
            ("ARGUS_STALL_TIMEOUT_MIN", "15"), ("ARGUS_WATCHDOG_INTERVAL_S", "60"), ("ARGUS_AGENT_ONLINE_S", "30"),
            ("ARGUS_RETENTION_LOG_LINE_DAYS", "14"), ("ARGUS_RETENTION_SNAPSHOT_DAYS", "7"),
            ("ARGUS_RETENTION_JOB_EPOCH_DAYS", "30"), ("ARGUS_RETENTION_EVENT_OTHER_DAYS", "90"),
            ("ARGUS_RETENTION_SWEEP_MINUTES", "60"),
        ]
        let lines = out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        for (name, def) in expected {
            #expect(lines.contains("\(name) (default \(def))"), "\(name) with default \(def) missing from:\n\(out)")
        }
        let environment = out.components(separatedBy: "USAGE:")[0].split(separator: "\n")
        #expect(environment.allSatisfy { $0.count <= 80 }, "the environment list wraps:\n\(out)")
        // Every line of the list is indented: a meaning too long for one line goes on under its own indent.
        #expect(environment.dropFirst(2).allSatisfy { $0.hasPrefix("  ") }, "a line of the list starts at column 0:\n\(out)")
    }

    @Test("a negative number or an address that cannot be listened on is one sentence, not 'Missing value' or an errno")
    func badNumbersAndAddresses() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let server = Binaries.path("argus-server")
        for (args, said) in [
            (["serve", "--port", "-1", "--data-dir", dir.path], "argus-server: --port must be from 0 to 65535, got -1.\n"),
            (
                ["serve", "--host", "", "--data-dir", dir.path],
                "argus-server: --host must be an address or a name (127.0.0.1 for this machine only, 0.0.0.0 for every interface).\n"
            ),
            (
                ["serve", "--host", "999.1.1.1", "--port", "0", "--data-dir", dir.path],
                "argus-server: cannot listen on 999.1.1.1: it is neither an address nor a name this machine can resolve.\n"
            ),
            (
                ["serve", "--host", "10.255.255.1", "--port", "0", "--data-dir", dir.path],
                "argus-server: cannot listen on 10.255.255.1:0: no network interface of this machine has that address.\n"
            ),
        ] {
            let (rc, _, err) = try runTool(server, args)
            #expect(rc == 1 && err == said, "\(args): \(err)")
        }
        for (tool, args, said) in [
            (server, ["simulate", "--jobs", "-1"], "Error: --jobs must be from 1 to 1000."),
            (server, ["retention", "sweep", "--log-line-days", "-3"], "Error: --log-line-days must be a number of days from 0 to 3650"),
            (Binaries.path("argus-agent"), ["run", "--grace", "-3"], "Error: --grace must be a number of seconds from 0 to 3600."),
        ] {
            let (rc, _, err) = try runTool(tool, args)
            #expect(rc != 0 && err.hasPrefix(said), "\(args): \(err)")
        }
    }
}
