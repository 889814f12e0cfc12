import ArgusClient
import Foundation
import Shared

/// A job's epoch series as a file: the body of `GET /api/jobs/{b}/{j}/epochs?format=csv|jsonl` (`EpochExport`: every
/// key, one row per epoch). What `argus-tui --export` prints and what the job screen's export key writes to a file.
/// Blocking (libcurl): call it off the cooperative pool.
public enum Export {
    /// The file's bytes; a `ClientError` phrased for a person otherwise (the server's sentence for a 4xx).
    public static func fetch(
        url: String, token: String, batchID: String, jobID: String, format: EpochExport.Format, timeout: Double = 120
    ) throws(ClientError) -> [UInt8] {
        let r = try HTTPClient(baseURL: url, token: token, timeout: timeout).get(
            APIPath.epochs(batchID, jobID, format: format.rawValue))
        guard r.status == 200 else {
            let why = r.status == 401 ? "the server rejected the token: \(r.detail)" : r.detail
            throw ClientError(.http, status: r.status, why, detail: r.serverDetail)
        }
        return r.body
    }

    /// A file name for the export: `BATCH_JOB.csv`, with anything but letters, digits, '-', '_' and '.' made '_'.
    public static func fileName(batchID: String, jobID: String, format: EpochExport.Format) -> String {
        let safe = { (s: String) in
            String(s.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        }
        return "\(safe(batchID))_\(safe(jobID)).\(format.rawValue)"
    }

    /// Fetches and writes the file (atomically: a failed fetch leaves no half file); returns its path.
    @discardableResult
    public static func save(
        url: String, token: String, batchID: String, jobID: String, format: EpochExport.Format,
        directory: String = FileManager.default.currentDirectoryPath
    ) throws -> String {
        let bytes = try fetch(url: url, token: token, batchID: batchID, jobID: jobID, format: format)
        let path = URL(fileURLWithPath: directory).appendingPathComponent(
            fileName(batchID: batchID, jobID: jobID, format: format)
        ).path
        try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        return path
    }
}
