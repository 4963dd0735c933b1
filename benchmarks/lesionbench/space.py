"""The lesionbench sub-space: every combination of the mission's factors at fixed macro layouts.

A macro fixes what the tabular benchmark does not vary (layout, depth, base width, up-sampling);
within it every stem pattern x block family x compression N (ECDF only) x attention order
(families that take one) x skip bridge (the layout's) is a candidate, so every one-factor
neighbour of a candidate over those factors is in the table too. The choices are
``searchspace.space``'s own, and ``make_genotype`` builds them: a table row is a point of the
search space that a live search can sample.
"""

from __future__ import annotations

from searchspace.registry import ATTENTION_ORDERS, COMPRESSIONS
from searchspace.space import (
    BLOCK_FAMILIES,
    BRIDGE_CHOICES,
    STEM_PATTERNS,
    family_takes,
    make_genotype,
    one_factor_neighbours,
)

# name -> the fixed choices: MALUNet's own macro (6 stages, 8-16-24-32-48-64) and a 4-stage
# U-Net (16-32-64-128), the two layouts of the space at the widths of the papers' tiny models.
MACROS: dict[str, dict] = {
    "malunet-d6-w8": {"layout": "malunet", "depth": 6, "base_width": 8, "upsample": "bilinear"},
    "unet-d4-w16": {"layout": "unet", "depth": 4, "base_width": 16, "upsample": "bilinear"},
}
MISSION_FACTORS = ("stem", "block", "compression", "attention", "bridge")


def macro_choices(macro: str) -> list[dict]:
    """Every choice dict of one macro, in a fixed order."""
    fixed = MACROS[macro]
    out = []
    for stem in STEM_PATTERNS:
        for block in BLOCK_FAMILIES:
            ns = COMPRESSIONS if block == "ecdf" else (None,)
            orders = ATTENTION_ORDERS if family_takes(block, "attention") else (None,)
            for n in ns:
                for attention in orders:
                    for bridge in BRIDGE_CHOICES[fixed["layout"]]:
                        c = {**fixed, "stem": stem, "block": block, "bridge": bridge}
                        if n is not None:
                            c["compression"] = n
                        if attention is not None:
                            c["attention"] = attention
                        out.append(c)
    return out


def candidates() -> list[tuple[str, dict]]:
    """(macro, choices) of the whole sub-space; distinct genotypes only (first wins)."""
    seen, out = set(), []
    for macro in MACROS:
        for c in macro_choices(macro):
            gid = make_genotype(c).id
            if gid not in seen:
                seen.add(gid)
                out.append((macro, c))
    return out


def neighbours(choices: dict) -> list[dict]:
    """The candidates that differ from ``choices`` in exactly one mission factor, within its
    macro (``searchspace.space.one_factor_neighbours`` over ``MISSION_FACTORS``)."""
    return one_factor_neighbours(choices, MISSION_FACTORS)
