import Foundation
import HTTPTypes
import Synchronization

/// A token bucket per API token: `rate` units a second, up to `burst` saved up. Ingest spends one unit per event,
/// actions one per request. A request that does not fit is refused whole with 429 and the `Retry-After` that
/// makes it fit (the Python SDK sleeps that long and sends again).
final class RateLimiter: Sendable {
    let rate: Double
    let burst: Double
    /// What the limit is called in messages (the variable that sets it) and what it counts.
    let variable: String
    let unit: String
    private let buckets = Mutex<[Int64: (tokens: Double, atUs: Int64)]>([:])
    private let clock: ServerClock

    /// `rate` 0 turns the limit off.
    init(rate: Double, burstSeconds: Double, variable: String, unit: String, clock: ServerClock) {
        self.rate = rate
        self.burst = max(1, rate * burstSeconds)
        self.variable = variable
        self.unit = unit
        self.clock = clock
    }

    /// Spends `cost` units of `key`'s bucket, or throws 429 saying when the request would fit.
    func spend(_ cost: Double, key: Int64) throws {
        guard rate > 0, cost > 0 else { return }
        let now = clock.nowUs()
        let need = min(cost, burst)
        let wait: Double? = buckets.withLock { b in
            var (tokens, at) = b[key] ?? (burst, now)
            tokens = min(burst, tokens + Double(max(0, now - at)) / 1e6 * rate)
            at = now
            defer { b[key] = (tokens, at) }
            if tokens >= need {
                tokens -= need
                return nil
            }
            return (need - tokens) / rate
        }
        guard let wait else { return }
        let seconds = max(1, Int(wait.rounded(.up)))
        throw APIError(
            status: .tooManyRequests,
            detail:
                "Rate limit: this token may send \(Self.figure(rate)) \(rate == 1 && unit.hasSuffix("s") ? String(unit.dropLast()) : unit) a second (\(variable)); retry in \(seconds) s.",
            headers: [.retryAfter: String(seconds)])
    }

    static func figure(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}
