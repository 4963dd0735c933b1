"""Replay noise-aware search plans against the lesionbench table: which network would the search
hand the user, and how far is it from the best network at the fuller fidelity?

Usage: python -m benchmarks.lesionbench.noise_replay [--plans single,reeval:2:3,promote:2:3]
       [--every 10] [--seeds 10] [--evaluations 100] [--budget-seconds S] [--min-accuracy F]
       [--prune none|sh] [--macro malunet-d6-w8] [--table FILE] [--out DIR]

Every plan runs the live search's sampler (``--sampler local``, ``studies.samplers``) over one
macro of the table at the search fidelity (64x64, 2 epochs: a trained candidate is told one of its
measured seeds, or its seed-0 value plus Gaussian noise with the table's pooled seed sd, exactly
as ``replay.py`` does), and differs only in how it spends extra training on its front:

- ``single``: nothing (today's search): it hands over the front member with the best told Dice;
- ``reeval:K:S``: every ``--every`` trained candidates, the K front members with the best mean
  (at or above ``--min-accuracy``) that have fewer than S search-fidelity seeds get seeds up to S
  (each extra seed costs the candidate's training seconds); it hands over the best mean among
  the members measured S times;
- ``promote:K:S``: the live search's ``--promote K:S --promote-every EVERY`` (the same code,
  ``studies.search.promotion``): every ``--every`` trained candidates, the K best front members
  (at or above ``--min-accuracy``) not yet promoted are trained at the fuller fidelity (96x96,
  10 epochs, the table's ``full`` phase) with S seeds (each costs that fidelity's training
  seconds), stored in the study as a live round stores them, so that the front and local
  search's moves judge each pair at the fullest fidelity both have; it hands over the promoted
  front member with the best fuller-fidelity mean (``promotion.chosen``).

A plan stops at ``--evaluations`` trained candidates or, with ``--budget-seconds``, when its
cumulative training seconds (search trainings, re-evaluations and promotions together) reach
the budget: plans compare at equal compute. Reported per plan over the replay seeds: the
regret of the handed-over network (the best fuller-fidelity mean of the table's networks of the
macro within the budgets minus its fuller-fidelity mean; unknown when the table lacks it), how many seeds end
within 0.005 Dice of the best, the hypervolume of the final front scored at the fuller fidelity
(members the table lacks at that fidelity left out, counted), and the compute spent.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.lesionbench.build import TABLE  # noqa: E402
from benchmarks.lesionbench.replay import (  # noqa: E402
    LOW,
    Table,
    draw,
    make_spec,
    read_table,
    reference_point,
    write_result,
)
from benchmarks.lesionbench.space import MACROS, MISSION_FACTORS  # noqa: E402

FULL = "96x96-e10"
WITHIN = 0.005


@dataclass(frozen=True)
class Plan:
    kind: str  # single | reeval | promote
    k: int = 0
    seeds: int = 0

    @property
    def name(self) -> str:
        return self.kind if self.kind == "single" else f"{self.kind}:{self.k}:{self.seeds}"


def parse_plan(text: str) -> Plan:
    parts = text.strip().split(":")
    if parts[0] == "single" and len(parts) == 1:
        return Plan("single")
    if parts[0] in ("reeval", "promote") and len(parts) == 3:
        try:
            k, s = int(parts[1]), int(parts[2])
        except ValueError:
            k = s = 0
        if k >= 1 and s >= 1:
            return Plan(parts[0], k, s)
    raise ValueError(f"plan {text!r}: write single, reeval:K:S or promote:K:S (K, S >= 1)")


@dataclass
class Candidate:
    gid: str
    params: int
    macs: int
    low: list[float] = field(default_factory=list)  # search-fidelity values measured so far

    @property
    def low_mean(self) -> float:
        return statistics.fmean(self.low)


@dataclass
class Outcome:
    plan: str
    seed: int
    trained: int = 0
    seconds: float = 0.0
    extra_runs: int = 0  # re-evaluations or promotions (each seed one run)
    extra_seconds: float = 0.0
    chosen: str | None = None
    regret: float | None = None  # None: the table lacks the chosen one at the fuller fidelity
    hv_full: float = 0.0
    front_unknown: int = 0


def low_value(table: Table, gid: str, k: int, rng) -> tuple[float, float]:
    """The k-th search-fidelity measurement of a candidate and its training seconds."""
    import numpy as np

    entry = table.entries[gid]
    if k < len(entry.dice):
        return entry.dice[k], entry.seconds[k]
    base = entry.dice[0]
    noisy = float(np.clip(base + rng.normal(0.0, table.noise_sd), 0.0, 1.0))
    return noisy, entry.seconds[0]


def full_value(full: Table, gid: str, k: int, rng) -> tuple[float | None, float]:
    """The k-th fuller-fidelity measurement (measured seeds first, then the mean plus the pooled
    seed noise of that fidelity), and its seconds; None when the table lacks the candidate."""
    import numpy as np

    entry = full.entries.get(gid)
    if entry is None:
        mean_seconds = statistics.fmean(s for e in full.entries.values() for s in e.seconds)
        return None, mean_seconds
    if k < len(entry.dice):
        return entry.dice[k], entry.seconds[k]
    mean = statistics.fmean(entry.dice)
    return float(np.clip(mean + rng.normal(0.0, full.noise_sd), 0.0, 1.0)), entry.seconds[0]


def low_front(cands: list[Candidate]) -> list[Candidate]:
    """Non-dominated on (best low mean, fewest params, fewest MACs)."""
    from studies.hypervolume import non_dominated

    points = [(-c.low_mean, c.params, c.macs) for c in cands]
    return [cands[i] for i in non_dominated(points)] if points else []


def hand_over(plan: Plan, cands: list[Candidate], floor: float | None) -> Candidate | None:
    """The network a single or re-evaluation plan hands the user (module docstring; promote
    plans: ``promoted_hand_over``)."""
    ok = [c for c in cands if floor is None or c.low_mean >= floor] or cands
    if not ok:
        return None
    if plan.kind == "reeval":
        measured = [c for c in ok if len(c.low) >= plan.seeds]
        if measured:
            return max(measured, key=lambda c: c.low_mean)
    return max(low_front(ok), key=lambda c: c.low_mean)


def pick_for_extra(plan: Plan, front: list[Candidate], floor: float | None) -> list[Candidate]:
    """The front members a re-evaluation plan measures again now: the K best by their low mean,
    at or above the floor, that have fewer than S seeds (promote plans run the live rule,
    ``promote_round``)."""
    ok = [c for c in front if floor is None or c.low_mean >= floor]
    if plan.kind == "reeval":
        todo = [c for c in ok if len(c.low) < plan.seeds]
    else:
        return []
    return sorted(todo, key=lambda c: -c.low_mean)[: plan.k]


def extra_round(plan: Plan, study, spec, cands: dict, low: Table, full: Table, rng, out: Outcome,
                a, rounds: set[int], last: bool = False) -> None:  # fmt: skip
    """The plan's extra training, once per ``--every`` trained candidates (pruned ones count, as
    ``--trials`` counts them live), and once more as the search ends (``last``), as the live
    search's rounds run."""
    n = out.trained
    if plan.kind == "single" or n == 0 or n in rounds or (n % a.every and not last):
        return
    rounds.add(n)
    if plan.kind == "promote":
        promote_round(study, spec, full, rng, out)
        return
    for c in pick_for_extra(plan, low_front(list(cands.values())), a.min_accuracy):
        while len(c.low) < plan.seeds:
            v, s = low_value(low, c.gid, len(c.low), rng)
            c.low.append(v)
            out.extra_runs += 1
            out.extra_seconds += s


