"""U-Lite's parts: axial depth-wise convolutions in the encoder, decoder, bottleneck and a stem.

AxialDW(c, k, d) = x + DW(k x 1, dilation d)(x) + DW(1 x k, dilation d)(x): a k x k receptive field
for 2 k c weights. The ``ulite`` layout wraps the encoder block: skip = norm(block(x)),
x = act(max-pool(PW(skip))).

Block ``axial`` and stem ``axial`` (PW(in -> out) then AxialDW 7x7) are linear, like ``conv3``
and the ``conv7`` stem: the malunet layout adds norm and activation after every stage block.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS, STEMS, BlockOptions, divisible
from .common import dw, make_act, make_norm, pw


class AxialDW(nn.Module):
    """x + DW(k x 1)(x) + DW(1 x k)(x), both depth-wise with bias and the same dilation."""

    def __init__(self, channels: int, kernel: int = 7, dilation: int = 1) -> None:
        super().__init__()
        self.vertical = dw(channels, (kernel, 1), dilation=dilation)
        self.horizontal = dw(channels, (1, kernel), dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.vertical(x) + self.horizontal(x)


class AxialDecoder(nn.Module):
    """PW(in -> out) -> norm -> AxialDW 7x7 -> PW(out -> out) -> act."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        self.reduce = pw(in_channels, out_channels)
        self.norm = make_norm(opts.norm, out_channels)
        self.axial = AxialDW(out_channels, 7)
        self.mix = pw(out_channels, out_channels)
        self.act = make_act(opts.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.mix(self.axial(self.norm(self.reduce(x)))))


class AxialBottleneck(nn.Module):
    """PW(c -> c/4); concat [x, AxialDW3 d1, d2, d3 of x] -> norm -> PW(c -> c) -> act."""

    def __init__(self, channels: int, opts: BlockOptions) -> None:
        super().__init__()
        g = channels // 4
        self.reduce = pw(channels, g)
        self.branches = nn.ModuleList(AxialDW(g, 3, dilation=d) for d in (1, 2, 3))
        self.norm = make_norm(opts.norm, 4 * g)
        self.mix = pw(4 * g, channels)
        self.act = make_act(opts.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        x = torch.cat([x, *(b(x) for b in self.branches)], dim=1)
        return self.act(self.mix(self.norm(x)))


def _gn4_out(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    if opts.norm == "gn4" and out_channels % 4:
        return f"with norm 'gn4' needs out_channels divisible by 4, got {out_channels}"
    return None


@BLOCKS.register(
    "axial_dw", check=divisible(same=True), decoder="axial_dec", test_channels=(16, 16)
)
def _axial_dw(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """AxialDW 7x7 (U-Lite encoder): x + DW(7x1)(x) + DW(1x7)(x); in == out (the layout widens)."""
    return AxialDW(in_channels, 7)


@BLOCKS.register("axial_dec", check=_gn4_out, test_channels=(48, 16))
def _axial_dec(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """U-Lite decoder: PW(in -> out) -> norm -> AxialDW 7x7 -> PW(out -> out) -> act."""
    return AxialDecoder(in_channels, out_channels, opts)


@BLOCKS.register("axial_bottleneck", check=divisible(same=True, by_in=4), test_channels=(32, 32))
def _axial_bottleneck(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """U-Lite bottleneck: PW(c -> c/4); [x, AxialDW3 d=1,2,3] -> norm -> PW(c -> c) -> act; in == out."""
    return AxialBottleneck(in_channels, opts)


@BLOCKS.register("axial", test_channels=(16, 32))
def _axial(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """PW(in -> out) then AxialDW 7x7(out): a linear, depth-wise separable stand-in for conv3."""
    return nn.Sequential(pw(in_channels, out_channels), AxialDW(out_channels, 7))


@STEMS.register("axial", test_channels=(3, 16))
def _stem_axial(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Depth-wise separable stem: PW(in -> out) then AxialDW 7x7(out); linear, as the conv7 stem."""
    return nn.Sequential(pw(in_channels, out_channels), AxialDW(out_channels, 7))
