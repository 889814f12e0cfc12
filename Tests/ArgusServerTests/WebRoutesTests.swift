import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The web pages at the HTTP level, against the real server: routes and headers, the share link's answer
/// to a browser, the assets, and signing in with a session cookie. What the page shows is WebPageTests' business.
@Suite("Web routes, assets and sessions", .ownThread)
struct WebRoutesTests {
    static let csp =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    static let html = ["Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"]

    /// The page's files as they are in the source tree (the binary must serve each of them).
    static var assetFolder: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/ArgusServer/Web/Assets")
    }

    static func assetNames() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: assetFolder.path).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// `/assets/<hash>` as the page references it.
    static func assetPrefix(_ page: HTTPResult) throws -> String {
        let r = try #require(page.text.range(of: #"/assets/[0-9a-f]{12}"#, options: .regularExpression))
        return String(page.text[r])
    }

    static func expectSecurityHeaders(_ r: HTTPResult, _ what: String) {
        #expect(r.headers["content-security-policy"] == csp, "\(what): CSP")
        #expect(r.headers["x-content-type-options"] == "nosniff", "\(what): nosniff")
        #expect(r.headers["referrer-policy"] == "no-referrer", "\(what): Referrer-Policy")
    }

    /// Signs in with `token`; returns the `Set-Cookie` header and the session secret.
    static func signIn(_ s: TestServer, _ token: String, headers: [String: String] = [:]) throws -> (String, String) {
        let r = try s.client(nil).request("POST", "/api/session", body: Array(#"{"token": "\#(token)"}"#.utf8), headers: headers)
        #expect(r.status == 204, "\(r.text)")
        let cookie = try #require(r.headers["set-cookie"])
        let pair = try #require(cookie.split(separator: ";").first)
        #expect(pair.hasPrefix("argus_session="))
        return (cookie, String(pair.dropFirst("argus_session=".count)))
    }

    static func withCookie(_ secret: String, _ extra: [String: String] = [:]) -> [String: String] {
        extra.merging(["Cookie": "argus_session=\(secret)"]) { a, _ in a }
    }

    @Test("/, /batches/{b} and /jobs/{b}/{j} are HTML shells with CSP, nosniff and no-store; their assets are immutable")
    func pagesAndAssets() throws {
        let s = try TestServer()
        let c = s.client(nil)
        for (path, kind) in [("/", "index"), ("/batches/b%2F1", "batch"), ("/jobs/b1/j%20one", "job")] {
            let r = try c.request("GET", path, headers: Self.html)
            #expect(r.status == 200, "\(path)")
            #expect(r.headers["content-type"] == "text/html; charset=utf-8", "\(path)")
            #expect(r.headers["cache-control"] == "no-store", "\(path)")
            Self.expectSecurityHeaders(r, path)
            #expect(r.text.contains(#"<body data-page="\#(kind)">"#), "\(path)")
            // HEAD (`curl -I`, a link checker): GET's status and headers, no body.
            let head = try c.request("HEAD", path, headers: Self.html)
            #expect(head.status == 200 && head.body.isEmpty, "HEAD \(path): \(head.status)")
            #expect(head.headers["content-type"] == "text/html; charset=utf-8", "HEAD \(path)")
        }
        let page = try c.get("/jobs/b1/j1")
        let prefix = try Self.assetPrefix(page)
        for (name, type) in [("main.js", "text/javascript; charset=utf-8"), ("style.css", "text/css; charset=utf-8")] {
            let r = try c.get("\(prefix)/\(name)")
            #expect(r.status == 200, "\(name)")
            #expect(r.headers["content-type"] == type)
            #expect(r.headers["cache-control"] == "public, max-age=31536000, immutable")
            Self.expectSecurityHeaders(r, name)
        }
        // Another build's URL never gets this build's bytes; templates are not assets.
        #expect(try c.get("/assets/000000000000/main.js").status == 404)
        #expect(try c.get("\(prefix)/page.html").status == 404)
        #expect(try c.get("\(prefix)/nope.js").status == 404)
    }

    @Test("every asset is served, none names another origin or uses inline script or style, and ours stay under 100 KB")
    func assetsAreSelfContained() throws {
        let s = try TestServer()
        let c = s.client(nil)
        let prefix = try Self.assetPrefix(try c.get("/"))
        var total = 0
        var texts: [(String, String)] = []
        for name in try Self.assetNames() {
            let source = try Data(contentsOf: Self.assetFolder.appendingPathComponent(name))
            total += source.count
            if name.hasSuffix(".html") { continue }
            let r = try c.get("\(prefix)/\(name)")
            #expect(r.status == 200, "\(name) is in Web/Assets but not served (add it to WebAssets.files)")
            #expect(r.body == Array(source), "\(name) as served differs from the source")
            texts.append((name, r.text))
        }
        #expect(total < 100 * 1024, "the page's own code is \(total) bytes")
        let dead = try c.request("GET", "/share/sh_unknown", headers: Self.html)
        texts += [("index page", try c.get("/").text), ("job page", try c.get("/jobs/b/j").text), ("dead-link page", dead.text)]
        for (name, text) in texts {
            #expect(!text.contains("http://") && !text.contains("https://"), "\(name) names another origin")
            #expect(!text.contains("innerHTML") && !text.contains("outerHTML") && !text.contains("insertAdjacentHTML"), "\(name)")
            #expect(!text.contains("eval(") && !text.contains("document.write"), "\(name)")
            if name.hasSuffix("page") {
                #expect(text.range(of: #"<script(?![^>]*\bsrc=)"#, options: .regularExpression) == nil, "\(name): inline script")
                #expect(!text.contains("<style") && !text.contains(" style="), "\(name): inline style")
                #expect(text.range(of: #"\son[a-z]+="#, options: .regularExpression) == nil, "\(name): inline handler")
            }
        }
    }

    @Test("/share/<token> answers a browser with the read-only page and other clients with JSON; a dead link is a 404 page")
    func shareNegotiation() throws {
        let s = try TestServer()
        let owner = s.client(try s.token(user: "alice"))
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try ShareTests.mint(owner, "b1")
        let token = try #require(share["token"]?.stringValue)
        let c = s.client(nil)

        let page = try c.request("GET", "/share/\(token)", headers: Self.html)
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.text.contains(#"<body data-page="share">"#))
        Self.expectSecurityHeaders(page, "share page")
        for accept in [nil, "application/json", "*/*", "text/html;q=0, application/json"] {
            let r = try c.request("GET", "/share/\(token)", headers: accept.map { ["Accept": $0] } ?? [:])
            #expect(r.status == 200)
            #expect(r.headers["content-type"] == "application/json", "Accept: \(accept ?? "none")")
            #expect(r.json?["batch_id"]?.stringValue == "b1")
            #expect(r.json?["read_only"]?.boolValue == true)
        }

        #expect(try owner.request("DELETE", "/api/batches/b1/shares/\(share["id"]!.intValue!)").status == 200)
        for link in [token, "sh_never-minted"] {
            let dead = try c.request("GET", "/share/\(link)", headers: Self.html)
            #expect(dead.status == 404)
            #expect(dead.headers["content-type"] == "text/html; charset=utf-8")
            #expect(dead.text.contains(#"id="dead-link""#))
            #expect(dead.text.contains("revoked") && dead.text.contains("expired"))
            Self.expectSecurityHeaders(dead, "dead-link page")
            let json = try c.get("/share/\(link)")
            #expect(json.status == 404)
            #expect(json.detail == "This share link was revoked, has expired, or never existed.")
        }
    }

    @Test("an address that is no page (a job page without its job, a typo) is a 404 page for a browser, JSON for others")
    func notFoundPage() throws {
        let s = try TestServer()
        let c = s.client(nil)
        for path in ["/jobs/b1", "/whatever", "/batches/b1/j1/more"] {
            let page = try c.request("GET", path, headers: Self.html)
            #expect(page.status == 404, "\(path)")
            #expect(page.headers["content-type"] == "text/html; charset=utf-8", "\(path)")
            #expect(page.text.contains(#"id="not-found""#) && page.text.contains("There is no such page"), "\(path)")
            Self.expectSecurityHeaders(page, "not-found page")
            let json = try c.get(path)
            #expect(json.status == 404 && json.detail == "No such route: GET \(path).", "\(path): \(json.text)")
        }
        #expect(try c.request("GET", "/api/nothing", headers: Self.html).headers["content-type"] == "application/json")
    }

    @Test("signing in sets an HttpOnly SameSite=Strict cookie (Secure only over HTTPS) that reads the API as its user")
    func sessionCookie() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let owner = s.client(token)
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let (cookie, secret) = try Self.signIn(s, token)
        let attributes = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
        #expect(attributes == ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=2592000"])
        let (secureCookie, _) = try Self.signIn(s, token, headers: ["X-Forwarded-Proto": "https"])
        #expect(secureCookie.hasSuffix("; Secure"))

        let c = s.client(nil)
        let me = try c.request("GET", "/api/session", headers: Self.withCookie(secret))
        #expect(me.status == 200)
        #expect(me.json?["user"]?.stringValue == "alice")
        #expect(me.json?["is_admin"]?.boolValue == false)
        #expect(try c.request("GET", "/api/batches/b1", headers: Self.withCookie(secret)).status == 200)
        #expect(try c.get("/api/session").status == 401)
        #expect(try c.get("/api/batches/b1").status == 401)
        #expect(try c.request("GET", "/api/batches/b1", headers: Self.withCookie("se_not-a-session")).status == 401)
        // Only a user's API token signs in.
        let share = try #require(try ShareTests.mint(owner, "b1")["token"]?.stringValue)
        for bad in ["em_live_nope", share] {
            let r = try c.request("POST", "/api/session", body: Array(#"{"token": "\#(bad)"}"#.utf8))
            #expect(r.status == 401)
            #expect(r.headers["set-cookie"] == nil)
        }
        #expect(try c.request("POST", "/api/session", body: Array("{}".utf8)).status == 422)
        // Signed in already: another user's token switches only with "replace": true (the page asks first); the
        // same user's token signs in again without a question.
        let bob = try s.token(user: "bob")
        let proof = Self.withCookie(secret, ["Origin": s.url, "X-Argus-CSRF": "1"])
        func post(_ body: String) throws -> HTTPResult { try c.request("POST", "/api/session", body: Array(body.utf8), headers: proof) }
        let asked = try post(#"{"token": "\#(bob)"}"#)
        #expect(asked.status == 409 && asked.headers["set-cookie"] == nil, "\(asked.text)")
        #expect(asked.json?["detail"] == "This link signs you in as bob, in place of alice.")
        #expect(try post(#"{"token": "\#(bob)", "replace": "yes"}"#).status == 422)
        func session(_ r: HTTPResult) throws -> String {
            String(try #require(r.headers["set-cookie"]?.split(separator: ";").first?.dropFirst("argus_session=".count)))
        }
        func user(_ secret: String) throws -> HTTPResult { try c.request("GET", "/api/session", headers: Self.withCookie(secret)) }
        let again = try post(#"{"token": "\#(token)"}"#)
        #expect(again.status == 204)
        // A browser holds one session: the one it replaces ends (else a switched-away user stays signed in for 30
        // days, its tabs streaming on, and Sign out leaves it behind).
        #expect(try user(secret).status == 401)
        let alices = try session(again)
        let switched = try c.request(
            "POST", "/api/session", body: Array(#"{"token": "\#(bob)", "replace": true}"#.utf8),
            headers: Self.withCookie(alices, ["Origin": s.url, "X-Argus-CSRF": "1"]))
        #expect(try user(try session(switched)).json?["user"] == "bob")
        #expect(try user(alices).status == 401)

        // The session's SSE stream, as EventSource opens it (the browser sends the cookie).
        let (_, fresh) = try Self.signIn(s, token)
        let stream = try CurlStream(url: "\(s.url)/api/sse?channels=batch:b1", headers: Self.withCookie(fresh))
        defer { stream.stop() }
        try stream.wait(for: "event: hello")
        try owner.mustPost(Ev.make("log_line", batch: "b1", data: ["line": "over the cookie", "level": "info"]))
        try stream.wait(for: "over the cookie")
    }

    @Test("signing out needs the CSRF proof, ends the session and its streams, and clears the cookie")
    func signOut() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b1"))
        let (_, secret) = try Self.signIn(s, token)
        let c = s.client(nil)
        let stream = try CurlStream(url: "\(s.url)/api/sse?channels=batch:b1", headers: Self.withCookie(secret))
        defer { stream.stop() }
        try stream.wait(for: "event: hello")

        #expect(try c.request("DELETE", "/api/session", headers: Self.withCookie(secret)).status == 403)
        #expect(try c.request("GET", "/api/session", headers: Self.withCookie(secret)).status == 200)
        let out = try c.request("DELETE", "/api/session", headers: Self.withCookie(secret, ["Origin": s.url, "X-Argus-CSRF": "1"]))
        #expect(out.status == 204)
        let cleared = try #require(out.headers["set-cookie"])
        #expect(cleared.hasPrefix("argus_session=;") && cleared.contains("Max-Age=0"))
        #expect(stream.secondsUntilEnded() < 1.5, "the session's stream must end")
        #expect(try c.request("GET", "/api/session", headers: Self.withCookie(secret)).status == 401)
        let ended = try c.request("GET", "/api/batches/b1", headers: Self.withCookie(secret))
        #expect(
            ended.status == 401 && ended.detail == "Your session has ended (signed out, expired, or its token revoked): sign in again.",
            "\(ended.text)")
        // The token itself is untouched.
        #expect(try s.client(token).get("/api/batches/b1").status == 200)
    }

    @Test("revoking the token ends its sessions and their streams")
    func revokedTokenEndsSessions() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        try s.client(token).mustPost(Ev.make("batch_start", batch: "b1"))
        let (_, secret) = try Self.signIn(s, token)
        let stream = try CurlStream(url: "\(s.url)/api/sse?channels=batch:b1", headers: Self.withCookie(secret))
        defer { stream.stop() }
        try stream.wait(for: "event: hello")
        let c = s.client(nil)
        #expect(try c.request("GET", "/api/batches/b1", headers: Self.withCookie(secret)).status == 200)

        let (_, list, _) = try runTool(Binaries.path("argus-server"), ["token", "list"] + s.databaseArgs)
        let row = try #require(list.split(separator: "\n").first { $0.contains("alice") })
        let (rc, _, err) = try runTool(
            Binaries.path("argus-server"), ["token", "revoke", String(row.split(separator: " ")[0])] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        #expect(stream.secondsUntilEnded() < 1.5, "the session's stream must end within the revocation tick")
        let t0 = Date()
        var status = 200
        while status == 200 && Date().timeIntervalSince(t0) < 5 {
            status = try c.request("GET", "/api/batches/b1", headers: Self.withCookie(secret)).status
        }
        #expect(status == 401)
        #expect(try c.request("GET", "/api/session", headers: Self.withCookie(secret)).status == 401)
    }

    @Test("a cookie-authenticated write needs our Origin and X-Argus-CSRF: 1; bearer requests are unaffected")
    func csrf() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let owner = s.client(token)
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        try owner.mustPost(Ev.make("batch_start", batch: "b2"))
        let (_, secret) = try Self.signIn(s, token)
        let c = s.client(nil)
        for headers in [
            [:], ["Origin": s.url], ["X-Argus-CSRF": "1"], ["Origin": "http://evil.example", "X-Argus-CSRF": "1"],
            ["Origin": "null", "X-Argus-CSRF": "1"], ["Origin": s.url, "X-Argus-CSRF": "0"],
        ] {
            let r = try c.request("POST", "/api/batches/b1/stop", headers: Self.withCookie(secret, headers))
            #expect(r.status == 403, "\(headers)")
            #expect(r.detail.contains("X-Argus-CSRF"))
        }
        #expect(try owner.mustGet("/api/batches/b1")["stop_requested"]?.boolValue == false)
        let ok = try c.request("POST", "/api/batches/b1/stop", headers: Self.withCookie(secret, ["Origin": s.url, "X-Argus-CSRF": "1"]))
        #expect(ok.status == 200, "\(ok.text)")
        #expect(try owner.mustGet("/api/batches/b1")["stop_requested"]?.boolValue == true)
        // Behind a proxy the page's origin is https://<host>.
        let host = s.url.replacingOccurrences(of: "http://", with: "")
        let proxied = try c.request(
            "POST", "/api/batches/b2/shares", body: Array("{}".utf8),
            headers: Self.withCookie(secret, ["Origin": "https://\(host)", "X-Forwarded-Proto": "https", "X-Argus-CSRF": "1"]))
        #expect(proxied.status == 201, "\(proxied.text)")
        #expect(proxied.json?["url"]?.stringValue?.hasPrefix("https://\(host)/share/") == true)
        // A bearer token needs neither header, even with a cookie beside it; reads with the cookie need none either.
        #expect(try owner.request("POST", "/api/batches/b2/stop", headers: Self.withCookie(secret)).status == 200)
        #expect(try c.request("GET", "/api/batches/b2/shares", headers: Self.withCookie(secret)).status == 200)
    }

    @Test("no token, share link or session secret ever reaches the server log")
    func secretsNeverLogged() throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let owner = s.client(token)
        try owner.mustPost(Ev.make("batch_start", batch: "b1"))
        let share = try #require(try ShareTests.mint(owner, "b1")["token"]?.stringValue)
        let (_, secret) = try Self.signIn(s, token)
        let c = s.client(nil)
        _ = try c.request("GET", "/share/\(share)", headers: Self.html)
        _ = try c.get("/share/\(share)")
        _ = try c.request("GET", "/api/jobs/b1/j1/view", headers: Self.withCookie(secret))
        _ = try c.request("GET", "/jobs/b1/j1", headers: Self.withCookie(secret))
        // A session secret pasted where it does not belong is redacted like any other secret.
        _ = try c.get("/api/batches?note=\(secret)")
        _ = try c.get("/jobs/\(secret)/j1")
        let stream = try CurlStream(url: "\(s.url)/api/sse?channels=batch:b1&token=\(share)", headers: [:])
        try stream.wait(for: "event: hello")
        stream.stop()
        let deadline = Date().addingTimeInterval(15)
        while !s.log.contains("/api/sse") && Date() < deadline { usleep(20_000) }
        let log = s.log
        #expect(log.contains("GET /share/<redacted>"))
        #expect(log.contains("POST /api/session"))
        for (what, secretText) in [("API token", token), ("share token", share), ("session secret", secret)] {
            #expect(!log.contains(secretText), "the \(what) is in the log")
        }
    }
}

/// An SSE stream read by `curl -N` (the browser's EventSource sends cookies; SSEConnection sends only tokens).
final class CurlStream: @unchecked Sendable {
    let process: Process
    let file: URL

    init(url: String, headers: [String: String]) throws {
        file = FileManager.default.temporaryDirectory.appendingPathComponent("argus-sse-\(UUID().uuidString).txt")
        process = try startProcess(
            "/usr/bin/curl", ["-sN", "--max-time", "60"] + headers.flatMap { ["-H", "\($0.key): \($0.value)"] } + [url],
            stdout: file.path)
    }

    var text: String { (try? String(contentsOf: file, encoding: .utf8)) ?? "" }

    func wait(for needle: String, timeout: TimeInterval = 10) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if text.contains(needle) { return }
            if !process.isRunning { break }
            usleep(10_000)
        }
        if !text.contains(needle) { throw TestFailure("no \"\(needle)\" on the stream; got:\n\(text)") }
    }

    /// Waits for the server to end the response; returns how long that took.
    func secondsUntilEnded(limit: TimeInterval = 5) -> TimeInterval {
        let t0 = Date()
        while process.isRunning && Date().timeIntervalSince(t0) < limit { usleep(10_000) }
        return Date().timeIntervalSince(t0)
    }

    func stop() {
        stopProcess(process)
        try? FileManager.default.removeItem(at: file)
    }
}
