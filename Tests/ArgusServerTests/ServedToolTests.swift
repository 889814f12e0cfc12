import Foundation
import TestSupport
import Testing

/// The runner the web page suites keep their browser in (`ServedTool`, TestSupport): what a scenario's test sees
/// when the runner answers, exits, or hangs.
@Suite("ServedTool: one long-lived runner, one request at a time", .enabled(if: TestBackend.firstPass), .ownThread)
struct ServedToolTests {
    /// A runner in sh: answers each line with its output and "\u{1E}<status>", exits on "exit", hangs on "hang".
    static let script = #"""
        while read -r line; do
          case "$line" in
            *exit*) echo "leaving"; exit 3 ;;
            *hang*) sleep 60 ;;
            *) echo "got $line"; echo "on stderr" >&2; printf '\036%s\n' 0 ;;
          esac
        done
        """#

    @Test("answers come back with their output (stderr included) and status; the same runner serves the next request")
    func answers() throws {
        let tool = ServedTool("/bin/sh", ["-c", Self.script])
        defer { tool.close(timeout: 2) }
        let (rc, out) = try tool.run(["n": 1], timeout: 10)
        #expect(rc == 0 && out == "got {\"n\":1}\non stderr\n", "\(rc) \(out)")
        let (rc2, out2) = try tool.run(["n": 2], timeout: 10)
        #expect(rc2 == 0 && out2.hasPrefix("got {\"n\":2}"), "\(rc2) \(out2)")
    }

    @Test("a runner that exits gives its status and says so; the next request starts a new one")
    func exits() throws {
        let tool = ServedTool("/bin/sh", ["-c", Self.script])
        defer { tool.close(timeout: 2) }
        let (rc, out) = try tool.run(["do": "exit"], timeout: 10)
        #expect(rc == 3 && out.hasPrefix("leaving\n") && out.hasSuffix("(the runner exited)"), "\(rc) \(out)")
        let (rc2, out2) = try tool.run(["n": 3], timeout: 10)
        #expect(rc2 == 0 && out2.hasPrefix("got {\"n\":3}"), "\(rc2) \(out2)")
    }

    @Test("a request with no answer in time kills the runner and what it started; the next request starts a new one")
    func hangs() throws {
        let tool = ServedTool("/bin/sh", ["-c", Self.script])
        defer { tool.close(timeout: 2) }
        let asked = Date()
        let (rc, out) = try tool.run(["do": "hang"], timeout: 1)
        #expect(rc == -1 && out.hasSuffix("(no answer within 1 s: the runner was killed)"), "\(rc) \(out)")
        #expect(Date().timeIntervalSince(asked) < 5)
        let (rc2, out2) = try tool.run(["n": 4], timeout: 10)
        #expect(rc2 == 0 && out2.hasPrefix("got {\"n\":4}"), "\(rc2) \(out2)")
    }
}
