#!/usr/bin/env bash
# benches/stores.sh: the store backends side by side, in one interleaved run,
# on this machine, loopback only, with the same generator.
#
# Stores: sqlite (every 2xx fsynced), Redis with `appendfsync everysec`,
# Redis with `appendfsync always` (each a throwaway redis-server on a free
# port, never 6379). Measured, each step bounded in time:
#
#   (1) ROUNDS interleaved rounds of: bare hyper (closed loop), then per
#       store ingest only (an unrouted type) and ingest with 1 subscription
#       delivering to a sink, each closed loop, CONNS connections, STEP_SECS;
#   (2) per store, open loop at half of its mean max rate: p50/p99, ingest
#       only and with the subscription delivering;
#   (3) per store, the sustained end-to-end rate: the highest open-loop rate
#       (SUSTAIN_STEPS steps of a bisection, SUSTAIN_SECS each) at which
#       deliveries to one fast sink keep pace: everything ingested is
#       delivered within SUSTAIN_SLACK seconds of the end and the route's
#       queue depth does not grow over the last half of the step;
#   (4) sqlite: RSS every second while WAITING_EVENTS deliveries wait for a
#       paused subscription (rss.csv);
#   (5) sqlite: the file size after EXPIRED_EVENTS events passed retention,
#       then again after as many more (steady traffic must not grow it).
#
# Results: benches/results/<date>-<machine>-stores/ (raw.csv, extra.txt,
# sustain.csv, rss.csv, summary.md, commands.txt, configs).
# Knobs: ROUNDS (2), STEP_SECS (10), CONNS (64), BODY (1024), SUSTAIN_SECS
# (30), SUSTAIN_STEPS (5), SUSTAIN_SLACK (5), WAITING_EVENTS (1000000; 0
# skips 4), EXPIRED_EVENTS (1000000; 0 skips 5), EXPIRY_PASSES (2, of 5),
# ROUNDS=0 skips 1-3, RETENTION_SECS (60, of
# step 5), STORES ("sqlite
# redis-everysec redis-always"), MACHINE, OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-2}
STEP_SECS=${STEP_SECS:-10}
CONNS=${CONNS:-64}
BODY=${BODY:-1024}
SUSTAIN_SECS=${SUSTAIN_SECS:-30}
SUSTAIN_STEPS=${SUSTAIN_STEPS:-5}
SUSTAIN_SLACK=${SUSTAIN_SLACK:-5}
WAITING_EVENTS=${WAITING_EVENTS:-1000000}
EXPIRED_EVENTS=${EXPIRED_EVENTS:-1000000}
RETENTION_SECS=${RETENTION_SECS:-60}
EXPIRY_PASSES=${EXPIRY_PASSES:-2}
STORES=${STORES:-"sqlite redis-everysec redis-always"}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
DATE=$(date -u +%F)
OUT=${OUT:-"$ROOT/benches/results/$DATE-$MACHINE-stores"}
RAW="$OUT/raw.csv"
CMDS="$OUT/commands.txt"
EXTRA="$OUT/extra.txt"
TMP=$(mktemp -d /tmp/hookgate-stores.XXXXXX)

RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LOADGEN="$RELEASE/loadgen"
BASELINE="$RELEASE/baseline"
HOOKGATE="$RELEASE/hookgate"

. "$ROOT/benches/lib.sh"

run() {
    logcmd "$@"
    "$@"
}
extra() { echo "$1=$2" >>"$EXTRA"; }

mkdir -p "$OUT"
: >"$RAW"
: >"$CMDS"
: >"$EXTRA"
echo "store,rate,ingested,delivered,depth_mid,depth_end,kept_pace" >"$OUT/sustain.csv"

log "building release binaries"
run cargo build --release -p hookgate
run cargo build --release -p hookgate-benches --bins

: >"$OUT/interference.txt"
echo 0 >"$TMP/pids"
interference_sampler "$OUT/interference.txt" &
PIDS+=("$!")

REDIS_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
BASE_PORT=$(free_port)
DB="$TMP/hookgate.db"

