import Foundation
import Shared
import TestSupport
import Testing

@testable import ArgusTUI

/// The log pane: paging back through the server's history, the `/` search, long lines and the failure reason.
@Suite("Log pane: paging, search, long lines (issue 9: items 15 and 18)", .ownThread)
struct LogPaneTests {
    /// Log-lines rows as the server sends them (newest first), one per id, "line <id>".
    static func rows(_ ids: ClosedRange<Int>, level: (Int) -> String = { _ in "info" }, text: (Int) -> String = { "line \($0)" })
        -> [JSON]
    {
        ids.reversed().map { i in
            ["id": JSON(i), "ts": "2026-04-23T09:00:00Z", "job_id": "j1", "level": .string(level(i)), "line": .string(text(i))]
        }
    }

    /// A job screen whose view carried a full page of log lines, ids 1001...1200.
    static func fullTail(width: Int = 120, height: Int = 40, failure: String? = nil) -> AppState {
        guard case .object(var view) = Fixture.view(status: failure == nil ? "running" : "failed", failure: failure)
        else { fatalError() }
        view["log_tail"] = .array(rows(1001...1200))
        return Fixture.state(.object(view), width: width, height: height)
    }

    /// The log pane of a frame: its title row and body rows.
    static func pane(_ s: AppState) -> (title: String, body: [String]) {
        let layout = ScreenView.JobLayout(s, s.job!, rect: ScreenView.bodyRect(s))
        let g = ScreenView.render(s)
        return (g.row(layout.log.y), (layout.log.y + 1..<layout.log.maxY).map { g.row($0) })
    }

    static func req(query: String = "", before: Int64?) -> LogPageRequest {
        LogPageRequest(batchID: "b1", jobID: "j1", query: query, beforeID: before)
    }

    @Test("Home at the top keeps the pane full and fetches the page before the oldest line; the view then shows it")
    func homePagesOlderLinesIn() {
        var s = Self.fullTail()
        let rows = Update.logRows(s)
        #expect(rows == 14)
        #expect(Update.apply(&s, .key(.home)) == [.fetchLogs(Self.req(before: 1001))])
        var p = Self.pane(s)
        #expect(p.title == "LOG  (scrolled 186 up · End follows)  loading older lines…")
        #expect(p.body == (1001...1014).map { "09:00:00 INFO     line \($0)" }, "the top of the history, and a full pane")
        // A second Home while that page is on its way asks for nothing more.
        #expect(Update.apply(&s, .key(.home)) == [])
        _ = Update.apply(&s, .logPage(Self.req(before: 1001), Self.rows(801...1000)))
        p = Self.pane(s)
        #expect(p.title == "LOG  (scrolled 386 up · End follows)")
        #expect(p.body == (801...814).map { "09:00:00 INFO     line \($0)" })
        #expect(s.logFetch == nil)
        // The last page is short: the log's start is reached and said so; Home then asks for nothing.
        #expect(Update.apply(&s, .key(.home)) == [.fetchLogs(Self.req(before: 801))])
        _ = Update.apply(&s, .logPage(Self.req(before: 801), Self.rows(790...800)))
        p = Self.pane(s)
        #expect(p.title == "LOG  (scrolled 397 up · End follows)  start of the log")
        #expect(p.body.first == "09:00:00 INFO     line 790")
        #expect(Update.apply(&s, .key(.home)) == [])
        // End follows the tail again.
        _ = Update.apply(&s, .key(.end))
        #expect(Self.pane(s).body.last == "09:00:00 INFO     line 1200")
    }

    @Test("PgUp moves a pane at a time; past the top it fetches and finishes the page when the lines arrive")
    func pageUpPastTheTop() {
        var s = Self.fullTail()
        for _ in 0..<14 { _ = Update.apply(&s, .key(.pageUp)) }
        #expect(Self.pane(s).body.first == "09:00:00 INFO     line 1005", "13 lines a page, 186 up at most")
        #expect(s.logFetch == nil)
        #expect(Update.apply(&s, .key(.pageUp)) == [.fetchLogs(Self.req(before: 1001))])
        #expect(Self.pane(s).body.first == "09:00:00 INFO     line 1001")
        _ = Update.apply(&s, .logPage(Self.req(before: 1001), Self.rows(801...1000)))
        // 4 lines of that page were already shown moving up; the other 9 happen now.
        #expect(Self.pane(s).body.first == "09:00:00 INFO     line 992")
        #expect(Self.pane(s).body.count == 14 && !Self.pane(s).body.contains(""))
    }

