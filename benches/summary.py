#!/usr/bin/env python3
"""Writes summary.md of a benches/run.sh run from raw.csv, extra.txt and the
Redis/metrics snapshots run.sh took. Called by run.sh; standard library only."""

import argparse
import csv
import os
import re


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def last(rows, label):
    found = [r for r in rows if r["label"] == label]
    return found[-1] if found else None


def commandstats(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = re.match(r"cmdstat_([^:]+):calls=(\d+)", line.strip())
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def delta(before, after):
    d = {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}
    # The snapshots themselves are INFO calls; they are not the gateway's.
    d.pop("info", None)
    return {k: v for k, v in d.items() if v > 0}


def store_ops(path):
    out = {}
    if not os.path.exists(path):
        return out
    for line in open(path):
        m = re.match(r'hookgate_store_duration_seconds_count\{op="([^"]+)"\}\s+([0-9.e+]+)', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def f(x, digits=1):
    return f"{float(x):,.{digits}f}"


def ms(us):
    return f"{int(us) / 1000:.2f} ms"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--machine-info", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--settings", required=True)
    ap.add_argument("--fanout-delay", default="10")
    a = ap.parse_args()

    rows = read_rows(os.path.join(a.out, "raw.csv"))
    extra = {}
    for line in open(os.path.join(a.out, "extra.txt")):
        if "=" in line:
            k, v = line.strip().split("=", 1)
            extra[k] = v

    def cs(name):
        return delta(
            commandstats(os.path.join(a.tmp, f"cs-{name}-before")),
            commandstats(os.path.join(a.tmp, f"cs-{name}-after")),
        )

    L = []
    w = L.append
    w(f"# Hookgate load run, {a.date}, {a.machine}\n")
    w("Produced by `benches/run.sh` (see `benches/README.md`). Everything ran on one")
    w("machine over loopback: the load generator, the sink, Redis and the gateway")
    w("share its cores, so absolute figures understate a dedicated deployment; the")
    w("**ratio to the bare hyper baseline** (same generator, same connections, same")
    w("machine) is the meaningful figure.\n")
    w(f"Settings: `{a.settings}`; gateway `log.level = \"warn\"` (no per-request log")
    w("lines), Redis `--save \"\" --appendonly no` unless marked AOF.\n")

    base = last(rows, "baseline")
    ing = last(rows, "ingest")
    only = last(rows, "ingest-only")
    base_hi = last(rows, "baseline-high")
    only_hi = last(rows, "ingest-only-high")
    half = last(rows, "open-half")
    f1 = last(rows, "fanout-1")
    f10 = last(rows, "fanout-10")
    aof = last(rows, "aof-ingest")
    aof_half = last(rows, "aof-open-half")

    w("## Headline figures\n")
    w("| figure | measured | target | met |")
    w("| --- | --- | --- | --- |")
    if base:
        w(f"| bare hyper baseline, closed loop | {f(base['per_s'])} req/s | ceiling | |")
    if ing and base:
        ratio = float(ing["per_s"]) / float(base["per_s"])
        w(f"| gateway ingest (stripe, 1 subscription delivering), closed loop | {f(ing['per_s'])} req/s, "
          f"{ratio:.0%} of baseline | ≥ 50 % | {'yes' if ratio >= 0.5 else '**no**'} |")
    if only and base:
        ratio = float(only["per_s"]) / float(base["per_s"])
        w(f"| gateway ingest only (no subscription matches), closed loop | {f(only['per_s'])} req/s, "
          f"{ratio:.0%} of baseline | ≥ 50 % | {'yes' if ratio >= 0.5 else '**no**'} |")
    if only_hi and base_hi:
        ratio = float(only_hi["per_s"]) / float(base_hi["per_s"])
        w(f"| same at {only_hi['connections']} connections (baseline {f(base_hi['per_s'])} req/s) | "
          f"{f(only_hi['per_s'])} req/s, {ratio:.0%} of baseline | ≥ 50 % | {'yes' if ratio >= 0.5 else '**no**'} |")
    if half:
        p99 = int(half["p99_us"])
        w(f"| open loop at {f(half['target_rate'], 0)} req/s (half of max): p50 / p90 / p99 / p99.9 / max | "
          f"{ms(half['p50_us'])} / {ms(half['p90_us'])} / {ms(p99)} / {ms(half['p999_us'])} / {ms(half['max_us'])} | "
          f"p99 < 5 ms | {'yes' if p99 < 5000 else '**no**'} |")
    if f1 and f10:
        r = float(f10["per_s"]) / max(float(f1["per_s"]), 1e-9)
        w(f"| fan-out deliveries/s, 1 → 10 subscriptions, sink answering at once (CPU-bound) | {f(f1['per_s'])} → {f(f10['per_s'])} ({r:.1f}×) | ≥ 5× | "
          f"{'yes' if r >= 5 else '**no**'} |")
    s1 = last(rows, "fanout-1-slow")
    s10 = last(rows, "fanout-10-slow")
    if s1 and s10:
        r = float(s10["per_s"]) / max(float(s1["per_s"]), 1e-9)
        w(f"| fan-out deliveries/s, 1 → 10 subscriptions, sink answering after {a.fanout_delay} ms, max_in_flight 16 | "
          f"{f(s1['per_s'])} → {f(s10['per_s'])} ({r:.1f}×) | ≥ 5× | {'yes' if r >= 5 else '**no**'} |")
    half_only = last(rows, "open-half-ingest-only")
    if half_only:
        p99 = int(half_only["p99_us"])
        w(f"| same, ingest only (no deliveries competing), at {f(half_only['target_rate'], 0)} req/s: p50 / p90 / p99 / p99.9 / max | "
          f"{ms(half_only['p50_us'])} / {ms(half_only['p90_us'])} / {ms(p99)} / {ms(half_only['p999_us'])} / {ms(half_only['max_us'])} | "
          f"p99 < 5 ms | {'yes' if p99 < 5000 else '**no**'} |")
    d_only = cs("ingest-only")
    if only and d_only:
        n = max(int(only["s2xx"]), 1)
        total = sum(d_only.values()) / n
        ev = d_only.get("evalsha", 0) / n
        ops_b = store_ops(os.path.join(a.tmp, "ops-ingest-only-before"))
        ops_a = store_ops(os.path.join(a.tmp, "ops-ingest-only-after"))
        ing_rt = (ops_a.get("ingest", 0) - ops_b.get("ingest", 0)) / n
        w(f"| Redis round trips per ingested event on the ingest path (gateway's count of `op=\"ingest\"` calls; "
          f"group commit puts several callbacks in one) | "
          f"{ing_rt:.3f} (EVALSHA seen by Redis: {ev:.3f}/event incl. the fan-out; "
          f"{total:.1f} commands executed/event, script-internal included) | at most 1 | "
          f"{'yes' if 0 < ing_rt <= 1.0 + 1e-9 else '**no**'} |")
    rss_path = os.path.join(a.out, "rss.csv")
    if os.path.exists(rss_path):
        waiting = [int(r["rss_kb"]) / 1024 for r in read_rows(rss_path)
                   if r["phase"] == "waiting" and r["rss_kb"].isdigit()]
        if waiting:
            lo, hi = min(waiting), max(waiting)
            flat = hi - lo < 0.1 * hi + 2
            w(f"| gateway RSS while {extra.get('backlog.route_queue', '?')} deliveries wait in Redis (30 s, sampled every second) | "
              f"{lo:.0f}–{hi:.0f} MB | < 100 MB and flat | {'yes' if hi < 100 and flat else '**no**'} |")
    rss = extra.get("ingest.rss_peak_kb")
    if rss:
        mb = int(rss) / 1024
        w(f"| gateway RSS at full load (peak VmRSS during the closed-loop ingest) | {mb:.0f} MB | < 100 MB | "
          f"{'yes' if mb < 100 else '**no**'} |")
    if aof and base:
        ratio = float(aof["per_s"]) / float(base["per_s"])
        w(f"| AOF `appendfsync always`: ingest, closed loop | {f(aof['per_s'])} req/s, {ratio:.0%} of baseline | ≥ 50 % | "
          f"{'yes' if ratio >= 0.5 else '**no**'} |")
    if aof_half:
        w(f"| AOF `appendfsync always`: open loop at {f(aof_half['target_rate'], 0)} req/s: p50 / p99 | "
          f"{ms(aof_half['p50_us'])} / {ms(aof_half['p99_us'])} | p99 < 5 ms | "
          f"{'yes' if int(aof_half['p99_us']) < 5000 else '**no**'} |")
    w("")

    inter_path = os.path.join(a.out, "interference.txt")
    inter = [l.strip() for l in open(inter_path)] if os.path.exists(inter_path) else []
    inter = [l for l in inter if l]
    w("## Other load on the machine during the run\n")
    if inter:
        w(f"**{len(inter)} samples** showed processes not started by the run above 20 % CPU")
        w("(the machine is shared); the figures of the steps they overlap are")
        w("pessimistic. `unix_time pid cpu command` (first 30, all in `interference.txt`):\n")
        w("```text")
        w("\n".join(inter[:30]))
        w("```\n")
    else:
        w("None seen: no process outside the run above 20 % CPU in any sample (every ~3 s).\n")

    w("## Redis commands per ingested event\n")
    w("From `redis-cli INFO commandstats` before and after the step (the INFO calls")
    w("themselves excluded), divided by the events answered 2xx. The gateway's own")
    w("count of store round trips by operation comes from `/metrics`")
    w("(`hookgate_store_duration_seconds_count`). Redis counts the commands a Lua")
    w("script runs in `commandstats` too, so the table lists work done, not round")
    w("trips: the round trips are the `evalsha` calls plus any plain command.\n")
    for name, row, what in [
        ("ingest-only", only, "ingest only: the standard-webhooks source, a type no subscription matches (ingest + fan-out step, no delivery), 2 s settle after the load"),
        ("ingest", ing, "ingest with 1 subscription delivering concurrently (delivery commands included; the backlog was not drained)"),
    ]:
        d = cs(name)
        if not row or not d:
            continue
        n = max(int(row["s2xx"]), 1)
        w(f"**{what}** ({n:,} events):\n")
        w("| command | calls | per event |")
        w("| --- | --- | --- |")
        for k, v in sorted(d.items(), key=lambda kv: -kv[1]):
            w(f"| {k} | {v:,} | {v / n:.3f} |")
        w(f"| **all** | {sum(d.values()):,} | {sum(d.values()) / n:.3f} |")
        w("")
        if name == "ingest-only":
            ops_b = store_ops(os.path.join(a.tmp, "ops-ingest-only-before"))
            ops_a = store_ops(os.path.join(a.tmp, "ops-ingest-only-after"))
            ops = {k: ops_a.get(k, 0) - ops_b.get(k, 0) for k in ops_a}
            ops = {k: v for k, v in ops.items() if v > 0}
            if ops:
                w("Gateway-side store round trips in the same step:\n")
                w("| op | round trips | per event |")
                w("| --- | --- | --- |")
                for k, v in sorted(ops.items()):
                    w(f"| {k} | {int(v):,} | {v / n:.3f} |")
                w("")
    idle = cs("idle")
    if idle:
        w("Background while idle (3 s, no load), calls per second: " +
          ", ".join(f"{k} {v / 3:.1f}" for k, v in sorted(idle.items())) + "\n")

    rss_path = os.path.join(a.out, "rss.csv")
    if os.path.exists(rss_path):
        phases = {}
        for r in read_rows(rss_path):
            if r["rss_kb"].isdigit():
                phases.setdefault(r["phase"], []).append(int(r["rss_kb"]) / 1024)
        w("## Memory with a backlog waiting in Redis\n")
        w(f"{extra.get('backlog.route_queue', '?')} deliveries waiting in the paused route's queue "
          f"(Redis used memory {extra.get('backlog.redis_used_memory', '?')}); gateway VmRSS sampled "
          "every second (`rss.csv`):\n")
        w("| phase | samples | min | max | last |")
        w("| --- | --- | --- | --- | --- |")
        for phase in ["idle", "ingest", "waiting", "draining"]:
            v = phases.get(phase)
            if v:
                w(f"| {phase} | {len(v)} | {min(v):.1f} MB | {max(v):.1f} MB | {v[-1]:.1f} MB |")
        w("")
    w("## Memory\n")
    for k in sorted(extra):
        if k.endswith("_kb"):
            w(f"- `{k}`: {int(extra[k]) / 1024:.1f} MB")
    w("")

    w("## Every measured row (raw.csv)\n")
    w("Latency columns are µs. Generator rows: from the scheduled send (open loop) or")
    w("the send (closed loop) to the whole answer. Sink rows (`kind = sink`): count =")
    w("deliveries, per_s over first..last delivery, latency = generator send → sink")
    w("received (end to end; meaningless for the fan-out rows, whose subscriptions")
    w("were paused while the events were ingested). `other_cpu`: the largest total")
    w("CPU of processes outside the run in one sample during the row (`-`: none")
    w("above 20 %; 200 % = both cores).\n")
    # Other processes' CPU overlapping each row: samples are "unix_time pid cpu% command".
    samples = []
    for l in inter:
        parts = l.split()
        if len(parts) >= 3 and parts[0].isdigit():
            samples.append((int(parts[0]), float(parts[2].rstrip("%"))))
    for r in rows:
        end = int(r["unix_time"])
        start = end - float(r["elapsed_s"]) - 1
        per_t = {}
        for t, cpu in samples:
            if start <= t <= end + 1:
                per_t[t] = per_t.get(t, 0) + cpu
        r["other_cpu"] = f"{max(per_t.values()):.0f}%" if per_t else "-"
    cols = ["label", "kind", "scheme", "connections", "target_rate", "count", "elapsed_s", "per_s",
            "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "s2xx", "s4xx", "s5xx", "errors", "other_cpu", "note"]
    w("| " + " | ".join(cols) + " |")
    w("|" + " --- |" * len(cols))
    for r in rows:
        w("| " + " | ".join(r.get(c, "") for c in cols) + " |")
    w("")

    w("## Machine\n")
    w("```text")
    w(open(a.machine_info).read().rstrip())
    w("```\n")
    w("## Exact commands (in order; `$TMP` is the run's temp dir, the configs are beside this file)\n")
    w("```sh")
    w(open(os.path.join(a.out, "commands.txt")).read().rstrip())
    w("```")
    with open(os.path.join(a.out, "summary.md"), "w") as fh:
        fh.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
