"""Search overhead per trial: everything a trial costs outside ``trainer.fit``, vs inside it.

Runs a small real search (synthetic data, Optuna + SQLite storage, pruning on) and times, per
trial, the wall time from the trial's start to its end (Optuna's timestamps) and the time spent
inside ``fit`` (the training loop, validation each epoch and the final test). The rest is the
search's overhead: sampling, the cost pre-screen, storage reads and writes, the dedup lookup, the
pruner's reference query each epoch, building the network, writing the run folder. Over-budget
trials never reach ``fit``: their whole time is overhead, shown apart.

    python benchmarks/search_overhead.py                 # 16 trials, 64x64, 3 epochs
    python benchmarks/search_overhead.py --trials 30 --epochs 6 --limit 400
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

import runner.runs as runs  # noqa: E402
from benchmarks.common import header  # noqa: E402
from studies.search.run import options_from, run_search  # noqa: E402
from studies.store import schema  # noqa: E402

FIT_SECONDS: dict[str, float] = {}


def timed_fit(real_fit):
    def fit(model, config, data, *, out_dir=None, **kw):
        t0 = time.perf_counter()
        try:
            return real_fit(model, config, data, out_dir=out_dir, **kw)
        finally:
            FIT_SECONDS[str(out_dir)] = time.perf_counter() - t0

    return fit


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--limit", type=int, default=192, help="training images")
    p.add_argument("--budget-params", default="0.4M")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)

    runs.fit = timed_fit(runs.fit)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        outcome = run_search(
            options_from(
                budget_params=args.budget_params,
                trials=args.trials,
                epochs=args.epochs,
                image_size=(args.image_size, args.image_size),
                limit=args.limit,
                device=args.device,
                out=tmp,
                progress=False,
                report=False,
            )
        )
        total = time.perf_counter() - t0
        study = optuna.load_study(study_name=outcome.study_name, storage=outcome.storage)
        trained, skipped = [], []
        trials = study.get_trials()
        span = (trials[-1].datetime_complete - trials[0].datetime_start).total_seconds()
        for t in trials:
            wall = (t.datetime_complete - t.datetime_start).total_seconds()
            fit_s = FIT_SECONDS.get(str(t.user_attrs.get(schema.RUN_DIR)))
            if fit_s is not None and t.user_attrs.get(schema.DUPLICATE_OF) is None:
                trained.append((wall, fit_s))
            else:
                skipped.append(wall)
    print(header("search overhead per trial", args.device))
    print(
        f"search: {args.trials} trials, {args.epochs} epochs, {args.image_size}x{args.image_size}, "
        f"{args.limit} synthetic training images, budget {args.budget_params} params, "
        f"wall {total:.1f} s (data, study and front included)"
    )
    if trained:
        over = [w - f for w, f in trained]
        fits = [f for _, f in trained]
        print(
            f"trained or pruned trials: {len(trained)}; per trial: inside fit "
            f"{statistics.mean(fits):.3f} s, outside fit {statistics.mean(over):.3f} s "
            f"(median {statistics.median(over):.3f} s); overhead / fit = "
            f"{sum(over) / sum(fits):.3f}"
        )
        print(
            f"whole loop (first trial start to last trial end, callbacks and sampling between "
            f"trials included): {(span - sum(fits)) / len(trials):.3f} s per trial outside fit"
        )
    if skipped:
        print(
            f"over-budget or re-used trials (never trained): {len(skipped)}; "
            f"{statistics.mean(skipped):.3f} s each (all overhead)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
