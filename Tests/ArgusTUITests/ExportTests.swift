import ArgusClient
import ArgusTUI
import Foundation
import Shared
import TestSupport
import Testing

/// `argus-tui --export csv|jsonl BATCH/JOB`, the real binary against the real server; and `Export.save`, what the
/// job screen's export key calls.
@Suite("argus-tui --export", .ownThread)
struct ExportTests {
    @Test("prints the route's body and exits 0; each failure is one sentence on stderr and exit 1")
    func export() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try TUIEndToEndTests.seedJob(c, batch: "run 1", job: "seed 1", epochs: 5)
        let env = ["ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let tui = Binaries.path("argus-tui")
        for format in ["csv", "jsonl"] {
            // Ids that need encoding: the target splits at the first '/'.
            let (rc, out, err) = try runTool(tui, ["--export", format, "run 1/seed 1"], env: env)
            #expect(rc == 0 && err.isEmpty, "\(err)")
            #expect(out == (try c.get(APIPath.epochs("run 1", "seed 1", format: format))).text)
            #expect(out.split(whereSeparator: \.isNewline).count == (format == "csv" ? 6 : 5))
        }
        let failures: [([String], [String: String], String)] = [
            (["--export", "csv", "run 1"], env, "needs a BATCH/JOB target"),
            (["--export", "xml", "run 1/seed 1"], env, "--export must be csv or jsonl"),
            (["--export", "csv", "run 1/nope"], env, "Job 'nope' of batch 'run 1' not found."),
            (["--export", "csv", "run 1/seed 1"], ["ARGUS_URL": s.url, "ARGUS_TOKEN": ""], "no token"),
            (["--export", "csv", "run 1/seed 1"], ["ARGUS_URL": s.url, "ARGUS_TOKEN": "em_live_wrong"], "rejected the token"),
            (["--export", "csv", "run 1/seed 1"], ["ARGUS_URL": "http://127.0.0.1:\(freePort())", "ARGUS_TOKEN": token], "Cannot reach"),
        ]
        for (args, env, says) in failures {
            let (rc, out, err) = try runTool(tui, args, env: env)
            #expect(rc == 1 && out.isEmpty, "\(args): \(rc) \(out)")
            #expect(err.contains(says) && err.split(separator: "\n").count == 1, "\(args): \(err)")
        }
        // Nowhere to write it (a full disk): said, and exit 1, not a silent 0 with the export lost.
        let full = try runTool(
            "/bin/sh", ["-c", "exec \"$0\" --export csv 'run 1/seed 1' > /dev/full", tui], env: env)
        #expect(full.0 == 1 && full.2 == "argus-tui: cannot write to standard output: No space left on device.\n", "\(full)")
        let dumped = try runTool("/bin/sh", ["-c", "exec \"$0\" --dump 'run 1/seed 1' > /dev/full", tui], env: env)
        #expect(dumped.0 == 1 && dumped.2 == "argus-tui: cannot write to standard output: No space left on device.\n", "\(dumped)")
        #expect((try runTool(tui, ["--help"])).1.contains("--export"))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = try Export.save(url: s.url, token: token, batchID: "run 1", jobID: "seed 1", format: .csv, directory: dir.path)
        #expect(path.hasSuffix("/run_1_seed_1.csv"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == (try c.get(APIPath.epochs("run 1", "seed 1", format: "csv"))).text)

        // Ids longer than a file name may be (255 bytes): the name is cut and ends with a hash of both ids.
        let longJob = String(repeating: "x", count: 200) + String(repeating: "長", count: 50)
        try TUIEndToEndTests.seedJob(c, batch: "run 1", job: longJob, epochs: 2)
        let long = try Export.save(url: s.url, token: token, batchID: "run 1", jobID: longJob, format: .jsonl, directory: dir.path)
        let name = URL(fileURLWithPath: long).lastPathComponent
        #expect(name.hasPrefix("run_1_xxxx") && name.hasSuffix(".jsonl") && name.utf8.count <= 160, "\(name)")
        #expect(try String(contentsOfFile: long, encoding: .utf8) == (try c.get(APIPath.epochs("run 1", longJob, format: "jsonl"))).text)
        let other = Export.fileName(batchID: "run 1", jobID: longJob + "2", format: .jsonl)
        #expect(other != name && other.utf8.count == name.utf8.count)
    }
}
