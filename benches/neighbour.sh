#!/usr/bin/env bash
# benches/neighbour.sh: the "sick neighbour" scenario (docs/delivery.md: "One dead or
# slow subscriber never slows the others"), on this machine, loopback only.
#
# One Stripe source, two subscriptions matching every event ("stripe.*"):
#   healthy -> `loadgen sink` (answers 200, measures end-to-end latency)
#   sick    -> timeout 2s, max_in_flight 16, retry base_delay 1s, pointing at
#              either `loadgen hang` (accepts, never answers) or a free port
#              where nothing listens (connection refused).
# The same open-loop load (RATE req/s for SECS s) runs once per variant:
#   alone          the sick subscription is absent from the config
#   hang, refuse   the sick subscription's breaker never opens
#                  (failures = 1000000): the worst case, every event costs
#                  the sick route a full attempt and its retries
#   hang-breaker, refuse-breaker   the same with the default breaker
#                  (5 failures, 30s cooldown), as a deployment would run
# and reports the healthy sink's end-to-end latency and deliveries/s.
# Each variant gets a fresh redis-server (free port, never 6379) and gateway.
# Results: $OUT/neighbour.csv (generator + sink rows), neighbour-metrics.txt
# (gateway counters per variant), neighbour-interference.txt, and a section
# appended to $OUT/summary.md. Everything started is killed on exit.
#
# Knobs (environment): RATE (500), SECS (20), CONNS (256), BODY (1024),
# VARIANTS ("alone hang refuse hang-breaker refuse-breaker"), BUILD (1),
# OUT (benches/results/<date>-<nproc>core-<mem>g).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

RATE=${RATE:-500}
SECS=${SECS:-20}
CONNS=${CONNS:-256}
BODY=${BODY:-1024}
VARIANTS=${VARIANTS:-"alone hang refuse hang-breaker refuse-breaker"}
BUILD=${BUILD:-1}
MACHINE=${MACHINE:-"$(nproc)core-$(free -g | awk '/^Mem:/{print $2}')g"}
DATE=$(date -u +%F)
OUT=${OUT:-"$ROOT/benches/results/$DATE-$MACHINE"}
CSV="$OUT/neighbour.csv"
METRICS="$OUT/neighbour-metrics.txt"
INTERF="$OUT/neighbour-interference.txt"
CMDS="$OUT/neighbour-commands.txt"
TMP=$(mktemp -d /tmp/hookgate-neighbour.XXXXXX)

RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
LOADGEN="$RELEASE/loadgen"
HOOKGATE="$RELEASE/hookgate"

. "$ROOT/benches/lib.sh"


mkdir -p "$OUT"
rm -f "$CSV"
: >"$METRICS"
: >"$INTERF"
: >"$CMDS"

if [ "$BUILD" = 1 ]; then
    log "building release binaries"
    logcmd cargo build --release -p hookgate
    cargo build --release -p hookgate
    logcmd cargo build --release -p hookgate-benches --bins
    cargo build --release -p hookgate-benches --bins
fi

# Other processes using the CPU (the machine is shared), as in run.sh.
echo 0 >"$TMP/pids"
interference_sampler "$INTERF" &
PIDS+=("$!")

REDIS_PORT=$(free_port)
GW_PORT=$(free_port)
ADMIN_PORT=$(free_port)
SINK_PORT=$(free_port)
HANG_PORT=$(free_port)
REFUSE_PORT=$(free_port) # nothing ever listens here

write_config() { # file, sick url ("" = no sick subscription), breaker failures
    config_head benches/neighbour.sh >"$1"
    cat >>"$1" <<EOF

[delivery]
visibility_timeout = "15s"

[log]
level = "warn"
EOF
    stripe_source 128 >>"$1"
    stripe_subscription healthy "http://127.0.0.1:$SINK_PORT/healthy" 64 >>"$1"
    [ -n "$2" ] || return 0
    cat >>"$1" <<EOF

[[subscriptions]]
id = "sick"
url = "$2"
events = ["stripe.*"]
secret = { value = "whsec_YmVuY2gtc3Vic2NyaXB0aW9uLXNpZ25pbmcta2V5" }
timeout = "2s"
max_in_flight = 16
retry = { max_attempts = 10, base_delay = "1s", max_delay = "10s", max_age = "1h" }
breaker = { failures = $3, cooldown = "30s" }
EOF
}

