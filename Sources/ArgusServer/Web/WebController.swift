import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web pages (README, "The web page"): `/`, `/batches/{b}`, `/jobs/{b}/{j}`, the browser's view of `/share/<token>`, and the
/// files they load. A page is a shell that needs no credential: its script asks the API for data (with the
/// session cookie, or the share link's token) and offers to sign in when it has none.
struct WebController {
    static let csp =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!

    func register(on router: Router<ArgusRequestContext>) {
        // HEAD too (`curl -I`, link checkers): GET's status and headers.
        for (path, kind) in [("/", "index"), ("/batches/:b", "batch"), ("/jobs/:b/:j", "job")] {
            router.get(RouterPath(path)) { _, _ in WebController.page(kind) }
            router.head(RouterPath(path)) { _, _ in WebController.page(kind).createHeadResponse() }
        }
        // The OpenAPI 3.1 document of every route (scripts/openapi.py writes it; OpenAPITests keeps it whole).
        router.get("/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_json)))
        }
        router.get("/assets/:hash/:name") { _, ctx in
            let name = try ctx.parameters.require("name")
            guard try ctx.parameters.require("hash") == WebAssets.hash, let asset = WebAssets.served[name] else {
                // An old build's URL (or no such file): never answer it with this build's bytes.
                return WebController.respond(
                    status: .notFound, type: "text/plain; charset=utf-8", Array("No such asset in this build.\n".utf8),
                    cache: "no-store")
            }
            return WebController.respond(
                status: .ok, type: asset.contentType, asset.bytes, cache: "public, max-age=31536000, immutable")
        }
    }

    /// The HTML shell of one kind of page: `index`, `batch`, `job` or `share`. `no-store` keeps it out of the
    /// back/forward cache too, so Back after Sign out does not bring back a page full of someone's runs.
    static func page(_ kind: String) -> Response {
        respond(status: .ok, type: "text/html; charset=utf-8", WebAssets.page("page.html", kind: kind), cache: "no-store")
    }

    /// `GET /share/<token>` for a link that opens nothing: a page that says so, with status 404.
    static func deadLink() -> Response {
        notice(
            "dead-link", title: "link not available",
            """
            <section id="dead-link" class="dead-link">
                <h1>This share link does not open anything</h1>
                <p>It was revoked, it has expired, or it never existed. Ask whoever sent it for a new one.</p>
              </section>
            """)
    }

    /// A browser's address that is no page of ours (`/jobs/<batch>` without its job, a typo): a page that says so and
    /// names the pages there are, with status 404, instead of the API's JSON.
    static func notFoundPage() -> Response {
        notice(
            "not-found", title: "no such page",
            """
            <section id="not-found" class="dead-link">
                <h1>There is no such page</h1>
                <p>Pages here are the recent batches (<a href="/">/</a>), a batch (<code>/batches/&lt;batch&gt;</code>) \
            and a job (<code>/jobs/&lt;batch&gt;/&lt;job&gt;</code>).</p>
              </section>
            """)
    }

    /// A page that only says something (`notice.html`), status 404; `section` is fixed HTML of ours.
    static func notice(_ kind: String, title: String, _ section: String) -> Response {
        respond(
            status: .notFound, type: "text/html; charset=utf-8",
            WebAssets.page("notice.html", kind: kind, fill: ["title": title, "notice": section]), cache: "no-store")
    }

    /// Whether the client asked for a page (a browser) rather than JSON (argus-tui, curl, scripts).
    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[values: .accept].joined(separator: ",").split(separator: ",").contains { range in
            let parts = range.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            // `text/html;q=0` says "not HTML".
            return parts.first == "text/html" && !parts.dropFirst().contains { $0.replacingOccurrences(of: " ", with: "") == "q=0" }
        }
    }

    /// Every page and asset carries the same security headers: only our own origin may run scripts, load styles or be
    /// connected to; no framing; no sniffing; no Referer (a share link's token is in its path).
    static func respond(status: HTTPResponse.Status, type: String, _ bytes: [UInt8], cache: String) -> Response {
        let headers: HTTPFields = [
            .contentType: type, .cacheControl: cache, contentSecurityPolicy: csp, contentTypeOptions: "nosniff",
            referrerPolicy: "no-referrer",
        ]
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
