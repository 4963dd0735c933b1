"""ULRTS-Net's parts, reconstructed from the paper (no public code): DSC, DSCM, MSFFM, ML-SFFM.

* ``dsc``    depthwise-separable conv: DW3(in) -> norm -> act -> PW(in->out) -> norm -> act
  (the norm after the DW takes any channel count: see ``input_norm``).
* ``dscm``   ULRTS-Net's depthwise separable conv module: the paper's double conv with each 3x3
  conv replaced by a DSC, i.e. DSC(in->out) -> DSC(out->out), then the genotype's attention.
* ``msffm3`` / ``msffm5``  multi-scale feature fusion: PW(in->out) -> norm -> act = x0; three
  parallel 3x3 conv branches (out -> out/2) with dilations (1, 2, 3) / (1, 3, 5); concat ->
  PW(3out/2 -> out) -> norm -> act; + x0; attention. The suffix is the largest dilation.
* bridge ``mlsffm``  multi-level semantic feature fusion of all skips at once (see ``MLSFFM``).

Convolutions followed by a norm have no bias (as the paper's Conv-BN-ReLU); with norm "none" they
have one. Choices the paper leaves open are listed in ``docs/reconstructions.md``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BLOCKS, BRIDGES, STEMS, BlockOptions, Bridge
from .attention import make_attention
from .common import dw, make_act, make_norm, pw, upsample


def norm_check(*, out_divisor: int = 1):
    """A check that out_channels split into ``out_divisor`` parts that suit GroupNorm(4) if gn4."""

    def check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
        if out_channels % out_divisor:
            return f"needs out_channels divisible by {out_divisor}, got {out_channels}"
        if opts.norm == "gn4" and (out_channels // out_divisor) % 4:
            need = 4 * out_divisor
            return f"with norm 'gn4' needs out_channels divisible by {need}, got {out_channels}"
        return None

    return check


def input_norm(name: str, channels: int) -> nn.Module:
    """The norm after a depthwise conv on the block's *input* channels (any count, e.g. 3).

    As ``make_norm``, except that gn4 on a channel count not divisible by 4 uses gcd(4, C) groups
    (GroupNorm(1, 3) on an RGB image), so that a separable block can be the first stage.
    """
    if name == "gn4" and channels % 4:
        return nn.GroupNorm(math.gcd(4, channels), channels)
    return make_norm(name, channels)


class DSC(nn.Module):
    """DW3(in) -> norm -> act -> PW(in->out) -> norm -> act."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        bias = opts.norm == "none"
        self.dw = dw(in_channels, 3, bias=bias)
        self.norm1 = input_norm(opts.norm, in_channels)
        self.act1 = make_act(opts.act)
        self.pw = pw(in_channels, out_channels, bias=bias)
        self.norm2 = make_norm(opts.norm, out_channels)
        self.act2 = make_act(opts.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.norm1(self.dw(x)))
        return self.act2(self.norm2(self.pw(x)))


class DSCM(nn.Module):
    """DSC(in->out) -> DSC(out->out) -> attention (the genotype's order)."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        self.dsc1 = DSC(in_channels, out_channels, opts)
        self.dsc2 = DSC(out_channels, out_channels, opts)
        self.attention = make_attention(opts.attention, out_channels, opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.dsc2(self.dsc1(x)))


class MSFFM(nn.Module):
    """x0 = act(norm(PW(x))); y = fuse(cat(dilated 3x3 branches(x0))); attention(y + x0)."""

    def __init__(
        self, in_channels: int, out_channels: int, opts: BlockOptions, dilations: tuple[int, ...]
    ) -> None:
        super().__init__()
        bias = opts.norm == "none"
        branch = out_channels // 2
        self.entry = nn.Sequential(
            pw(in_channels, out_channels, bias=bias),
            make_norm(opts.norm, out_channels),
            make_act(opts.act),
        )
        self.branches = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(out_channels, branch, 3, padding=d, dilation=d, bias=bias),
                make_norm(opts.norm, branch),
                make_act(opts.act),
            )
            for d in dilations
        )
        self.fuse = nn.Sequential(
            pw(branch * len(dilations), out_channels, bias=bias),
            make_norm(opts.norm, out_channels),
            make_act(opts.act),
        )
        self.attention = make_attention(opts.attention, out_channels, opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.entry(x)
        y = self.fuse(torch.cat([b(x0) for b in self.branches], dim=1))
        return self.attention(y + x0)


@BLOCKS.register("dsc", check=norm_check(), decoder="dsc", test_channels=(16, 32))
def _dsc(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Depthwise-separable conv: DW3(in) -> norm -> act -> PW(in->out) -> norm -> act."""
    return DSC(in_channels, out_channels, opts)


