#!/usr/bin/env bash
# Runs the README's subscriber snippets (Python and Node, with the official
# Standard Webhooks libraries) against a real gateway on config/dev.toml's
# sources and subscription, and checks that each receives and verifies a
# signed Stripe callback. Needs target/debug/hookgate (cargo build -p
# hookgate), python3 with pip and node with npm; installs the two libraries
# into a temporary folder (prints what it installs).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${HOOKGATE_BIN:-target/debug/hookgate}
[ -x "$bin" ] || { echo "error: $bin not built (cargo build -p hookgate)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work" <<'PY'
import re, sys
readme = open("README.md").read()
blocks = dict(re.findall(r"```(python|js)\n(.*?)```", readme, re.S))
for lang, name in (("python", "subscriber.py"), ("js", "subscriber.mjs")):
    if lang not in blocks:
        sys.exit(f"error: no {lang} block in README.md")
    open(f"{sys.argv[1]}/{name}", "w").write(blocks[lang])
PY

echo "installing standardwebhooks (PyPI, npm) into $work"
python3 -m pip install -q --root-user-action=ignore --target "$work/py" standardwebhooks
(cd "$work" && npm init -y >/dev/null && npm install -q --no-audit --no-fund standardwebhooks >/dev/null)

# config/dev.toml with free ports and a store file of its own.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ingest=$(port); admin=$(port)
sed -e "s|127.0.0.1:8080|127.0.0.1:$ingest|" -e "s|127.0.0.1:9090|127.0.0.1:$admin|" \
    -e "s|path = \"../data/hookgate.db\"|path = \"$work/hookgate.db\"|" config/dev.toml > "$work/dev.toml"
grep -q "127.0.0.1:7001/events" "$work/dev.toml" || { echo "error: dev.toml's subscriber is not 127.0.0.1:7001" >&2; exit 1; }
"$bin" serve --config "$work/dev.toml" > "$work/gateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null && break
  sleep 0.1
done

send() { # send ID: a signed Stripe callback as the README's quick start sends it
  local body ts sig
  body="{\"id\":\"$1\",\"type\":\"payment_intent.succeeded\",\"created\":1700000000,\"data\":{\"object\":{\"id\":\"pi_1\"}}}"
  ts=$(date +%s)
  sig=$(printf '%s' "$ts.$body" | openssl dgst -sha256 -hmac whsec_dev_stripe_secret | awk '{print $2}')
  curl -sf "http://127.0.0.1:$ingest/ingest/stripe" -H "stripe-signature: t=$ts,v1=$sig" -d "$body" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"][0]["id"])'
}

failed=0
check() { # check NAME CMD...: runs a subscriber on :7001, sends one callback, waits for it
  local name=$1; shift
  "$@" > "$work/$name.out" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/7001) 2>/dev/null && break; sleep 0.1; done
  local id
  id=$(send "evt_readme_$name")
  for _ in $(seq 100); do grep -q "$id" "$work/$name.out" && break; sleep 0.1; done
  if grep -q "$id payment.succeeded" "$work/$name.out"; then
    echo "ok: the README's $name subscriber verified and printed $id"
  else
    echo "FAILED: the README's $name subscriber did not print $id; its output:" >&2
    cat "$work/$name.out" >&2
    failed=1
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
check python env PYTHONPATH="$work/py" python3 -u "$work/subscriber.py"
check node node "$work/subscriber.mjs"
exit $failed
