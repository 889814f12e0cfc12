import ArgusClient
import Foundation
import Logging
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// The OpenAPI 3.1 document (Sources/ArgusServer/OpenAPI/openapi.json, written by scripts/openapi.py): it names
/// exactly the router's routes, the server serves it as it is, and a live server keeps to it under schemathesis.
@Suite("OpenAPI document", .enabled(if: TestBackend.firstPass), .ownThread)
struct OpenAPITests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let documentURL = packageRoot.appendingPathComponent("Sources/ArgusServer/OpenAPI/openapi.json")

    static func document() throws -> JSON { try JSON.parse(Array(try Data(contentsOf: documentURL))) }

    /// "GET /api/batches/{b}" for every operation of the document.
    static func documentedRoutes() throws -> Set<String> {
        let paths = try #require(try document()["paths"]?.objectValue)
        var out = Set<String>()
        for (path, item) in paths {
            for (method, _) in item.objectValue ?? JSONObject()
            where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                out.insert("\(method.uppercased()) \(path)")
            }
        }
        return out
    }

    /// The routes of the router the server really runs (`buildRouter`), as Hummingbird lists them: `:b` is `{b}`.
    static func routerRoutes() throws -> Set<String> {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-openapi-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try ArgusStore(dataDir: dir.path)
        let services = ArgusServices(config: ServerConfig(), store: store, logger: Logger(label: "openapi-test"))
        return Set(buildRouter(services).routes.map { "\($0.method.rawValue) \($0.path.description)" })
    }

    @Test("the document names every route the router has, and no other")
    func routesMatch() throws {
        let router = try Self.routerRoutes()
        let documented = try Self.documentedRoutes()
        #expect(router.count > 30, "the router lists \(router.count) routes: \(router.sorted())")
        #expect(router.subtracting(documented).isEmpty, "routes missing from openapi.json: \(router.subtracting(documented).sorted())")
        #expect(documented.subtracting(router).isEmpty, "documented routes the router lacks: \(documented.subtracting(router).sorted())")
    }

    @Test("every JSON error response of the document is {detail: string}; every operation names its auth")
    func errorShapeAndAuth() throws {
        let doc = try Self.document()
        #expect(doc["openapi"] == "3.1.0")
        let schemes = try #require(doc["components"]?["securitySchemes"]?.objectValue)
        #expect(
            Set(schemes.keys) == ["bearerToken", "shareToken", "agentToken", "sseQueryToken", "sessionCookie", "csrfHeader"])
        #expect(schemes["sessionCookie"]?["name"] == "argus_session")
        #expect(schemes["csrfHeader"]?["name"] == "X-Argus-CSRF")
        let error = try #require(doc["components"]?["schemas"]?["Error"])
        #expect(error["required"] == ["detail"])
        for (path, item) in try #require(doc["paths"]?.objectValue) {
            for (method, op) in item.objectValue ?? JSONObject() {
                #expect(op["security"] != nil, "\(method) \(path) names no security")
                let web = op["tags"]?.arrayValue?.contains("web") == true
                // A HEAD answer has no body to be {"detail": ...}.
                for (code, response) in op["responses"]?.objectValue ?? JSONObject()
                where method != "head" && (code.hasPrefix("4") || code.hasPrefix("5")) {
                    let ref = response["$ref"]?.stringValue ?? ""
                    let content = response["content"]?.objectValue ?? JSONObject()
                    let inline = content["application/json"]?["schema"]
                    let detail = inline?["$ref"] == "#/components/schemas/Error" || inline?["properties"]?["detail"] != nil
                    // A browser's page or asset may answer an error as text (the dead-link page, a missing asset);
                    // every JSON error, and every error of the API, is {"detail": ...}.
                    let textOnly = inline == nil && !content.keys.isEmpty && web
                    #expect(
                        ref.hasPrefix("#/components/responses/E") || detail || textOnly,
                        "\(method) \(path) \(code) does not answer {\"detail\": ...}")
                }
            }
        }
    }

    @Test("the committed document is what scripts/openapi.py writes")
    func generatorInSync() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("openapi-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: out) }
        let script = Self.packageRoot.appendingPathComponent("scripts/openapi.py").path
        let (rc, _, err) = try runTool("/usr/bin/env", ["python3", script, out.path])
        #expect(rc == 0, "\(err)")
        #expect(
            try Data(contentsOf: out) == Data(contentsOf: Self.documentURL),
            "openapi.json differs from what scripts/openapi.py writes: edit the script and run it")
    }

    @Test("GET /openapi.json serves the file's bytes, as JSON, without a token")
    func served() throws {
        let s = try TestServer()
        let r = try s.client(nil).get("/openapi.json")
        #expect(r.status == 200)
        #expect(r.headers["content-type"] == "application/json")
        #expect(r.body == Array(try Data(contentsOf: Self.documentURL)))
    }

    /// Events that give every read something to find: a batch with a job, epochs, log lines and a snapshot.
    static func seed(_ c: HTTPClient, batch: String) throws {
        var events: [JSON] = [
            Ev.make(
                "batch_start", batch: batch,
                data: ["experiment_type": "sweep", "n_total_jobs": 2, "command": "python train.py", "cwd": "/tmp"],
                source: ["project": "proj", "host": "gpu-box-1", "user": "alice", "commit": "0123456789abcdef"]),
            Ev.make("job_start", batch: batch, job: "j1", data: ["model": "mlp", "dataset": "toy"]),
        ]
        for n in 0..<3 { events.append(Ev.epoch(batch, "j1", n, extra: [("acc", 0.5)])) }
        events += [
            Ev.make("log_line", batch: batch, job: "j1", data: ["line": "hello", "level": "info"]),
            Ev.make(
                "resource_snapshot", batch: batch,
                data: [
                    "gpu_util_pct": 50, "gpu_mem_mb": 1000, "gpus": [["index": 0, "util_pct": 50, "mem_mb": 1000, "mem_total_mb": 8000]],
                ]),
            Ev.make("job_done", batch: batch, job: "j1", data: ["status": "DONE", "metrics": ["MSE": 0.25], "elapsed_s": 3]),
            Ev.make("job_start", batch: batch, job: "j2"),
        ]
        let r = try c.postBatch(events)
        guard r.status == 200, r.json?["accepted"]?.intValue == events.count else { throw TestFailure("seed: \(r.text)") }
    }

    /// schemathesis (PyPI, in the test venv beside argus-reporter) against a live server with a real token and
    /// seeded data. Bounded: a few examples per operation, one worker, well under a minute.
    @Test("schemathesis: no 5xx, and every status, content type and body conforms to the document", .timeLimit(.minutes(3)))
    func schemathesis() throws {
        let python = try PythonSDK.python()
        let bin = URL(fileURLWithPath: python).deletingLastPathComponent().appendingPathComponent("schemathesis").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            throw TestFailure("schemathesis is not installed beside \(python): run scripts/test.sh (it installs it)")
        }
        // Budgets big enough that generated actions reach their handlers instead of stopping at 429 (still documented).
        let s = try TestServer(env: ["ARGUS_ACTION_RATE": "1000"])
        let token = try s.token(user: "alice")
        let c = s.client(token)
        let batch = "seed-batch"
        try Self.seed(c, batch: batch)
        // An agent (its routes take its own token), a share link to open and one to revoke, and this build's
        // asset hash, so that those routes answer more than 403 and 404.
        let agent = try c.post("/api/agents/register", json: ["hostname": "gpu-box-1", "version": "1"])
        let share = try c.post("/api/batches/\(batch)/shares", json: [:])
        let doomed = try c.post("/api/batches/\(batch)/shares", json: ["expires_in_s": 3600])
        guard let agentID = agent.json?["agent_id"]?.intValue, let agentToken = agent.json?["agent_token"]?.stringValue,
            let shareToken = share.json?["token"]?.stringValue, let doomedID = doomed.json?["id"]?.intValue
        else { throw TestFailure("seed: \(agent.text) \(share.text) \(doomed.text)") }
        let page = try s.client(nil).get("/").text
        let hash = try #require(page.range(of: #"/assets/[0-9a-f]{12}"#, options: .regularExpression).map { page[$0].dropFirst(8) })
        // The path ids name the seeded items, so reads find something; the rest is generated.
        let config = s.dataDir.appendingPathComponent("schemathesis.toml")
        try """
        headers = { Authorization = "Bearer \(token)" }

        [parameters]
        "path.b" = "\(batch)"
        "path.j" = "j1"
        "path.hash" = "\(hash)"

        [[operations]]
        include-path-regex = "^/api/agents/\\\\{id\\\\}"
        headers = { Authorization = "Bearer \(agentToken)" }
        parameters = { "path.id" = \(agentID) }

        # A long poll holds the request up to ?wait= seconds (30 at most) by design, so generated waits would each
        # take that long: this one route is tried only with the document's example (wait=0).
        [[operations]]
        include-path = "/api/agents/{id}/jobs"
        headers = { Authorization = "Bearer \(agentToken)" }
        parameters = { "path.id" = \(agentID) }
        phases.coverage.enabled = false
        phases.fuzzing.enabled = false

        # The stream never ends: schemathesis reads its first two frames (hello, then the batch's summary, which
        # every stream of a batch channel opens with) and checks each against the document's SSEEvent.
        [[operations]]
        include-path = "/api/sse"
        max-stream-events = 2
        parameters = { "query.channels" = "batch:\(batch)" }

        [[operations]]
        include-path = "/share/{token}"
        parameters = { "path.token" = "\(shareToken)" }

        [[operations]]
        include-path = "/api/batches/{b}/shares/{id}"
        parameters = { "path.id" = \(doomedID) }
        """.write(to: config, atomically: true, encoding: .utf8)
        let report = s.dataDir.appendingPathComponent("schemathesis.ndjson")
        let start = Date()
        // Run from the data dir: schemathesis keeps a `.schemathesis/` cache in its working directory.
        let (rc, out, err) = try runTool(
            "/bin/sh",
            [
                "-c", #"cd "$0" && exec "$@""#, s.dataDir.path, bin,
                "--config-file", config.path, "run", "\(s.url)/openapi.json",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples", "10", "--seed", "1", "--workers", "1", "--request-timeout", "10",
                "--phases", "examples,coverage,fuzzing",
                "--report", "ndjson", "--report-ndjson-path", report.path,
                "--no-color",
            ],
            env: ["HOME": s.dataDir.path, "SCHEMATHESIS_TELEMETRY": "false", "NO_COLOR": "1"])
        let seconds = Date().timeIntervalSince(start)
        print("schemathesis (\(String(format: "%.1f", seconds)) s):\n\(out.split(separator: "\n").suffix(25).joined(separator: "\n"))")
        #expect(rc == 0, "schemathesis found problems:\n\(out)\n\(err)\n--- server log ---\n\(s.log.suffix(4000))")
        // Not a benchmark: a guard against a run that hangs (about 15 s alone, 80 s seen on a loaded CI machine).
        #expect(seconds < 240, "the run took \(seconds) s")
        // Every operation but GET /openapi.json, which schemathesis leaves out when it loads the document from it
        // (`served` checks that one).
        let operations = try Self.documentedRoutes().count - 1
        #expect(out.contains("Tested: \(operations)"), "schemathesis did not test all \(operations) operations")
        #expect(!s.log.contains("internal error"), "the server logged an internal error")
    }
}
