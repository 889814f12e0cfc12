import ArgumentParser
import ArgusClient
import FoundationEssentials
import Glibc
import Shared

/// `argus-tui [--url U] [--token T] [TARGET]`, and `--dump` for one plain-text frame.
public struct TUICommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "argus-tui",
        abstract: "Watch a training job live in the terminal.",
        discussion: """
            TARGET is BATCH/JOB (the job's live screen), BATCH (the batch screen: a row per job to sort, filter, \
            mark and compare), a share link (http(s)://host[:port]/share/<token>: that batch, read-only), or nothing \
            (recent batches, running first). The URL and token default to ARGUS_URL \
            and ARGUS_TOKEN, the variables the Python SDK uses. Press ? inside for the keys. NO_COLOR turns colours \
            off.

            --export csv|jsonl BATCH/JOB writes the job's epochs (every key, one row per epoch) to stdout and \
            exits, e.g. `argus-tui --export csv run-42/seed-1 > seed-1.csv`.

            --compare B/J,B/J,... opens the overlay of those jobs' curves (Space and C make it from the batch \
            screen); with --dump it prints one frame of it.

            When the server misbehaves the screen keeps the last state received, the status line says what is \
            wrong, and the stream is resumed with Last-Event-ID; a stream silent for 1.5x the keepalive interval \
            the server announces plus 2 s (24.5 s with the default ARGUS_SSE_KEEPALIVE_S=15) counts as stalled and \
            is reconnected.

            Exit status: 0 after q, 1 when it cannot go on (e.g. a rejected token, or TERM=dumb), 130 after Ctrl-C, \
            143 after SIGTERM.
            """,
        version: ArgusVersion.string)

    @Option(help: "Server URL (env ARGUS_URL, default http://127.0.0.1:8000).") var url: String?
    @Option(help: "API token; other users on this machine can read it in `ps`: prefer env ARGUS_TOKEN.") var token: String?
    @Flag(help: "Print one frame of the screen as plain text and exit.") var dump = false
    // Not a number is out of range too (`validate`'s one sentence), not ArgumentParser's three lines and exit 64.
    @Option(parsing: .unconditional, help: "Width of the --dump frame (60 to 1000; default 120).", transform: { Int($0) ?? .min })
    var width: Int = 120
    @Option(parsing: .unconditional, help: "Height of the --dump frame (20 to 500; default 40).", transform: { Int($0) ?? .min })
    var height: Int = 40
    @Flag(help: "Draw with ASCII only (no braille), as on a non-UTF-8 terminal.") var ascii = false
    @Flag(help: "Hide the actions that change a run.") var readonly = false
    @Flag(help: "Show the job screen's GPUs panel from the start (G toggles it); with --dump, the frame includes it.")
    var gpus = false
    @Option(help: "Write the job's epochs as csv or jsonl to stdout and exit (TARGET must be BATCH/JOB).")
    var export: String?
    @Option(
        help: "Open the compare overlay of these jobs: BATCH/JOB,BATCH/JOB,… (two or more; with --dump, one frame of it).")
    var compare: String?
    @Argument(help: "BATCH/JOB, BATCH, a share link, or nothing.") var target: String?

    public init() {}

    /// The one rule for a `--dump` frame's size: at least the screen's smallest (`ScreenView.minWidth`×`minHeight`).
    /// Like every other refusal, one sentence and exit status 1.
    public func validate() throws {
        let (w, h) = (ScreenView.minWidth...1000, ScreenView.minHeight...500)
        guard w.contains(width), h.contains(height) else {
            throw fail(
                "--width must be \(w.lowerBound) to \(w.upperBound) and --height \(h.lowerBound) to \(h.upperBound): the screen needs at least \(w.lowerBound)×\(h.lowerBound)."
            )
        }
    }

    /// Redirected, the live screen would write escape codes into a file and wait for keys that never come.
    func requireTerminal() throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            throw fail(
                "the live screen needs a terminal on standard input and output: use --dump for one frame as text, or --export for the epochs."
            )
        }
    }

    /// A `--dump` frame on stdout; a write that fails (a full disk, a closed stdout) is an error, not a lost frame.
    func printFrame(_ frame: String) throws(StandardStreams.WriteFailure) {
        try StandardStreams.write(Array((frame + "\n").utf8), to: 1)
    }

    func fail(_ sentence: String) -> ExitCode {
        StandardStreams.complain(sentence)
        return ExitCode(1)
    }

    /// `http(s)://host[:port]/share/<token>`: a read-only view of the batch the link was made for; with the web
    /// page's `?job=<job>` (a link copied from a browser's address bar), that job's screen.
    func openShare(_ pasted: String, env: [String: String]) throws {
        guard let link = ShareLink(pasted) else {
            throw fail("'\(pasted.trimmed())' is not a share link (expected http(s)://host[:port]/share/<token>).")
        }
        let (base, shareToken) = (link.base, link.token)
        if let job = link.job, let problem = IDRules.targetProblem(job: job) {
            throw fail("the link's ?job= can name no job: \(problem).")
        }
        let batchID: String
        do {
            let reply = try HTTPClient(baseURL: base, token: nil, timeout: 10).get(APIPath.share(token: shareToken))
            guard reply.status == 200, let b = reply.json?["batch_id"]?.stringValue else { throw fail("\(reply.detail)") }
            batchID = b
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail("\(error)")
        }
        var o = TUIOptions(url: base, token: shareToken, target: link.job.map { .job(batchID, $0) } ?? .batch(batchID))
        o.ascii = ascii
        o.showGPUs = gpus
        o.readOnly = true
        o.pinnedBatch = batchID
        o.color = env["NO_COLOR"].map { $0.isEmpty } ?? true
        if dump {
            do { try printFrame(TerminalApp.dump(o, width: width, height: height).frame) } catch { throw fail("\(error)") }
            return
        }
        try requireTerminal()
        let status = TerminalApp.run(o)
        if status != 0 { throw ExitCode(status) }
    }

    /// `--compare B/J,B/J…`: two or more jobs, each BATCH/JOB, no TARGET beside them.
    func compareTargets(_ list: String) throws -> [JobRef] {
        guard target == nil else { throw fail("--compare takes the jobs itself: give no TARGET beside it.") }
        var refs: [JobRef] = []
        for item in list.split(separator: ",").map({ $0.trimmed() }) where !item.isEmpty {
            if let problem = Target.problem(item) { throw fail(problem) }
            guard case .job(let b, let j) = Target.parse(item) else {
                throw fail("--compare needs BATCH/JOB items separated by commas, got '\(item)'.")
            }
            let ref = JobRef(batchID: b, jobID: j)
            if !refs.contains(ref) { refs.append(ref) }
        }
        guard refs.count >= 2 else { throw fail("--compare needs at least two different jobs (BATCH/JOB,BATCH/JOB).") }
        return refs
    }

    /// `--export FORMAT BATCH/JOB`: the route's body on stdout, or one sentence on stderr and exit 1.
    func runExport(_ format: String, url: String, token: String) throws {
        guard let f = EpochExport.Format(rawValue: format) else {
            throw fail("--export must be csv or jsonl, got '\(format)'.")
        }
        if let problem = Target.problem(target) { throw fail(problem) }
        guard case .job(let b, let j) = Target.parse(target) else {
            throw fail("--export needs a BATCH/JOB target, got '\(target ?? "")'.")
        }
        do {
            let bytes = try Export.fetch(url: url, token: token, batchID: b, jobID: j, format: f)
            try StandardStreams.write(bytes, to: 1)
        } catch {
            throw fail("\(error)")
        }
    }

    public func run() throws {
        let env = ProcessInfo.processInfo.environment
        let base = url ?? env["ARGUS_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8000"
        if let problem = ServerAddress.schemeProblem(base) { throw fail(problem) }
        // A pasted link often comes with a space or a newline around it (or inside it, wrapped), and a scheme in
        // capitals.
        if let t = target, ShareLink.isWebLink(t) {
            if export != nil || compare != nil {
                throw fail(
                    "\(export != nil ? "--export" : "--compare") takes BATCH/JOB targets and a token; a share link only opens its read-only view."
                )
            }
            try openShare(t, env: env)
            return
        }
        // `--token ""` (an unset variable in `--token "$T"`) is no token, as an empty ARGUS_TOKEN is.
        guard let token = (token.flatMap { $0.isEmpty ? nil : $0 }) ?? env["ARGUS_TOKEN"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw fail(
                "no token: set ARGUS_TOKEN or pass --token (mint one with `argus-server token create --user NAME`)."
            )
        }
        if let export {
            try runExport(export, url: base, token: token)
            return
        }
        if let problem = Target.problem(target) { throw fail(problem) }
        var o = TUIOptions(url: base, token: token, target: Target.parse(target))
        if let compare {
            o.target = .compare(try compareTargets(compare))
        }
        o.ascii = ascii
        o.showGPUs = gpus
        o.readOnly = readonly
        o.color = env["NO_COLOR"].map { $0.isEmpty } ?? true
        if dump {
            let frame: (frame: String, unshown: ClientError?)
            do {
                frame = try TerminalApp.dump(o, width: width, height: height)
            } catch {
                throw fail(
                    error.status == 401 ? ClientError.refusedCredential(error.detail ?? error.description) : error.description)
            }
            do { try printFrame(frame.frame) } catch { throw fail("\(error)") }
            // A job of --compare that could not be shown: the frame shows the others; a script learns it from the exit.
            if let unshown = frame.unshown { throw fail(unshown.description) }
            return
        }
        // A bad token is one sentence before the screen opens; an unreachable server is shown on screen and retried.
        // Briefly: until the screen opens the terminal is blank and keys echo, and a server that accepts but does not
        // answer would hold it so for the whole timeout (the screen's own requests then report it).
        do {
            let r = try HTTPClient(baseURL: base, token: token, timeout: 1.5).get("/api/batches?limit=1")
            if r.status == 401 { throw fail(ClientError.refusedCredential(r.serverDetail)) }
        } catch let e as ExitCode {
            throw e
        } catch {}
        try requireTerminal()
        let status = TerminalApp.run(o)
        if status != 0 { throw ExitCode(status) }
    }
}

