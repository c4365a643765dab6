#!/usr/bin/env bash
# Data-parallel training on one machine: 1 process using every core against
# N ranks of one core each (POCL threads pinned by POCL_MAX_PTHREAD_COUNT),
# same global batch, side by side in rounds; then the 2-rank run over bucket
# sizes. Prints Markdown tables of medians; the raw log.jsonl lines go to
# OUT/raw.jsonl.
#
#   bash bench/dist_bench.sh [OUT] [ROUNDS]     (default bench/results/dist, 3)
#   env: SN (the CLI, default build/src/cli/sharesnet), DATA (fashion-mnist),
#        LIMIT (training examples per run, 2560), MODELS (resnet20 sharesnet20),
#        BUCKETS (auto 64 256 1024 4096: KiB, auto = train's default)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-bench/results/dist}
ROUNDS=${2:-3}
SN=${SN:-$PWD/build/src/cli/sharesnet}
DATA=${DATA:-fashion-mnist}
LIMIT=${LIMIT:-2560}
MODELS=${MODELS:-resnet20 sharesnet20}
BUCKETS=${BUCKETS:-auto 64 256 1024 4096}
CORES=$(nproc)
mkdir -p "$OUT"
RAW=$OUT/raw.jsonl
: >"$RAW"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPI=(mpirun --allow-run-as-root --oversubscribe)
COMMON=(--data "$DATA" --epochs 1 --limit-train "$LIMIT" --limit-test -1 --batch 64 --seed 1)

# run CONFIG MODEL [BUCKET]: one epoch; appends its log line, tagged, to RAW.
run() {
    local config=$1 model=$2 bucket=${3:-auto} dir=$TMP/run
    rm -rf "$dir"
    case $config in
    one-all) POCL_MAX_PTHREAD_COUNT=$CORES "$SN" train --model "$model" "${COMMON[@]}" \
                 --accum "$CORES" --out "$dir" >/dev/null 2>&1 ;;
    one-1core) POCL_MAX_PTHREAD_COUNT=1 "$SN" train --model "$model" "${COMMON[@]}" \
                 --accum "$CORES" --out "$dir" >/dev/null 2>&1 ;;
    ranks) local b=(); [ "$bucket" = auto ] || b=(--bucket-kib "$bucket")
           POCL_MAX_PTHREAD_COUNT=1 "${MPI[@]}" -np "$CORES" "$SN" train --model "$model" \
                 "${COMMON[@]}" "${b[@]}" --out "$dir" >/dev/null 2>&1 ;;
    esac
    python3 - "$dir/log.jsonl" "$config" "$bucket" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW" <<'EOF'
import json, sys
line = json.loads(open(sys.argv[1]).read().splitlines()[-1])
line.update(config=sys.argv[2], bucket=sys.argv[3], load=float(sys.argv[4]))
print(json.dumps(line))
EOF
}

echo "warming the kernel caches ..." >&2
for model in $MODELS; do run one-all "$model"; run ranks "$model"; run one-1core "$model"; done
: >"$RAW"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round of $ROUNDS ..." >&2
    for model in $MODELS; do
        for config in one-all ranks one-1core; do run "$config" "$model"; done
    done
    for bucket in $BUCKETS; do
        [ "$bucket" = auto ] || run ranks "$(echo "$MODELS" | cut -d' ' -f1)" "$bucket"
    done
done

python3 - "$RAW" "$CORES" "$ROUNDS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cores, rounds = int(sys.argv[2]), int(sys.argv[3])
med = lambda xs: statistics.median(xs) if xs else float("nan")
names = {"one-all": f"1 process x {cores} cores, --accum {cores}",
         "ranks": f"{cores} ranks x 1 core",
         "one-1core": f"1 process x 1 core, --accum {cores}"}
loads = [r["load"] for r in rows]
print(f"Medians of {rounds} rounds; 1-minute load average at the runs' ends "
      f"{min(loads):.2f}-{max(loads):.2f}.\n")
print("| model | run | img/s | all-reduced per step | all-reduce alone "
      "| reduction behind backward | step waited for the sums |")
print("|---|---|---:|---:|---:|---:|---:|")
models = list(dict.fromkeys(r["model"] for r in rows))
for model in models:
    for config, name in names.items():
        rs = [r for r in rows if r["model"] == model and r["config"] == config and
              r["bucket"] == "auto"]
        if not rs:
            continue
        cells = "- | - | - | -"
        if config == "ranks":
            cells = (f"{rs[0]['allreduce_bytes'] / 2**20:.2f} MiB | "
                     f"{1e3 * med([r['allreduce_alone_s'] for r in rs]):.2f} ms | "
                     f"{100 * med([r['comm_overlap'] for r in rs]):.0f}% | "
                     f"{1e3 * med([r['comm_wait_seconds'] / r['step'] for r in rs]):.1f} ms")
        print(f"| {model} | {name} | {med([r['train_img_s'] for r in rs]):.0f} | {cells} |")
kibs = sorted({r["bucket"] for r in rows if r["config"] == "ranks"},
              key=lambda k: -1 if k == "auto" else int(k))
if len(kibs) > 1:
    print("\n| model | bucket | buckets per step | img/s | reduction behind backward "
          "| step waited for the sums |")
    print("|---|---:|---:|---:|---:|---:|")
    for kib in kibs:
        rs = [r for r in rows if r["model"] == models[0] and r["config"] == "ranks" and
              r["bucket"] == kib]
        buckets = rs[0]["buckets"]
        print(f"| {models[0]} | {kib if kib == 'auto' else kib + ' KiB'} | {buckets} | "
              f"{med([r['train_img_s'] for r in rs]):.0f} | "
              f"{100 * med([r['comm_overlap'] for r in rs]):.0f}% | "
              f"{1e3 * med([r['comm_wait_seconds'] / r['step'] for r in rs]):.1f} ms |")
EOF
