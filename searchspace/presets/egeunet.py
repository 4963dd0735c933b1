"""EGE-UNet (Ruan et al. 2023): the MALUNet skeleton with GHPA stages and a GAB bridge."""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

EGEUNET = register_preset(
    Preset(
        name="egeunet",
        genotype=Genotype(
            name="egeunet",
            layout="malunet",
            widths=(8, 16, 24, 32, 48, 64),
            encoder=("conv3", "conv3", "conv3", "ghpa", "ghpa", "ghpa"),
            decoder=("ghpa", "ghpa", "ghpa", "conv3", "conv3"),
            bridge="gab",
            norm="gn4",
            act="gelu",
            upsample="bilinear",
            deep_supervision=True,
        ),
        description=(
            "EGE-UNet: the MALUNet skeleton (widths 8-16-24-32-48-64, GN4, max-pool, additive "
            "skips) with 3x3 convs in E1-E3 / D4-D5, GHPA (group multi-axis Hadamard product "
            "attention) in E4-E6 / D1-D3, and a group aggregation bridge (GAB, dilations "
            "1, 2, 5, 7) that refines every skip with the deeper feature and the decoder's "
            "deep-supervision mask (5 heads PW(c -> 1))."
        ),
        recipe="egeunet",
        reference_params=53_374,
        reference_macs_thop=72.1e6,
        reference_macs_torch=72.1e6,
        paper_claim="0.053 M / 0.072 G",
        notes=(
            "Loss of the paper: BCE + Dice on the output plus 0.1..0.5-weighted BCE + Dice on "
            "the 5 deep-supervision maps (the network returns them with return_aux=True).",
            "GHPA's learnable maps are 8 x 8 (and 8 along H / W), resized to the input size, so "
            "any input size works.",
        ),
    )
)
