"""MALUNet's blocks: external attention (EA), dilated gated attention (DGA) and its GAU.

Stage blocks ``ea_dga`` (encoder: EA(in) -> DGA(in -> out)) and ``dga_ea`` (decoder:
DGA(in -> out) -> EA(out)). The norms and activations inside follow the network-wide options
(the paper: GroupNorm with 4 groups and GELU). The SCAB bridge lives in ``scab.py`` and is
registered by importing this module.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS, BlockOptions
from . import scab  # noqa: F401  (registers the "scab" bridge)
from .common import dw, make_act, make_norm, pw

DGA_DILATIONS = (7, 5, 2, 1)


class ExternalAttention(nn.Module):
    """EA(c): x + norm(PW(Conv1d(4c->c)(l1-normalise(softmax_HW(Conv1d(c->4c)(PW(x))))))), then act.

    The 4c "external memory" units are two independent Conv1d weights (no bias); the attention is
    a softmax over the H*W positions, then divided by (1e-9 + its sum over the 4c units).
    Parameters: 10c^2 + 3c with GN4 (10c^2 + c with no norm).
    """

    def __init__(self, channels: int, opts: BlockOptions) -> None:
        super().__init__()
        self.proj_in = pw(channels, channels)
        self.memory_key = nn.Conv1d(channels, 4 * channels, 1, bias=False)
        self.memory_value = nn.Conv1d(4 * channels, channels, 1, bias=False)
        self.proj_out = pw(channels, channels, bias=False)
        self.norm = make_norm(opts.norm, channels)
        self.act = make_act(opts.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # functional softmax: thop does not count it, as in the authors' code (0.56 M thop MACs)
        attn = torch.softmax(self.memory_key(self.proj_in(x).reshape(b, c, h * w)), dim=-1)
        attn = attn / (1e-9 + attn.sum(dim=1, keepdim=True))
        y = self.memory_value(attn).reshape(b, c, h, w)
        return self.act(self.norm(self.proj_out(y)) + x)


def dw_separable(in_channels: int, out_channels: int, kernel: int, opts: BlockOptions) -> nn.Module:
    """DW_k(in) -> norm(in) -> PW(in -> out), all with bias."""
    return nn.Sequential(
        dw(in_channels, kernel), make_norm(opts.norm, in_channels), pw(in_channels, out_channels)
    )


class GAU(nn.Module):
    """Group aggregation unit: act(DWsep3(sigmoid(DWsep3(x)) * act(DWsep5(x)))) + PW(x)."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        self.gate = dw_separable(in_channels, in_channels, 3, opts)
        self.value = dw_separable(in_channels, in_channels, 5, opts)
        self.value_act = make_act(opts.act)
        self.proj = dw_separable(in_channels, out_channels, 3, opts)
        self.proj_act = make_act(opts.act)
        self.shortcut = pw(in_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sigmoid(self.gate(x)) * self.value_act(self.value(x))
        return self.proj_act(self.proj(y)) + self.shortcut(x)


class DGA(nn.Module):
    """Dilated gated attention: 4 channel chunks through DW3 with dilation 7/5/2/1, concat ->
    norm -> PW(in -> in) -> act -> GAU(in -> out)."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        self.chunk = in_channels // len(DGA_DILATIONS)
        self.branches = nn.ModuleList(dw(self.chunk, 3, dilation=d) for d in DGA_DILATIONS)
        self.norm = make_norm(opts.norm, in_channels)
        self.mix = pw(in_channels, in_channels)
        self.act = make_act(opts.act)
        self.gau = GAU(in_channels, out_channels, opts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.chunk, dim=1)
        y = torch.cat([conv(p) for conv, p in zip(self.branches, parts, strict=True)], dim=1)
        return self.gau(self.act(self.mix(self.norm(y))))


def _norm_groups(channels: int, opts: BlockOptions, what: str) -> str | None:
    if opts.norm == "gn4" and channels % 4:
        return f"needs {what} divisible by 4 (GroupNorm with 4 groups), got {channels}"
    return None


def _ea_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    if in_channels != out_channels:
        return f"needs in_channels == out_channels, got {in_channels} -> {out_channels}"
    return _norm_groups(in_channels, opts, "channels")


def _gau_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    return _norm_groups(in_channels, opts, "in_channels")


def _dga_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    if in_channels % len(DGA_DILATIONS):
        return f"needs in_channels divisible by 4 (4 dilated chunks), got {in_channels}"
    return None


def _dga_ea_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    return _dga_check(in_channels, out_channels, opts) or _norm_groups(
        out_channels, opts, "out_channels"
    )


@BLOCKS.register("ea", check=_ea_check, test_channels=(16, 16))
def _ea(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """External attention (two 4c-unit memories, softmax over H*W), residual; in == out."""
    return ExternalAttention(in_channels, opts)


@BLOCKS.register("gau", check=_gau_check, test_channels=(16, 24))
def _gau(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Group aggregation unit: sigmoid(DWsep3) * act(DWsep5) -> DWsep3(in -> out), + PW shortcut."""
    return GAU(in_channels, out_channels, opts)


@BLOCKS.register("dga", check=_dga_check, test_channels=(16, 24))
def _dga(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Dilated gated attention: DW3 dilations 7/5/2/1 on 4 chunks -> PW -> GAU(in -> out)."""
    return DGA(in_channels, out_channels, opts)


@BLOCKS.register("ea_dga", check=_dga_check, decoder="dga_ea", test_channels=(24, 32))
def _ea_dga(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """MALUNet encoder block: EA(in) -> DGA(in -> out); in % 4 == 0."""
    return nn.Sequential(ExternalAttention(in_channels, opts), DGA(in_channels, out_channels, opts))


@BLOCKS.register("dga_ea", check=_dga_ea_check, test_channels=(32, 24))
def _dga_ea(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """MALUNet decoder block: DGA(in -> out) -> EA(out); in % 4 == 0 (out % 4 with gn4)."""
    return nn.Sequential(
        DGA(in_channels, out_channels, opts), ExternalAttention(out_channels, opts)
    )
