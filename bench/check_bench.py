#!/usr/bin/env python3
"""CI check of `sharesnet bench` on tiny budgets: the outputs are well-formed
and consistent with each other.

    check_bench.py SHARESNET MERGE_THROUGHPUT_PY PEER_PY WORKDIR

Writes a tiny IDX dataset (8x8 gray images of 4 patterns), then:
- bench tradeoff --family sharesnet26 (plain resnet26, its ShaResNet, and
  resnet20, the plain model closest in parameters) over 2 seeds, 1 epoch of
  64 images: tradeoff.csv has one row per row of the Markdown table (same
  model, role, parameters, top-1), runs.csv one row per model and seed,
  param+grad+momentum = 12 bytes per parameter, the equal-parameter model is
  within 5% of the ShaResNet's count (else a note must say why), the PNG
  starts with the PNG signature, PyTorch's img/s are there when it is
  installed (else a "peer: skipped" line);
- bench throughput --quick on resnet8 / sharesnet14 at batches 4 and 8: the
  JSON parses, has the device name, driver and OpenCL version, one result
  per model and batch with img/s > 0, and every printed result line says
  train or infer with the same img/s as the JSON;
- bench peer without PyTorch (a python that does not exist): a clear skip
  line, exit 0; merge_throughput.py on two result files;
- bench ops --quick, bench profile (train and infer), and the error paths.
The device is $SN_TEST_DEVICE, else "cpu"; PyTorch is looked for as sharesnet
does ($SN_PEER_PYTHON, else /usr/bin/python3). Prints one line per check and
ends with "N passed, M failed"; exits 1 on any failure.
"""
import csv
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys

SN, MERGE, PEER, WORK = sys.argv[1:5]
DEV = os.environ.get("SN_TEST_DEVICE", "cpu")
PY = sys.executable
passed = failed = 0
last = {"out": "", "err": ""}


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok   " + name)
    else:
        failed += 1
        print("FAIL %s%s" % (name, ": " + detail if detail else ""))
        for k in ("out", "err"):
            tail = last[k].splitlines()[-15:]
            print("  --- std%s\n%s" % (k, "\n".join("  " + line for line in tail)))
    return cond


def run(name, args, expect_rc=0):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    last["out"], last["err"] = p.stdout, p.stderr
    check("%s exits %d" % (name, expect_rc), p.returncode == expect_rc, "exit %d" % p.returncode)
    return p.stdout


