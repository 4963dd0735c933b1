"""The noise-aware search: front members promoted to a fuller fidelity during the search.

At the search fidelity (64x64, 2 epochs in docs/evidence.md) a candidate's seed sd is about the
spread between candidates, so the best told score is often a lucky draw. With a promotion plan
(``StudySpec.promotion``, ``--promote K:S``), every ``every`` trained candidates the search stops
drawing and promotes: the K front members with the best search-fidelity accuracy that are not
promoted yet (at or above ``--min-accuracy``) are retrained at the fuller fidelity (e.g. 96x96,
10 epochs) with S seeds (the study's seed, seed + 1, ...). Their per-seed validation scores
and training seconds are stored in the study (``schema.PROMOTED``), their runs under
``OUT/STUDY/promote/FIDELITY/GENOTYPE/seedN`` (an interrupted round resumes from them).

Then every pair of candidates is judged at the fullest fidelity both have
(``objectives.pareto_indices_fullest``): the front, and so local search's moves, stop trusting a
lucky draw once its rival was measured properly. The network the search hands over is the
promoted front member with the best fuller-fidelity mean (before any promotion: the best
search-fidelity score). Promotions do not count in ``--trials``; their seconds count in
``--budget-hours`` with the trained candidates' (``spent_seconds``).

Whether it pays is replayed against the lesionbench table (``benchmarks/lesionbench/
noise_replay.py`` runs this module's ``pick`` and ``chosen``): on the table so far, at equal
compute, it did not reach its target (docs/evidence.md §7), so it is off by default.
"""

from __future__ import annotations

from pathlib import Path

from studies.search.front import (
    chosen,
    difference,
    front_indices,
    fuller_accuracy,
    search_accuracy,
    trained_records,
)
from studies.store import schema
from studies.store.promoted import Promotion, promoted
from studies.store.spec import PromotionPlan, StudySpec

# the stored form lives in studies.store.promoted, the front's rules in studies.search.front
__all__ = ["Promotion", "chosen", "difference", "front_indices", "fuller_accuracy", "promoted"]


def parse_promote(text: str) -> tuple[int, int]:
    """``--promote K:S`` -> (K, S)."""
    parts = str(text).split(":")
    try:
        k, s = (int(p) for p in parts)
    except ValueError:
        k = s = 0
    if len(parts) != 2 or k < 1 or s < 1:
        raise ValueError(f"--promote must be K:S with K, S >= 1 (e.g. 2:3), got {text!r}")
    return k, s


def parse_fidelity(text: str) -> tuple[tuple[int, int], int]:
    """``--promote-fidelity 96x96:10`` (or ``96:10``) -> ((96, 96), 10)."""
    try:
        size, epochs = str(text).split(":")
        hw = [int(v) for v in size.lower().split("x")]
        if len(hw) == 1:
            hw = hw * 2
        if len(hw) != 2 or min(hw) < 1 or int(epochs) < 1:
            raise ValueError
        return (hw[0], hw[1]), int(epochs)
    except ValueError:
        raise ValueError(
            f"--promote-fidelity must be HxW:EPOCHS (e.g. 96x96:10), got {text!r}"
        ) from None


def make_plan(promote: str | None, every: int | None, fidelity: str | None):
    """The ``PromotionPlan`` of the search flags (None without ``--promote``)."""
    if not promote:
        if every is not None or fidelity is not None:
            raise ValueError("--promote-every and --promote-fidelity need --promote K:S")
        return None
    k, s = parse_promote(promote)
    size, epochs = parse_fidelity(fidelity) if fidelity else ((96, 96), 10)
    return PromotionPlan(k=k, seeds=s, every=10 if every is None else every,
                         image_size=size, epochs=epochs)  # fmt: skip


