import CCurl
import FoundationEssentials
import Shared

/// A failed exchange, phrased for a person at a prompt.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// No connection could be made.
        case connection
        /// Connected, but the reply was not complete within the timeout (a server that accepts and then stalls).
        case timeout
        /// Connected, then the connection broke before the reply was complete.
        case interrupted
        /// A non-2xx status (`status`, and the server's `detail` sentence when it sent one).
        case http
        /// A reply that is not the JSON it should be.
        case decoding
        case aborted
    }
    public var kind: Kind
    public var status: Int
    public var description: String
    /// The server's own `detail` sentence, when the reply carried one.
    public var detail: String?

    public init(_ kind: Kind, status: Int = 0, _ description: String, detail: String? = nil) {
        self.kind = kind
        self.status = status
        self.description = description
        self.detail = detail
    }
}

extension ClientError {
    /// What a 401 means, for a person: the server's sentence after "the server rejected the token", or alone when it
    /// already names what was refused (a share link that was revoked or expired).
    public static func refusedCredential(_ detail: String?) -> String {
        guard let detail else { return "the server rejected the token (HTTP 401)" }
        return detail == ServerSentences.deadShareLink ? detail : "the server rejected the token: \(detail)"
    }
}

public struct HTTPResult: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var headers: [String: String]

    public var text: String { String(decoding: body, as: UTF8.self) }
    public var json: JSON? { try? JSON.parse(body) }
    /// The body as JSON, the top-level members named kept as raw bytes (`JSON.parse(_:rawMembers:)`).
    public func json(rawMembers: Set<String>) -> JSON? { try? JSON.parse(body, rawMembers: rawMembers) }
    /// The server's `detail` sentence, or a generic one.
    public var detail: String { serverDetail ?? "HTTP \(status)" }
    /// The server's `detail` sentence, if the body is JSON that has one.
    public var serverDetail: String? { json?["detail"]?.stringValue }
}

enum CurlRuntime {
    static let initialised: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
        return true
    }()
}

/// A blocking HTTP/1.1 client over one libcurl easy handle (so connections are kept alive).
/// Not thread-safe: use one per thread. `curl_easy_perform` blocks; never call it on the cooperative pool.
public final class HTTPClient: @unchecked Sendable {
    public let baseURL: String
    public var token: String?
    public var timeout: Double
    private let handle: UnsafeMutableRawPointer

    public init(baseURL: String, token: String?, timeout: Double = 10) {
        _ = CurlRuntime.initialised
        self.baseURL = String(baseURL.reversed().drop(while: { $0 == "/" }).reversed())
        self.token = token
        self.timeout = timeout
        handle = curl_easy_init()
    }

    deinit { curl_easy_cleanup(handle) }

    final class Sink {
        var body: [UInt8] = []
        var headers: [String: String] = [:]
    }

