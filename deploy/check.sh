#!/usr/bin/env bash
# Validates the operations and deployment artifacts under deploy/, each with
# the tool that reads it:
#   promtool check rules / test rules / check config   deploy/prometheus/, deploy/docker/prometheus.yml
#   the Grafana dashboard is valid JSON with unique panel ids and a gridPos
#   docker compose config -q (or docker-compose)       deploy/docker/docker-compose*.yml, with and
#                                                       without the redis override and the observability profile
#   BuildKit's Dockerfile parser (PyPI dockerfile) plus structure checks  deploy/docker/Dockerfile
#   the Docker build context (/.dockerignore) holds what the Dockerfile
#     copies, and the workspace in it resolves with --locked (cargo tree)
#   the Dockerfile's HEALTHCHECK command against a gateway started here
#   systemd-analyze verify                              deploy/systemd/hookgate.service (any warning fails)
#   systemd-analyze security --offline                  the same unit: exposure score at most 2.5
#   kubernetes-validate --strict (offline JSON schemas) deploy/kubernetes/{sqlite,redis}, plus
#     `kubectl kustomize` when kubectl is there, and a cross-check of each
#     pod's env, probes, security context and resources (check_artifacts.py)
#   hookgate check-config on every shipped config, with the environment its
#     artifact gives it (env.example, the unit's Environment= and env file,
#     the pod's env resolved from secret.example.yaml) and nothing else
# Runs every step, then exits non-zero if any failed.
#
# Installs, printing each command, only what is missing (as root):
#   promtool             apt-get install -y --no-install-recommends prometheus      (~21 MiB download)
#   docker-compose       apt-get install -y --no-install-recommends docker-compose  (~1 MiB; only without `docker compose`)
#   kubernetes-validate  python3 -m pip install kubernetes-validate==1.37.0         (~22 MiB wheel)
#   dockerfile           python3 -m pip install dockerfile==3.4.0                   (~1.6 MiB wheel)
# A tool that cannot be had (not root, no apt-get or pip) is reported as
# "SKIP: <tool> not available" and its checks are skipped. systemd-analyze
# comes with Debian's systemd package and is not installed by this script.
# The gateway binary: $HOOKGATE_BIN if set, else `cargo build -q -p hookgate`
# (the debug build that `cargo test` reuses).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

