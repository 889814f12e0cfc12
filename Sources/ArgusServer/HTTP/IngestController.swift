import Hummingbird
import NIOCore
import Shared

/// `POST /api/events` and `POST /api/events/batch` (openapi.json), wire-compatible with argus-reporter 0.1.3.
struct IngestController {
    let pipeline: IngestPipeline
    let maxBodyBytes: Int
    /// The server's clock: timestamps too far ahead of it are refused.
    let clock: ServerClock
    /// ARGUS_INGEST_RATE, per token, one unit per event.
    let limiter: RateLimiter
    /// Megabytes of request body a second per token (ARGUS_INGEST_MB_RATE): events with long lines fill a disk
    /// well within the events' budget.
    let bytesLimiter: RateLimiter

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/events") { req, ctx in try await single(req, ctx) }
        router.post("/api/events/batch") { req, ctx in try await batch(req, ctx) }
    }

    func reporter(_ ctx: ArgusRequestContext) throws -> UserPrincipal {
        let u = try ctx.requireUser()
        guard u.scope == TokenScope.reporter.rawValue else {
            throw APIError.forbidden(
                "This token can only read (scope '\(u.scope)'); sending events needs a reporter token.")
        }
        return u
    }

    /// The request's JSON, its bytes spent from the token's byte budget (`bytesLimiter`, ARGUS_INGEST_MB_RATE).
    func body(_ req: Request, _ user: UserPrincipal) async throws -> JSON {
        let (json, bytes) = try await req.jsonBodyAndSize(limit: maxBodyBytes, limitSetBy: "ARGUS_MAX_BODY_MB")
        try bytesLimiter.spend(Double(bytes) / 1_000_000, key: user.tokenID)
        return json
    }

    func single(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let user = try reporter(ctx)
        try limiter.spend(1, key: user.tokenID)
        let event = try IngestController.event(try await body(req, user), nowUs: clock.nowUs())
        let outcome = try await pipeline.submit([IngestItem(event: event, user: user)])[0]
        switch outcome {
        case .accepted(let id):
            return .json(["accepted": true, "event_id": JSON(id), "deduplicated": false])
        case .deduplicated(let id):
            return .json(["accepted": true, "event_id": JSON(id), "deduplicated": true])
        case .rejected(let r):
            throw APIError(status: .init(code: r.status), detail: r.message)
        }
    }

    /// The event of a `POST /api/events` body, or the error it answers.
    static func event(_ body: JSON, nowUs: Int64) throws(APIError) -> IncomingEvent {
        switch EventValidator.validate(body, nowUs: nowUs) {
        case .success(let e): return e
        case .failure(let r): throw APIError(status: .init(code: r.status), detail: r.message)
        }
    }

    /// The items of a `POST /api/events/batch` body (each then validated on its own), or the error for the whole body.
    static func batchItems(_ body: JSON) throws(APIError) -> [JSON] {
        guard case .array(let items)? = body["events"] else {
            throw APIError.unprocessable("The body must be an object with an \"events\" array.")
        }
        guard (1...500).contains(items.count) else {
            throw APIError.unprocessable("A batch holds 1 to 500 events; this one has \(items.count).")
        }
        return items
    }

    func batch(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let user = try reporter(ctx)
        let items = try IngestController.batchItems(try await body(req, user))
        try limiter.spend(Double(items.count), key: user.tokenID)
        var results = [JSON](repeating: .null, count: items.count)
        var toStore: [IngestItem] = []
        var positions: [Int] = []
        let now = clock.nowUs()
        for (k, raw) in items.enumerated() {
            switch EventValidator.validate(raw, nowUs: now) {
            case .success(let e):
                toStore.append(IngestItem(event: e, user: user))
                positions.append(k)
            case .failure(let r):
                results[k] = [
                    "event_id": raw["event_id"] ?? .null, "status": "rejected", "error": .string(r.message),
                ]
            }
        }
        let outcomes = toStore.isEmpty ? [] : try await pipeline.submit(toStore)
        var accepted = 0
        var deduplicated = 0
        for (n, outcome) in outcomes.enumerated() {
            let eventID = JSON.string(toStore[n].event.eventID)
            switch outcome {
            case .accepted(let id):
                accepted += 1
                results[positions[n]] = ["event_id": eventID, "status": "accepted", "db_id": JSON(id)]
            case .deduplicated(let id):
                deduplicated += 1
                results[positions[n]] = ["event_id": eventID, "status": "deduplicated", "db_id": JSON(id)]
            case .rejected(let r):
                results[positions[n]] = [
                    "event_id": eventID, "status": "rejected", "error": .string(r.message),
                ]
            }
        }
        let rejected = items.count - accepted - deduplicated
        // Each item is counted once: stored now (accepted), already stored, also earlier in this very request
        // (deduplicated), or rejected; the three add up to the number of items sent.
        return .json([
            "accepted": JSON(accepted), "rejected": JSON(rejected),
            "deduplicated": JSON(deduplicated),
            "results": .array(results),
        ])
    }
}