variant() { # label
    local label=$1 sick_url="" failures=1000000 hang_pid=""
    case "$label" in
    alone) ;;
    hang | hang-breaker) sick_url="http://127.0.0.1:$HANG_PORT/sick" ;;
    refuse | refuse-breaker) sick_url="http://127.0.0.1:$REFUSE_PORT/sick" ;;
    *) echo "unknown variant $label" >&2; return 1 ;;
    esac
    case "$label" in *-breaker) failures=5 ;; esac
    log "neighbour/$label: open loop $RATE req/s for ${SECS}s, sick = ${sick_url:-none}"
    start_redis "$label"
    write_config "$TMP/neighbour-$label.toml" "$sick_url" "$failures"
    if [[ $label == hang* ]]; then
        local hargs=(hang --listen "127.0.0.1:$HANG_PORT" --timeout $((SECS + 90)))
        logcmd "$LOADGEN" "${hargs[@]}"
        "$LOADGEN" "${hargs[@]}" >"$TMP/hang-$label.log" 2>&1 &
        hang_pid=$!
        ours "$hang_pid"
        wait_for 10 grep -q listening "$TMP/hang-$label.log"
    fi
    start_gateway "$TMP/neighbour-$label.toml" "$label"
    local sargs=(sink --listen "127.0.0.1:$SINK_PORT" --expect 0 --timeout $((SECS + 60))
        --idle 3 --csv "$CSV" --label "$label-sink")
    logcmd "$LOADGEN" "${sargs[@]}"
    "$LOADGEN" "${sargs[@]}" >"$TMP/sink-$label.log" 2>&1 &
    local sink_pid=$!
    ours "$sink_pid"
    wait_for 10 grep -q listening "$TMP/sink-$label.log"
    local gargs=(--url "http://127.0.0.1:$GW_PORT/ingest/stripe" --label "$label" --csv "$CSV"
        --body-size "$BODY" --connections "$CONNS" --rate "$RATE" --duration "$SECS"
        --requests $((RATE * SECS)))
    logcmd "$LOADGEN" "${gargs[@]}"
    "$LOADGEN" "${gargs[@]}"
    # The sink stops 3 s after its last delivery (or at its timeout).
    wait "$sink_pid" 2>/dev/null || true
    cat "$TMP/sink-$label.log"
    {
        echo "## $label"
        curl -sf "http://127.0.0.1:$ADMIN_PORT/metrics" |
            grep -E '^hookgate_(deliveries_total|retries_scheduled_total|breaker_state|queue_depth|dlq_depth)' || true
    } >>"$METRICS"
    stop_gateway
    if [ -n "$hang_pid" ]; then
        kill -TERM "$hang_pid" 2>/dev/null || true
        wait "$hang_pid" 2>/dev/null || true
        echo "## $label hang listener: $(grep '^hang:' "$TMP/hang-$label.log")" >>"$METRICS"
    fi
    stop_redis
    cp "$TMP/neighbour-$label.toml" "$OUT/"
}

for v in $VARIANTS; do
    variant "$v"
done

log "appending the neighbour section to $OUT/summary.md"
sed -i "s|$TMP/||g" "$CMDS"
python3 - "$CSV" "$INTERF" "$OUT/summary.md" "$RATE" "$SECS" "$CONNS" "$BODY" <<'EOF'
import csv, sys
path, interf, summary, rate, secs, conns, body = sys.argv[1:8]
rows = {r["label"]: r for r in csv.DictReader(open(path))}
samples = []
for line in open(interf):
    p = line.split()
    if len(p) >= 4:
        samples.append((int(p[0]), p[2], p[3]))
def busy(r):
    end = int(r["unix_time"]); start = end - float(r["elapsed_s"]) - 2
    hits = sorted({f"{n} {c}" for t, c, n in samples if start <= t <= end + 2})
    return ", ".join(hits) if hits else "none seen"
base = rows.get("alone-sink")
out = ["", "## Sick neighbour (`benches/neighbour.sh`)", "",
       f"One Stripe source, open loop {rate} req/s for {secs} s, {conns} connections, "
       f"{body} B bodies; subscription `healthy` -> `loadgen sink`, `sick` (timeout 2s, "
       "max_in_flight 16, retry base_delay 1s) -> `loadgen hang` (accepts, never answers) "
       "or a port where nothing listens. `hang`/`refuse`: the sick breaker never opens "
       "(failures = 1000000); `*-breaker`: default breaker (5 failures, 30s cooldown). "
       "Latency = the healthy sink's end to end (generator's scheduled send -> sink "
       "received); ratios are to `alone`. Raw rows: `neighbour.csv`; gateway counters: "
       "`neighbour-metrics.txt`.", "",
       "| variant | ingest req/s (2xx) | ingest p99 | healthy deliveries | healthy deliveries/s | "
       "p50 | p99 | p99.9 | p50 / p99 / p99.9 vs alone | other CPU load seen |",
       "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
ms = lambda us: f"{int(us) / 1000:.2f} ms"
for label in ["alone", "hang", "refuse", "hang-breaker", "refuse-breaker"]:
    g, s = rows.get(label), rows.get(label + "-sink")
    if not g or not s:
        continue
    ratio = "1 / 1 / 1"
    if base and label != "alone":
        ratio = " / ".join(f"{int(s[k]) / max(1, int(base[k])):.2f}×"
                           for k in ("p50_us", "p99_us", "p999_us"))
    out.append(f"| {label} | {float(g['per_s']):.0f} ({g['s2xx']}) | {ms(g['p99_us'])} | {s['count']} "
               f"| {float(s['per_s']):.1f} | {ms(s['p50_us'])} | {ms(s['p99_us'])} | "
               f"{ms(s['p999_us'])} | {ratio} | {busy(g)} |")
out.append("")
open(summary, "a").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
