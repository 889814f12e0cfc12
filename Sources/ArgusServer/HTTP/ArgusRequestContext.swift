import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Shared
import Synchronization

/// Who is calling: a user's API token, a share link or an agent.
enum Principal: Sendable {
    case user(UserPrincipal)
    /// A share link: may read one batch, and nothing else, until `expiresUs` if set.
    case share(batchID: String, shareID: Int64, expiresUs: Int64?)
    /// An argus-agent: may only use its own agent routes.
    case agent(Int64)

    /// The stored credential behind the principal: what a revocation names.
    var credential: Credential {
        switch self {
        case .user(let u): return u.session.map { .session($0.id) } ?? .token(u.tokenID)
        case .share(_, let id, _): return .share(id)
        case .agent(let id): return .agent(id)
        }
    }

    /// A user who is an admin (sees every batch).
    var isAdminUser: Bool {
        if case .user(let u) = self { return u.isAdmin }
        return false
    }

    /// When the credential stops being valid on its own (share links with an expiry, web sessions).
    var expiresUs: Int64? {
        switch self {
        case .share(_, _, let e): return e
        case .user(let u): return u.session?.expiresUs
        case .agent: return nil
        }
    }
}

/// A stored credential by kind and row id (never the secret).
enum Credential: Hashable, Sendable {
    case token(Int64)
    case share(Int64)
    case agent(Int64)
    /// A web session (which also ends with the token it was made from).
    case session(Int64)
}

/// The request context: Hummingbird's core storage plus the authenticated principal.
struct ArgusRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var principal: Principal?
    /// The peer's address (`/metrics` is open to loopback only, by default).
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Whether the request came from this machine.
    var fromLoopback: Bool {
        switch remoteAddress {
        case .v4(let a)?: return a.host.hasPrefix("127.")
        case .v6(let a)?: return a.host == "::1" || a.host.hasPrefix("::ffff:127.")
        default: return false
        }
    }

    /// Bodies are collected explicitly with our own cap (see `APIError.tooLarge`).
    var maxUploadSize: Int { 64 * 1024 * 1024 }

    /// The route's path parameters, percent-decoded: the one place ids from a URL are decoded. The router
    /// matches on the raw path (so `%2F` stays inside its segment) and hands segments over still encoded;
    /// this shadows Hummingbird's `parameters`, so every handler's `ctx.parameters` reads ids as stored.
    /// A segment that is not valid percent-encoding is kept as sent, and simply matches no id. Ids are then put in
    /// their one stored form (`IDEncoding.canonical`).
    var parameters: Parameters {
        let raw = coreContext.parameters
        // The common case, plain ASCII ids with nothing percent-encoded, is already in its stored form.
        if raw.allSatisfy({ $0.value.utf8.allSatisfy { $0 < 0x80 && $0 != UInt8(ascii: "%") } }) { return raw }
        return Parameters(
            coreContext.parameters.map { p in
                (key: p.key, value: IDEncoding.decode(String(p.value)).map { IDEncoding.canonical($0)[...] } ?? p.value)
            })
    }

    func requireUser() throws -> UserPrincipal {
        switch principal {
        case .user(let u)?: return u
        case .share?: throw APIError.forbidden("A share link can only read the batch it was made for.")
        case .agent?: throw APIError.forbidden("An agent token can only poll for and acknowledge its own commands.")
        case nil: throw APIError.unauthorized
        }
    }

    func readScope() throws -> ReadScope {
        if case .share(let b, _, _)? = principal { return .batch(b) }
        return .user(try requireUser())
    }
}

