#!/usr/bin/env python3
"""compare_report.py - the tables, CSV and plot data of bench/compare.sh.

usage: compare_report.py --work W --results R --reps N --calls C --warmup W --burst B --rates "1M 2M"
                         --workloads "args3 ..." --peers "shmlog ..." [--overload-seconds S]
                         [--thread-cpus 0,1] [--procs-cpus "0 0 0 0"] [--consumer-cpu 1]

WORK holds, per run TAG (W.lat.PEER.REP, W.tput.PEER.REP, rate.PEER.REP.RATE,
overload.PEER.REP), the harness's CSV of each producer process (TAG.pK.csv),
the timed calls of runs of several processes (TAG.pK.samples, native uint64
TSC cycles) and "counted bytes reported" from the disk (TAG.disk);
rate.PEER.REP.best holds "target achieved-calls/s" of a rate search's verdict,
overload.PEER.offered "rate how-chosen".
"""
import argparse
import array
import csv
import glob
import os
import statistics

PCTS = [("p50", "p50_ns", 1, 2), ("p99", "p99_ns", 99, 100), ("p99.9", "p999_ns", 999, 1000),
        ("p99.99", "p9999_ns", 9999, 10000), ("max", "max_ns", 1, 1)]
LAT_WORKLOADS = ["args3", "args3_str40", "threads2", "procs4"]
OWN_COUNT = {"shmlog": "loss records in its files (shmlog-dump stats)",
             "lttng": "the channel's discarded events (lttng list)",
             "spdlog-block": "overrun_counter() (block never drops: the caller waits)",
             "spdlog-overrun": "overrun_counter()"}


def harness_rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def run_files(work, tag):
    """The CSVs of a run's producer processes, p0 first."""
    return sorted(glob.glob(os.path.join(work, f"{tag}.p*.csv")), key=lambda p: int(p.rsplit(".p", 1)[1][:-4]))


def disk(work, tag):
    """(counted, bytes, reported or None) of a run."""
    with open(os.path.join(work, f"{tag}.disk")) as f:
        counted, nbytes, reported = f.read().split()
    return int(counted), int(nbytes), None if reported == "-" else int(reported)


def together_rows(work, tag, kind):
    """Per process, the backend's row of its producers together."""
    rows = []
    for path in run_files(work, tag):
        rows += [r for r in harness_rows(path) if r["kind"] == kind and r["backend"] != "none" and
                 r["producer"] == "all"]
    return rows


def nearest_rank(sorted_values, num, den):
    rank = (len(sorted_values) * num + den - 1) // den
    return sorted_values[rank - 1 if rank else 0]


def merged_percentiles(work, tag, rows):
    """Percentiles in ns over the timed calls of every process of a run, from
    their raw samples: percentiles of percentiles would not be percentiles."""
    samples = array.array("Q")
    for path in sorted(glob.glob(os.path.join(work, f"{tag}.p*.samples"))):
        with open(path, "rb") as f:
            samples.frombytes(f.read())
    expected = sum(int(r["samples"]) for r in rows)
    if len(samples) != expected:
        raise SystemExit(f"compare_report: {tag}: {len(samples)} samples on file, the CSVs say {expected}")
    values = sorted(samples)
    tsc_hz = statistics.mean(float(r["tsc_hz"]) for r in rows)
    return {key: round(nearest_rank(values, num, den) * 1e9 / tsc_hz, 2) for _, key, num, den in PCTS}


def latency_of(work, tag, rows):
    if len(rows) == 1:
        return {key: float(rows[0][key]) for _, key, _, _ in PCTS}
    return merged_percentiles(work, tag, rows)


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


def count_label(n):
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div and n % div == 0:
            return f"{n / div:.0f}{suffix}"
    return str(n)


def print_table(cols, rows):
    widths = [max(len(r[i]) for r in rows + [cols]) for i in range(len(cols))]
    line = lambda r: "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(cols))
    for r in rows:
        print(line(r))


