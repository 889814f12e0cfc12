/// Event types of the wire contract (SPEC §3, §5), shared by the server and its clients.
public enum EventTypes {
    /// What training scripts send. Everything else on a stream is made by the server (stop_requested,
    /// batch_stalled, job_idle_flagged, ...) and is not news from the run itself.
    public static let fromClients: Set<String> = [
        "batch_start", "batch_done", "batch_failed", "job_start", "job_epoch", "job_done", "job_failed",
        "resource_snapshot", "log_line", "env_snapshot",
    ]
}
