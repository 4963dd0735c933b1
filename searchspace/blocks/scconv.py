"""SCConv (spatial and channel reconstruction convolution) and PConv (partial convolution).

Both are parts of SCSONet's SCF block. SCConv = SRU (spatial reconstruction unit) followed by CRU
(channel reconstruction unit), in == out. PConv convolves the first half of the channels and
passes the second half through.

SRU's gate is a hard threshold, so its normalisation parameters (``sru.weight``, ``sru.bias``)
never receive a gradient: they only decide which features are "informative". That is the
published design; the registry entries declare it in ``meta["no_grad"]`` (suffixes of the
parameter names that get no gradient by construction).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..registry import BLOCKS, BlockOptions, divisible


class SRU(nn.Module):
    """Spatial reconstruction unit: gate x by a normalised response, swap-add the two halves.

    Normalisation: each sample's C*H*W values (channel-major) are cut into ``groups`` equal
    contiguous groups, each standardised, then scaled by per-channel gamma and shifted by beta.
    For C divisible by 16 this is GroupNorm(16, C); for other C (SCSONet's 24, 48) a group spans
    parts of two channels, which is what the authors' code computes (if C*H*W is not a multiple
    of 16, gcd(16, C*H*W) groups). r = sigmoid(GN(x) * gamma /
    sum(gamma)); x1 = [r >= 0.5] * x, x2 = [r < 0.5] * x; the output is
    concat(x1[:C/2] + x2[C/2:], x1[C/2:] + x2[:C/2]).
    """

    def __init__(
        self, channels: int, groups: int = 16, threshold: float = 0.5, eps: float = 1e-5
    ) -> None:
        super().__init__()
        self.groups = groups
        self.threshold = threshold
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def informative(self, x: torch.Tensor) -> torch.Tensor:
        """The hard gate [r >= threshold] as a float tensor shaped like x (no gradient)."""
        b, c, h, w = x.shape
        groups = math.gcd(self.groups, c * h * w)  # 16 unless C*H*W is not a multiple of 16
        with torch.no_grad():
            g = x.reshape(b, groups, -1)
            mean = g.mean(-1, keepdim=True)
            var = g.var(-1, unbiased=False, keepdim=True)
            xn = ((g - mean) / torch.sqrt(var + self.eps)).reshape(b, c, h, w)
            gn = xn * self.weight[:, None, None] + self.bias[:, None, None]
            w_gamma = (self.weight / self.weight.sum())[:, None, None]
            r = torch.sigmoid(gn * w_gamma)
            return (r >= self.threshold).to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = x.shape[1] // 2
        x1 = self.informative(x) * x
        x2 = x - x1
        return torch.cat([x1[:, :half] + x2[:, half:], x1[:, half:] + x2[:, :half]], dim=1)


class CRU(nn.Module):
    """Channel reconstruction unit: split, transform (rich upper / cheap lower), softmax-fuse.

    Upper half -> 1x1 squeeze to C/4 -> Y1 = groupconv3x3(C/4 -> C, groups 2, bias) + 1x1(C/4 -> C).
    Lower half -> 1x1 squeeze to C/4 -> Y2 = concat(1x1(C/4 -> 3C/4), itself).
    weights = softmax over the 2C channels of GAP([Y1; Y2]); out = sum of the two C-halves of
    weights * [Y1; Y2].
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        up = channels // 2
        low = channels - up
        self.split = (up, low)
        self.squeeze_up = nn.Conv2d(up, up // 2, 1, bias=False)
        self.squeeze_low = nn.Conv2d(low, low // 2, 1, bias=False)
        self.gwc = nn.Conv2d(up // 2, channels, 3, padding=1, groups=2)
        self.pwc_up = nn.Conv2d(up // 2, channels, 1, bias=False)
        self.pwc_low = nn.Conv2d(low // 2, channels - low // 2, 1, bias=False)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.softmax = nn.Softmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up, low = torch.split(x, self.split, dim=1)
        up = self.squeeze_up(up)
        low = self.squeeze_low(low)
        y1 = self.gwc(up) + self.pwc_up(up)
        y2 = torch.cat([self.pwc_low(low), low], dim=1)
        y = torch.cat([y1, y2], dim=1)
        y = y * self.softmax(self.pool(y))
        a, b = torch.split(y, x.shape[1], dim=1)
        return a + b


class SCConv(nn.Module):
    """SCConv(C): SRU then CRU, in == out."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.sru = SRU(channels)
        self.cru = CRU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cru(self.sru(x))


class PConv(nn.Module):
    """Partial conv: 3x3 conv (no bias) on the first C/2 channels, the rest passed through."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.part = channels // 2
        self.conv = nn.Conv2d(self.part, self.part, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(x, [self.part, x.shape[1] - self.part], dim=1)
        return torch.cat([self.conv(a), b], dim=1)


# CRU squeezes each half to C/4 and its group conv has 2 groups: C must be a multiple of 8.
# (SRU's 16 normalisation groups then divide C*H*W for any even H, W.)
SCCONV_CHECK = divisible(by_in=8, same=True)
PCONV_CHECK = divisible(by_in=2, same=True)


@BLOCKS.register(
    "scconv",
    check=SCCONV_CHECK,
    test_channels=(16, 16),
    meta={"no_grad": ("sru.weight", "sru.bias")},
)
def _scconv(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """SCConv (SRU + CRU), in == out, channels a multiple of 8 (CRU quarters, 2 groups)."""
    return SCConv(in_channels)


@BLOCKS.register("pconv", check=PCONV_CHECK, test_channels=(16, 16))
def _pconv(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """Partial conv: 3x3 (no bias) on the first half of the channels; in == out, even."""
    return PConv(in_channels)
