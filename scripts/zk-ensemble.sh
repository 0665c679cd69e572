#!/usr/bin/env bash
# A throw-away ZooKeeper ensemble on loopback, for run-cluster.sh, integration
# tests and fault drills (kill a server, bring it back).
#
#   zk-ensemble.sh start    DIR N   start N servers (N=1: standalone) on free ports
#   zk-ensemble.sh stop     DIR     SIGTERM every server, SIGKILL after 10 s
#   zk-ensemble.sh kill     DIR I [SIGNAL]   signal server I (default KILL: a crash)
#   zk-ensemble.sh startone DIR I   start server I again with its old config
#   zk-ensemble.sh status   DIR     mode of each server
#
# Layout of DIR: connect (the connect string), size (N), zkI/zoo.cfg,
# zkI/data/myid, zkI/pid, zkI/zk.log.
#
# Environment: ZK_JAVA_OPTS (JVM options, default "-Xmx256m -XX:+UseSerialGC"),
# ZK_CLASSPATH (default: Debian's zookeeper.jar + slf4j-simple.jar),
# ZK_START_TIMEOUT (seconds to wait for a quorum, default 30), ZK_TICK_TIME
# (the servers' tickTime in ms, default 500).
#
# Only processes whose pid is recorded under DIR, and whose command line names
# DIR's zoo.cfg, are ever signalled: another ZooKeeper on this machine is safe.
set -euo pipefail

ZK_JAVA_OPTS=${ZK_JAVA_OPTS:--Xmx256m -XX:+UseSerialGC}
ZK_CLASSPATH=${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar}
ZK_START_TIMEOUT=${ZK_START_TIMEOUT:-30}
ZK_TICK_TIME=${ZK_TICK_TIME:-500}
STOP_TIMEOUT=10

die() {
    echo "zk-ensemble: $*" >&2
    exit 1
}

usage() {
    sed -n '5,9p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Prints COUNT distinct loopback ports that are free right now, below the
# kernel's ephemeral range (the harness's free_ports: scripts/harness/net.py).
free_ports() {
    python3 "$(dirname "${BASH_SOURCE[0]}")/harness/net.py" "$1"
}

# Sends a four-letter word to a server and prints the answer (empty when the
# server is down). bash's /dev/tcp is used because nc is not always installed.
four_letter() {
    local port=$1 word=$2
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "%s" "$2" >&3
        cat <&3' _ "$port" "$word" 2>/dev/null || true
}

client_port() {
    sed -n 's/^clientPort=//p' "$1/zk$2/zoo.cfg"
}

# "leader", "follower", "standalone", "not serving" (up, no quorum) or "down".
server_mode() {
    local dir=$1 i=$2 answer
    if ! server_alive "$dir" "$i"; then
        echo down
        return
    fi
    answer=$(four_letter "$(client_port "$dir" "$i")" srvr)
    case $answer in
        *"Mode: "*) sed -n 's/^Mode: //p' <<<"$answer" ;;
        *) echo "not serving" ;;
    esac
}