@BLOCKS.register(
    "dscm", check=norm_check(), takes_attention=True, decoder="dscm", test_channels=(16, 32)
)
def _dscm(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ULRTS-Net's DSCM: DSC(in->out) -> DSC(out->out) -> attention (the double conv made separable)."""
    return DSCM(in_channels, out_channels, opts)


@BLOCKS.register(
    "msffm3",
    check=norm_check(out_divisor=2),
    takes_attention=True,
    decoder="dscm",
    test_channels=(16, 32),
)
def _msffm3(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ULRTS-Net's MSFFM-3: PW entry, 3x3 branches (out/2 each) at dilations 1/2/3, concat -> PW, + entry, attention."""
    return MSFFM(in_channels, out_channels, opts, dilations=(1, 2, 3))


@BLOCKS.register(
    "msffm5",
    check=norm_check(out_divisor=2),
    takes_attention=True,
    decoder="dscm",
    test_channels=(16, 32),
)
def _msffm5(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ULRTS-Net's MSFFM-5: as MSFFM-3 with dilations 1/3/5 (wider context, same parameters)."""
    return MSFFM(in_channels, out_channels, opts, dilations=(1, 3, 5))


@STEMS.register("dsc", test_channels=(3, 16))
def _stem_dsc(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Depthwise-separable stem: DW3(in) -> PW(in->out), both with bias, no norm."""
    return nn.Sequential(dw(in_channels, 3), pw(in_channels, out_channels))


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool a larger map, bilinearly up-sample a smaller one, to ``size``."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    if h >= size[0] and w >= size[1]:
        return F.adaptive_avg_pool2d(x, size)
    return upsample(x, "bilinear", size=size)


class MLSFFM(Bridge):
    """Multi-level semantic feature fusion: every skip receives the semantic maps of all levels.

    Each skip j is squeezed to a one-channel semantic map z_j = PW(c_j -> 1)(s_j). For level i the
    L maps are resized to its size (average pool from finer levels, bilinear from coarser ones),
    concatenated and projected back: out_i = s_i + PW(L -> c_i)(cat_j z_j). (L + 2) * sum(c) + L
    parameters; works for any number of skips.
    """

    def __init__(self, skip_channels: tuple[int, ...]) -> None:
        super().__init__()
        n = len(skip_channels)
        self.squeeze = nn.ModuleList(pw(c, 1) for c in skip_channels)
        self.expand = nn.ModuleList(pw(n, c) for c in skip_channels)

    def prepare(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        maps = [sq(s) for sq, s in zip(self.squeeze, skips, strict=True)]
        out = []
        for s, expand in zip(skips, self.expand, strict=True):
            size = (s.shape[-2], s.shape[-1])
            fused = torch.cat([resize_to(m, size) for m in maps], dim=1)
            out.append(s + expand(fused))
        return out


def _mlsffm_check(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> str | None:
    if not skip_channels:
        return "needs at least one skip"
    return None


@BRIDGES.register("mlsffm", check=_mlsffm_check)
def _mlsffm(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> Bridge:
    """ULRTS-Net's ML-SFFM: each skip += PW(L->c) of all levels' one-channel semantic maps, resized."""
    return MLSFFM(tuple(skip_channels))
