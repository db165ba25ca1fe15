#!/usr/bin/env python3
"""clock_report.py - the table and plot data of bench/clock.sh.

usage: clock_report.py --procs-file F --results R [--buckets K | --bucket-s S] [--span-s S] READ.jsonl

READ.jsonl is `shmlog-dump read --format json` of the collector's files. The
records of tests/clock_producer.c carry seq, w0 (CLOCK_REALTIME read before the
call), w1prev (read after the previous call returned) and m0 (CLOCK_MONOTONIC
read before w0: steps of the wall clock are reported); the end record carries
the last call's w1. PROCS_FILE has one line per producer: "PID APP SKEW" (SKEW
"unset" when SHMLOG_TEST_TSC_SKEW_PPM was not set).

Prints a Markdown table on stdout: per process and time slice (CLOCK_MONOTONIC
from the first record of any process), the records, ts_ns - w0 (p50 signed; p99 and max of the
absolute value), the gap w1 - w0 (p50, max: the call's own duration plus any
preemption between the reads; ts may lie anywhere in it) and the largest
distance of ts_ns outside [w0, w1] (what is proven to be error). Writes
R/clock.dat: per process a block (two blank lines apart) of
"t_s ts-w0_ns w1-w0_ns outside_ns", its first line "# titles: ..." naming
the blocks for bench/clock.gp.
"""
import argparse
import json
import sys