# True when server I's recorded pid is a live (not zombie) process running
# this ensemble's config; a recycled pid belonging to someone else is not ours.
server_alive() {
    local dir=$1 i=$2 pid cmdline state
    pid=$(server_pid "$dir" "$i") || return 1
    cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || return 1
    [[ $cmdline == *"$dir/zk$i/zoo.cfg"* ]] || return 1
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

server_pid() {
    local file="$1/zk$2/pid"
    [[ -s $file ]] || return 1
    cat "$file"
}

valid_server() {
    [[ $1 =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= $2))
}

ensemble_size() {
    [[ -s $1/size ]] || die "$1 holds no ensemble (no $1/size); run 'start' first"
    cat "$1/size"
}

# Starts server I from its zoo.cfg, detached: its own session (setsid) so a
# Ctrl-C in the terminal that started it does not reach it, stdin closed, output
# in zk.log. The caller's exit does not stop it; 'stop' does.
launch() {
    local dir=$1 i=$2 main_class
    if [[ $(ensemble_size "$dir") -eq 1 ]]; then
        main_class=org.apache.zookeeper.server.ZooKeeperServerMain
    else
        main_class=org.apache.zookeeper.server.quorum.QuorumPeerMain
    fi
    # shellcheck disable=SC2086 # ZK_JAVA_OPTS is a list of options
    setsid java $ZK_JAVA_OPTS -cp "$ZK_CLASSPATH" \
        -Dzookeeper.log.dir="$dir/zk$i" \
        "$main_class" "$dir/zk$i/zoo.cfg" \
        >>"$dir/zk$i/zk.log" 2>&1 </dev/null &
    echo $! >"$dir/zk$i/pid"
}

show_logs() {
    local dir=$1 n i
    n=$(ensemble_size "$dir")
    for ((i = 1; i <= n; i++)); do
        echo "---- $dir/zk$i/zk.log (last 20 lines) ----" >&2
        tail -n 20 "$dir/zk$i/zk.log" >&2 2>/dev/null || true
    done
}

cmd_start() {
    local dir=$1 n=$2 ports port_list i client peer election deadline
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, not '$n'"
    command -v java >/dev/null || die "java not found; run scripts/install-deps.sh"
    [[ -r ${ZK_CLASSPATH%%:*} ]] || die "${ZK_CLASSPATH%%:*} not found; run scripts/install-deps.sh"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [[ -s $dir/size ]]; then
        for ((i = 1; i <= $(cat "$dir/size"); i++)); do
            server_alive "$dir" "$i" && die "$dir already has a running ensemble; stop it first"
        done
    fi

    # Three ports per server: client, quorum (peer) and leader election.
    port_list=$(free_ports $((3 * n))) || die "could not find $((3 * n)) free ports"
    read -r -a ports <<<"$port_list"
    echo "$n" >"$dir/size"
    local servers="" connect=""
    for ((i = 1; i <= n; i++)); do
        peer=${ports[3 * (i - 1) + 1]}
        election=${ports[3 * (i - 1) + 2]}
        servers+="server.$i=127.0.0.1:$peer:$election"$'\n'
    done
    for ((i = 1; i <= n; i++)); do
        client=${ports[3 * (i - 1)]}
        mkdir -p "$dir/zk$i/data"
        echo "$i" >"$dir/zk$i/data/myid"
        # tickTime 500 ms: sessions of 1-10 s are allowed and failover is quick.
        {
            echo "tickTime=$ZK_TICK_TIME"
            echo "initLimit=10"
            echo "syncLimit=5"
            echo "dataDir=$dir/zk$i/data"
            echo "clientPort=$client"
            echo "clientPortAddress=127.0.0.1"
            echo "admin.enableServer=false"
            echo "4lw.commands.whitelist=*"
            if ((n > 1)); then printf '%s' "$servers"; fi
        } >"$dir/zk$i/zoo.cfg"
        connect+="${connect:+,}127.0.0.1:$client"
    done
    echo "$connect" >"$dir/connect"

    # Interrupted half-way (Ctrl-C, or the caller's own cleanup): stop what runs.
    # The message may find its reader gone (a Ctrl-C kills tee too): never fatal.
    trap 'echo "zk-ensemble: interrupted; stopping the servers started" >&2 2>/dev/null || true; cmd_stop "$dir" || true; exit 130' INT TERM HUP
    for ((i = 1; i <= n; i++)); do
        launch "$dir" "$i"
    done

    # A leader (or a standalone server) means a quorum has formed and serves.
    deadline=$((SECONDS + ZK_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        for ((i = 1; i <= n; i++)); do
            case $(server_mode "$dir" "$i") in
                leader | standalone)
                    echo "zk-ensemble: $n server(s) up in $dir, connect string $connect" >&2
                    echo "$connect"
                    return 0
                    ;;
            esac
        done
        sleep 0.5
    done
    echo "zk-ensemble: no quorum after ${ZK_START_TIMEOUT}s" >&2
    show_logs "$dir"
    cmd_stop "$dir" >&2 || true
    exit 1
}

cmd_stop() {
    local dir=$1 n i pid deadline alive
    # A stop cut short would leave servers running: finish it (it takes at most
    # STOP_TIMEOUT seconds), even when a second Ctrl-C hits the process group;
    # a message whose reader is gone (SIGPIPE ignored: EPIPE) is not fatal.
    trap '' INT TERM HUP PIPE
    n=$(ensemble_size "$dir")
    for ((i = 1; i <= n; i++)); do
        if server_alive "$dir" "$i"; then
            kill -TERM "$(server_pid "$dir" "$i")" 2>/dev/null || true
        fi
    done
    deadline=$((SECONDS + STOP_TIMEOUT))
    while :; do
        alive=()
        for ((i = 1; i <= n; i++)); do
            server_alive "$dir" "$i" && alive+=("$i")
        done
        ((${#alive[@]} == 0)) && break
        if ((SECONDS >= deadline)); then
            for i in "${alive[@]}"; do
                pid=$(server_pid "$dir" "$i") || continue
                echo "zk-ensemble: zk$i (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s; SIGKILL" >&2 2>/dev/null || true
                kill -KILL "$pid" 2>/dev/null || true
            done
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    for ((i = 1; i <= n; i++)); do
        server_alive "$dir" "$i" || rm -f "$dir/zk$i/pid"
    done
    echo "zk-ensemble: stopped $dir" >&2 2>/dev/null || true
}

cmd_kill() {
    local dir=$1 i=$2 signal=${3:-KILL} n
    n=$(ensemble_size "$dir")
    valid_server "$i" "$n" || die "server number must be 1..$n, not '$i'"
    server_alive "$dir" "$i" || die "zk$i is not running"
    kill -"$signal" "$(server_pid "$dir" "$i")"
    echo "zk-ensemble: sent SIG$signal to zk$i (pid $(server_pid "$dir" "$i"))" >&2
}

cmd_startone() {
    local dir=$1 i=$2 n deadline pid state
    n=$(ensemble_size "$dir")
    valid_server "$i" "$n" || die "server number must be 1..$n, not '$i'"
    if server_alive "$dir" "$i"; then
        echo "zk-ensemble: zk$i is already running" >&2
        return 0
    fi
    # A server killed with SIGKILL may still hold its port for a moment.
    launch "$dir" "$i"
    # Wait until it listens; it may legitimately not serve (no quorum yet).
    deadline=$((SECONDS + ZK_START_TIMEOUT))
    while ((SECONDS < deadline)); do
        if ! server_alive "$dir" "$i"; then
            # Just launched, the child may not have exec'd java yet (its command
            # line is still the shell's): only a pid that is gone or a zombie
            # means the server died.
            pid=$(server_pid "$dir" "$i") || break
            state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || break
            [[ $state != Z ]] || break
        elif [[ $(four_letter "$(client_port "$dir" "$i")" ruok) == imok ]]; then
            echo "zk-ensemble: zk$i up (pid $(server_pid "$dir" "$i")), mode $(server_mode "$dir" "$i")" >&2
            return 0
        fi
        sleep 0.5
    done
    echo "zk-ensemble: zk$i did not come up" >&2
    tail -n 20 "$dir/zk$i/zk.log" >&2 || true
    exit 1
}

cmd_status() {
    local dir=$1 n i pid
    n=$(ensemble_size "$dir")
    for ((i = 1; i <= n; i++)); do
        pid=$(server_pid "$dir" "$i" 2>/dev/null) || pid=-
        printf 'zk%d pid=%s port=%s mode=%s\n' "$i" "$pid" "$(client_port "$dir" "$i")" "$(server_mode "$dir" "$i")"
    done
}

main() {
    local cmd=${1:-}
    [[ $# -ge 2 ]] || usage
    local dir=$2
    # Absolute paths: pids are matched against the zoo.cfg path in /proc/PID/cmdline.
    if [[ $cmd != start ]]; then
        [[ -d $dir ]] || die "no such directory: $dir"
        dir=$(cd "$dir" && pwd)
    fi
    case $cmd in
        start) [[ $# -eq 3 ]] || usage; cmd_start "$dir" "$3" ;;
        stop) cmd_stop "$dir" ;;
        kill) [[ $# -ge 3 ]] || usage; cmd_kill "$dir" "$3" "${4:-KILL}" ;;
        startone) [[ $# -eq 3 ]] || usage; cmd_startone "$dir" "$3" ;;
        status) cmd_status "$dir" ;;
        *) usage ;;
    esac
}

main "$@"