    /// `seconds` after 09:00:00.
    static func ts(_ seconds: Int) -> String { Timestamp(iso: "2026-04-23T09:00:00Z")!.adding(seconds: Double(seconds)).iso }

    /// A job screen whose view carried lines 1001...1200, two seconds apart from 09:00:02.
    static func spacedTail() -> AppState {
        guard case .object(var view) = Fixture.view(status: "running") else { fatalError() }
        view["log_tail"] = .array(
            Self.rows(1001...1200).map { row in
                guard case .object(var o) = row else { return row }
                o["ts"] = .string(ts(2 * (o["id"]!.intValue! - 1000)))
                return .object(o)
            })
        return Fixture.state(.object(view), width: 120, height: 40)
    }

    /// A streamed log line of b1/j1, `at` seconds after 09:00:00.
    static func line(_ id: Int, _ at: Int, _ text: String, level: String = "info") -> Action {
        .streamEvent([
            "id": JSON(id), "event_type": "log_line", "batch_id": "b1", "job_id": "j1", "timestamp": .string(ts(at)),
            "data": ["line": .string(text), "level": .string(level)],
        ])
    }

    @Test(
        "a line delivered late (an SDK's spill after an outage) goes where it was written; a scrolled view keeps its lines; one older than every kept line waits for its page"
    )
    func lateLinesInPlace() {
        let ts = Self.ts
        func line(_ id: Int, _ at: Int, _ text: String) -> Action { Self.line(id, at, text) }
        var s = Self.spacedTail()
        func order() -> [String] { s.filteredLogs.map(\.line) }
        _ = Update.apply(&s, line(5000, 420, "live at 09:07:00"))
        _ = Update.apply(&s, line(5001, 181, "spilled at 09:03:01"))
        #expect(order().suffix(3) == ["line 1199", "line 1200", "live at 09:07:00"])
        #expect(order().firstIndex(of: "spilled at 09:03:01") == order().firstIndex(of: "line 1090")! + 1)

        // A pane up: lines arriving below the view (late or live) and above it leave the view as it was.
        _ = Update.apply(&s, .key(.pageUp))
        let shown = Self.pane(s).body
        _ = Update.apply(&s, line(5002, 419, "spilled at 09:06:59"))
        _ = Update.apply(&s, line(5003, 421, "live at 09:07:01"))
        _ = Update.apply(&s, line(5004, 61, "spilled at 09:01:01"))
        #expect(Self.pane(s).body == shown)
        #expect(order().firstIndex(of: "spilled at 09:01:01") == order().firstIndex(of: "line 1030")! + 1)
        // One written between two lines on screen shows there; the view's top line stays where it was.
        let third = try! #require(Int(shown[2].split(separator: " ").last!))
        _ = Update.apply(&s, line(5006, 2 * (third - 1000) + 1, "spilled inside the view"))
        #expect(Self.pane(s).body.first == shown.first)
        #expect(Self.pane(s).body[3].hasSuffix("spilled inside the view"), "\(Self.pane(s).body)")
        // Older than every kept line while older ones are on the server: its page brings it, not the stream.
        _ = Update.apply(&s, line(5005, -3600, "spilled at 08:00:00"))
        #expect(!order().contains("spilled at 08:00:00"))
        _ = Update.apply(&s, .key(.end))
        #expect(order().suffix(4) == ["line 1200", "spilled at 09:06:59", "live at 09:07:00", "live at 09:07:01"])

        // A page fetched while the stream was behind brings a line the stream then delivers: shown once.
        for _ in 0..<20 { _ = Update.apply(&s, .key(.pageUp)) }
        let page: [JSON] = [["id": 6000, "ts": .string(ts(-60)), "job_id": "j1", "level": "info", "line": "paged, then streamed"]]
        _ = Update.apply(&s, .logPage(Self.req(before: 1001), page))
        _ = Update.apply(&s, line(6000, -60, "paged, then streamed"))
        #expect(order().filter { $0 == "paged, then streamed" }.count == 1)
        #expect(order().first == "paged, then streamed")
    }

