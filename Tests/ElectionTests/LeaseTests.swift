import Testing
import ZooKeeper

@testable import Election

/// The leader's lease, without I/O or sleeps: every instant is made up.
@Suite(.timeLimit(.minutes(1))) struct LeaseTests {
    let t0 = ContinuousClock.now
    let timeout = Duration.seconds(4)

    func health(
        _ state: ZKConnectionState = .connected, connectedAt: ContinuousClock.Instant? = nil,
        disconnectedAt: ContinuousClock.Instant? = nil
    ) -> ZKHealth {
        ZKHealth(
            state: state, lastContact: t0, disconnectedSince: disconnectedAt,
            connectedSince: connectedAt ?? t0 - .seconds(60), negotiatedTimeout: timeout)
    }

    @Test func aConfirmationSentAfterTheWriteFellDueAllowsTheWriteForHalfTheSessionTimeout() {
        var lease = Lease(due: t0)
        #expect(!lease.mayWrite(health(), now: t0), "never confirmed")
        lease.confirmed(sentAt: t0 + .milliseconds(5))
        #expect(lease.mayWrite(health(), now: t0 + .milliseconds(10)))
        #expect(lease.mayWrite(health(), now: t0 + .milliseconds(5) + .milliseconds(1999)))
        #expect(lease.validUntil(health()) == t0 + .milliseconds(5) + .seconds(2))
    }

    @Test func aPauseBetweenTheConfirmationAndTheWriteForbidsTheWrite() {
        var lease = Lease(due: t0)
        lease.confirmed(sentAt: t0)
        // The process was paused after confirming: when it wakes, half the timeout is gone.
        #expect(!lease.mayWrite(health(), now: t0 + .seconds(2)))
        #expect(!lease.holds(health(), now: t0 + .seconds(30)))
    }

    @Test func aConfirmationOlderThanTheTimerDoesNotCoverTheNextWrite() {
        var lease = Lease(due: t0)
        lease.confirmed(sentAt: t0)
        #expect(lease.mayWrite(health(), now: t0 + .milliseconds(100)))
        lease.writeFellDue(at: t0 + .milliseconds(500))
        #expect(!lease.mayWrite(health(), now: t0 + .milliseconds(600)), "confirmed before the timer fired")
        #expect(lease.holds(health(), now: t0 + .milliseconds(600)), "the leadership itself is still proven")
        lease.confirmed(sentAt: t0 + .milliseconds(550))
        #expect(lease.mayWrite(health(), now: t0 + .milliseconds(600)))
    }

    @Test func aReconnectAfterTheConfirmationVoidsIt() {
        var lease = Lease(due: t0)
        lease.confirmed(sentAt: t0)
        let reconnected = health(connectedAt: t0 + .milliseconds(50))
        #expect(!lease.mayWrite(reconnected, now: t0 + .milliseconds(100)))
        #expect(!lease.holds(reconnected, now: t0 + .milliseconds(100)))
        #expect(lease.validUntil(reconnected) == nil)
        lease.confirmed(sentAt: t0 + .milliseconds(60))
        #expect(lease.mayWrite(reconnected, now: t0 + .milliseconds(100)))
    }

    @Test func nothingIsAllowedWhileDisconnectedOrAfterTheSessionEnded() {
        var lease = Lease(due: t0)
        lease.confirmed(sentAt: t0)
        let now = t0 + .milliseconds(10)
        #expect(!lease.mayWrite(health(.connecting, disconnectedAt: t0 + .milliseconds(5)), now: now))
        #expect(!lease.mayWrite(health(.expired, disconnectedAt: t0 + .milliseconds(5)), now: now))
        #expect(!lease.mayWrite(health(.closed, disconnectedAt: t0 + .milliseconds(5)), now: now))
        #expect(!lease.mayWrite(health(.authFailed, disconnectedAt: t0 + .milliseconds(5)), now: now))
    }

    @Test func aConfirmationFromTheFutureOrAnOlderOneNeverExtendsTheLease() {
        var lease = Lease(due: t0)
        lease.confirmed(sentAt: t0 + .seconds(1))
        #expect(!lease.holds(health(), now: t0), "now is before the confirmation was sent")
        lease.confirmed(sentAt: t0)
        #expect(lease.confirmedAt == t0 + .seconds(1), "an older reply does not move the lease back")
    }
}

/// The log rule for a fault that repeats across whole recovery cycles.
@Suite(.timeLimit(.minutes(1))) struct FaultStreakTests {
    @Test func theSecondSameFaultInARowIsReportedOnceThenQuietUntilRecovery() {
        var streak = FaultStreak()
        let fault = TransitionReason(.writeFailed)
        let t0 = ContinuousClock.now
        #expect(streak.record(to: .failover, reason: fault, failures: 1, now: t0) == .normal)
        #expect(streak.record(to: .initializing, reason: TransitionReason(.retry), failures: 1, now: t0) == .normal)
        #expect(streak.record(to: .failover, reason: fault, failures: 2, now: t0) == .persists)
        #expect(streak.record(to: .initializing, reason: TransitionReason(.retry), failures: 2, now: t0) == .quiet)
        #expect(streak.record(to: .failover, reason: fault, failures: 3, now: t0) == .quiet)
        #expect(
            streak.record(to: .leader, reason: TransitionReason(.lowestCandidate), failures: 0, now: t0) == .normal)
        #expect(streak.record(to: .failover, reason: fault, failures: 0, now: t0) == .normal)
    }

    @Test func aFaultThatLastsIsRemindedOfOnceAMinuteNotOnEveryCycle() {
        var streak = FaultStreak()
        let fault = TransitionReason(.fileDirUnusable)
        let t0 = ContinuousClock.now
        #expect(streak.record(to: .failover, reason: fault, failures: 1, now: t0) == .normal)
        #expect(streak.record(to: .failover, reason: fault, failures: 2, now: t0 + .seconds(1)) == .persists)
        #expect(streak.record(to: .failover, reason: fault, failures: 3, now: t0 + .seconds(59)) == .quiet)
        #expect(
            streak.record(to: .failover, reason: fault, failures: 4, now: t0 + .seconds(61))
                == .reminder(repeats: 3, lasting: .seconds(61)))
        #expect(streak.record(to: .failover, reason: fault, failures: 5, now: t0 + .seconds(100)) == .quiet)
        #expect(
            streak.record(to: .failover, reason: fault, failures: 6, now: t0 + .seconds(121))
                == .reminder(repeats: 5, lasting: .seconds(121)))
    }
}
