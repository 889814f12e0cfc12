import Shared
import Synchronization

/// The server's notion of "now" (microseconds since the epoch). The stall detector and retention judge by it;
/// tests swap in a `ManualClock` so that "fifteen minutes later" takes no time.
public struct ServerClock: Sendable {
    public let nowUs: @Sendable () -> Int64

    public init(nowUs: @escaping @Sendable () -> Int64) { self.nowUs = nowUs }

    public static let system = ServerClock { Timestamp.now().micros }
}

/// A clock that moves only when told to.
public final class ManualClock: Sendable {
    private let us: Mutex<Int64>

    public init(startUs: Int64 = Timestamp.now().micros) { us = Mutex(startUs) }

    public var nowUs: Int64 { us.withLock { $0 } }

    public func advance(seconds: Double) { us.withLock { $0 += Int64(seconds * 1_000_000) } }

    public var clock: ServerClock { ServerClock { [self] in self.nowUs } }
}

extension ContinuousClock.Instant {
    /// Whole seconds from this instant to now: how long an outage has lasted, in the logs.
    var secondsAgo: Int { Int((ContinuousClock.now - self).components.seconds) }
}

/// A failure that lasts (a lost LISTEN, the stream tail's reads) is logged when it starts, again every `everyS` while
/// it lasts, and when it ends: not at each retry.
enum LastingFailureLog {
    static let everyS = 60
}
