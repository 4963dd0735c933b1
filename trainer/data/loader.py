"""Turn a dataset folder (or ``"synthetic"``) into a :class:`DataBundle` of uint8 tensors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from trainer.data import synthetic as synth
from trainer.data.cache import load_or_decode
from trainer.data.errors import DataError, list_names
from trainer.data.layouts import Sample, discover
from trainer.data.splits import SplitPlan, make_split
from trainer.datatypes import DataBundle, SplitData

SYNTHETIC = "synthetic"


def _check_size(image_size: Sequence[int]) -> tuple[int, int]:
    size = tuple(image_size)
    if len(size) != 2 or not all(isinstance(v, int) and v > 0 for v in size):
        raise ValueError(f"image_size must be (H, W) positive integers, got {image_size!r}")
    return size  # type: ignore[return-value]


def _split_data(
    images: np.ndarray,
    masks: np.ndarray,
    index: dict[str, int],
    ids: tuple[str, ...],
    mask_paths: tuple[str, ...] = (),
) -> SplitData:
    rows = np.fromiter((index[i] for i in ids), dtype=np.int64, count=len(ids))
    take: np.ndarray | slice = rows
    if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
        take = slice(int(rows[0]), int(rows[0]) + len(rows))  # contiguous: a view, no copy
    return SplitData(
        images=torch.from_numpy(images[take]),
        masks=torch.from_numpy(masks[take][:, None]),
        ids=ids,
        mask_paths=mask_paths,
    )


def _needed(plan: SplitPlan) -> list[str]:
    return sorted({i for ids in plan.ids.values() for i in ids})


def load_data(
    source: str | Path,
    *,
    image_size: tuple[int, int] = (256, 256),
    split: str = "auto",
    ratios: Sequence[float] = (0.7, 0.3),
    fold: int | None = None,
    k: int = 5,
    seed: int = 0,
    limit: int | None = None,
    pool: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int = 0,
    synthetic_counts: tuple[int, int, int] = (400, 100, 100),
    synthetic_seed: int = 0,
) -> DataBundle:
    """Load a dataset folder in any known layout (or ``"synthetic"``, or a dataset's name:
    ``trainer.data.fetch``), split it, cache it.

        ``split`` is ``"auto"``, ``"official"``, ``"ratio"`` or ``"kfold"`` (see
        :mod:`trainer.data.splits`; ``ratios``, ``fold``, ``k``, ``seed``, ``pool`` and ``limit`` are
        its settings). Images and masks are resized to ``image_size`` = (H, W) by the rules of
        :mod:`trainer.data.decode` and cached by :mod:`trainer.data.cache` under ``cache_dir``.
        ``source == "synthetic"`` generates ``synthetic_counts`` = (train, val, test) images with
        ``synthetic_seed`` instead (not cached: generating is as fast as reading). Raises
        :class:`DataError` on bad input, before anything is written to the cache.
    """
    size = _check_size(image_size)
    from trainer.data.fetch import fetch, is_named

    if is_named(source):  # --data isic2017: the official archives, downloaded once
        source = fetch(str(source), progress=progress)
    if str(source) == SYNTHETIC:
        return _load_synthetic(
            size,
            synthetic_counts,
            synthetic_seed,
            method=split,
            ratios=ratios,
            fold=fold,
            k=k,
            seed=seed,
            limit=limit,
            pool=pool,
        )
    found = discover(source)
    plan = make_split(
        [(s.id, s.split) for s in found.samples],
        method=split,
        ratios=ratios,
        fold=fold,
        k=k,
        seed=seed,
        pool=pool,
        limit=limit,
        layout=found.layout,
    )
    by_id = {s.id: s for s in found.samples}
    needed = set(_needed(plan))
    # discovery order (official split, then id): official splits are contiguous in the cache
    samples = [s for s in found.samples if s.id in needed]
    arrays = load_or_decode(
        samples,
        root=found.root,
        layout=found.layout,
        size=size,
        cache_dir=cache_dir,
        progress=progress,
        workers=workers,
    )
    index = {sample_id: n for n, sample_id in enumerate(arrays.ids)}
    splits = {
        name: _split_data(
            arrays.images, arrays.masks, index, ids, tuple(str(by_id[i].mask_path) for i in ids)
        )
        for name, ids in plan.ids.items()
    }
    return DataBundle(
        name=found.layout,
        fingerprint=arrays.fingerprint,
        image_size=size,
        splits=splits,
        split_info=plan.info,
        synthetic=False,
        source_info={
            "source": str(found.root),
            "layout": found.layout,
            "n_pairs_found": len(found.samples),
            "cache_path": None if arrays.path is None else str(arrays.path),
            "from_cache": arrays.from_cache,
        },
    )


def _load_synthetic(
    size: tuple[int, int], counts: tuple[int, int, int], data_seed: int, **split_args
) -> DataBundle:
    if len(counts) != 3 or any(not isinstance(c, int) or c < 0 for c in counts):
        raise ValueError(
            f"synthetic_counts must be 3 integers >= 0 (train, val, test), got {counts}"
        )
    settings = synth.SyntheticSettings(*counts, seed=data_seed)
    labelled = [
        (synth.synthetic_id(name, i), name)
        for name, count in settings.counts().items()
        for i in range(count)
    ]
    plan = make_split(labelled, layout=SYNTHETIC, **split_args)
    needed = _needed(plan)
    images, masks = synth.render_many(
        data_seed, [synth.parse_synthetic_id(i) for i in needed], size
    )
    index = {sample_id: n for n, sample_id in enumerate(needed)}
    return DataBundle(
        name=SYNTHETIC,
        fingerprint=synth.synthetic_fingerprint(settings),
        image_size=size,
        splits={name: _split_data(images, masks, index, ids) for name, ids in plan.ids.items()},
        split_info=plan.info,
        synthetic=True,
        source_info={
            "source": SYNTHETIC,
            "generator_version": synth.GENERATOR_VERSION,
            "counts": settings.counts(),
            "data_seed": data_seed,
            "from_cache": False,
        },
    )


def describe_data(bundle: DataBundle) -> str:
    """One line: what the data is, its split, its size, and where it came from."""
    height, width = bundle.image_size
    sizes = ", ".join(f"{name} {len(data)}" for name, data in bundle.splits.items())
    info = bundle.split_info
    split = f"{info.get('method', '?')} split {str(info.get('hash', ''))[:8]}"
    if info.get("limit") is not None:
        split += f", train limited to {info['limit']}"
    if bundle.synthetic:
        return (
            f"SYNTHETIC DATA (generated, NOT real dermoscopy): {sizes} at {height}x{width}; "
            f"{split}; fingerprint {bundle.fingerprint[:12]}"
        )
    origin = "read from cache" if bundle.source_info.get("from_cache") else "decoded"
    return (
        f"{bundle.name} from {bundle.source_info.get('source', '?')}: {sizes} at {height}x{width}; "
        f"{split}; fingerprint {bundle.fingerprint[:12]}; {origin}"
    )


def load_pairs_for_evaluation(
    source: str | Path, split: str | None = None, *, ids: Iterable[str] | None = None
) -> list[Sample]:
    """The original-resolution (id, image_path, mask_path, split) pairs, for scoring each
    prediction at its ground-truth mask's own resolution (read masks with ``read_mask``).

    ``split`` keeps one official split; ``ids`` keeps those ids, in that order (e.g.
    ``bundle.split_info["ids"]["val"]`` for a ratio or k-fold split).
    """
    if str(source) == SYNTHETIC:
        raise DataError("synthetic data has no files; score it on SplitData.masks instead")
    found = discover(source)
    samples = list(found.samples)
    if split is not None:
        if split not in found.official_splits:
            has = ", ".join(found.official_splits) or "none"
            raise DataError(
                f"{found.layout} at {found.root} has no official {split!r} split (has: {has})"
            )
        samples = [s for s in samples if s.split == split]
    if ids is not None:
        by_id = {s.id: s for s in samples}
        wanted = list(ids)
        if missing := [i for i in wanted if i not in by_id]:
            raise DataError(f"ids not found in {found.root}: {list_names(missing)}")
        samples = [by_id[i] for i in wanted]
    return samples
