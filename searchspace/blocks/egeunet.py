"""EGE-UNet's parts: the GHPA block and the group aggregation bridge (GAB).

* ``ghpa`` - group multi-axis Hadamard product attention (din -> dout).
* bridge ``gab`` - one group aggregation unit per skip, fed the deep-supervision logits of the
  decoder step that adds that skip (malunet layout only).

The learnable maps of GHPA have a fixed size (8) and are resized to the input's H x W (bilinear,
align_corners=True), so any input size works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BLOCKS, BRIDGES, BlockOptions, Bridge, divisible
from .common import LayerNorm2d, dw, make_act, pw

if TYPE_CHECKING:
    from ..genotype import Genotype

MAP_SIZE = 8  # side of GHPA's learnable maps before they are resized to the input
GAB_DILATIONS = (1, 2, 5, 7)


def _resize_line(p: torch.Tensor, size: int) -> torch.Tensor:
    """(1, c, L) -> (1, c, size), linear with aligned corners (= bilinear over (c, L) -> (c, size))."""
    return F.interpolate(p, size=size, mode="linear", align_corners=True)


class GHPA(nn.Module):
    """Group multi-axis Hadamard product attention: four channel groups, three gated by maps.

    c = din / 4. LayerNorm, split into 4 chunks: chunk 1 x f(map_hw) with map_hw (1, c, 8, 8)
    resized to H x W and f = DW3 -> act -> PW; chunk 2 x g(map_ch) with map_ch (1, c, 8) resized
    to (c, H) and g = Conv1d DW3 -> act -> Conv1d 1x1 (broadcast over W); chunk 3 likewise with
    map_cw over (c, W) (broadcast over H); chunk 4 -> PW -> act -> DW3. Concat -> LayerNorm ->
    DW3(din) -> act -> PW(din -> dout). Params: din^2/4 + 42 din + din*dout + dout.
    """

    def __init__(self, in_channels: int, out_channels: int, act: str = "gelu") -> None:
        super().__init__()
        c = in_channels // 4
        self.norm_in = LayerNorm2d(in_channels)
        self.map_hw = nn.Parameter(torch.ones(1, c, MAP_SIZE, MAP_SIZE))
        self.map_ch = nn.Parameter(torch.ones(1, c, MAP_SIZE))
        self.map_cw = nn.Parameter(torch.ones(1, c, MAP_SIZE))
        self.conv_hw = nn.Sequential(dw(c, 3), make_act(act), pw(c, c))
        self.conv_ch = nn.Sequential(
            nn.Conv1d(c, c, 3, padding=1, groups=c), make_act(act), nn.Conv1d(c, c, 1)
        )
        self.conv_cw = nn.Sequential(
            nn.Conv1d(c, c, 3, padding=1, groups=c), make_act(act), nn.Conv1d(c, c, 1)
        )
        self.local = nn.Sequential(pw(c, c), make_act(act), dw(c, 3))
        self.norm_out = LayerNorm2d(in_channels)
        self.mix = nn.Sequential(dw(in_channels, 3), make_act(act), pw(in_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x1, x2, x3, x4 = torch.chunk(self.norm_in(x), 4, dim=1)
        hw = F.interpolate(self.map_hw, size=(h, w), mode="bilinear", align_corners=True)
        x1 = x1 * self.conv_hw(hw)
        x2 = x2 * self.conv_ch(_resize_line(self.map_ch, h)).unsqueeze(-1)  # (1, c, H, 1)
        x3 = x3 * self.conv_cw(_resize_line(self.map_cw, w)).unsqueeze(-2)  # (1, c, 1, W)
        x4 = self.local(x4)
        return self.mix(self.norm_out(torch.cat([x1, x2, x3, x4], dim=1)))


@BLOCKS.register("ghpa", check=divisible(by_in=4), test_channels=(16, 32))
def _ghpa(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """GHPA (EGE-UNet): 4 channel groups gated by learnable (H,W), (C,H), (C,W) maps, then DW-sep mix."""
    return GHPA(in_channels, out_channels, opts.act)


class GroupAggregation(nn.Module):
    """One GAB unit: fuse a deeper feature, a skip and a mask in 4 dilated groups.

    high -> PW(high -> c) -> resize to the skip's size; split high and skip into 4 chunks; group g
    = concat(high_g, skip_g, mask) -> LayerNorm -> DW3 with dilation d_g (1, 2, 5, 7); concat ->
    LayerNorm -> PW(2c + 4m -> c). Params: high*c + 2c^2 + 34c + 56 for a 1-channel mask.
    """

    def __init__(self, high_channels: int, channels: int, mask_channels: int = 1) -> None:
        super().__init__()
        group = channels // 2 + mask_channels
        self.project = pw(high_channels, channels)
        self.groups = nn.ModuleList(
            nn.Sequential(LayerNorm2d(group), dw(group, 3, dilation=d)) for d in GAB_DILATIONS
        )
        total = group * len(GAB_DILATIONS)
        self.tail = nn.Sequential(LayerNorm2d(total), pw(total, channels))

    def forward(self, high: torch.Tensor, low: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        high = F.interpolate(
            self.project(high), size=low.shape[-2:], mode="bilinear", align_corners=True
        )
        hs = torch.chunk(high, 4, dim=1)
        ls = torch.chunk(low, 4, dim=1)
        out = [g(torch.cat([hs[i], ls[i], mask], dim=1)) for i, g in enumerate(self.groups)]
        return self.tail(torch.cat(out, dim=1))


class GroupAggregationBridge(Bridge):
    """The bridge of EGE-UNet: at decoder step k, skip <- GAB_k(deeper, skip, mask)."""

    def __init__(
        self, skip_channels: tuple[int, ...], deep_channels: int, mask_channels: int
    ) -> None:
        super().__init__()
        deepest_first = tuple(reversed(skip_channels))
        highs = (deep_channels, *deepest_first[:-1])
        self.units = nn.ModuleList(
            GroupAggregation(h, c, mask_channels) for h, c in zip(highs, deepest_first, strict=True)
        )

    def prepare(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        return skips

    def fuse(
        self,
        level: int,
        skip: torch.Tensor,
        *,
        deeper: torch.Tensor,
        decoder: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        if mask is None:
            raise ValueError(
                "the 'gab' bridge needs the deep-supervision mask (deep_supervision=True)"
            )
        return self.units[level](deeper, skip, mask)


def _check_gab(
    skip_channels: tuple[int, ...], deep_channels: int, genotype: Genotype
) -> str | None:
    if genotype.layout != "malunet":
        return f"works only in the 'malunet' layout (it is fed the decoder's masks), got {genotype.layout!r}"
    bad = [c for c in skip_channels if c % 4]
    if bad:
        return f"needs every skip width divisible by 4 (4 groups), got {list(skip_channels)}"
    return None


@BRIDGES.register("gab", check=_check_gab, meta={"needs_deep_supervision": True})
def _gab(skip_channels: tuple[int, ...], deep_channels: int, genotype: Genotype) -> nn.Module:
    """Group aggregation bridge (EGE-UNet): each skip fused with the deeper feature and the mask in 4 dilated groups."""
    return GroupAggregationBridge(tuple(skip_channels), deep_channels, genotype.out_channels)
