#!/bin/bash
# one run: baseline sweep and the CLI sweep, same dtype (float64), width 100, 4 seeds x 2000 steps
set -e
for rep in 1 2; do
python "${BASELINE:-$(dirname "$0")/seed_loop.py}" sweep --seeds 4 --steps 2000 --width 100 --x64
python -m dynloss train --loss dce --width 100 --lr 1 --A 10 --T 500 --steps 2000 --seeds 0-3 --out /tmp/cli_sweep.nc -q 2>&1 | grep "trained in"
python "${BASELINE:-$(dirname "$0")/seed_loop.py}" sweep --seeds 4 --steps 2000 --width 100
python -m dynloss train --loss dce --width 100 --lr 1 --A 10 --T 500 --steps 2000 --seeds 0-3 --dtype float32 --out /tmp/cli_sweep32.nc -q 2>&1 | grep "trained in"
done
