import Election
import Prometheus

/// What each HTTP endpoint answers, computed from the status board and the
/// metrics registry at the moment of the request. Pure apart from reading those.
struct Endpoints: Sendable {
    let board: StatusBoard
    let registry: PrometheusCollectorRegistry
    /// A state loop that made no progress for this long (and is not inside a wait
    /// within its deadline) counts as wedged.
    let aliveBound: Duration

    struct Response: Sendable {
        var status: Int
        var contentType = "application/json"
        var body: [UInt8]
    }

    func respond(method: String, uri: String) -> Response {
        guard method == "GET" || method == "HEAD" else { return text(405, "only GET and HEAD\n") }
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        let snapshot = board.snapshot
        let now = ContinuousClock.now
        switch path {
        case "/healthz":
            return snapshot.isAlive(now: now, bound: aliveBound)
                ? text(200, "ok\n") : text(503, "state loop made no progress for over \(aliveBound)\n")
        case "/readyz":
            return snapshot.isReady ? text(200, "ready\n") : text(503, "not ready: \(snapshot.state.rawValue)\n")
        case "/leader":
            let leads = snapshot.isLeader(now: now)
            var fields: [(String, JSONValue)] = [("is_leader", .bool(leads)), ("replica", .string(snapshot.replica))]
            if leads, let token = snapshot.grant?.token { fields.append(("fencing_token", .int(token))) }
            return json(leads ? 200 : 503, .object(fields))
        case "/status":
            return json(200, status(snapshot, now: now))
        case "/metrics":
            return Response(
                status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: registry.emitToBuffer())
        default:
            return text(404, "not found; try /healthz /readyz /leader /status /metrics\n")
        }
    }

    func status(_ s: StatusSnapshot, now: ContinuousClock.Instant) -> JSONValue {
        let leader: JSONValue =
            s.visibleLeader.map { l in
                .object([
                    ("replica", .string(l.replica)), ("host", l.host.map(JSONValue.string) ?? .null),
                    ("token", l.token.map(JSONValue.int) ?? .null), ("znode", .string(l.znode)),
                ])
            } ?? .null
        return .object([
            ("replica", .string(s.replica)),
            ("state", .string(s.state.rawValue)),
            ("since", .string(WallClock.format(millis: s.sinceMillis))),
            ("reason", s.lastReason.map { .string($0.code.rawValue) } ?? .null),
            ("is_leader", .bool(s.isLeader(now: now))),
            ("fencing_token", s.grant.map { .int($0.token) } ?? .null),
            ("session_id", .string(s.sessionID.sessionHex)),
            ("session_state", .string(s.sessionState.rawValue)),
            ("last_file", s.lastFile.map(JSONValue.string) ?? .null),
            ("last_file_time", s.lastFileMillis.map { .string(WallClock.format(millis: $0)) } ?? .null),
            ("leader", leader),
            ("ready", .bool(s.isReady)),
            ("alive", .bool(s.isAlive(now: now, bound: aliveBound))),
        ])
    }

    private func text(_ status: Int, _ body: String) -> Response {
        Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(body.utf8))
    }

    private func json(_ status: Int, _ value: JSONValue) -> Response {
        Response(status: status, body: Array((value.text + "\n").utf8))
    }
}
