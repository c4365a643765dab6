#!/usr/bin/env python3
"""Merge `sharesnet bench throughput --json` files into one table.

    merge_throughput.py a.json b.json ... [--csv merged.csv] [--mode train|infer|both]

Each device of each file (and PyTorch, when the file has peer results) becomes
one column of img/s; rows are (model, input, batch, mode). Runs on AMD, Intel
and NVIDIA devices, or on several machines, thus sit side by side. A legend
above the table names every column's device, driver, OpenCL version, machine,
date and method. Markdown on stdout; --csv writes the same rows as CSV.
Python 3 standard library only.
"""
import argparse
import csv
import json
import sys

SCHEMA = "sharesnet-throughput/1"


def load(path):
    with open(path) as f:
        doc = json.load(f)
    if doc.get("schema") != SCHEMA:
        raise SystemExit("merge_throughput: %s: not a %s file (schema %r)"
                         % (path, SCHEMA, doc.get("schema")))
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("files", nargs="+", help="JSON files of `sharesnet bench throughput --json`")
    ap.add_argument("--csv", help="also write the merged rows here")
    ap.add_argument("--mode", choices=("train", "infer", "both"), default="both")
    a = ap.parse_args(argv)
    modes = ("train", "infer") if a.mode == "both" else (a.mode,)

    columns = []   # (label, legend)
    values = {}    # (row key) -> {column index: img/s}
    rows = []      # row keys in first-seen order
    params = {}

    def put(key, col, v):
        if key not in values:
            values[key] = {}
            rows.append(key)
        values[key][col] = v

    for path in a.files:
        doc = load(path)
        m, meth = doc["machine"], doc["method"]
        where = "%s (%s, %d CPUs), %s; warm-up %d, median of %d%s" % (
            m["host"], m["cpu"], m["cores"], doc["date"], meth["warmup"], meth["reps"],
            ", quick" if meth.get("quick") else "")
        index = {}
        for d in doc["devices"]:
            if not d.get("ok"):
                continue
            index[d["selector"]] = len(columns)
            columns.append((d["name"], "%s %s (%s, driver %s, %s) on %s [%s]" % (
                d["selector"], d["name"], d["type"], d["driver"], d["opencl"], where, path)))
        for r in doc["results"]:
            if not r.get("ok") or r["device"] not in index:
                continue
            params[r["model"]] = r["params"]
            for mode in modes:
                key = (r["model"], "%dx%dx%d" % (r["in_channels"], r["size"], r["size"]),
                       r["batch"], mode)
                put(key, index[r["device"]], r[mode]["img_per_s"])
        peer = doc.get("peer") or {}
        if peer.get("ran"):
            col = len(columns)
            columns.append(("PyTorch %s CPU" % peer["torch"], "PyTorch %s on the CPU, %d thread(s), "
                            "on %s [%s]" % (peer["torch"], peer["threads"], where, path)))
            inputs = {(r["model"], r["batch"]): "%dx%dx%d" % (r["in_channels"], r["size"], r["size"])
                      for r in doc["results"]}
            for p in peer["results"]:
                for mode in modes:
                    shape = inputs.get((p["model"], p["batch"]), "?")
                    put((p["model"], shape, p["batch"], mode), col, p[mode]["img_per_s"])

    print("# sharesnet throughput: %d file(s), %d column(s), img/s (higher is better)\n"
          % (len(a.files), len(columns)))
    for i, (_, legend) in enumerate(columns):
        print("- [%d] %s" % (i + 1, legend))
    head = ["model", "parameters", "input", "batch", "mode"] + [
        "[%d] %s" % (i + 1, label) for i, (label, _) in enumerate(columns)]
    print("\n| " + " | ".join(head) + " |")
    print("|" + "---|" * 2 + "---|--:|---|" + "--:|" * len(columns))
    table = []
    for key in rows:
        model, shape, batch, mode = key
        cells = [model, str(params.get(model, "")), shape, str(batch), mode]
        cells += ["%.1f" % values[key][c] if c in values[key] else "-" for c in range(len(columns))]
        table.append(cells)
        print("| " + " | ".join(cells) + " |")
    if a.csv:
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["model", "parameters", "input", "batch", "mode"]
                       + [legend for _, legend in columns])
            for cells in table:
                w.writerow(["" if c == "-" else c for c in cells])
    return 0


if __name__ == "__main__":
    sys.exit(main())