# The [store] section of a store; Redis is (re)started for it.
use_store() { # store
    stop_redis
    case $1 in
        sqlite)
            STORE_TOML=$(sqlite_store_toml "$DB")
            REDIS_PID=
            ;;
        redis-everysec | redis-always)
            start_redis "${1#redis-}"
            STORE_TOML=$(printf '[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$REDIS_PORT")
            ;;
    esac
    export STORE_TOML
}

write_config() { # file, extra [delivery] lines
    config_head benches/stores.sh >"$1"
    cat >>"$1" <<EOF

[delivery]
$2

[log]
level = "warn"
EOF
    stripe_source 1024 >>"$1"
    cat >>"$1" <<EOF

[[sources]]
id = "acme"
scheme = "standard-webhooks"
secrets = [{ value = "whsec_YmVuY2gtc3RhbmRhcmQtd2ViaG9va3Mta2V5LTAwMDE=" }]
workers = 128
EOF
    stripe_subscription sink0 "http://127.0.0.1:$SINK_PORT/s0" 64 >>"$1"
}

SINK_PID=
start_sink() { # label, expect, timeout
    local args=(sink --listen "127.0.0.1:$SINK_PORT" --expect "$2" --timeout "$3"
        --idle 5 --csv "$RAW" --label "$1")
    logcmd "$LOADGEN" "${args[@]}"
    "$LOADGEN" "${args[@]}" >"$TMP/sink-$1.log" 2>&1 &
    SINK_PID=$!
    ours "$SINK_PID"
    wait_for 10 grep -q listening "$TMP/sink-$1.log"
}
stop_sink() {
    kill -TERM "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
}

loadgen() { # label, url, extra args...
    local label=$1 url=$2
    shift 2
    run "$LOADGEN" --url "$url" --label "$label" --csv "$RAW" --body-size "$BODY" "$@"
}
ingest_only() { # label, extra args
    local label=$1
    shift
    loadgen "$label" "http://127.0.0.1:$GW_PORT/ingest/acme" --scheme standard-webhooks \
        --event-type bench.unrouted "$@"
}
ingest_stripe() { # label, extra args
    local label=$1
    shift
    loadgen "$label" "http://127.0.0.1:$GW_PORT/ingest/stripe" "$@"
}

# per_s of the CSV rows with this label, averaged
mean_rate() { awk -F, -v l="$1" '$2 == l { s += $10; n++ } END { printf "%d", n ? s / n : 0 }' "$RAW"; }
metric() { # name with labels as grep pattern
    curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E "^$1" | awk '{ s += $NF } END { printf "%d", s }'
}
delivered_total() { metric 'hookgate_deliveries_total\{.*outcome="delivered"'; }
queue_depth() { metric 'hookgate_queue_depth\{'; }

CFG="$TMP/stores.toml"
LOAD_REQS=5000000

# --- (1) interleaved max rates -----------------------------------------------------
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round: bare hyper, closed loop, $CONNS connections, ${STEP_SECS}s"
    logcmd "$BASELINE" --listen "127.0.0.1:$BASE_PORT" --duration 60
    "$BASELINE" --listen "127.0.0.1:$BASE_PORT" --duration 60 >"$TMP/baseline.log" 2>&1 &
    BASE_PID=$!
    ours "$BASE_PID"
    wait_for 10 grep -q listening "$TMP/baseline.log"
    loadgen baseline "http://127.0.0.1:$BASE_PORT/ingest/stripe" --connections "$CONNS" \
        --duration "$STEP_SECS" --requests "$LOAD_REQS"
    kill "$BASE_PID" 2>/dev/null || true
    wait "$BASE_PID" 2>/dev/null || true
    for store in $STORES; do
        use_store "$store"
        write_config "$CFG" ""
        log "round $round, $store: ingest only, closed loop"
        start_gateway "$CFG" "$store-max"
        ingest_only "$store.ingest-only" --connections "$CONNS" --duration "$STEP_SECS" --requests "$LOAD_REQS"
        stop_gateway
        log "round $round, $store: ingest + 1 subscription delivering, closed loop"
        start_gateway "$CFG" "$store-max-delivery"
        start_sink "$store.sink" 0 $((STEP_SECS + 30))
        ingest_stripe "$store.ingest+delivery" --connections "$CONNS" --duration "$STEP_SECS" --requests "$LOAD_REQS"
        stop_sink
        stop_gateway
    done
