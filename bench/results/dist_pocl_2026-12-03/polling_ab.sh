#!/bin/bash
# A/B: 2 ranks x 1 core, resnet20 and sharesnet20, old (tight 20 us polling) vs new (backoff), alternating.
for round in 1 2 3 4; do
  for v in old new; do
    SN=/tmp/ab_old/b/src/cli/sharesnet; [ $v = new ] && SN=/work/main/build/src/cli/sharesnet
    for model in resnet20 sharesnet20; do
      rm -rf /tmp/ab_run
      POCL_MAX_PTHREAD_COUNT=1 mpirun --allow-run-as-root --oversubscribe -np 2 $SN train --model $model --data fashion-mnist --epochs 1 --limit-train 2560 --limit-test -1 --batch 64 --seed 1 --out /tmp/ab_run >/dev/null 2>&1
      python3 -c "import json,sys; r=json.loads(open('/tmp/ab_run/log.jsonl').read().splitlines()[-1]); print('$v', '$model', r['train_img_s'], round(r['comm_overlap'],2), round(1e3*r['comm_wait_seconds']/r['step'],1))"
    done
  done
done