    public func request(
        _ method: String, _ path: String, body: [UInt8]? = nil, headers extra: [String: String] = [:]
    ) throws(ClientError)
        -> HTTPResult
    {
        let h = handle
        curl_easy_reset(h)
        let url = path.hasPrefix("http") ? path : baseURL + path
        let sink = Sink()
        var list: UnsafeMutablePointer<curl_slist>? = nil
        var headerLines = extra.map { "\($0.key): \($0.value)" }
        if let token { headerLines.append("Authorization: Bearer \(token)") }
        if body != nil, extra["Content-Type"] == nil {
            headerLines.append("Content-Type: application/json")
        }
        headerLines.append("Expect:")
        for line in headerLines { list = curl_slist_append(list, line) }
        defer { curl_slist_free_all(list) }
        ccurl_setopt_str(h, CURLOPT_URL, url)
        ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        ccurl_setopt_long(h, CURLOPT_TIMEOUT_MS, Int(timeout * 1000))
        ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        ccurl_setopt_str(h, CURLOPT_CUSTOMREQUEST, method)
        if method == "HEAD" { ccurl_setopt_long(h, CURLOPT_NOBODY, 1) }
        let payload = body ?? []
        if body != nil || method == "POST" || method == "PUT" {
            ccurl_setopt_long(h, CURLOPT_POST, 1)
            ccurl_setopt_postsize(h, payload.count)
            if payload.isEmpty {
                ccurl_setopt_str(h, CURLOPT_COPYPOSTFIELDS, "")
            } else {
                payload.withUnsafeBufferPointer { buf in
                    _ = ccurl_setopt_ptr(
                        h, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buf.baseAddress!))
                }
            }
        }
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        ccurl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
        ccurl_setopt_writefn(h) { ptr, size, n, ud in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            let count = size * n
            if let ptr {
                ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                    s.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                }
            }
            return count
        }
        ccurl_setopt_ptr(h, CURLOPT_HEADERDATA, ctx)
        ccurl_setopt_headerfn(h) { ptr, size, n, ud in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            let count = size * n
            if let ptr {
                let line = ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
                }
                if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmed()
                    s.headers[name] = value
                    // A big reply (a 100k-epoch view is 8 MB) is received into room made once, not grown by doubling.
                    if name == "content-length", let n = Int(value), n > 0, n <= 1 << 30 { s.body.reserveCapacity(n) }
                }
            }
            return count
        }
        let rc = withExtendedLifetime(sink) { curl_easy_perform(h) }
        if rc != CURLE_OK {
            let why = String(cString: curl_easy_strerror(rc))
            // Whether the request began to be sent tells "cannot reach" from "reached, then it went wrong". (Not
            // the connect time: a reused keep-alive connection has none.)
            var sendingUs: curl_off_t = 0
            ccurl_getinfo_off(h, CURLINFO_PRETRANSFER_TIME_T, &sendingUs)
            if sendingUs == 0 {
                // https to a server that speaks plain http (argus-server does, unless a proxy in front adds TLS).
                let plain =
                    rc == CURLE_SSL_CONNECT_ERROR && baseURL.hasPrefix("https://")
                    ? " Is the server plain http? Try \("http://" + baseURL.dropFirst("https://".count))." : ""
                throw ClientError(.connection, "Cannot reach \(baseURL) (\(why)).\(plain)")
            }
            if rc == CURLE_OPERATION_TIMEDOUT {
                throw ClientError(
                    .timeout, "\(baseURL) accepted the connection but sent no complete reply within \(Int(timeout.rounded())) s.")
            }
            throw ClientError(.interrupted, "The connection to \(baseURL) broke before the reply was complete (\(why)).")
        }
        var status = 0
        ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResult(status: status, body: sink.body, headers: sink.headers)
    }

    public func get(_ path: String) throws(ClientError) -> HTTPResult { try request("GET", path) }

    public func post(_ path: String, json: JSON) throws(ClientError) -> HTTPResult {
        var bytes: [UInt8] = []
        json.write(into: &bytes)
        return try request("POST", path, body: bytes)
    }

    /// A non-2xx answer to `path` as an error: the server's sentence, or without one, where and what answered
    /// ("HTTP 404" alone does not say where: something else may answer at that address, a web server or a proxy).
    public func failure(_ r: HTTPResult, path: String) -> ClientError {
        let unexplained =
            "\(baseURL) answered HTTP \(r.status) to \(path.split(separator: "?").first ?? "") without saying why"
            + ([404, 405, 501].contains(r.status) ? ": \(ServerSentences.notAnArgusServer)" : ".")
        return ClientError(.http, status: r.status, r.serverDetail ?? unexplained, detail: r.serverDetail)
    }

    /// GET a JSON document, turning a non-2xx answer into an error carrying the server's sentence. Members of the
    /// top-level object named in `rawMembers` are left as raw bytes for the caller's own decoder.
    public func getJSON(_ path: String, rawMembers: Set<String> = []) throws(ClientError) -> JSON {
        let r = try get(path)
        guard (200..<300).contains(r.status) else { throw failure(r, path: path) }
        guard let j = rawMembers.isEmpty ? r.json : r.json(rawMembers: rawMembers) else {
            throw ClientError(.decoding, status: r.status, "The server sent a reply that is not JSON.")
        }
        return j
    }
}
