"""Replay search strategies against the lesionbench table: many seeds, no training.

Usage: python -m benchmarks.lesionbench.replay [--macro malunet-d6-w8]
       [--strategies random,tpe,nsga2,local,evolution] [--seeds 10] [--evaluations 100]
       [--budget-params 177943] [--budget-gflops 0.0104] [--population 16] [--table FILE]
       [--partial] [--prune none|dominance|sh] [--eta 3] [--out runs/lesionbench-replay]

Each (strategy, seed) is an in-memory Optuna study with the search's own sampler
(``studies.samplers.make_sampler``: the same code as a live search) over one macro of the table's
sub-space (layout, depth, width and up-sampling pinned; stem, block, N, attention order and
bridge sampled under the space's parameter names). A candidate is pre-screened exactly as in a
live search (``studies.search.trial.prescreen`` at the table's 64x64: over-budget candidates are
recorded with their constraints and cost nothing), and a feasible one is "trained" by looking it
up in the table: its validation Dice (per-image mean) is one of its measured seeds, drawn with
the replay seed; a candidate measured once gets that value plus Gaussian noise with the pooled
seed-to-seed sd of the table's multi-seed candidates (0 when there are none; the report says
which). Its training seconds are the table's. A genotype drawn again is a duplicate: told its
result, not counted, no seconds. The run stops after ``--evaluations`` trained candidates (or 50x
as many draws).

Reported per strategy over the seeds: hypervolume after the last evaluation and at a common
cumulative training time (the smallest total over all runs), mean, sd and 95 % t-interval, the
best validation Dice found, and Mann-Whitney U / Welch tests against random search (the
statistics of ``compare``). Because the told Dice carries drawn seed noise, each run's trained
networks are also scored by their table mean over the measured seeds (``hv_table``,
``best_table_dice``): what the strategy found rather than what it was told (a lucky draw
inflates the told best). Points are (-Dice, log10 params, log10 thop MACs); the reference is
(0, log10 of the params budget, log10 of the MAC budget, or of 1.1x the largest MACs in the
macro when there is no MAC budget). ``--prune sh|dominance`` runs the search's pruner
(``studies.search.pruning.prune_decision``, the live settings) on the table's per-epoch validation
curves: a candidate it stops is PRUNED, counts as trained, pays only the epochs it ran (its
seconds x epochs run / epochs) and is never on a front. ``--partial`` replays on a table still being built: a
candidate missing from it is told FAIL and not counted (the report says how many were missing).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.lesionbench.build import TABLE  # noqa: E402
from benchmarks.lesionbench.space import MACROS, MISSION_FACTORS, macro_choices  # noqa: E402

STRATEGIES = ("random", "tpe", "nsga2", "local", "evolution")
LOW = "64x64-e2"


@dataclass
class Entry:
    """One candidate of the table: its measured seeds' Dice and training seconds."""

    dice: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    curves: list[list[float]] = field(default_factory=list)  # validation Dice per epoch


@dataclass
class Table:
    entries: dict[str, Entry]
    noise_sd: float  # pooled seed-to-seed sd of the multi-seed candidates
    noise_n: int  # how many candidates it was pooled over


def read_table(path: Path, fidelity: str = LOW) -> Table:
    entries: dict[str, Entry] = {}
    with Path(path).open(newline="") as f:
        for r in csv.DictReader(f):
            if r["fidelity"] != fidelity or r["status"] != "completed":
                continue
            e = entries.setdefault(r["genotype_id"], Entry())
            e.dice.append(float(r["val_dice_per_image_mean"]))
            e.seconds.append(float(r["train_seconds"]))
            e.curves.append([float(v) for v in json.loads(r["val_dice_curve"] or "[]")])
    multi = [e.dice for e in entries.values() if len(e.dice) > 1]
    pooled = [statistics.variance(d) for d in multi]
    sd = math.sqrt(sum(pooled) / len(pooled)) if pooled else 0.0
    return Table(entries, sd, len(multi))