def pick(spec: StudySpec, records, promos: dict[str, Promotion], k: int) -> list:
    """The front members a round promotes: the K with the best search-fidelity accuracy that are
    not promoted yet (below the accuracy floor: never, as they are never on the front)."""
    front = [records[i] for i in front_indices(spec, records, promos)]
    todo = [r for r in front if r.genotype_id and r.genotype_id not in promos and r.genotype]
    todo.sort(key=lambda r: (-search_accuracy(spec, r), r.number))
    return todo[:k]


def spent_seconds(study) -> tuple[float, float]:
    """(training seconds of the study's trained candidates, seconds of its promotions): what
    ``--budget-hours`` counts."""
    search = 0.0
    for t in study.get_trials(deepcopy=False):
        v = t.user_attrs.get(schema.TRAIN_SECONDS)
        if v is not None:
            search += float(v)
    promo = sum(float(s) for p in promoted(study).values() for s in p.seconds if s is not None)
    return search, promo


def run_round(study, spec: StudySpec, *, study_name: str, out_root: Path, device: str = "auto",
              workers: int = 1, threads: int | None = None, progress: bool = True,
              url: str | None = None) -> list[Promotion]:  # fmt: skip
    """One promotion round on the study as it stands (module docstring); the caller claims the
    round (``schema.PROMOTION_ROUNDS``, under the study lock). With the storage ``url`` the
    results are merged into the stored promotions under that lock (several commands on one
    storage). Returns the new promotions."""
    import contextlib
    from functools import partial

    from tqdm import tqdm

    from runner.runs import train_runs
    from searchspace.genotype import Genotype
    from studies.search.trial import load_study_data
    from trainer.config import recipe_with

    plan = spec.promotion
    if plan is None:
        return []
    promos = promoted(study)
    chosen_now = pick(spec, trained_records(study), promos, plan.k)
    runs, folder = [], Path(out_root) / study_name / "promote" / plan.fidelity
    for r in chosen_now:
        for s in range(plan.seeds):
            config = recipe_with(
                spec.recipe,
                image_size=plan.image_size,
                seed=spec.seed + s,
                select_metric=f"val_{spec.metric}",
                select_mode="max",
                epochs=plan.epochs,
            )
            runs.append((Genotype.from_dict(r.genotype), config,
                         folder / r.genotype_id / f"seed{spec.seed + s}"))  # fmt: skip
    new = []
    if runs:
        loader = partial(load_study_data, spec, image_size=plan.image_size)
        bar = tqdm(total=len(runs), unit="run", desc=f"promote {plan.fidelity}",
                   disable=not progress, dynamic_ncols=True)  # fmt: skip
        results = train_runs(runs, loader() if workers <= 1 else loader, workers=workers,
                             threads=threads, device=device,
                             on_done=lambda i, m: bar.update(1))  # fmt: skip
        bar.close()
        for i, r in enumerate(chosen_now):
            mine = results[i * plan.seeds : (i + 1) * plan.seeds]
            new.append(
                Promotion(
                    r.genotype_id,
                    r.number,
                    plan.fidelity,
                    [((m or {}).get("val") or {}).get(spec.metric) for m in mine],
                    [(m or {}).get("train_seconds") for m in mine],
                    [str(d) for _g, _c, d in runs[i * plan.seeds : (i + 1) * plan.seeds]],
                )
            )
        from studies.search.workers import StudyLock

        with StudyLock(url, study_name) if url else contextlib.nullcontext():
            stored = dict(study.user_attrs.get(schema.PROMOTED) or {})
            stored.update({p.genotype_id: p.to_dict() for p in new})
            study.set_user_attr(schema.PROMOTED, stored)
    return new


def rounds_done(study) -> set[int]:
    return {int(v) for v in study.user_attrs.get(schema.PROMOTION_ROUNDS) or []}


def describe(spec: StudySpec) -> str:
    p = spec.promotion
    if p is None:
        return "no promotion"
    return (
        f"promote the {p.k} best unpromoted front members every {p.every} trained candidates to "
        f"{p.image_size[0]}x{p.image_size[1]}, {p.epochs} epochs, {p.seeds} seed(s)"
    )
