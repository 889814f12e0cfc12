import ArgusClient
import FoundationEssentials
import Glibc
import Shared

/// A job's epoch series as a file: the body of `GET /api/jobs/{b}/{j}/epochs?format=csv|jsonl` (`EpochExport`: every
/// key, one row per epoch). What `argus-tui --export` prints and what the job screen's export key writes to a file.
/// Blocking (libcurl): call it off the cooperative pool.
public enum Export {
    /// The file's bytes; a `ClientError` phrased for a person otherwise (the server's sentence for a 4xx).
    public static func fetch(
        url: String, token: String, batchID: String, jobID: String, format: EpochExport.Format, timeout: Double = 120
    ) throws(ClientError) -> [UInt8] {
        let client = HTTPClient(baseURL: url, token: token, timeout: timeout)
        let path = APIPath.epochs(batchID, jobID, format: format.rawValue)
        let r = try client.get(path)
        guard r.status == 200 else {
            if r.status == 401 {
                throw ClientError(.http, status: 401, ClientError.refusedCredential(r.serverDetail), detail: r.serverDetail)
            }
            throw client.failure(r, path: path)
        }
        return r.body
    }

    /// A file name for the export: `BATCH_JOB.csv`, with anything but letters, digits, '-', '_' and '.' made '_'.
    /// Ids may be longer than a file name may (255 bytes, and the atomic write's temporary name is longer still):
    /// past `maxStemBytes` the name is cut and ends with a hash of both ids, so two long ids still get two names.
    public static func fileName(batchID: String, jobID: String, format: EpochExport.Format) -> String {
        let safe = { (s: String) in
            String(s.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        }
        var stem = "\(safe(batchID))_\(safe(jobID))"
        if stem.utf8.count > maxStemBytes {
            // FNV-1a over the ids as given: the same job always gets the same name.
            var hash: UInt32 = 2_166_136_261
            for byte in (batchID + "/" + jobID).utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            let tag = "~" + String(hash, radix: 16)
            var cut = ""
            for c in stem {
                if cut.utf8.count + c.utf8.count + tag.utf8.count > maxStemBytes { break }
                cut.append(c)
            }
            stem = cut + tag
        }
        return "\(stem).\(format.rawValue)"
    }

    static let maxStemBytes = 150

    /// Fetches and writes the file (atomically: a failed fetch leaves no half file); returns its path. An existing
    /// file is never replaced: the name gets `-1`, `-2`… before its extension, claimed with O_EXCL so that two
    /// exports at once cannot pick the same one.
    @discardableResult
    public static func save(
        url: String, token: String, batchID: String, jobID: String, format: EpochExport.Format,
        directory: String = FileManager.default.currentDirectoryPath
    ) throws -> String {
        let bytes = try fetch(url: url, token: token, batchID: batchID, jobID: jobID, format: format)
        let base = fileName(batchID: batchID, jobID: jobID, format: format)
        let stem = String(base.dropLast(format.rawValue.count + 1))
        let dir = URL(fileURLWithPath: directory)
        for n in 0..<10_000 {
            let path = dir.appendingPathComponent(n == 0 ? base : "\(stem)-\(n).\(format.rawValue)").path
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw FileError(description: "Cannot write \(path): \(String(cString: strerror(errno))).")
            }
            close(fd)
            // The name is ours; the bytes replace the empty file in one step.
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            return path
        }
        throw FileError(description: "Cannot find a free file name for \(base) in \(directory).")
    }

    /// A file that could not be written, in one sentence.
    public struct FileError: Error, CustomStringConvertible {
        public var description: String
    }
}
