import Foundation
import Shared
import TestSupport
import XCTest

/// What `scripts/install.sh` puts on a GPU box must run there without the Swift toolchain. `scripts/test.sh`
/// installs the three binaries (debug, same linking as a release) and names the folder in ARGUS_INSTALLED_BIN.
final class InstallTests: XCTestCase {
    static let binaries = ["argus-server", "argus-tui", "argus-agent"]

    func installedDir() throws -> String {
        guard let dir = ProcessInfo.processInfo.environment["ARGUS_INSTALLED_BIN"], !dir.isEmpty else {
            throw XCTSkip("ARGUS_INSTALLED_BIN is not set: scripts/test.sh installs the binaries and sets it.")
        }
        return dir
    }

    /// The toolchain's runtime folder, read from where this test process loaded libswiftCore.so from.
    func toolchainRuntimeDir() throws -> String {
        // /proc files report size 0, so read to the end rather than by the file's size.
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/proc/self/maps"))
        defer { try? handle.close() }
        let maps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        guard let line = maps.split(separator: "\n").first(where: { $0.hasSuffix("/libswiftCore.so") }),
            let slash = line.firstIndex(of: "/")
        else { throw TestFailure("this test process did not load libswiftCore.so from a toolchain") }
        return URL(fileURLWithPath: String(line[slash...])).deletingLastPathComponent().path
    }

    func testInstalledBinariesLinkNoToolchainLibrary() throws {
        let dir = try installedDir()
        let runtime = try toolchainRuntimeDir()
        for name in Self.binaries {
            let path = "\(dir)/\(name)"
            XCTAssertTrue(FileManager.default.isExecutableFile(atPath: path), "\(path) is not installed")
            let (code, out, err) = try runTool("/usr/bin/ldd", [path])
            XCTAssertEqual(code, 0, "ldd \(path): \(err)")
            let libs = out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            XCTAssertFalse(libs.isEmpty)
            for lib in libs {
                XCTAssertFalse(lib.contains(runtime), "\(name) links a toolchain library: \(lib)")
                XCTAssertFalse(lib.contains("not found"), "\(name) misses a library: \(lib)")
                for swiftLib in ["libswift", "libFoundation", "lib_Foundation", "libdispatch", "libBlocksRuntime"] {
                    XCTAssertFalse(lib.hasPrefix(swiftLib), "\(name) links the Swift runtime dynamically: \(lib)")
                }
            }
        }
    }

    /// argus-tui builds on FoundationEssentials alone (issue 13: Foundation and ICU were most of its memory), so the
    /// built binary loads neither libFoundation nor ICU; a module that imports Foundation brings both back.
    func testTheTUILoadsNoFoundationOrICU() throws {
        let path = Binaries.path("argus-tui")
        let (code, out, err) = try runTool("/usr/bin/ldd", [path])
        XCTAssertEqual(code, 0, "ldd \(path): \(err)")
        let libs = out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertTrue(libs.contains { $0.hasPrefix("libcurl") }, "ldd \(path) lists no libcurl: \(out)")
        for lib in libs {
            for heavy in ["libFoundation.so", "libFoundationInternationalization", "lib_FoundationICU", "libicu"] {
                XCTAssertFalse(lib.hasPrefix(heavy), "argus-tui loads \(lib)")
            }
        }
    }

    func testInstalledBinariesRunWithoutTheToolchainOnTheLibraryPath() throws {
        let dir = try installedDir()
        for name in Self.binaries {
            // A clean environment: no LD_LIBRARY_PATH, and a PATH without the toolchain.
            let (code, out, err) = try runTool(
                "/usr/bin/env", ["-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "\(dir)/\(name)", "--version"])
            XCTAssertEqual(code, 0, "\(name) --version failed: \(err)")
            XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), ArgusVersion.string, name)
        }
    }
}
