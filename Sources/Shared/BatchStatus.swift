/// The statuses of a batch or a job, as the API spells them: one home for each name. The server decides them
/// (`BatchRecord`, `JobRecord`, with the rules below); clients show them.
public enum RunStatus {
    public static let running = "running"
    public static let stopping = "stopping"
    public static let stalled = "stalled"
    public static let done = "done"
    public static let failed = "failed"
    public static let stopped = "stopped"
}

/// How a batch ends, shared by the server (which decides and stores it) and its clients (which show the
/// server's answer and apply the same rule to the events they stream between loads).
public enum BatchStatus {
    public static let terminal: Set<String> = [RunStatus.done, RunStatus.failed, RunStatus.stopped]
    /// The statuses of a batch that has not ended (every other one is `terminal`).
    public static let going: Set<String> = [RunStatus.running, RunStatus.stopping, RunStatus.stalled]

    /// The status a batch_done or batch_failed leaves. A run that was asked to stop ends `stopped`. Otherwise
    /// a batch with any failed job is `failed` even though its script finished its loop (batch_done with
    /// n_failed > 0): calling a batch whose only job died "done" hid the failure in the picker.
    public static func ended(by eventType: String, stopRequested: Bool, failedJobs: Int) -> String {
        if stopRequested { return RunStatus.stopped }
        return eventType == "batch_done" && failedJobs == 0 ? RunStatus.done : RunStatus.failed
    }

    /// The status a job_done leaves. The SDK ends a job whose loop broke out on a stop request with job_done, as if
    /// it had finished: in a run asked to stop, a job that had not trained every epoch it announced (job_start's
    /// total_epochs, against job_done's train_epochs or else the epochs it reported) ends `stopped`, as the run's
    /// still-running jobs do when it ends. With no total announced, a stop request makes it `stopped` too.
    public static func jobDone(stopRequested: Bool, trainedEpochs: Int?, totalEpochs: Int?) -> String {
        guard stopRequested else { return RunStatus.done }
        if let totalEpochs, let trainedEpochs, trainedEpochs >= totalEpochs { return RunStatus.done }
        return RunStatus.stopped
    }

    /// Statuses in which the owner may mark a run failed: it is no longer heard from (stalled), or it was asked
    /// to stop and may never answer (its process may be gone). A running batch is still reporting.
    public static let markableFailed: Set<String> = [RunStatus.stalled, RunStatus.stopping]

    /// A stopping run heard from within this many seconds is still running: marked failed, it would let a Rerun
    /// start a second copy beside it. (The SDK sends a resource snapshot every 30 s while its process lives.)
    public static let stoppingQuietS: Int64 = 60

    /// Why Rerun waits while a batch has not ended. A client that sees the batch end lifts exactly this refusal
    /// (the agent is checked when Rerun is asked for, and a 409 then says which one is missing).
    public static func rerunWait(_ status: String) -> String { "batch is still \(status)" }
    public static func isRerunWait(_ reason: String?) -> Bool { reason?.hasPrefix("batch is still ") == true }

    /// Why a batch in `status`, last heard from `silentS` seconds ago, cannot be marked failed (nil: it can).
    public static func markFailedRefusal(_ status: String, silentS: Int64) -> String? {
        if terminal.contains(status) { return "batch already \(status)" }
        guard markableFailed.contains(status) else { return "the run is still reporting" }
        if status == RunStatus.stopping, silentS < stoppingQuietS {
            return
                "the run is still reporting (last heard \(max(silentS, 0)) s ago): it ends stopped when it stops, or can be marked failed after \(stoppingQuietS) s of silence"
        }
        return nil
    }
}

/// Where a rerun runs: its batch's recorded working directory, or, when none was recorded (argus-reporter 0.1.3's
/// `Reporter` sends none, and drops an `env_snapshot`), the home directory of the agent's user, which the prompts say
/// before anyone confirms (`actions.rerun.runs_in`).
public enum RerunDirectory {
    public static let unrecorded = "the agent's home directory (no working directory was recorded)"

    /// What the Rerun prompts say after "runs in": the recorded directory, else the agent's home, named by its path
    /// when the agent has said it (`argus-agent run` does with each heartbeat).
    public static func phrase(_ cwd: String?, home: String? = nil) -> String {
        cwd ?? home.map { "\($0), the agent's home (no working directory was recorded)" } ?? unrecorded
    }
}

/// Event types the server makes (streamed and stored like the runs' own).
public enum ServerEventTypes {
    /// The stall detector: a stopping batch silent for the stall timeout ends `stopped`, unconfirmed.
    public static let batchStopped = "batch_stopped"
    /// `POST /api/batches/{b}/mark-failed`: the owner ends a dead run, and its running jobs, as failed.
    public static let batchMarkedFailed = "batch_marked_failed"
    /// The agent could not start a queued rerun (its cwd is gone, say): streamed on the batch that was rerun.
    public static let rerunFailed = "rerun_failed"
    /// A rerun's own batch_start arrived and was linked to the command: streamed on the batch that was rerun.
    public static let rerunStarted = "rerun_started"
    /// `POST /api/batches/{b}/stop`: the owner asked the run to stop (the SDK polls for it).
    public static let stopRequested = "stop_requested"
    /// The stall detector: a running batch silent for the stall timeout.
    public static let batchStalled = "batch_stalled"
    /// The idle-GPU guardrail: every GPU of a running job under the threshold for the window, and back above it.
    public static let jobIdleFlagged = "job_idle_flagged"
    public static let jobIdleRecovered = "job_idle_recovered"
}
