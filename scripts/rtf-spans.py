#!/usr/bin/env python3
"""Prints, for each group of an rtf run (the second part of a test's name, e.g. vm in
linuxkit.vm.minimal_boot), the span its tests ran in: "rtf NAME<TAB>start<TAB>end<TAB>status",
start and end as epoch seconds, status 0 when no test in it failed. Read from the run's
SUMMARY.json; scripts/test.sh feeds the lines to the timing table (scripts/timing.sh).

    rtf-spans.py RESULTS/latest/SUMMARY.json
"""
import datetime
import json
import re
import sys


def epoch(text):
    # RFC 3339 with nanoseconds; Python reads up to microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    return datetime.datetime.fromisoformat(text).timestamp()


def main(path):
    with open(path, encoding="utf-8") as f:
        summary = json.load(f)
    spans = {}
    for r in summary.get("results") or []:
        if r["start"].startswith("0001-"):
            continue  # not run (skipped by labels)
        parts = r["name"].split(".")
        group = parts[1] if len(parts) > 2 else parts[0]
        s, e = epoch(r["start"]), epoch(r["end"])
        g = spans.setdefault(group, [s, e, 0, 0])
        g[0], g[1] = min(g[0], s), max(g[1], e)
        g[2] |= 1 if r["result"] == 1 else 0  # rtf's Fail code
        g[3] += 1
    for group, (s, e, failed, n) in sorted(spans.items(), key=lambda kv: kv[1][0]):
        print(f"rtf {group} ({n} tests)\t{int(s)}\t{int(e + 0.999)}\t{failed}")


if __name__ == "__main__":
    main(sys.argv[1])