    @Test("a matching line delivered late joins an open search where it was written, though older than the loaded tail")
    func lateLineJoinsSearch() {
        var s = Self.spacedTail()
        for k: Key in [.char("/"), .char("E"), .char("R")] { _ = Update.apply(&s, .key(k)) }
        // The server's matches: three lines from before the tail, newest first.
        let hits: [JSON] = [(900, 300), (500, 200), (100, 100)].map { id, at in
            ["id": JSON(id), "ts": .string(Self.ts(-3600 + at)), "job_id": "j1", "level": "info", "line": .string("ERROR \(id)")]
        }
        _ = Update.apply(&s, .logPage(Self.req(query: "ER", before: nil), hits))
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(&s, Self.line(5000, -3600 + 150, "ERROR spilled between 100 and 500", level: "error"))
        _ = Update.apply(&s, Self.line(5001, -3600 + 50, "ERROR spilled before every match"))
        _ = Update.apply(&s, Self.line(5002, 500, "ERROR live"))
        #expect(
            s.filteredLogs.map(\.line) == [
                "ERROR spilled before every match", "ERROR 100", "ERROR spilled between 100 and 500", "ERROR 500", "ERROR 900",
                "ERROR live",
            ])
        #expect(Self.pane(s).title.contains("6 matches"), "\(Self.pane(s).title)")
    }

    @Test("a page that fails to load clears the loading note and says why; a late or foreign page is ignored")
    func failedAndStalePages() {
        var s = Self.fullTail()
        _ = Update.apply(&s, .key(.home))
        _ = Update.apply(&s, .logPageFailed(Self.req(before: 1001), "Cannot reach http://x (timeout)."))
        #expect(s.logFetch == nil)
        #expect(s.status == "Could not load log lines: Cannot reach http://x (timeout).")
        #expect(!Self.pane(s).title.contains("loading"))
        _ = Update.apply(&s, .logPage(Self.req(before: 1001), Self.rows(801...1000)))
        #expect(s.job?.logs.count == 200, "nobody asked for that page any more")
    }

    @Test("/ERROR asks the server for matches over the whole history; live lines that match join them")
    func searchAcrossHistory() {
        var s = Self.fullTail()
        #expect(Update.apply(&s, .key(.char("/"))) == [])
        #expect(Update.apply(&s, .key(.char("E"))) == [.fetchLogs(Self.req(query: "E", before: nil))])
        #expect(Update.apply(&s, .key(.char("R"))) == [.fetchLogs(Self.req(query: "ER", before: nil))])
        #expect(Self.pane(s).title == "LOG  filter \"ER\": searching the whole log…  (following)")
        #expect(Self.pane(s).body.first == "no loaded line matches; asking the server…")
        // The answer for "E" comes late: dropped.
        _ = Update.apply(&s, .logPage(Self.req(query: "E", before: nil), Self.rows(1...3)))
        #expect(s.search?.loaded == false)
        let old: Set = [3, 40, 77, 150, 420]
        let hits = Self.rows(1...1000).filter { old.contains($0["id"]!.intValue!) }.map { row -> JSON in
            guard case .object(var o) = row else { return row }
            o["line"] = .string("step \(o["id"]!.intValue!): ERROR")
            return .object(o)
        }
        _ = Update.apply(&s, .logPage(Self.req(query: "ER", before: nil), hits))
        _ = Update.apply(&s, .key(.enter))
        _ = Update.apply(
            &s,
            .streamEvent([
                "id": 5000, "event_type": "log_line", "batch_id": "b1", "job_id": "j1", "timestamp": "2026-04-23T09:05:00Z",
                "data": ["line": "live: error budget", "level": "warning"],
            ]))
        let p = Self.pane(s)
        #expect(p.title == "LOG  filter \"ER\": 6 matches  (following)")
        #expect(
            Array(p.body.prefix(6)) == [
                "09:00:00 INFO     step 3: ERROR", "09:00:00 INFO     step 40: ERROR", "09:00:00 INFO     step 77: ERROR",
                "09:00:00 INFO     step 150: ERROR", "09:00:00 INFO     step 420: ERROR", "09:05:00 WARNING  live: error budget",
            ])
        // A query the server finds nowhere says so.
        _ = Update.apply(&s, .key(.char("/")))
        _ = Update.apply(&s, .key(.char("Z")))
        _ = Update.apply(&s, .logPage(Self.req(query: "ERZ", before: nil), []))
        #expect(Self.pane(s).title == "LOG  filter \"ERZ\": 0 matches  (following)")
        #expect(Self.pane(s).body.first == "no line matches the filter")
        _ = Update.apply(&s, .key(.enter))
        // Esc clears the filter (and the search) in one press; the tail is back.
        _ = Update.apply(&s, .key(.escape))
        #expect(s.filter.isEmpty && s.search == nil)
        #expect(Self.pane(s).body.last == "09:05:00 WARNING  live: error budget")
    }

    @Test("with more matches than a page, scrolling up fetches the next page of matches; no gap opens meanwhile")
    func searchPaging() {
        var s = Self.fullTail()
        _ = Update.apply(&s, .key(.char("/")))
        _ = Update.apply(&s, .key(.char("l")))
        // 200 matches, ids 801...1000: the loaded tail (1001...1200) matches too, but lines older than 801 do
        // not show until the server's next page says which of them match.
        _ = Update.apply(&s, .logPage(Self.req(query: "l", before: nil), Self.rows(801...1000)))
        _ = Update.apply(&s, .key(.enter))
        #expect(s.filteredLogs.first?.id == 801 && s.filteredLogs.count == 400)
        #expect(Self.pane(s).title == "LOG  filter \"l\": 400+ matches  (following)")
        #expect(Update.apply(&s, .key(.home)) == [.fetchLogs(Self.req(query: "l", before: 801))])
        _ = Update.apply(&s, .logPage(Self.req(query: "l", before: 801), Self.rows(1...20)))
        #expect(s.filteredLogs.count == 420)
        #expect(Self.pane(s).body.first == "09:00:00 INFO     line 1")
        #expect(Self.pane(s).title == "LOG  filter \"l\": 420 matches  (scrolled 406 up · End follows)  start of the log")
    }

    @Test("→ scrolls long log lines sideways by half the text width, up to their end; ← comes back")
    func sidewaysScroll() {
        guard case .object(var view) = Fixture.view() else { return }
        let long = "BEGIN " + (0..<40).map { String(format: "w%03d", $0) }.joined(separator: " ") + " THE-END"
        view["log_tail"] = .array(Self.rows(1...3, text: { $0 == 2 ? long : "short \($0)" }))
        var s = Fixture.state(.object(view), width: 80, height: 24)
        var p = Self.pane(s)
        #expect(p.title == "LOG  (following)  → reads long lines")
        #expect(p.body.contains("09:00:00 INFO     BEGIN w000 w001 w002 w003 w004 w005 w006 w007 w008 w009 w010 ›"))
        _ = Update.apply(&s, .key(.right))
        #expect(s.logShift == 31)
        p = Self.pane(s)
        #expect(p.title == "LOG  (following)  ← from column 32")
        // In ASCII the keys are named: a drawn '<' or '>' would read as the sort keys.
        var ascii = s
        ascii.glyphs = .ascii
        #expect(Self.pane(ascii).title == "LOG  (following)  Left: from column 32")
        ascii.logShift = 0
        #expect(Self.pane(ascii).title == "LOG  (following)  Right reads long lines")
        #expect(p.body.contains("09:00:00 INFO     ‹w005 w006 w007 w008 w009 w010 w011 w012 w013 w014 w015 w016 ›"))
        #expect(p.body.contains("09:00:00 INFO     ‹"), "a short line shows only that it was scrolled")
        for _ in 0..<9 { _ = Update.apply(&s, .key(.right)) }
        p = Self.pane(s)
        #expect(p.body.contains { $0.hasSuffix(" w039 THE-END") }, "the end of the longest line is in view: \(p.body)")
        #expect(s.logShift == TextWidth.of(long) - (80 - JobPanels.logPrefixWidth(nil) - 1))
        for _ in 0..<10 { _ = Update.apply(&s, .key(.left)) }
        #expect(s.logShift == 0)
        #expect(s.screen == .job, "← on the job screen scrolls; it does not leave")
    }

    @Test("a 2 MB log line is kept as its first 8192 columns plus a marker with its length; → reaches that end")
    func hugeLineIsCapped() {
        guard case .object(var view) = Fixture.view() else { return }
        let huge = String(repeating: "abcdefgh", count: 262_144)  // 2 MiB, one column per byte
        view["log_tail"] = .array(Self.rows(1...2, text: { $0 == 2 ? huge : "short \($0)" }))
        var s = Fixture.state(.object(view), width: 80, height: 24)
        let marker = " [line cut: 2097152 bytes in all]"
        let kept = s.job!.logs.last!.line
        #expect(kept == String(huge.prefix(LogLine.maxColumns)) + marker)
        #expect(TextWidth.of(kept) == 8192 + TextWidth.of(marker))
        // A line streamed in live is capped the same way.
        let live = LogLine(id: 9, ts: "", level: "info", line: "日" + huge, jobID: "j1")
        #expect(TextWidth.of(live.line) == 8192 + TextWidth.of(marker) && live.line.hasPrefix("日abcdef"))
        #expect(live.line.hasSuffix(" [line cut: 2097155 bytes in all]"))
        // Short lines and ones exactly at the cap are kept whole.
        let edge = String(repeating: "x", count: LogLine.maxColumns)
        #expect(LogLine(id: 1, ts: "", level: "info", line: edge, jobID: nil).line == edge)
        for _ in 0..<300 { _ = Update.apply(&s, .key(.right)) }
        let p = Self.pane(s)
        #expect(p.body.contains { $0.hasSuffix("abcdefgh" + marker) }, "\(p.body)")
    }

    @Test("Home and End bring a sideways-scrolled log back to column 1")
    func homeEndResetSideways() {
        guard case .object(var view) = Fixture.view() else { return }
        let long = "BEGIN " + String(repeating: "word ", count: 60) + "THE-END"
        view["log_tail"] = .array(Self.rows(1...3, text: { $0 == 2 ? long : "short \($0)" }))
        var s = Fixture.state(.object(view), width: 80, height: 24)
        for key in [Key.home, .end] {
            _ = Update.apply(&s, .key(.right))
            _ = Update.apply(&s, .key(.right))
            #expect(s.logShift == 62)
            _ = Update.apply(&s, .key(key))
            #expect(s.logShift == 0, "\(key)")
            let p = Self.pane(s)
            #expect(!p.title.contains("← from column"), "\(p.title)")
            #expect(p.body.contains { $0.contains("INFO     BEGIN word") }, "\(p.body)")
        }
    }

    @Test("the failure reason wraps at word boundaries over up to four rows, then ends with …")
    func failureReasonWraps() {
        let reason =
            "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity; 75.01 GiB already allocated) TAIL-MARK"
        var s = Self.fullTail(width: 60, height: 40, failure: reason)
        var g = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at = try! #require(g.firstIndex { $0.hasPrefix("Failed:") })
        #expect(
            Array(g[at..<at + 4]) == [
                "Failed: RuntimeError: CUDA out of memory. Tried to allocate",
                "2.00 GiB (GPU 0; 79.15 GiB total capacity; 75.01 GiB already",
                "allocated) TAIL-MARK",
                "LOG  (following)",
            ])
        s = Self.fullTail(width: 60, height: 40, failure: String(repeating: "very long reason ", count: 30))
        g = ScreenView.render(s).text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let at2 = try! #require(g.firstIndex { $0.hasPrefix("Failed:") })
        #expect(g[at2 + 3].hasSuffix("…"))
        #expect(g[at2 + 4].hasPrefix("LOG"))
    }

    @Test("the arrows are in the help overlay (from the key table) and the hint line")
    func discoverable() {
        var s = Self.fullTail()
        let hints = ScreenView.render(s).row(39)
        #expect(hints.contains("←→ long lines") && hints.contains("/ search"))
        _ = Update.apply(&s, .key(.char("?")))
        let help = ScreenView.render(s).text
        #expect(help.contains("→       scroll long log lines right (read past the edge)"))
        #expect(help.contains("←       scroll log lines back left"))
        var ascii = Self.fullTail()
        ascii.glyphs = .ascii
        #expect(ScreenView.render(ascii).row(39).contains("left/right long lines"))
    }

    @Test("wrap and drop measure columns, not characters")
    func textWidthHelpers() {
        #expect(TextWidth.wrap("aaa bbb ccc", 7) == ["aaa bbb", "ccc"])
        #expect(TextWidth.wrap("abcdefghij", 4) == ["abcd", "efgh", "ij"])
        #expect(TextWidth.wrap("one\ntwo three", 5) == ["one", "two", "three"])
        #expect(TextWidth.wrap("東京東京東京", 5) == ["東京", "東京", "東京"])
        // Wide characters break anywhere (no row is lost before them); a word wider than a row breaks where the room
        // ends, rather than moving to a row of its own first.
        #expect(TextWidth.wrap("⚠ error 503: 東京東京東京東京東京", 20) == ["⚠ error 503: 東京東", "京東京東京東京"])
        #expect(
            TextWidth.wrap("see /srv/data/a-very-long-path-name-that-goes-on", 20) == [
                "see /srv/data/a-very", "-long-path-name-that", "-goes-on",
            ])
        #expect(TextWidth.wrap("a b c d e f", 3, maxRows: 2) == ["a b", "c…"])
        // A full last row loses its last word, not the word's end.
        #expect(TextWidth.wrap("abcd efgh ijkl", 9, maxRows: 1) == ["abcd…"])
        #expect(TextWidth.wrap("abcdefghijkl", 6, maxRows: 1) == ["abcde…"], "one word: cut where the room ends")
    }

    @Test("a sentence is cut after its last whole word that fits, the mark right after it")
    func truncateAtWord() {
        let s = "frees space on the volume holding the data directory"
        #expect(TextWidth.truncateAtWord(s, 99) == s)
        #expect(TextWidth.truncateAtWord(s, 30) == "frees space on the volume…")
        #expect(TextWidth.truncateAtWord(s, 26) == "frees space on the volume…", "the word ends where the room does")
        #expect(TextWidth.truncateAtWord(s, 25) == "frees space on the…")
        #expect(TextWidth.truncateAtWord(s, 30, ellipsis: "...") == "frees space on the volume...")
        #expect(TextWidth.truncateAtWord(s, 27, ellipsis: "...") == "frees space on the...")
        #expect(TextWidth.truncateAtWord("directory", 5) == "dire…", "a first word wider than the room")
        // A comma or colon that led into the cut text goes with it.
        #expect(TextWidth.truncateAtWord("searching the whole log failed, again in 5 s", 34) == "searching the whole log failed…")
        #expect(TextWidth.truncateAtWord("disk: full", 8) == "disk…")
        #expect(TextWidth.truncateAtWord("東京 大阪 名古屋", 10) == "東京 大阪…")
        #expect(TextWidth.drop("東京abc", columns: 3) == "abc", "half a wide character goes entirely")
        #expect(TextWidth.drop("abc", columns: 5) == "")
    }

    @Test(
        "emoji with Emoji_Presentation (🚀 ✅ ⚡ 🟢 🥲 🫠) take two columns; text-style symbols (☺ ✓ ⚠ 🨀 🖥) and a flag's regional indicators one, as libc says"
    )
    func emojiWidths() {
        for c: Unicode.Scalar in [
            "🚀", "✅", "⚡", "⌚", "⏩", "⏰", "⏳", "◽", "☔", "♈", "♿", "⚓", "⚪", "⚽", "⛄",
            "⛎", "⛔", "⛪", "⛲", "⛵", "⛺", "⛽", "✊", "✨", "❌", "❎", "❓", "❗", "➕", "➰", "➿", "⬛", "⭐", "⭕",
            "🌀", "🙏", "🤖", "🧿", "🩰", "🫠", "東", "🟢", "🆗", "🀄",
        ] {
            #expect(TextWidth.of(c) == 2, "U+\(String(c.value, radix: 16, uppercase: true))")
        }
        for c: Unicode.Scalar in ["a", "☺", "✓", "⚠", "⛆", "✉", "🨀", "🙐", "→", "·", "é", "🇩", "🖥", "🛠", "🌡"] {
            #expect(TextWidth.of(c) == 1, "U+\(String(c.value, radix: 16, uppercase: true))")
        }
        #expect(TextWidth.of("🚀 go ✅") == 8)
        // A log line of emoji fills the pane exactly: the › marker lands in the last column.
        guard case .object(var view) = Fixture.view() else { return }
        view["log_tail"] = .array(Self.rows(1...1, text: { _ in String(repeating: "🚀✅⚡ ", count: 30) }))
        let s = Fixture.state(.object(view), width: 80, height: 24)
        let row = Self.pane(s).body.first { $0.contains("🚀") }!
        #expect(TextWidth.of(row) == 80 && row.hasSuffix("›"), "\(row)")
    }

    @Test("Grid.put draws controls, C1 and bidi controls as spaces and expands tabs to the text's next tab stop")
    func controlsAndTabs() {
        var g = Grid(width: 40, height: 2)
        let n = g.put(2, 0, "a\u{1B}b\u{9B}c\u{202E}d\u{2067}e\u{200F}f\u{061C}g\u{7}h")
        #expect(n == 15 && g.row(0) == "  a b c d e f g h")
        #expect(g.put(3, 1, "ab\tc\t\td") == 25)
        #expect(g.row(1) == "   ab      c               d")
        // A tab is clipped to the width given.
        var h = Grid(width: 10, height: 1)
        h.fill(h.bounds, "x")
        #expect(h.put(0, 0, "ab\tcd", maxWidth: 5) == 5)
        #expect(h.row(0) == "ab   xxxxx")
        #expect(TextWidth.of("ab\tc") == 9 && TextWidth.expandingTabs("ab\tc\t") == "ab      c       ")
        #expect(TextWidth.expandingTabs("東\tx") == "東      x")
        // Log lines keep their tabs as spaces, so sideways scrolling counts what is drawn.
        #expect(LogLine(id: 1, ts: "", level: "info", line: "a\tb", jobID: nil).line == "a       b")
    }

    @Test("combining marks take no column and stay on their base character (at most three); lone ones are dropped")
    func combiningMarks() {
        #expect(TextWidth.of("Cafe\u{301}") == 4 && TextWidth.of("x\u{20D7}\u{1DC4}\u{FE20}") == 1)
        var g = Grid(width: 20, height: 1)
        let n = g.put(0, 0, "\u{301}Cafe\u{301} x\u{300}\u{301}\u{302}\u{303}y 東\u{301}\u{1B}\u{301}z")
        #expect(n == 12)
        #expect(g[3, 0].scalar == "e" && g[3, 0].marks == ["\u{301}"])
        #expect(g[5, 0].marks == ["\u{300}", "\u{301}", "\u{302}"], "a fourth mark is dropped")
        #expect(g[8, 0].marks == ["\u{301}"] && g[10, 0].marks.isEmpty, "a wide base keeps it; a control does not")
        #expect(g.row(0) == "Cafe\u{301} x\u{300}\u{301}\u{302}y 東\u{301} z")
        // Overwriting a cell takes its marks away; ASCII terminals get none.
        _ = g.put(3, 0, "E")
        #expect(g[3, 0].marks.isEmpty)
        // An ASCII terminal gets '?' and a space for a wide character: both columns are written again.
        g.downgradeToASCII()
        #expect(g.row(0) == "CafE xy ?  z")
        #expect(g[8, 0].scalar == "?" && g[9, 0].scalar == " ")
    }

    @Test("invisible format characters (BOM, word joiner, tags, interlinear marks) take no column and are not drawn")
    func invisibleFormatCharacters() {
        let text = "\u{FEFF}here\u{2060} BOM \u{E0001}tag\u{FFF9}x\u{FFFB} \u{200B}z\u{FE0F}"
        #expect(TextWidth.of(text) == 15)
        var g = Grid(width: 20, height: 1)
        #expect(g.put(0, 0, text) == 15)
        #expect(g.row(0) == "here BOM tagx z")
        #expect(!g.row(0).unicodeScalars.contains { $0.value > 0x7E })
        // Every script's combining marks stay on their letter; Hangul fillers, deprecated format characters,
        // musical format controls and variation selectors are not drawn.
        #expect(TextWidth.of("नमस्ते") == 4 && TextWidth.of("שָׁלוֹם") == 4 && TextWidth.of("สวัสดี") == 4)
        #expect(TextWidth.of("a\u{115F}\u{1160}b\u{206A}\u{1D173}c\u{FE0F}\u{034F}") == 3)
        var h = Grid(width: 20, height: 1)
        #expect(h.put(0, 0, "नमस्ते ok") == 7)
        #expect(h.row(0) == "नमस्ते ok")
        #expect(h[2, 0].scalar == "स" && h[2, 0].marks == ["\u{94D}"])
        // Pictographs as libc and tmux measure them: emoji shown as emoji by default take two columns, text-style
        // symbols and each regional indicator of a flag one.
        for (text, width) in [("🟢", 2), ("🆗", 2), ("🀄", 2), ("🚀", 2), ("🖥", 1), ("🛠", 1), ("🌡", 1), ("🇯🇵", 2), ("🈁", 2)] {
            #expect(TextWidth.of(text) == width, "\(text)")
        }
        var v = Grid(width: 20, height: 1)
        _ = v.put(0, 0, "\u{2764}\u{FE0F}x")
        #expect(v.row(0) == "\u{2764}x")
    }

    @Test("a BATCH/JOB target splits at the first '/': batch ids cannot hold one, job ids may")
    func targets() {
        #expect(Target.parse("my run ü-1a2b/fold #2? of/3") == .job("my run ü-1a2b", "fold #2? of/3"))
        #expect(Target.parse("my run ü-1a2b") == .batch("my run ü-1a2b"))
    }
}

