import Foundation
import FuzzTargets
import TestSupport
import Testing

/// Every seed of the fuzz corpus and every input the fuzzers found (Tests/Fuzz/regressions, see scripts/fuzz.sh)
/// through the same targets libFuzzer runs: each is answered with a value or a 4xx sentence and keeps every
/// property the target checks. An input that once trapped crashes this test if the fix is undone.
@Suite("Fuzz corpus and regressions", .enabled(if: TestBackend.firstPass), .ownThread)
struct FuzzRegressionTests {
    @Test("each seed and each saved finding passes its fuzz target", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        let files = target.inputFiles
        #expect(files.count >= 3, "Tests/Fuzz/corpus/\(target.rawValue) holds the seeds")
        for file in files {
            let problems = target.run(Array(try Data(contentsOf: file)))
            #expect(problems.isEmpty, "\(file.lastPathComponent): \(problems.joined(separator: "; "))")
        }
    }
}
