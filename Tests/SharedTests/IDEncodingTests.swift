import Shared
import Testing

@Suite("Ids in URLs and channel names; the log search rule")
struct IDEncodingTests {
    @Test("encode keeps only unreserved ASCII; decode inverts it and any other client's escapes")
    func roundTrip() {
        #expect(IDEncoding.encode("sdk-3f2a_b.c~") == "sdk-3f2a_b.c~")
        #expect(IDEncoding.encode("my run") == "my%20run")
        #expect(IDEncoding.encode("ü") == "%C3%BC", "non-ASCII letters are bytes, never raw")
        #expect(IDEncoding.encode("a/b?c#d:e,f%g+h") == "a%2Fb%3Fc%23d%3Ae%2Cf%25g%2Bh")
        for id in ["my run ü 東京", "a/b?c#d:e,f%g+h", "", "🙂 emoji", "tab\there"] {
            #expect(IDEncoding.decode(IDEncoding.encode(id)) == id)
        }
        #expect(IDEncoding.decode("%c3%bc") == "ü")
        #expect(IDEncoding.decode("a+b") == "a+b", "'+' is a space only in HTML forms")
        #expect(IDEncoding.decode("50%") == nil)
        #expect(IDEncoding.decode("%zz") == nil)
        #expect(IDEncoding.decode("%C3") == nil, "not UTF-8")
    }

    @Test("channel names encode their ids, parse back, and still read what older clients wrote")
    func channels() throws {
        let c = Channel.job("a:b,c", "x y")
        #expect(c.name == "job:a%3Ab%2Cc:x%20y")
        #expect(try Channel(parsing: c.name) == c)
        #expect(try Channel(parsing: "batch:b1") == .batch("b1"))
        #expect(try Channel(parsing: "batch:my run") == .batch("my run"))
        #expect(try Channel(parsing: "job:b1:a:b") == .job("b1", "a:b"), "a raw ':' belongs to the job id")
        #expect(Channel.list([.batch("b 1"), .job("b", "j")]) == "batch:b%201,job:b:j")
        for bad in ["batch:", "job:b", "job::j", "nope:b", "batch:50%zz"] {
            #expect(throws: ChannelSyntaxError.self, "\(bad)") { try Channel(parsing: bad) }
        }
    }

    @Test("a log line matches when its text or level contains the query, ignoring case")
    func logFilter() {
        let f = LogFilter("ERROR")
        #expect(f.matches(line: "saw an error", level: "info"))
        #expect(f.matches(line: "loss is nan", level: "error"))
        #expect(!f.matches(line: "fine", level: "warning"))
        #expect(LogFilter("ÜBER").matches(line: "über alles", level: "info"))
        #expect(LogFilter("").matches(line: "anything", level: "debug"))
    }
}
