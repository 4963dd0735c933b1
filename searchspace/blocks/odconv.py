"""ODConv, omni-dimensional dynamic convolution (SCSONet's "ConvStem" stage block).

One 3x3 kernel (kernel_num 1, no bias) modulated per sample by three attentions computed from
the global average of the input: a channel attention (scales the input channels), a filter
attention (scales the output channels) and a spatial attention (scales the 9 kernel positions).
With a single kernel the fourth ODConv attention (over kernels) is constant and is left out.

The per-sample kernel is applied as one grouped convolution over the batch (``F.conv2d`` with
``groups = B``). thop does not see that call: its MACs appear only in torch's count.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BLOCKS, STEMS, BlockOptions


def attention_width(in_channels: int) -> int:
    """ODConv's hidden width: max(int(in / 16), 16)."""
    return max(in_channels // 16, 16)


class ODConv3(nn.Module):
    """ODConv 3x3 (in -> out): one kernel scaled per sample by channel, filter and spatial attention.

    Attention: GAP -> 1x1 (in -> A, no bias) -> BatchNorm(A) -> ReLU, then three 1x1 heads with
    bias and a sigmoid: A -> in (channel), A -> out (filter), A -> 9 (spatial). A train-mode
    batch of 1 (which makes the authors' BatchNorm fail) is normalised with the running statistics.
    """

    # Read by trainer.evaluation.resolve_channels_last: on CPU this per-sample grouped conv is
    # slower in NHWC (benchmarks/channels_last.py), so "auto" trains such networks contiguous.
    channels_last_cpu = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        hidden = attention_width(in_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(in_channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU(inplace=False)
        self.channel_head = nn.Conv2d(hidden, in_channels, 1)
        self.filter_head = nn.Conv2d(hidden, out_channels, 1)
        self.spatial_head = nn.Conv2d(hidden, kernel_size * kernel_size, 1)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        # kaiming-normal, fan_out, ReLU gain: N(0, sqrt(2 / (k*k*out)))
        fan_out = out_channels * kernel_size * kernel_size
        nn.init.normal_(self.weight, 0.0, math.sqrt(2.0 / fan_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        k = self.kernel_size
        a = self.fc(self.pool(x))
        if self.training and b == 1:
            # batch statistics of one sample are undefined (nn.BatchNorm raises): use the running
            # statistics instead of failing, as in eval mode, and leave them unchanged
            bn = self.bn
            a = F.batch_norm(
                a, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
            )
        else:
            a = self.bn(a)
        a = self.relu(a)
        channel = torch.sigmoid(self.channel_head(a))  # (B, in, 1, 1)
        filters = torch.sigmoid(self.filter_head(a))  # (B, out, 1, 1)
        spatial = torch.sigmoid(self.spatial_head(a)).reshape(b, 1, 1, k, k)
        kernel = (self.weight.unsqueeze(0) * spatial).reshape(b * self.out_channels, c, k, k)
        y = F.conv2d((x * channel).reshape(1, b * c, h, w), kernel, padding=k // 2, groups=b)
        out = y.reshape(b, self.out_channels, h, w) * filters
        # the per-sample grouped conv works on a (1, B*C, H, W) view, which is NCHW whatever x
        # was: hand a channels_last input's layout back, so the layers after it stay in NHWC
        # (on CUDA, where channels_last is on for every network)
        if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            out = out.contiguous(memory_format=torch.channels_last)
        return out


@BLOCKS.register("odconv3", test_channels=(8, 16))
def _odconv3(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ODConv 3x3 (in -> out, no bias): per-sample channel/filter/spatial attention on one kernel."""
    return ODConv3(in_channels, out_channels)


@STEMS.register("odconv3", test_channels=(3, 8))
def _stem_odconv3(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """ODConv 3x3 at full resolution (per-sample attention-scaled kernel, no bias)."""
    return ODConv3(in_channels, out_channels)
