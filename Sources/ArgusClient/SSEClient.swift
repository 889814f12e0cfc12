import CCurl
import FoundationEssentials
import Shared
import Synchronization

/// Reads one SSE connection with libcurl, blocking the calling thread until the stream ends,
/// the handler returns false, `cancel()` is called, or nothing (not even a keepalive) arrives for `idleTimeout`.
public final class SSEConnection: @unchecked Sendable {
    public enum End: Sendable, Equatable {
        /// The handler asked to stop, or `cancel()` was called.
        case stopped
        /// The server answered with a non-200 status, and its `detail` sentence when the reply had one.
        case refused(status: Int, detail: String?)
        /// No connection could be made (`why` is libcurl's reason).
        case unreachable(String)
        /// Nothing at all arrived (not even a keepalive comment) for `seconds`: the transfer was abandoned.
        case stalled(seconds: Double)
        /// The connection failed or closed; reconnecting with the last id is the remedy.
        case dropped(String)
    }

    /// How long a stream may be silent before it counts as stalled, for a server that sends a keepalive comment
    /// after `keepalive` seconds of silence (it checks every `keepalive / 3` s, at most 5 s, so the longest
    /// healthy gap is about 4/3 of it): half as long again plus 2 s. The server announces its interval in the
    /// `hello` event (`keepalive_s`); before that the default of 15 s is assumed, so 24.5 s.
    public static func stallTimeout(keepalive: Double?) -> Double { (keepalive ?? 15) * 1.5 + 2 }

    private let cancelled = Atomic<Bool>(false)
    private let idle: Mutex<Double>
    private let handle: UnsafeMutableRawPointer
    public let url: String
    public let token: String?

    public init(url: String, token: String?, idleTimeout: Double = SSEConnection.stallTimeout(keepalive: nil)) {
        _ = CurlRuntime.initialised
        self.url = url
        self.token = token
        idle = Mutex(idleTimeout)
        handle = curl_easy_init()
    }

    deinit { curl_easy_cleanup(handle) }

    /// Seconds of silence after which the stream counts as stalled; may be changed while it runs (from the
    /// message handler, e.g. once `hello` says how often the server sends keepalives).
    public var idleTimeout: Double {
        get { idle.withLock { $0 } }
        set { idle.withLock { $0 = newValue } }
    }

    /// Safe from any thread: the transfer aborts within about a second.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }

    final class Sink {
        var parser = SSEParser()
        var onMessage: (SSEMessage) -> Bool
        var status = 0
        var errorBody: [UInt8] = []
        var stoppedByHandler = false
        /// When the last byte arrived (or the request started); the silence is measured from here.
        var lastByte = Date()
        var stalledAfter: Double?
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
        ccurl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        ccurl_setopt_slist(h, CURLOPT_HTTPHEADER, list)
        ccurl_setopt_ptr(h, CURLOPT_WRITEDATA, ctx)
        ccurl_setopt_writefn(h) { ptr, size, n, ud in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            let count = size * n
            guard let ptr else { return count }
            s.lastByte = Date()
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
        // libcurl calls this at least about once a second, even while nothing arrives.
        ccurl_setopt_xferinfofn(h) { ud, _, _, _, _ in
            let s = Unmanaged<Sink>.fromOpaque(ud!).takeUnretainedValue()
            if s.connection.cancelled.load(ordering: .relaxed) { return 1 }
            let silent = Date().timeIntervalSince(s.lastByte)
            let limit = s.connection.idleTimeout
            if silent > limit {
                s.stalledAfter = limit
                return 1
            }
            return 0
        }
        let rc = withExtendedLifetime(sink) { curl_easy_perform(h) }
        if sink.stoppedByHandler || cancelled.load(ordering: .relaxed) { return .stopped }
        var status = sink.status
        if status == 0 { ccurl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &status) }
        if status != 0 && status != 200 {
            return .refused(status: status, detail: (try? JSON.parse(sink.errorBody))?["detail"]?.stringValue)
        }
        if let after = sink.stalledAfter { return .stalled(seconds: after) }
        let why = String(cString: curl_easy_strerror(rc))
        var connectedUs: curl_off_t = 0
        ccurl_getinfo_off(h, CURLINFO_CONNECT_TIME_T, &connectedUs)
        if connectedUs == 0 && rc != CURLE_OK { return .unreachable(why) }
        if sink.parser.isMidFrame { return .dropped("the connection closed in the middle of an event") }
        if rc == CURLE_OK { return .dropped("the server closed the stream") }
        return .dropped(why)
    }
}
