import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// Secrets never reach the server's log, at any level.
@Suite("Secrets stay out of the log", .enabled(if: TestBackend.firstPass), .ownThread)
struct LogRedactionTests {
    @Test("share tokens in paths, ?token= on SSE and tokens pasted into paths are redacted even at trace level")
    func noSecretInLog() throws {
        let s = try TestServer(serveArgs: ["--log-level", "trace"])
        let userToken = try s.token(user: "alice")
        let owner = s.client(userToken)
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try #require(try ShareTests.mint(owner, "b1")["token"]?.stringValue)
        #expect(try s.client(nil).get("/share/\(share)").status == 200)
        #expect(try s.client(nil).get("/share/\(share)x").status == 404)
        for token in [share, userToken] {
            let stream = SSECollector(url: "\(s.url)/api/sse?channels=batch:b1&token=\(token)", token: nil)
            try stream.waitUntilConnected()
            stream.stop()
        }
        _ = try owner.get("/api/batches/\(userToken)")
        _ = try s.client("wrong").get("/api/batches?access_token=hunter2hunter2")
        Thread.sleep(forTimeInterval: 0.3)  // the SSE request's line is written when it ends
        let log = s.log
        for secret in [share, userToken, "hunter2hunter2"] {
            #expect(!log.contains(secret), "a secret reached the log")
            #expect(!log.contains(String(secret.dropFirst(8))), "part of a secret reached the log")
        }
        #expect(log.contains("GET /share/<redacted> 200"), "\(log.suffix(2000))")
        #expect(log.contains("GET /share/<redacted> 404"))
        #expect(log.contains("/api/sse?channels=batch:b1&token=<redacted> 200"))
        #expect(log.contains("GET /api/batches/<redacted> 404"))
    }
}
