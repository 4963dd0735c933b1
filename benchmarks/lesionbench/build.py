"""Build (or resume) the lesionbench table: train every candidate of the sub-space, append rows.

Usage: python -m benchmarks.lesionbench.build [--phase low|noise|high] [--workers 2]
       [--hours H] [--max-runs N] [--data ../shared/data/isic2017] [--table FILE]
       [--runs runs/lesionbench]

Phases (sizes, the same for every candidate: recipe ``fast``, AdamW 2e-3, cosine, batch 16,
BCE + Dice, flips and rotation, best epoch on validation; the ISIC 2017 sample's 2,000 official
training images, its 150 official validation images):

- ``low``: every candidate at the search fidelity of docs/evidence.md, 64x64, 2 epochs, seed 0;
- ``noise``: a stratified subset (``NOISE_PER_FAMILY`` candidates of each block family per
  macro, seeded) at the same fidelity with seeds 1 and 2, so the replay can draw seed noise;
- ``high``: the same subset at 96x96, 6 epochs, seed 0 (a second fidelity);
- ``full``: the top of the region the searches explore at 96x96, 10 epochs (the fidelity of
  ``confirm`` in docs/evidence.md): the published references of MALUNet's macro and the live
  winners with 3 seeds, the winners' neighbours in depth and base width, the low-fidelity top 150
  of MALUNet's macro within the mission's budgets, then 2 more seeds for the 30 best of those
  (``benchmarks.lesionbench.full``, in that order of priority, so a partial table holds the most
  useful rows). Its rows' ``macro`` names the layout, depth and base width (``malunet-d5-w8``), or
  ``preset:NAME`` for a published model, whose factor columns are empty.

Candidates are trained macro by macro (MALUNet's first: nearly all of it fits MALUNet's own
budgets), each in a seeded shuffled order, so a partial table is a uniform sample of a macro. Each
finished run appends one row to ``--table`` (CSV, committed): re-running skips every (candidate,
fidelity, seed) already there, and run folders under ``runs/lesionbench/`` are reused. ``--hours``
/ ``--max-runs`` stop starting new chunks of runs; an interrupted build loses at most the runs
in flight. One row: macro, the mission factors, genotype id, params, thop and torch MACs at the
training size, fidelity, seed, validation Dice and Jaccard (per-image means) of the best epoch,
the per-epoch validation Dice curve, training seconds and the run status.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.lesionbench.space import MACROS, MISSION_FACTORS, candidates  # noqa: E402

HERE = Path(__file__).resolve().parent
TABLE = HERE / "table.csv"
PHASES = {
    "low": {"size": (64, 64), "epochs": 2, "seeds": (0,), "subset": False},
    "noise": {"size": (64, 64), "epochs": 2, "seeds": (1, 2), "subset": True},
    "high": {"size": (96, 96), "epochs": 6, "seeds": (0,), "subset": True},
    "full": {"size": (96, 96), "epochs": 10, "seeds": (0, 1, 2), "subset": False},
}
NOISE_PER_FAMILY = 4
ORDER_SEED = 2026
CHUNK = 16
COLUMNS = [
    "macro", *MISSION_FACTORS, "genotype_id", "params", "macs_thop", "macs_torch", "fidelity",
    "image_size", "epochs", "seed", "val_dice_per_image_mean", "val_jaccard_per_image_mean",
    "val_dice_curve", "train_seconds", "status",
]  # fmt: skip


def fidelity_name(phase: dict) -> str:
    h, w = phase["size"]
    return f"{h}x{w}-e{phase['epochs']}"


def subset(cands: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    """NOISE_PER_FAMILY candidates per (macro, block family), drawn with a fixed seed."""
    rng = random.Random(ORDER_SEED + 1)
    groups: dict[tuple[str, str], list] = {}
    for macro, c in cands:
        groups.setdefault((macro, c["block"]), []).append((macro, c))
    out = []
    for key in sorted(groups):
        members = groups[key]
        out += rng.sample(members, min(NOISE_PER_FAMILY, len(members)))
    return out


def done_keys(table: Path) -> set[tuple[str, str, int]]:
    if not table.is_file():
        return set()
    with table.open(newline="") as f:
        return {(r["genotype_id"], r["fidelity"], int(r["seed"])) for r in csv.DictReader(f)}


def append_row(table: Path, row: dict) -> None:
    new = not table.is_file()
    with table.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)
        f.flush()


def grid_todo(phase_name: str, table: Path) -> tuple[list, int]:
    """The low / noise / high phases: (macro, choices, genotype, seed) still to train, macro by
    macro (MALUNet's first: 957 of its 980 candidates fit MALUNet's own params and 2x its MACs at
    64x64, against 62 of the U-Net macro's 784), each in a seeded shuffled order; and the
    phase's total number of rows."""
    from searchspace.space import make_genotype

    phase = PHASES[phase_name]
    fid = fidelity_name(phase)
    cands = candidates()
    if phase["subset"]:
        cands = subset(cands)
    order = list(range(len(cands)))
    random.Random(ORDER_SEED).shuffle(order)
    rank = {m: i for i, m in enumerate(MACROS)}
    order.sort(key=lambda i: rank[cands[i][0]])  # stable: the shuffle holds within a macro
    done = done_keys(table)
    todo = []
    for i in order:
        macro, c = cands[i]
        g = make_genotype(c)
        for seed in phase["seeds"]:
            if (g.id, fid, seed) not in done:
                todo.append((macro, c, g, seed))
    return todo, len(cands) * len(phase["seeds"])


def full_todo(phase_name: str, table: Path) -> tuple[list, int]:
    """The full phase's (macro, choices, genotype, seed) still to train, in its priority order
    (``benchmarks.lesionbench.full.plan``), and the plan's size so far."""
    from benchmarks.lesionbench.full import plan

    fid = fidelity_name(PHASES[phase_name])
    done = done_keys(table)
    items = plan(table, fid)
    todo = [
        (it.macro, it.choices or {}, it.genotype, it.seed)
        for it in items
        if (it.genotype.id, fid, it.seed) not in done
    ]
    return todo, len(items)


def make_row(macro, c, g, seed, phase, run_dir: Path, metrics: dict | None) -> dict:
    from searchspace.cost import count_cost

    cost = count_cost(g, phase["size"])
    history = run_dir / "history.csv"
    curve = []
    if history.is_file():
        with history.open(newline="") as f:
            curve = [round(float(r["val_dice_per_image_mean"]), 6) for r in csv.DictReader(f)]
    val = (metrics or {}).get("val") or {}
    return {
        "macro": macro,
        **{f: c.get(f, "") for f in MISSION_FACTORS},
        "genotype_id": g.id,
        "params": cost.params,
        "macs_thop": cost.macs_thop,
        "macs_torch": cost.macs_torch,
        "fidelity": fidelity_name(phase),
        "image_size": f"{phase['size'][0]}x{phase['size'][1]}",
        "epochs": phase["epochs"],
        "seed": seed,
        "val_dice_per_image_mean": val.get("dice_per_image_mean", ""),
        "val_jaccard_per_image_mean": val.get("jaccard_per_image_mean", ""),
        "val_dice_curve": json.dumps(curve),
        "train_seconds": round(float((metrics or {}).get("train_seconds", 0.0)), 2),
        "status": (metrics or {}).get("status", "failed"),
    }


def load(source: str, size: tuple[int, int]):
    from trainer.data import load_data

    return load_data(source, image_size=size, progress=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phase", choices=tuple(PHASES), default="low")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hours", type=float, default=None, help="stop starting runs after this")
    ap.add_argument("--max-runs", type=int, default=None)
    ap.add_argument("--data", default="../shared/data/isic2017")
    ap.add_argument("--table", default=str(TABLE))
    ap.add_argument("--runs", default="runs/lesionbench")
    a = ap.parse_args(argv)

    from runner.runs import train_runs
    from trainer import recipe

    phase = PHASES[a.phase]
    fid = fidelity_name(phase)
    table = Path(a.table)
    todo_of = partial(full_todo if a.phase == "full" else grid_todo, a.phase, table)
    todo, total = todo_of()
    print(f"lesionbench {a.phase} ({fid}): {total - len(todo)}/{total} rows already in {table}")
    deadline = time.monotonic() + a.hours * 3600 if a.hours else None
    loader = partial(load, a.data, phase["size"])
    start, trained = time.monotonic(), 0
    while todo:
        if deadline is not None and time.monotonic() > deadline:
            print("time is up: stopping (re-run the same command to resume)")
            break
        if a.max_runs is not None and trained >= a.max_runs:
            break
        n = CHUNK if a.max_runs is None else min(CHUNK, a.max_runs - trained)
        chunk = todo[:n]
        runs = []
        for _macro, _c, g, seed in chunk:
            config = recipe("fast", image_size=phase["size"], epochs=phase["epochs"], seed=seed)
            runs.append((g, config, Path(a.runs) / fid / g.id / f"seed{seed}"))

        def finished(i: int, metrics: dict | None, chunk=chunk, runs=runs) -> None:
            macro, c, g, seed = chunk[i]
            append_row(table, make_row(macro, c, g, seed, phase, Path(runs[i][2]), metrics))

        train_runs(runs, loader, workers=a.workers, threads=1, device="cpu", on_done=finished)
        trained += len(chunk)
        rate = trained / max(time.monotonic() - start, 1e-9) * 3600
        before = len(todo)
        todo, total = todo_of()  # the full phase's last stage depends on the rows written
        if len(todo) >= before and todo[: len(chunk)] == chunk:
            print("error: no run of the last chunk wrote its row; stopping", file=sys.stderr)
            return 1
        print(
            f"{trained} trained this command, {total - len(todo)}/{total} rows in the table "
            f"({rate:.0f} runs/hour)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
