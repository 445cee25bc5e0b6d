#!/usr/bin/env bash
# benches/ordering.sh: delivery rate with ordering keys on and off, on this
# machine, loopback only.
#
# Per round and per mode (unordered, then `ordering = "subject"`): a fresh
# gateway whose one subscription is paused; EVENTS Stripe events spread over
# KEYS objects (the subject, `data.object.id`) ingested closed loop; then a
# sink that answers each delivery after DELAY_MS, and the subscription
# resumed: the figure is the sink's deliveries per second (first to last
# delivery), and how many arrived after a later event of their key.
# MAX_IN_FLIGHT caps the subscription's concurrency in both modes.
#
# Results: benches/results/<date>-<machine>-ordering/ (raw.csv, summary.md,
# commands.txt, the configs). Knobs: ROUNDS (3), EVENTS (20000), KEYS (1000),
# DELAY_MS (10), MAX_IN_FLIGHT (64), STORE (sqlite | redis), MACHINE, OUT.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

ROUNDS=${ROUNDS:-3}
EVENTS=${EVENTS:-20000}
KEYS=${KEYS:-1000}
DELAY_MS=${DELAY_MS:-10}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-64}
STORE=${STORE:-sqlite}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
DATE=$(date -u +%F)
OUT=${OUT:-"$ROOT/benches/results/$DATE-$MACHINE-ordering"}
RAW="$OUT/raw.csv"
CMDS="$OUT/commands.txt"
TMP=$(mktemp -d /tmp/hookgate-ordering.XXXXXX)

RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LOADGEN="$RELEASE/loadgen"
HOOKGATE="$RELEASE/hookgate"

. "$ROOT/benches/lib.sh"

run() {
    logcmd "$@"
    "$@"
}

mkdir -p "$OUT"
echo "label,gateway_cpu_us_per_delivery" >"$OUT/cpu.csv"
: >"$RAW"
: >"$CMDS"

log "building release binaries"
run cargo build --release -p hookgate
run cargo build --release -p hookgate-benches --bins
echo 0 >"$TMP/pids"

REDIS_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
DB="$TMP/hookgate.db"
case $STORE in
    sqlite) STORE_TOML=$(sqlite_store_toml "$DB") ;;
    redis)
        start_redis plain
        STORE_TOML=$(printf '[store]\nbackend = "redis"\nurl = "redis://127.0.0.1:%s"\n' "$REDIS_PORT")
        ;;
    *) echo "STORE: sqlite or redis" >&2; exit 2 ;;
esac
export STORE_TOML

write_config() { # file, ordering line ('' for none)
    config_head benches/ordering.sh >"$1"
    printf '\n[log]\nlevel = "warn"\n' >>"$1"
    stripe_source 1024 >>"$1"
    stripe_subscription sink0 "http://127.0.0.1:$SINK_PORT/s0" "$MAX_IN_FLIGHT" >>"$1"
    [ -z "$2" ] || echo "$2" >>"$1"
}
write_config "$OUT/unordered.toml" ""
write_config "$OUT/ordered.toml" 'ordering = "subject"'

# CPU seconds (user + system) the gateway has used so far.
gw_cpu() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$GW_PID/stat"
}

admin() { # method, path
    curl -sf -X "$1" -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$ADMIN_PORT$2"
}
queued() {
    curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" |
        awk '/^hookgate_queue_depth\{/ { s += $2 } END { printf "%d", s }'
}

