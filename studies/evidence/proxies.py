"""``search.py proxies``: does a zero-cost proxy rank this study's candidates like training does?

Input: one or more studies of the same space, budgets, data and fidelity (``--study A,B,C``: the
union of their trained, within-budget, non-duplicate candidates, one entry per genotype, scored by
its mean validation ``--metric`` over the studies that trained it). Every candidate is scored by
each proxy (``trainer.proxies``) with ``--seeds`` initialisation seeds (mean over seeds) on one
batch of the study's own training data at the study's image size: the first ``--batch-size``
images of a seeded permutation of the training split, normalised as in training. Baselines:
``params`` and ``macs`` (the study's MAC counter), which cost nothing.

Reported per proxy (and baseline): Spearman rho and Kendall tau-b against the validation score
with 95 % bootstrap CIs (as ``fidelity``), the top-10 % hit rate (the share of the best 10 % by
validation score, at least one candidate, that are also in the best 10 % by the proxy), how many
candidates it could not score, and the median seconds per candidate (all seeds) on this machine.
Rows sorted by Kendall tau, baselines marked. Files: ``<out>/<first study>/proxies/proxies.csv``,
``.md``, ``.html``, ``.json``.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from functools import partial
from pathlib import Path

import torch

from searchspace import build_model
from searchspace.cost import count_cost
from studies.evidence.fidelity import rank_correlations, union_entries
from studies.search.trial import load_study_data, train_config
from trainer.evaluation import Normalizer
from trainer.proxies import PROXIES, ProxyError, score

BASELINES = ("params", "macs")


def proxy_batch(spec, data, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` images of a permutation of the training split seeded by the study's
    seed, as float normalised images and {0, 1} masks."""
    split = data.split("train")
    g = torch.Generator().manual_seed(int(spec.seed))
    idx = torch.randperm(len(split), generator=g)[: min(size, len(split))]
    config = train_config(spec)
    norm = Normalizer(config.mean, config.std, torch.device("cpu"))
    images = norm(Normalizer.to_unit(split.images[idx]))
    return images, (split.masks[idx] > 0).float()


def top_hit_rate(truth: list[float], guess: list[float], share: float = 0.1) -> float:
    k = max(1, round(share * len(truth)))
    best = set(sorted(range(len(truth)), key=lambda i: -truth[i])[:k])
    picked = set(sorted(range(len(guess)), key=lambda i: -guess[i])[:k])
    return len(best & picked) / k