/// A share link as pasted: whitespace anywhere in it (a link wrapped across lines, a newline after it) and invisible
/// format characters are dropped, `/share/` is found in any case, and the token ends at a `/`, `?` or `#`. The web
/// page's `?job=<job>` names the job to show.
struct ShareLink: Equatable {
    var base: String
    var token: String
    var job: String?

    init(base: String, token: String, job: String?) { (self.base, self.token, self.job) = (base, token, job) }

    /// The text without whitespace or invisible format characters (zero-width space, BOM …), which no URL holds.
    static func cleaned(_ pasted: String) -> String {
        String(
            String.UnicodeScalarView(
                pasted.unicodeScalars.filter { !$0.properties.isWhitespace && $0.properties.generalCategory != .format }))
    }

    /// Whether the text, as pasted, is a web address (http or https, in any case): then it can only be a share link.
    static func isWebLink(_ pasted: String) -> Bool {
        let t = cleaned(pasted).lowercased()
        return t.hasPrefix("http://") || t.hasPrefix("https://")
    }

    init?(_ pasted: String) {
        guard ShareLink.isWebLink(pasted) else { return nil }
        let bytes = Array(ShareLink.cleaned(pasted).utf8)
        let needle = Array("/share/".utf8)
        func matches(at i: Int) -> Bool {
            i + needle.count <= bytes.count
                && zip(bytes[i...], needle).allSatisfy { $0 == $1 || ($1 >= 0x61 && $1 <= 0x7A && $0 == $1 - 0x20) }
        }
        guard let at = bytes.indices.first(where: matches) else { return nil }
        base = String(decoding: bytes[..<at], as: UTF8.self)
        let rest = String(decoding: bytes[(at + needle.count)...], as: UTF8.self)
        let tokenPart = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !tokenPart.isEmpty else { return nil }
        token = String(tokenPart)
        job = nil
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].prefix(while: { $0 != "#" }).split(separator: "&")
            where pair.hasPrefix("job=") {
                // Read as the server and the web page read a query: `+` is a space, `%2B` a plus.
                job = IDEncoding.decodeQueryPart(pair.dropFirst(4))
                if job?.isEmpty == true { job = nil }
            }
        }
    }

    /// The minted link `url` naming `job`: it then opens that job, as the web page's address does.
    static func naming(_ url: String, job: String) -> String { url + "?job=" + IDEncoding.encode(job) }
}