done
stop_redis

# --- (2) latency at half the max ---------------------------------------------------
# (2) and (3) start from the max rates of (1): ROUNDS=0 skips all three.
for store in $( ((ROUNDS > 0)) && echo "$STORES"); do
    use_store "$store"
    write_config "$CFG" ""
    for kind in ingest-only ingest+delivery; do
        rate=$(($(mean_rate "$store.$kind") / 2))
        log "$store: $kind, open loop at half its max = $rate req/s"
        start_gateway "$CFG" "$store-half-$kind"
        start_sink "$store.half-sink" 0 $((STEP_SECS + 40))
        if [ "$kind" = ingest-only ]; then
            ingest_only "$store.half.$kind" --connections 256 --rate "$rate" --duration $((STEP_SECS + 5)) --requests "$LOAD_REQS"
        else
            ingest_stripe "$store.half.$kind" --connections 256 --rate "$rate" --duration $((STEP_SECS + 5)) --requests "$LOAD_REQS"
        fi
        stop_sink
        stop_gateway
    done
done
stop_redis

# --- (3) sustained end-to-end rate ---------------------------------------------------
# One step: RATE for SUSTAIN_SECS; kept pace when the depth did not grow
# over the second half and everything was delivered within the slack.
sustain_step() { # store, rate -> 0 kept pace, 1 not
    local store=$1 rate=$2 before ingested mid end delivered
    start_gateway "$CFG" "$store-sustain-$rate"
    start_sink "$store.sustain-sink" 0 $((SUSTAIN_SECS + SUSTAIN_SLACK + 20))
    before=$(delivered_total)
    ingest_stripe "$store.sustain.$rate" --connections 256 --rate "$rate" \
        --duration "$SUSTAIN_SECS" --requests "$LOAD_REQS" >"$TMP/sustain.log" 2>&1 &
    local gen=$!
    sleep $((SUSTAIN_SECS / 2))
    mid=$(queue_depth)
    wait "$gen" || true
    end=$(queue_depth)
    ingested=$(awk -F, -v l="$store.sustain.$rate" '$2 == l { n = $16 } END { print n + 0 }' "$RAW")
    sleep "$SUSTAIN_SLACK"
    delivered=$(($(delivered_total) - before))
    stop_sink
    stop_gateway
    local kept=0
    if [ "$delivered" -ge "$ingested" ] && [ "$end" -le $((mid + rate / 2)) ]; then kept=1; fi
    echo "$store,$rate,$ingested,$delivered,$mid,$end,$kept" >>"$OUT/sustain.csv"
    [ "$kept" = 1 ]
}
for store in $( ((ROUNDS > 0)) && echo "$STORES"); do
    use_store "$store"
    write_config "$CFG" ""
    lo=0
    hi=$(mean_rate "$store.ingest-only")
    rate=$(mean_rate "$store.ingest+delivery")
    for ((step = 0; step < SUSTAIN_STEPS; step++)); do
        [ "$rate" -le "$lo" ] && rate=$(((lo + hi) / 2))
        log "$store: sustained rate, step $((step + 1)): $rate req/s for ${SUSTAIN_SECS}s"
        if sustain_step "$store" "$rate"; then lo=$rate; else hi=$rate; fi
        rate=$(((lo + hi) / 2))
    done
    extra "$store.sustained_rate" "$lo"
done
stop_redis

