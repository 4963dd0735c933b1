"""The ``full`` phase's plan: the top of the region the searches explore, at 96x96 / 10 epochs.

What it trains, in this order of priority (a partial build holds the most useful part):

1. ``refs``: the published models that are points of MALUNet's macro (scsonet, malunet,
   egeunet: 6 stages, 8-16-24-32-48-64), seeds 0, 1, 2: the references a found network is paired
   against;
2. ``winners``: the live searches' committed networks (``docs/evidence/found-*.json`` that are
   points of the space within the mission's budgets), seeds 0, 1, 2;
3. ``widen``: their one-step neighbours in depth and base width (the table's macros fix both;
   all three §5 winners have depth 5), seed 0, within the mission's budgets;
4. ``top``: the in-budget candidates of MALUNet's macro ranked by their low-fidelity (64x64,
   2 epochs, seed 0) validation Dice, the best ``TOP`` of them, seed 0, best first;
5. ``top-seeds``: once every ``top`` candidate has its seed 0, the best ``TOP_SEEDS`` of them by
   that fuller-fidelity seed-0 Dice get seeds 1 and 2 (how noisy the top is at this fidelity).

The mission's budgets: MALUNet's params (177,943) and 2x its thop MACs at 64x64 (10.4 M).
"""

from __future__ import annotations

import csv
import glob
from dataclasses import dataclass
from pathlib import Path

from benchmarks.lesionbench.space import MACROS, MISSION_FACTORS

ROOT = Path(__file__).resolve().parents[2]
FULL = {"size": (96, 96), "epochs": 10}
LOW = "64x64-e2"
REFS = ("scsonet", "malunet", "egeunet")
TOP = 150
TOP_SEEDS = 30
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Item:
    """One (network, seed) to train: its table labels, its genotype and the stage it is for."""

    stage: str
    macro: str
    choices: dict | None  # None for a preset
    genotype: object
    seed: int


def budgets() -> tuple[int, int]:
    from searchspace.cost import count_cost
    from searchspace.presets import get_preset

    malunet = get_preset("malunet").genotype
    return count_cost(malunet, (64, 64)).params, 2 * count_cost(malunet, (64, 64)).macs_thop


def macro_name(choices: dict) -> str:
    return f"{choices['layout']}-d{choices['depth']}-w{choices['base_width']}"


def winners() -> list[tuple[str, dict, object]]:
    from searchspace.cost import count_cost
    from searchspace.genotype import Genotype
    from searchspace.space import choices_for

    max_params, max_macs = budgets()
    out = []
    for path in sorted(glob.glob(str(ROOT / "docs" / "evidence" / "found-*.json"))):
        g = Genotype.from_json(Path(path).read_text())
        cost = count_cost(g, (64, 64))
        if cost.params > max_params or cost.macs_thop > max_macs:
            continue
        c = choices_for(g)
        if c is not None:
            out.append((g.id, c, g))
    return out


def widen(choices: dict) -> list[dict]:
    """One step in depth and one in base width (each direction where the space has it)."""
    from searchspace.space import BASE_WIDTHS, LAYOUT_DEPTHS

    out = []
    for name, values in (
        ("depth", LAYOUT_DEPTHS[choices["layout"]]),
        ("base_width", BASE_WIDTHS),
    ):
        i = values.index(choices[name])
        for j in (i - 1, i + 1):
            if 0 <= j < len(values):
                out.append({**choices, name: values[j]})
    return out


def read_rows(table: Path) -> list[dict]:
    if not table.is_file():
        return []
    with table.open(newline="") as f:
        return list(csv.DictReader(f))


def plan(table: Path, fidelity: str) -> list[Item]:
    """Every (network, seed) of the phase in priority order, done or not (the caller skips the
    rows already in the table)."""
    from searchspace.cost import count_cost
    from searchspace.presets import get_preset
    from searchspace.space import make_genotype

    max_params, max_macs = budgets()
    rows = read_rows(table)
    items: list[Item] = []
    for name in REFS:
        g = get_preset(name).genotype
        items += [Item("refs", f"preset:{name}", None, g, s) for s in SEEDS]
    found = winners()
    for _gid, c, g in found:
        items += [Item("winners", macro_name(c), c, g, s) for s in SEEDS]
    for _gid, c, _g in found:
        for n in widen(c):
            g = make_genotype(n)
            cost = count_cost(g, (64, 64))
            if cost.params <= max_params and cost.macs_thop <= max_macs:
                items.append(Item("widen", macro_name(n), n, g, 0))
    low = {
        r["genotype_id"]: r
        for r in rows
        if r["fidelity"] == LOW
        and int(r["seed"]) == 0
        and r["macro"] == "malunet-d6-w8"
        and r["status"] == "completed"
        and int(r["params"]) <= max_params
        and int(r["macs_thop"]) <= max_macs
    }
    ranked = sorted(low.values(), key=lambda r: -float(r["val_dice_per_image_mean"]))[:TOP]
    top = []
    for r in ranked:
        c = {**MACROS[r["macro"]], **{f: r[f] for f in MISSION_FACTORS if r[f] != ""}}
        if "compression" in c:
            c["compression"] = int(c["compression"])
        g = make_genotype(c)
        assert g.id == r["genotype_id"], (g.id, r["genotype_id"])
        top.append((c, g))
        items.append(Item("top", r["macro"], c, g, 0))
    full = {
        r["genotype_id"]: float(r["val_dice_per_image_mean"])
        for r in rows
        if r["fidelity"] == fidelity and int(r["seed"]) == 0 and r["status"] == "completed"
    }
    if all(g.id in full for _c, g in top):
        best = sorted(top, key=lambda cg: -full[cg[1].id])[:TOP_SEEDS]
        for c, g in best:
            items += [Item("top-seeds", "malunet-d6-w8", c, g, s) for s in SEEDS[1:]]
    seen, out = set(), []
    for it in items:  # a network in two stages is trained once per seed
        key = (it.genotype.id, it.seed)
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out
