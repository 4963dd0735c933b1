"""LMSAUnet's ECDF module: compress, cascade cheap depth-wise convs, expand, attend.

ECDF(in -> out, N), with K = (N - 2) / 2 and the genotype's compression N and attention order:

1. Conv unit (PW without bias -> BatchNorm -> act) in -> out / N;
2. split by channel parity into even- and odd-indexed halves of out / 2N channels;
3. K DW units (depth-wise 3x3 without bias -> BatchNorm) applied as a cascade to each half, the same
   K units (shared weights) serving both halves;
4. concatenate [E0, E1..EK, O0, O1..OK] = out / 2 channels;
5. Conv unit out / 2 -> out;
6. attention (order ``parallel`` is the paper's x * (alpha * CA + beta * SA));
7. residual when in == out.

The units always use BatchNorm, whatever the genotype's norm (it is part of the module, as GHPA's
LayerNorm is): the genotype's norm is the layout's, and GroupNorm(4) would need out / 2N
divisible by 4. The activation is the genotype's. With attention ``parallel`` the parameters are
in*out/N + 2 out/N + 11 K out/(2N) + out^2/2 + 2 out + 5 + 99 + 2 (ECA kernel 5 for 64..512).
"""

from __future__ import annotations

import torch
from torch import nn

from ..registry import BLOCKS, COMPRESSIONS, BlockOptions
from .attention import make_attention
from .common import make_act


def conv_unit(in_channels: int, out_channels: int, act: str) -> nn.Sequential:
    """PW conv without bias -> BatchNorm -> act: LMSAUnet's 'Conv' unit."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        make_act(act),
    )


def dw_unit(channels: int) -> nn.Sequential:
    """Depth-wise 3x3 conv without bias -> BatchNorm: LMSAUnet's 'DW' unit."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
        nn.BatchNorm2d(channels),
    )


class ECDF(nn.Module):
    """Compress to out/N, cascade (N-2)/2 shared DW units on the two parity halves, expand, attend."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__()
        n = opts.compression
        mid = out_channels // n
        half = mid // 2
        self.compress = conv_unit(in_channels, mid, opts.act)
        self.cascade = nn.ModuleList(dw_unit(half) for _ in range((n - 2) // 2))
        self.expand = conv_unit(out_channels // 2, out_channels, opts.act)
        self.attention = make_attention(opts.attention, out_channels, opts)
        self.residual = in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.compress(x)
        even, odd = [y[:, 0::2]], [y[:, 1::2]]
        for unit in self.cascade:
            even.append(unit(even[-1]))
            odd.append(unit(odd[-1]))
        y = self.attention(self.expand(torch.cat(even + odd, dim=1)))
        return y + x if self.residual else y


def _check_ecdf(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    n = opts.compression
    if n not in COMPRESSIONS or (n - 2) // 2 < 0:
        return f"compression N must be one of {COMPRESSIONS}, got {n}"
    if out_channels % (2 * n):
        return f"needs out_channels divisible by 2N = {2 * n}, got {out_channels}"
    return None


@BLOCKS.register(
    "ecdf",
    check=_check_ecdf,
    takes_attention=True,
    takes_compression=True,
    test_channels=(32, 128),
)
def _ecdf(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ECDF (LMSAUnet): PW to out/N, shared DW cascade on parity halves, PW to out, attention."""
    return ECDF(in_channels, out_channels, opts)
