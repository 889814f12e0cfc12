import Glibc

/// printf formatting of numbers (`%.1f`, `%02ld`, `%.4g` …): what Foundation's `String(format:)` did, which
/// FoundationEssentials (all the TUI builds on) does not have. The TUI takes only LC_CTYPE from the environment,
/// so the decimal point is always '.'.
func cFormat(_ format: String, _ args: any CVarArg...) -> String {
    var buffer = [CChar](repeating: 0, count: 64)
    var n = Int(withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) })
    if n >= buffer.count {
        buffer = [CChar](repeating: 0, count: n + 1)
        n = Int(withVaList(args) { vsnprintf(&buffer, buffer.count, format, $0) })
    }
    return String(decoding: buffer.prefix(max(n, 0)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