/// An error with an HTTP status and one readable sentence; rendered as `{"detail": ...}`.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var detail: String
    var headers: HTTPFields = [:]
    var extra: JSONObject = JSONObject()

    init(status: HTTPResponse.Status, detail: String, headers: HTTPFields = [:], extra: JSONObject = JSONObject()) {
        self.status = status
        self.detail = APIError.oneLine(detail)
        self.headers = headers
        self.extra = extra
    }

    /// A detail is one line: a control character or line break inside a value it quotes (a timestamp sent as
    /// "\n2026-…", a channel name) shows as a space.
    static func oneLine(_ text: String) -> String {
        func breaks(_ s: Unicode.Scalar) -> Bool {
            switch s.properties.generalCategory {
            case .control, .lineSeparator, .paragraphSeparator: return true
            default: return false
            }
        }
        guard text.unicodeScalars.contains(where: breaks) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { breaks($0) ? " " : $0 }))
    }

    static let unauthorized = APIError(
        status: .unauthorized, detail: "Missing or unknown token: send Authorization: Bearer <token>.",
        headers: [.wwwAuthenticate: "Bearer"])
    /// A share link that no longer opens anything: 404 on `/share/<token>`, 401 when used as a bearer token.
    static let deadShareLinkDetail = ServerSentences.deadShareLink
    /// An API token that was revoked (said only to whoever holds the secret itself).
    static let revokedToken = APIError(status: .unauthorized, detail: "This token was revoked.", headers: unauthorized.headers)
    /// An agent token whose agent, or the token that registered it, was revoked.
    static let revokedAgent = APIError(
        status: .unauthorized, detail: ArgusStore.revokedAgentDetail, headers: unauthorized.headers)
    static func notFound(_ what: String) -> APIError {
        // `what` quotes the id the client sent: a 20 kB id makes no readable sentence, so its middle goes.
        let shown = what.count <= 200 ? what : what.prefix(120) + "…" + what.suffix(40)
        return APIError(status: .notFound, detail: "\(shown) not found.")
    }
    static func unprocessable(_ d: String) -> APIError {
        APIError(status: .unprocessableContent, detail: d)
    }
    static func forbidden(_ d: String) -> APIError { APIError(status: .forbidden, detail: d) }
    /// 503 with `Retry-After`: the database cannot be written (or read) for a disk fault; one sentence says which.
    /// 503 for a storage fault; `reading`: the request only reads (GET, HEAD), so nothing could have been stored.
    static func storage(_ fault: StorageFault, reading: Bool = false) -> APIError {
        APIError(
            status: .serviceUnavailable, detail: reading ? fault.readDetail : fault.requestDetail,
            headers: [.retryAfter: String(StorageFault.retryAfterS)])
    }
    /// 413, closing the connection: the rest of an oversized body is not worth reading.
    /// `setBy`: the variable that sets the limit (the server-wide one by default); nil for a route's own fixed limit.
    static func tooLarge(declared: Int? = nil, limit: Int, setBy: String? = "ARGUS_MAX_BODY_MB") -> APIError {
        let size = declared.map { "The body is too large (\($0) bytes); " } ?? "The body is too large; "
        return APIError(
            status: .contentTooLarge,
            detail: size + (setBy.map { "the limit is \(limit) bytes (\($0))." } ?? "this request takes at most \(limit) bytes."),
            headers: [.connection: "close"])
    }
}

