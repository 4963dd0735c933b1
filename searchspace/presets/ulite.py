"""U-Lite (Dinh et al. 2023): axial depth-wise 7x7 convs in a 5-stage U-Net, under 1 M params."""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

ULITE = register_preset(
    Preset(
        name="ulite",
        genotype=Genotype(
            name="ulite",
            layout="ulite",
            stem="conv7",
            stem_width=16,
            widths=(32, 64, 128, 256, 512),
            encoder=("axial_dw",) * 5,
            bottleneck="axial_bottleneck",
            decoder=("axial_dec",) * 5,
            norm="bn",
            act="gelu",
            upsample="nearest",
        ),
        description=(
            "U-Lite: 7x7 stem to 16 channels, five encoders (AxialDW 7x7 -> BN is the skip, "
            "then PW widen -> max-pool -> GELU; 16 -> 32 -> ... -> 512), a bottleneck of "
            "PW(512 -> 128) and three dilated AxialDW 3x3 branches (d = 1, 2, 3) concatenated, "
            "and five decoders (nearest x2, concat skip, PW -> BN -> AxialDW 7x7 -> PW -> GELU). "
            "Outputs logits."
        ),
        recipe="ulite",
        reference_params=878_417,
        reference_macs_thop=757e6,
        reference_macs_torch=737e6,
        paper_claim="878 K",
    )
)
