"""How fast is the synthetic generator against generator v1 (the one before issue 20)?

Usage: python benchmarks/synthetic_speed.py [--size 64 64] [--repeats 2]

Renders the demo's 600 images (400 / 100 / 100) with generator v1 (read from git, commit
060848c, into a temporary module) and with the current one, alternating, in one process;
prints seconds per render and the ratio current / v1.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import header  # noqa: E402

V1_COMMIT = "060848c"


def load_v1():
    source = subprocess.run(
        ["git", "show", f"{V1_COMMIT}:trainer/data/synthetic.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp()) / "synthetic_v1.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("synthetic_v1", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["synthetic_v1"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, nargs=2, default=(64, 64))
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args(argv)
    from trainer.data import synthetic as current

    v1 = load_v1()
    print(header(f"Synthetic generator v{current.GENERATOR_VERSION} vs v1"))
    items = [(s, i) for s, n in (("train", 400), ("val", 100), ("test", 100)) for i in range(n)]
    times: dict[str, list[float]] = {"v1": [], "current": []}
    for _ in range(a.repeats):
        for name, module in (("v1", v1), ("current", current)):
            t0 = time.perf_counter()
            module.render_many(0, items, tuple(a.size))
            times[name].append(time.perf_counter() - t0)
    for name, ts in times.items():
        print(f"{name}: {', '.join(f'{t:.2f}' for t in ts)} s for {len(items)} images")
    ratio = sum(times["current"]) / sum(times["v1"])
    print(f"current / v1 = {ratio:.2f} ({a.size[0]}x{a.size[1]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
