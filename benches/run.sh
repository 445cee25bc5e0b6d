#!/usr/bin/env bash
# benches/run.sh: Hookgate's recorded load run, on this machine, loopback only.
#
# Builds the release binaries, starts a throwaway redis-server on a free port
# (never 6379), and measures, each step bounded in time:
#   (a) baseline: bare hyper server, closed loop
#   (b) gateway ingest (stripe, 1 subscription delivering to a sink), closed
#       loop at the same connection count; ratio = gateway / baseline req/s;
#       gateway RSS sampled during it (f); Redis commandstats delta
#   (b2) ingest only (standard-webhooks source whose type no subscription
#       matches): req/s and Redis commands per ingested event (e)
#   (c) gateway open loop at half of (b)'s rate: latency percentiles (and
#       the same for the ingest-only source at half of (b2)'s rate)
#   (d) fan-out: N events ingested with the subscriptions paused, then
#       resumed: deliveries/s with 1 and with 10 subscriptions, with a sink
#       that answers at once and with one that answers after
#       FANOUT_DELAY_MS (max_in_flight 16, as the reference config)
#   (g) backlog: WAITING_EVENTS events ingested for a paused subscription;
#       gateway RSS sampled every second while they are ingested, while they
#       wait, and while the first of them drain (rss.csv)
#   (b, c again) with Redis `appendonly yes, appendfsync always` (AOF=0 skips)
# Results go to benches/results/<date>-<machine>/ (raw.csv, summary.md,
# commands.txt, the configs). Everything started is killed on exit.
#
# Also (a) and (b2) again at CONNS_HIGH connections: the gateway's pipeline
# (gateway, Redis, generator handing work to each other on 2 cores) fills
# up with more requests in flight, bare hyper does not need them.
# Knobs (environment): STEP_SECS (10), CONNS (64), CONNS_HIGH (256), BODY (1024),
# FANOUT_EVENTS (10000), FANOUT_DELAY_MS (10; 0 skips the slow-subscriber
# fan-out), WAITING_EVENTS (1000000; 0 skips the backlog step), AOF (1),
# MACHINE (<nproc>core-<mem>g), OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

STEP_SECS=${STEP_SECS:-10}
CONNS=${CONNS:-64}
CONNS_HIGH=${CONNS_HIGH:-256}
BODY=${BODY:-1024}
FANOUT_EVENTS=${FANOUT_EVENTS:-10000}
FANOUT_DELAY_MS=${FANOUT_DELAY_MS:-10}
WAITING_EVENTS=${WAITING_EVENTS:-1000000}
AOF=${AOF:-1}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
DATE=$(date -u +%F)
OUT=${OUT:-"$ROOT/benches/results/$DATE-$MACHINE"}
RAW="$OUT/raw.csv"
CMDS="$OUT/commands.txt"
EXTRA="$OUT/extra.txt"
TMP=$(mktemp -d /tmp/hookgate-bench.XXXXXX)

RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LOADGEN="$RELEASE/loadgen"
BASELINE="$RELEASE/baseline"
HOOKGATE="$RELEASE/hookgate"

. "$ROOT/benches/lib.sh"


run() {
    logcmd "$@"
    "$@"
}

mkdir -p "$OUT"
: >"$RAW"
: >"$CMDS"
: >"$EXTRA"
extra() { echo "$1=$2" >>"$EXTRA"; }

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

# --- redis -------------------------------------------------------------------
# --- gateway configs ------------------------------------------------------------
write_config() { # file, number of subscriptions, max_in_flight of each
    local f=$1 n=$2 mif=$3 i
    config_head benches/run.sh >"$f"
    cat >>"$f" <<EOF

[log]
level = "warn"
EOF
    stripe_source 1024 >>"$f"
    cat >>"$f" <<EOF

[[sources]]
id = "acme"
scheme = "standard-webhooks"
secrets = [{ value = "whsec_YmVuY2gtc3RhbmRhcmQtd2ViaG9va3Mta2V5LTAwMDE=" }]
workers = 128
EOF
    for ((i = 0; i < n; i++)); do
        stripe_subscription "sink$i" "http://127.0.0.1:$SINK_PORT/s$i" "$mif" >>"$f"
    done
}
CFG1="$TMP/bench-1sub.toml"
CFG10="$TMP/bench-10sub.toml"
CFG1_16="$TMP/bench-1sub-mif16.toml"
CFG10_16="$TMP/bench-10sub-mif16.toml"
write_config "$CFG1" 1 64
write_config "$CFG10" 10 64
# As the reference configuration: max_in_flight = 16 per subscription.
write_config "$CFG1_16" 1 16
write_config "$CFG10_16" 10 16

