"""The front against the published models: for each published model P, the front members that
are cheaper on both cost axes (P's rivals), and once ``confirm --published`` has retrained both,
the paired difference in Dice with its CI and a verdict.

A rival of P is a front member (not P itself) with at most P's parameters and at most P's thop
MACs at the study's image size. It "reaches" P when its validation score at the search fidelity
is at least P's (known only when the study trained P). The paired comparison is the ablations'
(``stats.paired_comparison``): per-image validation Dice of the rival minus P's, paired on (seed,
image) over ``confirm``'s seeds, mean with a 95 % bootstrap CI over images. The verdict:

- ``beats``: the CI is above 0;
- ``matches``: the CI lies within +-``MATCH_MARGIN`` (0.005 Dice);
- ``loses``: the CI is below 0;
- ``inconclusive``: none of these (a CI straddling 0 wider than the margin: more seeds or images
  would be needed to say).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MATCH_MARGIN = 0.005
VERDICTS = ("beats", "matches", "loses", "inconclusive")


@dataclass(frozen=True)
class Published:
    """A published model at the study's image size; ``trial`` and ``val`` when the study
    trained it (val: its validation score at the search fidelity)."""

    name: str
    params: int
    macs_thop: int
    trial: int | None = None
    val: float | None = None


@dataclass(frozen=True)
class Rival:
    """A front member cheaper than a published model on both axes."""

    number: int
    genotype_id: str
    params: int
    macs_thop: int
    val: float | None
    reaches: bool | None  # None: the study did not train the published model


def verdict(ci_low: float, ci_high: float, margin: float = MATCH_MARGIN) -> str:
    """The verdict of a paired Dice difference's CI (module docstring)."""
    if ci_low > 0:
        return "beats"
    if ci_high < 0:
        return "loses"
    if -margin <= ci_low and ci_high <= margin:
        return "matches"
    return "inconclusive"


def published_models(records: Sequence[Any], image_size, metric: str) -> list[Published]:
    """Every preset whose stride divides the study's image size, costed at that size, with its
    search-fidelity score where the study trained it (``records``: ``schema.TrialRecord``)."""
    from searchspace.cost import count_cost
    from searchspace.presets import PRESETS

    trained = {}
    for r in records:
        if r.preset and r.trained and r.duplicate_of is None and metric in (r.val or {}):
            trained.setdefault(r.preset, r)
    h, w = image_size
    out = []
    for name, preset in PRESETS.items():
        g = preset.genotype
        if h % g.stride or w % g.stride:
            continue
        cost = count_cost(g, (h, w))
        r = trained.get(name)
        out.append(
            Published(
                name,
                cost.params,
                cost.macs_thop,
                None if r is None else r.number,
                None if r is None else float(r.val[metric]),
            )
        )
    return out


def cheaper_rivals(front: Sequence[Any], p: Published, metric: str) -> list[Rival]:
    """The front members (``schema.TrialRecord``) with at most P's params and thop MACs, P's own
    trial left out; best validation score first."""
    out = []
    for r in front:
        if r.number == p.trial or r.params is None or r.macs_thop is None:
            continue
        if r.params <= p.params and r.macs_thop <= p.macs_thop:
            val = (r.val or {}).get(metric)
            reaches = None if p.val is None or val is None else val >= p.val
            out.append(Rival(r.number, r.genotype_id, r.params, r.macs_thop, val, reaches))
    return sorted(out, key=lambda x: -(x.val if x.val is not None else -1.0))


def rows(
    published: Sequence[Published],
    front: Sequence[Any],
    metric: str,
    paired: dict[str, dict] | None = None,
) -> list[dict]:
    """One row per published model: its costs and search-fidelity score, its cheaper rivals
    (trial numbers, how many reach it), and for its best confirmed rival the paired Delta and
    verdict (``paired``: the study's ``schema.RIVALS`` attribute, {P: {rival number: result}})."""
    out = []
    for p in published:
        rivals = cheaper_rivals(front, p, metric)
        row = {
            "published": p.name,
            "params": p.params,
            "macs_thop": p.macs_thop,
            "val_search": p.val,
            "rivals": ", ".join(f"#{r.number}" + ("*" if r.reaches else "") for r in rivals),
            "n_rivals": len(rivals),
            "n_reach": sum(bool(r.reaches) for r in rivals),
        }
        results = (paired or {}).get(p.name) or {}
        done = [(int(k), v) for k, v in results.items() if v.get("delta") is not None]
        if done:
            number, best = max(done, key=lambda kv: kv[1]["delta"])
            row.update(
                rival=f"#{number}",
                rival_params=best.get("params"),
                rival_macs_thop=best.get("macs_thop"),
                rival_dice=best.get("dice"),
                published_dice=best.get("published_dice"),
                delta_dice=best["delta"],
                ci_low=best["ci"][0],
                ci_high=best["ci"][1],
                pairs=best.get("pairs"),
                verdict=best["verdict"],
                fidelity=best.get("fidelity", ""),
            )
        out.append(row)
    return out
