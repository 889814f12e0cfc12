/// Event types of the wire contract (openapi.json), shared by the server and its clients.
public enum EventTypes {
    /// What training scripts send. Everything else on a stream is made by the server (stop_requested,
    /// batch_stalled, job_idle_flagged, ...) and is not news from the run itself.
    public static let fromClients: Set<String> = [
        "batch_start", "batch_done", "batch_failed", "job_start", "job_epoch", "job_done", "job_failed",
        "resource_snapshot", "log_line", "env_snapshot",
    ]
}

/// The SSE frame that carries the server's fold of a batch: `{"batch": …, "jobs": [JobOut…]}`. It follows every
/// commit that changed the batch, and opens every stream (after the replay) with the current state. Clients
/// replace their state with it; none derives run status, loss, elapsed or GPU figures from raw events.
public enum SummaryFrame {
    public static let eventType = "summary"
}

/// Sentences the server answers with that a client also recognises.
public enum ServerSentences {
    /// The 401/404 for a share link that was revoked, expired or never existed: said as it is, since it names the link.
    public static let deadShareLink = "This share link was revoked, has expired, or never existed."
    /// What a client adds when something answered at the server's address without an Argus reply (a plain web
    /// server, a proxy's error page): argus-tui's `HTTPClient.failure` and `argus-server simulate`.
    public static let notAnArgusServer = "is it an argus-server (check the URL)?"
    /// Why an event for another user's batch is refused ("Batch 'b' belongs to another user."): argus-agent's spill
    /// delivery stops on it (a token other than the run's) instead of setting the event aside for good.
    public static let anotherUsersBatch = "belongs to another user"
}
