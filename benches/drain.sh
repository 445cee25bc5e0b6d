#!/usr/bin/env bash
# benches/drain.sh: how fast a backlog drains to one fast subscriber on the
# SQLite store, and what each delivery costs the gateway's CPU and its
# store writer thread. Builds can be compared in one interleaved run.
#
# Per round and per build: a gateway on a new SQLite file, its one
# subscription (`max_in_flight` MIF) paused; N signed Stripe callbacks
# ingested (closed loop, 64 connections); then the sink starts, the
# subscription is resumed, and the time until the sink has all N is the
# drain. CPU is read from /proc for the whole gateway and for its
# `hg-sqlite-write` thread over the drain.
#
# Knobs: BUILDS (directories holding hookgate, loadgen; default: this
# checkout's target/release, built first), ROUNDS (3), N (100000), MIF
# (64), NICE ([delivery] nice; default the gateway's own), OUT.
# Output: one CSV row per drain in $OUT/drain.csv, and a line each on
# stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
N=${N:-100000}
MIF=${MIF:-64}
NICE=${NICE:-}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
OUT=${OUT:-"$ROOT/benches/results/$(date -u +%F)-$MACHINE-drain"}
TMP=$(mktemp -d /tmp/hookgate-drain.XXXXXX)
CMDS="$OUT/commands.txt"
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"

. "$ROOT/benches/lib.sh"

mkdir -p "$OUT"
: >"$CMDS"
CSV="$OUT/drain.csv"
[ -s "$CSV" ] || echo "build,round,n,mif,drain_s,per_s,gateway_us,writer_us,gateway_cores" >"$CSV"

default_builds

GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
DB="$TMP/hookgate.db"
STORE_TOML=$(sqlite_store_toml "$DB")
CFG="$TMP/drain.toml"
{
    config_head benches/drain.sh
    printf '\n[log]\nlevel = "warn"\n'
    if [ -n "$NICE" ]; then printf '\n[delivery]\nnice = %s\n' "$NICE"; fi
    stripe_source 1024
    stripe_subscription sink0 "http://127.0.0.1:$SINK_PORT/s0" "$MIF"
} >"$CFG"

ticks() { awk '{ print $14 + $15 }' "$1"; } # utime + stime of a stat file
writer_ticks() {
    local t
    for t in /proc/"$GW_PID"/task/*; do
        if [ "$(cat "$t/comm")" = hg-sqlite-write ]; then ticks "$t/stat"; fi
    done
}
admin() { curl -sf -XPOST -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN_PORT$1" >/dev/null; }

drain_once() { # build dir, round
    local dir=$1 round=$2 hz c0 c1 w0 w1 t0 t1
    HOOKGATE="$dir/hookgate"
    start_gateway "$CFG" drain
    admin /admin/v1/subscriptions/sink0/pause
    logcmd "$dir/loadgen" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --connections 64 --requests "$N"
    "$dir/loadgen" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --connections 64 \
        --duration 120 --requests "$N" >"$TMP/ingest.log" 2>&1
    sleep 3 # the fan-out turns the last events into deliveries
    logcmd "$dir/loadgen" sink --listen "127.0.0.1:$SINK_PORT" --expect "$N"
    "$dir/loadgen" sink --listen "127.0.0.1:$SINK_PORT" --expect "$N" --timeout 120 --idle 10 \
        >"$TMP/sink.log" 2>&1 &
    local sink=$!
    ours "$sink"
    wait_for 10 grep -q listening "$TMP/sink.log"
    c0=$(ticks "/proc/$GW_PID/stat")
    w0=$(writer_ticks)
    t0=$(date +%s.%N)
    admin /admin/v1/subscriptions/sink0/resume
    wait "$sink" || true
    t1=$(date +%s.%N)
    c1=$(ticks "/proc/$GW_PID/stat")
    w1=$(writer_ticks)
    stop_gateway
    hz=$(getconf CLK_TCK)
    python3 - "$dir" "$round" "$N" "$MIF" "$t0" "$t1" "$c0" "$c1" "$w0" "$w1" "$hz" >>"$CSV" <<'EOF'
import sys
d, rnd, n, mif, t0, t1, c0, c1, w0, w1, hz = sys.argv[1:]
n, secs, hz = int(n), float(t1) - float(t0), int(hz)
cpu, writer = (int(c1) - int(c0)) / hz, (int(w1) - int(w0)) / hz
print(f"{d},{rnd},{n},{mif},{secs:.2f},{n / secs:.0f},{cpu * 1e6 / n:.1f},{writer * 1e6 / n:.1f},{cpu / secs:.2f}")
EOF
    tail -1 "$CSV"
}

for ((round = 1; round <= ROUNDS; round++)); do
    for dir in $BUILDS; do
        log "round $round: $dir"
        drain_once "$dir" "$round"
    done
done