failed=0
step() { # step NAME CMD...: runs CMD, reports; returns its success
  local name=$1; shift
  echo "==> $name"
  if "$@"; then
    echo "    ok"
  else
    echo "    FAILED: $name" >&2
    failed=1
    return 1
  fi
}
skip() { echo "SKIP: $1 not available${2:+ ($2)}" >&2; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() { # apt_install PKG: without recommends; `apt-get update` only if needed
  echo "    + apt-get install -y --no-install-recommends $1"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "$1" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$1" >/dev/null; }
}

# pip_install PKG==VERSION WHY: install a PyPI package, printed; fails quietly
pip_install() {
  if ! python3 -m pip --version >/dev/null 2>&1; then return 1; fi
  echo "    + python3 -m pip install $1   ($2)"
  python3 -m pip install -q --disable-pip-version-check "$1" 2>&1 \
    | grep -v "Running pip as the 'root' user" >&2
  hash -r
}

# PyYAML, for check_artifacts.py and the Grafana provisioning check (on
# Debian also python3-yaml; the machine's Python usually has it).
if ! python3 -c 'import yaml' >/dev/null 2>&1; then
  echo "==> PyYAML not found"
  pip_install PyYAML "~0.8 MiB wheel"
fi

tmp=$(mktemp -d)
gateway_pid=
cleanup() {
  if [ -n "$gateway_pid" ]; then kill "$gateway_pid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---------------------------------------------------------------- Prometheus
prometheus_pids() { pgrep -x prometheus 2>/dev/null | sort || true; }

install_promtool() {
  local before_pids svc_before=inactive
  before_pids=$(prometheus_pids)
  if command -v systemctl >/dev/null 2>&1; then
    svc_before=$(systemctl is-active prometheus 2>/dev/null || true)
  fi
  echo "==> promtool not found: installing Debian's prometheus package (it ships promtool)"
  apt_install prometheus || return 1
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
  if is_root && command -v apt-get >/dev/null 2>&1; then
    install_promtool || { echo "    FAILED: could not install promtool" >&2; failed=1; have_promtool=0; }
  else
    skip promtool "not root or no apt-get: apt-get install prometheus, or a release from prometheus.io"
    have_promtool=0
  fi
fi

if [ "$have_promtool" = 1 ]; then
  step "promtool check rules deploy/prometheus/alerts.yml" \
    promtool check rules deploy/prometheus/alerts.yml
  step "promtool test rules deploy/prometheus/alerts_test.yml" \
    promtool test rules deploy/prometheus/alerts_test.yml
  step "promtool check config deploy/prometheus/prometheus.yml" \
    promtool check config deploy/prometheus/prometheus.yml
  # As docker-compose.yml mounts it: alerts.yml beside it.
  mkdir -p "$tmp/prom"
  cp deploy/docker/prometheus.yml deploy/prometheus/alerts.yml "$tmp/prom/"
  step "promtool check config deploy/docker/prometheus.yml (with the alert rules beside it)" \
    promtool check config "$tmp/prom/prometheus.yml"
fi

step "every alert has a runbook_url naming a section of deploy/RUNBOOK.md" python3 - <<'PY'
import re, sys, yaml
rules = [r for g in yaml.safe_load(open("deploy/prometheus/alerts.yml"))["groups"] for r in g["rules"] if "alert" in r]
# GitHub's anchors: the heading lowercased, spaces to '-', other punctuation dropped.
anchors = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
           for h in re.findall(r"^#+ (.+)$", open("deploy/RUNBOOK.md").read(), re.M)}
bad, bases = [], set()
for r in rules:
    url = r.get("annotations", {}).get("runbook_url", "")
    base, _, anchor = url.partition("#")
    bases.add(base)
    if not base.endswith("RUNBOOK.md") or anchor not in anchors:
        bad.append(f"{r['alert']}: {url or 'no runbook_url'}")
if len(bases) > 1:
    bad.append(f"several bases (set them with deploy/prometheus/set-runbook-base.sh): {sorted(bases)}")
if bad:
    print("    " + "\n    ".join(bad), file=sys.stderr)
    sys.exit(1)
PY

# ------------------------------------------------------------------- Grafana
step "python3 -m json.tool deploy/grafana/hookgate.json" \
  sh -c 'python3 -m json.tool deploy/grafana/hookgate.json >/dev/null'

step "dashboard panels have unique ids and a gridPos" python3 - <<'PY'
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
PY

step "Grafana provisioning files (deploy/docker/grafana/) are valid" python3 - <<'PY'
import glob, sys, yaml
files = glob.glob("deploy/docker/grafana/provisioning/*/*.yml")
assert len(files) >= 2, files
for f in files:
    d = yaml.safe_load(open(f))
    if d.get("apiVersion") != 1 or not (d.get("datasources") or d.get("providers")):
        sys.exit(f"    {f}: not a Grafana provisioning file")
PY

# ----------------------------------------------------------- the gateway bin
hookgate=${HOOKGATE_BIN:-}
if [ -z "$hookgate" ]; then
  echo "==> cargo build -q -p hookgate (for check-config)"
  if cargo build -q -p hookgate; then
    hookgate="$(cargo metadata -q --no-deps --format-version 1 \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/hookgate"
  else
    echo "    FAILED: cargo build -p hookgate" >&2; failed=1
  fi
fi
have_hookgate=0
if [ -n "$hookgate" ] && [ -x "$hookgate" ]; then have_hookgate=1; fi

# check_config NAME CONFIG ENVFILE: check-config with exactly the NAME=VALUE
# lines of ENVFILE as its environment (nothing inherited but PATH and HOME).
check_config() {
  local name=$1 config=$2 envfile=$3
  local -a vars=()
  mapfile -t vars < "$envfile"
  step "hookgate check-config $name" \
    env -i PATH="$PATH" HOME="${HOME:-/}" "${vars[@]}" "$hookgate" check-config --config "$config"
}

# -------------------------------------------------------------------- Docker
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
elif is_root && command -v apt-get >/dev/null 2>&1; then
  echo "==> docker compose not found: installing Debian's docker-compose"
  if apt_install docker-compose && command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
  else
    echo "    FAILED: could not install docker-compose" >&2; failed=1
  fi
else
  skip "docker compose" "not root or no apt-get: apt-get install docker-compose"
fi

if [ ${#compose[@]} -gt 0 ]; then
  echo "    (using ${compose[*]} $("${compose[@]}" version --short 2>/dev/null || true))"
  # env.example is the documented .env: every combination must load with it.
  for files in "docker-compose.yml" "docker-compose.yml docker-compose.redis.yml"; do
    fargs=(); for f in $files; do fargs+=(-f "deploy/docker/$f"); done
    for profile in "" observability; do
      pargs=(); if [ -n "$profile" ]; then pargs=(--profile "$profile"); fi
      step "${compose[*]} ${fargs[*]} ${pargs[*]} config -q" \
        env -u STRIPE_WEBHOOK_SECRET -u LEDGER_SIGNING_SECRET -u COMPOSE_PROFILES \
        "${compose[@]}" --env-file deploy/docker/env.example "${fargs[@]}" "${pargs[@]}" config -q
    done
    # check-config with the environment compose gives the container, on the
    # config compose mounts (deploy/docker/hookgate.toml).
    if [ "$have_hookgate" = 1 ] \
       && env -u STRIPE_WEBHOOK_SECRET -u LEDGER_SIGNING_SECRET \
            "${compose[@]}" --env-file deploy/docker/env.example "${fargs[@]}" config > "$tmp/compose.yml" 2>/dev/null \
       && python3 deploy/check_artifacts.py compose-env "$tmp/compose.yml" hookgate > "$tmp/compose.env"; then
      check_config "deploy/docker/hookgate.toml (environment of ${files// / + })" \
        deploy/docker/hookgate.toml "$tmp/compose.env"
    fi
  done
  # Without a .env the secrets must be reported missing, not defaulted.
  secrets_required() {
    ! env -u STRIPE_WEBHOOK_SECRET -u LEDGER_SIGNING_SECRET \
        "${compose[@]}" --project-directory "$tmp" -f deploy/docker/docker-compose.yml config -q >/dev/null 2>&1
  }
  step "docker-compose.yml refuses to start without the secrets" secrets_required
fi

have_dfparser=1
if ! python3 -c 'import dockerfile' >/dev/null 2>&1; then
  echo "==> the Dockerfile parser (PyPI dockerfile: BuildKit's parser) is not installed"
  pip_install dockerfile==3.4.0 "~1.6 MiB wheel"
  if ! python3 -c 'import dockerfile' >/dev/null 2>&1; then
    skip "python package dockerfile" "python3 -m pip install dockerfile"; have_dfparser=0
  fi
fi
if [ "$have_dfparser" = 1 ]; then
  step "deploy/docker/Dockerfile parses (BuildKit parser): instructions, flags, stages, non-root USER, VOLUME, HEALTHCHECK" \
    python3 deploy/check_artifacts.py dockerfile
fi
step "Docker build context (.dockerignore) holds what the Dockerfile copies" \
  python3 deploy/check_artifacts.py context "$tmp/context"
if [ -d "$tmp/context" ]; then
  locked_tree() { # offline first (the build above fetched the crates), else online
    cargo tree -q --locked --offline -p hookgate -e normal,build \
      --manifest-path "$tmp/context/Cargo.toml" >/dev/null 2>&1 \
    || cargo tree -q --locked -p hookgate -e normal,build \
      --manifest-path "$tmp/context/Cargo.toml" >/dev/null
  }
  step "cargo tree --locked -p hookgate in the build context (what the image's cargo build reads)" locked_tree
fi

# The image's HEALTHCHECK, run here against a gateway on the container's
# config (admin listener moved to a free loopback port, store in $tmp).
healthcheck_probe() {
  local cmd port tries=0
  cmd=$(python3 - <<'PY'
import json, re
text = open("deploy/docker/Dockerfile").read().replace("\\\n", " ")
m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
args = json.loads(m.group(1))
assert args[:2] == ["bash", "-c"], args
print(args[2])
PY
) || return 1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cmd=${cmd//127.0.0.1\/9090/127.0.0.1\/$port}
  if bash -c "$cmd" 2>/dev/null; then
    echo "    the probe passed with no gateway listening" >&2; return 1
  fi
  local -a vars=()
  mapfile -t vars < <(grep -E '^(STRIPE_WEBHOOK_SECRET|LEDGER_SIGNING_SECRET)=' deploy/docker/env.example)
  env -i PATH="$PATH" HOME="${HOME:-/}" "${vars[@]}" \
    HOOKGATE_SERVER_LISTEN=127.0.0.1:0 HOOKGATE_ADMIN_LISTEN="127.0.0.1:$port" \
    HOOKGATE_STORE_PATH="$tmp/hc/hookgate.db" \
    "$hookgate" serve --config deploy/docker/hookgate.toml > "$tmp/hc.log" 2>&1 &
  gateway_pid=$!
  until bash -c "$cmd" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -ge 50 ] || ! kill -0 "$gateway_pid" 2>/dev/null; then
      echo "    the probe never passed; the gateway's last lines:" >&2
      tail -n 5 "$tmp/hc.log" >&2
      return 1
    fi
    sleep 0.2
  done
  kill -TERM "$gateway_pid"; wait "$gateway_pid" 2>/dev/null; gateway_pid=
}
if [ "$have_hookgate" = 1 ]; then
  step "Dockerfile HEALTHCHECK passes against a running gateway (and fails without one)" healthcheck_probe
fi

# ------------------------------------------------------------------- systemd
if command -v systemd-analyze >/dev/null 2>&1; then
  verify_unit() {
    # ExecStart's binary must exist: point it at the one built here (or true).
    local bin=$hookgate out rc
    if [ ! -x "$bin" ]; then bin=$(command -v true); fi
    mkdir -p "$tmp/unit"
    sed "s|/usr/local/bin/hookgate|$bin|g" deploy/systemd/hookgate.service > "$tmp/unit/hookgate.service"
    out=$(systemd-analyze verify "$tmp/unit/hookgate.service" 2>&1); rc=$?
    # systemd-analyze exits 0 on unknown keys and bad values: any output fails.
    if [ $rc -ne 0 ] || [ -n "$out" ]; then printf '%s\n' "$out" >&2; return 1; fi
  }
  step "systemd-analyze verify deploy/systemd/hookgate.service" verify_unit
  # The hardening, as systemd scores it (0 = locked down, 10 = none; the unit
  # scores 1.2): a change that loosens it past 2.5 fails.
  unit_security() {
    local out
    if ! out=$(systemd-analyze security --offline=yes --threshold=25 "$tmp/unit/hookgate.service" 2>&1); then
      printf '%s\n' "$out" | grep -E "✗|Overall" >&2; return 1
    fi
    printf '%s\n' "$out" | grep "Overall" | sed 's/^/    /'
  }
  if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
    step "systemd-analyze security --offline: exposure at most 2.5" unit_security
  else
    echo "    (systemd-analyze $(systemd-analyze --version | awk 'NR==1{print $2}') has no security --offline: hardening score not checked)"
  fi
else
  skip systemd-analyze "it comes with Debian's systemd package"
fi
if [ "$have_hookgate" = 1 ] && python3 deploy/check_artifacts.py systemd-env \
     deploy/systemd/hookgate.service deploy/systemd/hookgate.env.example > "$tmp/systemd.env"; then
  check_config "deploy/systemd/hookgate.toml (environment of the unit and hookgate.env.example)" \
    deploy/systemd/hookgate.toml "$tmp/systemd.env"
fi

# ---------------------------------------------------------------- Kubernetes
have_kv=1
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "==> kubernetes-validate not found (Kubernetes JSON schemas, offline)"
    pip_install kubernetes-validate==1.37.0 "~22 MiB wheel"
    if ! command -v kubernetes-validate >/dev/null 2>&1; then
      echo "    FAILED: could not install kubernetes-validate" >&2; failed=1; have_kv=0
    fi
  else
    skip kubernetes-validate "no pip: python3 -m pip install kubernetes-validate"
    have_kv=0
  fi
fi
for variant in sqlite redis; do
  dir=deploy/kubernetes/$variant
  k8s_config() {
    python3 deploy/check_artifacts.py k8s-config "$dir" "$tmp/k8s-$variant.toml" > "$tmp/k8s-$variant.env"
  }
  if step "$dir: kustomization, pod env, probes, security context, resources" k8s_config \
     && [ "$have_hookgate" = 1 ]; then
    check_config "$dir ConfigMap hookgate.toml (environment of the pod)" \
      "$tmp/k8s-$variant.toml" "$tmp/k8s-$variant.env"
  fi
  if [ "$have_kv" = 1 ]; then
    mapfile -t manifests < <(python3 deploy/check_artifacts.py k8s-files "$dir")
    step "kubernetes-validate --strict $dir (${#manifests[@]} files)" \
      kubernetes-validate --strict --quiet --no-warn "${manifests[@]}"
  fi
  if command -v kubectl >/dev/null 2>&1; then
    step "kubectl kustomize $dir" sh -c "kubectl kustomize $dir > '$tmp/k8s-$variant.rendered.yaml'"
    if [ "$have_kv" = 1 ] && [ -s "$tmp/k8s-$variant.rendered.yaml" ]; then
      step "kubernetes-validate --strict (kubectl kustomize $dir)" \
        kubernetes-validate --strict --quiet --no-warn "$tmp/k8s-$variant.rendered.yaml"
    fi
  else
    echo "    (no kubectl: $dir/kustomization.yaml checked through its resource list, not rendered)"
  fi
done

if [ "$failed" = 0 ]; then
  echo "check.sh: all checks passed"
else
  echo "check.sh: FAILED" >&2
fi
exit "$failed"
