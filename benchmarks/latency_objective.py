"""The latency objective: is the measurement repeatable, would a per-part lookup table do, and how
well do MACs rank latency?

Usage: python benchmarks/latency_objective.py [--candidates 50] [--budget-params 0.2M]
       [--image-size 64 64] [--processes 5] [--threads 1] [--seed 0] [--runtimes ort_cpu,torch_cpu]

1. Repeatability: scsonet, malunet and the first random candidate, each measured by
   ``runner.latency.measure`` (the search's pre-screen measurement: warm-up 5, median of 25) in
   ``--processes`` separate Python processes, one after another; printed: the median of each
   process, and the coefficient of variation (sd / mean) across processes.
2. Lookup table (LUT) vs whole network, on ``--candidates`` random candidates of the space within
   the budget: every part of the cost model (``searchspace.parts.iter_parts``: stem, stages,
   bottleneck, decoder steps, bridge, heads) is built alone at the shape it sees in the network
   and timed the same way (ORT: exported alone; torch: eager); the LUT's prediction is the sum.
   Printed: mean absolute percentage error (MAPE) of the sum against the whole-network
   measurement, Spearman rho between them, and Spearman rho of thop MACs and of params against the
   measured latency (how well the cheap costs rank it: the reason a latency objective exists).
3. Cost: seconds per candidate for the whole-network measurement (export included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from benchmarks.common import header  # noqa: E402
from runner.latency import REPEATS, WARMUP, _summary, _threads, _time, measure  # noqa: E402
from searchspace.budget import parse_params  # noqa: E402
from searchspace.cost import count_cost  # noqa: E402
from searchspace.parts import build_part, iter_parts  # noqa: E402
from searchspace.presets import PRESETS  # noqa: E402
from searchspace.space import random_genotypes  # noqa: E402

CHILD = """
import json, sys
sys.path.insert(0, {root!r})
from searchspace import Genotype
from runner.latency import measure
g = Genotype.from_dict(json.loads({g!r}))
print(measure(g, ({h}, {w}), {runtime!r}, threads={threads}).median_ms)
"""


def in_processes(g, size, runtime: str, n: int, threads: int) -> list[float]:
    out = []
    for _ in range(n):
        code = CHILD.format(root=str(ROOT), g=json.dumps(g.to_dict()), h=size[0], w=size[1],
                            runtime=runtime, threads=threads)  # fmt: skip
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if res.returncode != 0:
            raise SystemExit(res.stderr[-2000:])
        out.append(float(res.stdout.strip().splitlines()[-1]))
    return out


def part_latency(key, g, runtime: str, threads: int) -> float:
    module, inputs = build_part(key, g)
    module = module.eval()
    with _threads(threads), torch.inference_mode():
        if runtime == "torch_cpu":
            return _summary(runtime, _time(lambda: module(*inputs), WARMUP, REPEATS), threads,
                            "cpu").median_ms  # fmt: skip
        import io
        import warnings

        from trainer.export import ort_session

        buf = io.BytesIO()
        names = [f"x{i}" for i in range(len(inputs))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, tuple(inputs), buf, input_names=names, opset_version=17,
                              dynamo=False)  # fmt: skip
        session = ort_session(buf.getvalue(), threads=threads)
        feed = {i.name: inputs[k].numpy() for k, i in enumerate(session.get_inputs())}
        return _summary(runtime, _time(lambda: session.run(None, feed), WARMUP, REPEATS), threads,
                        "cpu").median_ms  # fmt: skip


def spearman(a, b) -> float:
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--candidates", type=int, default=50)
    p.add_argument("--budget-params", default="0.2M")
    p.add_argument("--image-size", type=int, nargs=2, default=(64, 64))
    p.add_argument("--processes", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runtimes", default="ort_cpu,torch_cpu")
    a = p.parse_args(argv)
    size = tuple(a.image_size)
    runtimes = [r.strip() for r in a.runtimes.split(",") if r.strip()]
    print(header("Latency objective: repeatability, lookup table, MACs as a proxy"))
    print(f"batch 1 at {size[0]}x{size[1]}, {a.threads} thread(s), warm-up {WARMUP}, median of "
          f"{REPEATS}; runtimes {', '.join(runtimes)}")  # fmt: skip
    budget = parse_params(a.budget_params)
    drawn = [g for g in random_genotypes(a.candidates * 4, seed=a.seed)
             if count_cost(g, size).params <= budget][: a.candidates]  # fmt: skip
    print("\n## 1. Repeatability across processes")
    for name, g in (("scsonet", PRESETS["scsonet"].genotype),
                    ("malunet", PRESETS["malunet"].genotype), ("random #0", drawn[0])):  # fmt: skip
        for runtime in runtimes:
            xs = in_processes(g, size, runtime, a.processes, a.threads)
            cv = statistics.stdev(xs) / statistics.mean(xs)
            print(f"{name:10s} {runtime:9s}: " + ", ".join(f"{x:.3f}" for x in xs)
                  + f" ms; CV {100 * cv:.1f} %")  # fmt: skip
    print(f"\n## 2. Lookup table vs whole network ({len(drawn)} candidates within "
          f"{a.budget_params} params)")  # fmt: skip
    for runtime in runtimes:
        whole, lut, macs, params, seconds, skipped = [], [], [], [], [], 0
        for g in drawn:
            t0 = time.perf_counter()
            w = measure(g, size, runtime, threads=a.threads).median_ms
            seconds.append(time.perf_counter() - t0)
            try:
                parts = sum(part_latency(k, g, runtime, a.threads) for k in iter_parts(g, size))
            except Exception:  # a part that cannot be exported alone
                skipped += 1
                continue
            cost = count_cost(g, size)
            whole.append(w)
            lut.append(parts)
            macs.append(cost.macs_thop)
            params.append(cost.params)
        ape = [abs(p - w) / w for p, w in zip(lut, whole, strict=True)]
        print(
            f"{runtime}: {len(whole)} candidates ({skipped} with a part that could not be timed "
            f"alone); whole-network latency {min(whole):.2f}-{max(whole):.2f} ms, median "
            f"{statistics.median(whole):.2f}; LUT sum vs measured: MAPE {100 * statistics.mean(ape):.1f} %"
            f", Spearman {spearman(lut, whole):.3f}; thop MACs vs measured: Spearman "
            f"{spearman(macs, whole):.3f}; params vs measured: Spearman {spearman(params, whole):.3f}"
            f"; measuring one whole network took {statistics.median(seconds):.2f} s (median, "
            f"export included)"
        )


if __name__ == "__main__":
    main()
