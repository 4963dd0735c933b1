"""The whole search space as a cost table: exact params and MACs of every candidate at one size.

The space is finite: every combination of the choices ``sample_choices`` can make (layout,
depth, base width, stem pattern, block family, ECDF N, attention order, bridge, up-sampling),
all distinct genotypes (``space.space_size``). They share their parts (a stage with the same block, widths, options
and input shape costs the same in every network that has it): the whole space has about 7,200
distinct parts at 256x256. ``cost_table`` measures each missing part once, spread over worker
processes, adds them into ``PART_CACHE`` (saved to the persistent memo), then sums every
candidate from the memo. The sums are exactly ``count_cost`` (same code path, tested).

This is the bulk pre-screen: from an empty memo it costs the whole space at several hundred
candidates per second on 2 CPU cores, and afterwards every search of the space pre-screens from
the memo at thousands per second (``benchmarks/prescreen.py``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from .cost import PART_CACHE, _check_size, count_cost, measure_part
from .genotype import Genotype
from .parts import iter_parts, memo_key
from .space import ALL_FACTORS, LAYOUT_DEPTHS, all_choices, make_genotype

CHOICE_COLUMNS = tuple(f.name for f in ALL_FACTORS)


def space_choices(layouts: Iterable[str] | None = None, space: str = "base") -> Iterator[dict]:
    """Every choice dict ``sample_choices(trial, space)`` can return (``space.all_choices``)."""
    layouts = list(layouts) if layouts else None
    for layout in layouts or ():
        if layout not in LAYOUT_DEPTHS:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUT_DEPTHS)}")
    yield from all_choices(layouts, space=space)


def space_genotypes(
    layouts: Iterable[str] | None = None,
    choices: Iterable[dict] | None = None,
    space: str = "base",
) -> list[tuple[dict, Genotype]]:
    """(choices, genotype) for every distinct genotype of the space (or of these ``choices``),
    first choices kept."""
    seen: set[str] = set()
    out = []
    for c in space_choices(layouts, space) if choices is None else choices:
        g = make_genotype(c)
        if g.id not in seen:
            seen.add(g.id)
            out.append((c, g))
    return out


def _measure_chunk(jobs: list[tuple[tuple, Genotype]]) -> list[tuple[tuple, tuple]]:
    import torch

    torch.set_num_threads(1)
    return [entry for key, g in jobs for entry in measure_part(key, g)]


def missing_parts(
    genotypes: Iterable[Genotype], image_size: tuple[int, int]
) -> list[tuple[tuple, Genotype]]:
    """The parts of these genotypes that the memo lacks, each with one genotype that has it."""
    todo: dict[tuple, tuple[tuple, Genotype]] = {}
    for g in genotypes:
        for key in iter_parts(g, _check_size(g, image_size)):
            mkey = memo_key(key)
            if mkey in todo or key in todo:
                continue
            known = PART_CACHE.get(mkey)
            if known is None:
                todo[mkey] = (key, g)
            elif known == () and PART_CACHE.get(key) is None:  # no law: needs its own shape
                todo[key] = (key, g)
    return list(todo.values())


def fill_part_costs(
    genotypes: Iterable[Genotype],
    image_size: tuple[int, int] = (256, 256),
    *,
    workers: int | None = None,
    progress: bool = False,
) -> int:
    """Measure every part of these genotypes missing from the memo; returns how many were.

    ``workers`` processes (default: the CPU count; 1 = in this process) each measure a share of
    the parts; the results go into ``PART_CACHE``, which is then saved to the persistent memo.
    """
    from tqdm import tqdm

    todo = missing_parts(genotypes, image_size)
    if not todo:
        return 0
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = tqdm(total=len(todo), desc="measure parts", unit="part", disable=not progress)
    # Chunks small enough to balance the load and show progress, large enough to amortise IPC.
    size = max(1, min(64, len(todo) // (workers * 8) or 1))
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    try:
        if workers == 1:
            for chunk in chunks:
                for key, value in _measure_chunk(chunk):
                    PART_CACHE.put(key, value)
                bar.update(len(chunk))
        else:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # no fork of a process holding torch
            with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                futures = {pool.submit(_measure_chunk, c): len(c) for c in chunks}
                for fut in as_completed(futures):
                    for key, value in fut.result():
                        PART_CACHE.put(key, value)
                    bar.update(futures[fut])
    finally:
        bar.close()
        PART_CACHE.save()  # keep what was measured, even after an interruption
    return len(todo)


def cost_table(
    image_size: tuple[int, int] = (256, 256),
    *,
    layouts: Iterable[str] | None = None,
    choices: Iterable[dict] | None = None,
    workers: int | None = None,
    progress: bool = False,
    space: str = "base",
):
    """A pandas DataFrame with one row per distinct genotype of the space (or of ``layouts``, or
    of a list of ``choices``): ``genotype_id``, the choices (empty where a factor does not apply),
    ``params``, ``macs_thop``, ``macs_torch`` at ``image_size``."""
    import pandas as pd

    pairs = space_genotypes(layouts, choices, space)
    stride = max((g.stride for _, g in pairs), default=1)
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1 or h % stride or w % stride:
        raise ValueError(
            f"image size {h}x{w} must be a positive multiple of {stride}, the largest total "
            "stride of these candidates"
        )
    fill_part_costs((g for _, g in pairs), image_size, workers=workers, progress=progress)
    rows = []
    for choices, g in pairs:
        cost = count_cost(g, image_size)
        row = {"genotype_id": g.id}
        row.update({k: choices.get(k) for k in CHOICE_COLUMNS})
        row.update(params=cost.params, macs_thop=cost.macs_thop, macs_torch=cost.macs_torch)
        rows.append(row)
    return pd.DataFrame(rows)


def within(df, limits: dict[str, float]):
    """The rows of a cost table within every limit (column -> largest value); an unknown column
    is one clear error, never a silently ignored budget."""
    unknown = sorted(set(limits) - set(df.columns))
    if unknown:
        raise ValueError(f"the cost table has no column {', '.join(unknown)} to check a budget on")
    fits = df["params"].ge(0)
    for column, limit in limits.items():
        fits &= df[column] <= limit
    return fits


def space_report(
    size: tuple[int, int],
    *,
    limits: dict[str, float] | None = None,
    counter: str = "thop",
    workers: int | None = None,
    out: str | None = None,
    progress: bool = True,
    space: str = "base",
) -> str:
    """``search.py space``: cost the whole space, write ``out`` (CSV, atomically), and return the
    summary text (counts within the budgets, per block family). ``limits``: table column
    (``params``, ``macs_thop``, ``macs_torch``) -> the largest value within budget (the CLI
    derives them from the objectives' budgets)."""
    import time
    from pathlib import Path

    from .budget import format_count
    from .cost_cache import cache_file

    limits = dict(limits or {})
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}")
    if out and not Path(out).parent.is_dir():
        raise FileNotFoundError(f"folder {Path(out).parent} does not exist (for --out)")
    start = time.perf_counter()
    df = cost_table(size, workers=workers, progress=progress, space=space)
    seconds = time.perf_counter() - start
    macs = df["macs_thop" if counter == "thop" else "macs_torch"]
    df["fits_budget"] = fits = within(df, limits)
    if out:
        tmp = Path(out).with_name(Path(out).name + ".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(out)
    h, w = size
    memo = cache_file()
    text = []
    text.append(
        f"{len(df):,} candidates of the {space} space costed at 1x3x{h}x{w} in {seconds:.1f} s "
        f"({len(df) / seconds:,.0f} candidates/s; part memo: {memo or 'not saved'})"
    )
    text.append(
        f"params: {format_count(df['params'].min())} to {format_count(df['params'].max())}, "
        f"median {format_count(df['params'].median())}; MACs ({counter}): "
        f"{format_count(macs.min())} to {format_count(macs.max())}, median "
        f"{format_count(macs.median())}"
    )
    if limits:
        text.append(f"within the budget: {int(fits.sum()):,} of {len(df):,} ({fits.mean():.1%})")
        per_block = df.groupby("block")["fits_budget"].agg(["sum", "size"])
        per_block.columns = ["within budget", "candidates"]
        text.append(per_block.to_string())
    if out:
        text.append(f"table: {out}")
    return "\n".join(text) + "\n"
