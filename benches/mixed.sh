#!/usr/bin/env bash
# benches/mixed.sh: callbacks and deliveries at once on the SQLite store, at
# one open-loop rate: whether deliveries to one fast subscriber keep up
# with the callbacks, what the callbacks' latency is meanwhile, and where
# the CPU goes. Builds can be compared in one interleaved run.
#
# Per round and per build: a gateway on a new SQLite file with one
# subscription (`max_in_flight` MIF) to a sink; signed Stripe callbacks at
# RATE a second for SECS (open loop, 256 connections). Over a window in the
# middle (from 5 s in, WINDOW seconds) it reads the deliveries made, the
# route's queue depth at both ends, and the CPU of the gateway (and of its
# threads by name), the generator and the sink from /proc.
#
# Knobs: BUILDS (directories holding hookgate, loadgen; default: this
# checkout's target/release, built first), NICES (`[delivery] nice` values
# to alternate as well; default: the gateway's own, 5), ROUNDS (3), RATE
# (4000), SECS (20), WINDOW (10), MIF (64), OUT.
# Output: one CSV row per run in $OUT/mixed.csv, and a line each on stdout.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
RATE=${RATE:-4000}
SECS=${SECS:-20}
WINDOW=${WINDOW:-10}
MIF=${MIF:-64}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
OUT=${OUT:-"$ROOT/benches/results/$(date -u +%F)-$MACHINE-mixed"}
TMP=$(mktemp -d /tmp/hookgate-mixed.XXXXXX)
CMDS="$OUT/commands.txt"
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"

. "$ROOT/benches/lib.sh"

if [ "$((SECS - 5))" -le "$WINDOW" ]; then
    echo "SECS ($SECS) must exceed WINDOW ($WINDOW) by more than 5" >&2
    exit 2
fi

mkdir -p "$OUT"
: >"$CMDS"
CSV="$OUT/mixed.csv"
[ -s "$CSV" ] ||
    echo "build,nice,round,rate,mif,ingested_per_s,p50_ms,p99_ms,delivered_per_s,depth_start,depth_end,gateway_cores,writer_cores,ingest_cores,delivery_cores,loadgen_cores,sink_cores,idle_cores" >"$CSV"

default_builds

GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
DB="$TMP/hookgate.db"
STORE_TOML=$(sqlite_store_toml "$DB")
CFG="$TMP/mixed.toml"
write_config() { # nice
    {
        config_head benches/mixed.sh
        printf '\n[log]\nlevel = "warn"\n\n[delivery]\nnice = %s\n' "$1"
        stripe_source 1024
        stripe_subscription sink0 "http://127.0.0.1:$SINK_PORT/s0" "$MIF"
    } >"$CFG"
}

ticks() { awk '{ print $14 + $15 }' "$1" 2>/dev/null || echo 0; } # utime + stime
# The gateway's ticks by thread name, as `name=ticks` words.
thread_ticks() {
    local t
    for t in /proc/"$GW_PID"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(ticks "$t/stat")"
    done 2>/dev/null | awk '{ s[$1] += $2 } END { for (k in s) printf "%s=%d ", k, s[k] }'
}
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
metric() { # name with labels, as a grep pattern: the sum of its series
    curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" | grep -E "^$1" | awk '{ s += $NF } END { printf "%d", s }'
}
delivered() { metric 'hookgate_deliveries_total\{.*outcome="delivered"'; }
depth() { metric 'hookgate_queue_depth\{'; }

# A reading: seconds, gateway, generator, sink and idle ticks, deliveries,
# depth, then the threads.
reading() { # generator pid, sink pid
    echo "$(date +%s.%N) $(ticks "/proc/$GW_PID/stat") $(ticks "/proc/$1/stat") $(ticks "/proc/$2/stat") $(idle_ticks) $(delivered) $(depth) $(thread_ticks)"
}

mixed_once() { # build dir, nice, round
    local dir=$1 nice=$2 round=$3 sink lg before after
    HOOKGATE="$dir/hookgate"
    write_config "$nice"
    start_gateway "$CFG" mixed
    logcmd "$dir/loadgen" sink --listen "127.0.0.1:$SINK_PORT" --expect 0
    "$dir/loadgen" sink --listen "127.0.0.1:$SINK_PORT" --expect 0 --timeout $((SECS + 60)) \
        --idle 10 >"$TMP/sink.log" 2>&1 &
    sink=$!
    ours "$sink"
    wait_for 10 grep -q listening "$TMP/sink.log"
    logcmd "$dir/loadgen" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --connections 256 \
        --rate "$RATE" --duration "$SECS"
    "$dir/loadgen" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --connections 256 \
        --rate "$RATE" --duration "$SECS" --requests 10000000 >"$TMP/ingest.log" 2>&1 &
    lg=$!
    ours "$lg"
    sleep 5
    before=$(reading "$lg" "$sink")
    sleep "$WINDOW"
    after=$(reading "$lg" "$sink")
    wait "$lg" || true
    kill -TERM "$sink" 2>/dev/null || true
    wait "$sink" 2>/dev/null || true
    stop_gateway
    python3 - "$dir,$nice" "$round" "$RATE" "$MIF" "$(getconf CLK_TCK)" "$TMP/ingest.log" "$before" "$after" >>"$CSV" <<'EOF'
import sys
d, rnd, rate, mif, hz, log, before, after = sys.argv[1:]
hz = int(hz)
b, a = before.split(), after.split()
secs = float(a[0]) - float(b[0])
cores = lambda i: (int(a[i]) - int(b[i])) / hz / secs
threads = lambda r: {k: int(v) for k, v in (w.split("=") for w in r[7:])}
tb, ta = threads(b), threads(a)
by_name = lambda name: (ta.get(name, 0) - tb.get(name, 0)) / hz / secs
# The generator's summary row: count per_s p50_ms p90_ms p99_ms ...
row = [l.split() for l in open(log) if l.split() and l.split()[0].isdigit()][-1]
print(f"{d},{rnd},{rate},{mif},{float(row[1]):.0f},{row[2]},{row[4]},"
      f"{(int(a[5]) - int(b[5])) / secs:.0f},{b[6]},{a[6]},"
      f"{cores(1):.2f},{by_name('hg-sqlite-write'):.2f},{by_name('tokio-rt-worker'):.2f},"
      f"{by_name('hookgate-delive'):.2f},{cores(2):.2f},{cores(3):.2f},{cores(4):.2f}")
EOF
    tail -1 "$CSV"
}

for ((round = 1; round <= ROUNDS; round++)); do
    for dir in $BUILDS; do
        for nice in ${NICES:-5}; do
            log "round $round: $dir, delivery nice $nice"
            mixed_once "$dir" "$nice" "$round"
        done
    done
done
