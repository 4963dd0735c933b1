"""DSNET (IEEE Access 2025), reconstructed from the abstract: only its parts and figures are known.

The MALUNet-family skeleton (six stages, add-skips, GroupNorm(4) + GELU, head at half resolution):
stage 1 a plain 3x3 conv (a depthwise conv on 3 input channels makes little sense), stages 2-6 and
decoders 1-4 detail-enhanced separable difference convs (``sdc``), decoder 5 a plain 3x3 conv as in
MALUNet, and the dynamic gate attention bridge (``gate``). Widths 32-72-96-144-192-256 were chosen
to land on the abstract's 0.291 M parameters and 0.287 G MACs at 256x256.
"""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

DSNET = register_preset(
    Preset(
        name="dsnet",
        genotype=Genotype(
            name="dsnet",
            layout="malunet",
            widths=(32, 72, 96, 144, 192, 256),
            encoder=("conv3", "sdc", "sdc", "sdc", "sdc", "sdc"),
            decoder=("sdc", "sdc", "sdc", "sdc", "conv3"),
            bridge="gate",
            norm="gn4",
            act="gelu",
            upsample="bilinear",
        ),
        description=(
            "DSNET, reconstructed from the abstract (no paper text, no code): MALUNet-style "
            "6-stage add-skip U-Net of detail-enhanced separable difference convs with a dynamic "
            "gate attention bridge; widths fitted to the abstract's 0.291 M / 0.287 G"
        ),
        recipe="dsnet",
        reference_params=None,
        paper_claim="0.291 M params / 0.287 GFLOPs (81.30 mIoU, 89.81 DSC on ISIC 2017/2018)",
        reconstructed=(
            "from the abstract only (module names and the parameter / GFLOPs figures); "
            "see docs/reconstructions.md"
        ),
        notes=(
            "292,786 params (abstract 0.291 M); thop 0.286 G / torch 0.287 G MACs at 256x256 "
            "(abstract 0.287 G)",
            "the boundary-interior correction loss belongs to the 'dsnet' recipe, not the network",
        ),
    )
)
