import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The README's Python example is what a new user pastes first: it must run, unchanged, with the real SDK.
@Suite("README: the Python example", .ownThread)
struct ReadmeExampleTests {
    static func pythonExample() throws -> String {
        let readme = try String(
            contentsOf: PythonSDK.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "```python\n"),
            let end = readme.range(of: "\n```", range: start.upperBound..<readme.endIndex)
        else { throw TestFailure("README.md has no ```python block") }
        return String(readme[start.upperBound..<end.lowerBound])
    }

    @Test("runs against a live server and lands every epoch; the batch ends done")
    func readmeExampleRuns() throws {
        let script = try Self.pythonExample()
        #expect(!script.contains("..."), "the example must use real values, not ...")
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token(user: "newcomer")
        let (rc, out, err) = try runTool(
            python, ["-c", script], env: ["ARGUS_URL": s.url, "ARGUS_TOKEN": token, "HOME": s.dataDir.path])
        #expect(rc == 0, "the README example failed: \(err)")
        let batchID = try #require(out.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) })
        #expect(out.hasPrefix("watch it with: argus-tui resnet-"))
        #expect(!err.contains("spilled"), "the SDK spilled events: \(err)")
        let spill = s.dataDir.appendingPathComponent(".argus-reporter").path
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: spill)) ?? []).isEmpty, "spill files left")
        let c = s.client(token)
        #expect(try c.mustGet("/api/batches/\(batchID)")["status"] == "done")
        let epochs = try #require(try c.mustGet("/api/jobs/\(batchID)/resnet50-seed0/epochs").arrayValue)
        #expect(epochs.compactMap { $0["epoch"]?.intValue } == Array(0..<20))
        let logs = try #require(try c.mustGet("/api/jobs/\(batchID)/resnet50-seed0/log-lines").arrayValue)
        #expect(logs.first?["line"] == "epoch 19: train_loss 0.314")
    }
}

/// On a shared GPU box every local user reads every process's arguments (`ps`): the recipes a user copies must not
/// put a token there, and `--help` says so where the flag is offered.
@Suite("README: no token on a command line", .ownThread)
struct TokenOutOfArgvTests {
    @Test("README and the tarball's INSTALL.txt pass the token through ARGUS_TOKEN; argus-tui --help warns about --token")
    func recipesUseTheEnvironment() throws {
        let root = PythonSDK.packageRoot
        for file in ["README.md", "scripts/package.sh"] {
            let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
            let hits = text.split(separator: "\n").filter {
                $0.range(of: #"--token (em_|T\b|TOKEN|\$)"#, options: .regularExpression) != nil
            }
            #expect(hits.isEmpty, "\(file) puts a token on a command line: \(hits)")
        }
        let (rc, help, _) = try runTool(Binaries.path("argus-tui"), ["--help"])
        #expect(rc == 0)
        let words = help.split(whereSeparator: \.isWhitespace).joined(separator: " ")  // the help is wrapped
        #expect(words.contains("can read it in `ps`: prefer env ARGUS_TOKEN"), "\(help)")
    }
}
