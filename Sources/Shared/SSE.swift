/// Server-Sent Events framing, both directions, following the WHATWG "event stream" rules.

public struct SSEEvent: Sendable, Equatable {
    /// The last-event-ID buffer at dispatch time (persists across events, as the spec says).
    public var id: String
    public var type: String
    public var data: String

    public init(id: String, type: String, data: String) {
        self.id = id
        self.type = type
        self.data = data
    }
}

public enum SSEMessage: Sendable, Equatable {
    case event(SSEEvent)
    case comment(String)
    case retry(Int)
}

/// Incremental parser: feed it bytes as they arrive, in chunks of any size.
public struct SSEParser: Sendable {
    public private(set) var lastEventID = ""
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType = ""
    private var lastWasCR = false
    private var atStart = true
    private var bomCheck: [UInt8] = []

    public init() {}

    /// Part of a frame has arrived, but not the blank line that ends it: a connection closing now cuts it off.
    public var isMidFrame: Bool { !line.isEmpty || hasData || !eventType.isEmpty }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [SSEMessage] {
        var out: [SSEMessage] = []
        for c in bytes {
            if atStart {
                // Strip one UTF-8 BOM at the very start of the stream.
                bomCheck.append(c)
                let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
                if bomCheck == Array(bom.prefix(bomCheck.count)) {
                    if bomCheck.count == 3 {
                        atStart = false
                        bomCheck = []
                    }
                    continue
                }
                atStart = false
                let pending = bomCheck
                bomCheck = []
                for p in pending { step(p, &out) }
                continue
            }
            step(c, &out)
        }
        return out
    }

    private mutating func step(_ c: UInt8, _ out: inout [SSEMessage]) {
        if c == 0x0A {
            if lastWasCR {
                lastWasCR = false
                return
            }
            processLine(&out)
        } else if c == 0x0D {
            lastWasCR = true
            processLine(&out)
            return
        } else {
            line.append(c)
        }
        lastWasCR = false
    }

    private mutating func processLine(_ out: inout [SSEMessage]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            dispatch(&out)
            return
        }
        if line[0] == UInt8(ascii: ":") {
            var text = line.dropFirst()
            if text.first == 0x20 { text = text.dropFirst() }
            out.append(.comment(String(decoding: text, as: UTF8.self)))
            return
        }
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == 0x20 { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "event": eventType = String(decoding: value, as: UTF8.self)
        case "data":
            if hasData { data.append(0x0A) }
            data.append(contentsOf: value)
            hasData = true
        case "id":
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        case "retry":
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let ms = Int(String(decoding: value, as: UTF8.self))
            {
                out.append(.retry(ms))
            }
        default: break
        }
    }

    private mutating func dispatch(_ out: inout [SSEMessage]) {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = ""
        }
        guard hasData else { return }
        out.append(
            .event(
                SSEEvent(
                    id: lastEventID, type: eventType.isEmpty ? "message" : eventType,
                    data: String(decoding: data, as: UTF8.self))))
    }
}

public enum SSEEncoder {
    /// One frame. `data` must be a single line (our payloads are compact JSON); newlines are split into data lines anyway.
    public static func frame(id: Int64?, event: String?, data: String) -> String {
        var s = ""
        if let id { s += "id: \(id)\n" }
        if let event { s += "event: \(event)\n" }
        if !data.utf8.contains(0x0A) { return s + "data: " + data + "\n\n" }
        for part in data.split(separator: "\n", omittingEmptySubsequences: false) {
            s += "data: \(part)\n"
        }
        return s + "\n"
    }

    public static func comment(_ text: String) -> String { ": \(text)\n\n" }
}
