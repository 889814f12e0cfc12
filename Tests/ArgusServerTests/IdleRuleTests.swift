import TestSupport
import Testing

@testable import ArgusServer

/// The idle rule's fold (`JobRecord.observeGPU`) on its own, for the orders of arrival the HTTP tests do not
/// reach easily: late samples from a replayed spill file.
@Suite("Idle rule fold", .ownThread)
struct IdleRuleTests {
    static let s: Int64 = 1_000_000
    static let window = 60 * s

    static func job() -> JobRecord { JobRecord(batchID: "b", id: "j", now: 0) }

    /// Feeds samples (seconds, util) in the given order; returns the changes.
    static func feed(_ j: inout JobRecord, _ samples: [(Double, Double)], all: [(Double, Double)]? = nil)
        -> [JobRecord.IdleChange?]
    {
        let known = (all ?? samples).map { Int64($0.0 * 1e6) }.sorted()
        return samples.map { t, u in
            j.observeGPU(ts: Int64(t * 1e6), util: u, windowUs: window) { after in known.first { $0 > after } }
        }
    }

    @Test("the allowed gap is half the window, but never under 60 s")
    func allowedGap() {
        #expect(IdleRule.allowedGapUs(windowUs: 60 * Self.s) == 60 * Self.s)
        #expect(IdleRule.allowedGapUs(windowUs: 9 * Self.s) == 60 * Self.s)
        #expect(IdleRule.allowedGapUs(windowUs: 600 * Self.s) == 300 * Self.s)
    }

    @Test("a late busy sample inside the streak ends it; the streak restarts at the sample after it")
    func lateBusyInsideStreak() {
        var j = Self.job()
        let quiet: [(Double, Double)] = [(0, 1), (20, 1), (40, 1)]
        #expect(Self.feed(&j, quiet, all: quiet + [(30, 90)]).allSatisfy { $0 == nil })
        #expect(Self.feed(&j, [(30, 90)], all: quiet + [(30, 90)]) == [nil])
        #expect(j.gpuQuietSinceUs == 40 * Self.s)
        // 60 s after 0 would have flagged; 60 s after 40 is what counts now.
        #expect(Self.feed(&j, [(60, 1), (80, 1)]) == [nil, nil])
        #expect(Self.feed(&j, [(100, 1)]) == [.flagged(sinceUs: 40 * Self.s)])
    }

    @Test("a late busy sample older than the streak changes nothing, not even a flag")
    func lateBusyBeforeStreak() {
        var j = Self.job()
        #expect(Self.feed(&j, [(0, 50), (10, 1), (40, 1)]) == [nil, nil, nil])
        #expect(Self.feed(&j, [(70, 1)]) == [.flagged(sinceUs: 10 * Self.s)])
        #expect(Self.feed(&j, [(5, 80)]) == [nil])
        #expect(j.isIdleFlagged)
        #expect(Self.feed(&j, [(75, 80)]) == [.recovered(sinceUs: 10 * Self.s)])
    }

    @Test("a late quiet sample just before the streak extends it back")
    func lateQuietExtends() {
        var j = Self.job()
        #expect(Self.feed(&j, [(0, 50), (30, 1), (60, 1)]) == [nil, nil, nil])
        #expect(Self.feed(&j, [(10, 1)]) == [nil])
        #expect(j.gpuQuietSinceUs == 10 * Self.s)
        #expect(Self.feed(&j, [(70, 1)]) == [.flagged(sinceUs: 10 * Self.s)])
    }

    @Test("a flagged job stays flagged across a gap; only a busy sample clears it")
    func flagSurvivesGap() {
        var j = Self.job()
        #expect(Self.feed(&j, [(0, 1), (30, 1), (60, 1)]).last == .flagged(sinceUs: 0))
        #expect(Self.feed(&j, [(500, 1)]) == [nil])
        #expect(j.isIdleFlagged)
        #expect(Self.feed(&j, [(510, 6)]) == [.recovered(sinceUs: 0)])
        #expect(!j.isIdleFlagged)
    }
}
