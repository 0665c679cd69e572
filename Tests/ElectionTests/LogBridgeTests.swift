import Logging
import Testing

@testable import ZooKeeper

@Suite(.timeLimit(.minutes(2))) struct LogBridgeTests {
    @Test func parsesTheLevelAndCallSiteOutOfTheCLibrarysLine() {
        let line =
            "2026-11-29 18:39:46,260:31337(0x7f00):ZOO_ERROR@handle_socket_error_msg@1290: Socket 127.0.0.1:1 zk retcode=-4"
        let parsed = ZKLogBridge.parse(line)
        #expect(parsed.level == .warning, "library errors are demoted one step")
        #expect(parsed.key == "ZOO_ERROR@handle_socket_error_msg")
        #expect(parsed.message == "Socket 127.0.0.1:1 zk retcode=-4")
        #expect(ZKLogBridge.parse("x:ZOO_INFO@zookeeper_init@1: Initiating").level == .debug)
        #expect(ZKLogBridge.parse("no marker at all").level == .info)
    }
}
