#!/usr/bin/env bash
# benches/cpu_split.sh: CPU time per ingested event of each process (gateway,
# Redis, load generator, sink) during one closed-loop run, loopback only.
#
# On a small shared machine the req/s of two runs of the same binary can
# differ by 20 %; the CPU each process spends per event moves much less, and
# the generator's own CPU per event is a yardstick of the machine's speed at
# that moment (divide by it to compare runs). Use it for before/after
# comparisons of two builds, alternating them:
#
#   HOOKGATE_BIN=old/hookgate benches/cpu_split.sh; HOOKGATE_BIN=new/hookgate benches/cpu_split.sh
#
# Knobs: HOOKGATE_BIN (default <target>/release/hookgate), EVENTS (the
# subscription's pattern: "stripe.*" delivers every event, "none.*" none,
# i.e. ingest only), CONNS (64), SECS (10), STORE (`redis`, the default, a
# Redis without persistence; `sqlite`, a file in $TMP, every 2xx fsynced),
# PERF (set: `perf record` the gateway for 3 s; the flat profile goes to
# $TMP/perf.txt and is printed). The gateway's CPU is also split by thread
# name (the store's writer, syncer and maintenance threads apart from the
# tokio workers).
# Builds nothing: run `cargo build --release -p hookgate -p hookgate-benches
# --bins` first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
TMP=$(mktemp -d /tmp/hookgate-split.XXXXXX)
CMDS=$TMP/commands.txt
. "$ROOT/benches/lib.sh"
REDIS_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
HOOKGATE=${HOOKGATE_BIN:-$RELEASE/hookgate}
LOADGEN=$RELEASE/loadgen

STORE=${STORE:-redis}
if [ "$STORE" = sqlite ]; then
    DB="$TMP/hookgate.db"
    STORE_TOML=$(sqlite_store_toml "$DB")
fi
start_redis none
{
    config_head benches/cpu_split.sh
    printf '\n[log]\nlevel = "warn"\n'
    stripe_source 1024
    # The subscription's pattern decides: every event delivered, or none.
    stripe_subscription sink0 "http://127.0.0.1:$SINK_PORT/s0" 64 |
        sed "s/^events = .*/events = [\"${EVENTS:-stripe.*}\"]/"
} >"$TMP/gw.toml"
start_gateway "$TMP/gw.toml" split
"$LOADGEN" sink --listen "127.0.0.1:$SINK_PORT" --expect 0 --timeout $((${SECS:-10} + 30)) \
    --idle 5 --delay-ms 0 >"$TMP/sink.log" 2>&1 &
SINK=$!
ours "$SINK"
wait_for 10 grep -q listening "$TMP/sink.log"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# The gateway's ticks by thread name (`name ticks` lines, summed per name).
thread_ticks() {
    for t in /proc/"$GW_PID"/task/*; do
        printf '%s %s\n' "$(tr ' ' _ <"$t/comm")" "$(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}')"
    done 2>/dev/null | awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }' | LC_ALL=C sort
}
rcli CONFIG RESETSTAT >/dev/null
thread_ticks >"$TMP/threads0"
g0=$(ticks "$GW_PID"); r0=$(ticks "$REDIS_PID"); s0=$(ticks "$SINK")
"$LOADGEN" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --label split --body-size 1024 \
    --connections "${CONNS:-64}" --duration "${SECS:-10}" --requests 2000000 >"$TMP/loadgen.log" 2>&1 &
LG=$!
ours "$LG"
l0=$(ticks "$LG")
if [ -n "${PERF:-}" ]; then
    sleep 2
    perf record -F 999 -o "$TMP/perf.data" -p "$GW_PID" -- sleep 3 >/dev/null 2>&1
    perf report -i "$TMP/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
        awk '/^ +[0-9]/ { printf "%s %s\n", $1, $3 }' | head -40 >"$TMP/perf.txt" || true
fi
# The generator's last reading before it exits.
l1=$l0
while kill -0 "$LG" 2>/dev/null; do
    l1=$(ticks "$LG")
    sleep 0.2
done
sleep 3 # the deliveries in flight finish
thread_ticks >"$TMP/threads1"
g1=$(ticks "$GW_PID"); r1=$(ticks "$REDIS_PID"); s1=$(ticks "$SINK")
tail -3 "$TMP/loadgen.log"
n=$(awk '/^ +[0-9]+ +[0-9.]+ / { print $1 }' "$TMP/loadgen.log" | tail -1)
awk -v n="$n" -v g=$((g1 - g0)) -v r=$((r1 - r0)) -v s=$((s1 - s0)) -v l=$((l1 - l0)) 'BEGIN {
    f = 10000 / n   # ticks are 1/100 s; per event in µs
    printf "CPU per event (µs): gateway %.1f  redis %.1f  loadgen %.1f  sink %.1f  (gateway / loadgen %.2f)\n",
        g * f, r * f, l * f, s * f, g / l }'
echo "gateway CPU per event by thread (µs):"
LC_ALL=C join -a 2 -e 0 -o 0,1.2,2.2 "$TMP/threads0" "$TMP/threads1" |
    awk -v n="$n" '$3 - $2 > 0 { printf "  %-18s %.1f\n", $1, ($3 - $2) * 10000 / n }'
if [ "$STORE" != sqlite ]; then
    echo "Redis commands (calls, µs inside each; EVALSHA includes the commands its scripts run):"
    rcli INFO commandstats | tr -d '\r' | grep '^cmdstat_' | sed 's/^cmdstat_//; s/,usec_per_call.*//' |
        sort -t= -k2 -n -r | head -15
fi
[ -n "${PERF:-}" ] && { echo "gateway profile (top symbols):"; cat "$TMP/perf.txt"; }
exit 0