def sample_macro(trial, macro: str) -> dict:
    """The space's factors in ``FACTORS`` order, the macro's pinned (one-value distributions,
    which Optuna fixes without asking the sampler), the mission factors sampled."""
    from searchspace.space import FACTORS

    fixed = MACROS[macro]
    choices: dict = {}
    for f in FACTORS:
        if not f.applies(choices):
            continue
        values = [fixed[f.name]] if f.name in fixed else list(f.values(choices))
        choices[f.name] = trial.suggest_categorical(f.param(choices), values)
    return choices


@dataclass
class Run:
    strategy: str
    seed: int
    evaluations: int = 0
    draws: int = 0
    missing: int = 0
    pruned: int = 0
    seconds: list[float] = field(default_factory=list)  # cumulative, per evaluation
    hv: list[float] = field(default_factory=list)  # per evaluation
    best_dice: float = 0.0
    # the same trained networks scored by their table mean over the measured seeds (no drawn
    # noise): what the strategy found, not what it was told
    hv_mean: float = 0.0
    best_mean_dice: float = 0.0


def make_spec(strategy: str, seed: int, a) -> object:
    from studies.search.run import make_spec as search_spec
    from studies.search.run import options_from

    return search_spec(
        options_from(
            budget_params=a.budget_params, budget_gflops=a.budget_gflops, sampler=strategy,
            population=a.population, seed=seed, image_size=(64, 64), epochs=2,
            objectives="accuracy,params,macs", prune=a.prune != "none",
            prune_rule="sh" if a.prune == "none" else a.prune, eta=a.eta,
        )
    )  # fmt: skip


def replay_one(strategy: str, seed: int, table: Table, a, reference) -> Run:
    import numpy as np
    import optuna

    from studies import objectives
    from studies.hypervolume import hypervolume, non_dominated
    from studies.samplers import make_sampler
    from studies.search.pruning import Reference, prune_decision
    from studies.store import schema

    spec = make_spec(strategy, seed, a)
    sampler = make_sampler(spec)
    if hasattr(sampler, "factors"):
        sampler.factors = MISSION_FACTORS  # the table varies these only
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(directions=list(spec.directions), sampler=sampler)
    rng = np.random.default_rng([seed, STRATEGIES.index(strategy) + 1])
    run, done, front, elapsed, refs = Run(strategy, seed), {}, [], 0.0, []
    found: dict[str, tuple[float, int, int]] = {}
    while run.evaluations < a.evaluations and run.draws < 50 * a.evaluations:
        run.draws += 1
        trial, g, screen = draw(study, spec, a.macro)
        if not screen.feasible:
            continue
        if g.id in done:  # a duplicate: its result again, nothing counted
            trial.set_user_attr(schema.DUPLICATE_OF, done[g.id][0])
            trial.set_user_attr(schema.VAL, {spec.metric: done[g.id][1]})
            study.tell(trial, done[g.id][2])
            continue
        entry = table.entries.get(g.id)
        if entry is None:
            if not a.partial:
                raise ValueError(
                    f"genotype {g.id} of macro {a.macro} is not in the table: the table is "
                    "incomplete (finish the build, or replay with --partial)"
                )
            run.missing += 1
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        k = int(rng.integers(len(entry.dice)))
        dice, curve = entry.dice[k], list(entry.curves[k])
        if len(entry.dice) == 1 and table.noise_sd > 0:
            shift = float(rng.normal(0.0, table.noise_sd))
            dice = float(np.clip(dice + shift, 0.0, 1.0))
            curve = [float(np.clip(v + shift, 0.0, 1.0)) for v in curve]
        costs = objectives.cost_vector(spec, screen.attrs)
        stopped = None  # the epoch a pruner stops it at, as the live epoch hook would
        if spec.pruning.enabled and costs is not None:
            for epoch in range(1, len(curve)):
                if prune_decision(
                    costs, curve[:epoch], epoch, len(curve), refs, spec.pruning
                ).prune:
                    stopped = epoch
                    break
        if stopped is not None:  # PRUNED: counts as trained, pays its epochs, never on a front
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if spec.pruning.rule == "sh":
                refs.append(Reference(trial.number, costs, tuple(curve[:stopped])))
            elapsed += entry.seconds[k] * stopped / len(curve)
            run.evaluations += 1
            run.pruned += 1
            run.seconds.append(elapsed)
            run.hv.append(run.hv[-1] if run.hv else 0.0)
            continue
        if costs is not None:
            refs.append(Reference(trial.number, costs, tuple(curve)))
        trial.set_user_attr(schema.VAL, {spec.metric: dice})
        values = objectives.values(spec, {**screen.attrs, schema.VAL: {spec.metric: dice}})
        study.tell(trial, values)
        done[g.id] = (trial.number, dice, values)
        found[g.id] = (statistics.fmean(entry.dice), screen.cost.params, screen.cost.macs_thop)
        elapsed += entry.seconds[k]
        run.evaluations += 1
        run.best_dice = max(run.best_dice, dice)
        point = (-dice, math.log10(screen.cost.params), math.log10(max(screen.cost.macs_thop, 1)))
        front.append(point)
        front = [front[i] for i in non_dominated(front)]
        run.seconds.append(elapsed)
        run.hv.append(hypervolume(front, reference))
    if found:
        points = [(-d, math.log10(p), math.log10(max(m, 1))) for d, p, m in found.values()]
        run.hv_mean = hypervolume([points[i] for i in non_dominated(points)], reference)
        run.best_mean_dice = max(d for d, _, _ in found.values())
    return run


