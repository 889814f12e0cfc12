import Foundation

/// The web page's files, compiled into the binary (SwiftPM `embedInCode`), so a statically linked argus-server
/// needs nothing beside it. They are served under `/assets/<hash>/<name>`, where the hash covers every file: an
/// upgrade changes every URL, so a year-long immutable cache never serves an old file, and the ES modules import
/// one another by relative path without a build step.
enum WebAssets {
    struct Asset: Sendable {
        var bytes: [UInt8]
        var contentType: String
    }

    /// Every file of `Web/Assets` (WebRoutesTests checks this list against the folder).
    static let files: [String: [UInt8]] = [
        "style.css": PackageResources.style_css,
        "main.js": PackageResources.main_js,
        "api.js": PackageResources.api_js,
        "format.js": PackageResources.format_js,
        "dom.js": PackageResources.dom_js,
        "signin.js": PackageResources.signin_js,
        "live.js": PackageResources.live_js,
        "index-page.js": PackageResources.index_page_js,
        "batch-page.js": PackageResources.batch_page_js,
        "job-page.js": PackageResources.job_page_js,
        "telemetry.js": PackageResources.telemetry_js,
        "chart.js": PackageResources.chart_js,
        "chart-scale.js": PackageResources.chart_scale_js,
        "log.js": PackageResources.log_js,
        "actions.js": PackageResources.actions_js,
        "banners.js": PackageResources.banners_js,
        "env.js": PackageResources.env_js,
        "page.html": PackageResources.page_html,
        "notice.html": PackageResources.notice_html,
    ]

    /// The files a browser may fetch (the HTML templates are served only as pages).
    static let served: [String: Asset] = files.reduce(into: [:]) { out, file in
        if let type = contentType(file.key) { out[file.key] = Asset(bytes: file.value, contentType: type) }
    }

    static func contentType(_ name: String) -> String? {
        if name.hasSuffix(".js") { return "text/javascript; charset=utf-8" }
        if name.hasSuffix(".css") { return "text/css; charset=utf-8" }
        if name.hasSuffix(".svg") { return "image/svg+xml" }
        return nil
    }

    /// The first 12 hex digits of SHA-256 over every file's name and bytes.
    static let hash: String = {
        var all: [UInt8] = []
        for name in files.keys.sorted() {
            all += Array(name.utf8) + [0] + files[name]! + [0]
        }
        return SHA256.digest(all).prefix(6).map { String(format: "%02x", $0) }.joined()
    }()

    /// Where the assets of this build live, e.g. `/assets/3f2a1b9c0d4e`.
    static var prefix: String { "/assets/\(hash)" }

    /// A page template with its asset prefix filled in (`{{assets}}`) and the page kind (`{{page}}`) set.
    /// `fill`: more `{{name}}` placeholders and their text (fixed HTML of ours, never from a request).
    static func page(_ template: String, kind: String, fill: [String: String] = [:]) -> [UInt8] {
        var text = String(decoding: files[template]!, as: UTF8.self)
        for (name, value) in fill.merging(["assets": prefix, "page": kind], uniquingKeysWith: { a, _ in a }) {
            text = text.replacingOccurrences(of: "{{\(name)}}", with: value)
        }
        return Array(text.utf8)
    }
}
