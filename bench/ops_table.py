#!/usr/bin/env python3
"""Before/after table of `sharesnet-bench-ops --algo gemm,direct` CSV files:
one row per (shape, pass) with both algorithms' GFLOP/s, the speed-up and the
share of a given peak. usage: ops_table.py [--peak GFLOPS] FILE.csv..."""
import csv
import sys


def main(argv):
    peak = None
    if len(argv) > 2 and argv[1] == "--peak":
        peak, argv = float(argv[2]), argv[2:]
    rows = {}
    order = []
    for path in argv[1:]:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["shape"], r["pass"])
                if key not in rows:
                    rows[key] = {}
                    order.append(key)
                rows[key][r["algo"]] = float(r["gflops"])
    head = "| shape | pass | gemm GFLOP/s | direct GFLOP/s | speed-up |"
    if peak:
        head += " direct % of peak |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for key in order:
        g, d = rows[key].get("gemm"), rows[key].get("direct")
        line = "| %s | %s | %s | %s | %s |" % (
            key[0], key[1], "%.1f" % g if g else "-", "%.1f" % d if d else "-",
            "%.1fx" % (d / g) if g and d else "-")
        if peak:
            line += " %s |" % ("%.0f%%" % (100 * d / peak) if d else "-")
        print(line)


if __name__ == "__main__":
    main(sys.argv)
