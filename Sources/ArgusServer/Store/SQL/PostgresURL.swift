import Foundation
import PostgresNIO

/// A bad `--database-url`: its description is one sentence, printed as the command's error.
struct DatabaseURLError: Error, CustomStringConvertible, Equatable {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=…&sslrootcert=PATH]` (also `postgresql://`), as libpq reads it:
/// user, password and database percent-decoded, port 5432 by default, the database defaulting to the user's name,
/// `sslmode` `prefer` by default; without a password in it, `PGPASSWORD`'s.
struct PostgresURL: Sendable, Equatable {
    /// libpq's sslmode values. `prefer` and `require` encrypt without checking the server's certificate; `verify-ca`
    /// checks it against `sslrootcert` (or the system's roots); `verify-full` also checks the host name.
    enum SSLMode: String, Sendable, CaseIterable {
        case disable, allow, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var sslMode: SSLMode
    var sslRootCert: String?

    init(_ text: String) throws {
        let schemes = ["postgres://", "postgresql://"]
        guard let scheme = schemes.first(where: { text.lowercased().hasPrefix($0) }) else {
            throw DatabaseURLError(
                "The database URL must start with postgres:// or postgresql:// (e.g. postgres://user:pass@host:5432/db).")
        }
        var rest = Substring(text.dropFirst(scheme.count))
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // The user info ends at the last "@": an unencoded "@" in a password is still read as libpq would.
        var userInfo: Substring = ""
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        var hostPort = rest

        func decode(_ part: Substring, _ what: String) throws -> String {
            guard let s = String(part).removingPercentEncoding else {
                throw DatabaseURLError("The database URL's \(what) has a bad percent-escape.")
            }
            return s
        }

        if let colon = userInfo.firstIndex(of: ":") {
            user = try decode(userInfo[..<colon], "user name")
            password = try decode(userInfo[userInfo.index(after: colon)...], "password")
        } else {
            user = try decode(userInfo, "user name")
            // As libpq does: a URL without a password takes PGPASSWORD, which keeps it out of the process list.
            password = ProcessInfo.processInfo.environment["PGPASSWORD"].flatMap { $0.isEmpty ? nil : $0 }
        }
        guard !user.isEmpty else {
            throw DatabaseURLError(
                "The database URL names no user (expected postgres://USER[:PASS]@HOST[:PORT]/DB).")
        }

        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw DatabaseURLError("The database URL's IPv6 host is missing its closing \"]\".")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw DatabaseURLError("The database URL has \"\(after)\" after its IPv6 host, where a :PORT may stand.")
            }
        } else {
            if let colon = hostPort.lastIndex(of: ":") {
                portText = hostPort[hostPort.index(after: colon)...]
                hostPort = hostPort[..<colon]
            }
            host = try decode(hostPort, "host")
        }
        guard !host.hasPrefix("/") else {
            throw DatabaseURLError(
                "The database URL names a Unix-socket directory (\(host)); Argus connects over TCP: use HOST:PORT (e.g. 127.0.0.1:5432).")
        }
        guard !host.isEmpty else {
            throw DatabaseURLError("The database URL names no host (expected postgres://USER[:PASS]@HOST[:PORT]/DB).")
        }
        if let p = portText {
            guard let n = Int(p), (1...65535).contains(n) else {
                throw DatabaseURLError("The database URL's port \"\(p)\" is not a number from 1 to 65535.")
            }
            port = n
        } else {
            port = 5432
        }
        let db = try decode(path, "database name")
        guard !db.contains("/") else {
            // `p@ss w/rd` unencoded: the password's `/` starts the path.
            // The path then holds the password's tail: not echoed.
            if db.contains("@") {
                throw DatabaseURLError(
                    "The database URL's path is not one database name: a password with @, / or : in it is written percent-encoded, or given in PGPASSWORD."
                )
            }
            throw DatabaseURLError("The database URL's path \"/\(db)\" is not one database name.")
        }
        database = db.isEmpty ? user : db

        sslMode = .prefer
        sslRootCert = nil
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try decode(kv[0], "parameter name")
            let value = kv.count > 1 ? try decode(kv[1], "parameter \(key)") : ""
            switch key {
            case "sslmode":
                guard let m = SSLMode(rawValue: value) else {
                    let known = SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw DatabaseURLError("The database URL's sslmode \"\(value)\" is not one of \(known).")
                }
                sslMode = m
            case "sslrootcert":
                guard !value.isEmpty else { throw DatabaseURLError("The database URL's sslrootcert is empty.") }
                sslRootCert = value
            default:
                throw DatabaseURLError(
                    "The database URL has an unknown parameter \"\(key)\" (known: sslmode, sslrootcert).")
            }
        }
        if let cert = sslRootCert, !FileManager.default.isReadableFile(atPath: cert) {
            throw DatabaseURLError("The database URL's sslrootcert \(cert) is not a readable file.")
        }
        if sslRootCert != nil && [.disable, .allow].contains(sslMode) {
            throw DatabaseURLError("The database URL has an sslrootcert but sslmode=\(sslMode.rawValue) uses no TLS.")
        }
    }

    /// Where it points, without the password: for logs and error messages.
    var redacted: String { "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)" }

    /// The connection settings postgres-nio takes; builds the TLS context (fails when the root certificate does not
    /// load).
    func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case .disable:
            tls = .disable
        case .allow, .prefer, .require:
            var c = TLSConfiguration.makeClientConfiguration()
            c.certificateVerification = .none
            let context = try tlsContext(c)
            tls = sslMode == .require ? .require(context) : .prefer(context)
        case .verifyCA, .verifyFull:
            var c = TLSConfiguration.makeClientConfiguration()
            c.certificateVerification = sslMode == .verifyFull ? .fullVerification : .noHostnameVerification
            if let cert = sslRootCert { c.trustRoots = .file(cert) }
            tls = .require(try tlsContext(c))
        }
        var config = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: tls)
        config.options.connectTimeout = .seconds(5)
        return config
    }

    private func tlsContext(_ c: TLSConfiguration) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: c)
        } catch {
            throw DatabaseURLError(
                "The database URL's TLS settings do not load (\(sslRootCert.map { "sslrootcert \($0): " } ?? "")\(error)).")
        }
    }
}
