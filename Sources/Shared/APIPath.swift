/// Every API path our clients build from an id. Ids are free text chosen by training scripts ("my run",
/// "αβ", "fold#2"), so each one is percent-encoded here, and nowhere else, before it goes into a URL.
public enum APIPath {
    static func seg(_ id: String) -> String { IDEncoding.encode(id) }

    public static func batch(_ b: String) -> String { "/api/batches/\(seg(b))" }
    public static func jobs(_ b: String) -> String { batch(b) + "/jobs" }
    public static func stop(_ b: String) -> String { batch(b) + "/stop" }
    public static func stopRequested(_ b: String) -> String { batch(b) + "/stop-requested" }
    public static func rerun(_ b: String) -> String { batch(b) + "/rerun" }
    public static func markFailed(_ b: String) -> String { batch(b) + "/mark-failed" }
    public static func shares(_ b: String) -> String { batch(b) + "/shares" }
    public static func actions(_ b: String) -> String { batch(b) + "/actions" }
    public static func job(_ b: String, _ j: String) -> String { "/api/jobs/\(seg(b))/\(seg(j))" }
    /// The job's view; with `epochColumns`, its epochs as one array per key (`EpochTable`).
    public static func view(_ b: String, _ j: String, epochColumns: Bool = false) -> String {
        job(b, j) + "/view" + (epochColumns ? "?epochs=columns" : "")
    }
    public static func share(token: String) -> String { "/share/\(seg(token))" }
    /// The job's epochs: the JSON array, or `format` csv, jsonl or columns (`EpochExport`).
    public static func epochs(_ b: String, _ j: String, format: String? = nil) -> String {
        job(b, j) + "/epochs" + (format.map { "?format=\(IDEncoding.encode($0))" } ?? "")
    }

    /// One page of a job's log lines, newest first: those before `beforeID`, only lines matching `query`
    /// (`LogFilter`) when one is given.
    public static func jobLogLines(_ b: String, _ j: String, query: String? = nil, beforeID: Int64? = nil, limit: Int)
        -> String
    {
        var params = ["limit=\(limit)"]
        if let beforeID { params.append("before_id=\(beforeID)") }
        if let query, !query.isEmpty { params.append("q=\(IDEncoding.encode(query))") }
        return job(b, j) + "/log-lines?" + params.joined(separator: "&")
    }

    /// A batch's resource snapshots, newest first; with `jobID`, the job's own and the batch's taken while it ran.
    public static func resources(_ b: String, jobID: String? = nil, limit: Int) -> String {
        batch(b) + "/resources?" + (jobID.map { "job_id=\(IDEncoding.encode($0))&" } ?? "") + "limit=\(limit)"
    }

    /// The SSE stream of these channels (their names encode the ids; the list is encoded once more as a query value).
    public static func sse(_ channels: [Channel]) -> String { "/api/sse?channels=\(IDEncoding.encode(Channel.list(channels)))" }
}
