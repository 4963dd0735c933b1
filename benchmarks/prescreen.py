"""Budget pre-screen speed: candidates/s for params + thop MACs + torch MACs at 256x256.

Usage: python benchmarks/prescreen.py [--candidates 1000] [--seed 0]

Draws candidates from the search space with Optuna's RandomSampler and costs each one twice in
the same process: with the memoised per-part fast path (``count_cost``, the default) and with the
whole-network baseline (``method="whole"``: build the whole network on the meta device, one pass
under thop and FlopCounterMode). Prints candidates/s for both and their ratio. The fast path is
measured cold (empty part cache, first N candidates) and warm (the next N candidates, cache filled
by the first N) - a search sees the warm figure after its first few hundred candidates.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import optuna  # noqa: E402

from benchmarks.common import header  # noqa: E402
from searchspace.cost import _PART_CACHE, count_cost  # noqa: E402
from searchspace.space import sample_genotype  # noqa: E402


def draw(n: int, seed: int):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample_genotype(trial))
        study.tell(trial, 0.0)
    return out


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
    args = parser.parse_args()
    print(header("budget pre-screen: candidates/s (params + thop MACs + torch MACs, 256x256)"))
    genotypes = draw(2 * args.candidates, args.seed)
    count_cost(genotypes[0], (256, 256), method="whole")  # import thop and warm torch up
    _PART_CACHE.clear()
    cold = rate(genotypes[: args.candidates])
    warm = rate(genotypes[args.candidates :])
    baseline = rate(genotypes[: args.baseline_candidates], method="whole")
    print(
        f"candidates: {args.candidates} cold + {args.candidates} warm; baseline on {args.baseline_candidates}"
    )
    print(f"whole-network meta pass (baseline): {baseline:8.1f} candidates/s")
    print(
        f"per-part memo, cold cache:         {cold:8.1f} candidates/s  ({cold / baseline:.1f}x baseline)"
    )
    print(
        f"per-part memo, warm cache:         {warm:8.1f} candidates/s  ({warm / baseline:.1f}x baseline)"
    )
    print(f"parts cached: {len(_PART_CACHE)}")


if __name__ == "__main__":
    main()