def draw(study, spec, macro: str):
    """Ask the study for a candidate of the macro, pre-screen it as a live search does and tell
    an over-budget one at once; (trial, genotype, screen)."""
    from searchspace.space import make_genotype
    from studies.search.trial import infeasible_values, prescreen, record_screen

    trial = study.ask()
    g = make_genotype(sample_macro(trial, macro))
    screen = prescreen(spec, g)
    record_screen(trial, g, screen, spec)
    if not screen.feasible:
        study.tell(trial, infeasible_values(spec, screen))
    return trial, g, screen


def reference_point(a) -> tuple[float, float, float]:
    from searchspace.budget import parse_macs, parse_params
    from searchspace.cost import count_cost
    from searchspace.space import make_genotype

    params = math.log10(parse_params(a.budget_params))
    if a.budget_gflops:
        macs = math.log10(parse_macs(a.budget_gflops))
    else:
        largest = max(
            count_cost(make_genotype(c), (64, 64)).macs_thop for c in macro_choices(a.macro)
        )
        macs = math.log10(1.1 * largest)
    return (0.0, params, macs)


def hv_at(run: Run, seconds: float) -> float:
    out = 0.0
    for t, v in zip(run.seconds, run.hv, strict=True):
        if t <= seconds:
            out = v
    return out


