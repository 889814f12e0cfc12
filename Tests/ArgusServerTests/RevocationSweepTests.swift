import Logging
import TestSupport
import Testing

@testable import ArgusServer

/// The sweep's verdict on the hub, in process: what it may close.
@Suite("Revocation sweep: what a sweep may close", .ownThread)
struct RevocationSweepTests {
    @Test("one user holds at most 16 times a credential's streams over their tokens and sessions, and as many again over their links")
    func userCaps() throws {
        let hub = SSEHub(bufferChunks: 16, maxPerCredential: 1, logger: Logger(label: "test"))
        let filter = try ChannelFilter.parse("batch:b1")
        let own = SSEHub.StreamAccount(user: 7, viaShareLinks: false)
        let links = SSEHub.StreamAccount(user: 7, viaShareLinks: true)
        for n in 0..<16 { _ = try hub.subscribe(filter, credential: .session(Int64(n)), user: own).get() }
        guard case .failure(.user) = hub.subscribe(filter, credential: .session(99), user: own) else {
            Issue.record("a 17th stream of user 7's own was let in")
            return
        }
        for n in 0..<16 { _ = try hub.subscribe(filter, credential: .share(Int64(n)), user: links).get() }
        guard case .failure(.user) = hub.subscribe(filter, credential: .share(99), user: links) else {
            Issue.record("a 17th stream over user 7's links was let in")
            return
        }
        _ = try hub.subscribe(filter, credential: .token(1), user: .init(user: 8, viaShareLinks: false)).get()
    }

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
