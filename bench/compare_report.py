#!/usr/bin/env python3
"""compare_report.py - the table, CSV and plot data of bench/compare.sh.

usage: compare_report.py WORK RESULTS REPS CALLS WARMUP BURST RATES PEER...

WORK holds, per peer and repetition, the harness's CSV (lat-P-R.csv,
tput-P-R.csv, rate-P-RATE.csv) and "counted bytes" from the disk (*.disk).
"""
import csv
import os
import statistics
import sys

PCTS = [("p50", "p50_ns"), ("p99", "p99_ns"), ("p99.9", "p999_ns"), ("p99.99", "p9999_ns"), ("max", "max_ns")]


def harness_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def disk(path):
    with open(path) as f:
        counted, nbytes = f.read().split()
    return int(counted), int(nbytes)


def spread(values):
    """(median, min, max), or None when there is nothing."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt(s, digits=0, scale=1.0):
    if s is None:
        return "n/a"
    med, lo, hi = (v / scale for v in s)
    if lo == hi:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def main():
    work, results, reps, calls, warmup, burst, rates = sys.argv[1:8]
    peers = sys.argv[8:]
    reps = int(reps)
    per_peer = {}
    empty = {key: [] for _, key in PCTS}
    for peer in peers:
        m = {key: [] for _, key in PCTS}
        m.update(lat_loss=[], calls_s=[], delivered_s=[], loss=[], loss_pct=[], self_dropped=[], bytes_rec=[])
        for rep in range(1, reps + 1):
            lat = harness_rows(os.path.join(work, f"lat-{peer}-{rep}.csv"))
            for row in lat:
                target = empty if row["backend"] == "none" else m
                for _, key in PCTS:
                    target[key].append(float(row[key]))
                if row["backend"] != "none":
                    sent = int(row["calls"]) + int(row["warmup"])
            counted, _ = disk(os.path.join(work, f"lat-{peer}-{rep}.disk"))
            m["lat_loss"].append(sent - counted)
            tput = [r for r in harness_rows(os.path.join(work, f"tput-{peer}-{rep}.csv")) if r["kind"] == "throughput"][0]
            sent = int(tput["calls"])
            counted, nbytes = disk(os.path.join(work, f"tput-{peer}-{rep}.disk"))
            calls_s = float(tput["calls_per_s"])
            m["calls_s"].append(calls_s)
            # records that reached the disk per second of the producer's run
            m["delivered_s"].append(calls_s * counted / sent)
            m["loss"].append(sent - counted)
            m["loss_pct"].append(100.0 * (sent - counted) / sent)
            m["self_dropped"].append(int(tput["dropped"]) if tput["dropped"] else None)
            m["bytes_rec"].append(nbytes / counted if counted else None)
        best = None
        for rate in rates.split():
            path = os.path.join(work, f"rate-{peer}-{rate}.csv")
            if not os.path.exists(path):
                break
            row = [r for r in harness_rows(path) if r["kind"] == "throughput"][0]
            counted, _ = disk(os.path.join(work, f"rate-{peer}-{rate}.disk"))
            if counted < int(row["calls"]):
                break
            best = (rate, float(row["calls_per_s"]))
        m["zero_loss"] = best
        per_peer[peer] = {k: (spread(v) if isinstance(v, list) else v) for k, v in m.items()}
    empty = {k: spread(v) for k, v in empty.items()}

    # ==== the table ====
    print(f"\nlatency: ns per call, {warmup} warm-up + {calls} timed calls, paced batches of 20 (lfence;rdtsc bracket"
          f" included; 'empty' is the bracket alone)")
    print(f"throughput: {burst} calls back to back; delivered/s = calls/s x counted/sent; loss = sent - counted on disk")
    print(f"zero-loss rate: highest of {rates} per second (1 s each) with nothing lost, as achieved")
    print(f"figures: median of {reps} runs (min-max)\n")
    cols = ["peer"] + [label for label, _ in PCTS] + ["calls/s (M)", "delivered/s (M)", "loss %", "self-dropped",
                                                      "lat. loss", "B/rec disk", "zero-loss rate (M/s)"]
    rows = [["empty"] + [fmt(empty[key], 1) for _, key in PCTS] + [""] * 7]
    for peer in peers:
        p = per_peer[peer]
        zl = p["zero_loss"]
        rows.append([peer] + [fmt(p[key], 1) for _, key in PCTS] + [
            fmt(p["calls_s"], 2, 1e6), fmt(p["delivered_s"], 2, 1e6), fmt(p["loss_pct"], 2), fmt(p["self_dropped"]),
            fmt(p["lat_loss"]), fmt(p["bytes_rec"], 2),
            f"{zl[1] / 1e6:.2f} (target {zl[0]})" if zl else "none"])
    widths = [max(len(r[i]) for r in rows + [cols]) for i in range(len(cols))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(cols))
    for r in rows:
        print(line(r))

    # ==== CSV ====
    metrics = [key for _, key in PCTS] + ["calls_s", "delivered_s", "loss", "loss_pct", "self_dropped", "lat_loss",
                                          "bytes_rec"]
    with open(os.path.join(results, "compare.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["peer", "reps"] + [f"{k}_{s}" for k in metrics for s in ("median", "min", "max")]
                   + ["zero_loss_target", "zero_loss_achieved_per_s"])
        w.writerow(["empty", reps] + [x for k in metrics for x in (empty.get(k) or ("", "", ""))] + ["", ""])
        for peer in peers:
            p = per_peer[peer]
            zl = p["zero_loss"]
            w.writerow([peer, reps] + [x for k in metrics for x in (p[k] or ("", "", ""))]
                       + ([zl[0], f"{zl[1]:.0f}"] if zl else ["", ""]))

    # ==== plot data: one line per percentile, one column per peer ====
    with open(os.path.join(results, "latency.dat"), "w") as f:
        f.write("pct empty " + " ".join(peers) + "\n")
        for label, key in PCTS:
            f.write(label + " " + f"{empty[key][0]:.1f} " + " ".join(f"{per_peer[p][key][0]:.1f}" for p in peers) + "\n")


main()
