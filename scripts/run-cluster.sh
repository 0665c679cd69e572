#!/usr/bin/env bash
# Runs a whole election cluster on this machine and shows who leads, live:
# a 3-server ZooKeeper ensemble (scripts/zk-ensemble.sh) and REPLICAS replicas,
# each writing into its own directory while it leads. Kill the leader by hand
# (the view prints the command) and watch another take over.
#
# Environment:
#   REPLICAS  number of replicas (default 3)
#   DURATION  stop after this long (seconds, or 90s / 2m) and exit 0 only if
#             exactly one replica leads at the end; unset: run until Ctrl-C
#   BINARY    the election executable (default .build/release/election)
#   VIEW      live (clear-screen redraw) or lines (one status line a second);
#             default live on a terminal without DURATION, lines otherwise
#
# Everything lands in ${TMPDIR:-/tmp}/election-cluster.XXXX and is kept:
# replica-N.log, replica-N.pid, files/replica-N/, zk/ (ensemble data and logs),
# summary.txt, guardian.log.
# Whatever ends the script (Ctrl-C, SIGTERM, SIGHUP, DURATION, an error), the
# replicas and the ZooKeeper servers it started are stopped; nothing else is
# touched. That holds however the terminal delivers the Ctrl-C to a pipeline
# such as `make run-cluster 2>&1 | tee run.log` (tee may be gone before this
# script writes again: SIGPIPE is handled and every write after a stop signal
# is allowed to fail), and even if this script itself is killed: a guardian
# process in its own session (this script with --guardian) watches the
# script's pid and stops whatever is left once it is gone, and each replica
# gets SIGTERM from the kernel when the script dies (setpriv --pdeathsig).
set -euo pipefail
if ((BASH_VERSINFO[0] < 5)); then
    echo "run-cluster: needs bash 5 or later (this is $BASH_VERSION)" >&2
    exit 1
fi
export LC_ALL=C # glob and sort order = byte order, which is write order for the files

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")

REPLICAS=${REPLICAS:-3}
DURATION=${DURATION:-}
BINARY=${BINARY:-.build/release/election}

# Short timings so failover can be watched: a SIGKILLed leader is replaced
# within the session timeout (4 s) plus a little.
LEADER_TIMEOUT=1s
ATTEMPTER_TIMEOUT=5s
SESSION_TIMEOUT=4s
STORAGE_CAPACITY=5
STOP_TIMEOUT=10

WORK=""
started_at=$SECONDS
LEADERS=()
PAUSED_LEADERS=()
pids=()         # pids[i]: replica i's pid (index 1..REPLICAS)
exit_status=()  # exit_status[i]: set once replica i has died
declare -A max_counter=() # "i:token" -> highest file counter seen: files written ≈ sum
stop_signal=""  # set by the signal trap; the main loop polls it
stopping=0
cleaned=0
guardian_pid=""
PDEATHSIG=() # setpriv --pdeathsig TERM, where util-linux supports it

# A message on stderr. Once a stop has begun the reader may be gone (tee killed
# by the same Ctrl-C, a closed terminal): a failed write is ignored, never fatal.
say() {
    printf 'run-cluster: %s\n' "$*" >&2 2>/dev/null || true
}

die() {
    say "$*"
    exit 1
}

# ---- setup -----------------------------------------------------------------

