import Foundation
import Hummingbird
import Shared

/// Share links: mint, list, revoke; and `GET /share/<token>`, which tells a client which batch a link opens
/// (or, to a browser, shows the batch's read-only job page).
struct ShareController {
    let store: ArgusStore
    let pipeline: IngestPipeline
    let revocations: RevocationWatcher
    let baseURL: String?
    let actions: ActionController

    func register(on router: Router<ArgusRequestContext>) {
        router.post("/api/batches/:b/shares") { req, ctx in try await mint(req, ctx) }
        router.get("/api/batches/:b/shares") { _, ctx in
            let (b, _) = try await actions.actionableBatch(ctx)
            return Response.json(.array(try await store.shares(batchID: b.id).map(\.json)))
        }
        router.delete("/api/batches/:b/shares/:id") { _, ctx in
            let (b, _) = try await actions.actionableBatch(ctx)
            guard let id = Int64(try ctx.parameters.require("id")) else { throw APIError.notFound("Share") }
            guard try await store.revokeShare(batchID: b.id, id: id) else { throw APIError.notFound("Share \(id) of batch '\(b.id)'") }
            // The link stops working now: cached lookups are dropped and its open streams closed.
            try await revocations.sweep()
            return Response.json(["id": JSON(id), "revoked": true])
        }
        // A browser (Accept: text/html) gets the read-only job page; other clients (argus-tui) the JSON answer.
        router.get("/share/:token") { req, ctx in
            let html = WebController.wantsHTML(req)
            // As pasted: a space or line break carried along with the link (`%20`, `%0A`) is no part of a token.
            guard let share = try await store.share(forToken: try ctx.parameters.require("token").trimmed()) else {
                if html { return WebController.deadLink() }
                throw APIError(status: .notFound, detail: APIError.deadShareLinkDetail)
            }
            if html { return WebController.page("share") }
            return Response.json(["batch_id": .string(share.batchID), "expires_at": isoJSON(share.expiresUs), "read_only": true])
        }
    }

    func mint(_ req: Request, _ ctx: ArgusRequestContext) async throws -> Response {
        let (b, user) = try await actions.actingOn(ctx)
        // Before anything is made: a link that cannot be handed out is not minted.
        let origin = try WebOrigin.linkOrigin(req, baseURL: baseURL)
        var expiresIn: Double? = nil
        let json = try await req.jsonBody(limit: 64 * 1024, ifEmpty: [:])
        guard json.objectValue != nil else {
            throw APIError.unprocessable("The body must be a JSON object, e.g. {\"expires_in_s\": 86400}, or empty.")
        }
        try json.requireOnlyKeys(["expires_in_s"])
        if let v = json["expires_in_s"], !v.isNull {
            guard let s = v.doubleValue, s > 0, s <= ServerConfig.longestSeconds else {
                throw APIError.unprocessable(
                    "expires_in_s must be a number of seconds greater than 0 and at most \(Int(ServerConfig.longestSeconds)) (10 years).")
            }
            expiresIn = s
        }
        let (share, secret) = try await store.createShare(batchID: b.id, by: user, expiresInS: expiresIn)
        let event = IncomingEvent.server(
            type: "share_created", batchID: b.id, project: b.project,
            data: JSONObject([("share_id", JSON(share.id)), ("created_by", .string(user.name))]), at: .now())
        try await ActionController.afterward("the share_created event of batch '\(b.id)'", ctx) {
            try await pipeline.submitServerEvents([event], as: user)
        }
        return .json(
            [
                "id": JSON(share.id), "token": .string(secret), "url": .string("\(origin)/share/\(secret)"),
                "created_at": isoJSON(share.createdUs), "expires_at": isoJSON(share.expiresUs),
            ], status: .created)
    }
}
