"""``search.py fidelity``: does the cheap fidelity a search ranks candidates at predict a fuller one?

Input: one or more studies of the same space, budgets, data and fidelity (``--study A,B,C``; the
union of their trained candidates, one entry per genotype, its low-fidelity score the mean over
the studies that trained it). Selection (``--top K`` or ``--sample K``, K >= 3):

* ``--top K``: the union Pareto front's best K by validation score (then the best of the rest
  when the front is smaller); for studies that promoted (``--promote``) the front is the
  search's own (each pair judged at the fullest fidelity both have) and its promoted members
  come first, best fuller-fidelity mean first, so ``--top 1`` retrains the network the search
  handed over;
* ``--sample K``: a stratified sample of all the trained candidates: sorted by their
  low-fidelity score, split into K equal strata, one drawn per stratum (seeded), the best one
  always kept, so that the sample spans the range of scores;
* either way the published models (presets) the studies trained are added on top.

Each selected candidate is retrained at the second fidelity (``--image-size H W``, ``--epochs E``,
the study's recipe, ``--seeds S`` training seeds: the study's seed, +1, ...), on the study's own
data and split, reloaded at the new size; the best epoch is chosen on the validation split. Run
folders live under ``<out>/<first study>/fidelity/<HxW>-e<E>-<recipe>/`` and a finished one is
reused, so an interrupted ``fidelity`` resumes.

Reported: Spearman rho and Kendall tau (tau-b, scipy) between the two fidelities' validation
scores (the high one the mean over seeds), each with a 95 % percentile bootstrap CI over
candidates (2,000 resamples, seeded); the rank at low fidelity of the high-fidelity best, and
whether it is inside the low-fidelity top 3 and top 5.

Against a reference (``--reference NAME``, default scsonet when it was trained): every other
candidate's validation Dice and Jaccard (per-image means) as mean +- std over the seeds, and its
Delta Dice against the reference paired on (seed, image): the same validation image scored by the
two networks trained with the same seed, at the model's input size (``studies.evidence.stats``: Wilcoxon
signed-rank p, mean difference with a 95 % bootstrap CI over images).

Files, in ``<that folder>/<top|sample>K-seedsS[-vs-REFERENCE]/``: fidelity.csv (per candidate), fidelity.md and
fidelity.json (the statistics), paired.csv (against the reference).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from runner.runs import train_runs
from searchspace import Genotype
from studies.evidence.confirm import confirm_config
from studies.evidence.stats import mean_std
from studies.search.front import fuller_accuracy, pareto_front, trained_records
from studies.search.trial import load_study_data
from studies.search.workers import resolve_workers
from studies.store import schema
from studies.store.promoted import promoted
from studies.store.spec import check_comparable
from studies.store.storage import load_existing_study, load_spec, storage_url

BOOTSTRAP = 2000


@dataclass(frozen=True)
class Entry:
    name: str
    genotype: Genotype
    low: float  # mean low-fidelity validation score over the studies that trained it
    trials: tuple[str, ...]  # "study#number"
    on_front: bool
    preset: str | None
    params: int | None
    fuller: float | None = None  # the search's promotion: fuller-fidelity mean (None: none)


def rank_correlations(low: list[float], high: list[float], *, seed: int = 0) -> dict:
    """Spearman rho and Kendall tau-b with 95 % percentile bootstrap CIs over the pairs."""
    from scipy import stats

    if len(low) != len(high) or len(low) < 3:
        raise ValueError("rank correlations need at least 3 paired scores")
    rho = float(stats.spearmanr(low, high).statistic)
    tau = float(stats.kendalltau(low, high).statistic)
    rng = random.Random(seed)
    n = len(low)
    boot = {"spearman": [], "kendall": []}
    for _ in range(BOOTSTRAP):
        idx = [rng.randrange(n) for _ in range(n)]
        a, b = [low[i] for i in idx], [high[i] for i in idx]
        if len(set(a)) < 2 or len(set(b)) < 2:
            continue  # a constant resample has no rank correlation
        boot["spearman"].append(float(stats.spearmanr(a, b).statistic))
        boot["kendall"].append(float(stats.kendalltau(a, b).statistic))

    def ci(xs: list[float]) -> tuple[float, float]:
        xs = sorted(x for x in xs if math.isfinite(x))
        if not xs:
            return (float("nan"), float("nan"))
        return xs[int(0.025 * (len(xs) - 1))], xs[int(math.ceil(0.975 * (len(xs) - 1)))]

    order_low = sorted(range(n), key=lambda i: -low[i])
    best_high = max(range(n), key=lambda i: high[i])
    rank = order_low.index(best_high) + 1
    return {
        "n": n,
        "spearman": rho,
        "spearman_ci": ci(boot["spearman"]),
        "kendall": tau,
        "kendall_ci": ci(boot["kendall"]),
        "bootstrap_resamples": len(boot["spearman"]),
        "high_best_rank_at_low": rank,
        "high_best_in_low_top3": rank <= 3,
        "high_best_in_low_top5": rank <= 5,
    }


def union_entries(studies: list[str], storage: str | None, out_root: Path):
    loaded = []
    for name in studies:
        study = load_existing_study(name, storage_url(name, storage, out_root))
        loaded.append((name, study, study.user_attrs.get(schema.STUDY_SPEC) or {}))
    check_comparable([(name, spec) for name, _, spec in loaded])
    spec = load_spec(loaded[0][1])
    by_id: dict[str, dict] = {}
    for name, study, _ in loaded:
        for r in trained_records(study):
            e = by_id.setdefault(
                r.genotype_id, {"r": r, "scores": [], "trials": [], "preset": None}
            )
            e["scores"].append(float(r.val[spec.metric]))
            e["trials"].append(f"{name}#{r.number}")
            e["preset"] = e["preset"] or r.preset
    records = [e["r"] for e in by_id.values()]
    promos = {}
    for _, study, _ in loaded:  # a genotype promoted by two studies: the one with more seeds
        for gid, p in promoted(study).items():
            if gid not in promos or len(p.scores) > len(promos[gid].scores):
                promos[gid] = p
    fidelities = sorted({p.fidelity for p in promos.values()})
    if len(fidelities) > 1:  # means at two fidelities are not one measure
        raise ValueError(
            f"the studies promoted at different fidelities ({', '.join(fidelities)}): "
            "give studies of one promotion fidelity"
        )
    front = {r.genotype_id for r in pareto_front(spec, records, promos)}
    out = []
    for gid, e in by_id.items():
        r = e["r"]
        low = sum(e["scores"]) / len(e["scores"])
        name = e["preset"] or gid[:12]
        g = Genotype.from_dict(r.genotype)
        full = fuller_accuracy(r, promos)
        out.append(
            Entry(name, g, low, tuple(e["trials"]), gid in front, e["preset"], r.params, full)
        )
    return spec, out


def select(entries: list[Entry], top: int | None, sample: int | None, seed: int) -> list[Entry]:
    """``--top K``: the union front's best K by low-fidelity score (then the best of the rest
    if the front is smaller), its promoted members first by fuller-fidelity mean; ``--sample K``:
    a stratified sample of all trained candidates: sorted by low-fidelity score, cut into K equal
    strata, one drawn per stratum (seeded), the best candidate always kept, so the sample spans
    the range and holds the front's top. The presets the studies trained are added on top either
    way."""
    if (top is None) == (sample is None):
        raise ValueError("give exactly one of --top K and --sample K")
    k = top if top is not None else sample
    if k < 1:
        raise ValueError(f"--top/--sample must be >= 1, got {k}")
    pool = sorted((e for e in entries if e.preset is None), key=lambda e: -e.low)
    if top is not None:
        front = sorted(  # promoted members first, by their fuller-fidelity mean (stable)
            (e for e in pool if e.on_front),
            key=lambda e: (e.fuller is None, -(e.fuller or 0.0)),
        )
        chosen = (front + [e for e in pool if not e.on_front])[:k]
    elif k >= len(pool):
        chosen = pool
    else:
        rng = random.Random(seed)
        bounds = [round(i * len(pool) / k) for i in range(k + 1)]
        chosen = [pool[0]] + [
            pool[rng.randrange(a, b)] for a, b in zip(bounds[1:], bounds[2:], strict=False)
        ]
    chosen += [e for e in entries if e.preset is not None]
    if len(chosen) < 3:
        raise ValueError(f"only {len(chosen)} candidates selected: rank correlations need >= 3")
    return chosen


def run_fidelity(
    studies: list[str],
    *,
    storage: str | None = None,
    top: int | None = None,
    sample: int | None = None,
    image_size: tuple[int, int],
    epochs: int,
    seeds: int = 1,
    recipe_name: str | None = None,
    device: str = "auto",
    out_root: str | Path = "runs",
    workers: str | int = "auto",
    progress: bool = True,
    reference: str | None = "scsonet",
    limit: int | None = None,
) -> dict:
    import pandas as pd
    from tqdm import tqdm

    if epochs < 1 or seeds < 1:
        raise ValueError(f"--epochs and --seeds must be >= 1, got {epochs} and {seeds}")
    out_root = Path(out_root)
    spec, entries = union_entries(studies, storage, out_root)
    chosen = select(entries, top, sample, spec.seed)
    n_workers, threads = resolve_workers(workers, device)
    size = tuple(int(v) for v in image_size)
    tag = f"{size[0]}x{size[1]}-e{epochs}-{recipe_name or spec.recipe}"
    if limit is not None:
        tag += f"-limit{limit}"  # runs on fewer images never mix with full ones
    folder = out_root / studies[0] / "fidelity" / tag
    runs = []
    hi_spec = spec.__class__(**{**spec.__dict__, "image_size": size})
    for e in chosen:
        for s in range(seeds):
            config = confirm_config(hi_spec, recipe_name, epochs, spec.seed + s)
            runs.append((e.genotype, config, folder / e.name / f"seed{spec.seed + s}"))
    loader = partial(load_study_data, spec, image_size=size, limit=limit)
    bar = tqdm(total=len(runs), unit="run", desc="fidelity", disable=not progress)
    results = train_runs(
        runs,
        loader() if n_workers == 1 else loader,
        workers=n_workers,
        threads=threads,
        device=device,
        on_done=lambda i, m: bar.update(1),
    )
    bar.close()
    rows = []
    for k, e in enumerate(chosen):
        mine = results[k * seeds : (k + 1) * seeds]
        mean, std, n = mean_std([((m or {}).get("val") or {}).get(spec.metric) for m in mine])
        rows.append(
            {
                "name": e.name,
                "genotype_id": e.genotype.id,
                "preset": e.preset or "",
                "on_front": e.on_front,
                "params": e.params,
                "trials": " ".join(e.trials),
                f"low_val_{spec.metric}": e.low,
                f"high_val_{spec.metric}_mean": mean,
                f"high_val_{spec.metric}_std": std,
                "high_seeds": n,
            }
        )
    table = pd.DataFrame(rows)
    ok = table[table["high_seeds"] > 0]
    stats = rank_correlations(
        list(ok[f"low_val_{spec.metric}"]), list(ok[f"high_val_{spec.metric}_mean"]), seed=spec.seed
    )
    stats.update(
        studies=studies,
        low={"image_size": list(spec.image_size), "epochs": spec.epochs, "recipe": spec.recipe},
        high={
            "image_size": list(size),
            "epochs": epochs,
            "recipe": recipe_name or spec.recipe,
            "seeds": seeds,
        },  # fmt: skip
        metric=f"val {spec.metric} ({len(ok)} candidates, validation split)",
        failed=[r["name"] for r in rows if r["high_seeds"] == 0],
    )
    paired = None
    ref = next((e for e in chosen if reference in (e.name, e.preset)), None) if reference else None
    # top2-seeds3-vs-scsonet, sample10-seeds1: one folder per selection and reference
    name = f"top{top}" if top is not None else f"sample{sample}"
    report = folder / f"{name}-seeds{seeds}{f'-vs-{ref.name}' if ref is not None else ''}"
    report.mkdir(parents=True, exist_ok=True)
    if ref is not None:
        paired = paired_table(chosen, results, runs, seeds, ref, loader, device)
        paired.to_csv(report / "paired.csv", index=False)
        stats["reference"] = ref.name
    table.to_csv(report / "fidelity.csv", index=False)
    (report / "fidelity.json").write_text(json.dumps(stats, indent=2))
    (report / "fidelity.md").write_text(markdown(stats, table, spec.metric, paired))
    stats["folder"] = str(report)
    stats["paired"] = paired
    return stats


def paired_table(chosen, results, runs, seeds: int, ref: Entry, loader, device: str):
    """Dice and Jaccard (validation, per-image mean) mean +- std over seeds per candidate, and
    Delta Dice against ``ref`` paired on (seed, image) (see the module docstring)."""
    import numpy as np
    import pandas as pd

    from runner.runs import per_image_scores
    from studies.evidence.stats import paired_comparison

    val = loader().split("val")
    scores: dict[str, np.ndarray | None] = {}
    for k, e in enumerate(chosen):
        mine = list(range(k * seeds, (k + 1) * seeds))
        if any(results[i] is None for i in mine):
            scores[e.name] = None  # a seed failed: no complete pairing
            continue
        per_seed = [per_image_scores(runs[i][2], val, device=device) for i in mine]
        scores[e.name] = np.stack([np.stack([p["dice"], p["jaccard"]]) for p in per_seed])
    rows = []
    base = scores.get(ref.name)
    for e in chosen:
        s = scores[e.name]
        row = {"name": e.name, "preset": e.preset or "", "params": e.params, "seeds": seeds}
        if s is None:
            rows.append({**row, "note": "a seed failed"})
            continue
        dice_means, jac_means = s[:, 0].mean(axis=1), s[:, 1].mean(axis=1)
        row.update(
            dice_mean=float(dice_means.mean()),
            dice_std=float(dice_means.std(ddof=1)) if seeds > 1 else 0.0,
            jaccard_mean=float(jac_means.mean()),
            jaccard_std=float(jac_means.std(ddof=1)) if seeds > 1 else 0.0,
        )
        if e.name != ref.name and base is not None:
            c = paired_comparison(s[:, 0], base[:, 0], seed=0)
            row.update(
                delta_dice_vs_ref=c.mean_delta,
                delta_ci_low=c.ci_low,
                delta_ci_high=c.ci_high,
                wilcoxon_p=c.p_value,
                pairs=c.n_pairs,
                significant=c.significant,
            )
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(stats: dict, table, metric: str, paired=None) -> str:
    from studies.tables import to_markdown

    lo, hi = stats["low"], stats["high"]
    lines = [
        f"Fidelity check of {', '.join(stats['studies'])}: {stats['n']} candidates, validation "
        f"{metric}. Low: {lo['image_size'][0]}x{lo['image_size'][1]}, {lo['epochs']} epochs "
        f"(the search, 1 seed). High: {hi['image_size'][0]}x{hi['image_size'][1]}, "
        f"{hi['epochs']} epochs, mean of {hi['seeds']} seed(s).",
        "",
        "| statistic | value | 95 % bootstrap CI |",
        "|---|---|---|",
        f"| Spearman rho | {stats['spearman']:.3f} | [{stats['spearman_ci'][0]:.3f}, "
        f"{stats['spearman_ci'][1]:.3f}] |",
        f"| Kendall tau-b | {stats['kendall']:.3f} | [{stats['kendall_ci'][0]:.3f}, "
        f"{stats['kendall_ci'][1]:.3f}] |",
        f"| rank at low fidelity of the high-fidelity best | {stats['high_best_rank_at_low']} | |",
        f"| high-fidelity best in the low-fidelity top 3 / top 5 | "
        f"{'yes' if stats['high_best_in_low_top3'] else 'no'} / "
        f"{'yes' if stats['high_best_in_low_top5'] else 'no'} | |",
        "",
    ]
    text = "\n".join(lines) + to_markdown(table.round(4))
    if paired is not None:
        text += (
            f"\n\nAgainst {stats['reference']} (validation, {stats['high']['seeds']} seed(s), "
            "scored at the model's input size; Delta Dice paired on (seed, image), 95 % bootstrap "
            "CI over images, Wilcoxon signed-rank p):\n\n" + to_markdown(_shown(paired))
        )
    return text + "\n"


def _shown(paired):
    """The paired table for Markdown: 4 decimals, p in 2 significant digits, blanks not nan."""
    shown = paired.round(4).astype(object)
    if "wilcoxon_p" in paired:
        shown["wilcoxon_p"] = [f"{v:.2g}" if v == v else "" for v in paired["wilcoxon_p"]]
    return shown.where(paired.notna(), "")


def summary_text(stats: dict) -> str:
    """The ``fidelity`` verb's summary: the rank correlations with their CIs, where the
    high-fidelity best ranked, failures, and the paired deltas against the reference."""
    lo, hi = stats["spearman_ci"], stats["kendall_ci"]
    lines = [
        f"{stats['n']} candidates; {stats['metric']}: Spearman rho {stats['spearman']:.3f} "
        f"[{lo[0]:.3f}, {lo[1]:.3f}], Kendall tau {stats['kendall']:.3f} [{hi[0]:.3f}, "
        f"{hi[1]:.3f}] (95 % bootstrap CIs); the high-fidelity best is #"
        f"{stats['high_best_rank_at_low']} at low fidelity"
    ]
    if stats["failed"]:
        lines.append(f"failed at the high fidelity (left out): {', '.join(stats['failed'])}")
    paired = stats.get("paired")
    if paired is not None and "delta_dice_vs_ref" in paired:
        lines.append(f"against {stats['reference']} (validation Dice, paired per image and seed):")
        for r in paired.to_dict("records"):
            delta = r.get("delta_dice_vs_ref")
            if r["name"] != stats["reference"] and delta is not None and delta == delta:  # not NaN
                lines.append(
                    f"  {r['name']:<14} Dice {r['dice_mean']:.4f} +- {r['dice_std']:.4f}  "
                    f"delta {r['delta_dice_vs_ref']:+.4f} [{r['delta_ci_low']:+.4f}, "
                    f"{r['delta_ci_high']:+.4f}]  p {r['wilcoxon_p']:.3g}"
                )
    lines.append(f"tables: {stats['folder']}/fidelity.md")
    return "\n".join(lines) + "\n"