def promote_round(study, spec, full: Table, rng, out: Outcome) -> None:
    """One live promotion round (``studies.search.promotion.pick``) with the table's fuller
    fidelity values in place of training; stored as the live round stores it."""
    from studies.search.front import trained_records
    from studies.search.promotion import Promotion, pick, promoted
    from studies.store import schema

    plan = spec.promotion
    promos = promoted(study)
    stored = dict(study.user_attrs.get(schema.PROMOTED) or {})
    for r in pick(spec, trained_records(study), promos, plan.k):
        values, seconds = [], []
        for k in range(plan.seeds):
            v, sec = full_value(full, r.genotype_id, k, rng)
            values.append(v)  # None: the table lacks it (promoted, never on the measured front)
            seconds.append(sec)
            out.extra_runs += 1
            out.extra_seconds += sec
        stored[r.genotype_id] = Promotion(r.genotype_id, r.number, plan.fidelity, values,
                                          seconds).to_dict()  # fmt: skip
    study.set_user_attr(schema.PROMOTED, stored)


def promoted_hand_over(study, spec, cands: dict) -> Candidate | None:
    from studies.search.front import pareto_front, trained_records
    from studies.search.promotion import chosen, promoted

    promos = promoted(study)
    r = chosen(spec, pareto_front(spec, trained_records(study), promos), promos)
    return None if r is None else cands.get(r.genotype_id)


