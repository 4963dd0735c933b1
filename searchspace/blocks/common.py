"""Small layers shared by the blocks: norms and activations by name, conv shorthands, init."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import UnknownName


def make_norm(name: str, channels: int) -> nn.Module:
    """``gn4`` GroupNorm with 4 groups, ``bn`` BatchNorm2d, ``none`` Identity."""
    if name == "gn4":
        return nn.GroupNorm(4, channels)
    if name == "bn":
        return nn.BatchNorm2d(channels)
    if name == "none":
        return nn.Identity()
    raise UnknownName(f"unknown norm {name!r}; known: gn4, bn, none")


def make_act(name: str) -> nn.Module:
    if name == "gelu":
        return nn.GELU()
    if name == "relu":
        return nn.ReLU(inplace=False)
    raise UnknownName(f"unknown activation {name!r}; known: gelu, relu")


def conv3(in_channels: int, out_channels: int, *, bias: bool = True, groups: int = 1) -> nn.Conv2d:
    """3x3 convolution, stride 1, padding 1."""
    return nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias, groups=groups)


def pw(in_channels: int, out_channels: int, *, bias: bool = True) -> nn.Conv2d:
    """1x1 (point-wise) convolution."""
    return nn.Conv2d(in_channels, out_channels, 1, bias=bias)


def dw(
    channels: int, kernel: int | tuple[int, int] = 3, *, dilation: int = 1, bias: bool = True
) -> nn.Conv2d:
    """Depth-wise convolution with 'same' padding."""
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    pad = (dilation * (k[0] - 1) // 2, dilation * (k[1] - 1) // 2)
    return nn.Conv2d(
        channels, channels, k, padding=pad, dilation=dilation, groups=channels, bias=bias
    )


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) tensor (channels-first)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.weight[:, None, None] + self.bias[:, None, None]


def upsample(x: torch.Tensor, mode: str, *, scale: int = 2, size=None) -> torch.Tensor:
    """Resize by ``scale`` (or to ``size``): bilinear uses align_corners=True as the papers' code."""
    kwargs = {"size": size} if size is not None else {"scale_factor": scale}
    if mode == "bilinear":
        return F.interpolate(x, mode="bilinear", align_corners=True, **kwargs)
    if mode == "bicubic":
        return F.interpolate(x, mode="bicubic", align_corners=False, **kwargs)
    if mode == "nearest":
        return F.interpolate(x, mode="nearest", **kwargs)
    raise UnknownName(f"unknown upsample mode {mode!r}; known: bilinear, nearest, bicubic")


def init_weights(module: nn.Module) -> None:
    """The init of the MALUNet family: trunc-normal Linear, fan-out normal convs, zero biases."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv1d):
            n = m.kernel_size[0] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / n))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d):
            n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / max(n, 1)))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
