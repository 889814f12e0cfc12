import ArgusClient
import ArgusServer
import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// Jobs' epochs kept between reads (`EpochCache`): a read after more epochs arrived, after a re-sent epoch and after
/// retention deleted some says exactly what reading the job whole says.
@Suite("Epochs kept between reads", .ownThread)
struct EpochCacheTests {
    static func epochs(_ c: HTTPClient, _ job: String = "j") throws -> (columns: JSON, rows: JSON) {
        (try c.mustGet("/api/jobs/b/\(job)/view?epochs=columns")["epochs"] ?? .null, try c.mustGet("/api/jobs/b/\(job)/epochs"))
    }

    @Test("more epochs, a re-sent epoch and a non-finite value: the next read matches a read of the whole job")
    func toppedUp() async throws {
        let srv = try await InProcessServer()
        let c = srv.client(try srv.token())
        let first = try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 2]))
            #expect(try c.postBatch((0..<50).map { Ev.epoch("b", "j", $0) }).status == 200)
            #expect(try c.postBatch((0..<5).map { Ev.epoch("b", "other", $0) }).status == 200)
            return try Self.epochs(c)
        }
        #expect(first.columns["count"] == 50)
        #expect(srv.services.store.epochCache.bytes > 0)
        let (kept, whole) = try await offPool {
            var more = (50..<60).map { Ev.epoch("b", "j", $0) }
            more.append(Ev.epoch("b", "j", 10, train: 9.5, val: 9.75, extra: [("grad_norm", 3)]))
            more.append(
                Ev.make(
                    "job_epoch", batch: "b", job: "j",
                    data: ["epoch": 60, "train_loss": 0.5, "val_loss": .null, "_nonfinite": ["val_loss"]]))
            #expect(try c.postBatch(more).status == 200)
            let kept = try Self.epochs(c)
            // The same server with nothing kept reads the job whole.
            srv.services.store.epochCache.setBudget(0)
            return (kept, try Self.epochs(c))
        }
        #expect(srv.services.store.epochCache.bytes == 0)
        #expect(kept.columns == whole.columns)
        #expect(kept.rows == whole.rows)
        #expect(kept.columns["count"] == 61)
        let rows = kept.rows.arrayValue ?? []
        #expect(rows.first { $0["epoch"] == 10 }?["train_loss"] == 9.5)
        #expect(rows.first { $0["epoch"] == 10 }?["grad_norm"] == 3)
        #expect(rows.last?["nonfinite"] == ["val_loss"])
        #expect(try await offPool { try Self.epochs(c, "other").columns["count"] } == 5)
        await srv.stop()
    }

    @Test("epochs retention deleted are gone from the next read of a job read before")
    func afterRetention() async throws {
        let srv = try await InProcessServer()
        let c = srv.client(try srv.token())
        let old = Timestamp(micros: Timestamp.now().micros - 40 * 86_400_000_000).iso
        try await offPool {
            try c.mustPost(Ev.make("batch_start", batch: "b", data: ["n_total_jobs": 1]))
            // The even epochs stamped 40 days ago (job_epoch events are kept 30 days), the odd ones now.
            var events: [JSON] = []
            for n in 0..<40 {
                let data: JSON = ["epoch": JSON(n), "train_loss": JSON(Double(n))]
                let ts = n % 2 == 0 ? old : Timestamp.now().iso
                events.append(Ev.make("job_epoch", batch: "b", job: "j", data: data, ts: ts))
            }
            #expect(try c.postBatch(events).status == 200)
            #expect(try Self.epochs(c).columns["count"] == 40)
        }
        #expect(try await srv.services.sweepRetention().deleted[.jobEpoch] == 20)
        let after = try await offPool {
            try c.mustPost(Ev.epoch("b", "j", 40))
            return try Self.epochs(c)
        }
        #expect(after.columns["count"] == 21)
        #expect(after.rows.arrayValue?.map { $0["epoch"]?.intValue ?? -1 } == Array(stride(from: 1, to: 40, by: 2)) + [40])
        await srv.stop()
    }

    @Test("ARGUS_EPOCH_CACHE_MB: megabytes, 0 turns it off, nonsense is refused")
    func setting() throws {
        #expect(try ServerConfig.fromEnvironment([:]).epochCacheBytes == 64 << 20)
        #expect(try ServerConfig.fromEnvironment(["ARGUS_EPOCH_CACHE_MB": "0"]).epochCacheBytes == 0)
        #expect(try ServerConfig.fromEnvironment(["ARGUS_EPOCH_CACHE_MB": "8"]).epochCacheBytes == 8 << 20)
        for bad in ["-1", "lots", "1e9"] {
            #expect(throws: ServerConfig.ConfigError.self) { try ServerConfig.fromEnvironment(["ARGUS_EPOCH_CACHE_MB": bad]) }
        }
    }
}