def summarise(runs: list[Run]) -> tuple[list[dict], float]:
    from reports.compare import two_sample
    from studies.evidence.stats import mean_std, t_interval

    common = min((r.seconds[-1] for r in runs if r.seconds), default=0.0)
    by: dict[str, list[Run]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    base = by.get("random", [])
    rows = []
    for strategy, rs in by.items():
        final = [r.hv[-1] if r.hv else 0.0 for r in rs]
        timed = [hv_at(r, common) for r in rs]
        mean, lo, hi = t_interval(final)
        tmean, tlo, thi = t_interval(timed)
        row = {
            "strategy": strategy,
            "seeds": len(rs),
            "evaluations": min(r.evaluations for r in rs),
            "hv_final_mean": mean,
            "hv_final_sd": mean_std(final).std,
            "hv_final_ci_low": lo,
            "hv_final_ci_high": hi,
            f"hv_at_{common:.0f}s_mean": tmean,
            f"hv_at_{common:.0f}s_ci_low": tlo,
            f"hv_at_{common:.0f}s_ci_high": thi,
            "best_val_dice_mean": statistics.fmean(r.best_dice for r in rs),
            "hv_table_mean": statistics.fmean(r.hv_mean for r in rs),
            "hv_table_sd": mean_std([r.hv_mean for r in rs]).std,
            "best_table_dice_mean": statistics.fmean(r.best_mean_dice for r in rs),
            "draws_mean": statistics.fmean(r.draws for r in rs),
            "missing_mean": statistics.fmean(r.missing for r in rs),
            "pruned_mean": statistics.fmean(r.pruned for r in rs),
        }
        if strategy != "random" and base:
            test = two_sample(final, [r.hv[-1] if r.hv else 0.0 for r in base])
            row["vs_random_mannwhitney_p"] = test.get("mannwhitney_p", float("nan"))
            row["vs_random_welch_p"] = test.get("welch_p", float("nan"))
            table_test = two_sample([r.hv_mean for r in rs], [r.hv_mean for r in base])
            row["table_hv_vs_random_mannwhitney_p"] = table_test.get("mannwhitney_p", float("nan"))
        rows.append(row)
    return rows, common


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--macro", choices=tuple(MACROS), default="malunet-d6-w8")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evaluations", type=int, default=100)
    # the mission's budgets: MALUNet's params (177,943) and 2x its thop MACs at 64x64 (5.20 M)
    ap.add_argument("--budget-params", default="177943")
    ap.add_argument("--budget-gflops", default="0.0104", help="G thop MACs, or none")
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--partial", action="store_true")
    ap.add_argument(
        "--prune", choices=("none", "dominance", "sh"), default="none",
        help="simulate a pruner on the table's per-epoch curves (default none: train all)",
    )  # fmt: skip
    ap.add_argument("--eta", type=int, default=3, help="--prune sh: the halving factor")
    ap.add_argument("--out", default="runs/lesionbench-replay")
    a = ap.parse_args(argv)
    if str(a.budget_gflops).lower() == "none":
        a.budget_gflops = None  # no MAC budget
    strategies = [s.strip() for s in a.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        print(
            f"error: unknown strategies {unknown}; known: {', '.join(STRATEGIES)}", file=sys.stderr
        )
        return 2
    import optuna
    import pandas as pd
    from tqdm import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = read_table(Path(a.table))
    reference = reference_point(a)
    runs = []
    with tqdm(total=len(strategies) * a.seeds, unit="run", desc="replay") as bar:
        for strategy in strategies:
            for seed in range(a.seeds):
                try:
                    runs.append(replay_one(strategy, seed, table, a, reference))
                except ValueError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                bar.update(1)
    rows, common = summarise(runs)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "replay.csv", index=False)
    curves = [
        {"strategy": r.strategy, "seed": r.seed, "seconds": r.seconds, "hv": r.hv,
         "hv_table": r.hv_mean, "best_table_dice": r.best_mean_dice}
        for r in runs
    ]  # fmt: skip
    (out / "curves.json").write_text(json.dumps(curves))
    note = (
        f"lesionbench replay, macro {a.macro}, {a.seeds} seeds x {a.evaluations} evaluations, "
        f"budget {a.budget_params} params{f', {a.budget_gflops} GMACs' if a.budget_gflops else ''}; "
        f"pruning {a.prune}{f' (eta {a.eta})' if a.prune == 'sh' else ''}; "
        f"validation Dice per-image mean at 64x64 / 2 epochs; noise sd {table.noise_sd:.4f} pooled "
        f"over {table.noise_n} multi-seed candidates; common time {common:.0f} s of training; "
        f"table {a.table} ({len(table.entries)} candidates){' PARTIAL' if a.partial else ''}"
    )
    write_result(out / "replay.md", note, df)
    return 0


def write_result(path: Path, note: str, df) -> None:
    """A replay's note and table as Markdown, also printed."""
    table = df.to_markdown(index=False, floatfmt=".4g")
    path.write_text(note + "\n\n" + table + "\n")
    print(note)
    print(table)


if __name__ == "__main__":
    sys.exit(main())