SINK_PID=
start_sink() { # label, expect, timeout[, answer delay ms]
    local args=(sink --listen "127.0.0.1:$SINK_PORT" --expect "$2" --timeout "$3"
        --idle 5 --csv "$RAW" --label "$1" --delay-ms "${4:-0}")
    logcmd "$LOADGEN" "${args[@]}"
    "$LOADGEN" "${args[@]}" >"$TMP/sink-$1.log" 2>&1 &
    SINK_PID=$!
    ours "$SINK_PID"
    wait_for 10 grep -q listening "$TMP/sink-$1.log"
}
stop_sink() { # label
    kill -TERM "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
    cat "$TMP/sink-$1.log"
}
await_sink() { # label
    wait "$SINK_PID" 2>/dev/null || true
    cat "$TMP/sink-$1.log"
}

loadgen() { # label, url, extra args...
    local label=$1 url=$2
    shift 2
    run "$LOADGEN" --url "$url" --label "$label" --csv "$RAW" --body-size "$BODY" "$@"
}

# per_s of the last CSV row with this label
rate_of() { awk -F, -v l="$1" '$2 == l { r = $10 } END { print r + 0 }' "$RAW"; }
count_2xx_of() { awk -F, -v l="$1" '$2 == l { r = $16 } END { print r + 0 }' "$RAW"; }

rss_sampler() { # pid, seconds, out file: peak VmRSS (kB) while it runs
    local pid=$1 until=$((SECONDS + $2)) peak=0 v
    while [ "$SECONDS" -lt "$until" ] && [ -r "/proc/$pid/status" ]; do
        v=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${v:-0}" -gt "$peak" ] && peak=$v
        sleep 0.5
    done
    echo "$peak" >"$3"
}

commandstats() { rcli INFO commandstats | tr -d '\r' | grep '^cmdstat_' >"$1"; }
store_ops() { curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | grep '^hookgate_store_duration_seconds_count' >"$1" || true; }

STRIPE_URL="http://127.0.0.1:$GW_PORT/ingest/stripe"
ACME_URL="http://127.0.0.1:$GW_PORT/ingest/acme"
LOAD_REQS=2000000

# --- (a) baseline ----------------------------------------------------------------
start_redis none
log "(a) baseline: bare hyper, closed loop, $CONNS connections, ${STEP_SECS}s"
logcmd "$BASELINE" --listen "127.0.0.1:$BASE_PORT" --duration 120
"$BASELINE" --listen "127.0.0.1:$BASE_PORT" --duration 120 >"$TMP/baseline.log" 2>&1 &
BASE_PID=$!
ours "$BASE_PID"
wait_for 10 grep -q listening "$TMP/baseline.log"
loadgen baseline "http://127.0.0.1:$BASE_PORT/ingest/stripe" --connections "$CONNS" \
    --duration "$STEP_SECS" --requests "$LOAD_REQS"
log "(a) baseline again at $CONNS_HIGH connections"
loadgen baseline-high "http://127.0.0.1:$BASE_PORT/ingest/stripe" --connections "$CONNS_HIGH" \
    --duration "$STEP_SECS" --requests "$LOAD_REQS"
kill "$BASE_PID" 2>/dev/null || true
wait "$BASE_PID" 2>/dev/null || true

# --- (b) gateway closed loop, RSS, commandstats --------------------------------------
ingest_max() { # label prefix
    log "($1) gateway ingest: stripe, 1 subscription, closed loop, $CONNS connections, ${STEP_SECS}s"
    start_gateway "$CFG1" "$1"
    start_sink "$1-sink" 0 $((STEP_SECS + 30))
    commandstats "$TMP/cs-$1-before"
    rss_sampler "$GW_PID" "$STEP_SECS" "$TMP/rss-$1" &
    local sampler=$!
    loadgen "$1" "$STRIPE_URL" --connections "$CONNS" --duration "$STEP_SECS" --requests "$LOAD_REQS"
    wait "$sampler" || true
    commandstats "$TMP/cs-$1-after"
    extra "$1.rss_peak_kb" "$(cat "$TMP/rss-$1")"
    extra "$1.vmhwm_kb" "$(awk '/^VmHWM:/{print $2}' "/proc/$GW_PID/status")"
    stop_sink "$1-sink"
    stop_gateway
}

