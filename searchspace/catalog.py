"""Tables about the space for people: the presets with our costs beside the papers' figures."""

from __future__ import annotations

from .cost import count_cost
from .presets import PRESETS, Preset


def preset_row(preset: Preset, image_size: tuple[int, int] = (256, 256)) -> dict:
    """One row: our exact costs and the reference figures of the authors' code and paper."""
    cost = count_cost(preset.genotype, image_size)
    return {
        "name": preset.name,
        "params": cost.params,
        "macs_thop": cost.macs_thop,
        "macs_torch": cost.macs_torch,
        "image_size": list(cost.image_size),
        "ref_params": preset.reference_params,
        "ref_macs_thop": preset.reference_macs_thop,
        "ref_macs_torch": preset.reference_macs_torch,
        "paper_claim": preset.paper_claim,
        "reconstructed": preset.reconstructed,
        "recipe": preset.recipe,
        "genotype_id": preset.genotype.id,
        "description": preset.description,
    }


def preset_rows(image_size: tuple[int, int] = (256, 256)) -> list[dict]:
    return [preset_row(p, image_size) for p in PRESETS.values()]
