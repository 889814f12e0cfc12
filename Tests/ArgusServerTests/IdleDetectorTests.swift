import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The idle detector judges a job by its own snapshots' timestamps (README, "Guardrails"), so these tests need no
/// clock: they post snapshots stamped minutes apart and watch what the real server says over HTTP and SSE.
@Suite("Idle-job detector", .ownThread)
struct IdleDetectorTests {
    static let t0 = Timestamp.now().micros - 3_600_000_000

    static func at(_ minutes: Double) -> String { Timestamp(micros: t0 + Int64((minutes * 60_000_000).rounded())).iso }

    static func atSeconds(_ seconds: Double) -> String { at(seconds / 60) }

    static func snapshot(_ batch: String, _ minutes: Double, _ utils: [Double], job: String? = nil) -> JSON {
        let gpus = JSON.array(utils.map { ["util_pct": JSON($0), "mem_mb": 1000] })
        return Ev.make("resource_snapshot", batch: batch, job: job, data: ["gpus": gpus], ts: at(minutes))
    }

    /// A batch and a running job, both started at minute 0.
    static func start(_ c: HTTPClient, _ batch: String, _ jobs: String...) throws {
        try c.mustPost(Ev.make("batch_start", batch: batch, ts: at(0)))
        for j in jobs { try c.mustPost(Ev.make("job_start", batch: batch, job: j, ts: at(0))) }
    }

    static func idle(_ c: HTTPClient, _ batch: String, _ job: String) throws -> Bool {
        try c.mustGet("/api/jobs/\(batch)/\(job)")["is_idle_flagged"]?.boolValue ?? false
    }

    @Test("quiet for the whole window: flagged once the streak lasts the window, streamed with `since`; busy clears it")
    func flagAndClear() throws {
        let s = try TestServer()
        let token = try s.token()
        let c = s.client(token)
        try c.mustPost(Ev.make("batch_start", batch: "b", ts: Self.at(-5)))
        // A job that ended before the quiet stretch is not judged by it.
        try c.mustPost(Ev.make("job_start", batch: "b", job: "early", ts: Self.at(-5)))
        try c.mustPost(Ev.make("job_done", batch: "b", job: "early", data: ["elapsed_s": 60], ts: Self.at(-4)))
        try c.mustPost(Ev.make("job_start", batch: "b", job: "j", ts: Self.at(0)))
        let sub = SSECollector(url: "\(s.url)/api/sse?channels=job:b:j", token: token)
        defer { sub.stop() }
        try sub.waitUntilConnected()
        // Samples every 30 s, all GPUs under 5%. The window is 10 min.
        for i in 0...19 { try c.mustPost(Self.snapshot("b", Double(i) * 0.5, [1, 4.9])) }
        #expect(try !Self.idle(c, "b", "j"), "9.5 minutes of quiet samples must not flag the job")
        try c.mustPost(Self.snapshot("b", 10, [0, 0]))
        #expect(try Self.idle(c, "b", "j"))
        let job = try c.mustGet("/api/jobs/b/j")
        #expect(job["telemetry"]?["idle_since"] == .string(Self.at(0)))
        #expect(job["status"] == "running", "nothing is killed or ended")
        #expect(try !Self.idle(c, "b", "early"))
        try sub.wait(until: { $0.contains { $0.type == "job_idle_flagged" } })
        let flagged = try JSON.parse(sub.dataEvents.first { $0.type == "job_idle_flagged" }!.data)
        #expect(flagged["job_id"] == "j")
        #expect(flagged["data"]?["since"] == .string(Self.at(0)))
        #expect(flagged["data"]?["threshold_min"] == 10)
        // Further quiet samples do not flag it again.
        try c.mustPost(Self.snapshot("b", 10.5, [0, 1]))
        // One GPU busy is enough: the job is working.
        try c.mustPost(Self.snapshot("b", 11, [0, 0, 0, 62]))
        #expect(try !Self.idle(c, "b", "j"))
        try sub.wait(until: { $0.contains { $0.type == "job_idle_recovered" } })
        let types = sub.dataEvents.map(\.type).filter { $0.hasPrefix("job_idle") }
        #expect(types == ["job_idle_flagged", "job_idle_recovered"])
        let recovered = try JSON.parse(sub.dataEvents.first { $0.type == "job_idle_recovered" }!.data)
        #expect(recovered["data"]?["idle_for_s"] == 660)
        // The flag is part of /view too, which is what the TUI loads first.
        #expect(try c.mustGet("/api/jobs/b/j/view")["job"]?["is_idle_flagged"] == false)
    }

