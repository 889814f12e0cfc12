import Foundation
import TestSupport
import Testing

/// The server's log handler (`LineLogHandler`): swift-log's line format, one whole line per request even when
/// requests end at the same time on several threads.
@Suite("Access log", .enabled(if: TestBackend.firstPass), .ownThread)
struct AccessLogTests {
    @Test("one line per request: local time, level, label, request id, method, path, status, duration; none interleaved")
    func linePerRequest() throws {
        let s = try TestServer()
        let n = 50
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            let c = s.client(nil)
            for i in 0..<n { _ = try? c.get(k % 2 == 0 ? "/health" : "/no/such/route/\(i)") }
        }
        Thread.sleep(forTimeInterval: 0.3)
        let pattern =
            #/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info argus-server: hb\.request\.id=[0-9a-f]+ \[ArgusServer\] GET (/health 200|/no/such/route/\d+ 404) \d+\.\dms$/#
        let lines = s.log.split(separator: "\n").filter { $0.contains("GET /") }
        #expect(lines.count == 4 * n, "\(lines.count) request lines")
        for line in lines { #expect(line.wholeMatch(of: pattern) != nil, "\(line)") }
    }
}
