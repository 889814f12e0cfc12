import ArgusClient
import Foundation
import Shared
import TestSupport
import Testing

/// The SDK's spill files that argus-reporter 0.1.3 cannot replay itself, delivered by `argus-agent`.
@Suite("argus-agent delivers the SDK's spill files", .ownThread)
struct SpillReplayTests {
    /// A run through an outage, with the real SDK: every event spills to `$HOME/.argus-reporter`. 600 epochs (more than
    /// a batch holds) and a NaN loss at epoch 7, the two things the SDK's own replay is refused for.
    static let outage = """
        import logging, math
        from argus import Reporter
        logging.basicConfig(level=logging.ERROR)
        with Reporter("outage", monitor_url="http://127.0.0.1:9", heartbeat=False, stop_polling=False,
                      resource_snapshot=False) as r:
            with r.job("j1") as j:
                for ep in range(600):
                    j.epoch(ep, train_loss=float("nan") if ep == 7 else 1.0 / (ep + 1))
        print(r.batch_id)
        """

    /// The spill files in `dir` (the SDK's and those claimed by a delivery).
    static func spillFiles(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("spill-") }.sorted()
    }

    /// Sets a file's modification time `seconds` back, as if its run had stopped writing to it then.
    static func age(_ path: String, _ seconds: Double) throws {
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-seconds)], ofItemAtPath: path)
    }

    @Test("a spill file of 600 events with a NaN, which the SDK's own replay is refused for, is delivered whole by replay-spill")
    func sdkSpillDelivered() throws {
        let python = try PythonSDK.python()
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let home = s.dataDir.appendingPathComponent("home").path
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        let (rc, out, err) = try runTool(python, ["-c", Self.outage], env: ["HOME": home, "ARGUS_TOKEN": token])
        #expect(rc == 0, "python failed: \(err)")
        let batch = try #require(out.split(separator: "\n").last.map(String.init))
        let dir = home + "/.argus-reporter"
        let spilled = Self.spillFiles(dir)
        #expect(spilled.count == 1, "\(spilled)")

        // The SDK's own replay, at the next run's start, fails (`requests` will not encode the NaN, and the server
        // would refuse 604 events in one batch): the file stays, and nothing arrives.
        let nextRun = """
            import logging
            from argus import Reporter
            logging.basicConfig(level=logging.WARNING)
            with Reporter("next", heartbeat=False, stop_polling=False, resource_snapshot=False) as r:
                pass
            """
        let (rc2, out2, err2) = try runTool(python, ["-c", nextRun], env: ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": token])
        #expect(rc2 == 0, "\(out2) \(err2)")
        #expect(Self.spillFiles(dir) == spilled)
        let c = s.client(token)
        #expect(try c.get(APIPath.batch(batch)).status == 404)

        // A file just written to is left for later by default.
        let env = ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        let agent = Binaries.path("argus-agent")
        let (rc3, out3, _) = try runTool(agent, ["replay-spill"], env: env)
        #expect(
            rc3 == 0 && out3.contains("\(spilled[0]): left for later: written to") && out3.contains("its run may still be writing it"),
            "\(out3)")

        try Self.age(dir + "/" + spilled[0], 120)
        let (rc4, out4, err4) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc4 == 0, "\(err4)")
        #expect(out4.hasPrefix("\(spilled[0]): ") && out4.contains(" events delivered"), "\(out4)")
        #expect(Self.spillFiles(dir).isEmpty, "a delivered file is removed")

        let epochs = try #require(try c.mustGet(APIPath.job(batch, "j1") + "/epochs").arrayValue)
        #expect(epochs.count == 600)
        #expect(epochs.map { $0["epoch"]?.intValue } == (0..<600).map { $0 })
        #expect(epochs[7]["train_loss"] == .null && epochs[7]["nonfinite"]?.arrayValue?.contains("train_loss") == true, "\(epochs[7])")
        #expect(try c.mustGet(APIPath.batch(batch))["status"] == "done")

        // Run again: nothing left, nothing sent twice.
        let (rc5, out5, _) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc5 == 0 && out5 == "nothing to deliver: no spill files in \(dir).\n", "\(out5)")
    }

    @Test(
        "lines the server refuses go to rejected-*.jsonl with its reason; with the server away the file stays whole under its name; a running agent delivers on its own"
    )
    func refusedAwayAndAgent() async throws {
        let s = try TestServer()
        let token = try s.token(user: "alice")
        let home = s.dataDir.appendingPathComponent("home").path
        let dir = home + "/.argus-reporter"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func line(_ e: JSON) -> String { e.serialized() }
        let good = [
            line(Ev.make("batch_start", batch: "sp")), line(Ev.epoch("sp", "j", 0)),
            line(Ev.epoch("sp", "j", 1, train: 0.5)).replacingOccurrences(of: #""train_loss":0.5"#, with: #""train_loss":NaN"#),
        ]
        let bad = ["not json at all", line(Ev.make("no_such_event", batch: "sp"))]
        let name = "spill-4242-1700000000.jsonl"
        let file = dir + "/" + name
        try (good[0...1] + bad + good[2...]).map { $0 + "\n" }.joined().write(toFile: file, atomically: false, encoding: .utf8)
        try Self.age(file, 120)
        let agent = Binaries.path("argus-agent")

        // The server away: exit 1 with one sentence, and every line back under the file's own name.
        let away = ["HOME": home, "ARGUS_URL": "http://127.0.0.1:9", "ARGUS_TOKEN": token]
        let (rc, out, err) = try runTool(agent, ["replay-spill"], env: away)
        #expect(rc == 1 && out.isEmpty, "\(out)")
        #expect(
            err.hasPrefix(
                "argus-agent: \(name): 1 set aside in rejected-\(name), since the server cannot take it (a line is not a JSON object); 4 lines left for later: Cannot reach http://127.0.0.1:9"
            ), "\(err)")
        #expect(Self.spillFiles(dir) == [name])
        #expect(try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").count == 4)

        // The server there: three delivered (the NaN too), the event it refuses set aside with its reason.
        let env = ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": token]
        try Self.age(file, 120)
        let (rc2, out2, err2) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc2 == 0, "\(err2)")
        #expect(
            out2
                == "\(name): 3 events delivered; 1 set aside in rejected-\(name), since the server cannot take it (Unknown event_type 'no_such_event')\n",
            "\(out2)")
        #expect(Self.spillFiles(dir).isEmpty)
        let rejected = try String(contentsOfFile: dir + "/rejected-" + name, encoding: .utf8)
        #expect(rejected == bad.map { $0 + "\n" }.joined())
        let c = s.client(token)
        #expect(try c.mustGet(APIPath.job("sp", "j") + "/epochs").arrayValue?.count == 2)

        // A file the SDK began to replay and never finished (its run died while reading it): the SDK never looks at
        // a `.draining` file again. Left while it may still be read, then delivered.
        let draining = "spill-4244-1700000002.jsonl"
        try (line(Ev.epoch("sp", "j", 3)) + "\n").write(toFile: dir + "/" + draining + ".draining", atomically: false, encoding: .utf8)
        let (rc3, out3, _) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc3 == 0 && out3 == "\(draining): left for later: a run began to replay it 0 s ago\n", "\(out3)")
        let (rc4, out4, _) = try runTool(agent, ["replay-spill", "--min-age", "0"], env: env)
        #expect(rc4 == 0 && out4 == "\(draining): 1 event delivered\n", "\(out4)")
        #expect(Self.spillFiles(dir).isEmpty)

        // A running agent delivers what spills later, on its own (at its start, then every minute).
        let more = dir + "/spill-4243-1700000001.jsonl"
        try (line(Ev.epoch("sp", "j", 2)) + "\n").write(toFile: more, atomically: false, encoding: .utf8)
        try Self.age(more, 120)
        let (work, running) = try AgentTests.runningAgent(s, token, env: env)
        defer { AgentTests.finish(running, work) }
        let logFile = work.appendingPathComponent("agent.json.log").path
        // Its log line comes once the file is gone (after the delivery's last step).
        try await eventually("the running agent delivers the spill file and says so", timeout: 15) {
            ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").contains(
                "argus-agent: spill: spill-4243-1700000001.jsonl: 1 event delivered")
        }
        #expect(try c.mustGet(APIPath.job("sp", "j") + "/epochs").arrayValue?.count == 4)
        #expect(Self.spillFiles(dir).isEmpty)
    }

    @Test(
        "a line the server cannot read as part of a batch is found and set aside; another user's token stops and keeps the file; lines put back keep the file's age; a directory of that name is reported"
    )
    func oddFilesAndTokens() throws {
        let s = try TestServer()
        let alice = try s.token(user: "alice")
        let bob = try s.token(user: "bob")
        let home = s.dataDir.appendingPathComponent("home").path
        let dir = home + "/.argus-reporter"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let agent = Binaries.path("argus-agent")
        func line(_ e: JSON) -> String { e.serialized() }
        try s.client(alice).mustPost(Ev.make("batch_start", batch: "owned"))

        // A BOM before one line: the server refuses the batch as a whole; the one line is found and set aside.
        let bom = "spill-1-1.jsonl"
        let lines = [line(Ev.epoch("owned", "j", 0)), "\u{FEFF}" + line(Ev.epoch("owned", "j", 1)), line(Ev.epoch("owned", "j", 2))]
        try lines.map { $0 + "\n" }.joined().write(toFile: dir + "/" + bom, atomically: false, encoding: .utf8)
        try Self.age(dir + "/" + bom, 120)
        let env = ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": alice]
        let (rc, out, err) = try runTool(agent, ["replay-spill"], env: env)
        #expect(
            rc == 0
                && out.hasPrefix(
                    "\(bom): 2 events delivered; 1 set aside in rejected-\(bom), since the server cannot take it (The body is not valid JSON"
                ), "\(out)\(err)")

        // Bob's token for alice's run: nothing is set aside, the file stays, and the sentence says what to do.
        let owned = "spill-2-2.jsonl"
        try (line(Ev.epoch("owned", "j", 3)) + "\n").write(toFile: dir + "/" + owned, atomically: false, encoding: .utf8)
        try Self.age(dir + "/" + owned, 120)
        let (rc2, _, err2) = try runTool(agent, ["replay-spill"], env: ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": bob])
        #expect(
            rc2 == 1 && err2.contains("Batch 'owned' belongs to another user: deliver it with the token of the user who ran it"), "\(err2)")
        #expect(Self.spillFiles(dir) == [owned] && !FileManager.default.fileExists(atPath: dir + "/rejected-" + owned))
        // Put back with its age: the next pass takes it at once, with the right token.
        let (rc3, out3, _) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc3 == 0 && out3 == "\(owned): 1 event delivered\n", "\(out3)")

        // Stopped after a first request went through: what is left (not what went) is put back, blank lines dropped,
        // the last line's missing newline mended, with the file's age.
        let half = "spill-4-4.jsonl"
        let bobs = (0..<500).map { line(Ev.epoch("bobs", "j", $0)) }
        let alices = line(Ev.epoch("owned", "j", 4))
        try ((bobs + ["", "  ", alices]).joined(separator: "\n"))
            .write(toFile: dir + "/" + half, atomically: false, encoding: .utf8)
        try Self.age(dir + "/" + half, 120)
        let (rc5, out5, err5) = try runTool(agent, ["replay-spill"], env: ["HOME": home, "ARGUS_URL": s.url, "ARGUS_TOKEN": bob])
        #expect(
            rc5 == 1 && out5.isEmpty
                && err5.contains(
                    "\(half): 500 events delivered; 1 line left for later: Batch 'owned' belongs to another user"),
            "\(out5)\(err5)")
        #expect(Self.spillFiles(dir) == [half])
        let left = try String(contentsOfFile: dir + "/" + half, encoding: .utf8)
        #expect(left == alices + "\n", "\(left)")
        let putBack = try FileManager.default.attributesOfItem(atPath: dir + "/" + half)[.modificationDate] as? Date
        #expect(putBack.map { Date().timeIntervalSince($0) > 100 } == true, "\(String(describing: putBack))")
        let (rc6, out6, _) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc6 == 0 && out6 == "\(half): 1 event delivered\n", "\(out6)")

        // Something that is no file, under a spill file's name: said, left, exit 1.
        try FileManager.default.createDirectory(atPath: dir + "/spill-3-3.jsonl", withIntermediateDirectories: true)
        let (rc4, out4, err4) = try runTool(agent, ["replay-spill"], env: env)
        #expect(rc4 == 1 && out4 == "spill-3-3.jsonl: left as it is: it is not a regular file (a link or a directory)\n", "\(out4)")
        #expect(err4 == "argus-agent: 1 file was left as it is (above).\n", "\(err4)")
        #expect(try s.client(alice).mustGet(APIPath.job("owned", "j") + "/epochs").arrayValue?.count == 4)
    }
}
