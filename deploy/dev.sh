#!/usr/bin/env bash
# Runs the gateway with config/dev.toml on the embedded store
# (data/hookgate.db): nothing else to install or start.
#
# HOOKGATE_STORE_BACKEND=redis ./deploy/dev.sh runs it on Redis at
# 127.0.0.1:6379 instead, starting one there (AOF, appendfsync always, in
# target/dev-redis) when none answers.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${HOOKGATE_STORE_BACKEND:-sqlite}" = redis ]; then
  export HOOKGATE_STORE_URL="${HOOKGATE_STORE_URL:-redis://127.0.0.1:6379}"
  if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    aof=$(redis-cli -p 6379 CONFIG GET appendonly 2>/dev/null | tail -n 1 || true)
    if [ "$aof" != yes ]; then
      echo "warning: the Redis on 127.0.0.1:6379 runs without AOF (appendonly $aof):" \
           "a Redis restart loses acknowledged events" >&2
    fi
  else
    command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
    mkdir -p target/dev-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$PWD/target/dev-redis" \
      --appendonly yes --appendfsync always --maxmemory-policy noeviction \
      --logfile "$PWD/target/dev-redis/redis.log"
    sleep 0.5
  fi
fi
if [ ! -x target/release/hookgate ]; then
  echo "compiling hookgate (release build, a few minutes the first time) ..." >&2
fi
exec cargo run --release -p hookgate -- serve --config config/dev.toml "$@"
