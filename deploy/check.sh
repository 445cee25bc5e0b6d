#!/usr/bin/env bash
# Validates the operations artifacts:
#   promtool check rules  deploy/prometheus/alerts.yml
#   promtool test rules   deploy/prometheus/alerts_test.yml
#   promtool check config deploy/prometheus/prometheus.yml
#   deploy/grafana/hookgate.json is valid JSON (and its panels have unique ids and a gridPos)
# Runs every step, then exits non-zero if any failed.
#
# promtool missing: as root, installs it with `apt-get install -y prometheus`
# (the Debian package ships promtool; `apt-get update` only if that fails) and
# stops a Prometheus server the package may have started; otherwise prints a
# notice and skips the promtool steps.
set -uo pipefail
cd "$(dirname "$0")/.."

failed=0
step() { # step NAME CMD...
  local name=$1; shift
  echo "==> $name"
  if "$@"; then
    echo "    ok"
  else
    echo "    FAILED: $name" >&2
    failed=1
  fi
}

prometheus_pids() { pgrep -x prometheus 2>/dev/null | sort || true; }

install_promtool() {
  local before_pids svc_before=inactive
  before_pids=$(prometheus_pids)
  if command -v systemctl >/dev/null 2>&1; then
    svc_before=$(systemctl is-active prometheus 2>/dev/null || true)
  fi
  echo "==> promtool not found: apt-get install -y prometheus"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y prometheus; then
    apt-get update && apt-get install -y prometheus || return 1
  fi
  # The package may start a server (on :9090, the gateway's admin port):
  # stop what the install started, and nothing else.
  if command -v systemctl >/dev/null 2>&1 && [ "$svc_before" != active ] \
     && [ "$(systemctl is-active prometheus 2>/dev/null)" = active ]; then
    systemctl stop prometheus && systemctl disable prometheus
  fi
  local pid
  for pid in $(comm -13 <(echo "$before_pids") <(prometheus_pids)); do
    echo "    stopping the prometheus server the package started (pid $pid)"
    kill "$pid" 2>/dev/null || true
  done
  command -v promtool >/dev/null 2>&1
}

have_promtool=1
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    install_promtool || { echo "    FAILED: could not install promtool" >&2; failed=1; have_promtool=0; }
  else
    echo "NOTICE: promtool not found and not root (or no apt-get): skipping the Prometheus checks." >&2
    echo "        Install it with: apt-get install -y prometheus   (or a release from prometheus.io)" >&2
    have_promtool=0
  fi
fi

if [ "$have_promtool" = 1 ]; then
  step "promtool check rules deploy/prometheus/alerts.yml" \
    promtool check rules deploy/prometheus/alerts.yml
  step "promtool test rules deploy/prometheus/alerts_test.yml" \
    promtool test rules deploy/prometheus/alerts_test.yml
  # The config loads alerts.yml (relative to itself); skip if a rule file is absent.
  if [ -f deploy/prometheus/prometheus.yml ] && [ -f deploy/prometheus/alerts.yml ]; then
    step "promtool check config deploy/prometheus/prometheus.yml" \
      promtool check config deploy/prometheus/prometheus.yml
  else
    echo "==> promtool check config: skipped (deploy/prometheus/prometheus.yml or its rule file is absent)"
  fi
fi

step "python3 -m json.tool deploy/grafana/hookgate.json" \
  sh -c 'python3 -m json.tool deploy/grafana/hookgate.json >/dev/null'

step "dashboard panels have unique ids and a gridPos" python3 - <<'EOF'
import json, sys
d = json.load(open("deploy/grafana/hookgate.json"))
ids, bad = [], []
for p in d.get("panels", []):
    ids.append(p.get("id"))
    g = p.get("gridPos") or {}
    if not all(k in g for k in ("h", "w", "x", "y")) or g["x"] + g["w"] > 24:
        bad.append(p.get("title"))
dups = sorted({i for i in ids if ids.count(i) > 1}, key=str)
if None in ids or dups or bad:
    print(f"    missing ids: {None in ids}, duplicate ids: {dups}, bad gridPos: {bad}", file=sys.stderr)
    sys.exit(1)
EOF

if [ "$failed" = 0 ]; then
  echo "check.sh: all checks passed"
else
  echo "check.sh: FAILED" >&2
fi
exit "$failed"
