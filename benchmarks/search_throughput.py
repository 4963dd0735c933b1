"""Trained candidates per hour of a real-data search: the previous defaults against the new ones.

Usage: python benchmarks/search_throughput.py [--data ../shared/data/isic2017]
       [--image-size 64 64] [--epochs 3] [--trials 8] [--budget-params 0.2M] [--seed 0]
       [--baseline FLAGS] [--baseline-env NAME=VALUE] [--new FLAGS] [--out DIR]
       python benchmarks/search_throughput.py --accuracy [--candidates 2] [--seeds 3]
       [--epochs 3] [--workers 2] [--out DIR]

Runs the same search twice, one after the other, as ``python search.py`` subprocesses on a fresh
study each: random sampler (it draws trial k's candidate from (seed, k) only, so both runs draw
and train the same genotypes), ``--no-prune`` (pruning decisions depend on timing, so the two
runs would not do the same work), ``--no-report``, the data's whole training split at the given
size and epochs. Baseline = the settings of the previous release (``BASELINE``: one worker
process with torch's default threads, channels_last off, torch's CPU optimiser loop, and
``LESION_NAS_MALLOC=off``: glibc's default allocator); new = the current defaults (``--workers
auto``, ``--channels-last auto``, ``--optimizer-impl auto``, the tuned allocator). Wall time is
the whole command (start-up, data, screening, training, storage), as a user sees it.

Printed per run: wall seconds, trained candidates, trained candidates per hour, training images
per second (sum over trained candidates of epochs x training images, over the wall time), the
1-minute load average before and after; then new / baseline ratios, and the validation Dice of
the candidates both runs trained, paired by genotype (not bitwise: channels_last and the thread
count change the order of floating-point sums).

``--accuracy``: the new defaults change floating-point summation order (channels_last, the fused
optimiser), so results are not bitwise the baseline's. This trains scsonet, malunet, egeunet and
``--candidates`` random candidates within the budget with ``--seeds`` seeds under the baseline's
training settings (``BASELINE_TRAIN``) and under the defaults (``--epochs`` of the fast recipe,
the whole training split, best epoch on the validation split, ``--workers`` runs at a time, 1
thread each) and prints validation Dice (per-image mean) paired by (network, seed), with a 95 %
t-interval of the differences beside the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from benchmarks.common import header  # noqa: E402
from studies.store import schema  # noqa: E402
from studies.store.trial_state import counts_as_trained  # noqa: E402

# The previous release's settings: one worker with torch's threads, channels_last off, torch's
# CPU default optimiser loop, glibc's default allocator.
BASELINE = "--workers 1 --channels-last off --optimizer-impl forloop"
BASELINE_ENV = "LESION_NAS_MALLOC=off"
# The same, as TrainConfig fields (the allocator changes no number, so it is left out there).
BASELINE_TRAIN = {"channels_last": "off", "optimizer_impl": "forloop"}


def parse_env(text: str) -> dict[str, str]:
    env = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--baseline-env: expected NAME=VALUE, got {item!r}")
        env[name] = value
    return env


def run_search(label: str, extra: list[str], a, out: Path, env: dict[str, str]) -> dict:
    study = f"throughput-{label}"
    cmd = [
        sys.executable, str(ROOT / "search.py"), "--data", a.data, "--image-size",
        *map(str, a.image_size), "--epochs", str(a.epochs), "--trials", str(a.trials),
        "--budget-params", a.budget_params, "--sampler", "random", "--seed", str(a.seed),
        "--no-prune", "--no-report", "--study", study, "--out", str(out), *extra,
    ]  # fmt: skip
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{label} search failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    url = f"sqlite:///{out / study / 'study.db'}"
    trials = optuna.load_study(study_name=study, storage=url).get_trials()
    trained = [t for t in trials if counts_as_trained(t)]
    n_train = None
    images = 0
    for t in trained:
        run = Path(t.user_attrs.get(schema.RUN_DIR, ""))
        metrics = run / "metrics.json"
        if metrics.is_file():
            import json

            m = json.loads(metrics.read_text())
            n_train = m["sizes"]["train"]
            images += m["epochs_run"] * n_train
    dice = {
        t.user_attrs[schema.GENOTYPE_ID]: (t.user_attrs.get(schema.VAL) or {}).get(
            "dice_per_image_mean"
        )
        for t in trained
    }
    runtime = next((t.user_attrs.get(schema.RUNTIME) for t in trained), None)
    return {
        "label": label,
        "command": " ".join([*(f"{k}={v}" for k, v in env.items()), "python"])
        + " "
        + " ".join(shlex.quote(c) for c in cmd[1:]),
        "wall": wall,
        "trained": len(trained),
        "drawn": len(trials),
        "per_hour": len(trained) * 3600.0 / wall,
        "images_per_s": images / wall,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "dice": dice,
        "runtime": runtime,
        "train_images": n_train,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../shared/data/isic2017")
    p.add_argument("--image-size", type=int, nargs=2, default=(64, 64))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--budget-params", default="0.2M")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--baseline", default=BASELINE, help=f"baseline flags (default {BASELINE!r})")
    p.add_argument(
        "--baseline-env",
        default=BASELINE_ENV,
        help=f"environment of the baseline run, NAME=VALUE[,...] (default {BASELINE_ENV!r})",
    )
    p.add_argument("--new", default="", help="flags of the new run (default: none, the defaults)")
    p.add_argument("--out", help="run folder (default: a temporary one, removed)")
    p.add_argument(
        "--accuracy",
        action="store_true",
        help="instead: the accuracy check of the new defaults' training settings against the "
        "baseline's (see the module docstring)",
    )
    p.add_argument("--candidates", type=int, default=2, help="--accuracy: random candidates")
    p.add_argument("--seeds", type=int, default=3, help="--accuracy: seeds per network")
    p.add_argument("--workers", type=int, default=2, help="--accuracy: runs at a time")
    a = p.parse_args(argv)
    if a.accuracy:
        from benchmarks.channels_last import accuracy

        return accuracy(
            a,
            pair=(("baseline", BASELINE_TRAIN), ("new", {})),
            title="Training settings: the previous defaults vs the new ones, accuracy",
        )
    print(header("Search throughput: trained candidates per hour, baseline vs new defaults"))
    print(
        f"data {a.data} at {a.image_size[0]}x{a.image_size[1]}, {a.epochs} epochs, "
        f"{a.trials} trained candidates, budget {a.budget_params} params, random sampler seed "
        f"{a.seed}, no pruning"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(a.out) if a.out else Path(tmp)
        rows = [
            run_search("baseline", shlex.split(a.baseline), a, out, parse_env(a.baseline_env)),
            run_search("new", shlex.split(a.new), a, out, {}),
        ]
    for r in rows:
        print(f"\n{r['label']}: {r['command']}")
        print(
            f"  wall {r['wall']:.1f} s, {r['trained']} trained of {r['drawn']} drawn, "
            f"{r['per_hour']:.1f} trained candidates/hour, {r['images_per_s']:.0f} training "
            f"images/s ({r['train_images']} images per epoch), load average {r['load_before']:.2f}"
            f" before, {r['load_after']:.2f} after"
        )
        print(f"  runtime of its trials: {r['runtime']}")
    base, new = rows
    print(
        f"\nnew / baseline: {new['per_hour'] / base['per_hour']:.2f}x trained candidates per "
        f"hour, {new['images_per_s'] / base['images_per_s']:.2f}x training images per second"
    )
    common = sorted(set(base["dice"]) & set(new["dice"]))
    pairs = [
        (base["dice"][g], new["dice"][g])
        for g in common
        if base["dice"][g] is not None and new["dice"][g] is not None
    ]
    if pairs:
        diffs = [n - b for b, n in pairs]
        sd = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
        print(
            f"same genotypes trained by both: {len(pairs)}; val dice_per_image_mean (150 official "
            f"validation images, 1 seed) new - baseline: mean {statistics.mean(diffs):+.4f}, "
            f"sd {sd:.4f}, max |diff| {max(abs(d) for d in diffs):.4f}"
        )


if __name__ == "__main__":
    main()
