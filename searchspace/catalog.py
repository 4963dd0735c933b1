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


def presets_text(rows: list[dict], fmt: str = "table") -> str:
    """The presets table as ``json``, ``csv`` or an aligned text ``table`` with its notes."""
    import json

    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    import pandas as pd

    df = pd.DataFrame(rows)
    if fmt == "csv":
        return df.to_csv(index=False)

    def ref(v, scale=None) -> str:
        if v is None or v != v:
            return "-"
        return f"{int(v):,}" if scale is None else f"{v / scale:.1f} M"

    view = pd.DataFrame(
        {
            "name": df["name"],
            "params": df["params"].map("{:,}".format),
            "ref params": df["ref_params"].map(ref),
            "MACs thop": df["macs_thop"].map(lambda v: f"{v / 1e6:.1f} M"),
            "ref thop": df["ref_macs_thop"].map(lambda v: ref(v, 1e6)),
            "MACs torch": df["macs_torch"].map(lambda v: f"{v / 1e6:.1f} M"),
            "ref torch": df["ref_macs_torch"].map(lambda v: ref(v, 1e6)),
            "paper says": df["paper_claim"],
        }
    )
    h, w = rows[0]["image_size"] if rows else (256, 256)
    return (
        view.to_string(index=False)
        + f"\n\nMACs at 1x3x{h}x{w}. 'thop' = thop.profile total (what the papers call GFLOPs); "
        "'torch' = FlopCounterMode / 2.\nref = the authors' public code (docs/seed-models.md); "
        "'-' = no public code: ULRTS-Net and DSNET are reconstructed from their papers.\n"
    )
