"""Budget pre-screen speed: candidates/s for params + thop MACs + torch MACs at 256x256.

Usage: python benchmarks/prescreen.py [--candidates 1000] [--seed 0] [--workers 2] [--no-space]

Draws candidates from the search space with Optuna's RandomSampler and costs them in one process
with the whole-network baseline (``method="whole"``: build the whole network on the meta device,
one pass under thop and FlopCounterMode) and with the memoised per-part fast path (``count_cost``,
the default), in four situations:

1. cold: empty memo, empty cache file (the first N candidates of a first search);
2. warm: the next N candidates, memo filled by the first N (later in the same search);
3. repeat: the same 2N candidates again after the memo was saved to disk and dropped from
   memory (a resumed search, or another worker process of the same search);
4. next search: 2N candidates of another seed with the saved file (a second search of the space);
5. whole space: every distinct candidate of the space (42,544) from an empty memo with
   ``searchspace.table.cost_table`` (parts measured once each, in ``--workers`` processes), then
   the same table again at another size (192x256) with that memo.

The cache file lives in a temporary folder (``LESION_NAS_CACHE``), so the user's is untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from benchmarks.common import header  # noqa: E402
from searchspace.cost import PART_CACHE, count_cost  # noqa: E402
from searchspace.space import random_genotypes  # noqa: E402


def rate(genotypes, **kwargs) -> float:
    start = time.perf_counter()
    for g in genotypes:
        count_cost(g, (256, 256), **kwargs)
    return len(genotypes) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", type=int, default=1000)
    parser.add_argument("--baseline-candidates", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes for the whole space")
    parser.add_argument("--no-space", action="store_true", help="skip the whole-space figure")
    args = parser.parse_args()
    print(header("budget pre-screen: candidates/s (params + thop MACs + torch MACs, 256x256)"))
    os.environ["LESION_NAS_CACHE"] = tempfile.mkdtemp(prefix="lesion-nas-prescreen-")
    genotypes = random_genotypes(2 * args.candidates, args.seed)
    others = random_genotypes(2 * args.candidates, args.seed + 1)
    count_cost(genotypes[0], (256, 256), method="whole")  # import thop and warm torch up
    baseline = rate(genotypes[: args.baseline_candidates], method="whole")
    PART_CACHE.clear()
    cold = rate(genotypes[: args.candidates])
    warm = rate(genotypes[args.candidates :])
    parts = len(PART_CACHE)
    PART_CACHE.save()
    PART_CACHE.clear()
    repeat = rate(genotypes)
    next_search = rate(others)
    n, b = args.candidates, args.baseline_candidates
    print(
        f"candidates: {n} cold + {n} warm, then {2 * n} repeated and {2 * n} of seed {args.seed + 1}; baseline on {b}"
    )
    print(f"whole-network meta pass (baseline):     {baseline:8.1f} candidates/s")
    for label, value in (
        ("per-part memo, cold:", cold),
        ("per-part memo, warm (same search):", warm),
        ("saved memo, same candidates:", repeat),
        ("saved memo, next search (new seed):", next_search),
    ):
        print(f"{label:<38}{value:9.1f} candidates/s  ({value / baseline:.1f}x baseline)")
    print(f"memo entries after the first search: {parts}; after both: {len(PART_CACHE)}")
    if args.no_space:
        return
    from searchspace.table import cost_table

    for size in ((256, 256), (192, 256)):
        if size == (256, 256):  # from an empty memo, in a fresh cache folder
            os.environ["LESION_NAS_CACHE"] = tempfile.mkdtemp(prefix="lesion-nas-space-")
            PART_CACHE.clear()
        start = time.perf_counter()
        table = cost_table(size, workers=args.workers)
        seconds = time.perf_counter() - start
        what = "empty memo" if size == (256, 256) else "memo of the 256x256 table"
        print(
            f"whole space at {size[0]}x{size[1]} ({what}, {args.workers} workers): "
            f"{len(table):,} candidates in {seconds:.1f} s = {len(table) / seconds:,.0f} candidates/s"
        )


if __name__ == "__main__":
    main()