def run_proxies(
    studies: list[str],
    *,
    storage: str | None = None,
    proxies: list[str] | None = None,
    seeds: int = 1,
    batch_size: int = 16,
    out_root: str | Path = "runs",
    progress: bool = True,
) -> dict:
    import pandas as pd
    from tqdm import tqdm

    proxies = list(proxies or PROXIES)
    unknown = [p for p in proxies if p not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxy {unknown[0]!r}; choose among {', '.join(PROXIES)}")
    if seeds < 1 or batch_size < 2:
        raise ValueError(f"--seeds must be >= 1 and --batch-size >= 2, got {seeds}, {batch_size}")
    out_root = Path(out_root)
    spec, entries = union_entries(studies, storage, out_root)
    if len(entries) < 3:
        raise ValueError(
            f"only {len(entries)} trained candidates in {', '.join(studies)}: need >= 3"
        )
    data = load_study_data(spec, progress=progress)
    images, masks = proxy_batch(spec, data, batch_size)
    size = tuple(spec.image_size)
    scores: dict[str, list[float]] = {p: [] for p in proxies}
    failures: dict[str, list[str]] = {p: [] for p in proxies}
    seconds: dict[str, list[float]] = {p: [] for p in proxies}
    bar = tqdm(entries, unit="candidate", desc="proxies", disable=not progress)
    for e in bar:
        build = partial(build_model, e.genotype)
        for p in proxies:
            t0 = time.perf_counter()
            try:
                vals = [score(p, build, images, masks, seed=spec.seed + s, threads=1)
                        for s in range(seeds)]  # fmt: skip
                scores[p].append(statistics.mean(vals))
            except ProxyError as err:
                scores[p].append(float("nan"))
                failures[p].append(f"{e.name}: {err}")
            seconds[p].append(time.perf_counter() - t0)
    bar.close()
    accuracy = [e.low for e in entries]
    cost = [count_cost(e.genotype, size) for e in entries]
    columns = {**scores, "params": [float(c.params) for c in cost],
               "macs": [float(c.macs(spec.cost_counter)) for c in cost]}  # fmt: skip
    rows = []
    for name, values in columns.items():
        ok = [i for i, v in enumerate(values) if math.isfinite(v)]
        row = {"proxy": name, "kind": "baseline" if name in BASELINES else "proxy",
               "scored": len(ok), "failed": len(values) - len(ok)}  # fmt: skip
        if len(ok) >= 3:
            a, v = [accuracy[i] for i in ok], [values[i] for i in ok]
            st = rank_correlations(a, v, seed=spec.seed)
            row.update(
                spearman=st["spearman"], spearman_lo=st["spearman_ci"][0],
                spearman_hi=st["spearman_ci"][1], kendall=st["kendall"],
                kendall_lo=st["kendall_ci"][0], kendall_hi=st["kendall_ci"][1],
                top10_hit_rate=top_hit_rate(a, v),
            )  # fmt: skip
        row["seconds_per_candidate"] = (
            statistics.median(seconds[name]) if name in seconds and seconds[name] else 0.0
        )
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("kendall", ascending=False, na_position="last")
    folder = out_root / studies[0] / "proxies"
    folder.mkdir(parents=True, exist_ok=True)
    per = pd.DataFrame({"name": [e.name for e in entries], "genotype_id": [e.genotype.id for e in entries],
                        f"val_{spec.metric}": accuracy, **columns})  # fmt: skip
    per.to_csv(folder / "candidates.csv", index=False)
    table.to_csv(folder / "proxies.csv", index=False)
    info = {
        "studies": studies,
        "candidates": len(entries),
        "metric": f"val {spec.metric} (validation split, the search's fidelity, 1 training seed)",
        "batch": f"{len(images)} training images at {size[0]}x{size[1]}",
        "seeds": seeds,
        "failures": failures,
    }
    (folder / "proxies.json").write_text(json.dumps({**info, "rows": rows}, indent=2, default=str))
    md = markdown(table, info)
    (folder / "proxies.md").write_text(md)
    from html import escape

    (folder / "proxies.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>lesion-nas proxies</title>"
        f"<h1>Zero-cost proxies</h1><p>{escape(json.dumps(info['studies']))}: "
        f"{info['candidates']} candidates, {escape(info['metric'])}; batch {escape(info['batch'])},"
        f" {seeds} seed(s)</p>" + table.to_html(index=False, float_format=lambda v: f"{v:.3f}")
    )
    return {**info, "table": table, "folder": str(folder)}


def markdown(table, info: dict) -> str:
    """The proxies table as Markdown: one row per proxy, correlations with their 95 % CIs."""
    import pandas as pd

    from studies.tables import to_markdown

    def f(r: dict, key: str) -> str:
        v = r.get(key)
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

    shown = pd.DataFrame(
        [
            {
                "proxy": r["proxy"],
                "kind": r["kind"],
                "Kendall tau [95 % CI]": f"{f(r, 'kendall')} [{f(r, 'kendall_lo')}, {f(r, 'kendall_hi')}]",
                "Spearman rho [95 % CI]": f"{f(r, 'spearman')} [{f(r, 'spearman_lo')}, {f(r, 'spearman_hi')}]",
                "top-10 % hit rate": f(r, "top10_hit_rate"),
                "scored / failed": f"{r['scored']} / {r['failed']}",
                "s per candidate": f"{r['seconds_per_candidate']:.2f}",
            }
            for r in table.to_dict("records")
        ]
    )  # fmt: skip
    head = (
        f"Zero-cost proxies on {', '.join(info['studies'])}: {info['candidates']} candidates; "
        f"truth: {info['metric']}; batch: {info['batch']}; {info['seeds']} initialisation seed(s)."
    )
    return f"{head}\n\n{to_markdown(shown, disable_numparse=True)}"


# ------------------------------------------------------------------------------ warm start
WARM_START = "lesion_nas_warm_start"  # study attribute: what was enqueued, and why it was allowed
WARM_TRIAL = "warm_start"  # trial attribute: {"proxy", "score", "rank"} of an enqueued candidate


def parse_warm_start(text: str) -> tuple[str, int, int]:
    """``"synflow:200:8"`` -> ("synflow", 200, 8); one clear error otherwise."""
    parts = str(text).split(":")
    try:
        name, m, k = parts[0].strip(), int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        raise ValueError(f"--warm-start {text!r}: write PROXY:M:K, e.g. synflow:200:8") from None
    if name not in PROXIES or len(parts) != 3:
        raise ValueError(f"--warm-start {text!r}: PROXY is one of {', '.join(PROXIES)}")
    if not 1 <= k <= m:
        raise ValueError(f"--warm-start {text!r}: need 1 <= K <= M")
    return name, m, k


def proxy_worth(proxy: str, studies: list[str], storage, out_root) -> tuple[float, float, int]:
    """(Kendall tau of ``proxy``, tau of params, candidates) on the trained candidates of
    ``studies`` (1 seed, the default batch)."""
    res = run_proxies(studies, storage=storage, proxies=[proxy], out_root=out_root, progress=False)
    table = res["table"].set_index("proxy")
    return (
        float(table.loc[proxy, "kendall"]),
        float(table.loc["params", "kendall"]),
        res["candidates"],
    )


def draw_feasible(spec, m: int, seed: int) -> list[tuple[dict, object]]:
    """``m`` distinct candidates of the spec's space within its budgets, drawn uniformly factor by
    factor (seeded; as the random sampler draws), with their Optuna parameters."""
    import random

    from searchspace.space import factors_of, make_genotype, params_of
    from studies.search.trial import prescreen

    rng = random.Random(f"warm:{seed}")
    out, seen, tries = [], set(), 0
    while len(out) < m:
        tries += 1
        if tries > 200 * m:
            raise ValueError(
                f"--warm-start: found only {len(out)} of {m} candidates within the budget"
            )
        choices: dict = {}
        for f in factors_of(spec.space):
            if f.applies(choices):
                choices[f.name] = rng.choice(list(f.values(choices)))
        g = make_genotype(choices)
        if g.id in seen or not prescreen(spec, g).feasible:
            continue
        seen.add(g.id)
        out.append((params_of(choices), g))  # the Optuna parameter names, in sampling order
    return out


def warm_start(study, spec, text: str, *, reference: list[str] | None, force: bool,
               storage=None, out_root="runs") -> list[int]:  # fmt: skip
    """Score ``M`` feasible candidates with the proxy and enqueue the best ``K`` as the first
    trials (once per study). Refused, with both taus, when the proxy's Kendall tau on the
    reference studies' trained candidates (default: this study's own) does not beat params'."""
    if study.user_attrs.get(WARM_START):
        return []
    proxy, m, k = parse_warm_start(text)
    judged_on = reference or [study.study_name]
    try:
        tau, tau_params, n = proxy_worth(proxy, judged_on, storage, out_root)
    except ValueError as e:
        if not force:
            raise ValueError(
                f"--warm-start {proxy}: cannot measure its worth on {', '.join(judged_on)} ({e}); "
                "name a study with trained candidates (--warm-start-reference) or --force"
            ) from None
        tau, tau_params, n = float("nan"), float("nan"), 0
    if not (tau > tau_params) and not force:
        raise ValueError(
            f"--warm-start {proxy}: its Kendall tau on {n} trained candidates of "
            f"{', '.join(judged_on)} is {tau:.3f}, not above params' {tau_params:.3f}; it would "
            "not pick better candidates than the parameter count (--force to use it anyway)"
        )
    data = load_study_data(spec)
    images, masks = proxy_batch(spec, data)
    drawn = draw_feasible(spec, m, spec.seed)
    scored = []
    for params, g in drawn:
        try:
            scored.append((score(proxy, partial(build_model, g), images, masks, seed=spec.seed,
                                 threads=1), params, g))  # fmt: skip
        except ProxyError:
            continue
    scored.sort(key=lambda t: -t[0])
    enqueued = []
    for rank, (value, params, g) in enumerate(scored[:k], start=1):
        study.enqueue_trial(
            params, user_attrs={WARM_TRIAL: {"proxy": proxy, "score": value, "rank": rank}}
        )
        enqueued.append(g.id)
    study.set_user_attr(WARM_START, {
        "proxy": proxy, "drawn": m, "enqueued": len(enqueued), "reference": judged_on,
        "kendall": tau, "kendall_params": tau_params, "forced": bool(force), "genotypes": enqueued,
    })  # fmt: skip
    return enqueued
