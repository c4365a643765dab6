#!/usr/bin/env python3
"""Side-by-side table of `sharesnet-bench-ops --algo gemm,direct,winograd` CSV
files: one row per (shape, pass) with every algorithm's GFLOP/s, each
algorithm's speed-up over a base algorithm and (--peak) its share of a peak.

usage: ops_table.py [--peak GFLOPS] [--base ALGO] FILE.csv...

GFLOP/s is the bench's: the direct convolution's 2*N*OC*OH*OW*C*K*K over the
median time for every algorithm, so Winograd's figure is "effective" GFLOP/s
(it multiplies less) and the columns compare as 1/time. An algorithm that
declined a shape ran GEMM there (the CSV's `runs` column; files written
before that column existed have none): its cell shows "-". The base is gemm
when the files have it, else the first algorithm they list."""
import csv
import sys

KNOWN = ["gemm", "clblast", "direct", "winograd"]


def main(argv):
    peak, base = None, None
    args = argv[1:]
    while args and args[0] in ("--peak", "--base"):
        if len(args) < 2:
            sys.exit("usage: ops_table.py [--peak GFLOPS] [--base ALGO] FILE.csv...")
        if args[0] == "--peak":
            peak = float(args[1])
        else:
            base = args[1]
        args = args[2:]
    rows, order, algos = {}, [], []
    for path in args:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["shape"], r["pass"])
                if key not in rows:
                    rows[key] = {}
                    order.append(key)
                algo = r["algo"]
                if algo not in algos:
                    algos.append(algo)
                ran = r.get("runs") or algo
                if algo != "auto" and ran != algo:
                    continue  # it declined the shape: GEMM ran in its place
                rows[key][algo] = float(r["gflops"])
    algos.sort(key=lambda a: KNOWN.index(a) if a in KNOWN else len(KNOWN))
    if base is None:
        base = "gemm" if "gemm" in algos else (algos[0] if algos else None)
    others = [a for a in algos if a != base]

    head = "| shape | pass |" + "".join(" %s GFLOP/s |" % a for a in algos)
    head += "".join(" %s vs %s |" % (a, base) for a in others)
    if peak:
        head += "".join(" %s %% of peak |" % a for a in others)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    fmt = lambda v: "%.1f" % v if v else "-"
    for key in order:
        g = rows[key]
        line = "| %s | %s |" % key + "".join(" %s |" % fmt(g.get(a)) for a in algos)
        for a in others:
            b, v = g.get(base), g.get(a)
            line += " %s |" % ("%.2fx" % (v / b) if b and v else "-")
        if peak:
            for a in others:
                v = g.get(a)
                line += " %s |" % ("%.0f%%" % (100 * v / peak) if v else "-")
        print(line)


if __name__ == "__main__":
    main(sys.argv)
