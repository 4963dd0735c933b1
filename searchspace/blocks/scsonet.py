"""SCSONet's blocks: EMA attention and the SCF block (encoder and decoder order).

The SCF ("spatial-channel fusion") block chains SCConv, PConv, a plain 3x3 conv that changes the
width, and EMA. SCConv and PConv live in ``scconv.py``, ODConv (the "ConvStem" stage block) in
``odconv.py``; importing this module registers them too.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS, BlockOptions, divisible
from . import odconv  # noqa: F401  (registers "odconv3")
from .common import conv3, dw, pw
from .scconv import PConv, SCConv

EMA_GROUPS = 8


class EMA(nn.Module):
    """Efficient multi-scale attention: x * sigmoid(cross-spatial weights), per channel group.

    The C channels are cut into 8 groups folded into the batch, (B*8, C/8, H, W). Branch 1: pool
    over W and over H, a shared 1x1 conv (bias) on the concatenation, split; x1 =
    GroupNorm(x * sigmoid(h) * sigmoid(w)) (one group per channel). Branch 2: x2 = 3x3 conv (bias).
    weights = softmax(GAP(x1)) . x2 + softmax(GAP(x2)) . x1 (a (H, W) map per group); the output is
    x * sigmoid(weights).
    """

    def __init__(self, channels: int, groups: int = EMA_GROUPS) -> None:
        super().__init__()
        cg = channels // groups
        self.groups = groups
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv1 = nn.Conv2d(cg, cg, 1)
        self.conv3 = nn.Conv2d(cg, cg, 3, padding=1)
        self.gn = nn.GroupNorm(cg, cg)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        n, cg = b * self.groups, c // self.groups
        g = x.reshape(n, cg, h, w)
        pooled_h = self.pool_h(g)  # (n, cg, h, 1)
        pooled_w = self.pool_w(g).permute(0, 1, 3, 2)  # (n, cg, w, 1)
        att_h, att_w = torch.split(
            self.conv1(torch.cat([pooled_h, pooled_w], dim=2)), [h, w], dim=2
        )
        x1 = self.gn(g * att_h.sigmoid() * att_w.permute(0, 1, 3, 2).sigmoid())
        x2 = self.conv3(g)
        a1 = self.softmax(self.pool(x1).reshape(n, 1, cg))
        a2 = self.softmax(self.pool(x2).reshape(n, 1, cg))
        weights = a1 @ x2.reshape(n, cg, h * w) + a2 @ x1.reshape(n, cg, h * w)  # (n, 1, h*w)
        return (g * weights.reshape(n, 1, h, w).sigmoid()).reshape(b, c, h, w)


EMA_CHECK = divisible(by_in=EMA_GROUPS, same=True)
_NO_GRAD = {"no_grad": ("sru.weight", "sru.bias")}  # SRU's hard gate (see scconv.py)


def _out_multiple_of_8(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    if out_channels % EMA_GROUPS:
        return f"needs out_channels divisible by {EMA_GROUPS} (EMA groups), got {out_channels}"
    return None


def _scf_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    if in_channels % 8:
        return f"needs in_channels divisible by 8 (SCConv quarters, 2 groups), got {in_channels}"
    return _out_multiple_of_8(in_channels, out_channels, opts)


@BLOCKS.register("ema", check=EMA_CHECK, test_channels=(16, 16))
def _ema(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """EMA, efficient multi-scale attention with 8 groups; in == out, a multiple of 8."""
    return EMA(in_channels)


@BLOCKS.register(
    "scf", check=_scf_check, decoder="scf_dec", test_channels=(24, 32), meta=dict(_NO_GRAD)
)
def _scf(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """SCF block (encoder): SCConv(in) -> PConv(in) -> C3(in -> out) -> EMA(out); in, out % 8 == 0."""
    return nn.Sequential(
        SCConv(in_channels), PConv(in_channels), conv3(in_channels, out_channels), EMA(out_channels)
    )


@BLOCKS.register("scf_dec", check=_out_multiple_of_8, test_channels=(32, 24), meta=dict(_NO_GRAD))
def _scf_dec(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """SCF block (decoder): C3(in -> out) -> PConv(out) -> SCConv(out) -> EMA(out); out % 8 == 0."""
    return nn.Sequential(
        conv3(in_channels, out_channels),
        PConv(out_channels),
        SCConv(out_channels),
        EMA(out_channels),
    )


# Variants of the SCF block for SCSONet's own ablation (its paper compares PConv with a
# depthwise-separable and a dilated convolution inside SCF, and SCF with and without EMA).
SCF_INNER = {
    "dsc": lambda c: nn.Sequential(dw(c, 3, bias=False), pw(c, c, bias=False)),
    "dil": lambda c: nn.Conv2d(c, c, 3, padding=2, dilation=2, bias=False),
    "noema": PConv,
}


def _register_scf_variant(kind: str) -> None:
    inner = SCF_INNER[kind]
    tail = (lambda c: nn.Identity()) if kind == "noema" else EMA
    what = {
        "dsc": "a depthwise-separable conv (DW3 -> PW) in place of PConv",
        "dil": "a 3x3 conv with dilation 2 in place of PConv",
        "noema": "no EMA",
    }[kind]

    def enc(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
        return nn.Sequential(
            SCConv(in_channels),
            inner(in_channels),
            conv3(in_channels, out_channels),
            tail(out_channels),
        )

    def dec(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
        return nn.Sequential(
            conv3(in_channels, out_channels),
            inner(out_channels),
            SCConv(out_channels),
            tail(out_channels),
        )

    BLOCKS.register(
        f"scf_{kind}",
        check=_scf_check,
        decoder=f"scf_dec_{kind}",
        test_channels=(24, 32),
        meta=dict(_NO_GRAD),
        doc=f"SCF block (encoder) with {what}; ablation variant",
    )(enc)
    BLOCKS.register(
        f"scf_dec_{kind}",
        check=_out_multiple_of_8,
        test_channels=(32, 24),
        meta=dict(_NO_GRAD),
        doc=f"SCF block (decoder) with {what}; ablation variant",
    )(dec)


for _kind in SCF_INNER:
    _register_scf_variant(_kind)
