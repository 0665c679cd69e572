import Testing

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct JSONAndClockTests {
    @Test func fileContentRoundTripsThroughItsJSON() throws {
        let identity = Identity(replica: "r-1", host: "h\"ost\\x", pid: 77, startedMillis: 0)
        let content = FileContent(identity: identity, token: 4_294_967_302, counter: 17, timeMillis: 1_764_441_297_414)
        let text = String(decoding: content.json, as: UTF8.self)
        #expect(
            text
                == #"{"counter":17,"host":"h\"ost\\x","pid":77,"replica":"r-1","time":"2025-11-29T18:34:57.414Z","token":4294967302}"#
                + "\n")
        #expect(FileContent(json: content.json) == content)
    }

    @Test func truncatedOrForeignJSONIsRejected() {
        let whole = FileContent(identity: Identity(replica: "r", host: "h", pid: 1), token: 1, counter: 1).json
        for cut in [0, 1, 10, whole.count - 2, whole.count - 1] {
            #expect(FileContent(json: Array(whole.prefix(cut))) == nil, "accepted \(cut) of \(whole.count) bytes")
        }
        #expect(FileContent(json: Array("{\"a\":1}\n".utf8)) == nil)
        #expect(FileContent(json: Array("[1,2]\n".utf8)) == nil)
    }

    @Test func identityIsJSONWithReplicaHostPidAndStart() {
        let identity = Identity(replica: "r1", host: "node-a", pid: 42, startedMillis: 86_400_000)
        #expect(
            String(decoding: identity.json, as: UTF8.self)
                == #"{"host":"node-a","pid":42,"replica":"r1","started":"1970-01-02T00:00:00.000Z"}"#)
    }

    @Test func wallClockFormatsAndParsesRFC3339() {
        for millis: Int64 in [0, 1_764_441_297_414, 951_782_400_999] {
            #expect(WallClock.parse(WallClock.format(millis: millis)) == millis)
        }
        #expect(WallClock.parse("2026-11-29T18:34:57Z") == 1_795_977_297_000)
        #expect(WallClock.parse("2026-11-29T18:34:57.5Z") == 1_795_977_297_500)
        for bad in ["", "2026-11-29", "2026-11-29T18:34:57.414", "2026-11-29 18:34:57.414Z", "2026-11-29T18:34:57.Z"] {
            #expect(WallClock.parse(bad) == nil, "accepted \(bad)")
        }
    }
}