one() { # mode, round
    local mode=$1 label="$1-r$2"
    log "$label"
    start_gateway "$OUT/$mode.toml" "$label"
    admin POST /admin/v1/subscriptions/sink0/pause >/dev/null
    run "$LOADGEN" --url "http://127.0.0.1:$GW_PORT/ingest/stripe" --keys "$KEYS" \
        --requests "$EVENTS" --duration 120 --connections 64 --csv "$RAW" --label "ingest-$label"
    # Every event fanned out (queued or held) before the clock starts.
    local deadline=$((SECONDS + 60))
    until [ "$(queued)" -ge "$EVENTS" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "fan-out did not finish" >&2; exit 1; }
        sleep 0.2
    done
    logcmd "$LOADGEN" sink --listen "127.0.0.1:$SINK_PORT" --expect "$EVENTS" --timeout 300 \
        --idle 10 --delay-ms "$DELAY_MS" --csv "$RAW" --label "deliver-$label"
    "$LOADGEN" sink --listen "127.0.0.1:$SINK_PORT" --expect "$EVENTS" --timeout 300 \
        --idle 10 --delay-ms "$DELAY_MS" --csv "$RAW" --label "deliver-$label" \
        >"$TMP/sink-$label.log" 2>&1 &
    local sink=$!
    ours "$sink"
    wait_for 10 grep -q listening "$TMP/sink-$label.log"
    local cpu0
    cpu0=$(gw_cpu)
    admin POST /admin/v1/subscriptions/sink0/resume >/dev/null
    wait "$sink" || true
    echo "$label,$(awk -v a="$cpu0" -v b="$(gw_cpu)" -v n="$EVENTS" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }')" >>"$OUT/cpu.csv"
    stop_gateway
}

for round in $(seq 1 "$ROUNDS"); do
    one unordered "$round"
    one ordered "$round"
done

python3 - "$RAW" "$OUT/summary.md" "$OUT/cpu.csv" <<EOF
import csv, re, sys, statistics
rows = [r for r in csv.reader(open(sys.argv[1])) if r and r[0] != "unix_time"]
rate = {"unordered": [], "ordered": []}
late = {"unordered": [], "ordered": []}
for r in rows:
    if not r[1].startswith("deliver-"):
        continue
    mode = r[1].split("-")[1]
    rate[mode].append(float(r[9]))
    m = re.search(r"out_of_order=(\d+)", r[-1])
    late[mode].append(int(m.group(1)) if m else -1)
cpu = {"unordered": [], "ordered": []}
for r in list(csv.reader(open(sys.argv[3])))[1:]:
    cpu[r[0].split("-")[0]].append(float(r[1]))
u, o = statistics.mean(rate["unordered"]), statistics.mean(rate["ordered"])
with open(sys.argv[2], "w") as f:
    f.write(f"""# Ordering keys on and off ($DATE, $MACHINE, store $STORE)

\`benches/ordering.sh\`: $EVENTS Stripe events over $KEYS keys (the subject),
ingested while the subscription is paused, then delivered to a sink that
answers after $DELAY_MS ms, \`max_in_flight = $MAX_IN_FLIGHT\`; $ROUNDS
interleaved rounds per mode. Raw rows: \`raw.csv\`; commands:
\`commands.txt\`.

| mode | deliveries/s per round | mean | gateway CPU per delivery (µs) | out of order per key |
| --- | --- | --- | --- | --- |
| unordered | {", ".join(f"{x:,.0f}" for x in rate["unordered"])} | {u:,.0f} | {", ".join(f"{x:.0f}" for x in cpu["unordered"])} | {", ".join(map(str, late["unordered"]))} |
| \`ordering = "subject"\` | {", ".join(f"{x:,.0f}" for x in rate["ordered"])} | {o:,.0f} | {", ".join(f"{x:.0f}" for x in cpu["ordered"])} | {", ".join(map(str, late["ordered"]))} |

Ordered is **{100 * o / u:.0f} %** of unordered (target: at least 80 %).
""")
print(open(sys.argv[2]).read())
EOF
{
    echo
    echo "Machine: $(nproc) CPUs, $(free -g | awk '/^Mem:/{print $2}') GiB; $(lscpu | awk -F: '/Model name/{gsub(/^ +/, "", $2); print $2}')"
    echo "rustc: $(rustc --version)"
} >>"$OUT/summary.md"
