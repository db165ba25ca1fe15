#!/usr/bin/env python3
"""tail_report.py - the table of bench/tail.sh.

usage: tail_report.py --results R

R/runs has a line per rate: "LABEL RATE PAUSE_NS CALLS WARMUP RING_BYTES PROBING". Per LABEL:
LABEL.A.csv and LABEL.B.csv are shmlog-bench-producer's CSV of the run through the collector and of
the run with no consumer; LABEL.A.follow has a line per probe that `shmlog-dump follow` printed,
"seq ts_ns arrival_ns" (arrival: CLOCK_REALTIME when the line reached the filter); LABEL.A.stats.json
is `shmlog-dump stats --format json` of the collector's files.

Prints a Markdown table on stdout, a row per rate: ns per call inside the fenced bracket (the bracket
included) of the empty bracket, one rdtsc and the shmlog call through the collector, of the shmlog call
with no consumer, and the follow delay in ms; then notes on whatever makes a row doubtful (drops, calls
missing from the files, probes not seen, a pace that was not kept).
"""
import argparse
import csv
import json
import os
import sys


def pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list (p in 0..100)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def rows(path):
    """The latency rows of all producers together, by workload key (empty, rdtsc, args3)."""
    out = {}
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r["kind"] == "latency" and r.get("producer", "all") == "all":
                out[r["workload"]] = r
    return out


def ns(r, col):
    """A figure in ns, whole above 100 (a TSC tick is 0.5-10 ns), else to a tenth."""
    if r is None or not r.get(col):
        return "?"
    v = float(r[col])
    return "{:,.0f}".format(v) if v >= 100 else "{:.1f}".format(v)


def rate_text(v):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return "{:.3g}{}".format(v / div, suffix)
    return "{:.3g}".format(v)


def num(r, col):
    return int(r[col]) if r is not None and r.get(col) else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    a = ap.parse_args()

    print()
    print("| calls/s | pause | empty p99.9 | rdtsc p99.9 / p99.99 | rdtsc + load p99.9 / p99.99 "
          "| shmlog p50 / p99.9 / p99.99 | no consumer p99.9 / p99.99 | follow delay p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|---|")
    notes = []
    for line in open(os.path.join(a.results, "runs")):
        label, rate, pause, calls, warmup, ring, probing = line.split()
        rate, ring, probing = float(rate), int(ring), probing == "1"
        base = os.path.join(a.results, label)
        ra, rb = rows(base + ".A.csv"), rows(base + ".B.csv")
        empty, rdtsc, shm = ra.get("empty"), ra.get("rdtsc"), ra.get("args3")
        load = ra.get("rdtsc_load")  # absent from producers built before that row
        alone = rb.get("args3")

        # The pace the shmlog phase kept: every call it made (warm-up and probes too) over its span.
        paced = label
        if shm is not None and num(shm, "t_end_ns") > num(shm, "t_start_ns"):
            made = num(shm, "calls") + num(shm, "warmup") + num(shm, "probes")
            achieved = made * 1e9 / (num(shm, "t_end_ns") - num(shm, "t_start_ns"))
            paced = "{} ({})".format(label, rate_text(achieved))
            if achieved < 0.9 * rate:
                notes.append("{}: the shmlog phase ran at {}/s, under 90% of the target".format(
                    label, rate_text(achieved)))

        follow = "n/a"
        if probing:
            sent = num(shm, "probes")
            seen, delays = set(), []
            path = base + ".A.follow"
            if os.path.exists(path):
                for l in open(path):
                    seq, ts, arrival = (int(x) for x in l.split())
                    if seq not in seen:
                        seen.add(seq)
                        delays.append((arrival - ts) / 1e6)
            delays.sort()
            if delays:
                follow = "{:.1f} / {:.1f} / {:.1f} ms ({}/{} seen)".format(
                    pct(delays, 50), pct(delays, 99), delays[-1], len(seen), sent)
            else:
                follow = "none seen of {}".format(sent)
            if len(seen) < sent:
                notes.append("{}: follow printed {} of the {} probes".format(label, len(seen), sent))

        print("| {} | {:,} ns | {} | {} / {} | {} / {} | {} / {} / {} | {} / {} | {} |".format(
            paced, int(pause), ns(empty, "p999_ns"), ns(rdtsc, "p999_ns"), ns(rdtsc, "p9999_ns"),
            ns(load, "p999_ns"), ns(load, "p9999_ns"),
            ns(shm, "p50_ns"), ns(shm, "p999_ns"), ns(shm, "p9999_ns"),
            ns(alone, "p999_ns"), ns(alone, "p9999_ns"), follow))

        if alone is not None and num(alone, "dropped"):
            notes.append("{}: with no consumer, {} calls were dropped: the {} MiB ring did not hold them all".format(
                label, alone["dropped"], ring >> 20))
        if shm is not None and num(shm, "dropped"):
            notes.append("{}: through the collector, the producer dropped {} calls".format(label, shm["dropped"]))
        try:
            with open(base + ".A.stats.json") as f:
                st = json.load(f)
            logged = num(shm, "calls") + num(shm, "warmup") + num(shm, "probes")
            if st["records"] != logged or st["losses"]["total"]:
                notes.append("{}: through the collector, {} calls logged (warm-up and probes included), {} in "
                             "the files, {} losses recorded".format(label, logged, st["records"],
                                                                    st["losses"]["total"]))
        except (OSError, ValueError, KeyError):
            notes.append("{}: no count of the collector's files ({}.A.stats.json)".format(label, label))
        if empty is None or rdtsc is None or shm is None or alone is None:
            notes.append("{}: rows missing from the producer's CSV ({}.A.csv, {}.B.csv)".format(label, label, label))

    print()
    print("ns per call inside the `lfence; rdtsc; lfence` bracket, the bracket included; calls/s: the target and,"
          " in brackets, the pace the shmlog phase of the run through the collector kept; empty, rdtsc and rdtsc + load (one"
          " more load of a line no other core writes): the"
          " floor rows of that run, timed at the same pace in the same process. No consumer: the shmlog call"
          " with no reader of its ring, which holds every call. Follow delay: CLOCK_REALTIME when"
          " `shmlog-dump follow` printed a probe minus the record's ts_ns, over the probes it printed (one WARN"
          " record every 10 ms between batches, untimed).")
    if notes:
        print()
        print("Notes:")
        for n in notes:
            print("- " + n + ".")
    return 0


if __name__ == "__main__":
    sys.exit(main())