extension Response {
    static func json(_ value: JSON, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:])
        -> Response
    {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256 + value.rawByteCount)
        value.write(into: &bytes)
        var h = headers
        h[.contentType] = "application/json"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Turns every thrown error into a JSON `{"detail": ...}` response; nothing escapes as a bare 500.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = ArgusRequestContext
    /// ARGUS_MAX_BODY_MB, named in the 413 sentence.
    let maxBodyBytes: Int
    /// A database error is judged a fault of the disk or the server (503) by where the database lives
    /// (`store.dataDir`, nil on PostgreSQL); `/health` then asks the database again (`noteDatabaseFailure`).
    let store: ArgusStore

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            var body = e.extra
            body["detail"] = .string(e.detail)
            return .json(.object(body), status: e.status, headers: e.headers)
        } catch is NIOTooManyBytesError {
            let e = APIError.tooLarge(limit: maxBodyBytes)
            return .json(["detail": .string(e.detail)], status: e.status, headers: e.headers)
        } catch is HTTPParserError {
            // The client went away mid-request, or was cut off by a request deadline (RequestDeadlineHandler).
            return .json(
                ["detail": "The request ended before its body was complete (bodies must arrive within ARGUS_BODY_TIMEOUT_S)."],
                status: .badRequest, headers: [.connection: "close"])
        } catch let e as HTTPError {
            let detail: String
            if e.status == .notFound, request.method == .get, !request.uri.path.hasPrefix("/api/"),
                WebController.wantsHTML(request)
            {
                return WebController.notFoundPage()
            }
            let path = request.uri.path
            // argus-reporter's `upload`, `auto_upload_dirs` and `job_artifact` post files here: said plainly (the SDK
            // logs it at DEBUG) rather than as a method the route does not take.
            if request.method == .post, path.hasSuffix("/artifacts"), path.hasPrefix("/api/jobs/") || path.hasPrefix("/api/batches/") {
                return .json(
                    ["detail": "This server does not store artifacts (files the SDK uploads): they stay where the run wrote them."],
                    status: .notFound)
            }
            switch e.status {
            case .notFound: detail = "No such route: \(request.method) \(request.uri.path)."
            case .methodNotAllowed:
                detail = "Method \(request.method) is not allowed on \(request.uri.path)."
            default: detail = e.body ?? e.status.reasonPhrase
            }
            return .json(["detail": .string(detail)], status: e.status, headers: e.headers)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A write's disk fault arrives as a StorageFault already; a read's as SQLite's error. A GET that writes
            // (an agent's poll notes that it was seen) says the write's sentence: its read did not fail.
            if let fault = store.noteFailure(error) {
                let reading = (request.method == .get || request.method == .head) && !(error is StorageFault)
                let e = APIError.storage(fault, reading: reading)
                return .json(["detail": .string(e.detail)], status: e.status, headers: e.headers)
            }
            context.logger.error("internal error: \(error)")
            return .json(["detail": "Internal server error."], status: .internalServerError)
        }
    }
}

/// Resolves `Authorization: Bearer <token>` (or `?token=` on the SSE route, for EventSource), or else the web session
/// cookie, into a principal. A cookie is sent by the browser on its own, so a request it authenticates may change
/// something only when it proves it came from our own page (`WebOrigin.checkCSRF`).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = ArgusRequestContext
    let auth: Authenticator
    /// ARGUS_BASE_URL: its origin is ours too (behind a proxy the Host header may differ).
    let baseURL: String?

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var ctx = context
        var token: String? = nil
        if let h = request.headers[.authorization] {
            let parts = h.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                token = parts[1].trimmed()
            }
        } else if request.uri.path == "/api/sse", let t = request.uri.form.get("token") {
            token = t
        }
        if let token, !token.isEmpty {
            guard let p = try await auth.principal(for: token) else { throw try await auth.refusal(of: token) }
            ctx.principal = p
        } else if request.headers[.authorization] == nil, let secret = WebOrigin.sessionCookie(request.headers) {
            guard let user = try await auth.principal(forSession: secret) else {
                // An unknown or ended session is simply no credential: the page then offers to sign in. A route that
                // needs one says why there is none, rather than asking for a bearer token a browser never sends.
                do { return try await next(request, ctx) } catch let e as APIError where e.status == .unauthorized {
                    throw APIError(
                        status: .unauthorized, detail: "Your session has ended (signed out, expired, or its token revoked): sign in again.",
                        headers: e.headers)
                }
            }
            try WebOrigin.checkCSRF(request, baseURL: baseURL)
            ctx.principal = .user(user)
        }
        return try await next(request, ctx)
    }
}

/// Token → principal, with a short cache so hot ingest paths skip the database. A revocation (here or in another
/// process) empties the cache through `RevocationWatcher`, so the cache never outlives one.
final class Authenticator: Sendable {
    let store: ArgusStore
    private let cache = Mutex<[String: (Principal, Date)]>([:])
    private let sessions = Mutex<[String: (UserPrincipal, Date)]>([:])
    private let ttl: TimeInterval = 2

