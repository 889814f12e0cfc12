import ArgumentParser
import Foundation
import Shared

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Run a synthetic training batch against a server, over its real HTTP ingest API.",
        discussion: """
            Sends what a training script using argus-reporter would: batch_start (command, cwd, git SHA), jobs with \
            decaying train/val loss, an lr schedule and extra metrics, log lines, and multi-GPU resource \
            snapshots. It polls stop-requested and stops cleanly when asked.
            """)

    @Option(help: "Server URL (env ARGUS_URL).") var url: String?
    @Option(help: "Reporter token (env ARGUS_TOKEN).") var token: String?
    @Option(parsing: .unconditional, help: "Number of jobs, run one after another.") var jobs: Int = 2
    @Option(parsing: .unconditional, help: "Epochs per job.") var epochs: Int = 30
    @Option(parsing: .unconditional, help: "Time scale: 1 is about two seconds per epoch; 10 is ten times faster.") var speed: Double = 1
    @Flag(help: "Make the last job die with a CUDA out-of-memory error.") var fail = false
    @Flag(
        help:
            "Insert a stretch of near-zero GPU utilisation into the first job (about a fifth of its epochs, at three times their pace): the server flags it only when ARGUS_IDLE_JOB_THRESHOLD_MIN is shorter, as in scripts/demo.sh."
    ) var idle = false
    @Option(name: .customLong("batch-id"), help: "Use this batch id instead of a generated one.")
    var batchID: String?
    @Option(help: "Random seed, for a reproducible run.") var seed: UInt64?

    func validate() throws {
        guard jobs >= 1, jobs <= 1000 else { throw ValidationError("--jobs must be from 1 to 1000.") }
        guard epochs >= 1, epochs <= 1_000_000 else {
            throw ValidationError("--epochs must be from 1 to 1000000.")
        }
        guard speed > 0, speed.isFinite else {
            throw ValidationError("--speed must be a positive number.")
        }
    }

    func run() throws {
        let (url, token): (String, String)
        do throws(ServerAddress.Problem) {
            (url, token) = try ServerAddress.resolve(url: self.url, token: self.token, env: ProcessInfo.processInfo.environment)
        } catch { throw ArgusServer.fail(error.sentence) }
        guard let client = SimulatorClient(baseURL: url, token: token) else {
            throw ArgusServer.fail("the server URL must be http(s)://host[:port][/path], got '\(url)'.")
        }
        var sim = Simulator(
            client: client, jobs: jobs, epochs: epochs, speed: speed,
            failLast: fail, idle: idle,
            batchID: batchID ?? "sim-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))",
            seed: seed ?? UInt64.random(in: 1...UInt64.max))
        do {
            try sim.run()
        } catch {
            throw ArgusServer.fail(error.description)
        }
    }
}

