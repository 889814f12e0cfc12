import Foundation
import Shared
import TestSupport
import Testing

/// `argus-server simulate` over https: its client is SwiftNIO with NIOSSL (argus-server links no libcurl), so it
/// is driven here through a TLS terminator in front of a real server, as a lab behind a proxy would have it.
@Suite("simulate over https")
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
        let script = dir.appendingPathComponent("relay.py")
        try """
        import socket, ssl, sys, threading
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
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
            u = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
            threading.Thread(target=pipe, args=(t, u), daemon=True).start(); pipe(u, t)
        while True:
            c, _ = ls.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
        """.write(to: script, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("relay.out")
        let relay = try startProcess("/usr/bin/env", ["python3", script.path, String(port), cert, key], stdout: out.path)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let p = Int(((try? String(contentsOf: out, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) {
                return (relay, p, cert)
            }
            usleep(20_000)
        }
        stopProcess(relay)
        throw TestFailure("the TLS relay did not start")
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
    }
}
