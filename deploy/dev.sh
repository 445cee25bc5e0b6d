#!/usr/bin/env bash
# Runs the gateway with config/dev.toml. Starts a local Redis on
# 127.0.0.1:6379 first if none answers there (installing redis-server with
# apt-get when it is missing), with AOF and `appendfsync always` in
# ./target/dev-redis so acknowledged events survive a Redis restart.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  command -v redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server; }
  mkdir -p target/dev-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$PWD/target/dev-redis" \
    --appendonly yes --appendfsync always --maxmemory-policy noeviction \
    --logfile "$PWD/target/dev-redis/redis.log"
  sleep 0.5
fi
exec cargo run --release -p hookgate -- serve --config config/dev.toml "$@"