def pct(sorted_vals, p):
    """Nearest-rank percentile of a sorted list (p in 0..100)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def fmt(v, signed=False):
    if v is None:
        return ""
    return ("{:+,}" if signed else "{:,}").format(int(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs-file", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--buckets", type=int, default=10)
    ap.add_argument("--bucket-s", type=float, default=None)
    ap.add_argument("--span-s", type=float, default=None, help="the run's length (default: the records' span)")
    ap.add_argument("read_json")
    a = ap.parse_args()

    procs = []  # (pid, app, skew)
    for line in open(a.procs_file):
        pid, app, skew = line.split()
        procs.append((int(pid), app, skew))
    wanted = {p[0] for p in procs}

    recs = {pid: {} for pid in wanted}  # pid -> seq -> (ts, w0, w1prev)
    ends = {}                           # pid -> (seq, w1)
    others = 0
    for line in open(a.read_json):
        o = json.loads(line)
        pid = o.get("pid")
        f = o.get("fields")
        msg = o.get("msg", "")
        if pid not in wanted or not f or not msg.startswith("clock "):
            others += "loss" in o
            continue
        if msg.startswith("clock end "):
            ends[pid] = (f["seq"], f["w1"])
        else:
            recs[pid][f["seq"]] = (o["ts_ns"], f["w0"], f["w1prev"], f.get("m0"))

    # The time axis: CLOCK_MONOTONIC (m0) since the first record of any process, so a step of the
    # wall clock moves no record to another slice (w0 for records of older producers without m0).
    tcol = 3 if all(r[3] is not None for rs in recs.values() for r in rs.values()) else 1
    t0 = min((r[tcol] for rs in recs.values() for r in rs.values()), default=0)
    samples = {}  # pid -> [(t_s, err, gap, outside)]
    for pid, rs in recs.items():
        out = []
        for seq in sorted(rs):
            ts, w0, _, _ = rs[seq]
            if seq + 1 in rs:
                w1 = rs[seq + 1][2]
            elif pid in ends and ends[pid][0] == seq + 1:
                w1 = ends[pid][1]
            else:
                continue
            out.append(((rs[seq][tcol] - t0) / 1e9, ts - w0, w1 - w0, max(w0 - ts, ts - w1, 0)))
        samples[pid] = out

    span = max((s[-1][0] for s in samples.values() if s), default=0.0)
    if a.span_s:
        span = max(span, a.span_s)
    width = a.bucket_s if a.bucket_s else (span / a.buckets if span > 0 else 1.0)
    # K slices: a sample at the very end falls in the last one, not in a slice of its own
    nb = a.buckets if a.bucket_s is None else int(span / width) + 1

    def row(name, label, part):
        err = sorted(s[1] for s in part)
        abs_err = sorted(abs(s[1]) for s in part)
        gap = sorted(s[2] for s in part)
        outside = max((s[3] for s in part), default=None)
        return "| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            name, label, len(part), fmt(pct(err, 50), True), fmt(pct(abs_err, 99)), fmt(pct(abs_err, 100)),
            fmt(pct(gap, 50)), fmt(pct(gap, 100)), fmt(outside))

    print()
    print("Record time against CLOCK_REALTIME, ns: ts = the record's time as `shmlog-dump read` prints it (ts_ns);"
          " w0, w1 = CLOCK_REALTIME read right before the log call and right after it returned. The call ran"
          " within [w0, w1], so ts - w0 holds up to w1 - w0 of the call's own duration; \"outside\" is the"
          " proven error, how far ts lies outside [w0, w1].")
    print()
    print("| process | after | records | ts−w0 p50 | \\|ts−w0\\| p99 | \\|ts−w0\\| max | w1−w0 p50 | w1−w0 max "
          "| outside [w0,w1] max |")
    print("|---|---|---|---|---|---|---|---|---|")
    problems = []
    for pid, app, skew in procs:
        name = "{} (pid {}, skew {})".format(app, pid, skew if skew == "unset" else skew + " ppm")
        s = samples[pid]
        n_rec = len(recs[pid])
        if pid not in ends:
            problems.append("{}: no end record (the process did not finish, or its last records are missing)"
                            .format(name))
        elif n_rec != ends[pid][0]:
            problems.append("{}: {} records in the files, {} logged".format(name, n_rec, ends[pid][0]))
        if not s:
            print("| {} | | 0 | | | | | | |".format(name))
            continue
        parts = [[] for _ in range(nb)]
        for x in s:
            parts[min(nb - 1, int(x[0] / width))].append(x)
        for i, part in enumerate(parts):
            if part:
                print(row(name if i == 0 else "", "after {:g} s".format(round(i * width, 1)), part))
        print(row("", "**all**", s))
    print()
    worst = max((x[3] for s in samples.values() for x in s), default=0)
    worst_abs = max((abs(x[1]) for s in samples.values() for x in s), default=0)
    print("Largest |ts − w0| over all processes: {:,} ns; largest proven error (outside [w0, w1]): {:,} ns"
          " (target: ≤ 2,000 ns).".format(worst_abs, worst))
    if others:
        print("Loss markers in the files: {}.".format(others))
    for p in problems:
        print("Problem: " + p)
    # Steps of the wall clock (CLOCK_REALTIME set): w0 - m0 (m0 = CLOCK_MONOTONIC
    # read before w0) changes by more than 20 us and stays; the least over 5
    # records on each side leaves out a read preempted between the two. Records
    # between a step and the collector's next anchor carry the step as error.
    for pid, app, skew in procs:
        rs = recs[pid]
        seqs = [q for q in sorted(rs) if rs[q][3] is not None]
        off = [rs[q][1] - rs[q][3] for q in seqs]
        i = 0
        while i + 1 < len(seqs):
            before, after = min(off[max(0, i - 4):i + 1]), min(off[i + 1:i + 6])
            if abs(after - before) > 20000:
                print("Wall clock step: {:+,} ns, seen by {} around {:.1f} s (seq {}).".format(
                    after - before, app, (rs[seqs[i + 1]][tcol] - t0) / 1e9, seqs[i + 1]))
                i += 5
            i += 1

    titles = ["{}({}{})".format(app, pid, "" if skew == "unset" else "," + skew + "ppm") for pid, app, skew in procs]
    with open(a.results + "/clock.dat", "w") as f:
        f.write("# titles: " + " ".join(titles) + "\n")
        f.write("# t_s ts-w0_ns w1-w0_ns outside_ns\n")
        for k, (pid, _, _) in enumerate(procs):
            if k:
                f.write("\n\n")
            f.write("# {}\n".format(titles[k]))
            for x in samples[pid]:
                f.write("{:.3f} {} {} {}\n".format(*x))
    return 0


if __name__ == "__main__":
    sys.exit(main())
