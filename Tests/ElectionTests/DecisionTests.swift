import Testing
import ZooKeeper

@testable import Election

@Suite(.timeLimit(.minutes(2))) struct DecisionTests {
    @Test func candidatesAreOrderedBySequenceNotByName() {
        let names = ["zz_1_0000000003", "aa_2_0000000010", "mm_3_0000000001", "not-a-candidate"]
        #expect(Decisions.ordered(names) == ["mm_3_0000000001", "zz_1_0000000003", "aa_2_0000000010"])
    }

    @Test func lowestLeadsAndOthersWatchOnlyTheirImmediatePredecessor() {
        let names = ["a_0000000005", "b_0000000002", "c_0000000009", "d_0000000007"]
        #expect(Decisions.position(ofPrefix: "b_", in: names) == .leader(own: "b_0000000002"))
        #expect(
            Decisions.position(ofPrefix: "c_", in: names)
                == .follower(own: "c_0000000009", predecessor: "d_0000000007"))
        #expect(
            Decisions.position(ofPrefix: "a_", in: names)
                == .follower(own: "a_0000000005", predecessor: "b_0000000002"))
        #expect(Decisions.position(ofPrefix: "x_", in: names) == .absent)
    }

    func health(_ state: ZKConnectionState, disconnectedAgo: Duration? = nil, at now: ContinuousClock.Instant)
        -> ZKHealth
    {
        ZKHealth(
            state: state, lastContact: now - .seconds(1), disconnectedSince: disconnectedAgo.map { now - $0 },
            negotiatedTimeout: .seconds(4))
    }

    @Test func sessionCountsAsLostOnOwnClockAfterTheTimeout() {
        let now = ContinuousClock.now
        #expect(Decisions.verdict(health(.connected, at: now), now: now) == .connected)
        #expect(Decisions.verdict(health(.expired, disconnectedAgo: .zero, at: now), now: now) == .lost)
        #expect(
            Decisions.verdict(health(.connecting, disconnectedAgo: .seconds(1), at: now), now: now)
                == .suspended(until: now + .seconds(3)))
        #expect(Decisions.verdict(health(.connecting, disconnectedAgo: .seconds(4), at: now), now: now) == .lost)
    }

    @Test func backoffGrowsIsCappedAndJittered() {
        for attempt in 0..<30 {
            let delay = Decisions.backoff(attempt: attempt)
            let ceiling = min(Duration.milliseconds(100) * (1 << min(attempt, 16)), Decisions.backoffCap)
            #expect(delay <= ceiling)
            #expect(delay >= ceiling / 2)
        }
    }

    @Test func candidatePrefixesAreUniquePerSessionAndCarryTheReplica() {
        let a = Candidate.forSession(replica: "r1", sessionID: 0x1000_0073_ac20_0001)
        let b = Candidate.forSession(replica: "r1", sessionID: 0x1000_0073_ac20_0002)
        #expect(a.prefix == "r1_10000073ac200001_")
        #expect(a.prefix != b.prefix)
        #expect(Candidate.forSession(replica: "r1", sessionID: -1).prefix == "r1_ffffffffffffffff_")
    }

    @Test func everyStateHasATypeAndTheDiagramHasNoDeadEnds() {
        for name in StateName.allCases {
            #expect(StateRegistry.types[name]?.name == name)
            #expect(StateRegistry.edges[name] != nil)
            if name != .stopping {
                #expect(StateRegistry.allows(name, .stopping), "every state must lead to Stopping")
            }
        }
        #expect(!StateRegistry.allows(.initializing, .leader))
    }
}