open_loop() { # label, max-rate label, [extra loadgen args for an ingest-only run]
    local label=$1 rate url=$STRIPE_URL
    rate=$(awk -v r="$(rate_of "$2")" 'BEGIN { printf "%d", r / 2 }')
    shift 2
    [ $# -gt 0 ] && url=$ACME_URL
    log "($label) gateway open loop at half of the max = $rate req/s, $((STEP_SECS + 5))s"
    start_gateway "$CFG1" "$label"
    start_sink "$label-sink" 0 $((STEP_SECS + 40))
    loadgen "$label" "$url" --connections 256 --rate "$rate" \
        --duration $((STEP_SECS + 5)) --requests "$LOAD_REQS" "$@"
    stop_sink "$label-sink"
    stop_gateway
}

ingest_max ingest
extra ratio "$(awk -v g="$(rate_of ingest)" -v b="$(rate_of baseline)" 'BEGIN { printf "%.3f", g / b }')"

# --- (b2)/(e) ingest only, Redis commands per event -----------------------------------
log "(e) ingest only (acme, unrouted type), closed loop, ${STEP_SECS}s: Redis commands per event"
start_gateway "$CFG1" ingest-only
sleep 1
commandstats "$TMP/cs-idle-before"
sleep 3
commandstats "$TMP/cs-idle-after"
commandstats "$TMP/cs-ingest-only-before"
store_ops "$TMP/ops-ingest-only-before"
loadgen ingest-only "$ACME_URL" --scheme standard-webhooks --event-type bench.unrouted \
    --connections "$CONNS" --duration "$STEP_SECS" --requests "$LOAD_REQS"
sleep 2 # let the fan-out loop finish the backlog
commandstats "$TMP/cs-ingest-only-after"
store_ops "$TMP/ops-ingest-only-after"
stop_gateway
log "(b2) ingest only again at $CONNS_HIGH connections"
start_gateway "$CFG1" ingest-only-high
loadgen ingest-only-high "$ACME_URL" --scheme standard-webhooks --event-type bench.unrouted \
    --connections "$CONNS_HIGH" --duration "$STEP_SECS" --requests "$LOAD_REQS"
stop_gateway

# --- (c) open loop at half the max rate ------------------------------------------
open_loop open-half ingest
# the same without deliveries competing for the CPU
open_loop open-half-ingest-only ingest-only --scheme standard-webhooks --event-type bench.unrouted

# --- (d) fan-out 1 -> 10 -------------------------------------------------------
fanout() { # label, config, number of subscriptions[, sink answer delay ms]
    local label=$1 cfg=$2 n=$3 delay=${4:-0} i expect
    expect=$((FANOUT_EVENTS * n))
    log "(d) $label: $FANOUT_EVENTS events ingested paused, then $n subscription(s) resumed (sink answers after ${delay} ms)"
    start_gateway "$cfg" "$label"
    start_sink "$label" "$expect" 120 "$delay"
    for ((i = 0; i < n; i++)); do
        curl -sf -X POST -H "authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$ADMIN_PORT/admin/v1/subscriptions/sink$i/pause" >/dev/null
    done
    loadgen "$label-ingest" "$STRIPE_URL" --connections "$CONNS" --duration 60 \
        --requests "$FANOUT_EVENTS"
    sleep 2 # fan-out into the paused route queues
    for ((i = 0; i < n; i++)); do
        curl -sf -X POST -H "authorization: Bearer $TOKEN" \
            "http://127.0.0.1:$ADMIN_PORT/admin/v1/subscriptions/sink$i/resume" >/dev/null
    done
    await_sink "$label"
    extra "$label.vmhwm_kb" "$(awk '/^VmHWM:/{print $2}' "/proc/$GW_PID/status")"
    stop_gateway
}
# --- (g) RSS while a backlog waits in Redis --------------------------------------
rss_trace() { # pid, phase file: one "unix_time,phase,rss_kb" row per second
    while [ -r "/proc/$1/status" ]; do
        echo "$(date +%s),$(cat "$2"),$(awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0)" >>"$OUT/rss.csv"
        sleep 1
    done
}
backlog() {
    log "(g) backlog: $WAITING_EVENTS events waiting for a paused subscription; RSS every second"
    echo "unix_time,phase,rss_kb" >"$OUT/rss.csv"
    start_gateway "$CFG1" backlog
    echo idle >"$TMP/phase"
    rss_trace "$GW_PID" "$TMP/phase" &
    local tracer=$!
    sleep 5
    curl -sf -X POST -H "authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$ADMIN_PORT/admin/v1/subscriptions/sink0/pause" >/dev/null
    echo ingest >"$TMP/phase"
    loadgen backlog-ingest "$STRIPE_URL" --connections "$CONNS" --duration 600 \
        --requests "$WAITING_EVENTS"
    echo waiting >"$TMP/phase"
    sleep 30
    extra backlog.route_queue "$(rcli ZCARD 'hg:{stripe}:q:sink0')"
    extra backlog.redis_used_memory "$(rcli INFO memory | tr -d '\r' | awk -F: '/^used_memory_human:/{print $2}')"
    start_sink backlog-drain 0 25
    curl -sf -X POST -H "authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$ADMIN_PORT/admin/v1/subscriptions/sink0/resume" >/dev/null
    echo draining >"$TMP/phase"
    sleep 20
    stop_sink backlog-drain
    extra backlog.vmhwm_kb "$(awk '/^VmHWM:/{print $2}' "/proc/$GW_PID/status")"
    kill "$tracer" 2>/dev/null || true
    wait "$tracer" 2>/dev/null || true
    stop_gateway
}
if [ "$WAITING_EVENTS" -gt 0 ]; then
    backlog
    rcli FLUSHALL >/dev/null
fi

fanout fanout-1 "$CFG1" 1
fanout fanout-10 "$CFG10" 10
# Subscribers that take FANOUT_DELAY_MS to answer, max_in_flight 16 each:
# one subscription is then bound by its own concurrency, not by the CPU.
if [ "$FANOUT_DELAY_MS" -gt 0 ]; then
    fanout fanout-1-slow "$CFG1_16" 1 "$FANOUT_DELAY_MS"
    fanout fanout-10-slow "$CFG10_16" 10 "$FANOUT_DELAY_MS"
fi
stop_redis

# --- AOF, appendfsync always ---------------------------------------------------
if [ "$AOF" = 1 ]; then
    start_redis aof
    ingest_max aof-ingest
    extra aof.ratio "$(awk -v g="$(rate_of aof-ingest)" -v b="$(rate_of baseline)" 'BEGIN { printf "%.3f", g / b }')"
    open_loop aof-open-half aof-ingest
    stop_redis
fi

# --- summary ---------------------------------------------------------------------
log "writing $OUT/summary.md"
cp "$CFG1" "$CFG10" "$CFG1_16" "$CFG10_16" "$OUT/"
sed -i "s|$TMP/||g" "$OUT/commands.txt"
{
    echo "## nproc"; nproc
    echo "## free -g"; free -g
    echo "## lscpu | head -20"; lscpu | head -20
    echo "## uname -srm"; uname -srm
    echo "## rustc -V"; rustc -V
    echo "## redis-server --version"; redis-server --version
    echo "## git"; git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || true
    git -C "$ROOT" status --short 2>/dev/null | head -20 || true
} >"$TMP/machine.txt"
python3 "$ROOT/benches/summary.py" --out "$OUT" --machine "$MACHINE" --date "$DATE" \
    --machine-info "$TMP/machine.txt" --tmp "$TMP" \
    --fanout-delay "$FANOUT_DELAY_MS" \
    --settings "STEP_SECS=$STEP_SECS CONNS=$CONNS CONNS_HIGH=$CONNS_HIGH BODY=$BODY FANOUT_EVENTS=$FANOUT_EVENTS FANOUT_DELAY_MS=$FANOUT_DELAY_MS WAITING_EVENTS=$WAITING_EVENTS AOF=$AOF"
cat "$OUT/summary.md"
