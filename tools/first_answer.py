#!/usr/bin/env python3
"""Time to a first answer: cold and warm `predict` of one image and the first
training step, for one or more sharesnet builds, runs interleaved build by
build (bench/RESULTS.md, "Time to a first answer").

usage: first_answer.py --checkpoint CK --image IMG [--rounds N] [--work DIR]
                       [--data fashion-mnist] SHARESNET...

"Cold" is an empty sharesnet cache (SN_CACHE_DIR: kernels and conv tuning)
and an empty POCL cache (POCL_CACHE_DIR: POCL's builds and compiled kernels);
"warm" runs the same command again on those caches. The first step is
`train --model sharesnet20 --limit-train 128 --batch 128` (one step, no
evaluation), timed from the start of the process to the progress line of
step 1, which is printed once the step is done. Each run line gives the 1-minute
load average before it; the summary gives medians per build.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import time


def load_average():
    with open('/proc/loadavg') as f:
        return float(f.read().split()[0])


def timed(cmd, env, until=None):
    """Seconds until a stderr line matches `until` (else until exit)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    first = None
    for line in p.stderr:
        if until and first is None and re.search(until, line):
            first = time.monotonic() - start
    p.wait()
    if p.returncode != 0:
        raise SystemExit('failed (exit %d): %s' % (p.returncode, ' '.join(cmd)))
    return first if until else time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--checkpoint', required=True)
    ap.add_argument('--image', required=True)
    ap.add_argument('--data', default='fashion-mnist')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--work', default='/tmp/sn_first_answer')
    ap.add_argument('sharesnet', nargs='+')
    a = ap.parse_args()
    cache, pocl, out = (os.path.join(a.work, d) for d in ('cache', 'pocl', 'run'))
    env = dict(os.environ, SN_CACHE_DIR=cache, POCL_CACHE_DIR=pocl)
    env.pop('SN_TUNE', None)
    tasks = {
        'predict': (['predict', '--checkpoint', a.checkpoint, a.image], None),
        'first step': (['train', '--model', 'sharesnet20', '--data', a.data, '--epochs', '1',
                        '--batch', '128', '--limit-train', '128', '--limit-test', '-1',
                        '--out', out], r'step 1/'),
    }
    times = {}
    for r in range(1, a.rounds + 1):
        for task, (args, until) in tasks.items():
            for sn in a.sharesnet:
                for state in ('cold', 'warm'):
                    if state == 'cold':
                        for d in (cache, pocl, out):
                            shutil.rmtree(d, ignore_errors=True)
                    load = load_average()
                    s = timed([sn] + args, env, until)
                    times.setdefault((sn, task, state), []).append(s)
                    print('round %d  %-10s %s  %-40s %6.2f s  (load %.2f)' %
                          (r, task, state, sn, s, load), flush=True)
    print('\nmedians over %d rounds:' % a.rounds)
    for (sn, task, state), v in times.items():
        print('  %-10s %s  %-40s %6.2f s  (%s)' %
              (task, state, sn, statistics.median(v), ', '.join('%.2f' % x for x in v)))


if __name__ == '__main__':
    main()