    init(store: ArgusStore) { self.store = store }

    func principal(for token: String) async throws -> Principal? {
        let now = Date()
        if let hit = cache.withLock({ $0[token] }), hit.1 > now { return hit.0 }
        guard token.count <= 512 else { return nil }
        let p: Principal
        if let user = try await store.principal(forToken: token) {
            p = .user(user)
        } else if let share = try await store.share(forToken: token) {
            p = .share(batchID: share.batchID, shareID: share.id, expiresUs: share.expiresUs)
        } else if let agent = try await store.agent(forToken: token) {
            p = .agent(agent)
        } else {
            _ = cache.withLock { $0.removeValue(forKey: token) }
            return nil
        }
        // A share link is never served from the cache past its expiry.
        let until = Authenticator.cacheUntil(now.addingTimeInterval(ttl), p.expiresUs)
        cache.withLock { c in
            if c.count > 10_000 { c.removeAll() }
            c[token] = (p, until)
        }
        return p
    }

    /// The user behind a web session cookie; cached like tokens, in a cache of its own.
    func principal(forSession secret: String) async throws -> UserPrincipal? {
        let now = Date()
        if let hit = sessions.withLock({ $0[secret] }), hit.1 > now { return hit.0 }
        guard secret.count <= 512, let user = try await store.principal(forSession: secret) else {
            _ = sessions.withLock { $0.removeValue(forKey: secret) }
            return nil
        }
        let until = Authenticator.cacheUntil(now.addingTimeInterval(ttl), Principal.user(user).expiresUs)
        sessions.withLock { c in
            if c.count > 10_000 { c.removeAll() }
            c[secret] = (user, until)
        }
        return user
    }

    static func cacheUntil(_ date: Date, _ expiresUs: Int64?) -> Date {
        guard let e = expiresUs else { return date }
        return min(date, Date(timeIntervalSince1970: Double(e) / 1e6))
    }

    /// The 401 for a bearer secret `principal(for:)` did not know: a dead share link, a revoked token or a revoked
    /// agent says so; anything else is the generic sentence.
    func refusal(of token: String) async throws -> APIError {
        if token.hasPrefix(Secret.sharePrefix) {
            return APIError(status: .unauthorized, detail: APIError.deadShareLinkDetail, headers: APIError.unauthorized.headers)
        }
        guard token.count <= 512 else { return APIError.unauthorized }
        if token.hasPrefix(Secret.agentPrefix), try await store.agentExists(forToken: token) { return APIError.revokedAgent }
        if TokenScope.allCases.contains(where: { token.hasPrefix($0.prefix) }), try await store.tokenWasRevoked(token) {
            return APIError.revokedToken
        }
        return APIError.unauthorized
    }

    /// Drops every cached token and session, so a revocation takes effect at once.
    func forgetAll() {
        cache.withLock { $0.removeAll() }
        sessions.withLock { $0.removeAll() }
    }
}

/// One info line per request, after it completes: method, path and query (secrets redacted), status, duration.
struct RequestLogMiddleware: RouterMiddleware {
    typealias Context = ArgusRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let ms = (ContinuousClock.now - start).milliseconds
        context.logger.info(
            "\(request.method) \(LogRedaction.uri(path: request.uri.path, query: request.uri.query)) \(response.status.code) \(Duration.tenths(ms))ms"
        )
        return response
    }
}

extension Duration {
    /// `ms` with one decimal ("0.5", "12.0"), without Foundation's `String(format:)` (the access log's line per request).
    static func tenths(_ ms: Double) -> String {
        guard ms.isFinite, ms >= 0, ms < 1e15 else { return "\(ms)" }
        let t = Int((ms * 10).rounded())
        return "\(t / 10).\(t % 10)"
    }

    var milliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}
