import CCurl
import Foundation
import Shared
import Synchronization

/// Reads one SSE connection with libcurl, blocking the calling thread until the stream ends,
/// the handler returns false, `cancel()` is called, or nothing (not even a keepalive) arrives for `idleTimeout`.
public final class SSEConnection: @unchecked Sendable {
    public enum End: Sendable, Equatable {
        /// The handler asked to stop, or `cancel()` was called.
        case stopped
        /// The server answered with a non-200 status (and its `detail` sentence).
        case refused(status: Int, detail: String)
        /// The connection failed or closed; reconnecting with the last id is the remedy.
        case dropped(String)
    }

    private let cancelled = Atomic<Bool>(false)
    private let handle: UnsafeMutableRawPointer
    public let url: String
    public let token: String?
    public let idleTimeout: Int

    public init(url: String, token: String?, idleTimeout: Int = 45) {
        _ = CurlRuntime.initialised
        self.url = url
        self.token = token
        self.idleTimeout = idleTimeout
        handle = curl_easy_init()
    }

    deinit { curl_easy_cleanup(handle) }

    /// Safe from any thread: the transfer aborts within about a second.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    final class Sink {
        var parser = SSEParser()
        var onMessage: (SSEMessage) -> Bool
        var status = 0
        var errorBody: [UInt8] = []
        var stoppedByHandler = false
        let handle: UnsafeMutableRawPointer
        let connection: SSEConnection

        init(
            handle: UnsafeMutableRawPointer, connection: SSEConnection,
            onMessage: @escaping (SSEMessage) -> Bool
        ) {
            self.handle = handle
            self.connection = connection
            self.onMessage = onMessage
        }
    }

    /// Runs the stream. `lastEventID` is sent as the `Last-Event-ID` header.
    public func run(lastEventID: String?, onMessage: @escaping (SSEMessage) -> Bool) -> End {
        let h = handle
        curl_easy_reset(h)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        list = curl_slist_append(list, "Accept: text/event-stream")
        if let token { list = curl_slist_append(list, "Authorization: Bearer \(token)") }
        if let lastEventID, !lastEventID.isEmpty {
            list = curl_slist_append(list, "Last-Event-ID: \(lastEventID)")
        }
        defer { curl_slist_free_all(list) }
        let sink = Sink(handle: h, connection: self, onMessage: onMessage)
        let ctx = Unmanaged.passUnretained(sink).toOpaque()
        ccurl_setopt_str(h, CURLOPT_URL, url)
        ccurl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        ccurl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        ccurl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, 1)
        ccurl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, idleTimeout)
        ccurl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        ccurl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
        ccurl_setopt_writefn(h) { ptr, size, n, ud in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            let count = size * n
            guard let ptr else { return count }
            let bytes = ptr.withMemoryRebound(to: UInt8.self, capacity: count) {
                Array(UnsafeBufferPointer(start: $0, count: count))
            }
            if s.status == 0 {
                var code = 0
                ccurl_getinfo_long(s.handle, CURLINFO_RESPONSE_CODE, &code)
                s.status = code
            }
            if s.status != 200 {
                s.errorBody.append(contentsOf: bytes)
                return count
            }
            for m in s.parser.feed(bytes) {
                if !s.onMessage(m) {
                    s.stoppedByHandler = true
                    return 0
                }
            }
            return count
        }
        ccurl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
        ccurl_setopt_ptr(h, CURLOPT_XFERINFODATA, ctx)
        ccurl_setopt_xferinfofn(h) { ud, _, _, _, _ in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            return s.connection.cancelled.load(ordering: .relaxed) ? 1 : 0
        }
        let rc = withExtendedLifetime(sink) { curl_easy_perform(h) }
        if sink.stoppedByHandler || cancelled.load(ordering: .relaxed) { return .stopped }
        var status = sink.status
        if status == 0 { ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status) }
        if status != 0 && status != 200 {
            let detail = (try? JSON.parse(sink.errorBody))?["detail"]?.stringValue ?? "HTTP \(status)"
            return .refused(status: status, detail: detail)
        }
        if rc == CURLE_OK { return .dropped("the server closed the stream") }
        return .dropped(String(cString: curl_easy_strerror(rc)))
    }
}