/// A deterministic generator (SplitMix64), so `--seed` reproduces a run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct Simulator {
    /// How long a send keeps trying through network errors, 5xx and 429 (a server restart) before giving up.
    static let patienceS = 60.0
    let client: SimulatorClient
    let jobs: Int
    let epochs: Int
    let speed: Double
    let failLast: Bool
    let idle: Bool
    let batchID: String
    var rng: SplitMix
    let project = "vision-sweep"
    let host = ProcessInfo.processInfo.hostName
    let user = ProcessInfo.processInfo.environment["USER"] ?? "researcher"
    let gitSHA: String
    var lastStopPoll = Date.distantPast
    var lastSnapshot = Date.distantPast
    var stopped = false
    var gpuBusy = true
    let gpuCount = 4

    init(
        client: SimulatorClient, jobs: Int, epochs: Int, speed: Double, failLast: Bool, idle: Bool,
        batchID: String, seed: UInt64
    ) {
        self.client = client
        self.jobs = jobs
        self.epochs = epochs
        self.speed = speed
        self.failLast = failLast
        self.idle = idle
        self.batchID = batchID
        var r = SplitMix(state: seed)
        self.gitSHA = (0..<40).map { _ in String(Int.random(in: 0..<16, using: &r), radix: 16) }
            .joined()
        self.rng = r
    }

    var command: String {
        "python train.py --config configs/resnet50.yaml --epochs \(epochs) --lr 3e-4 --batch-size 256"
    }

    mutating func noise(_ scale: Double) -> Double { Double.random(in: -scale...scale, using: &rng) }

    func sleep(_ seconds: Double) { Thread.sleep(forTimeInterval: seconds / speed) }

    /// Posts one event the way the SDK does: retry on 5xx/network, give up loudly on 4xx.
    func send(_ type: String, job: String? = nil, data: JSON) throws(SimulateError) {
        let event: JSON = [
            "event_id": .string(UUID().uuidString.lowercased()), "schema_version": "1.1",
            "event_type": .string(type),
            "timestamp": .string(Timestamp.now().iso), "batch_id": .string(batchID), "job_id": JSON(job),
            "source": [
                "project": .string(project), "host": .string(host), "user": .string(user),
                "commit": .string(String(gitSHA.prefix(7))),
            ],
            "data": data,
        ]
        // Like the SDK, it outlives a server restart: network errors, 5xx and 429 are retried for up to a minute.
        var delay = 0.1
        let deadline = Date().addingTimeInterval(Simulator.patienceS)
        var warned = false
        while true {
            let r: SimulatorReply
            do {
                r = try client.post("/api/events", json: event)
            } catch {
                if error.permanent || Date() >= deadline { throw error }
                if !warned {
                    FileHandle.standardError.write(
                        Data(
                            "simulate: \(error.description.trimmingCharacters(in: CharacterSet(charactersIn: "."))); retrying for up to a minute\n"
                                .utf8))
                    warned = true
                }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
                continue
            }
            // Something else at that address (a web server answering 200 to anything) would take every event and
            // store none: an Argus reply names the event it stored.
            if (200..<300).contains(r.status), r.json?["event_id"] != nil { return }
            if (200..<300).contains(r.status) || r.status == 404 || r.status == 405 || r.status == 501 {
                throw SimulateError(
                    description:
                        "\(client.baseURL) answered HTTP \(r.status) to POST /api/events without an Argus reply: \(ServerSentences.notAnArgusServer)",
                    status: r.status, permanent: true)
            }
            if r.status == 403, r.detail.contains(ServerSentences.anotherUsersBatch) {
                throw SimulateError(
                    description: "\(r.detail.hasSuffix(".") ? String(r.detail.dropLast()) : r.detail): give another --batch-id.",
                    status: r.status, permanent: true)
            }
            if r.status == 401 || r.status == 403 {
                throw SimulateError(description: "the server refused the token: \(r.detail)", status: r.status)
            }
            if r.status < 500 && r.status != 429 {
                throw SimulateError(description: "the server rejected a \(type) event: \(r.detail)", status: r.status)
            }
            if Date() >= deadline {
                throw SimulateError(description: "the server kept failing: \(r.detail)", status: r.status)
            }
            let retryAfter = r.headers.first(name: "Retry-After").flatMap(Double.init)
            Thread.sleep(forTimeInterval: min(retryAfter ?? delay, 30))
            delay = min(delay * 2, 2)
        }
    }

    mutating func pollStop() {
        guard Date().timeIntervalSince(lastStopPoll) * speed >= 2 else { return }
        lastStopPoll = Date()
        if let r = try? client.get(APIPath.stopRequested(batchID)), (200..<300).contains(r.status),
            r.json?["stop_requested"]?.boolValue == true
        {
            stopped = true
        }
    }

    mutating func snapshot(busy: Bool) throws(SimulateError) {
        guard Date().timeIntervalSince(lastSnapshot) * speed >= 3 else { return }
        lastSnapshot = Date()
        var gpus: [JSON] = []
        for i in 0..<gpuCount {
            let util = busy ? 88 + noise(10) : 1 + abs(noise(1.5))
            let mem = busy ? 61_000 + noise(4000) : 60_500 + noise(200)
            gpus.append(
                [
                    "index": JSON(i), "util_pct": JSON((util * 10).rounded() / 10),
                    "mem_mb": JSON(mem.rounded()), "mem_total_mb": 81_559,
                    "temp_c": JSON((busy ? 67 : 45) + Int(noise(4))),
                ])
        }
        try send(
            "resource_snapshot",
            data: [
                "gpus": .array(gpus), "gpu_util_pct": gpus[0]["util_pct"]!,
                "gpu_mem_mb": gpus[0]["mem_mb"]!, "gpu_mem_total_mb": 81_559,
                "cpu_util_pct": JSON(busy ? 35 + noise(10) : 4 + abs(noise(2))),
                "ram_mb": JSON(48_000 + Int(noise(2000))), "ram_total_mb": 257_000,
                "disk_free_mb": 812_000, "host": .string(host),
                "pid": JSON(Int(ProcessInfo.processInfo.processIdentifier)),
            ])
    }

    mutating func run() throws(SimulateError) {
        say("simulating batch \(batchID): \(jobs) job(s) × \(epochs) epochs → \(client.baseURL)")
        try send(
            "batch_start",
            data: [
                "experiment_type": "classification", "n_total_jobs": JSON(jobs),
                "command": .string(command), "cwd": "/home/\(user)/projects/vision",
            ])
        try send("log_line", job: batchID, data: ["line": "heartbeat", "level": "debug"])
        var nDone = 0
        var nFailed = 0
        let started = Date()
        for k in 0..<jobs {
            if stopped { break }
            let jobID = "resnet50-lr3e-4-seed\(k)"
            let ok = try runJob(jobID, index: k, dies: failLast && k == jobs - 1)
            if ok { nDone += 1 } else { nFailed += 1 }
        }
        let elapsed = Date().timeIntervalSince(started)
        try send(
            "batch_done",
            data: ["n_done": JSON(nDone), "n_failed": JSON(nFailed), "total_elapsed_s": JSON(elapsed)])
        say(
            stopped
                ? "batch \(batchID) stopped on request"
                : "batch \(batchID) finished: \(nDone) done, \(nFailed) failed")
    }

    mutating func runJob(_ jobID: String, index: Int, dies: Bool) throws(SimulateError) -> Bool {
        let t0 = Date()
        try send(
            "job_start", job: jobID,
            data: [
                "model": "resnet50", "dataset": "imagenet-1k", "total_epochs": JSON(epochs),
            ])
        try send(
            "log_line", job: jobID,
            data: ["line": "loading imagenet-1k (1,281,167 train / 50,000 val images)", "level": "info"])
        let idleFrom = idle && index == 0 ? max(1, epochs / 3) : -1
        let idleTo = idleFrom + max(2, epochs / 5)
        let dieAt = dies ? max(1, epochs * 2 / 3) : -1
        let k = 3.0 / Double(max(epochs, 1))
        var best = Double.infinity
        var trained = 0
        for epoch in 0..<epochs {
            pollStop()
            if stopped {
                try send(
                    "log_line", job: jobID,
                    data: [
                        "line": .string(
                            "stop requested from the dashboard; "
                                + (epoch == 0 ? "stopping before the first epoch" : "stopping after epoch \(epoch - 1)")),
                        "level": "warning",
                    ])
                break
            }
            let idleNow = idleFrom >= 0 && epoch >= idleFrom && epoch < idleTo
            if idleNow, epoch == idleFrom {
                try send(
                    "log_line", job: jobID,
                    data: ["line": "dataloader worker 3 timed out; waiting for NFS", "level": "warning"])
            }
            // Spend the epoch's wall time, sending snapshots as a real reporter thread would.
            let slices = 4
            for _ in 0..<slices {
                sleep(2.0 / Double(slices) * (idleNow ? 3 : 1))
                try snapshot(busy: !idleNow)
            }
            if epoch == dieAt {
                let reason =
                    "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.35 GiB total capacity; 77.12 GiB already allocated)"
                try send("log_line", job: jobID, data: ["line": .string(reason), "level": "error"])
                try send(
                    "job_failed", job: jobID,
                    data: [
                        "status": "FAILED", "reason": .string(reason),
                        "elapsed_s": JSON(Date().timeIntervalSince(t0)),
                    ])
                return false
            }
            let e = Double(epoch)
            let train = 2.3 * exp(-k * e) + 0.15 + noise(0.04) * exp(-k * e / 2)
            let val = train * 1.08 + 0.03 + noise(0.05)
            let lr = 3e-4 * 0.5 * (1 + cos(Double.pi * e / Double(epochs)))
            let acc = min(0.99, 0.95 - 0.85 * exp(-k * e * 1.2) + noise(0.01))
            try send(
                "job_epoch", job: jobID,
                data: [
                    "epoch": JSON(epoch), "train_loss": JSON(round4(train)), "val_loss": JSON(round4(val)),
                    "lr": JSON(lr),
                    "batch_time_ms": JSON(round4(210 + noise(15))), "val_acc": JSON(round4(acc)),
                    "grad_norm": JSON(round4(1.2 * exp(-k * e) + 0.3 + abs(noise(0.2)))),
                ])
            if val < best {
                best = val
                try send(
                    "log_line", job: jobID,
                    data: [
                        "line":
                            "epoch \(epoch): val_loss improved to \(round4(val)); saved checkpoints/best.pt",
                        "level": "info",
                    ])
            } else if epoch % 5 == 4 {
                try send(
                    "log_line", job: jobID,
                    data: [
                        "line":
                            "epoch \(epoch): val_loss \(round4(val)) did not improve (best \(round4(best)))",
                        "level": "info",
                    ])
            }
            if epoch % 7 == 6 {
                try send(
                    "log_line", job: jobID,
                    data: ["line": "grad scaler: skipped step (inf/nan in gradients)", "level": "debug"])
            }
            trained = epoch + 1
        }
        try send(
            "job_done", job: jobID,
            data: [
                "status": "DONE",
                "metrics": ["best_val_loss": JSON(round4(best)), "top1": JSON(round4(0.76 + noise(0.02)))],
                // As the SDK does: the epochs it saw, fewer than announced when a stop cut the loop short.
                "elapsed_s": JSON(Date().timeIntervalSince(t0)), "train_epochs": JSON(trained),
            ])
        return true
    }

    func round4(_ x: Double) -> Double { (x * 10_000).rounded() / 10_000 }
}
