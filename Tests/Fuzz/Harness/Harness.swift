import Foundation
import FuzzTargets

// The libFuzzer harness: scripts/fuzz.sh builds it with `-sanitize=fuzzer,address -D ARGUS_LIBFUZZER` and runs it
// once per target, the target named by ARGUS_FUZZ_TARGET. A broken property is reported as a crash, so libFuzzer
// saves the input. In an ordinary build (`swift build`) it is a replayer instead: `ArgusFuzz <target> FILE...`
// runs each file through the same target and prints what broke.

#if ARGUS_LIBFUZZER
    /// libFuzzer's entry when the program has its own `main` (SwiftPM links an executable's `main` to `ArgusFuzz_main`).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    @_cdecl("ArgusFuzz_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return LLVMFuzzerRunDriver(&argc, &argv, fuzzOneInput)
    }

    let target: FuzzTarget = {
        let name = ProcessInfo.processInfo.environment["ARGUS_FUZZ_TARGET"] ?? ""
        guard let t = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
            fatalError("Set ARGUS_FUZZ_TARGET to one of: \(names) (got '\(name)').")
        }
        return t
    }()

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
        let problems = target.run(input)
        if !problems.isEmpty { fatalError("\(target.rawValue): " + problems.joined(separator: "; ")) }
        return 0
    }
#else
    @main
    enum Replay {
        static func main() throws {
            let args = CommandLine.arguments.dropFirst()
            guard let name = args.first, let target = FuzzTarget(rawValue: name) else {
                let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
                print("usage: ArgusFuzz \(names) FILE...  (fuzzing: scripts/fuzz.sh)")
                exit(2)
            }
            var failed = false
            for path in args.dropFirst() {
                let problems = target.run(Array(try Data(contentsOf: URL(fileURLWithPath: path))))
                print("\(path): " + (problems.isEmpty ? "ok" : problems.joined(separator: "; ")))
                failed = failed || !problems.isEmpty
            }
            exit(failed ? 1 : 0)
        }
    }
#endif