def reachable(table_path: Path, a) -> set[str]:
    """The genotype ids the replay can draw: the macro's candidates (the table's search-fidelity
    rows of ``--macro``) within the budgets."""
    import csv

    from searchspace.budget import parse_macs, parse_params

    params = parse_params(str(a.budget_params))
    macs = parse_macs(str(a.budget_gflops)) if a.budget_gflops else math.inf
    out = set()
    with Path(table_path).open(newline="") as f:
        for r in csv.DictReader(f):
            if r["macro"] == a.macro and r["fidelity"] == LOW and r["status"] == "completed":
                if float(r["params"]) <= params and float(r["macs_thop"]) <= macs:
                    out.add(r["genotype_id"])
    return out


def best_reachable(full: Table, a) -> float:
    """The best fuller-fidelity mean among the networks the replay can draw (``a.reachable``;
    networks of other macros, such as the depth-5 winners, are not its to find)."""
    means = [statistics.fmean(e.dice) for g, e in full.entries.items() if g in a.reachable]
    if not means:
        raise ValueError(f"the table has no {FULL} row of a {a.macro} network within the budgets")
    return max(means)


def replay_plan(plan: Plan, seed: int, low: Table, full: Table, a, reference) -> Outcome:
    import dataclasses

    import numpy as np
    import optuna

    from studies import objectives
    from studies.hypervolume import hypervolume, non_dominated
    from studies.samplers import make_sampler
    from studies.search.pruning import Reference, prune_decision
    from studies.store import schema

    spec = dataclasses.replace(make_spec("local", seed, a), min_accuracy=a.min_accuracy)
    if plan.kind == "promote":
        from studies.store.spec import PromotionPlan

        size, epochs = FULL.split("-e")
        h, w = (int(v) for v in size.split("x"))
        spec = dataclasses.replace(spec, promotion=PromotionPlan(plan.k, plan.seeds, a.every,
                                                                 (h, w), int(epochs)))  # fmt: skip
    sampler = make_sampler(spec)
    sampler.factors = MISSION_FACTORS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(directions=list(spec.directions), sampler=sampler)
    rng = np.random.default_rng([seed, 7])
    out, cands, done, refs, draws = Outcome(plan.name, seed), {}, {}, [], 0
    rounds: set[int] = set()  # trained counts at which a round ran (as the live search keeps)
    while out.trained < a.evaluations and draws < 50 * a.evaluations:
        if a.budget_seconds is not None and out.seconds + out.extra_seconds >= a.budget_seconds:
            break  # search trainings and extra training together, as --budget-hours counts
        extra_round(plan, study, spec, cands, low, full, rng, out, a, rounds)
        draws += 1
        trial, g, screen = draw(study, spec, a.macro)
        if not screen.feasible:
            continue
        if g.id in done:
            trial.set_user_attr(schema.DUPLICATE_OF, done[g.id][0])
            study.tell(trial, done[g.id][1])
            continue
        if g.id not in low.entries:
            raise ValueError(f"genotype {g.id} of macro {a.macro} is not in the table")
        entry = low.entries[g.id]
        k = int(rng.integers(len(entry.dice)))  # a measured seed, drawn (replay.py's model)
        value, seconds = entry.dice[k], entry.seconds[k]
        if len(entry.dice) == 1 and low.noise_sd > 0:
            value = float(np.clip(value + rng.normal(0.0, low.noise_sd), 0.0, 1.0))
        curve = [value]
        costs = objectives.cost_vector(spec, screen.attrs)
        out.trained += 1
        if a.prune == "sh" and costs is not None:
            curve = list(entry.curves[k]) or [value]
            shift = value - curve[-1]
            curve = [float(np.clip(v + shift, 0.0, 1.0)) for v in curve]
            stopped = next(
                (
                    e
                    for e in range(1, len(curve))
                    if prune_decision(costs, curve[:e], e, len(curve), refs, spec.pruning).prune
                ),
                None,
            )
            if stopped is not None:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                refs.append(Reference(trial.number, costs, tuple(curve[:stopped])))
                out.seconds += seconds * stopped / len(curve)
                continue
            refs.append(Reference(trial.number, costs, tuple(curve)))
        out.seconds += seconds
        trial.set_user_attr(schema.VAL, {spec.metric: value})
        values = objectives.values(spec, {**screen.attrs, schema.VAL: {spec.metric: value}})
        study.tell(trial, values)
        done[g.id] = (trial.number, values)
        cands[g.id] = Candidate(g.id, screen.cost.params, screen.cost.macs_thop, [value])
    if out.trained >= a.evaluations:  # the live search's last round, at --trials
        extra_round(plan, study, spec, cands, low, full, rng, out, a, rounds, last=True)
    if plan.kind == "promote":
        chosen = promoted_hand_over(study, spec, cands)
    else:
        chosen = hand_over(plan, list(cands.values()), a.min_accuracy)
    best = best_reachable(full, a)
    if chosen is not None:
        out.chosen = chosen.gid
        entry = full.entries.get(chosen.gid)
        out.regret = None if entry is None else best - statistics.fmean(entry.dice)
    if plan.kind == "promote":  # the front the live search would report
        from studies.search.front import pareto_front, trained_records
        from studies.search.promotion import promoted

        records = pareto_front(spec, trained_records(study), promoted(study))
        members = [cands[r.genotype_id] for r in records if r.genotype_id in cands]
    else:
        members = [
            c
            for c in low_front(list(cands.values()))
            if a.min_accuracy is None or c.low_mean >= a.min_accuracy
        ]
    points = []
    for c in members:
        entry = full.entries.get(c.gid)
        if entry is None:
            out.front_unknown += 1
            continue
        d = statistics.fmean(entry.dice)
        points.append((-d, math.log10(c.params), math.log10(max(c.macs, 1))))
    if points:
        out.hv_full = hypervolume([points[i] for i in non_dominated(points)], reference)
    out.seconds += out.extra_seconds
    return out


