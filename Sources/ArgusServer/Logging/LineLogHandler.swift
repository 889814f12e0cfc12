import Foundation
import Logging
import Synchronization

/// The server's log handler: one line per message on standard error, in swift-log's `StreamLogHandler` format
/// (`2026-12-03T13:31:59+0000 info argus-server: hb.request.id=… [ArgusServer] GET /health 200 0.5ms`), written
/// with a single `write(2)` so lines from several threads never interleave.
///
/// It exists for its cost: the access log writes a line for every request, and `StreamLogHandler` formats the
/// time with `localtime` (which re-reads the time zone file on each call) and sorts the metadata into a string
/// for every request's logger. Here the time prefix is formatted once a second and the metadata once per logger.
/// `bench/lone.sh` measures it.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    public var metadata: Logger.Metadata = [:] {
        didSet { prettyMetadata = LineLogHandler.prettify(metadata) }
    }
    private let label: String
    private var prettyMetadata = ""

    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var pretty = prettyMetadata
        let provided = metadataProvider?.get() ?? [:]
        if !provided.isEmpty || !(event.metadata?.isEmpty ?? true) || event.error != nil {
            var all = metadata
            all.merge(provided) { _, new in new }
            all.merge(event.metadata ?? [:]) { _, new in new }
            if let error = event.error { all["error.message"] = "\(error)" }
            pretty = LineLogHandler.prettify(all)
        }
        var line = LogClock.shared.prefix()
        line.reserveCapacity(line.utf8.count + label.utf8.count + pretty.utf8.count + 64)
        line += " \(event.level)"
        if !label.isEmpty { line += " " + label }
        line += ":"
        if !pretty.isEmpty { line += " " + pretty }
        line += " [\(event.source)] \(event.message)\n"
        line.withUTF8 { bytes in
            var rest = UnsafeRawBufferPointer(bytes)
            while !rest.isEmpty {
                let n = Foundation.write(2, rest.baseAddress, rest.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                rest = UnsafeRawBufferPointer(rebasing: rest[n...])
            }
        }
    }

    private static func prettify(_ metadata: Logger.Metadata) -> String {
        metadata.isEmpty ? "" : metadata.lazy.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
    }
}

/// The local time of the log lines' prefix, to the second: formatted once a second, not per line.
final class LogClock: Sendable {
    static let shared = LogClock()
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    func prefix() -> String {
        let now = time(nil)
        if let hit = cached.withLock({ $0.second == now ? $0.text : nil }) { return hit }
        var t = now
        var local = tm()
        localtime_r(&t, &local)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        let text = String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        cached.withLock { $0 = (now, text) }
        return text
    }
}
