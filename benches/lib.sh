# benches/lib.sh: helpers shared by run.sh and neighbour.sh (sourced, not
# run). The caller sets ROOT, TMP and CMDS first; REDIS_PORT before rcli.

# Every process a script starts, by pid; killed on any exit.
PIDS=()
ours() { PIDS+=("$1"); echo "$1" >>"$TMP/pids"; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '\n=== %s\n' "$*" >&2; }

# A free loopback port, never the shared Redis's 6379.
free_port() {
    local p
    while :; do
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        [ "$p" != 6379 ] && { echo "$p"; return; }
    done
}

# Records the exact command in $CMDS (background processes are started
# directly after logcmd so that $! is their own pid).
logcmd() { { printf '%q ' "$@"; echo; } | sed "s|${RELEASE:-$ROOT/target/release}/|target/release/|g; s|$ROOT/||g; s|$TMP|\$TMP|g" >>"$CMDS"; }

wait_for() { # seconds, command...
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "timed out waiting for: $*" >&2
            return 1
        fi
        sleep 0.1
    done
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# Other processes using the CPU (the machine may be shared): every few
# seconds, the processes above 20 % that this script did not start are
# appended to $1 as `unix_time pid cpu command`. Our pids are read after
# each snapshot, so a process started while top was sampling is not taken
# for someone else's.
interference_sampler() { # out file
    local out=$1 ours_re snapshot
    while :; do
        snapshot=$(top -b -n2 -d1 -w 200)
        ours_re="^($(paste -sd'|' "$TMP/pids" 2>/dev/null || echo 0)|$$)$"
        printf '%s\n' "$snapshot" | awk -v t="$(date +%s)" -v re="$ours_re" \
            '/^top -/{n++} n==2 && $1 ~ /^[0-9]+$/ && $9 > 20 && $1 !~ re && $12 != "top" && $12 != "loadgen" \
             { print t, $1, $9 "%", $12 }' >>"$out"
        sleep 2
    done
}
