"""DSNET's parts, reconstructed from the abstract (no paper text, no code): SDC and the gate bridge.

* ``sdc``   detail-enhanced separable difference convolution: a depthwise-separable conv whose
  depthwise 3x3 adds a central-difference term (CDC, Yu et al. 2020) to keep edges:
  d(x) = DW_w(x) + theta * (DW_w(x) - x * sum(w)), theta = 0.7; then norm -> act -> PW -> norm ->
  act. ``x * sum(w)`` is one extra depthwise 1x1 conv whose kernel is the per-channel sum of w.
* bridge ``gate``  dynamic gate attention: at every decoder step the skip is multiplied by a
  spatial gate and a channel gate computed from [skip, decoder feature] (Attention U-Net's
  additive gate, plus a channel gate).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import BLOCKS, BRIDGES, BlockOptions, Bridge
from .common import make_act, pw
from .ulrts import DSC, norm_check

THETA = 0.7  # CDC's default weight of the central-difference term


class DifferenceDW(nn.Module):
    """Depthwise 3x3 plus theta times its central difference: DW_w(x) + theta*(DW_w(x) - x*sum w)."""

    def __init__(self, channels: int, *, theta: float = THETA, bias: bool = False) -> None:
        super().__init__()
        self.theta = theta
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vanilla = self.conv(x)
        kernel_sum = self.conv.weight.sum(dim=(2, 3), keepdim=True)  # (C, 1, 1, 1)
        # the bias cancels in the difference: vanilla - centre = DW_w(x) - x * sum(w)
        centre = F.conv2d(x, kernel_sum, self.conv.bias, groups=self.conv.groups)
        return vanilla + self.theta * (vanilla - centre)


class SDC(DSC):
    """A DSC whose depthwise conv is a ``DifferenceDW``: d(x) -> norm -> act -> PW -> norm -> act."""

    def __init__(self, in_channels: int, out_channels: int, opts: BlockOptions) -> None:
        super().__init__(in_channels, out_channels, opts)
        self.dw = DifferenceDW(in_channels, bias=opts.norm == "none")


@BLOCKS.register("sdc", check=norm_check(), decoder="sdc", test_channels=(16, 32))
def _sdc(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """DSNET's detail-enhanced separable difference conv: (DW3 + 0.7 central difference) -> norm -> act -> PW -> norm -> act."""
    return SDC(in_channels, out_channels, opts)


class GateUnit(nn.Module):
    """Gate one skip (c channels) by a decoder feature (d channels), m = ceil(c/4) inner channels.

    q = act(PW(c->m)(skip) + PW(d->m)(decoder)); spatial gate s = sigmoid(PW(m->1)(q));
    channel gate g = sigmoid(PW(m->c)(mean_hw(q))); out = skip * s * g.
    """

    def __init__(self, skip_channels: int, decoder_channels: int, act: str) -> None:
        super().__init__()
        inner = (skip_channels + 3) // 4
        self.theta = pw(skip_channels, inner, bias=False)
        self.phi = pw(decoder_channels, inner)
        self.act = make_act(act)
        self.spatial = pw(inner, 1)
        self.channel = pw(inner, skip_channels)

    def forward(self, skip: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
        q = self.act(self.theta(skip) + self.phi(decoder))
        s = torch.sigmoid(self.spatial(q))
        g = torch.sigmoid(self.channel(q.mean(dim=(2, 3), keepdim=True)))
        return skip * s * g


def gate_decoder_channels(skip_channels: tuple[int, ...], deep_channels: int, layout: str):
    """The channels of the decoder feature the bridge sees at each step (deepest first).

    malunet: the decoder output of the step, as wide as its skip; unet / ulite: the up-sampled
    decoder input, i.e. the bottleneck output (``deep_channels``) then the previous decoder output
    (as wide as the previous, deeper skip).
    """
    deep_first = tuple(reversed(skip_channels))
    if layout == "malunet":
        return deep_first
    return (deep_channels, *deep_first[:-1])


class GateBridge(Bridge):
    """DSNET's dynamic gate attention bridge: one ``GateUnit`` per decoder step."""

    def __init__(self, skip_channels: tuple[int, ...], deep_channels: int, genotype) -> None:
        super().__init__()
        dec = gate_decoder_channels(skip_channels, deep_channels, genotype.layout)
        self.units = nn.ModuleList(
            GateUnit(c, d, genotype.act) for c, d in zip(reversed(skip_channels), dec, strict=True)
        )

    def fuse(
        self,
        level: int,
        skip: torch.Tensor,
        *,
        deeper: torch.Tensor,
        decoder: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        return self.units[level](skip, decoder)


def _gate_check(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> str | None:
    if not skip_channels:
        return "needs at least one skip"
    return None


@BRIDGES.register("gate", check=_gate_check)
def _gate(skip_channels: tuple[int, ...], deep_channels: int, genotype) -> Bridge:
    """DSNET's dynamic gate attention: skip * sigmoid spatial gate * sigmoid channel gate from [skip, decoder]."""
    return GateBridge(tuple(skip_channels), deep_channels, genotype)
