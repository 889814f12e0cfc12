import Shared
import Testing

@Suite("SSE parser (WHATWG event-stream rules)")
struct SSEParserTests {
    func events(_ chunks: [String]) -> [SSEMessage] {
        var p = SSEParser()
        return chunks.flatMap { p.feed(Array($0.utf8)) }
    }

    func ev(_ id: String, _ type: String, _ data: String) -> SSEMessage {
        .event(SSEEvent(id: id, type: type, data: data))
    }

    @Test("LF, CRLF and CR line ends all work")
    func lineEnds() {
        #expect(events(["id: 1\nevent: a\ndata: x\n\n"]) == [ev("1", "a", "x")])
        #expect(events(["id: 1\r\nevent: a\r\ndata: x\r\n\r\n"]) == [ev("1", "a", "x")])
        #expect(events(["id: 1\revent: a\rdata: x\r\r"]) == [ev("1", "a", "x")])
    }

    @Test("a CRLF split across two reads is one line end")
    func crlfSplit() {
        #expect(events(["data: x\r", "\n\r", "\n"]) == [ev("", "message", "x")])
    }

    @Test("multi-line data joins with LF; the event type defaults to message")
    func multiLineData() {
        #expect(events(["data: a\ndata: b\ndata\n\n"]) == [ev("", "message", "a\nb\n")])
    }

    @Test("comments are reported and do not dispatch")
    func comments() {
        #expect(events([": keepalive\n\n"]) == [.comment("keepalive")])
        #expect(events([":no space\ndata: x\n\n"]) == [.comment("no space"), ev("", "message", "x")])
    }

    @Test("an id without data updates the last id but dispatches nothing; later events carry it")
    func idWithoutData() {
        var p = SSEParser()
        #expect(p.feed(Array("id: 7\n\n".utf8)).isEmpty)
        #expect(p.lastEventID == "7")
        #expect(p.feed(Array("data: y\n\n".utf8)) == [ev("7", "message", "y")])
        // An id containing NUL is ignored.
        #expect(p.feed(Array("id: a\u{0}b\ndata: z\n\n".utf8)) == [ev("7", "message", "z")])
    }

    @Test("retry takes digits only")
    func retry() {
        #expect(events(["retry: 2000\n", "retry: 2x\n\n"]) == [.retry(2000)])
    }

    @Test("a frame split at every byte parses the same")
    func byteByByte() {
        let text = "id: 42\nevent: job_epoch\ndata: {\"a\":1}\n\n"
        var p = SSEParser()
        var out: [SSEMessage] = []
        for b in text.utf8 { out += p.feed([b]) }
        #expect(out == [ev("42", "job_epoch", "{\"a\":1}")])
    }

    @Test("a BOM at the start is skipped, once")
    func bom() {
        var p = SSEParser()
        let out = p.feed([0xEF, 0xBB]) + p.feed([0xBF] + Array("data: x\n\n".utf8))
        #expect(out == [ev("", "message", "x")])
    }

    @Test(
        "a field name without a colon and unknown fields are handled; one leading space is stripped")
    func fields() {
        #expect(events(["data:  two spaces\nfoo: bar\n\n"]) == [ev("", "message", " two spaces")])
        #expect(events(["event\ndata: x\n\n"]) == [ev("", "message", "x")])
    }

    @Test("an unterminated event at the end is not dispatched")
    func unterminated() {
        #expect(events(["data: x\n"]) == [])
    }

    @Test("the encoder's frames round-trip through the parser")
    func roundTrip() {
        let frame = SSEEncoder.frame(id: 5, event: "log_line", data: "line1\nline2")
        #expect(events([frame]) == [ev("5", "log_line", "line1\nline2")])
    }
}
