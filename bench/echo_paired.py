#!/usr/bin/env python3
"""Paired reading of echo benchmark runs (/work/shared/bench/run.sh echo).

This machine switches between two speeds for seconds at a time, so a
program's median over rounds moves with how many of its rounds hit the slow
speed. Programs in one round run back to back, so the ratio ours/peer taken
within each round cancels most of that; this prints the median of those
per-round ratios and how many rounds ours was at or below the peer.

    bench/echo_paired.py RESULTS_DIR...   (each holds a results.tsv)
"""
import statistics
import sys
from collections import defaultdict


def load(dirs):
    # (run, round) -> program -> figure -> value
    rounds = defaultdict(dict)
    for run, d in enumerate(dirs):
        with open(f"{d}/results.tsv") as f:
            for line in f:
                prog, rnd, fig, val = line.rstrip("\n").split("\t")
                rounds[(run, int(rnd))].setdefault(prog, {})[fig] = float(val)
    return rounds


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rounds = load(sys.argv[1:])
    progs = sorted({p for r in rounds.values() for p in r})
    print(f"{len(rounds)} rounds from {len(sys.argv) - 1} runs")
    print(f"{'program':8} {'median cpu_us/msg':>18} {'min':>7} {'max':>7}")
    for p in progs:
        v = [r[p]["cpu_us"] for r in rounds.values() if p in r and "cpu_us" in r[p]]
        print(f"{p:8} {statistics.median(v):18.3f} {min(v):7.3f} {max(v):7.3f}")
    if not any("ours" in r for r in rounds.values()):
        return
    print(f"{'ours/peer':10} {'median ratio':>13} {'rounds ours <= peer':>20}")
    for p in progs:
        if p == "ours":
            continue
        ratios = [
            r["ours"]["cpu_us"] / r[p]["cpu_us"]
            for r in rounds.values()
            if "cpu_us" in r.get("ours", {}) and "cpu_us" in r.get(p, {})
        ]
        at_or_below = sum(x <= 1.0 for x in ratios)
        print(f"{p:10} {statistics.median(ratios):13.3f} {at_or_below:>12}/{len(ratios)}")


main()
