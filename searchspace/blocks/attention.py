"""Channel attention (ECA), spatial attention, and the orders in which a block applies them.

Orders: ``none``; ``sa``; ``ca``; ``sa_ca`` (spatial then channel); ``ca_sa`` (channel then
spatial); ``parallel`` - x * (alpha * CA(x) + beta * SA(x)) with learnable scalars initialised to
1, as LMSAUnet's ECDF module. Each attention map is a sigmoid gate multiplied onto the input.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import ATTENTIONS, BlockOptions


def eca_kernel(channels: int) -> int:
    """ECA's adaptive 1-D kernel: int(log2(C) / 2 + 1), made odd, at least 3."""
    k = int(math.log2(channels) / 2 + 1)
    k = k if k % 2 else k + 1
    return max(k, 3)


class ChannelGate(nn.Module):
    """ECA: global average pool -> 1-D conv across channels (no bias) -> sigmoid."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        k = eca_kernel(channels)
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)
        return torch.sigmoid(self.conv(y)).transpose(1, 2).unsqueeze(-1)  # (B, C, 1, 1)


class SpatialGate(nn.Module):
    """Channel mean and max -> 7x7 conv (with bias) -> sigmoid; a (B, 1, H, W) map."""

    def __init__(self, kernel: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(y))


class Sequential2(nn.Module):
    """Two gates one after the other: y = x * g1(x); out = y * g2(y)."""

    def __init__(self, first: nn.Module, second: nn.Module) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * self.first(x)
        return y * self.second(y)


class Single(nn.Module):
    def __init__(self, gate: nn.Module) -> None:
        super().__init__()
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class Parallel(nn.Module):
    """x * (alpha * CA(x) + beta * SA(x)), alpha and beta learnable, both starting at 1."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.ca = ChannelGate(channels)
        self.sa = SpatialGate()
        self.alpha = nn.Parameter(torch.ones(1))
        self.beta = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (self.alpha * self.ca(x) + self.beta * self.sa(x))


@ATTENTIONS.register("sa", doc="spatial attention (mean/max -> 7x7 conv -> sigmoid)")
def _sa(channels: int, opts: BlockOptions) -> nn.Module:
    return Single(SpatialGate())


@ATTENTIONS.register("ca", doc="channel attention, ECA (GAP -> 1-D conv -> sigmoid)")
def _ca(channels: int, opts: BlockOptions) -> nn.Module:
    return Single(ChannelGate(channels))


@ATTENTIONS.register("sa_ca", doc="spatial then channel attention")
def _sa_ca(channels: int, opts: BlockOptions) -> nn.Module:
    return Sequential2(SpatialGate(), ChannelGate(channels))


@ATTENTIONS.register("ca_sa", doc="channel then spatial attention")
def _ca_sa(channels: int, opts: BlockOptions) -> nn.Module:
    return Sequential2(ChannelGate(channels), SpatialGate())


@ATTENTIONS.register("parallel", doc="x * (alpha*CA + beta*SA), learnable alpha, beta")
def _parallel(channels: int, opts: BlockOptions) -> nn.Module:
    return Parallel(channels)


def make_attention(order: str, channels: int, opts: BlockOptions | None = None) -> nn.Module:
    """The attention module for an order; ``none`` is an Identity."""
    if order == "none":
        return nn.Identity()
    return ATTENTIONS.build(order, channels, opts or BlockOptions())
