import Testing

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct ConfigTests {
    let base: [ElectionConfig.Setting: String] = [.zkServers: "127.0.0.1:2181"]

    @Test func defaultsApplyWhenNothingIsSet() throws {
        let config = try ElectionConfig.resolve(flags: base, environment: [:], hostName: "host-a")
        #expect(config.leaderTimeout == .seconds(10))
        #expect(config.attempterTimeout == .seconds(10))
        #expect(config.sessionTimeout == .seconds(10))
        #expect(config.fileDir == "/tmp/election")
        #expect(config.storageCapacity == 10)
        #expect(config.electionPath == "/election")
        #expect(config.replicaID == "host-a")
    }

    @Test func flagBeatsEnvironmentBeatsDefault() throws {
        let env = ["ELECTION_LEADER_TIMEOUT": "3s", "ELECTION_STORAGE_CAPACITY": "4", "ELECTION_ZK_SERVERS": "h:1"]
        let fromEnv = try ElectionConfig.resolve(flags: [:], environment: env, hostName: "h")
        #expect(fromEnv.leaderTimeout == .seconds(3))
        #expect(fromEnv.storageCapacity == 4)
        #expect(fromEnv.zkServers == "h:1")
        let fromFlag = try ElectionConfig.resolve(
            flags: [.leaderTimeout: "250ms", .zkServers: "k:2"], environment: env, hostName: "h")
        #expect(fromFlag.leaderTimeout == .milliseconds(250))
        #expect(fromFlag.zkServers == "k:2")
        #expect(fromFlag.storageCapacity == 4)
    }

    @Test func environmentVariableNamesFollowTheFlagNames() {
        #expect(ElectionConfig.Setting.zkServers.environmentVariable == "ELECTION_ZK_SERVERS")
        #expect(ElectionConfig.Setting.storageCapacity.environmentVariable == "ELECTION_STORAGE_CAPACITY")
        #expect(ElectionConfig.Setting.replicaID.environmentVariable == "ELECTION_REPLICA_ID")
    }

    @Test func acceptsServerListsWithChrootAndIPv6() throws {
        for servers in ["a:1", "a:1,b:2,c:3", "a:2181/app/election", "[::1]:2181", "zk-0.zk.svc:2181"] {
            let config = try ElectionConfig.resolve(flags: [.zkServers: servers], environment: [:], hostName: "h")
            #expect(config.zkServers == servers)
        }
    }

    static let invalid: [(ElectionConfig.Setting, String)] = [
        (.zkServers, ""),
        (.zkServers, "localhost"),
        (.zkServers, "localhost:"),
        (.zkServers, ":2181"),
        (.zkServers, "a:2181,,b:2181"),
        (.zkServers, "a:0"),
        (.zkServers, "a:65536"),
        (.zkServers, "a:http"),
        (.zkServers, "a:2181/"),
        (.zkServers, "a:2181/chroot/"),
        (.leaderTimeout, "10"),
        (.leaderTimeout, "0s"),
        (.leaderTimeout, "-1s"),
        (.leaderTimeout, "ten seconds"),
        (.leaderTimeout, "5d"),
        (.attempterTimeout, ""),
        (.attempterTimeout, "1x"),
        (.sessionTimeout, "0ms"),
        (.sessionTimeout, "s"),
        (.storageCapacity, "0"),
        (.storageCapacity, "-3"),
        (.storageCapacity, "many"),
        (.storageCapacity, "1.5"),
        (.fileDir, "a\0b"),
        (.electionPath, "election"),
        (.electionPath, "/"),
        (.electionPath, "/election/"),
        (.electionPath, "/a//b"),
        (.electionPath, "/a/../b"),
        (.electionPath, "/zookeeper/x"),
        (.replicaID, ""),
        (.replicaID, "a/b"),
        (.replicaID, "has space"),
        (.replicaID, String(repeating: "x", count: 129)),
    ]

    @Test(arguments: Self.invalid)
    func invalidFlagValueNamesTheFlagAndItsEnvironmentVariable(setting: ElectionConfig.Setting, value: String) {
        var flags = base
        flags[setting] = value
        do {
            _ = try ElectionConfig.resolve(flags: flags, environment: [:], hostName: "h")
            Issue.record("accepted \(setting.flag)=\(value)")
        } catch {
            #expect(error.flag == setting.flag)
            #expect(error.environmentVariable == setting.environmentVariable)
            #expect(error.description.contains(setting.flag))
            #expect(error.description.contains(setting.environmentVariable))
            #expect(!error.description.contains("\n"))
        }
    }

    @Test(arguments: Self.invalid)
    func invalidEnvironmentValueIsRejectedToo(setting: ElectionConfig.Setting, value: String) {
        var env = ["ELECTION_ZK_SERVERS": "a:1"]
        env[setting.environmentVariable] = value
        #expect(throws: ConfigError.self) {
            try ElectionConfig.resolve(flags: [:], environment: env, hostName: "h")
        }
    }

    @Test func missingServersIsAnError() {
        #expect(throws: ConfigError(.zkServers, "is required")) {
            try ElectionConfig.resolve(flags: [:], environment: [:], hostName: "h")
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct DurationTests {
    @Test(arguments: [
        ("10s", Duration.seconds(10)), ("500ms", .milliseconds(500)), ("1m30s", .seconds(90)),
        ("1h", .seconds(3600)), ("2h15m", .seconds(8100)), ("1.5s", .milliseconds(1500)), ("0.25m", .seconds(15)),
    ])
    func parsesUnitsAndCombinations(text: String, expected: Duration) {
        #expect(DurationParser.parse(text) == expected)
    }

    @Test(arguments: ["", "10", "s", "1 s", "1sec", "-1s", "1d", "1s2", "ms", "1e3s", ".s"])
    func rejectsMalformed(text: String) {
        #expect(DurationParser.parse(text) == nil)
    }

    @Test func formatRoundTrips() {
        for text in ["1h2m3s", "250ms", "10s", "1m30s", "1s500ms"] {
            #expect(DurationParser.format(DurationParser.parse(text)!) == text)
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct StateFileConfigTests {
    @Test func stateFileDefaultsBesideTheFilesAndCanBeDisabled() throws {
        let base: [ElectionConfig.Setting: String] = [.zkServers: "a:1", .fileDir: "/data", .replicaID: "r7"]
        #expect(
            try ElectionConfig.resolve(flags: base, environment: [:], hostName: "h").stateFile
                == "/data/.election-session-r7")
        var off = base
        off[.stateFile] = "none"
        #expect(try ElectionConfig.resolve(flags: off, environment: [:], hostName: "h").stateFile == nil)
        #expect(
            try ElectionConfig.resolve(flags: base, environment: ["ELECTION_STATE_FILE": "/run/e"], hostName: "h")
                .stateFile == "/run/e")
        var empty = base
        empty[.stateFile] = ""
        #expect(throws: ConfigError.self) { try ElectionConfig.resolve(flags: empty, environment: [:], hostName: "h") }
    }

    @Test func anEmptyFileDirWritesNoFileAndHasNoDefaultStateFile() throws {
        let none = try ElectionConfig.resolve(
            flags: [.zkServers: "a:1", .fileDir: "", .replicaID: "r7"], environment: [:], hostName: "h")
        #expect(!none.writesFiles)
        #expect(none.stateFile == nil)
        let named = try ElectionConfig.resolve(
            flags: [.zkServers: "a:1", .fileDir: "", .replicaID: "r7", .stateFile: "/run/e"], environment: [:],
            hostName: "h")
        #expect(named.stateFile == "/run/e")
    }
}
