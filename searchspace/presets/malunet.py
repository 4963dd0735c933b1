"""MALUNet (Ruan et al., 2022) as a named genotype.

The MALUNet skeleton (seed-models.md §2-3): widths 8-16-24-32-48-64, plain 3x3 convs in stages
1-3, EA -> DGA in stages 4-6, the SCAB bridge, DGA -> EA in decoders 1-3, plain 3x3 convs in
decoders 4-5, GroupNorm(4) and GELU everywhere.
"""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

MALUNET = Genotype(
    name="malunet",
    layout="malunet",
    widths=(8, 16, 24, 32, 48, 64),
    encoder=("conv3", "conv3", "conv3", "ea_dga", "ea_dga", "ea_dga"),
    decoder=("dga_ea", "dga_ea", "dga_ea", "conv3", "conv3"),
    bridge="scab",
    norm="gn4",
    act="gelu",
    upsample="bilinear",
)

PRESET = register_preset(
    Preset(
        name="malunet",
        genotype=MALUNET,
        description=(
            "MALUNet: a six-stage 8-64-channel U-shaped network whose deep stages combine external "
            "attention with dilated gated attention, joined by a spatial-channel attention bridge "
            "(SCAB) on additive skips."
        ),
        recipe="malunet",
        reference_params=177_943,
        reference_macs_thop=83.0e6,
        reference_macs_torch=82.7e6,
        paper_claim="0.175 M params / 0.083 GFLOPs (thop; thop does not count GroupNorm params)",
        notes=(
            "EA's two Conv1d memories are independent weights; the authors' code ties them to one "
            "storage (same parameter count).",
        ),
    )
)
