import Testing
import ZooKeeper

@testable import Election

/// Every rule of the leader's loop, on the value alone (`LeaderLoop`): no session,
/// no files, no command, no sleeps. Each instant is made up; each outcome of an
/// action is an event the test chooses.
@Suite struct LeaderLoopTests {
    let t0 = ContinuousClock.now
    let timeout = Duration.seconds(4)
    let every = Duration.seconds(1)

    var connected: ZKHealth {
        ZKHealth(
            state: .connected, lastContact: t0, disconnectedSince: nil, connectedSince: t0 - .seconds(60),
            negotiatedTimeout: timeout)
    }

    /// A leader whose Attempter listing (sent at `confirmedAt`) confirmed its first write.
    func loop(
        confirmedAt: ContinuousClock.Instant? = nil, command: Bool = false, policy: ExitPolicy = .resign,
        failures: Int = 0
    ) -> LeaderLoop {
        let at = confirmedAt ?? t0
        return LeaderLoop(
            token: 7, counter: 1, lease: Lease(due: at, confirmedAt: at), now: t0, leaderTimeout: every,
            sessionTimeout: timeout, commandConfigured: command, exitPolicy: policy, commandFailures: failures,
            backoff: { .seconds(1 << $0) })
    }

    func file(_ counter: Int64) -> ElectionFileName { ElectionFileName(token: 7, counter: counter) }

    /// Runs the first pass (write, guard or command, watch) up to its first wait.
    func settled(_ value: inout LeaderLoop, command: Bool = false) -> ContinuousClock.Instant? {
        guard case .write = value.next(now: t0, health: connected, event: .done) else { return nil }
        var action = value.next(now: t0, health: connected, event: .wrote)
        if command {
            guard case .startCommand = action else { return nil }
            action = value.next(now: t0, health: connected, event: .commandStarted(at: t0))
        } else {
            guard action == .guardSession else { return nil }
            action = value.next(now: t0, health: connected, event: .sessionGuarded)
        }
        guard action == .armWatch else { return nil }
        guard case .wait(let until) = value.next(now: t0, health: connected, event: .watchArmed(resignRequested: false))
        else { return nil }
        return until
    }

    // MARK: writes and the lease

    @Test func theFirstWriteFollowsTheHandoverWithoutAnotherRoundTrip() {
        var value = loop()
        let first = value.next(now: t0 + .milliseconds(3), health: connected, event: .done)
        #expect(first == .write(file(1), covering: Lease(due: t0, confirmedAt: t0)))
    }

    @Test func aLeaderWithoutAConfirmedListingConfirmsFirst() {
        var value = LeaderLoop(
            token: 7, counter: 1, lease: Lease(due: t0), now: t0, leaderTimeout: every, sessionTimeout: timeout,
            commandConfigured: false, exitPolicy: .resign, commandFailures: 0, backoff: { _ in .zero })
        #expect(value.next(now: t0, health: connected, event: .done) == .confirm)
        let sent = t0 + .milliseconds(1)
        let write = value.next(now: sent + .milliseconds(2), health: connected, event: .confirmed(sentAt: sent))
        #expect(write == .write(file(1), covering: Lease(due: t0, confirmedAt: sent)))
    }

    @Test func eachLaterWriteNeedsAConfirmationSentAfterItFellDue() {
        var value = loop()
        #expect(settled(&value) == t0 + every)
        // The timer fires: the confirmation of t0 was sent before this write fell due.
        let due = t0 + every
        #expect(value.next(now: due, health: connected, event: .woke(.timer)) == .confirm)
        let sent = due + .milliseconds(1)
        let write = value.next(now: sent + .milliseconds(2), health: connected, event: .confirmed(sentAt: sent))
        #expect(write == .write(file(2), covering: Lease(due: due, confirmedAt: sent)))
    }

