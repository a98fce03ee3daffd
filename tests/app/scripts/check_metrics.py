#!/usr/bin/python3
"""Checks /metrics scrapes with Prometheus' own text parser.

  check_metrics.py SCRAPE [LATER_SCRAPE] --family NAME ...

Parses each scrape with prometheus_client's parser (Debian's
python3-prometheus-client) and checks: every --family is present with
HELP and TYPE; every histogram's buckets are cumulative, end with +Inf, and
+Inf equals _count; with a later scrape, no counter (nor _count, _sum of a
histogram) went down. Prints the problems and exits 1 when there are any,
else prints "ok" and a JSON summary of the families' sample counts.
"""
import argparse
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def parse(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
    return text, families


def key(sample):
    return (sample.name, tuple(sorted(sample.labels.items())))


def check_histogram(fam, problems):
    series = {}
    for s in fam.samples:
        labels = {k: v for k, v in s.labels.items() if k != "le"}
        series.setdefault(tuple(sorted(labels.items())), []).append(s)
    for labels, samples in series.items():
        buckets = [s for s in samples if s.name.endswith("_bucket")]
        counts = [s for s in samples if s.name.endswith("_count")]
        if not buckets or len(counts) != 1:
            problems.append(f"{fam.name}{labels}: buckets or _count missing")
            continue
        last = -1
        bounds = []
        for b in buckets:
            le = float(b.labels["le"])
            bounds.append(le)
            if b.value < last:
                problems.append(f"{fam.name}{labels}: bucket le={le} not cumulative")
            last = b.value
        if bounds != sorted(bounds) or not math.isinf(bounds[-1]):
            problems.append(f"{fam.name}{labels}: bounds not ascending to +Inf")
        if buckets[-1].value != counts[0].value:
            problems.append(
                f"{fam.name}{labels}: +Inf bucket {buckets[-1].value} "
                f"!= _count {counts[0].value}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scrapes", nargs="+")
    ap.add_argument("--family", action="append", default=[])
    args = ap.parse_args()
    problems = []
    parsed = []
    for path in args.scrapes:
        try:
            text, fams = parse(path)
        except Exception as e:  # the parser's own complaint
            print(f"{path}: not parseable: {e}")
            return 1
        parsed.append(fams)
        for name in args.family:
            if name not in fams:
                problems.append(f"{path}: family {name} missing")
            elif f"# TYPE {name}" not in text and f"# TYPE {name}_total" not in text:
                problems.append(f"{path}: family {name} has no TYPE line")
            elif f"# HELP {name}" not in text and f"# HELP {name}_total" not in text:
                problems.append(f"{path}: family {name} has no HELP line")
        for fam in fams.values():
            if fam.type == "histogram":
                check_histogram(fam, problems)
    if len(parsed) == 2:
        before, after = parsed
        later = {}
        for fam in after.values():
            for s in fam.samples:
                later[key(s)] = s.value
        for fam in before.values():
            if fam.type not in ("counter", "histogram"):
                continue
            for s in fam.samples:
                v = later.get(key(s))
                if v is None:
                    problems.append(f"{s.name}{s.labels} vanished")
                elif v < s.value:
                    problems.append(f"{s.name}{s.labels} went down: {s.value} -> {v}")
    for p in problems:
        print(p)
    if problems:
        return 1
    summary = {n: len(f.samples) for n, f in parsed[-1].items()}
    print("ok")
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
