import ArgusClient
import Foundation
import GRDB
import Shared
import TestSupport
import Testing

@testable import ArgusServer

/// `event_id` dedupes within a batch: one user's ids can neither drop nor reveal another user's events.
@Suite("Dedupe is scoped to the batch", .ownThread)
struct DedupeScopeTests {
    @Test("another user's event with the same event_id is stored, streamed and visible; a resend within a batch is not")
    func sameIDAcrossUsers() throws {
        let s = try TestServer()
        let alice = s.client(try s.token(user: "alice"))
        let bob = s.client(try s.token(user: "bob"))
        let id = "0123456789abcdef"
        let first = try alice.post("/api/events", json: Ev.make("batch_start", batch: "a1", id: id))
        #expect(first.json?["deduplicated"] == false)
        let theirs = try bob.post("/api/events", json: Ev.make("batch_start", batch: "b1", id: id))
        #expect(theirs.status == 200)
        #expect(theirs.json?["deduplicated"] == false, "bob must not learn that alice used this id")
        #expect(theirs.json?["event_id"] != first.json?["event_id"])
        #expect(try bob.mustGet("/api/batches/b1")["status"] == "running")
        // Alice's own other batch may reuse the id as well; her resend to a1 is a duplicate with the original row id.
        #expect(try alice.post("/api/events", json: Ev.make("batch_start", batch: "a2", id: id)).json?["deduplicated"] == false)
        let again = try alice.post("/api/events", json: Ev.make("batch_start", batch: "a1", id: id))
        #expect(again.json?["deduplicated"] == true)
        #expect(again.json?["event_id"] == first.json?["event_id"])
        #expect(try alice.mustGet("/api/batches").arrayValue?.count == 2)
    }

    @Test("a copy inside one request counts once: accepted + deduplicated + rejected = items")
    func countsInOneRequest() throws {
        let s = try TestServer()
        let c = s.client(try s.token())
        let e = Ev.epoch("b", "j", 1)
        let r = try c.postBatch([Ev.make("job_start", batch: "b", job: "j"), e, e, e])
        #expect(r.json?["accepted"]?.intValue == 2)
        #expect(r.json?["deduplicated"]?.intValue == 2)
        #expect(r.json?["rejected"]?.intValue == 0)
        let resend = try c.postBatch([e])
        #expect(resend.json?["accepted"]?.intValue == 0)
        #expect(resend.json?["deduplicated"]?.intValue == 1)
        #expect(try c.mustGet("/api/jobs/b/j/epochs").arrayValue?.count == 1)
    }

    @Test("a database from before the change migrates: rows, ids and the SSE id high-water mark are kept", .enabled(if: TestBackend.sqlite))
    func migratesOldDatabase() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("argus-v4-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // The schema as shipped before this change, with alice's event 40 and a sequence at 90 (retention deleted the rest).
        let old = try DatabaseQueue(path: dir.appendingPathComponent("argus.sqlite").path)
        try Schema.migrator.migrate(old, upTo: "v4 guardrails: idle state, stall and retention indexes")
        try old.write { db in
            try db.execute(sql: "INSERT INTO users(id, name, is_admin, created_us) VALUES (1, 'alice', 0, 0)")
            try db.execute(
                sql: "INSERT INTO batches(id, owner_id, status, last_received_us, created_us) VALUES ('a1', 1, 'running', 0, 0)")
            let body = Ev.make("batch_start", batch: "a1", id: "0123456789abcdef").serialized()
            try db.execute(
                sql: """
                    INSERT INTO events(id, event_id, batch_id, event_type, ts_us, received_us, body)
                    VALUES (40, '0123456789abcdef', 'a1', 'batch_start', 0, 0, ?)
                    """, arguments: [body])
            try db.execute(sql: "UPDATE sqlite_sequence SET seq = 90 WHERE name = 'events'")
        }
        try old.close()
        let s = try TestServer(dataDir: dir)
        let alice = s.client(try s.token(user: "alice"))
        let bob = s.client(try s.token(user: "bob"))
        let again = try alice.post("/api/events", json: Ev.make("batch_start", batch: "a1", id: "0123456789abcdef"))
        #expect(again.json?["deduplicated"] == true)
        #expect(again.json?["event_id"]?.intValue == 40)
        let theirs = try bob.post("/api/events", json: Ev.make("batch_start", batch: "b1", id: "0123456789abcdef"))
        #expect(theirs.json?["deduplicated"] == false)
        #expect((theirs.json?["event_id"]?.intValue ?? 0) > 90, "SSE ids must never be reused")
    }
}
