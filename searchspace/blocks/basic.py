"""Plain convolutions: the 3x3 conv of the MALUNet family, a double conv, point-wise, stems."""

from __future__ import annotations

from torch import nn

from ..registry import BLOCKS, STEMS, BlockOptions
from .common import conv3, make_act, make_norm, pw


@BLOCKS.register("conv3", test_channels=(3, 8))
def _conv3(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """3x3 conv with bias (C3): the plain stage block of MALUNet / SCSONet / EGE-UNet."""
    return conv3(in_channels, out_channels)


@BLOCKS.register("double_conv", test_channels=(3, 8))
def _double_conv(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """(3x3 conv -> norm -> act) x 2, the standard U-Net stage (ULRTS-Net's 'DC')."""
    bias = opts.norm == "none"
    return nn.Sequential(
        conv3(in_channels, out_channels, bias=bias),
        make_norm(opts.norm, out_channels),
        make_act(opts.act),
        conv3(out_channels, out_channels, bias=bias),
        make_norm(opts.norm, out_channels),
        make_act(opts.act),
    )


@BLOCKS.register("pw", test_channels=(8, 16))
def _pw(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """1x1 conv with bias."""
    return pw(in_channels, out_channels)


@STEMS.register("conv3", test_channels=(3, 8))
def _stem_conv3(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """3x3 conv with bias at full resolution."""
    return conv3(in_channels, out_channels)


@STEMS.register("conv7", test_channels=(3, 16))
def _stem_conv7(in_channels: int, out_channels: int, opts: BlockOptions) -> nn.Module:
    """7x7 conv with bias at full resolution (U-Lite's stem)."""
    return nn.Conv2d(in_channels, out_channels, 7, padding=3)
