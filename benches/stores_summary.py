#!/usr/bin/env python3
"""Writes summary.md of a benches/stores.sh run from its raw files."""

import argparse
import csv
import statistics
from pathlib import Path


def rows(path):
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--date", required=True)
    ap.add_argument("--machine", required=True)
    ap.add_argument("--settings", default="")
    a = ap.parse_args()
    out = Path(a.out)
    raw = rows(out / "raw.csv")
    extra = {}
    for line in (out / "extra.txt").read_text().splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            extra[k] = v
    sustain = rows(out / "sustain.csv")
    rss = rows(out / "rss.csv")

    def by_label(label):
        return [r for r in raw if r["label"] == label]

    def mean_rate(label):
        rs = [float(r["per_s"]) for r in by_label(label)]
        return statistics.mean(rs) if rs else 0.0

    def spread(label):
        rs = [float(r["per_s"]) for r in by_label(label)]
        return f"{min(rs):,.0f}–{max(rs):,.0f}" if len(rs) > 1 else ""

    def lat(label):
        r = by_label(label)
        if not r:
            return "—"
        r = r[-1]
        return f"{int(r['p50_us']) / 1000:.2f} / {int(r['p99_us']) / 1000:.2f} ms"

    base = mean_rate("baseline")
    stores = [s for s in ["sqlite", "redis-everysec", "redis-always"] if by_label(f"{s}.ingest-only")]
    pct = lambda v: f"{100 * v / base:.0f} %" if base else "?"

    lines = [
        f"# Store backends side by side ({a.date}, {a.machine})",
        "",
        "`benches/stores.sh`: bare hyper and each store in one interleaved run,",
        "same generator (`loadgen`), loopback, every process on the same cores.",
        f"Settings: {a.settings}. Machine details: `machine.txt`; raw rows: `raw.csv`.",
        "",
        f"Bare hyper: **{base:,.0f} req/s** (mean of {len(by_label('baseline'))} rounds, {spread('baseline')}).",
        "",
        "| figure | " + " | ".join(stores) + " |",
        "| --- | " + " | ".join("---" for _ in stores) + " |",
    ]

    def row(name, cell):
        lines.append(f"| {name} | " + " | ".join(cell(s) for s in stores) + " |")

    row("ingest only, max req/s (% of bare hyper)", lambda s: f"{mean_rate(s + '.ingest-only'):,.0f} ({pct(mean_rate(s + '.ingest-only'))})")
    row("ingest + 1 subscription delivering, max req/s", lambda s: f"{mean_rate(s + '.ingest+delivery'):,.0f} ({pct(mean_rate(s + '.ingest+delivery'))})")
    row("p50 / p99 at half the max, ingest only", lambda s: lat(f"{s}.half.ingest-only"))
    row("p50 / p99 at half the max, with delivery", lambda s: lat(f"{s}.half.ingest+delivery"))

    def sustained(s):
        v = extra.get(f"{s}.sustained_rate")
        return f"{int(v):,} ({pct(int(v))})" if v else "—"

    row("sustained end-to-end rate, req/s (deliveries keep pace)", sustained)
    lines.append("")
    if rss:
        waiting = [int(r["rss_kb"]) for r in rss if r["phase"] == "waiting"]
        ingest = [int(r["rss_kb"]) for r in rss if r["phase"] == "ingest"]
        if waiting:
            lines.append(
                f"sqlite, RSS while {extra.get('sqlite.backlog.queue_depth', '?')} deliveries wait: "
                f"{min(waiting) / 1024:.0f}–{max(waiting) / 1024:.0f} MB over {len(waiting)} s "
                f"(peak while ingesting {max(ingest or [0]) / 1024:.0f} MB; store files "
                f"{int(extra.get('sqlite.backlog.file_bytes', '0')) / 2**20:.0f} MiB)."
            )
    for p in range(1, 100):
        full = extra.get(f"sqlite.expiry.pass{p}.file_bytes_full")
        after = extra.get(f"sqlite.expiry.pass{p}.file_bytes_after_retention")
        if full and after:
            lines.append(
                f"sqlite, pass {p}: files {int(full) / 2**20:.0f} MiB right after the ingest, "
                f"{int(after) / 2**20:.0f} MiB once it passed retention "
                f"({extra.get(f'sqlite.expiry.pass{p}.rows', '?')} event rows left)."
            )
    if sustain:
        lines += ["", "Sustained-rate steps (`sustain.csv`):", "", "| store | rate | ingested | delivered | depth mid | depth end | kept pace |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for r in sustain:
            lines.append(f"| {r['store']} | {r['rate']} | {r['ingested']} | {r['delivered']} | {r['depth_mid']} | {r['depth_end']} | {'yes' if r['kept_pace'] == '1' else 'no'} |")
    interference = (out / "interference.txt").read_text().strip() if (out / "interference.txt").exists() else ""
    lines += ["", "Other processes above 20 % CPU during the run: " + ("none seen." if not interference else "see `interference.txt`.")]
    (out / "summary.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
