#!/usr/bin/env bash
# benches/console_paint.sh: the operator console's first paint with a large
# store (docs/console.md "First paint"), on this machine, loopback only.
#
# Per size in SIZES: a fresh SQLite file filled with that many Stripe events
# through the store API (benches/examples/fill_events.rs, bounded by
# FILL_MAX_S; the size reached is what is recorded), the release gateway
# started on it, and headless Chromium (chromedriver) signed in loading the
# Events page and the Overview as new documents RUNS times each
# (benches/console_paint.py): first paint, first contentful paint, the first
# table row in the document and on screen (the next frame), and the listing
# call's duration, in ms since navigation start.
#
# Results: benches/results/<date>-<machine>-console/ (raw.csv, summary.md,
# commands.txt, machine.txt, config.toml). Knobs: SIZES ("10000 1000000"),
# RUNS (5), FILL_MAX_S (900), MACHINE, OUT; HOOKGATE_CHROMEDRIVER and
# HOOKGATE_CHROMIUM as for the console tests.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SIZES=${SIZES:-"10000 1000000"}
RUNS=${RUNS:-5}
FILL_MAX_S=${FILL_MAX_S:-900}
MACHINE=${MACHINE:-"$(nproc)core"}
DATE=$(date -u +%F)
OUT=${OUT:-"$ROOT/benches/results/$DATE-$MACHINE-console"}
RAW="$OUT/raw.csv"
CMDS="$OUT/commands.txt"
TMP=$(mktemp -d /tmp/hookgate-paint.XXXXXX)
CHROMEDRIVER=${HOOKGATE_CHROMEDRIVER:-/usr/bin/chromedriver}
CHROMIUM=${HOOKGATE_CHROMIUM:-/usr/bin/chromium}
export HOOKGATE_CHROMIUM=$CHROMIUM

RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
HOOKGATE="$RELEASE/hookgate"
FILL="$RELEASE/examples/fill_events"

. "$ROOT/benches/lib.sh"

run() {
    logcmd "$@"
    "$@"
}

mkdir -p "$OUT"
rm -f "$RAW"
: >"$CMDS"
echo 0 >"$TMP/pids"

log "building release binaries"
# One command, so the two share one feature resolution (and one build).
run cargo build --release -p hookgate --bin hookgate -p hookgate-benches --example fill_events

{
    echo "date: $(date -u +%FT%TZ)"
    echo "cpu: $(lscpu | awk -F: '/Model name/{gsub(/^ +/,"",$2); print $2; exit}') ($(nproc) cores)"
    echo "memory: $(free -g | awk '/^Mem:/{print $2}') GiB"
    echo "kernel: $(uname -r)"
    echo "chromium: $("$CHROMIUM" --version 2>/dev/null | head -1)"
    echo "chromedriver: $("$CHROMEDRIVER" --version | head -1)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "other processes above 20 % CPU at start:"
    top -b -n2 -d1 -w 200 | awk '/^top -/{n++} n==2 && $1 ~ /^[0-9]+$/ && $9 > 20 {print "  " $9 "% " $12}'
} >"$OUT/machine.txt"

DRIVER_PORT=$(free_port)
logcmd "$CHROMEDRIVER" --port="$DRIVER_PORT" --allowed-ips=127.0.0.1
"$CHROMEDRIVER" --port="$DRIVER_PORT" --allowed-ips=127.0.0.1 >"$TMP/chromedriver.log" 2>&1 &
ours $!
wait_for 15 curl -sf "http://127.0.0.1:$DRIVER_PORT/status"

for size in $SIZES; do
    GW_PORT=$(free_port)
    ADMIN_PORT=$(free_port)
    DB="$TMP/hookgate-$size.db"
    STORE_TOML=$(sqlite_store_toml "$DB")
    log "filling $size events"
    run "$FILL" "$DB" "$size" "$FILL_MAX_S" | tee "$TMP/fill-$size.txt"
    reached=$(awk '/^filled/{print $2}' "$TMP/fill-$size.txt")
    echo "$size: $(cat "$TMP/fill-$size.txt" | paste -sd';'), file $(du -sh "$DB" | cut -f1)" >>"$OUT/fill.txt"
    {
        config_head benches/console_paint.sh
        printf '\n[log]\nlevel = "warn"\n'
        stripe_source 4
        stripe_subscription ledger "http://127.0.0.1:9/unused" 16
    } >"$TMP/config.toml"
    sed "s|$TMP|\$TMP|g" "$TMP/config.toml" >"$OUT/config.toml"
    logcmd "$HOOKGATE" serve --config "$TMP/config.toml"
    "$HOOKGATE" serve --config "$TMP/config.toml" >"$TMP/gateway-$size.log" 2>&1 &
    GW_PID=$!
    ours "$GW_PID"
    wait_for 60 curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"
    log "measuring ($reached events stored)"
    logcmd python3 benches/console_paint.py "http://127.0.0.1:$ADMIN_PORT" "http://127.0.0.1:$DRIVER_PORT" "$RUNS" "$RAW" "$reached"
    HOOKGATE_TOKEN=$TOKEN python3 benches/console_paint.py "http://127.0.0.1:$ADMIN_PORT" \
        "http://127.0.0.1:$DRIVER_PORT" "$RUNS" "$RAW" "$reached"
    kill -TERM "$GW_PID" 2>/dev/null || true
    wait "$GW_PID" 2>/dev/null || true
    rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-lock"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

python3 - "$RAW" "$OUT/summary-table.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
out = ["| events stored | page | runs | first contentful paint, median (min–max) | first row on screen, median (min–max) | listing call, median |",
       "| --- | --- | --- | --- | --- | --- |"]
keys = sorted({(int(r["label"]), r["page"]) for r in rows})
for size, page in keys:
    rs = [r for r in rows if int(r["label"]) == size and r["page"] == page]
    def stat(k):
        v = [float(r[k]) for r in rs if r[k]]
        return f"{statistics.median(v):.0f} ms ({min(v):.0f}–{max(v):.0f})" if v else "—"
    api = [float(r["api_ms"]) for r in rs if r["api_ms"]]
    out.append(f"| {size:,} | {page} | {len(rs)} | {stat('first_contentful_paint')} | {stat('row_painted')} | "
               + (f"{statistics.median(api):.1f} ms |" if api else "— |"))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
PY
log "results in ${OUT#"$ROOT"/}"
