import Foundation
import Shared
import TestSupport
import Testing

/// `argus-server simulate` over https: its client is SwiftNIO with NIOSSL (argus-server links no libcurl), so it
/// is driven here through a TLS terminator in front of a real server, as a lab behind a proxy would have it.
@Suite("simulate's HTTP client: https, unusual servers", .ownThread)
struct SimulateTests {
    /// A self-signed certificate for `localhost` and a TLS relay on 127.0.0.1 to `port` (one Python process).
    static func tlsRelay(to port: Int, in dir: URL) throws -> (Process, Int, String) {
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let (rc, _, err) = try runTool(
            "/usr/bin/env",
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            ])
        guard rc == 0 else { throw TestFailure("openssl req failed: \(err)") }
        let (relay, port) = try startPythonServer(
            """
            import socket, ssl, sys, threading
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("\(cert)", "\(key)")
            ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16)
            print(ls.getsockname()[1], flush=True)
            def pipe(a, b):
                try:
                    while (d := a.recv(65536)): b.sendall(d)
                except OSError: pass
                for s in (a, b):
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
            def serve(c):
                try: t = ctx.wrap_socket(c, server_side=True)
                except (ssl.SSLError, OSError): c.close(); return
                u = socket.create_connection(("127.0.0.1", \(port)))
                threading.Thread(target=pipe, args=(t, u), daemon=True).start(); pipe(u, t)
            while True:
                c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
            """, in: dir)
        return (relay, port, cert)
    }

    @Test("simulate reports over https to a server whose CA SSL_CERT_FILE names, and refuses an untrusted one at once")
    func overHTTPS() throws {
        let s = try TestServer()
        defer { s.stop() }
        let token = try s.token()
        let (relay, port, cert) = try Self.tlsRelay(to: s.port, in: s.dataDir)
        defer { stopProcess(relay) }
        let url = "https://localhost:\(port)"
        let args = ["simulate", "--url", url, "--token", token, "--jobs", "1", "--epochs", "3", "--speed", "50"]
        let (rc, out, err) = try runTool(
            Binaries.path("argus-server"), args + ["--batch-id", "tls1"], env: ["SSL_CERT_FILE": cert])
        #expect(rc == 0 && out.contains("batch tls1 finished: 1 done, 0 failed"), "\(rc) \(out) \(err)")
        let batch = try s.client(token).mustGet("/api/batches/tls1")
        #expect(batch["status"] == "done" && batch["n_done"] == 1, "\(batch)")

        // Without the lab's CA the certificate is not trusted: said at once, not retried for a minute.
        let started = Date()
        let (rc2, _, err2) = try runTool(
            Binaries.path("argus-server"), args + ["--batch-id", "tls2"], env: ["SSL_CERT_FILE": ""])
        #expect(rc2 == 1, "\(err2)")
        #expect(
            err2.hasSuffix(
                "argus-server: Cannot reach \(url) (its TLS certificate is not trusted here; set SSL_CERT_FILE to the bundle of the CA that signed it).\n"
            ), "\(err2)")
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(try s.client(token).request("GET", "/api/batches/tls2").status == 404)
        // Another user's batch id: the id is what to change, not the token.
        let (rc3, _, err3) = try runTool(
            Binaries.path("argus-server"),
            ["simulate", "--url", s.url, "--token", try s.token(user: "bob"), "--jobs", "1", "--epochs", "1", "--batch-id", "tls1"])
        #expect(rc3 == 1 && err3.hasSuffix("Batch 'tls1' belongs to another user: give another --batch-id.\n"), "\(err3)")
    }

    @Test(
        "simulate goes on at once when a server closes kept connections without saying so, and stops at once where no argus-server answers")
    func unusualServers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-sim-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Answers each request as Argus would, then closes the connection without `Connection: close`.
        let (closer, closerPort) = try startPythonServer(
            """
            import socket, threading
            ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(16); print(ls.getsockname()[1], flush=True)
            def serve(c):
                data = b""
                while b"\\r\\n\\r\\n" not in data:
                    d = c.recv(65536)
                    if not d: c.close(); return
                    data += d
                head, _, rest = data.partition(b"\\r\\n\\r\\n")
                n = max([int(l.split(b":")[1]) for l in head.split(b"\\r\\n") if l.lower().startswith(b"content-length:")] or [0])
                while len(rest) < n: rest += c.recv(65536)
                body = b'{"accepted":true,"event_id":1,"stop_requested":false}'
                c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
                c.close()
            while True:
                c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
            """, in: dir)
        defer { stopProcess(closer) }
        let started = Date()
        let (rc, out, err) = try runTool(
            Binaries.path("argus-server"),
            ["simulate", "--url", "http://127.0.0.1:\(closerPort)", "--token", "t", "--jobs", "1", "--epochs", "5", "--speed", "50"])
        #expect(rc == 0 && out.contains("finished: 1 done"), "\(out) \(err)")
        #expect(!err.contains("retrying"), "\(err)")
        #expect(Date().timeIntervalSince(started) < 10, "each request waited for the 10 s deadline")

        // A plain web server: 501 to a POST, which no argus-server answers.
        let (web, webPort) = try startPythonServer(
            """
            import http.server
            s = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
            print(s.server_address[1], flush=True); s.serve_forever()
            """, in: dir)
        defer { stopProcess(web) }
        let (rc2, _, err2) = try runTool(
            Binaries.path("argus-server"), ["simulate", "--url", "http://127.0.0.1:\(webPort)", "--token", "t", "--jobs", "1"])
        #expect(rc2 == 1)
        #expect(
            err2.hasSuffix(
                "argus-server: http://127.0.0.1:\(webPort) answered HTTP 501 to POST /api/events without an Argus reply: is it an argus-server (check the URL)?\n"
            ), "\(err2)")
    }
}
