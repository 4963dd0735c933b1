#!/usr/bin/env bash
# The replay results of docs/evidence.md section 4: every strategy, 10 seeds x 100 trained
# candidates, on the MALUNet macro of the lesionbench table (complete at 64x64 / 2 epochs, seed 0,
# with seeds 1 and 2 for 40 candidates: the noise), under the mission's budgets (MALUNet's
# 177,943 params and 2x its thop MACs at 64x64, 10.4 M), without pruning, with the dominance
# pruner and with multi-objective successive halving (eta 3 on the 2-epoch curves).
# Run from the repository root: bash benchmarks/lesionbench/run_replays.sh  (a few minutes each)
set -euo pipefail
OUT=benchmarks/lesionbench/results
for prune in none dominance sh; do
  python -m benchmarks.lesionbench.replay --macro malunet-d6-w8 --seeds 10 --evaluations 100 \
    --prune "$prune" --out "$OUT/malunet-$prune"
done
