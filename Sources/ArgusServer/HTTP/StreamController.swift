import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOCore
import ServiceLifecycle
import Shared

/// `GET /api/sse` (README, "API in brief"): replay after `Last-Event-ID`, then live, with no gap and no duplicate.
struct StreamController {
    let store: ArgusStore
    let hub: SSEHub
    /// ARGUS_SSE_KEEPALIVE_S, announced in `hello` so a client can tell a stalled stream from a quiet one.
    let keepaliveS: Double

    static let lastEventIDHeader = HTTPField.Name("Last-Event-ID")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!

    func register(on router: Router<ArgusRequestContext>) {
        router.get("/api/sse") { req, ctx in try await stream(req, ctx) }
    }

    /// What a stream request asks for: its channels (`channels=`) and where to resume (`Last-Event-ID`, else
    /// `last_event_id=`; nil: live only). Bad values are a 422 sentence.
    static func subscription(_ uri: URI, lastEventIDHeader: String?) throws(APIError) -> (
        filter: ChannelFilter, lastID: Int64?
    ) {
        let query = uri.form
        let filter = try ChannelFilter.parse(query.get("channels").map { String($0) } ?? "")
        guard let text = lastEventIDHeader ?? query.get("last_event_id").map({ String($0) }), !text.isEmpty else {
            return (filter, nil)
        }
        let digits = text.trimmed()
        guard let v = Int64(digits), v >= 0 else {
            if !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                throw APIError.unprocessable("Last-Event-ID \(digits.prefix(40)) is larger than any event id can be (\(Int64.max)).")
            }
            throw APIError.unprocessable("Last-Event-ID must be a non-negative integer event id.")
        }
        return (filter, v)
    }

    func stream(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let scope = try ctx.readScope()
        let (filter, askedFrom) = try StreamController.subscription(
            req.uri, lastEventIDHeader: req.headers[StreamController.lastEventIDHeader])
        let keepaliveForm = req.uri.form.get("keepalive").flatMap { $0.isEmpty ? nil : $0 } ?? "comment"
        guard ["event", "comment"].contains(keepaliveForm) else {
            throw APIError.unprocessable("keepalive must be event or comment, got '\(keepaliveForm.prefix(40))'.")
        }
        var owners: Set<Int64> = []
        for b in filter.batchIDs.sorted() {
            guard let batch = try await store.batch(b, scope: scope) else {
                throw APIError.notFound("Batch '\(b)'")
            }
            owners.insert(batch.ownerID)
        }
        // Whose streams this one counts among: the caller's, or for a share link its batch's owner's links'.
        let user: SSEHub.StreamAccount? =
            switch ctx.principal {
            case .user(let u)?: .init(user: u.id, viaShareLinks: false)
            case .share?: owners.first.map { .init(user: $0, viaShareLinks: true) }
            default: nil
            }
        // While nothing can be stored, nothing new can be streamed: said, rather than a stream that reads as live
        // (the watchdog closes the open ones). A client tries again and resumes by id once writes work.
        if let fault = await store.writeFault() {
            throw APIError(
                status: .serviceUnavailable, detail: fault.streamDetail, headers: [.retryAfter: String(StorageFault.retryAfterS)])
        }
        // Subscribe before replaying, so an event committed during the replay is queued, not missed.
        let subscribed = try await hub.subscribeFreeingLeft(
            filter, credential: ctx.principal?.credential, expiresUs: ctx.principal?.expiresUs,
            asAdmin: ctx.principal?.isAdminUser == true, user: user)
        guard case .success(let (subID, live, closed)) = subscribed else {
            // Only a stream with a credential is ever refused.
            let credential = ctx.principal?.credential
            let limit = credential.map(hub.limit) ?? hub.maxPerCredential
            let detail =
                if case .failure(.user) = subscribed {
                    if case .share? = credential {
                        "The share links of this batch's owner are open in \(hub.maxPerUser) places already, the most the server allows one user's links: try again later."
                    } else {
                        "You have \(hub.maxPerUser) streams open already, over your tokens and sessions, the most the server allows one user (16 times ARGUS_MAX_STREAMS_PER_TOKEN); close some first."
                    }
                } else if case .share? = credential {
                    // Said to whoever opened a link someone passed round, who can close none of the others.
                    "This share link is open in \(limit) places already, the most the server allows for one link: try again later, or ask its owner for a link of your own."
                } else {
                    "This credential already has \(limit) open streams (ARGUS_MAX_STREAMS_PER_TOKEN); close one first."
                }
            throw APIError(status: .tooManyRequests, detail: detail, headers: [.retryAfter: "5"])
        }
        // A live-only stream carries what commits from now on: an event committed before it opened but handed to
        // the hub after (the publisher, or a replica's EventTail, runs a moment behind the commit) is not sent.
        let newest: Int64
        do { newest = try await store.newestEventID() } catch {
            hub.unsubscribe(subID)
            throw error
        }
        let openedAfter = askedFrom == nil ? newest : 0
        // A resume point past every id this database handed out is from another history (a data directory restored
        // from a backup, which hands those ids out again, or another server's): resuming after it would hold back
        // every new event until the ids caught up. The stream goes on from now, and `hello` says `reset`, so a
        // client drops what it holds and loads the state again.
        let reset = askedFrom.map { $0 > newest } ?? false
        let resumeFrom = reset ? newest : askedFrom
        let store = self.store
        let hub = self.hub
        // A browser's EventSource never shows comments to the page, so it cannot tell a quiet stream from one whose
        // connection died silently (a laptop's sleep, a NAT that forgot it). `keepalive=event` sends each keepalive
        // as an event (no id: it never moves the resume point) that the page's watchdog can see.
        let keepalive =
            keepaliveForm == "event"
            ? SSEEncoder.frame(id: nil, event: "keepalive", data: "{}") : SSEEncoder.comment("keepalive")
        var greeting = JSONObject([
            ("channels", .array(filter.names.map { .string($0) })), ("last_event_id", JSON(resumeFrom)),
            ("keepalive_s", .number(keepaliveS)),
        ])
        if reset { greeting["reset"] = true }
        let hello = JSON.object(greeting)
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache",
            StreamController.accelBuffering: "no",
        ]
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                defer { hub.unsubscribe(subID) }
                do {
                    try await writer.write(
                        ByteBuffer(
                            string: "retry: 2000\n"
                                + SSEEncoder.frame(id: nil, event: "hello", data: hello.serialized())))
                    var sent = resumeFrom ?? 0
                    if let resumeFrom {
                        var cursor = resumeFrom
                        while !closed.isSet {
                            let (page, done) = try await store.replay(filter, after: cursor)
                            if !page.isEmpty {
                                var buf = ByteBuffer()
                                for e in page { buf.writeString(e.sseFrame) }
                                try await writer.write(buf)
                                cursor = page.last!.id
                                sent = cursor
                            }
                            if done { break }
                        }
                    }
                    // The state as of now, after the history: clients take run state only from summary frames. Its id
                    // is the last one sent, so it never moves a client's resume point (none when nothing was sent).
                    var opening = ByteBuffer()
                    for summary in try await store.currentSummaries(filter) {
                        let data = summary.json(id: nil, channel: Channel.batch(summary.batch.id).name).serialized()
                        opening.writeString(
                            SSEEncoder.frame(id: sent > 0 ? sent : nil, event: SummaryFrame.eventType, data: data))
                    }
                    try await writer.write(opening)
                    sent = max(sent, openedAfter)
                    for await chunk in live.cancelOnGracefulShutdown() {
                        // Revoked: not one more frame, even if some are still buffered.
                        if closed.isSet { break }
                        switch chunk {
                        case .keepalive:
                            try await writer.write(ByteBuffer(string: keepalive))
                        case .frames(let ids, let joined, let each):
                            guard let maxID = ids.last, maxID > sent else { continue }
                            if ids[0] > sent {
                                try await writer.write(joined)
                            } else {
                                var buf = ByteBuffer()
                                for (id, frame) in zip(ids, each) where id > sent { buf.writeImmutableBuffer(frame) }
                                try await writer.write(buf)
                            }
                            sent = maxID
                        }
                    }
                    try await writer.finish(nil)
                } catch let e where !(e is CancellationError) {
                    // The history or the summaries cannot be read (a damaged file, a database gone): the stream ends
                    // with an `error` frame that says why, instead of staying open and silent. Clients reconnect.
                    let detail = store.noteFailure(e)?.readDetail ?? "The server could not read this stream's events."
                    let frame = SSEEncoder.frame(id: nil, event: "error", data: (["detail": .string(detail)] as JSON).serialized())
                    try? await writer.write(ByteBuffer(string: frame))
                    try await writer.finish(nil)
                }
            })
    }
}