    @Test func aConfirmationThatLeavesNoLeaseEndsTheTermWithoutAWrite() {
        var value = loop()
        _ = settled(&value)
        let due = t0 + every
        _ = value.next(now: due, health: connected, event: .woke(.timer))
        // Sent in time, but back only when half the session timeout has passed.
        let action = value.next(
            now: due + .seconds(2) + .milliseconds(1), health: connected, event: .confirmed(sentAt: due))
        #expect(
            action == .end(.leaseTrouble(.notConfirmed, "leadership not confirmed within half the session timeout")))
    }

    @Test func aConfirmationFromBeforeAReconnectCoversNothing() {
        var value = loop()
        _ = settled(&value)
        let due = t0 + every
        _ = value.next(now: due, health: connected, event: .woke(.timer))
        var reconnected = connected
        reconnected.connectedSince = due + .milliseconds(5)
        let action = value.next(
            now: due + .milliseconds(10), health: reconnected, event: .confirmed(sentAt: due + .milliseconds(1)))
        #expect(
            action == .end(.leaseTrouble(.notConfirmed, "leadership not confirmed within half the session timeout")))
    }

    @Test func aLostOrLateConfirmationEndsTheTerm() {
        var gone = loop()
        _ = settled(&gone)
        _ = gone.next(now: t0 + every, health: connected, event: .woke(.timer))
        #expect(
            gone.next(now: t0 + every, health: connected, event: .confirmationFailed(gone: true))
                == .end(.candidateGone))
        var late = loop()
        _ = settled(&late)
        _ = late.next(now: t0 + every, health: connected, event: .woke(.timer))
        #expect(
            late.next(now: t0 + every, health: connected, event: .confirmationFailed(gone: false))
                == .end(.leaseTrouble(.notConfirmed, LeaderLoop.late)))
    }

    @Test func aWriteThatOverranItsTimeoutIsFollowedAfterAFullTimeoutNotABurst() {
        var value = loop()
        _ = value.next(now: t0, health: connected, event: .done)
        // The write took 3 leader-timeouts (a slow disk).
        let late = t0 + .seconds(3)
        _ = value.next(now: late, health: connected, event: .wrote)
        #expect(value.nextWrite == late + every)
        #expect(value.counter == 2)
    }

    @Test func writeFailuresEachEndTheTermTheirOwnWay() {
        func ending(_ kind: FileStoreError.Kind) -> LeaderLoop.Action {
            var value = loop()
            _ = value.next(now: t0, health: connected, event: .done)
            let error = FileStoreError(kind: kind, operation: "write", path: "/d/x")
            return value.next(now: t0, health: connected, event: .writeFailed(error))
        }
        guard case .end(.leaseTrouble(.notConfirmed, _)) = ending(.notPermitted) else {
            Issue.record("a write the lease no longer permitted is lease trouble")
            return
        }
        guard case .end(.release(let newer, .zero)) = ending(.higherToken(9)) else {
            Issue.record("a newer leader's file releases")
            return
        }
        #expect(newer.code == .newerLeader)
        guard case .end(.release(let io, .zero)) = ending(.io(errno: 5)) else {
            Issue.record("an I/O error releases")
            return
        }
        #expect(io.code == .writeFailed)
    }

    @Test func betweenWritesTheLeaseIsRenewedEveryQuarterOfTheSessionTimeout() {
        var value = LeaderLoop(
            token: 7, counter: 1, lease: Lease(due: t0, confirmedAt: t0), now: t0, leaderTimeout: .seconds(10),
            sessionTimeout: timeout, commandConfigured: false, exitPolicy: .resign, commandFailures: 0,
            backoff: { _ in .zero })
        #expect(settled(&value) == t0 + .seconds(1), "the renewal, not the write 10 s away")
        let renewAt = t0 + .seconds(1)
        #expect(value.next(now: renewAt, health: connected, event: .woke(.timer)) == .confirm)
        // A renewal is no write: guard, then wait for the next renewal.
        #expect(value.next(now: renewAt, health: connected, event: .confirmed(sentAt: renewAt)) == .guardSession)
        #expect(
            value.next(now: renewAt, health: connected, event: .sessionGuarded) == .wait(until: renewAt + .seconds(1)))
    }

    // MARK: the command, the guard, the watch

    @Test func withoutACommandTheSessionIsGuardedOnEveryPass() {
        var value = loop()
        _ = settled(&value)
        _ = value.next(now: t0 + every, health: connected, event: .woke(.timer))
        _ = value.next(now: t0 + every, health: connected, event: .confirmed(sentAt: t0 + every))
        #expect(value.next(now: t0 + every, health: connected, event: .wrote) == .guardSession)
    }

    @Test func theCommandStartsAfterTheFirstWriteOnTheConfirmedLease() {
        var value = loop(command: true)
        _ = value.next(now: t0, health: connected, event: .done)
        #expect(value.next(now: t0, health: connected, event: .wrote) == .startCommand(confirmedAt: t0))
        #expect(value.next(now: t0, health: connected, event: .commandStarted(at: t0)) == .armWatch)
    }

    @Test func theCommandDoesNotStartOnALeaseAboutToLapse() {
        // The listing was sent 1.5 s ago: 0.5 s of the 2 s lease is left, less than half.
        var value = loop(confirmedAt: t0 - .milliseconds(1500), command: true)
        _ = value.next(now: t0, health: connected, event: .done)
        #expect(value.next(now: t0, health: connected, event: .wrote) == .armWatch)
        #expect(value.commandStarted == nil)
    }

    @Test func aResignRequestFoundWithTheWatchReleases() {
        var value = loop()
        _ = value.next(now: t0, health: connected, event: .done)
        _ = value.next(now: t0, health: connected, event: .wrote)
        #expect(value.next(now: t0, health: connected, event: .sessionGuarded) == .armWatch)
        guard
            case .end(.release(let reason, .zero)) = value.next(
                now: t0, health: connected, event: .watchArmed(resignRequested: true))
        else {
            Issue.record("a resign request in the znode's data must release")
            return
        }
        #expect(reason.code == .resigned)
    }

    @Test func aWatchThatFiredIsArmedAgainAndADeleteEndsTheTerm() {
        var value = loop()
        _ = settled(&value)
        // Data changed on our znode (early, before the next write): look again.
        let early = t0 + .milliseconds(100)
        #expect(value.next(now: early, health: connected, event: .woke(.watch(.dataChanged))) == .guardSession)
        #expect(value.next(now: early, health: connected, event: .sessionGuarded) == .armWatch)
        #expect(value.next(now: early, health: connected, event: .woke(.watch(.deleted))) == .end(.candidateGone))
        #expect(value.next(now: early, health: connected, event: .watchGone) == .end(.candidateGone))
    }

    @Test func everyOtherWakeUpEndsTheTermTheWayItSays() {
        func after(_ wake: Wake) -> LeaderLoop.Action {
            var value = loop()
            _ = settled(&value)
            return value.next(now: t0 + .milliseconds(10), health: connected, event: .woke(wake))
        }
        #expect(after(.stop) == .end(.stop))
        #expect(after(.watch(.sessionLost)) == .end(.sessionLost))
        #expect(after(.session(.connecting)) == .end(.leaseTrouble(.connectionLost, "ZooKeeper connection connecting")))
        guard case .end(.release(let resigned, .zero)) = after(.resign) else {
            Issue.record("a resign request releases")
            return
        }
        #expect(resigned.code == .resigned)
        #expect(after(.leaderChanged) == .guardSession, "a leader change seen by status tracking is no event here")
    }

    @Test func theLoopWaitsForTheEarliestOfWriteRenewalAndRestart() {
        var value = loop(command: true, policy: .restart)
        #expect(settled(&value, command: true) == t0 + every)
        let exit = t0 + .milliseconds(200)
        #expect(
            value.next(now: exit, health: connected, event: .commandExited(status: 1, imposed: false))
                == .restartCommand(status: 1, after: .seconds(1)))
        // Stopping what was left took 100 ms: the backoff runs from then.
        let stopped = exit + .milliseconds(100)
        #expect(value.next(now: stopped, health: connected, event: .done) == .wait(until: t0 + every))
        #expect(value.restartAt == stopped + .seconds(1))
        // The write at t0+1s comes first; the restart after it.
        _ = value.next(now: t0 + every, health: connected, event: .woke(.timer))
        _ = value.next(now: t0 + every, health: connected, event: .confirmed(sentAt: t0 + every))
        #expect(
            value.next(now: t0 + every, health: connected, event: .wrote) == .wait(until: stopped + .seconds(1)),
            "no start before the backoff")
        // At the restart, the lease renewed with the write still has more than half ahead.
        let due = stopped + .seconds(1)
        #expect(value.next(now: due, health: connected, event: .woke(.timer)) == .startCommand(confirmedAt: t0 + every))
    }

    // MARK: the command's exits

    @Test func aQuickExitResignsWithABackoffThatGrowsPerQuickExit() {
        var value = loop(command: true, failures: 2)
        _ = settled(&value, command: true)
        let action = value.next(
            now: t0 + .seconds(1), health: connected, event: .commandExited(status: 3, imposed: false))
        guard case .end(.release(let reason, let delay)) = action else {
            Issue.record("resign: \(action)")
            return
        }
        #expect(reason.code == .commandExited)
        #expect(delay == .seconds(4), "the backoff of the third quick exit in a row")
        #expect(value.commandFailures == 3)
    }

    @Test func aCommandThatRanAWhileStartsNoStreak() {
        var value = loop(command: true, failures: 5)
        _ = settled(&value, command: true)
        let action = value.next(
            now: t0 + LeaderLoop.healthyRun, health: connected, event: .commandExited(status: 3, imposed: false))
        #expect(
            action
                == .end(
                    .release(TransitionReason(.commandExited, "command exited with status 3"), atLeast: .seconds(1))))
        #expect(value.commandFailures == 1)
    }

    @Test func anExitImposedOnTheCommandHasNoBackoffAndNoStreak() {
        var value = loop(command: true, failures: 2)
        _ = settled(&value, command: true)
        let action = value.next(
            now: t0 + .seconds(1), health: connected, event: .commandExited(status: 137, imposed: true))
        #expect(
            action == .end(.release(TransitionReason(.commandExited, "command exited with status 137"), atLeast: .zero))
        )
        #expect(value.commandFailures == 2)
    }

    @Test func onExitExitStopsTheDaemonWithTheCommandsStatus() {
        var value = loop(command: true, policy: .exit)
        _ = settled(&value, command: true)
        #expect(
            value.next(now: t0 + .seconds(1), health: connected, event: .commandExited(status: 9, imposed: false))
                == .end(.exitDaemon(status: 9)))
    }
}
