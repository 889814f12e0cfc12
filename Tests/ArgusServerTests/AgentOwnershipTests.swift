import ArgusClient
import Foundation
import Shared
import Synchronization
import TestSupport
import Testing

@testable import ArgusServer

/// Two users share one training host: each one's agent may only carry out that user's reruns and stops.
@Suite("Agents serve only their owner's batches", .ownThread)
struct AgentOwnershipTests {
    static let host = "shared-vm"
    static let source: JSON = ["project": "p", "host": .string(host)]

    /// Registers an agent for `host` with a user's token; returns (agent id, a client holding the agent token).
    static func register(_ s: TestServer, _ userToken: String) throws -> (Int64, HTTPClient) {
        let r = try s.client(userToken).post(
            "/api/agents/register", json: ["hostname": .string(host), "version": "test", "capabilities": ["rerun"]])
        guard r.status == 201, let id = r.json?["agent_id"]?.intValue, let token = r.json?["agent_token"]?.stringValue else {
            throw TestFailure("register → \(r.status): \(r.text)")
        }
        return (Int64(id), s.client(token))
    }

    static func queue(_ agent: HTTPClient, _ id: Int64) throws -> [JSON] {
        try agent.mustGet("/api/agents/\(id)/jobs").arrayValue ?? []
    }