parse_duration() {
    [[ -z $1 ]] && return 0
    [[ $1 =~ ^([0-9]+)(s|m|h)?$ ]] || die "DURATION must look like 20, 20s, 2m or 1h, not '$1'"
    case ${BASH_REMATCH[2]} in
        h) echo $((10#${BASH_REMATCH[1]} * 3600)) ;;
        m) echo $((10#${BASH_REMATCH[1]} * 60)) ;;
        *) echo $((10#${BASH_REMATCH[1]})) ;;
    esac
}

resolve_binary() {
    local b=$1
    # A relative default is meant relative to the repository (make runs there).
    if [[ $b != /* && ! -e $b && -e $root/$b ]]; then b=$root/$b; fi
    [[ -x $b ]] || die "no executable at '$1'; build it with 'swift build -c release' or set BINARY"
    echo "$(cd "$(dirname "$b")" && pwd)/$(basename "$b")"
}

start_ensemble() {
    say "starting a 3-server ZooKeeper ensemble in $WORK/zk"
    "$here/zk-ensemble.sh" start "$WORK/zk" 3 >/dev/null
    ZK_SERVERS=$(cat "$WORK/zk/connect")
}

# Each replica gets its own session (setsid): a Ctrl-C in the terminal reaches
# only this script, which then stops the replicas in order (replicas first, so
# they can still delete their znodes, then ZooKeeper). Should this script die
# without doing so, the kernel sends each replica SIGTERM (its parent-death
# signal), and the guardian stops the ensemble once the replicas are gone.
start_replica() {
    local i=$1 dir="$WORK/files/replica-$1"
    mkdir -p "$dir"
    setsid "${PDEATHSIG[@]}" "$BINARY" run \
        --zk-servers "$ZK_SERVERS" \
        --replica-id "replica-$i" \
        --file-dir "$dir" \
        --leader-timeout "$LEADER_TIMEOUT" \
        --attempter-timeout "$ATTEMPTER_TIMEOUT" \
        --session-timeout "$SESSION_TIMEOUT" \
        --storage-capacity "$STORAGE_CAPACITY" \
        --election-path /election \
        --log-format text --log-level info \
        >"$WORK/replica-$i.log" 2>&1 </dev/null &
    pids[i]=$!
    echo "${pids[i]}" >"$WORK/replica-$i.pid"
}

# ---- observing ---------------------------------------------------------------

# True while replica i runs. A dead child is reaped and its status kept, so a
# recycled pid can never be mistaken for the replica.
replica_alive() {
    local i=$1 pid=${pids[$1]:-} state status
    [[ -n $pid && -z ${exit_status[i]:-} ]] || return 1
    if kill -0 "$pid" 2>/dev/null; then
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo "?")
        [[ $state != Z ]] && return 0
    fi
    wait "$pid" 2>/dev/null && status=0 || status=$?
    exit_status[i]=$status
    return 1
}

describe_exit() {
    local status=$1
    if ((status > 128)); then
        echo "killed by SIG$(kill -l $((status - 128)) 2>/dev/null || echo $((status - 128)))"
    else
        echo "exited $status"
    fi
}

# Sets STATE and TOKEN from the last transition line of replica i's log:
# its `to=` field (and `token=` when it became Leader). Quoted values (the
# reason) are dropped first so that text inside them cannot be mistaken for a field.
read_state() {
    local log="$WORK/replica-$1.log" line
    STATE=starting
    TOKEN=""
    line=$(tac "$log" 2>/dev/null | grep -m1 -F 'msg=transition' || true)
    [[ -n $line ]] || return 0
    line=" $(sed -E 's/"([^"\\]|\\.)*"//g' <<<"$line") "
    [[ $line =~ \ to=([A-Za-z]+)\  ]] && STATE=${BASH_REMATCH[1]}
    if [[ $line =~ \ token=([0-9]+)\  ]]; then TOKEN=${BASH_REMATCH[1]}; fi
    return 0
}

# Sets FILE_COUNT and NEWEST for replica i's directory and remembers the
# highest counter per token, from which the summary estimates files written.
read_files() {
    local i=$1 files f name token counter
    shopt -s nullglob
    files=("$WORK/files/replica-$i"/election-*-*.json)
    shopt -u nullglob
    FILE_COUNT=${#files[@]}
    NEWEST=-
    ((FILE_COUNT > 0)) || return 0
    NEWEST=${files[-1]##*/}
    for f in "${files[@]}"; do
        name=${f##*/election-}
        name=${name%.json}
        token=$((10#${name%-*}))
        counter=$((10#${name#*-}))
        if ((counter > ${max_counter[$i:$token]:-0})); then max_counter[$i:$token]=$counter; fi
    done
}

# Gathers everything the view shows into R_* arrays and LEADERS (alive
# replicas whose last transition was to Leader).
snapshot() {
    local i
    LEADERS=()
    PAUSED_LEADERS=()
    for ((i = 1; i <= REPLICAS; i++)); do
        if replica_alive "$i"; then
            R_ALIVE[i]=alive
            # SIGSTOPped (a pause drill): alive, but neither writing nor heartbeating.
            if [[ $(awk '{print $3}' "/proc/${pids[i]}/stat" 2>/dev/null) == T ]]; then R_ALIVE[i]="alive (paused)"; fi
        else
            R_ALIVE[i]="dead, $(describe_exit "${exit_status[i]}")"
        fi
        read_state "$i"
        read_files "$i"
        R_STATE[i]=$STATE
        R_TOKEN[i]=${TOKEN:--}
        R_FILES[i]=$FILE_COUNT
        R_NEWEST[i]=$NEWEST
        # A paused process cannot act on its belief: when it resumes it must find
        # its session gone and write nothing. It is shown, but not counted.
        if [[ $STATE == Leader && ${R_ALIVE[i]} == alive ]]; then LEADERS+=("$i"); fi
        if [[ $STATE == Leader && ${R_ALIVE[i]} == "alive (paused)" ]]; then PAUSED_LEADERS+=("$i"); fi
    done
}

leader_line() {
    local i=${LEADERS[0]:-} line
    case ${#LEADERS[@]} in
        1) line="leader: replica-$i (pid ${pids[i]}, token ${R_TOKEN[i]})" ;;
        0) line="WARNING: no replica is Leader (expected briefly: at start, after the leader dies, while ZooKeeper has no quorum)" ;;
        *) line="WARNING: ${#LEADERS[@]} replicas claim Leader: $(printf 'replica-%s ' "${LEADERS[@]}")" ;;
    esac
    for i in "${PAUSED_LEADERS[@]}"; do
        line+="; replica-$i is paused while Leader (token ${R_TOKEN[i]})"
    done
    echo "$line"
}

elapsed() { echo $((SECONDS - started_at)); }

draw_live() {
    local i frame state
    frame=$(
        printf 'election cluster: %d replicas, up %ss   work dir %s\n' "$REPLICAS" "$(elapsed)" "$WORK"
        printf 'ZooKeeper %s   (modes: %s status %s)\n\n' "$ZK_SERVERS" "$here/zk-ensemble.sh" "$WORK/zk"
        printf '%-11s %-8s %-28s %-12s %-20s %-6s %s\n' REPLICA PID PROCESS STATE TOKEN FILES NEWEST
        for ((i = 1; i <= REPLICAS; i++)); do
            # A dead replica's last logged state is history, not a claim to lead.
            state=${R_STATE[i]}
            [[ ${R_ALIVE[i]} == alive* ]] || state="($state)"
            printf '%-11s %-8s %-28s %-12s %-20s %-6s %s\n' "replica-$i" "${pids[i]}" "${R_ALIVE[i]}" \
                "$state" "$([[ ${R_STATE[i]} == Leader ]] && echo "${R_TOKEN[i]}" || echo -)" \
                "${R_FILES[i]}" "${R_NEWEST[i]}"
        done
        echo
        leader_line
        if ((${#LEADERS[@]} == 1)); then echo "kill the leader with: kill -9 ${pids[LEADERS[0]]}"; fi
        echo "Ctrl-C stops everything."
    )
    printf '\033[H\033[2J%s\n' "$frame"
}

draw_line() {
    local i line
    line=$(printf '[%4ss] %s |' "$(elapsed)" "$(leader_line)")
    for ((i = 1; i <= REPLICAS; i++)); do
        if [[ ${R_ALIVE[i]} == alive* ]]; then
            line+=" replica-$i pid=${pids[i]} ${R_ALIVE[i]/ (paused)/(PAUSED)} ${R_STATE[i]}"
            [[ ${R_STATE[i]} == Leader ]] && line+="(token ${R_TOKEN[i]})"
        else
            line+=" replica-$i pid=${pids[i]} DEAD(${R_ALIVE[i]#dead, }) was=${R_STATE[i]}"
        fi
        line+=" files=${R_FILES[i]} newest=${R_NEWEST[i]} |"
    done
    echo "${line% |}"
}

# ---- stopping ----------------------------------------------------------------

# First SIGINT/SIGTERM/SIGHUP: ask the main loop to stop in order. Another one
# while stopping: do not wait for the replicas any longer. SIGPIPE (whoever
# read the output is gone, e.g. tee killed by the Ctrl-C) is a stop request
# too, never a reason to hurry.
on_signal() {
    local i
    if [[ $1 == PIPE ]]; then
        trap '' PIPE # later writes fail with EPIPE, which every writer ignores
        [[ -n $stop_signal ]] || stop_signal=PIPE
        return 0
    fi
    if ((stopping)); then
        for ((i = 1; i <= REPLICAS; i++)); do
            if replica_alive "$i"; then
                say "second signal; SIGKILL to replica-$i (pid ${pids[i]})"
                kill -KILL "${pids[i]}" 2>/dev/null || true
            fi
        done
    fi
    stop_signal=$1
}

# SIGTERM to every live replica (it deletes its znode and exits 0), SIGKILL
# for any still running after STOP_TIMEOUT seconds.
stop_replicas() {
    local i deadline remaining
    for ((i = 1; i <= REPLICAS; i++)); do
        if replica_alive "$i"; then kill -TERM "${pids[i]}" 2>/dev/null || true; fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        remaining=()
        for ((i = 1; i <= REPLICAS; i++)); do
            if replica_alive "$i"; then remaining+=("$i"); fi
        done
        ((${#remaining[@]} > 0)) || return 0
        if ((SECONDS >= deadline)); then
            for i in "${remaining[@]}"; do
                say "replica-$i (pid ${pids[i]}) still running after ${STOP_TIMEOUT}s; SIGKILL"
                kill -KILL "${pids[i]}" 2>/dev/null || true
                wait "${pids[i]}" 2>/dev/null && exit_status[i]=0 || exit_status[i]=$?
            done
            return 0
        fi
        sleep 0.2
    done
}

# zk-ensemble.sh stop finishes even when signalled; its messages go to a file,
# never to an output whose reader may be gone.
stop_ensemble() {
    [[ -s $WORK/zk/size ]] || return 0
    "$here/zk-ensemble.sh" stop "$WORK/zk" </dev/null >>"$WORK/zk/stop.log" 2>&1 || true
}

# The guardian has nothing left to do once everything is stopped in order.
stop_guardian() {
    [[ -n $guardian_pid ]] || return 0
    kill -TERM "$guardian_pid" 2>/dev/null || true
    wait "$guardian_pid" 2>/dev/null || true
    guardian_pid=""
}

# Runs on every exit. After a stop signal it is the normal way out (a Ctrl-C
# on the terminal also kills whatever command was in the foreground, and
# set -e then lands here): stop everything in order, print the summary, exit 0.
# After an error it makes sure nothing started here survives.
cleanup() {
    local status=$?
    set +eu # best effort from here on: every step must run
    trap '' PIPE # output may be gone; writes fail quietly from here on
    ((cleaned)) && return
    if [[ -n $stop_signal && -n $WORK ]]; then
        finish "SIG$stop_signal"
    fi
    cleaned=1
    stopping=1
    trap '' INT TERM HUP # a stray signal must not cut the cleanup short
    [[ -n $WORK ]] || exit "$status"
    stop_replicas
    stop_ensemble
    stop_guardian
    say "stopped after an error (status $status); logs kept in $WORK"
    exit "$status"
}

# Stops replicas, then ZooKeeper, prints the summary and exits: 0, except that
# when DURATION ran out the verdict counts (exactly one leader at the end).
# The summary is written to $WORK/summary.txt first, then shown: a reader that
# is gone (tee killed by the same Ctrl-C) loses only the copy on screen.
finish() {
    local reason=$1 verdict=0 final_leader
    set +eu # best effort from here on: every step must run
    trap '' PIPE
    ran_for=$(elapsed)
    # The verdict is taken before stopping: Stopping replaces every state.
    final_leader=$(leader_line)
    if [[ $reason == duration && ${#LEADERS[@]} -ne 1 ]]; then verdict=1; fi

    stopping=1
    say "stopping ($reason): replicas first, then ZooKeeper"
    stop_replicas
    stop_ensemble
    stop_guardian
    cleaned=1
    {
        summary
        if [[ $reason == duration ]]; then
            if ((verdict == 0)); then
                echo "RESULT: OK, exactly one leader at the end ($final_leader)"
            else
                echo "RESULT: FAIL, ${#LEADERS[@]} leaders at the end ($final_leader)"
            fi
        fi
    } >"$WORK/summary.txt" 2>/dev/null
    { cat "$WORK/summary.txt"; } 2>/dev/null || true
    exit "$verdict"
}

# Every transition to Leader in the logs, oldest first: "ts replica-i token".
leadership_terms() {
    local i
    for ((i = 1; i <= REPLICAS; i++)); do
        grep -F 'msg=transition' "$WORK/replica-$i.log" 2>/dev/null |
            sed -E 's/"([^"\\]|\\.)*"//g' |
            awk -v r="replica-$i" '/ to=Leader( |$)/ {
                ts = "?"; tok = "?"
                for (f = 1; f <= NF; f++) {
                    if ($f ~ /^ts=/) ts = substr($f, 4)
                    if ($f ~ /^token=/) tok = substr($f, 7)
                }
                print ts, r, tok
            }' || true
    done | sort
}

summary() {
    local i terms changes written key line
    terms=$(leadership_terms)
    # A change is a new leader or a new token; a Failover and back to the same
    # term is not one.
    changes=$(awk 'NR > 1 && ($2 != r || $3 != t) { n++ } { r = $2; t = $3 } END { print n + 0 }' <<<"$terms")
    echo
    echo "==== summary ===="
    echo "ran ${ran_for}s with $REPLICAS replicas; leader changes seen: $changes"
    if [[ -n $terms ]]; then
        echo "became Leader (time, replica, fencing token):"
        while IFS= read -r line; do echo "  $line"; done <<<"$terms"
    fi
    echo "files per directory (now present / written, counted from the counters in the names):"
    for ((i = 1; i <= REPLICAS; i++)); do
        read_files "$i"
        written=0
        for key in "${!max_counter[@]}"; do
            [[ $key == "$i:"* ]] && written=$((written + max_counter[$key]))
        done
        printf '  %-52s %3d / %-4d newest %s\n' "$WORK/files/replica-$i" "$FILE_COUNT" "$written" "$NEWEST"
    done
    echo "replica exits:"
    for ((i = 1; i <= REPLICAS; i++)); do
        if [[ -z ${pids[i]:-} ]]; then
            echo "  replica-$i: not started"
        else
            echo "  replica-$i (pid ${pids[i]}): $(describe_exit "${exit_status[i]:-0}")"
        fi
    done
    echo "logs, files and ZooKeeper data are kept in $WORK (this summary: $WORK/summary.txt)"
}

# ---- the guardian ------------------------------------------------------------

# "start time" of process $1 (field 22 of /proc/PID/stat) in PROC_START, empty
# when there is no such process or it is a zombie. Builtins only: it is polled.
proc_start() {
    local stat fields
    PROC_START=""
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a fields <<<"${stat##*) }"
    [[ ${fields[0]} != Z ]] || return 1
    PROC_START=${fields[19]}
}

# Pids of live processes whose command line contains every one of the given
# strings; never the guardian itself (nor its subshells, which share its
# command line).
pids_matching() {
    local d pid cmd want ok
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        [[ $pid != "$$" && $pid != "$BASHPID" ]] || continue
        { cmd=$(tr '\0' ' ' <"$d/cmdline"); } 2>/dev/null || continue
        [[ -n $cmd ]] || continue
        ok=1
        for want in "$@"; do
            [[ $cmd == *"$want"* ]] || { ok=0; break; }
        done
        ((ok)) && proc_start "$pid" && echo "$pid"
    done
    return 0
}

# Waits up to $1 seconds for the replicas of the work dir to exit; true when
# they are gone. Leaves the survivors in `left`.
replicas_gone_within() {
    local deadline=$((SECONDS + $1))
    while mapfile -t left < <(pids_matching " run " "--file-dir $work/files/replica-") && ((${#left[@]})); do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# Started by the script in a session of its own (a terminal's Ctrl-C or hangup
# never reaches it), it waits for the script's pid to vanish. If the script
# stopped everything, it finds nothing; otherwise it stops in the script's
# order: replicas (already sent SIGTERM by their parent-death signal where
# setpriv supports it; SIGTERM from here otherwise, or if they linger), then
# every ZooKeeper server of the work dir, and checks until nothing of the run
# (a process naming the work dir) is left.
guardian() {
    local parent=$1 start=$2 work=$3 pdeathsig=$4 pid round left=()
    set +eu
    trap '' INT HUP PIPE
    cd / || true
    while proc_start "$parent" && [[ $PROC_START == "$start" ]]; do sleep 0.25; done
    for ((round = 1; round <= 5; round++)); do
        # A zk-ensemble.sh start cut short stops what it started (its trap).
        for pid in $(pids_matching "zk-ensemble.sh start $work/zk"); do kill -TERM "$pid" 2>/dev/null; done
        if ! replicas_gone_within $((pdeathsig && round == 1 ? 3 : 0)); then
            echo "$(date +%T) script $parent gone; SIGTERM to replicas ${left[*]}"
            for pid in "${left[@]}"; do kill -CONT "$pid" && kill -TERM "$pid"; done 2>/dev/null
            if ! replicas_gone_within "$STOP_TIMEOUT"; then
                echo "$(date +%T) replicas ${left[*]} still running after ${STOP_TIMEOUT}s; SIGKILL"
                for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null; done
            fi
        fi
        mapfile -t left < <(pids_matching "$work/zk/zk" "zoo.cfg")
        if ((${#left[@]})); then
            echo "$(date +%T) script $parent gone; stopping ZooKeeper servers ${left[*]}"
            for pid in "${left[@]}"; do kill -CONT "$pid" 2>/dev/null; done
            [[ -s $work/zk/size ]] && "$here/zk-ensemble.sh" stop "$work/zk" </dev/null 2>&1
            # Servers without a pid file yet (a start cut short) are ours too.
            for pid in $(pids_matching "$work/zk/zk" "zoo.cfg"); do kill -KILL "$pid" 2>/dev/null; done
        fi
        mapfile -t left < <(pids_matching "$work/")
        ((${#left[@]})) || return 0
        sleep 1
    done
    echo "$(date +%T) not stopped (not started by the script?): ${left[*]}"
}

# The guardian runs this same script in its own session, output to a log.
start_guardian() {
    proc_start "$$" || die "cannot read /proc/$$/stat"
    setsid bash "$here/run-cluster.sh" --guardian "$$" "$PROC_START" "$WORK" "$((${#PDEATHSIG[@]} > 0))" \
        </dev/null >>"$WORK/guardian.log" 2>&1 &
    guardian_pid=$!
}

# ---- main --------------------------------------------------------------------

main() {
    [[ $REPLICAS =~ ^[1-9][0-9]*$ ]] || die "REPLICAS must be a positive number, not '$REPLICAS'"
    duration_s=$(parse_duration "$DURATION")
    BINARY=$(resolve_binary "$BINARY")
    local view=${VIEW:-}
    if [[ -z $view ]]; then
        if [[ -t 1 && -z $duration_s ]]; then view=live; else view=lines; fi
    fi
    [[ $view == live || $view == lines ]] || die "VIEW must be live or lines, not '$view'"

    # The replicas' settings are fixed here so the view can parse their logs;
    # an ELECTION_* variable left in the caller's environment must not change them.
    local v
    for v in $(compgen -e | grep '^ELECTION_' || true); do unset "$v"; done

    # Replicas get SIGTERM from the kernel if this script dies (util-linux
    # 2.33+; without it the guardian sends it).
    if setpriv --pdeathsig TERM true 2>/dev/null; then PDEATHSIG=(setpriv --pdeathsig TERM); fi

    trap cleanup EXIT
    trap 'on_signal INT' INT
    trap 'on_signal TERM' TERM
    trap 'on_signal HUP' HUP
    trap 'on_signal PIPE' PIPE

    WORK=$(mktemp -d "${TMPDIR:-/tmp}/election-cluster.XXXX")
    say "work dir $WORK"
    start_guardian
    start_ensemble
    local i
    for ((i = 1; i <= REPLICAS; i++)); do start_replica "$i"; done
    say "started $REPLICAS replicas of $BINARY"
    if [[ $view == lines ]]; then
        say "one status line a second; kill the leader with 'kill -9 PID' (its pid is on the line), Ctrl-C stops everything"
    fi

    started_at=$SECONDS
    local tick_start rest
    while :; do
        tick_start=${EPOCHREALTIME/./} # microseconds
        snapshot
        # A write to a reader that is gone fails (SIGPIPE is trapped: a stop).
        if [[ $view == live ]]; then
            { draw_live; } 2>/dev/null || true
        else
            { draw_line; } 2>/dev/null || true
        fi
        [[ -z $stop_signal ]] || finish "SIG$stop_signal"
        if [[ -n $duration_s ]] && (($(elapsed) >= duration_s)); then finish duration; fi
        # One tick a second however long the snapshot took.
        rest=$((1000000 - (${EPOCHREALTIME/./} - tick_start)))
        ((rest < 999999)) || rest=999999
        if ((rest > 0)); then
            sleep "0.$(printf '%06d' "$rest")" || true # a terminal Ctrl-C kills the sleep too
        fi
        [[ -z $stop_signal ]] || finish "SIG$stop_signal"
    done
}

if [[ ${1:-} == --guardian ]]; then
    shift
    guardian "$@"
    exit 0
fi
main "$@"
