#!/usr/bin/env bash
# The evidence experiment of docs/evidence.md, as run (resumable: re-running skips what is done).
# Run from the repository root:
#   bash docs/evidence/run.sh [restore|search|fidelity|published|compare|mission|mission-confirm|
#                              mission-compare|mission-compare-confirm|noise-live|noise-live-confirm|wide-live|
#                              wide-live-confirm|wide-ablate|rivals|rivals-confirm|rivals-wide|
#                              rivals-wide-confirm|rivals-e30|all]
# (restore: copy the stored studies of docs/evidence/studies/ to runs/<study>/study.db, kept if there)
# Sizes: ISIC 2017 sample (2,000 training images, the official 150 validation images), search at
# 64x64 for 2 epochs (recipe fast: AdamW, batch 16, BCE + Dice), 20 trained candidates per study
# (the 3 presets within 0.2 M params included), budget 0.2 M params, 3 search seeds per strategy;
# the second fidelity 96x96 for 6 epochs (3x the epochs, 2.25x the pixels). --workers auto (2 single-thread workers on 2 cores).
set -euo pipefail
DATA=../shared/data/isic2017
COMMON=(--budget-params 0.2M --data "$DATA" --image-size 64 64 --epochs 2 --trials 20
        --include-presets --no-report)
STUDIES_TPE=ev-tpe-s0,ev-tpe-s1,ev-tpe-s2
STUDIES_RANDOM=ev-random-s0,ev-random-s1,ev-random-s2
HIGH=(--image-size 96 96 --epochs 6)
phase=${1:-all}
if [[ $phase == restore ]]; then
  # the stored studies (docs/evidence/studies/*.db) into their default storage, runs/<study>/study.db
  for db in docs/evidence/studies/*.db; do
    name=$(basename "$db" .db)
    mkdir -p "runs/$name"
    if [[ -e "runs/$name/study.db" ]]; then
      echo "runs/$name/study.db exists: kept"
    else
      cp "$db" "runs/$name/study.db" && echo "restored runs/$name/study.db"
    fi
  done
  exit 0
fi
if [[ $phase == search || $phase == all ]]; then
  for seed in 0 1 2; do
    python search.py "${COMMON[@]}" --sampler tpe --population 6 --seed $seed --study ev-tpe-s$seed
    python search.py "${COMMON[@]}" --sampler random --seed $seed --study ev-random-s$seed
  done
fi
if [[ $phase == compare || $phase == all ]]; then
  python search.py compare --group tpe=$STUDIES_TPE --group random=$STUDIES_RANDOM \
      --out runs/evidence-compare
fi
if [[ $phase == fidelity || $phase == all ]]; then
  # the union front plus a stratified sample of dominated candidates, 10 in all, and the presets
  python search.py fidelity --study $STUDIES_TPE,$STUDIES_RANDOM --sample 10 "${HIGH[@]}" --seeds 1
fi
# The mission search of docs/evidence.md section 5 (issue 21): both budgets as the mission states
# them, MALUNet's parameters (177,943) and 2x its thop MACs at the search size (2 x 5.20 M at
# 64x64), the strategy that won the tabular replay (section 4: --sampler local), 100 trained
# candidates, the in-budget presets included; then the front's best 3 found networks and the
# presets retrained at 96x96 for 10 epochs with 3 seeds, paired against malunet.
MISSION_BASE=(--budget-params 177943 --budget-gflops 0.0104 --data "$DATA" --image-size 64 64
              --epochs 2 --include-presets --no-report)
MISSION=("${MISSION_BASE[@]}" --trials 100)
if [[ $phase == mission || $phase == all ]]; then
  python search.py "${MISSION[@]}" --sampler local --seed 0 --study ev-mission-local-s0
fi
# Live search vs random search at the mission's budgets (docs/evidence.md section 6): local search
# (seed 0 is the mission search above, read after its first 50 trained candidates) and random
# search, 3 seeds each, 50 trained candidates per study (the presets included), then compare at 50.
if [[ $phase == mission-compare || $phase == all ]]; then
  for seed in 0 1 2; do
    python search.py "${MISSION_BASE[@]}" --trials 50 --sampler random --seed $seed --study ev-mission-random-s$seed
    if [[ $seed != 0 ]]; then
      python search.py "${MISSION_BASE[@]}" --trials 50 --sampler local --seed $seed --study ev-mission-local-s$seed
    fi
  done
  python search.py compare --group local=ev-mission-local-s0,ev-mission-local-s1,ev-mission-local-s2 \
      --group random=ev-mission-random-s0,ev-mission-random-s1,ev-mission-random-s2 --at 50 \
      --out runs/evidence-mission-compare
fi
# ... and the union front's best found network of those six studies with the presets, retrained
# at 96x96 for 10 epochs with 3 seeds and paired against malunet, as mission-confirm does for §5
MISSION_ALL=ev-mission-random-s0,ev-mission-random-s1,ev-mission-random-s2
MISSION_ALL+=,ev-mission-local-s0,ev-mission-local-s1,ev-mission-local-s2
if [[ $phase == mission-compare-confirm || $phase == all ]]; then
  python search.py fidelity --study $MISSION_ALL --top 1 --image-size 96 96 --epochs 10 \
      --seeds 3 --reference malunet
fi
if [[ $phase == mission-confirm || $phase == all ]]; then
  python search.py fidelity --study ev-mission-local-s0 --top 3 --image-size 96 96 --epochs 10 \
      --seeds 3 --reference malunet
fi
if [[ $phase == published || $phase == all ]]; then
  # the two best found networks (validation, low fidelity) and the presets, 3 seeds each
  python search.py fidelity --study $STUDIES_TPE,$STUDIES_RANDOM --top 2 "${HIGH[@]}" --seeds 3
  # the same runs (nothing retrained) paired against malunet, the best published model
  python search.py fidelity --study $STUDIES_TPE,$STUDIES_RANDOM --top 2 "${HIGH[@]}" --seeds 3 \
      --reference malunet
fi
# The live noise-aware search of docs/evidence.md section 7 (issue 30): the mission's budgets and
# search fidelity, the whole space (wider than the table's macro: every layout, depth and base
# width), local search with successive halving, 100 trained candidates, and the best promote plan
# of the replay (promote:2:1, every 10, at 96x96 / 10 epochs) above the replay's floor 0.73; then
# the network it hands over and the in-budget presets retrained at 96x96 for 10 epochs with 3
# seeds, paired against malunet (fidelity --top 1 takes the handed-over network first).
if [[ $phase == noise-live ]]; then
  python search.py "${MISSION_BASE[@]}" --trials 100 --sampler local --prune-rule sh \
      --promote 2:1 --min-accuracy 0.73 --seed 0 --study ev-noise-live-s0
fi
if [[ $phase == noise-live-confirm ]]; then
  python search.py fidelity --study ev-noise-live-s0 --top 1 --image-size 96 96 --epochs 10 \
      --seeds 3 --reference malunet
fi
# The search again in the wide space (issue 30's last step: the table found nothing of the base
# space's region beating malunet, and pointed at width): the noise-live plan unchanged (local +
# SH, promote:2:1 at 96x96 / 10 epochs, floor 0.73, mission budgets, 100 trained candidates) on
# --space wide (width profiles, base width 20, four-stage malunet); then its handed-over network
# retrained at 96x96 for 10 epochs with 3 seeds, paired against malunet.
if [[ $phase == wide-live ]]; then
  python search.py "${MISSION_BASE[@]}" --trials 100 --sampler local --prune-rule sh \
      --promote 2:1 --min-accuracy 0.73 --space wide --seed 0 --study ev-wide-live-s0
fi
if [[ $phase == wide-live-confirm ]]; then
  python search.py fidelity --study ev-wide-live-s0 --top 1 --image-size 96 96 --epochs 10 \
      --seeds 3 --reference malunet
fi
# Which of its two differences from the section 5 winner is worth its cost: its width profile
# varied one at a time (paper, flat, wide_top), 3 seeds, 96x96 / 10 epochs, paired per image.
if [[ $phase == wide-ablate ]]; then
  python search.py ablate --base docs/evidence/wide-651cc08b5de0.json --factors width_profile \
      --seeds 3 --data "$DATA" --recipe fast --image-size 96 96 --epochs 10 \
      --study ablate-wide-651cc08b5de0-profile --no-latency
fi
# The seven published models against found rivals (issue 32): one search whose
# budgets admit all seven at 64x64 (params <= 0.9 M; MACs <= LMSAUnet's 104.0 M thop, the largest
# of the seven: U-Lite's 47.1 M would leave LMSAUnet out), the presets enqueued, local search with
# successive halving, 100 trained candidates; then the front and every published model a front
# member undercuts retrained at 96x96 for 10 epochs with 3 seeds (recipe fast) and paired per
# (seed, image) on the validation split. U-Lite and LMSAUnet are hours each on 2 CPU cores.
# The committed found networks of the base space (docs/evidence/found-*.json as they were when
# the study ran, named here so that the command stays the study's) are enqueued too, so that
# confirm can pair them with the published models they undercut.
RIVALS=(--budget-params 0.9M --budget-gflops 0.104 --data "$DATA" --image-size 64 64 --epochs 2
        --include-presets --sampler local --prune-rule sh --trials 100 --no-report)
for id in 2d26ca2191b0 8936cd3c5380 8e2820f86c21 a3f9c2077009 bab8df142c44 d015c0ad0680 \
          de8746f76dc3; do
  RIVALS+=(--include-genotype "docs/evidence/found-$id.json")
done
if [[ $phase == rivals ]]; then
  python search.py "${RIVALS[@]}" --seed 0 --study ev-rivals-local-s0
fi
# Each published model and its two best cheaper found networks (by search-fidelity score), the
# five smaller published models first (verdicts within an hour or two on 2 cores), then all
# seven (re-using the first command's runs; U-Lite and LMSAUnet are hours each).
RIVALS_CONFIRM=(--study ev-rivals-local-s0 --rivals 2 --seeds 3 --epochs 10 --image-size 96 96
                --recipe fast)
if [[ $phase == rivals-confirm ]]; then
  python search.py confirm "${RIVALS_CONFIRM[@]}" --published scsonet,malunet,egeunet,dsnet,ulrtsnet
  python search.py confirm "${RIVALS_CONFIRM[@]}" --published
fi
# The four ties of the rivals table (SCSONet, MALUNet, DSNET, ULRTS-Net) against the wide space
# (issue 32, after section 8 showed that width is what the base space's rivals lack): one search
# in --space wide whose budgets admit those four and EGE-UNet at 64x64 (params <= ULRTS-Net's
# 406,115; MACs <= its 21,131,792 thop), the presets, section 8's wide winner and the committed
# found networks within budget enqueued, local search, 100 trained candidates; then the
# published models and their best cheaper found networks retrained at 96x96 for 10 epochs with
# 3 seeds (recipe fast), paired per (seed, image) on the validation split: DSNET and ULRTS-Net
# with their two best (SCSONet's and MALUNet's best cheaper members here are section 9's rivals
# again, already paired with them there). No successive halving here: its one rung (epoch 1 of
# 2) pruned section 8's winner on its first epoch in a first try, and this search is there to
# pair the enqueued networks as much as to find new ones.
RIVALS_WIDE=(--budget-params 406115 --budget-gflops 21.131792M --data "$DATA" --image-size 64 64
             --epochs 2 --include-presets --sampler local --trials 100 --space wide --no-report)
for f in wide-651cc08b5de0 found-2d26ca2191b0 found-a3f9c2077009 found-de8746f76dc3 \
         found-8e2820f86c21 found-bab8df142c44 found-d015c0ad0680 rival-26fed41710e0 \
         rival-1958f22695a0 rival-10a5f9893565; do
  RIVALS_WIDE+=(--include-genotype "docs/evidence/$f.json")
done
if [[ $phase == rivals-wide ]]; then
  python search.py "${RIVALS_WIDE[@]}" --seed 0 --study ev-rivals-wide-s0
fi
if [[ $phase == rivals-wide-confirm ]]; then
  python search.py confirm --study ev-rivals-wide-s0 --rivals 2 --seeds 3 --epochs 10 \
      --image-size 96 96 --recipe fast --published dsnet,ulrtsnet
fi
# The one-factor check of training length (issue 32): DSNET, the published model that section 9
# found beaten at 10 epochs, against its rivals at 30 epochs, everything else as above, on copies
# of the two rivals studies (runs-e30/*.db; the 10-epoch runs and verdicts stay as they were):
# first its two best cheaper found networks of the first study, then section 8's wide winner,
# named (--rivals ID: the wide study's best search-fidelity score is another network). DSNET's
# 30-epoch runs of the first are copied into the second's folder: the same genotype, seeds and
# config, so confirm re-uses them (DSNET's 10-epoch runs were identical in the two studies).
if [[ $phase == rivals-e30 ]]; then
  mkdir -p runs-e30
  for study in ev-rivals-local-s0 ev-rivals-wide-s0; do
    [[ -e runs-e30/$study-e30.db ]] || cp "docs/evidence/studies/$study.db" "runs-e30/$study-e30.db"
  done
  E30=(--seeds 3 --epochs 30 --image-size 96 96 --recipe fast --out runs-e30 --published dsnet)
  python search.py confirm --study ev-rivals-local-s0 \
      --storage sqlite:///runs-e30/ev-rivals-local-s0-e30.db --rivals 2 "${E30[@]}"
  wide=runs-e30/ev-rivals-wide-s0/confirm-96x96
  if [[ ! -e $wide/0004-dsnet ]]; then
    mkdir -p "$wide"
    cp -r runs-e30/ev-rivals-local-s0/confirm-96x96/0006-dsnet "$wide/0004-dsnet"
  fi
  python search.py confirm --study ev-rivals-wide-s0 \
      --storage sqlite:///runs-e30/ev-rivals-wide-s0-e30.db --rivals 651cc08b5de0 "${E30[@]}"
fi
