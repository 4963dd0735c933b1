"""ULRTS-Net (reconstructed from the paper; no public code) and its ablation variants as genotypes.

Five-stage "unet" layout (concatenated skips), widths 8-16-32-64-128, BatchNorm + ReLU (the
paper's Conv-BN-ReLU), bilinear up-sampling. Encoder: DSCM x 3, MSFFM-3 (stage 4), MSFFM-5
(stage 5); decoder: DSCM x 5; ML-SFFM on the skips; attention channel-then-spatial (ECA -> SA) in
every DSCM and MSFFM. ``ULRTS_ABLATION_VARIANTS`` are the rows of the paper's module ablation
(its Table 4) and ``ULRTS_ATTENTION_VARIANTS`` those of its attention ablation (Table 3), all at
the same widths; ``PAPER_PARAMS`` holds the parameter counts the paper prints for them.
"""

from __future__ import annotations

from ..genotype import Genotype
from . import Preset, register_preset

WIDTHS = (8, 16, 32, 64, 128)
FULL_ENCODER = ("dscm", "dscm", "dscm", "msffm3", "msffm5")


def _genotype(
    name: str,
    encoder: tuple[str, ...],
    *,
    decoder: str = "dscm",
    bridge: str = "none",
    attention: str = "ca_sa",
) -> Genotype:
    return Genotype(
        name=name,
        layout="unet",
        widths=WIDTHS,
        encoder=encoder,
        decoder=(decoder,) * len(WIDTHS),
        bridge=bridge,
        attention=attention,
        upsample="bilinear",
        norm="bn",
        act="relu",
    )


ULRTS_ABLATION_VARIANTS: dict[str, Genotype] = {
    # plain double conv everywhere (it takes no attention, so none)
    "dc-x5": _genotype(
        "ulrts-dc-x5", ("double_conv",) * 5, decoder="double_conv", attention="none"
    ),
    "dscm-x5": _genotype("ulrts-dscm-x5", ("dscm",) * 5),
    "dscm-x3-msffm3-x2": _genotype("ulrts-dscm-x3-msffm3-x2", ("dscm",) * 3 + ("msffm3",) * 2),
    "dscm-x3-msffm3-msffm5": _genotype("ulrts-dscm-x3-msffm3-msffm5", FULL_ENCODER),
    "full": _genotype("ulrts-full", FULL_ENCODER, bridge="mlsffm"),
}

ULRTS_ATTENTION_VARIANTS: dict[str, Genotype] = {
    order: _genotype(f"ulrts-att-{order}", FULL_ENCODER, bridge="mlsffm", attention=order)
    for order in ("none", "sa", "ca", "sa_ca", "ca_sa")
}

# What the paper prints (M parameters; GFLOPs, most likely thop MACs at a 512x512 input).
PAPER_PARAMS: dict[str, float] = {
    "dc-x5": 0.959,
    "dscm-x5": 0.107,
    "dscm-x3-msffm3-x2": 0.406,
    "dscm-x3-msffm3-msffm5": 0.406,
    "full": 0.407,
    "att-none": 0.405,
    "att-sa": 0.405,
    "att-ca": 0.407,
    "att-sa_ca": 0.406,
    "att-ca_sa": 0.407,
}
PAPER_GFLOPS: dict[str, float] = {
    "dc-x5": 4.21,
    "dscm-x5": 0.56,
    "dscm-x3-msffm3-x2": 1.50,
    "dscm-x3-msffm3-msffm5": 1.50,
    "full": 1.51,
}

ULRTSNET = register_preset(
    Preset(
        name="ulrtsnet",
        genotype=_genotype("ulrtsnet", FULL_ENCODER, bridge="mlsffm"),
        description=(
            "ULRTS-Net, reconstructed from the paper (no public code): 5-stage U-Net of DSCMs "
            "(double depthwise-separable convs), MSFFM-3/MSFFM-5 in the last two encoder stages, "
            "ML-SFFM skips, channel-then-spatial attention; widths 8-128, BN + ReLU"
        ),
        recipe="ulrtsnet",
        reference_params=None,
        paper_claim="0.407 M params / 1.51 GFLOPs",
        reconstructed=(
            "from the ULRTS-Net paper's text and its ablation tables (widths calibrated on the "
            "DC x5 / DSCM x5 / full-model parameter counts); see docs/reconstructions.md"
        ),
        notes=(
            "406,115 params (paper 0.407 M); thop 0.338 G / torch 0.300 G MACs at 256x256, "
            "1.352 G / 1.199 G at 512x512 (the paper's 1.51 GFLOPs fits a 512 input best)",
            "attention is ECA + SA from the shared registry: the paper's CA costs ~2 k parameters "
            "(an MLP channel attention), ours a few",
        ),
    )
)