class Metrics:
    """Per repetition values of one (workload, peer, producer) row."""
    NAMES = [key for _, key, _, _ in PCTS] + ["calls_s", "delivered_s", "sent", "landed", "loss", "loss_pct",
                                              "self_dropped", "api_dropped", "lat_loss", "bytes_rec"]

    def __init__(self):
        self.values = {name: [] for name in self.NAMES}

    def add(self, **kw):
        for k, v in kw.items():
            self.values[k].append(v)

    def spreads(self):
        return {k: spread(v) for k, v in self.values.items()}


def api_dropped(rows):
    """What the producers' own counters say, summed; None when one cannot tell."""
    if any(r["dropped"] == "" for r in rows):
        return None
    return sum(int(r["dropped"]) for r in rows)


def collect_workload(a, w, peer):
    """{producer label: Metrics} of one workload and peer; "all" is the row of every producer."""
    out = {"all": Metrics()}
    for rep in range(1, a.reps + 1):
        tag = f"{w}.lat.{peer}.{rep}"
        rows = together_rows(a.work, tag, "latency")
        lat = latency_of(a.work, tag, rows)
        sent = sum(int(r["calls"]) + int(r["warmup"]) for r in rows)
        counted, _, _ = disk(a.work, tag)
        out["all"].add(lat_loss=sent - counted, **lat)
        # one row per thread of a process of several producer threads
        for path in run_files(a.work, tag):
            for r in harness_rows(path):
                if r["kind"] == "latency" and r["backend"] != "none" and r["producer"] != "all":
                    label = f"#{r['producer']} cpu {r['cpu']}"
                    out.setdefault(label, Metrics()).add(**{key: float(r[key]) for _, key, _, _ in PCTS})

        tag = f"{w}.tput.{peer}.{rep}"
        rows = together_rows(a.work, tag, "throughput")
        sent = sum(int(r["calls"]) for r in rows)
        span_ns = max(int(r["t_end_ns"]) for r in rows) - min(int(r["t_start_ns"]) for r in rows)
        calls_s = sent * 1e9 / span_ns
        counted, nbytes, reported = disk(a.work, tag)
        api = api_dropped(rows)
        out["all"].add(calls_s=calls_s, delivered_s=calls_s * counted / sent, sent=sent, landed=counted,
                       loss=sent - counted, loss_pct=100.0 * (sent - counted) / sent,
                       self_dropped=reported if reported is not None else api, api_dropped=api,
                       bytes_rec=nbytes / counted if counted else None)
    return out


def zero_loss(a, peer):
    """(targets, spread of achieved calls/s) of the highest rates delivered
    without loss, one per repetition as compare.sh's searches judged them: a
    rep with none counts 0 ("none")."""
    targets, achieved = [], []
    for rep in range(1, a.reps + 1):
        path = os.path.join(a.work, f"rate.{peer}.{rep}.best")
        if os.path.exists(path):
            with open(path) as f:
                t, v = f.read().split()
            targets.append(t)
            achieved.append(float(v))
        else:
            targets.append("none")
            achieved.append(0.0)
    return targets, spread(achieved)


def collect_overload(a, peer):
    m = Metrics()
    for rep in range(1, a.reps + 1):
        tag = f"overload.{peer}.{rep}"
        row = together_rows(a.work, tag, "overload")[0]
        sent = int(row["calls"])
        counted, nbytes, reported = disk(a.work, tag)
        api = api_dropped([row])
        m.add(calls_s=float(row["calls_per_s"]), delivered_s=None, sent=sent, landed=counted, loss=sent - counted,
              loss_pct=100.0 * (sent - counted) / sent, self_dropped=reported if reported is not None else api,
              api_dropped=api, bytes_rec=nbytes / counted if counted else None,
              **{key: float(row[key]) for _, key, _, _ in PCTS})
    with open(os.path.join(a.work, f"overload.{peer}.offered")) as f:
        offered, how = f.read().strip().split(" ", 1)
    own, counted = m.values["self_dropped"], m.values["loss"]
    disagree = any(o is not None and o != c for o, c in zip(own, counted))
    return m.spreads(), int(offered), how, disagree