    @Test("a job with a busy sample every few minutes is never flagged, however long it runs")
    func busySamplesKeepItUnflagged() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.start(c, "b", "j")
        var events: [JSON] = []
        for i in 0...60 {
            let minute = Double(i) * 0.5
            // Busy at minutes 0, 8, 16 and 24: every window of 10 minutes holds one.
            events.append(Self.snapshot("b", minute, [i % 16 == 0 ? 40 : 2]))
        }
        #expect(try c.postBatch(events).status == 200)
        #expect(try !Self.idle(c, "b", "j"))
        // Everything the batch ever streamed, replayed from the start: no idle event among it.
        let replay = SSECollector(url: "\(s.url)/api/sse?channels=batch:b&last_event_id=0", token: try s.token())
        defer { replay.stop() }
        try replay.wait(until: { $0.filter { $0.type == "resource_snapshot" }.count == 61 })
        #expect(!replay.dataEvents.contains { $0.type.hasPrefix("job_idle") })
    }

    @Test("a streak shorter than the window never flags; a gap longer than the allowed gap starts it over")
    func shortStreaksAndGaps() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        try Self.start(c, "b", "short")
        // 9.5 minutes of quiet, then the samples stop (a stall, not an idle GPU).
        for i in 0...19 { try c.mustPost(Self.snapshot("b", Double(i) * 0.5, [0], job: "short")) }
        #expect(try !Self.idle(c, "b", "short"))

        // At a 10-minute window the allowed gap is 5 minutes. Busy at 0, quiet at 0.5 and 1, then nothing
        // until minute 6.5 (5.5 minutes): the streak starts over at 6.5, so it is not idle at minute 11 (which
        // would count from 1) but at 16.5.
        try Self.start(c, "g", "gap")
        try c.mustPost(Self.snapshot("g", 0, [50]))
        try c.mustPost(Self.snapshot("g", 0.5, [0]))
        try c.mustPost(Self.snapshot("g", 1, [0]))
        for i in 0...19 {
            try c.mustPost(Self.snapshot("g", 6.5 + Double(i) * 0.5, [0]))
            #expect(try !Self.idle(c, "g", "gap"), "flagged at minute \(6.5 + Double(i) * 0.5)")
        }
        try c.mustPost(Self.snapshot("g", 16.5, [0]))
        #expect(try Self.idle(c, "g", "gap"))
        #expect(try c.mustGet("/api/jobs/g/gap")["telemetry"]?["idle_since"] == .string(Self.at(6.5)))
        // Snapshots that name another job do not count for this one.
        #expect(try !Self.idle(c, "b", "short"))
    }

    /// A 1-minute window, samples every `period` seconds: flagged at the first sample at least 60 s after the
    /// streak's first quiet sample, never before, whether or not the period divides the window.
    @Test(
        "the flag fires on time whatever the sampling period: 10.0, 10.3, 30.0 and 30.3 s at a 1-minute window",
        arguments: [10.0, 10.3, 30.0, 30.3])
    func periodsThatDoNotDivideTheWindow(period: Double) throws {
        let s = try TestServer(env: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "1"])
        let c = s.client(try s.token())
        try Self.start(c, "b", "j")
        // Busy first, then quiet from `start` on: the streak starts at the first quiet sample.
        try c.mustPost(Self.snapshot("b", 0, [80], job: "j"))
        let start = period
        var flaggedAt: Double?
        var t = start
        while t <= start + 130 {
            try c.mustPost(Ev.make("resource_snapshot", batch: "b", job: "j", data: ["gpus": [["util_pct": 0.5]]], ts: Self.atSeconds(t)))
            let idle = try Self.idle(c, "b", "j")
            #expect(idle == (t - start >= 60 - 1e-6), "at \(t) s the flag is \(idle)")
            if idle, flaggedAt == nil { flaggedAt = t }
            t += period
        }
        let expected = start + (60 / period).rounded(.up) * period
        #expect(abs((flaggedAt ?? -1) - expected) < 1e-6, "flagged at \(flaggedAt ?? -1) s, expected \(expected) s")
        #expect(try c.mustGet("/api/jobs/b/j")["telemetry"]?["idle_since"] == .string(Self.atSeconds(start)))
        // A busy sample clears it.
        try c.mustPost(
            Ev.make(
                "resource_snapshot", batch: "b", job: "j", data: ["gpus": [["util_pct": 0.5], ["util_pct": 40]]], ts: Self.atSeconds(t)))
        #expect(try !Self.idle(c, "b", "j"))
    }

    @Test("at a 1-minute window a gap of 60 s is bridged and one of 61 s starts the streak over")
    func allowedGapAtOneMinute() throws {
        let s = try TestServer(env: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "1"])
        let c = s.client(try s.token())
        try Self.start(c, "b", "bridged", "broken")
        func quiet(_ job: String, _ seconds: Double) throws -> Bool {
            try c.mustPost(Ev.make("resource_snapshot", batch: "b", job: job, data: ["gpu_util_pct": 1], ts: Self.atSeconds(seconds)))
            return try Self.idle(c, "b", job)
        }
        #expect(try !quiet("bridged", 1))
        #expect(try quiet("bridged", 61), "two quiet samples 60 s apart are a 60 s streak")
        #expect(try !quiet("broken", 1))
        #expect(try !quiet("broken", 11))
        #expect(try !quiet("broken", 72), "a 61 s gap must start the streak over")
        #expect(try !quiet("broken", 102))
        #expect(try quiet("broken", 132))
        #expect(try c.mustGet("/api/jobs/b/broken")["telemetry"]?["idle_since"] == .string(Self.atSeconds(72)))
    }

    @Test("a snapshot that names a job only counts for that job; ARGUS_IDLE_JOB_THRESHOLD_MIN sets the window")
    func jobNarrowingAndThreshold() throws {
        let s = try TestServer(env: ["ARGUS_IDLE_JOB_THRESHOLD_MIN": "0.5"])
        let c = s.client(try s.token())
        try Self.start(c, "b", "a", "z")
        // Thirty seconds of quiet samples that name job a, two seconds apart.
        for i in 0...15 { try c.mustPost(Self.snapshot("b", Double(i * 2) / 60, [1], job: "a")) }
        #expect(try Self.idle(c, "b", "a"))
        #expect(try !Self.idle(c, "b", "z"))
    }
}
