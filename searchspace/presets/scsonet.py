"""SCSONet (Chen et al., 2024) as a named genotype: "ConvStem + SCF Block + SCAB".

The paper's names map onto the MALUNet skeleton (seed-models.md §4) as follows:

* "ConvStem" is not a separate stem: it is encoder stages 1-3, ``conv3`` (3 -> 8), ``odconv3``
  (8 -> 16, ODConv 3x3 with one kernel) and ``conv3`` (16 -> 24), each followed by the skeleton's
  GroupNorm -> max-pool -> GELU. Decoder stage 5 (16 -> 8) is ``odconv3`` as well.
* "SCF Block" is the ``scf`` block of encoder stages 4-6 (SCConv -> PConv -> C3 -> EMA) and its
  decoder order ``scf_dec`` in decoder stages 1-3 (C3 -> PConv -> SCConv -> EMA).
* "SCAB" is the ``scab`` bridge, identical to MALUNet's.

thop does not see ODConv's per-sample ``F.conv2d`` (23.6 M MACs at 256x256: 18.9 M in stage 2 at
128x128, 4.7 M in decoder 5 at 64x64), so the thop count is far below torch's.
"""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

CONVSTEM_STAGES = ("conv3", "odconv3", "conv3")  # the paper's "ConvStem" = encoder stages 1-3

SCSONET = Genotype(
    name="scsonet",
    layout="malunet",
    widths=(8, 16, 24, 32, 48, 64),
    encoder=(*CONVSTEM_STAGES, "scf", "scf", "scf"),
    decoder=("scf_dec", "scf_dec", "scf_dec", "conv3", "odconv3"),
    bridge="scab",
    norm="gn4",
    act="gelu",
    upsample="bilinear",
)

PRESET = register_preset(
    Preset(
        name="scsonet",
        genotype=SCSONET,
        description=(
            "SCSONet: MALUNet's skeleton and SCAB bridge with ODConv in the first stages "
            '("ConvStem") and SCF blocks (SCConv, partial conv, 3x3 conv, EMA attention) in the '
            "deep stages."
        ),
        recipe="scsonet",
        reference_params=159_439,
        reference_macs_thop=59.8e6,
        reference_macs_torch=82.8e6,
        paper_claim="0.149 M params / 0.056 GFLOPs (thop, ÷2^20 / ÷2^30)",
        notes=(
            "The paper's ConvStem is encoder stages 1-3 (conv3, odconv3, conv3), not a stem; "
            "decoder stage 5 is odconv3.",
            "thop misses ODConv's per-sample F.conv2d (23.6 M MACs): compare torch MACs.",
            "SRU's hard gate gives its normalisation parameters no gradient (published design).",
        ),
    )
)