    /// Alice's batch a1, rerun by her agent as a2 (process `pid`): the agent's id and client, and the rerun's command id.
    static func rerunRunning(_ s: TestServer, _ aliceToken: String, pid: Int) throws -> (Int64, HTTPClient, Int) {
        let alice = s.client(aliceToken)
        let command = "python train.py --seed 1"
        try alice.mustPost(Ev.make("batch_start", batch: "a1", data: ["command": .string(command)], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "a1", source: Self.source))
        let (agentID, agent) = try Self.register(s, aliceToken)
        #expect(try alice.post("/api/batches/a1/rerun", json: [:]).status == 202)
        let cmd = try #require(try Self.queue(agent, agentID).first?["id"]?.intValue)
        #expect(
            try agent.post("/api/agents/\(agentID)/jobs/\(cmd)/ack", json: ["status": "started", "pid": .number(Double(pid))]).status == 200
        )
        try alice.mustPost(Ev.make("batch_start", batch: "a2", data: ["command": .string(command)], source: Self.source))
        return (agentID, agent, cmd)
    }

    @Test("a heartbeat names the agent's home, which Rerun then names for a batch with no recorded directory; a bad one is 422")
    func heartbeatNamesHome() throws {
        let s = try TestServer()
        let alice = s.client(try s.token(user: "alice"))
        try alice.mustPost(Ev.make("batch_start", batch: "b", data: ["command": "python train.py"], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "b", source: Self.source))
        let (id, agent) = try Self.register(s, try s.token(user: "alice"))
        func runsIn() throws -> JSON? { try alice.mustGet("/api/batches/b/actions")["rerun"]?["runs_in"] }
        #expect(try runsIn() == "the agent's home directory (no working directory was recorded)")
        #expect(try agent.post("/api/agents/\(id)/heartbeat", json: ["home": "/home/alice"]).status == 204)
        #expect(try runsIn() == "/home/alice, the agent's home (no working directory was recorded)")
        // A blank recorded directory (a script that sent "") is none: not a directory named "" that cannot exist.
        try alice.mustPost(
            Ev.make("batch_start", batch: "blank", data: ["command": "python train.py", "cwd": "  "], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "blank", source: Self.source))
        #expect(
            try alice.mustGet("/api/batches/blank/actions")["rerun"]?["runs_in"]
                == "/home/alice, the agent's home (no working directory was recorded)")
        for bad: JSON in ["home/alice", "/home/\u{1B}[31malice", 42, .null, .string("/" + String(repeating: "a", count: 4096))] {
            let r = try agent.post("/api/agents/\(id)/heartbeat", json: ["home": bad])
            #expect(r.status == 422 && r.detail == "home must be an absolute path of printable text, at most 4096 bytes.", "\(bad)")
        }
        // An agent from before homes were said sends none: what it said last stands.
        #expect(try agent.post("/api/agents/\(id)/heartbeat", json: [:]).status == 204)
        #expect(try agent.request("POST", "/api/agents/\(id)/heartbeat", body: []).status == 204)
        #expect(try runsIn() == "/home/alice, the agent's home (no working directory was recorded)")
    }

    @Test("an admin may not report into another user's batch, where a batch_start would rewrite the command its owner's agent reruns")
    func adminDoesNotRewriteTheCommand() throws {
        let s = try TestServer()
        let alice = s.client(try s.token(user: "alice"))
        let root = s.client(try s.token(user: "root", admin: true))
        try alice.mustPost(
            Ev.make("batch_start", batch: "b", data: ["command": "python train.py", "cwd": "/home/alice"], source: Self.source))
        for e in [
            Ev.make("batch_start", batch: "b", data: ["command": "touch /tmp/pwned", "cwd": "/tmp"], source: Self.source),
            Ev.make("log_line", batch: "b", job: "j", data: ["line": "x", "level": "info"]),
        ] {
            let r = try root.post("/api/events", json: e)
            #expect(r.status == 403)
            #expect(r.detail == "Batch 'b' belongs to another user: an admin acts on it but does not report into it.")
        }
        let env = try root.mustGet("/api/batches/b")["env_snapshot"]
        #expect(env?["command"] == "python train.py" && env?["cwd"] == "/home/alice")
        // Its own batches as usual.
        try root.mustPost(Ev.make("batch_start", batch: "roots", data: ["command": "true"], source: Self.source))
    }

    @Test("another user's agent on the batch's host is not used: 409 naming the owner; admins' reruns go to the owner's agent")
    func rerunGoesToOwnersAgent() throws {
        let s = try TestServer()
        let aliceToken = try s.token(user: "alice")
        let bobToken = try s.token(user: "bob")
        let alice = s.client(aliceToken)
        let admin = s.client(try s.token(user: "root", admin: true))
        try alice.mustPost(Ev.make("batch_start", batch: "a1", data: ["command": "python train.py"], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "a1", source: Self.source))
        try alice.mustPost(Ev.make("batch_start", batch: "a2", data: ["command": "python train.py --seed 2"], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "a2", source: Self.source))
        let (bobAgentID, bobAgent) = try Self.register(s, bobToken)

        let refused = try alice.post("/api/batches/a1/rerun", json: [:])
        #expect(refused.status == 409)
        #expect(refused.detail == "no agent online for host \(Self.host) registered by alice, the batch's owner")
        #expect(try admin.post("/api/batches/a1/rerun", json: [:]).status == 409)
        #expect(try alice.mustGet("/api/batches/a1")["agent_online"] == false)
        #expect(try admin.mustGet("/api/batches/a1")["agent_online"] == false)
        try alice.mustPost(Ev.make("job_start", batch: "a1", job: "j", source: Self.source))
        let rerunAction = try alice.mustGet("/api/jobs/a1/j/view")["actions"]?["rerun"]
        #expect(rerunAction?["enabled"] == false)
        #expect(rerunAction?["reason"] == .string(refused.detail))
        #expect(try Self.queue(bobAgent, bobAgentID).isEmpty, "bob's agent must never see alice's command")

        let (aliceAgentID, aliceAgent) = try Self.register(s, aliceToken)
        _ = try bobAgent.request("POST", "/api/agents/\(bobAgentID)/heartbeat")  // bob's is now the most recently seen
        #expect(try alice.mustGet("/api/batches/a1")["agent_online"] == true)
        let byAlice = try alice.post("/api/batches/a1/rerun", json: [:])
        #expect(byAlice.status == 202)
        #expect(byAlice.json?["agent_id"]?.intValue == Int(aliceAgentID))
        // One rerun of a batch at a time, whoever asks: a1's is queued already.
        #expect(try admin.post("/api/batches/a1/rerun", json: [:]).status == 409)
        let byAdmin = try admin.post("/api/batches/a2/rerun", json: [:])
        #expect(byAdmin.status == 202)
        #expect(byAdmin.json?["agent_id"]?.intValue == Int(aliceAgentID))
        #expect(try Self.queue(aliceAgent, aliceAgentID).count == 2)
        #expect(try Self.queue(bobAgent, bobAgentID).isEmpty)
    }

    @Test("a waiting agent long-poll does not hold up the server's exit: it is answered at once and the server stops")
    func longPollEndsOnShutdown() throws {
        let s = try TestServer()
        let (id, agent) = try Self.register(s, try s.token(user: "alice"))
        let answered = Mutex<Int?>(nil)
        let poll = Thread { answered.withLock { $0 = (try? agent.get("/api/agents/\(id)/jobs?wait=30"))?.status } }
        poll.start()
        Thread.sleep(forTimeInterval: 0.5)
        let took = s.stop()
        #expect(took < 5, "the server took \(took) s to exit with an agent waiting (up to its 30 s wait before)")
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, answered.withLock({ $0 }) == nil { usleep(20_000) }
        #expect(answered.withLock { $0 } == 200)
    }

    @Test(
        "a rerun its agent did not pick up within 10 minutes is not run late: cancelled by the watchdog, also while the agent never polls, and said on the batch"
    )
    func staleRerunIsNotRunLate() async throws {
        let srv = try await InProcessServer { $0.watchdogIntervalS = 0.2 }
        let token = try srv.token(user: "alice")
        let alice = srv.client(token)
        let (id, agent) = try await offPool {
            try alice.mustPost(Ev.make("batch_start", batch: "a1", data: ["command": "python train.py"], source: Self.source))
            try alice.mustPost(Ev.make("batch_done", batch: "a1", source: Self.source))
            let r = try alice.post(
                "/api/agents/register", json: ["hostname": .string(Self.host), "version": "test", "capabilities": ["rerun"]])
            return (Int64(r.json!["agent_id"]!.intValue!), srv.client(r.json!["agent_token"]!.stringValue!))
        }
        let sub = SSECollector(url: "\(srv.url)/api/sse?channels=batch:a1", token: token)
        defer { sub.stop() }
        try await offPool {
            try sub.waitUntilConnected()
            #expect(try alice.post("/api/batches/a1/rerun", json: [:]).status == 202)
        }
        // The agent was killed right after; 11 minutes later it may or may not come back.
        try await srv.services.store.write { db in
            try db.execute("UPDATE agent_commands SET created_us = created_us - ?", [Int64(660_000_000)])
        }
        try await offPool {
            // Said on the batch before the agent polls again (its host may never come back).
            try sub.wait(until: { $0.contains { $0.type == ServerEventTypes.rerunFailed } })
            #expect(try Self.queue(agent, id).isEmpty, "a rerun asked for 11 minutes ago must not start now")
            let failed = try JSON.parse(sub.dataEvents.first { $0.type == ServerEventTypes.rerunFailed }!.data)
            #expect(failed["data"]?["error"] == .string(ArgusStore.staleRerunReason))
            let actions = try alice.mustGet("/api/batches/a1/actions")
            #expect(actions["rerun"]?["failed"]?["reason"] == .string(ArgusStore.staleRerunReason))
            // Asked again, it runs.
            #expect(try alice.post("/api/batches/a1/rerun", json: [:]).status == 202)
            #expect(try Self.queue(agent, id).count == 1)
        }
        await srv.stop()
    }

    @Test("Stop while the rerun's agent is offline is queued for it, carried out when it polls again")
    func stopWaitsForTheAgent() throws {
        let s = try TestServer(env: ["ARGUS_AGENT_ONLINE_S": "1"])
        let aliceToken = try s.token(user: "alice")
        let alice = s.client(aliceToken)
        let (agentID, agent, cmd) = try Self.rerunRunning(s, aliceToken, pid: 424242)
        #expect(try alice.mustGet("/api/batches/a2")["source_batch_id"] == "a1")
        // The agent goes away (killed, its host rebooting) while its run goes on.
        Thread.sleep(forTimeInterval: 1.5)
        #expect(try alice.mustGet("/api/batches/a2")["agent_online"] == false)
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        let stops = try Self.queue(agent, agentID).filter { $0["kind"] == "stop" }
        #expect(stops.count == 1 && stops.first?["pid"]?.intValue == 424242, "\(stops)")
        // Its source says why it is not rerun meanwhile, and what to do: not "stop it", which was done.
        #expect(
            try alice.mustGet("/api/batches/a1/actions")["rerun"]?["reason"]
                == .string("its rerun is stopping as batch 'a2' (command \(cmd)); wait for it to end"))

    }

    @Test(
        "argus-agent registered again: reruns go to the agent that polls, not one only registered; the old agent's Stop and its run move to the new one, which may report on them; Stop asked again is queued again"
    )
    func registeredAgain() throws {
        let s = try TestServer(env: ["ARGUS_AGENT_ONLINE_S": "1"])
        let aliceToken = try s.token(user: "alice")
        let alice = s.client(aliceToken)
        let command = "python train.py --seed 1"
        let (_, _, rerun) = try Self.rerunRunning(s, aliceToken, pid: 424242)
        // `argus-agent register` run again: a new agent; the old one is gone (never polls again).
        let (newID, new) = try Self.register(s, aliceToken)
        Thread.sleep(forTimeInterval: 1.2)
        #expect(try Self.queue(new, newID).isEmpty)
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        // Queued for the agent that started the run (it may be away for a moment); the one that polls takes it.
        Thread.sleep(forTimeInterval: 1.2)
        let stops = try Self.queue(new, newID).filter { $0["kind"] == "stop" }
        #expect(stops.count == 1 && stops.first?["pid"]?.intValue == 424242, "\(stops)")
        // Its word on the old agent's rerun is taken: the run's process exited, the batch ends stopped.
        let exited = try new.post("/api/agents/\(newID)/jobs/\(rerun)/ack", json: ["status": "exited", "exit_code": 143])
        #expect(exited.status == 200, "\(exited.text)")
        #expect(try alice.mustGet("/api/batches/a2")["status"] == "stopped")
        // Another rerun goes to the agent that polls, not to one only registered after its last poll (never run).
        try alice.mustPost(Ev.make("batch_start", batch: "b1", data: ["command": .string(command)], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "b1", source: Self.source))
        _ = try Self.queue(new, newID)
        let (ghostID, _) = try Self.register(s, aliceToken)
        let queued = try alice.post("/api/batches/b1/rerun", json: [:])
        #expect(queued.json?["agent_id"]?.intValue.map(Int64.init) == newID && newID != ghostID, "\(queued.text)")
    }

    @Test("Stop asked again while its run's agent was revoked reaches the owner's agent on that host")
    func stopAgainAfterRevoke() throws {
        let s = try TestServer()
        let aliceToken = try s.token(user: "alice")
        let alice = s.client(aliceToken)
        let (oldID, _, _) = try Self.rerunRunning(s, aliceToken, pid: 4242)
        let (rc, _, err) = try runTool(Binaries.path("argus-server"), ["agent", "revoke", String(oldID)] + s.databaseArgs)
        #expect(rc == 0, "\(err)")
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        let (newID, new) = try Self.register(s, aliceToken)
        // The first Stop had no agent to go to; asked again, it goes to the new one.
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        let stops = try Self.queue(new, newID).filter { $0["kind"] == "stop" }
        #expect(stops.count == 1 && stops.first?["pid"]?.intValue == 4242, "\(stops)")
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        #expect(try Self.queue(new, newID).filter { $0["kind"] == "stop" }.count == 1, "not queued twice")
    }

    @Test("a rerun started by alice's agent links only to alice's new batch, and Stop reaches alice's agent")
    func stopAndLinkFollowTheOwner() throws {
        let s = try TestServer()
        let aliceToken = try s.token(user: "alice")
        let bobToken = try s.token(user: "bob")
        let alice = s.client(aliceToken)
        let bob = s.client(bobToken)
        let command = "python train.py --seed 1"
        try alice.mustPost(Ev.make("batch_start", batch: "a1", data: ["command": .string(command)], source: Self.source))
        try alice.mustPost(Ev.make("batch_done", batch: "a1", source: Self.source))
        let (aliceAgentID, aliceAgent) = try Self.register(s, aliceToken)
        let (bobAgentID, bobAgent) = try Self.register(s, bobToken)
        #expect(try alice.post("/api/batches/a1/rerun", json: [:]).status == 202)
        let cmd = try #require(try Self.queue(aliceAgent, aliceAgentID).first?["id"]?.intValue)
        let ack = try aliceAgent.post("/api/agents/\(aliceAgentID)/jobs/\(cmd)/ack", json: ["status": "started", "pid": 424242])
        #expect(ack.status == 200)

        // Bob starts the same command on the same host: it is not alice's rerun.
        try bob.mustPost(Ev.make("batch_start", batch: "b1", data: ["command": .string(command)], source: Self.source))
        #expect(try bob.mustGet("/api/batches/b1")["source_batch_id"] == .null)
        #expect(try bob.post("/api/batches/b1/stop", json: [:]).status == 200)
        // Alice's rerun reports in; it links back, and stopping it queues a stop for alice's agent even though
        // bob's agent was seen more recently.
        try alice.mustPost(Ev.make("batch_start", batch: "a2", data: ["command": .string(command)], source: Self.source))
        #expect(try alice.mustGet("/api/batches/a2")["source_batch_id"] == "a1")
        _ = try bobAgent.request("POST", "/api/agents/\(bobAgentID)/heartbeat")
        #expect(try alice.post("/api/batches/a2/stop", json: [:]).status == 200)
        let stops = try Self.queue(aliceAgent, aliceAgentID).filter { $0["kind"] == "stop" }
        #expect(stops.count == 1)
        #expect(stops.first?["pid"]?.intValue == 424242)
        #expect(try Self.queue(bobAgent, bobAgentID).isEmpty, "bob's agent must never be told to kill alice's run")
    }
}
