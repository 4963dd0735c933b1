#!/usr/bin/env bash
# The noise replay of docs/evidence.md section 7: which way of spending compute on the front hands
# the user the best network? 10 seeds per plan, the live local sampler on the MALUNet macro of the
# lesionbench table at the mission's budgets (177,943 params, 10.4 M thop MACs at 64x64), accuracy
# floor 0.73 (malunet's 0.784 at the search fidelity minus 0.05): first today's search (100
# trained candidates, without and with successive halving), then every plan at equal compute, a
# training-seconds budget of twice today's 100-candidate search.
# Run from the repository root: bash benchmarks/lesionbench/run_noise_replays.sh  (about 30 min on
# 2 cores); the regrets are only as complete as the table's 96x96-e10 rows (see section 7).
set -euo pipefail
OUT=benchmarks/lesionbench/results
PY="python -m benchmarks.lesionbench.noise_replay --seeds 10 --min-accuracy 0.73"
$PY --plans single --evaluations 100 --out "$OUT/noise-single"
$PY --plans single --evaluations 100 --prune sh --out "$OUT/noise-single-sh"
BUDGET=$(python -c "import pandas as pd; print(2 * pd.read_csv('$OUT/noise-single/noise_replay.csv').seconds_mean[0])")
$PY --plans single,reeval:2:3,promote:1:1,promote:2:1,promote:1:2 --evaluations 1000 \
  --budget-seconds "$BUDGET" --every 10 --out "$OUT/noise-equal"
$PY --plans single,promote:1:1,promote:2:1 --evaluations 1000 --budget-seconds "$BUDGET" \
  --every 10 --prune sh --out "$OUT/noise-equal-sh"
