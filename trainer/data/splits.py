"""Assign sample ids to the train / val / test splits and describe how it was done.

Methods:

- ``"official"``: the layout's own split folders. A layout without an official ``val`` split but
  with a ``train`` one (ISIC 2016) gets a validation set carved from its training set by the
  seeded ratio rule, with fraction ``ratios[1] / (ratios[0] + ratios[1])``; ``split_info`` then
  says ``"val_from": "train"``.
- ``"ratio"``: pool the samples (of the official splits named in ``pool``; default all) and split
  them by ``ratios`` = (train, val) or (train, val, test), which must sum to 1. A seeded permutation
  of the sorted ids is cut into consecutive parts; val and test get ``round(n * ratio)`` ids, train
  the rest.
- ``"kfold"``: pool likewise, cut a seeded permutation into ``k`` near-equal folds
  (``numpy.array_split``); fold ``fold`` is val, the others are train.
- ``"auto"``: ``"official"`` when the layout has any official split, else ``"ratio"``.

A folder that holds only official evaluation splits (e.g. just ``ISIC-2017_Test_v2_Data/`` and
its ground truth, the usual download for scoring a trained model) keeps them under their own
names with no train split (``split_info["evaluation_only"]``): it can be evaluated on, not
trained on (``fit`` refuses it for want of a train split).

Ids are sorted within each split. ``limit`` keeps the first N training ids (sorted by id) and
leaves val and test alone. ``split_info["hash"]`` is the sha256 of the canonical JSON
(``sort_keys``, no spaces) of ``split_info["ids"]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trainer.data.errors import DataError
from trainer.data.layouts import SPLIT_NAMES

METHODS = ("auto", "official", "ratio", "kfold")


@dataclass(frozen=True)
class SplitPlan:
    """Sorted ids per split (only non-empty splits), and the ``split_info`` record."""

    ids: dict[str, tuple[str, ...]]
    info: dict


def split_hash(ids: dict[str, Sequence[str]]) -> str:
    """sha256 of the canonical JSON of the ids per split."""
    canonical = json.dumps(
        {k: list(v) for k, v in ids.items()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_ratios(ratios: Sequence[float]) -> tuple[float, ...]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) not in (2, 3) or any(r <= 0 for r in ratios):
        raise ValueError(
            f"ratios must be 2 or 3 positive numbers (train, val[, test]), got {ratios}"
        )
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must sum to 1, got {ratios} (sum {sum(ratios)})")
    return ratios


def ratio_split(
    ids: Sequence[str], ratios: Sequence[float], seed: int
) -> dict[str, tuple[str, ...]]:
    """Seeded split of ``ids`` by ``ratios`` (see module docstring)."""
    ratios = _check_ratios(ratios)
    names = SPLIT_NAMES[: len(ratios)]
    ordered = sorted(ids)
    n = len(ordered)
    sizes = [max(1, int(np.floor(n * r + 0.5))) for r in ratios[1:]]
    if n - sum(sizes) < 1:
        raise DataError(f"cannot split {n} samples into {len(ratios)} non-empty parts by {ratios}")
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([n - sum(sizes), *sizes])[:-1]
    parts = np.split(perm, bounds)
    return {
        name: tuple(sorted(ordered[i] for i in part))
        for name, part in zip(names, parts, strict=True)
    }


def kfold_split(ids: Sequence[str], k: int, fold: int, seed: int) -> dict[str, tuple[str, ...]]:
    """Fold ``fold`` of a seeded ``k``-fold partition of ``ids`` as val, the rest as train."""
    if not isinstance(k, int) or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}")
    if not isinstance(fold, int) or not 0 <= fold < k:
        raise ValueError(f"fold must be an integer in [0, {k}), got {fold!r}")
    ordered = sorted(ids)
    if len(ordered) < k:
        raise DataError(f"cannot make {k} folds of {len(ordered)} samples")
    folds = np.array_split(np.random.default_rng(seed).permutation(len(ordered)), k)
    val = {ordered[i] for i in folds[fold]}
    return {
        "train": tuple(i for i in ordered if i not in val),
        "val": tuple(sorted(val)),
    }


def make_split(
    labelled: Sequence[tuple[str, str | None]],
    *,
    method: str = "auto",
    ratios: Sequence[float] = (0.7, 0.3),
    fold: int | None = None,
    k: int = 5,
    seed: int = 0,
    pool: Sequence[str] | None = None,
    limit: int | None = None,
    layout: str = "dataset",
) -> SplitPlan:
    """Split ``(id, official_split_or_None)`` pairs by ``method`` (see module docstring)."""
    if method not in METHODS:
        raise ValueError(f"unknown split method {method!r}; choose one of {', '.join(METHODS)}")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    official: dict[str, list[str]] = {}
    for sample_id, name in labelled:
        if name is not None:
            official.setdefault(name, []).append(sample_id)
    if method == "auto":
        method = "official" if official else "ratio"
    info: dict = {"method": method, "seed": None}

    if method == "official" and official and "train" not in official:
        ids = {name: tuple(sorted(official[name])) for name in SPLIT_NAMES if name in official}
        info["evaluation_only"] = True
    elif method == "official":
        if "train" not in official:
            has = f"only {', '.join(official)}" if official else "none"
            raise DataError(
                f"{layout} has no official train split (official splits: {has}); "
                "use split='ratio' or split='kfold'"
            )
        ids = {name: tuple(sorted(official[name])) for name in SPLIT_NAMES if name in official}
        if "val" not in ids:
            r = _check_ratios(ratios)
            carved = ratio_split(ids["train"], (r[0] / (r[0] + r[1]), r[1] / (r[0] + r[1])), seed)
            ids = {**ids, "train": carved["train"], "val": carved["val"]}
            info.update(seed=seed, val_from="train", ratios=list(r[:2]))
    else:
        if pool is not None and (unknown := set(pool) - set(official)):
            raise DataError(f"{layout} has no official split(s) {sorted(unknown)} to pool")
        pooled = [i for i, name in labelled if pool is None or name in pool]
        info.update(seed=seed, pool=None if pool is None else sorted(pool))
        if method == "ratio":
            ids = ratio_split(pooled, ratios, seed)
            info["ratios"] = list(_check_ratios(ratios))
        else:
            if fold is None:
                raise ValueError("split='kfold' needs fold=<index in [0, k)>")
            ids = kfold_split(pooled, k, fold, seed)
            info.update(k=k, fold=fold)

    ids = {name: ids[name] for name in SPLIT_NAMES if ids.get(name)}
    if limit is not None and "train" in ids:
        ids["train"] = ids["train"][:limit]
    info["limit"] = limit
    info["ids"] = {name: list(v) for name, v in ids.items()}
    info["hash"] = split_hash(ids)
    return SplitPlan(ids=ids, info=info)
