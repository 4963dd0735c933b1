"""The published models as named points of the search space (one entry of data each).

Each preset records the genotype, the figures of the authors' code (parameters exactly; thop and
torch MACs at 1x3x256x256, from ``docs``' measurement of that code) and the figures the paper
prints, so that ``search.py presets`` can show ours beside theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..genotype import Genotype
from ..registry import UnknownName


@dataclass(frozen=True)
class Preset:
    name: str
    genotype: Genotype
    description: str
    recipe: str
    # Figures of the authors' public code (None where there is no code).
    reference_params: int | None = None
    reference_macs_thop: float | None = None
    reference_macs_torch: float | None = None
    # What the paper prints, verbatim units ("0.149 M / 0.056 G").
    paper_claim: str = ""
    reconstructed: str = ""  # non-empty: how the model was reconstructed without code
    notes: tuple[str, ...] = field(default_factory=tuple)


PRESETS: dict[str, Preset] = {}


def register_preset(preset: Preset) -> Preset:
    if preset.name in PRESETS:
        raise KeyError(f"preset {preset.name!r} is already registered")
    if preset.genotype.name != preset.name:
        raise ValueError(f"preset {preset.name!r}: its genotype must carry the same name")
    PRESETS[preset.name] = preset
    return preset


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownName(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


from . import (  # noqa: E402,F401  (each module registers its presets)
    dsnet,
    egeunet,
    lmsaunet,
    malunet,
    scsonet,
    ulite,
    ulrtsnet,
)

# Listed in the order of the papers' lineage: the shared skeleton first, then the others.
ORDER = ("scsonet", "malunet", "egeunet", "ulite", "lmsaunet", "ulrtsnet", "dsnet")
_ordered = {name: PRESETS[name] for name in (*ORDER, *(n for n in PRESETS if n not in ORDER))}
PRESETS.clear()
PRESETS.update(_ordered)
