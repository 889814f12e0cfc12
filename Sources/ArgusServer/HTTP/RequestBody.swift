import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// Every route reads its JSON body through here, so each answers bad bodies alike: a Content-Type that is not
/// JSON is 415, a body over the route's limit 413 (`NIOTooManyBytesError`, see `ErrorMiddleware`), malformed
/// JSON 422. Never a 500.
extension Request {
    /// The body as JSON. An empty body is `ifEmpty` when given (routes whose body is optional), else 422.
    /// `limitSetBy`: the variable that sets `limit`, named in the 413; nil for a route's own fixed limit.
    func jsonBody(limit: Int, limitSetBy: String? = nil, ifEmpty: JSON? = nil) async throws -> JSON {
        try await jsonBodyAndSize(limit: limit, limitSetBy: limitSetBy, ifEmpty: ifEmpty).json
    }

    /// `jsonBody`, and how many bytes the body had.
    func jsonBodyAndSize(limit: Int, limitSetBy: String? = nil, ifEmpty: JSON? = nil) async throws -> (json: JSON, bytes: Int) {
        // A bare `POST` (curl -X POST, a form with no fields) says nothing, whatever Content-Type came with it.
        if let ifEmpty, headers[.contentLength] == "0" { return (ifEmpty, 0) }
        try requireJSONContentType()
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: limit, setBy: limitSetBy)
        }
        if buffer.readableBytes == 0, let ifEmpty { return (ifEmpty, 0) }
        return (try buffer.withUnsafeReadableBytes { try Request.decodeJSON($0) }, buffer.readableBytes)
    }

    /// A body's bytes as JSON, or the 422 every route answers for malformed JSON (the `ingest` fuzz target's entry).
    static func decodeJSON(_ raw: UnsafeRawBufferPointer) throws(APIError) -> JSON {
        do {
            return try JSON.parse(
                UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
        } catch {
            throw APIError.unprocessable("The body is not valid JSON (\(error.message) at byte \(error.offset)).")
        }
    }

    /// A missing Content-Type is taken as JSON (old clients, `curl -X POST` without a body); `application/json`
    /// and any `…+json` type are JSON; anything else (a form, `text/plain`) is refused before the body is read.
    func requireJSONContentType() throws {
        // A compressed body would read as JSON that is invalid at byte 0: say what is wrong instead.
        if let encoding = headers[.contentEncoding], !["identity", ""].contains(encoding.trimmed().lowercased()) {
            throw APIError(
                status: .unsupportedMediaType,
                detail: "Compressed bodies are not accepted (Content-Encoding: \(encoding.prefix(40))); send the JSON as it is.")
        }
        guard let value = headers[.contentType] else { return }
        let media =
            value.split(separator: ";", maxSplits: 1).first.map {
                $0.trimmed().lowercased()
            } ?? ""
        guard media == "application/json" || media.hasSuffix("+json") else {
            throw APIError(
                status: .unsupportedMediaType,
                detail: "The body must be JSON, sent with Content-Type: application/json (got '\(value.prefix(100))').")
        }
    }
}

extension JSON {
    /// Refuses a body with a field the route does not take (a typo such as `expires_in` would otherwise be ignored
    /// in silence, and the action done without it).
    func requireOnlyKeys(_ allowed: [String]) throws {
        guard let o = objectValue else { return }
        if let unknown = o.keys.first(where: { !allowed.contains($0) }) {
            throw APIError.unprocessable(
                "Unknown field '\(unknown.prefix(100))'; this route takes \(allowed.map { "'\($0)'" }.joined(separator: ", ")).")
        }
    }
}