def torch_installed():
    python = os.environ.get("SN_PEER_PYTHON") or "/usr/bin/python3"
    try:
        return subprocess.run([python, "-c", "import torch"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def write_idx(root):
    """4 patterns of 8x8 gray images (as tests/cli/test_cli.sh)."""
    os.makedirs(root)
    rng = random.Random(7)

    def image(label):
        ph, ox, oy = rng.randrange(2), rng.randrange(4), rng.randrange(4)
        px = []
        for y in range(8):
            for x in range(8):
                on = [(y + ph) % 2, (x + ph) % 2, (x + y + ph) % 2,
                      int(ox <= x < ox + 4 and oy <= y < oy + 4)][label]
                px.append(max(0, min(255, (200 if on else 50) + rng.randrange(41) - 20)))
        return bytes(px)

    for prefix, n in (("train", 96), ("t10k", 32)):
        labels = [rng.randrange(4) for _ in range(n)]
        with open(os.path.join(root, prefix + "-images-idx3-ubyte"), "wb") as f:
            f.write(struct.pack(">IIII", 0x803, n, 8, 8) + b"".join(image(l) for l in labels))
        with open(os.path.join(root, prefix + "-labels-idx1-ubyte"), "wb") as f:
            f.write(struct.pack(">II", 0x801, n) + bytes(labels))


def md_table(text, first_header):
    """Rows (lists of cells) of the Markdown table whose header starts with first_header."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("| " + first_header + " |"):
            inside, rows = True, []
            continue
        if inside:
            if not line.startswith("|"):
                break
            if not line.startswith("|---"):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def number(text):
    return float(text.replace(",", "").replace("%", "").replace("img/s", "").strip())


def check_tradeoff(data):
    out_dir = os.path.join(WORK, "tradeoff")
    stdout = run("bench tradeoff", [SN, "bench", "tradeoff", "--family", "sharesnet26", "--data",
                                    data, "--epochs", "1", "--batch", "16", "--limit-train", "64",
                                    "--limit-test", "32", "--seeds", "1,2", "--out", out_dir,
                                    "--speed-reps", "2", "--speed-warmup", "1", "--device", DEV,
                                    "--peer-script", PEER])
    files = {n: os.path.join(out_dir, n) for n in
             ("tradeoff.md", "tradeoff.csv", "runs.csv", "tradeoff.gnuplot", "tradeoff.png")}
    for n in ("tradeoff.md", "tradeoff.csv", "runs.csv", "tradeoff.gnuplot"):
        check("tradeoff wrote " + n, os.path.isfile(files[n]) and os.path.getsize(files[n]) > 0)
    if not os.path.isfile(files["tradeoff.csv"]):
        return
    md = open(files["tradeoff.md"]).read()
    check("tradeoff.md is what was printed", md.strip() in stdout)
    for key in ("- machine:", "- device:", "- date:", "- method:", "- recipe:"):
        check("tradeoff.md says " + key, key in md)
    table = md_table(md, "model")
    with open(files["tradeoff.csv"]) as f:
        rows = list(csv.DictReader(f))
    check("tradeoff: 3 models in the table", len(table) == 3, str(table))
    check("tradeoff.csv rows = table rows", len(rows) == len(table), "%d vs %d"
          % (len(rows), len(table)))
    for cells, row in zip(table, rows):
        same = (cells[0] == row["model"] and cells[1] == row["role"]
                and int(number(cells[2])) == int(row["parameters"])
                and "%.2f" % float(row["top1_mean"]) == cells[6])
        check("tradeoff.csv row %s matches the table" % row["model"], same,
              "%s vs %s" % (cells, row))
        check("%s: param+grad+momentum = 12 bytes/parameter" % row["model"],
              int(row["state_bytes"]) == 12 * int(row["parameters"]))
        check("%s: img/s > 0" % row["model"],
              float(row["train_img_s"]) > 0 and float(row["infer_img_s"]) > 0)
        check("%s: 0 <= top-1 <= 100, 2 seeds" % row["model"],
              0 <= float(row["top1_mean"]) <= 100 and row["seeds"] == "2")
    roles = {r["role"]: r for r in rows}
    check("tradeoff: roles plain, shared, equal-params", set(roles) ==
          {"plain", "shared", "equal-params"}, str(list(roles)))
    if set(roles) == {"plain", "shared", "equal-params"}:
        shared = int(roles["shared"]["parameters"])
        equal = int(roles["equal-params"]["parameters"])
        check("tradeoff: models are resnet26, sharesnet26, resnet20",
              [roles[k]["model"] for k in ("plain", "shared", "equal-params")]
              == ["resnet26", "sharesnet26", "resnet20"])
        check("tradeoff: ShaResNet has fewer parameters than plain",
              shared < int(roles["plain"]["parameters"]))
        within = abs(equal - shared) <= 0.05 * shared
        check("tradeoff: equal-params model within 5% of the ShaResNet (or a note says why)",
              within or "no plain model" in md or "itself" in md, "%d vs %d" % (equal, shared))
    with open(files["runs.csv"]) as f:
        runs = list(csv.DictReader(f))
    check("runs.csv: one row per model and seed", len(runs) == 6 and
          {(r["model"], r["seed"]) for r in runs} ==
          {(r["model"], s) for r in rows for s in ("1", "2")})
    check("runs.csv parameters match tradeoff.csv", all(
        r["parameters"] == next(x["parameters"] for x in rows if x["model"] == r["model"])
        for r in runs))
    check("runs table in tradeoff.md has 6 rows", len(md_table(md, "model | seed")) == 6 or
          len([l for l in md.splitlines() if re.match(r"\| \S+ \| [12] \| ", l)]) == 6)
    if shutil.which("gnuplot"):
        ok = os.path.isfile(files["tradeoff.png"])
        check("tradeoff.png exists", ok)
        if ok:
            with open(files["tradeoff.png"], "rb") as f:
                check("tradeoff.png has the PNG signature", f.read(8) == b"\x89PNG\r\n\x1a\n")
    else:
        check("no gnuplot: a line says the chart was skipped", "chart: skipped" in stdout)
    if torch_installed():
        check("peer: parameter names, shapes and count equal", stdout.count(
            "names, shapes and count equal sharesnet's") == 3)
        check("peer: PyTorch img/s and ratio in tradeoff.csv", all(
            float(r["peer_train_img_s"]) > 0 and float(r["train_ratio_vs_peer"]) > 0 for r in rows))
    else:
        check("peer skipped with a clear line", "peer: skipped: PyTorch is missing" in stdout)


def check_throughput():
    path = os.path.join(WORK, "throughput.json")
    stdout = run("bench throughput --quick", [SN, "bench", "throughput", "--model",
                                              "resnet8,sharesnet14", "--batch", "4,8", "--in-ch",
                                              "1", "--size", "8", "--quick", "--device", DEV,
                                              "--json", path, "--peer-script", PEER])
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        check("throughput JSON parses", False, str(e))
        return None
    check("throughput JSON parses", doc.get("schema") == "sharesnet-throughput/1")
    devices = [d for d in doc["devices"] if d["ok"]]
    check("throughput: a device ran", len(devices) >= 1)
    for d in devices:
        check("device %s: name, driver and OpenCL version in JSON and output" % d["selector"],
              all(d[k] for k in ("name", "driver", "opencl")) and d["name"] in stdout
              and d["driver"] in stdout and d["opencl"] in stdout)
    results = doc["results"]
    check("throughput: 2 models x 2 batches per device", len(results) == 4 * len(devices))
    check("throughput: every result ok with img/s > 0", all(
        r["ok"] and r["train"]["img_per_s"] > 0 and r["infer"]["img_per_s"] > 0
        for r in results))
    lines = [l for l in stdout.splitlines() if l.startswith("| ") and " img/s |" in l
             and l.split("|")[1].strip() in {d["selector"] for d in devices}]
    check("throughput: a train and an infer line per result", len(lines) == 2 * len(results),
          "%d lines" % len(lines))
    for l in lines:
        c = [x.strip() for x in l.strip().strip("|").split("|")]
        r = next((r for r in results if r["device"] == c[0] and r["model"] == c[1]
                  and r["batch"] == int(c[3])), None)
        check("line %s %s %s %s matches the JSON" % (c[0], c[1], c[3], c[4]),
              r is not None and c[4] in ("train", "infer")
              and "%.1f img/s" % r[c[4]]["img_per_s"] == c[5], l)
    if torch_installed():
        check("throughput: PyTorch results in JSON", doc["peer"]["ran"] and
              len(doc["peer"]["results"]) == 4)
        check("throughput: ratio table printed", "| sharesnet / PyTorch |" in stdout)
    else:
        check("throughput: peer skipped with a clear line", "peer: skipped" in stdout)
    return path


def check_merge(path):
    with open(path) as f:
        doc = json.load(f)
    for d in doc["devices"]:
        d["name"] = "Other " + d["name"]
    doc["peer"] = {"ran": False, "note": "none"}
    other = os.path.join(WORK, "throughput_other.json")
    with open(other, "w") as f:
        json.dump(doc, f)
    merged_csv = os.path.join(WORK, "merged.csv")
    stdout = run("merge_throughput.py", [PY, MERGE, path, other, "--csv", merged_csv])
    table = md_table(stdout, "model")
    check("merge: 2 models x 2 batches x 2 modes", len(table) == 8, str(len(table)))
    ok_devices = [d for d in doc["devices"] if d["ok"]]
    ncols = 5 + 2 * len(ok_devices) + (1 if torch_installed() else 0)
    check("merge: one img/s column per device and file", all(len(r) == ncols for r in table))
    check("merge: both files' devices side by side", all(
        r[5] != "-" and r[5 + len(ok_devices) + (1 if torch_installed() else 0)] != "-"
        for r in table))
    with open(merged_csv) as f:
        rows = list(csv.reader(f))
    check("merge: CSV rows = table rows", len(rows) == len(table) + 1)


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    data = os.path.join(WORK, "idx")
    write_idx(data)
    check_tradeoff(data)
    path = check_throughput()
    if path:
        check_merge(path)
    out = run("bench peer without PyTorch", [SN, "bench", "peer", "--model", "resnet8", "--batch",
                                             "4", "--in-ch", "1", "--size", "8", "--quick",
                                             "--device", DEV, "--python",
                                             os.path.join(WORK, "no-such-python")])
    check("bench peer: skip line names PyTorch", "peer: skipped: PyTorch is missing" in out)
    check("bench peer: our figures still printed", " train | " in out and "img/s" in out)
    out = run("bench ops --quick", [SN, "bench", "ops", "--quick", "--reps", "1", "--warmup", "0",
                                    "--shapes", "resnet20", "--device", DEV])
    check("bench ops prints conv rows", "| r20." in out)
    for mode in ("train", "infer"):
        out = run("bench profile " + mode,
                  [SN, "bench", "profile", "--model", "resnet8", "--batch", "3", "--in-ch", "1",
                   "--size", "8", "--steps", "2", "--warmup", "1", "--mode", mode,
                   "--device", DEV])
        check("bench profile %s: wall and device time" % mode,
              "wall time per step" in out and "device time per step" in out)
        check("bench profile %s: convolution kernels listed" % mode, "| convolution |" in out)
        # in eval, batch norm runs inside the conv's store (folded into its epilogue)
        check("bench profile %s: batch norm kernels only when training" % mode,
              ("sn_bn_plane" in out) == (mode == "train"))
        check("bench profile %s: optimizer only when training" % mode,
              ("| optimizer |" in out) == (mode == "train"))
    run("bench profile without --model", [SN, "bench", "profile"], 2)
    run("bench profile bad --mode", [SN, "bench", "profile", "--model", "resnet8", "--mode",
                                     "both"], 2)
    run("bench --help", [SN, "bench", "--help"])
    check("bench --help lists the suites", all(s in last["out"] for s in
                                               ("tradeoff", "throughput", "peer", "ops",
                                                "profile")))
    run("unknown suite", [SN, "bench", "frobnicate"], 2)
    check("unknown suite named", "unknown suite 'frobnicate'" in last["err"])
    run("bad --batch", [SN, "bench", "throughput", "--batch", "0"], 2)
    run("tradeoff --seed refused", [SN, "bench", "tradeoff", "--seed", "3"], 2)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
