#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a bounded time, one after
# another, one process each, and exits non-zero if any crashed.
#
#   fuzz/run.sh [seconds-per-target] [target...]     # default 30 s each
#
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Each target
# starts from its committed corpus, fuzz/corpus/<target>/, which is only
# read: what the fuzzer finds goes to fuzz/target/corpus/<target>/
# (kept between runs, never committed). A crash leaves its input in
# fuzz/artifacts/<target>/ and its log in fuzz/target/logs/<target>.log;
# reproduce it with `cargo +nightly fuzz run <target> <file>` or, on
# stable, by copying the (minimized: `cargo +nightly fuzz tmin <target>
# <file>`) input into fuzz/corpus/<target>/ and running
# `cargo test -p hookgate-fuzz`.
set -uo pipefail
cd "$(dirname "$0")"

secs=${1:-30}
shift || true
if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build || exit 1
mkdir -p target/logs
failed=()
printf '%-28s %10s %14s %8s\n' target "exec/s" executions status > target/logs/summary.txt
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t"
  echo "== $t (${secs}s)"
  cargo +nightly fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=30 -print_final_stats=1 \
    > "target/logs/$t.log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "target/logs/$t.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "target/logs/$t.log" | tail -1)
  status=ok
  if [ "$rc" -ne 0 ]; then
    status=CRASH
    failed+=("$t")
    grep -m1 -A12 -E "panicked|ERROR: libFuzzer|ERROR: AddressSanitizer" "target/logs/$t.log" || tail -20 "target/logs/$t.log"
  fi
  printf '%-28s %10s %14s %8s\n' "$t" "${rate:-?}" "${runs:-?}" "$status" | tee -a target/logs/summary.txt
done
echo
cat target/logs/summary.txt
if [ ${#failed[@]} -gt 0 ]; then
  echo "crashed: ${failed[*]} (inputs in fuzz/artifacts/, logs in fuzz/target/logs/)" >&2
  exit 1
fi
