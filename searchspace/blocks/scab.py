"""SCAB, the spatial-channel attention bridge of MALUNet and SCSONet (a ``BRIDGES`` entry).

It refines all skips at once (``prepare``) and leaves ``fuse`` as the identity. It works for any
number of skips with any channels and resolutions: the spatial part is one module shared by all
skips, the channel part mixes the pooled descriptors of all skips and gives each skip its own
``Linear(sum(c) -> c_i)``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import BRIDGES, Bridge


class SpatialAttentionBridge(nn.Module):
    """[mean over channels, max over channels] -> 7x7 conv, dilation 3 (bias) -> sigmoid."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=9, dilation=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(y))


class SCAB(Bridge):
    """Spatial-channel attention bridge over skips t_i with channels c_i.

    a_i = s(t_i) * t_i with the shared spatial map s; u_i = a_i + t_i. Channel part: v =
    Conv1d(1 -> 1, k 3, no bias) over concat_i GAP(u_i) (length sum(c)); g_i = sigmoid(Linear_i(v));
    output_i = g_i * u_i + a_i. Parameters: 99 + 3 + (sum(c) + 1) * sum(c).
    """

    def __init__(self, skip_channels: tuple[int, ...]) -> None:
        super().__init__()
        total = sum(skip_channels)
        self.spatial = SpatialAttentionBridge()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.channel_mix = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.channel_heads = nn.ModuleList(nn.Linear(total, c) for c in skip_channels)

    def prepare(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        gated = [self.spatial(t) * t for t in skips]
        mixed = [a + t for a, t in zip(gated, skips, strict=True)]
        v = torch.cat([self.pool(u).flatten(1) for u in mixed], dim=1)  # (B, sum c)
        v = self.channel_mix(v.unsqueeze(1))  # (B, 1, sum c)
        out = []
        for head, u, a in zip(self.channel_heads, mixed, gated, strict=True):
            g = torch.sigmoid(head(v)).transpose(1, 2).unsqueeze(-1)  # (B, c_i, 1, 1)
            out.append(g * u + a)
        return out

    def forward(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.prepare(skips)


def _scab_check(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> str | None:
    if not skip_channels:
        return "needs at least one skip"
    return None


@BRIDGES.register("scab", check=_scab_check)
def _scab(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> nn.Module:
    """Spatial-channel attention bridge (shared dilated spatial gate, cross-skip channel gate)."""
    return SCAB(tuple(skip_channels))