def summarise(outcomes: list[Outcome]) -> list[dict]:
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by.setdefault(o.plan, []).append(o)
    rows = []
    for plan, os_ in by.items():
        known = [o.regret for o in os_ if o.regret is not None]
        rows.append(
            {
                "plan": plan,
                "seeds": len(os_),
                "trained_mean": statistics.fmean(o.trained for o in os_),
                "extra_runs_mean": statistics.fmean(o.extra_runs for o in os_),
                "seconds_mean": statistics.fmean(o.seconds for o in os_),
                "extra_seconds_mean": statistics.fmean(o.extra_seconds for o in os_),
                "regret_mean": statistics.fmean(known) if known else float("nan"),
                "regret_max": max(known) if known else float("nan"),
                f"within_{WITHIN}": sum(r <= WITHIN for r in known),
                "regret_unknown": len(os_) - len(known),
                "hv_full_mean": statistics.fmean(o.hv_full for o in os_),
                "front_unknown_mean": statistics.fmean(o.front_unknown for o in os_),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plans", default="single,reeval:2:3,promote:2:3")
    ap.add_argument("--every", type=int, default=10, help="trained candidates between rounds")
    ap.add_argument("--macro", choices=tuple(MACROS), default="malunet-d6-w8")
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evaluations", type=int, default=100)
    ap.add_argument("--budget-seconds", type=float, default=None)
    ap.add_argument("--min-accuracy", type=float, default=None, help="search-fidelity Dice floor")
    ap.add_argument("--prune", choices=("none", "sh"), default="none")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--budget-params", default="177943")
    ap.add_argument("--budget-gflops", default="0.0104")
    ap.add_argument("--population", type=int, default=16)
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--out", default="runs/lesionbench-noise-replay")
    a = ap.parse_args(argv)
    if str(a.budget_gflops).lower() == "none":
        a.budget_gflops = None
    try:
        plans = [parse_plan(p) for p in a.plans.split(",") if p.strip()]
        if a.every < 1:
            raise ValueError(f"--every must be >= 1, got {a.every}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import optuna
    import pandas as pd
    from tqdm import tqdm

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    low, full = read_table(Path(a.table), LOW), read_table(Path(a.table), FULL)
    if not full.entries:
        print(
            f"error: the table {a.table} has no {FULL} rows (build --phase full)", file=sys.stderr
        )
        return 2
    reference = reference_point(a)
    a.reachable = reachable(Path(a.table), a)
    outcomes = []
    with tqdm(total=len(plans) * a.seeds, unit="run", desc="noise replay") as bar:
        for plan in plans:
            for seed in range(a.seeds):
                try:
                    outcomes.append(replay_plan(plan, seed, low, full, a, reference))
                except ValueError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                bar.update(1)
    rows = summarise(outcomes)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "noise_replay.csv", index=False)
    (out / "outcomes.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=1))
    note = (
        f"lesionbench noise replay, macro {a.macro}, sampler local, {a.seeds} seeds, at most "
        f"{a.evaluations} trained candidates"
        + (f" or {a.budget_seconds:.0f} s of training" if a.budget_seconds else "")
        + f", rounds every {a.every}, floor {a.min_accuracy}, pruning {a.prune}; search fidelity "
        f"{LOW} (noise sd {low.noise_sd:.4f}), fuller fidelity {FULL} ({len(full.entries)} "
        f"networks, noise sd {full.noise_sd:.4f} over {full.noise_n}); regret = the best {FULL} "
        f"mean among the macro's in-budget networks ({best_reachable(full, a):.4f}) minus the "
        "handed-over network's (validation Dice, per-image mean)"
    )
    write_result(out / "noise_replay.md", note, df)
    return 0


if __name__ == "__main__":
    sys.exit(main())