# --- (4) RSS while deliveries wait (sqlite) --------------------------------------------
rss_trace() { # pid, phase file
    while [ -r "/proc/$1/status" ]; do
        echo "$(date +%s),$(cat "$2"),$(awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0)" >>"$OUT/rss.csv"
        sleep 1
    done
}
if [ "$WAITING_EVENTS" -gt 0 ] && [[ " $STORES " == *" sqlite "* ]]; then
    use_store sqlite
    write_config "$CFG" ""
    log "sqlite: $WAITING_EVENTS deliveries waiting for a paused subscription; RSS every second"
    echo "unix_time,phase,rss_kb" >"$OUT/rss.csv"
    start_gateway "$CFG" backlog
    echo idle >"$TMP/phase"
    rss_trace "$GW_PID" "$TMP/phase" &
    tracer=$!
    sleep 3
    curl -sf -X POST -H "authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$ADMIN_PORT/admin/v1/subscriptions/sink0/pause" >/dev/null
    echo ingest >"$TMP/phase"
    ingest_stripe backlog-ingest --connections "$CONNS" --duration 600 --requests "$WAITING_EVENTS"
    echo waiting >"$TMP/phase"
    sleep 30
    extra sqlite.backlog.queue_depth "$(queue_depth)"
    extra sqlite.backlog.vmhwm_kb "$(awk '/^VmHWM:/{print $2}' "/proc/$GW_PID/status")"
    extra sqlite.backlog.file_bytes "$(du -cb "$DB"* | tail -n 1 | cut -f1)"
    kill "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    stop_gateway
fi

# --- (5) file size after retention (sqlite) ---------------------------------------------
if [ "$EXPIRED_EVENTS" -gt 0 ] && [[ " $STORES " == *" sqlite "* ]]; then
    use_store sqlite
    write_config "$CFG" "retention = \"${RETENTION_SECS}s\""
    # dedup_window as short as the retention: every row can go (and a
    # tolerance under half of it, which check-config requires).
    sed -i "s/^workers = 128\$/workers = 128\ndedup_window = \"${RETENTION_SECS}s\"\ntolerance = \"$((RETENTION_SECS / 2 - 1))s\"/" "$CFG"
    log "sqlite: $EXPIRED_EVENTS events past a $RETENTION_SECS s retention, $EXPIRY_PASSES times"
    start_gateway "$CFG" expiry
    for pass in $(seq 1 "$EXPIRY_PASSES"); do
        ingest_only "sqlite.expiry-ingest-$pass" --connections "$CONNS" --duration 600 --requests "$EXPIRED_EVENTS"
        extra "sqlite.expiry.pass$pass.file_bytes_full" "$(du -cb "$DB"* | tail -n 1 | cut -f1)"
        sleep $((RETENTION_SECS + 15))
        extra "sqlite.expiry.pass$pass.file_bytes_after_retention" "$(du -cb "$DB"* | tail -n 1 | cut -f1)"
        extra "sqlite.expiry.pass$pass.rows" "$(sqlite3 -readonly "$DB" 'SELECT count(*) FROM events' 2>/dev/null || echo ?)"
    done
    stop_gateway
fi

# --- summary ---------------------------------------------------------------------------
{
    echo "## nproc"; nproc
    echo "## free -g"; free -g
    echo "## lscpu | head -20"; lscpu | head -20
    echo "## uname -srm"; uname -srm
    echo "## rustc -V"; rustc -V
    echo "## redis-server --version"; redis-server --version
    echo "## df -h of the temp dir"; df -h "$TMP"
    echo "## git"; git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true
    git -C "$ROOT" status --short 2>/dev/null | head -20 || true
} >"$OUT/machine.txt"
cp "$CFG" "$OUT/"
sed -i "s|$TMP/||g" "$CMDS"
python3 "$ROOT/benches/stores_summary.py" --out "$OUT" --date "$DATE" --machine "$MACHINE" \
    --settings "ROUNDS=$ROUNDS STEP_SECS=$STEP_SECS CONNS=$CONNS BODY=$BODY SUSTAIN_SECS=$SUSTAIN_SECS SUSTAIN_STEPS=$SUSTAIN_STEPS WAITING_EVENTS=$WAITING_EVENTS EXPIRED_EVENTS=$EXPIRED_EVENTS"
cat "$OUT/summary.md"