/// Log lines not written today carry their date, so yesterday's 23:59 never reads as tonight's (`JobPanels.logDates`).
@Suite("Log pane: dates on lines from another day", .ownThread)
struct LogDateTests {
    static func state(_ stamps: [String], now: String) -> AppState {
        guard case .object(var view) = Fixture.view(status: "running") else { fatalError() }
        view["log_tail"] = .array(
            stamps.enumerated().reversed().map { i, ts in
                ["id": JSON(i + 1), "ts": .string(ts), "job_id": "j1", "level": "info", "line": .string("line \(i + 1)")]
            })
        var s = Fixture.state(.object(view), width: 100, height: 40)
        s.now = Timestamp(iso: now)!.seconds
        return s
    }

    @Test(
        "a run that went on over midnight: yesterday's lines show their date, today's are padded to line up; a log of today only shows times"
    )
    func overMidnight() {
        let s = Self.state(["2026-04-22T23:59:58Z", "2026-04-23T00:00:01Z"], now: "2026-04-23T09:10:00Z")
        #expect(LogPaneTests.pane(s).body.prefix(2) == ["Apr 22 23:59:58 INFO     line 1", "       00:00:01 INFO     line 2"])
        let today = Self.state(["2026-04-23T08:59:58Z", "2026-04-23T09:00:01Z"], now: "2026-04-23T09:10:00Z")
        #expect(LogPaneTests.pane(today).body.prefix(2) == ["08:59:58 INFO     line 1", "09:00:01 INFO     line 2"])
        // Opened the next day: the lines are all yesterday's.
        let later = Self.state(["2026-04-23T08:59:58Z", "2026-04-23T09:00:01Z"], now: "2026-04-24T07:00:00Z")
        #expect(LogPaneTests.pane(later).body.first == "Apr 23 08:59:58 INFO     line 1")
    }

    @Test(
        "a log read back in another year: its lines carry their year (ISO), this year's their date, today's their time, padded to line up, as on the web page; the sideways scroll counts the wider column"
    )
    func anotherYear() {
        let s = Self.state(
            ["2025-12-31T23:59:58Z", "2026-01-02T10:00:01Z", "2026-01-03T00:00:01Z"], now: "2026-01-03T09:10:00Z")
        #expect(
            Array(LogPaneTests.pane(s).body.prefix(3)) == [
                "2025-12-31 23:59:58 INFO     line 1", "    Jan 02 10:00:01 INFO     line 2",
                "           00:00:01 INFO     line 3",
            ])
        #expect(JobPanels.logPrefixWidth(JobPanels.logDates(s.filteredLogs, now: s.now)) == 19 + 1 + Fmt.levelWidth + 1)
        // The same lines read on New Year's Eve: this year's, so no year.
        let eve = Self.state(["2025-12-30T23:59:58Z", "2025-12-31T00:00:01Z"], now: "2025-12-31T09:10:00Z")
        #expect(LogPaneTests.pane(eve).body.prefix(2) == ["Dec 30 23:59:58 INFO     line 1", "       00:00:01 INFO     line 2"])
    }
}
