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

# --- processes both scripts start (they set REDIS_PORT, GW_PORT, ADMIN_PORT,
# HOOKGATE first) ------------------------------------------------------------

# A throwaway redis-server on REDIS_PORT, data in $TMP/redis-<name>; with
# name "aof" or "always", `appendonly yes, appendfsync always`; with
# "everysec", `appendonly yes, appendfsync everysec`; else no persistence.
REDIS_PID=
start_redis() { # name
    mkdir -p "$TMP/redis-$1"
    local args=(--port "$REDIS_PORT" --bind 127.0.0.1 --save "" --dir "$TMP/redis-$1"
        --maxmemory-policy noeviction --daemonize no)
    case $1 in
        aof | always) args+=(--appendonly yes --appendfsync always) ;;
        everysec) args+=(--appendonly yes --appendfsync everysec) ;;
        *) args+=(--appendonly no) ;;
    esac
    logcmd redis-server "${args[@]}"
    redis-server "${args[@]}" >"$TMP/redis-$1.log" 2>&1 &
    REDIS_PID=$!
    ours "$REDIS_PID"
    wait_for 10 rcli ping
}
stop_redis() {
    [ -n "$REDIS_PID" ] || return 0
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
}

# The [store] section of a gateway on the SQLite file $1.
sqlite_store_toml() { printf '[store]\nbackend = "sqlite"\npath = "%s"\n' "$1"; }

# BUILDS, the build directories a script alternates; unset, this checkout's
# release build, built now (RELEASE must be set).
default_builds() {
    if [ -z "${BUILDS:-}" ]; then
        log "building release binaries"
        cargo build --release -p hookgate -p hookgate-benches --bins
        BUILDS=$RELEASE
    fi
}

# The admin token of the bench configs.
TOKEN=bench-admin-token
TOKEN_SHA=$(printf %s "$TOKEN" | sha256sum | awk '{print $1}')

# The part every bench config shares: listeners, admin token, store
# ($STORE_TOML when set, else the Redis on REDIS_PORT).
config_head() { # writer (for the comment)
    cat <<EOF
# Written by $1: generous limits, nothing but loopback.
[server]
listen = "127.0.0.1:$GW_PORT"
max_in_flight_per_source = 100000
shutdown_grace = "1s"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[[admin.tokens]]
name = "bench"
role = "operator"
sha256 = "$TOKEN_SHA"

${STORE_TOML:-[store]
url = \"redis://127.0.0.1:$REDIS_PORT\"}
EOF
}

# The Stripe source every bench config has (its secret is the one loadgen
# signs with by default).
stripe_source() { # workers
    cat <<EOF

[[sources]]
id = "stripe"
scheme = "stripe"
secrets = [{ value = "whsec_bench_stripe" }]
workers = $1
EOF
}

# A subscription to the Stripe source's events.
stripe_subscription() { # id, url, max_in_flight
    cat <<EOF

[[subscriptions]]
id = "$1"
url = "$2"
events = ["stripe.*"]
secret = { value = "whsec_YmVuY2gtc3Vic2NyaXB0aW9uLXNpZ25pbmcta2V5" }
timeout = "10s"
max_in_flight = $3
EOF
}

# A gateway on an emptied store, ready when /readyz says so.
GW_PID=
start_gateway() { # config, label
    if [ -n "$REDIS_PID" ]; then rcli FLUSHALL >/dev/null; fi
    if [ -n "${DB:-}" ]; then rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-lock"; fi
    logcmd "$HOOKGATE" serve --config "$1"
    "$HOOKGATE" serve --config "$1" >"$TMP/gateway-$2.log" 2>&1 &
    GW_PID=$!
    ours "$GW_PID"
    wait_for 15 curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"
}
stop_gateway() {
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
}
