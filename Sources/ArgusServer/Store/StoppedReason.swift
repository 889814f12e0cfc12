#if canImport(Glibc)
    import Glibc
#endif

/// Why a stopping run ended, in the words of its batch's `end_reason`, the live `batch_stopped` event and the banners
/// of argus-tui and the web page: the one home of those sentences. Each begins "Stopped", and says how the server knows.
enum StoppedReason {
    /// From the agent's stop command: the signal that ended the run's process group (an agent before it said so
    /// sends none), or that it found the run already gone.
    static func agentStop(signal: String?, alreadyGone: Bool) -> String {
        if alreadyGone { return "Stopped: the run's process had already exited when the agent came to stop it." }
        switch signal {
        case "SIGTERM": return "Stopped: the run's process ended at the agent's SIGTERM."
        case "SIGKILL": return "Stopped: the run's process ended at the agent's SIGKILL (it outlived the grace period after SIGTERM)."
        default: return processExit(code: nil)
        }
    }

    /// From the run's process's exit, as the agent reports it: the agent's SIGTERM, or its SIGKILL after the grace
    /// period, is the Stop done, not a failure.
    static func processExit(code: Int?) -> String {
        switch code {
        case nil: "Stopped: the agent reports the run's process is gone."
        case 128 + Int(SIGTERM): agentStop(signal: "SIGTERM", alreadyGone: false)
        case 128 + Int(SIGKILL): agentStop(signal: "SIGKILL", alreadyGone: false)
        case let code: "Stopped: the run's process exited with \(exitStatus(code)) after Stop was requested."
        }
    }

    /// From the stall detector: the run was silent for `silentS` (the stall timeout or more: a run that had stalled
    /// before its Stop was asked, longer), and sent nothing in the grace it had to answer (`StallDetector.stopGraceUs`).
    static func unconfirmed(silentS: Double, graceS: Double) -> String {
        "\(unconfirmedLead) the run had sent nothing for \(span(silentS)) and did not answer the Stop within \(span(graceS))."
    }

    /// Whether `reason` is the stall detector's (`unconfirmed`): a later word from the agent or the run replaces it.
    static func isUnconfirmed(_ reason: String?) -> Bool { reason?.hasPrefix(unconfirmedLead) == true }

    static let unconfirmedLead = "Stopped without confirmation:"

    /// A stretch of time as a sentence says it: "3 s", "15 min", "2.5 min".
    static func span(_ seconds: Double) -> String {
        if seconds < 59.5 { return "\(max(1, Int(seconds.rounded()))) s" }
        // Nudged: 4.35 min arrives as 260.99999 s, whose tenths would round down.
        let tenths = (seconds / 6 + 1e-6).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10)) min" : "\(tenths / 10) min"
    }

    /// A process's exit as the agent reports it (a shell's status: 128 + N for signal N).
    static func exitStatus(_ code: Int?) -> String {
        guard let code else { return "an unknown status" }
        return code > 128 && code < 160 ? "status \(code) (signal \(code - 128))" : "status \(code)"
    }
}