def main():
    p = argparse.ArgumentParser()
    for name in ("work", "results", "rates", "workloads", "peers"):
        p.add_argument(f"--{name}", required=True)
    for name in ("reps", "calls", "warmup", "burst"):
        p.add_argument(f"--{name}", required=True, type=int)
    p.add_argument("--overload-seconds", type=int, default=2)
    p.add_argument("--thread-cpus", default="0,1")
    p.add_argument("--procs-cpus", default="0 0 0 0")
    p.add_argument("--consumer-cpu", default="1")
    a = p.parse_args()
    peers = a.peers.split()
    workloads = a.workloads.split()
    lat_workloads = [w for w in LAT_WORKLOADS if w in workloads]

    table = {}          # (workload, peer) -> {producer label: spreads}
    for w in lat_workloads:
        for peer in peers:
            table[w, peer] = {label: m.spreads() for label, m in collect_workload(a, w, peer).items()}
    zl = {peer: zero_loss(a, peer) for peer in peers} if "args3" in workloads else {}
    overload = {peer: collect_overload(a, peer) for peer in peers} if "overload" in workloads else {}

    # the bracket alone ("empty") and the bracket around one rdtsc ("rdtsc":
    # the floor of any call that stores a timestamp), from the first latency
    # run of one producer
    def bracket(key_name):
        for w in (w for w in lat_workloads if w != "procs4"):
            values = {key: [] for _, key, _, _ in PCTS}
            for rep in range(1, a.reps + 1):
                for path in run_files(a.work, f"{w}.lat.{peers[0]}.{rep}"):
                    for r in harness_rows(path):
                        if r["backend"] == "none" and r["workload"] == key_name and r["producer"] == "all":
                            for _, key, _, _ in PCTS:
                                values[key].append(float(r[key]))
            return {k: spread(v) for k, v in values.items()} if any(values.values()) else None
        return None
    empty, rdtsc = bracket("empty"), bracket("rdtsc")

    # ==== the tables ====
    nthreads = len(a.thread_cpus.split(","))
    nprocs = len(a.procs_cpus.split())
    print(f"\nlatency: ns per call, {count_label(a.warmup)} warm-up + {count_label(a.calls)} timed calls, paced batches"
          f" of 20 (lfence;rdtsc bracket included; 'empty' is the bracket alone)")
    print(f"throughput: {count_label(a.burst)} calls back to back; delivered/s = calls/s x counted/sent;"
          f" loss = sent - counted on disk")
    print("self-dropped: the loss the peer reports itself (" +
          "; ".join(f"{peer}: {OWN_COUNT.get(peer, 'its own counter')}" for peer in peers) + ")")
    if "args3" in workloads:
        print(f"zero-loss rate (args3): highest of {a.rates} per second (1 s each) with nothing lost, as achieved;"
              f" one search per run, the targets each reached in brackets")
    if "threads2" in workloads:
        print(f"threads2: {nthreads} producer threads on cpus {a.thread_cpus}, each 1/{nthreads} of the calls;"
              f" the consumer shares cpu {a.consumer_cpu} with one of them (2-core VM: no core of its own);"
              f" '#i cpu N' rows: one thread's latency")
    if "procs4" in workloads:
        print(f"procs4: {nprocs} producer processes on cpus {a.procs_cpus.replace(' ', ',')} at once, each"
              f" 1/{nprocs} of the calls; latency merged over the processes' timed calls; calls/s = all calls"
              f" over first start to last end")
    print(f"figures: median of {a.reps} runs (min-max)\n")

    cols = ["workload", "peer"] + [label for label, _, _, _ in PCTS] + [
        "calls/s (M)", "delivered/s (M)", "loss %", "self-dropped", "lat. loss", "B/rec disk", "zero-loss rate (M/s)"]
    rows = []
    for name, b in (("empty", empty), ("rdtsc", rdtsc)):
        if b:
            rows.append([lat_workloads[0], name] + [fmt(b[key], 1) for _, key, _, _ in PCTS] + [""] * 7)
    for w in lat_workloads:
        for peer in peers:
            for label, s in table[w, peer].items():
                name = peer if label == "all" else f"  {peer} {label}"
                row = [w, name] + [fmt(s[key], 1) for _, key, _, _ in PCTS]
                if label == "all":
                    z = zl.get(peer) if w == "args3" else None
                    row += [fmt(s["calls_s"], 2, 1e6), fmt(s["delivered_s"], 2, 1e6), fmt(s["loss_pct"], 2),
                            fmt(s["self_dropped"]), fmt(s["lat_loss"]), fmt(s["bytes_rec"], 2),
                            (f"{fmt(z[1], 2, 1e6)} [{' '.join(z[0])}]" if z else "") if w == "args3" else ""]
                else:
                    row += [""] * 7
                rows.append(row)
    if rows:
        print_table(cols, rows)

    if overload:
        print(f"\noverload (args3): calls paced at the offered rate for {a.overload_seconds} s; landed = records"
              f" counted on disk; dropped: own count as the peer reports it, and sent - landed; p50/p99.9: one call in"
              f" 20 timed while full; achieved: calls/s the producer made (below offered with nothing dropped:"
              f" the producer's own cost, or for spdlog block its waiting, set the pace, not a full buffer)")
        ocols = ["workload", "peer", "offered (M/s)", "achieved (M/s)", "sent", "landed", "dropped: own count",
                 "dropped: sent-landed", "loss %", "p50", "p99.9", "offered rate from"]
        orows = []
        for peer in peers:
            s, offered, how, disagree = overload[peer]
            # an own count that disagrees with the disk is itself a finding
            flag = " (!)" if disagree else ""
            orows.append(["overload", peer, f"{offered / 1e6:.2f}", fmt(s["calls_s"], 2, 1e6), fmt(s["sent"]),
                          fmt(s["landed"]), fmt(s["self_dropped"]) + flag, fmt(s["loss"]), fmt(s["loss_pct"], 2),
                          fmt(s["p50_ns"], 1), fmt(s["p999_ns"], 1), how])
        print_table(ocols, orows)
        if any(r[6].endswith("(!)") for r in orows):
            print("(!): the peer's own count differs from sent - landed")

    # ==== CSV: one row per workload, peer and producer ====
    with open(os.path.join(a.results, "compare.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["workload", "peer", "producer", "reps"] +
                    [f"{k}_{s}" for k in Metrics.NAMES for s in ("median", "min", "max")] +
                    ["zero_loss_targets", "zero_loss_achieved_per_s_median", "zero_loss_achieved_per_s_min",
                     "zero_loss_achieved_per_s_max", "offered_per_s"])
        blank = ("", "", "")
        for name, b in (("empty", empty), ("rdtsc", rdtsc)):
            if b:
                wr.writerow([lat_workloads[0], name, "all", a.reps] +
                            [x for k in Metrics.NAMES for x in (b.get(k) or blank)] + ["", "", "", "", ""])
        for w in lat_workloads:
            for peer in peers:
                for label, s in table[w, peer].items():
                    z = zl.get(peer) if w == "args3" and label == "all" else None
                    wr.writerow([w, peer, label, a.reps] + [x for k in Metrics.NAMES for x in (s[k] or blank)] +
                                ([" ".join(z[0])] + [f"{x:.0f}" for x in z[1]] if z else ["", "", "", ""]) + [""])
        for peer, (s, offered, _, _) in overload.items():
            wr.writerow(["overload", peer, "all", a.reps] + [x for k in Metrics.NAMES for x in (s[k] or blank)] +
                        ["", "", "", "", offered])

    # ==== plot data (args3): one line per percentile, one column per peer ====
    if "args3" in workloads:
        with open(os.path.join(a.results, "latency.dat"), "w") as f:
            f.write("pct empty " + " ".join(peers) + "\n")
            for label, key, _, _ in PCTS:
                f.write(label + f" {empty[key][0]:.1f} " +
                        " ".join(f"{table['args3', p]['all'][key][0]:.1f}" for p in peers) + "\n")


main()
