import Logging
import Testing

@testable import ArgusServer

/// The sweep's verdict on the hub, in process: what it may close.
@Suite("Revocation sweep: what a sweep may close")
struct RevocationSweepTests {
    @Test("a stream opened while a sweep read the database is not closed by it; a checked, revoked one is")
    func streamOpenedDuringASweepStaysOpen() throws {
        let hub = SSEHub(bufferChunks: 16, logger: Logger(label: "test"))
        let filter = try ChannelFilter.parse("batch:b1")
        let revoked = try hub.subscribe(filter, credential: .token(1)).get()
        let kept = try hub.subscribe(filter, credential: .token(2)).get()
        // The sweep reads which credentials are open, then asks the database about them ...
        let checked = hub.openCredentials
        // ... and a stream with a valid token subscribes meanwhile (it was authenticated a moment ago).
        let late = try hub.subscribe(filter, credential: .token(3)).get()
        // Token 1 was revoked; 2 is still valid; 3 was not asked about, so the database said nothing of it.
        #expect(hub.close(checked: checked, valid: [.token(2)]) == 1)
        #expect(revoked.closed.isSet)
        #expect(!kept.closed.isSet)
        #expect(!late.closed.isSet, "a stream the sweep did not check was closed")
        #expect(hub.openCredentials == [.token(2), .token(3)])
    }
}
