"""``build_model(genotype)``: the network a genotype describes.

The network is a small set of parts (stem, encoder stages, bottleneck, bridge, decoder stages,
deep-supervision heads, head); the wiring between them is the layout's and has no parameters.
``count_cost`` relies on that: the cost of a network is the sum of the costs of its parts.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks.common import init_weights, make_act, make_norm, pw, upsample
from .genotype import Genotype, Slot
from .registry import BLOCKS, BRIDGES, STEMS, BlockOptions, Bridge

__all__ = ["Bridge", "DecoderStage", "EncoderStage", "Network", "build_model"]


class EncoderStage(nn.Module):
    """One encoder stage in the wiring of its layout; returns (skip, down-sampled output)."""

    def __init__(self, g: Genotype, slot: Slot, *, last: bool) -> None:
        super().__init__()
        opts = g.options
        self.layout = g.layout
        self.last = last
        self.block = BLOCKS.build(slot.block, slot.in_channels, slot.out_channels, opts)
        self.pool = nn.MaxPool2d(2)
        if g.layout == "malunet":
            self.norm = nn.Identity() if last else make_norm(g.norm, slot.out_channels)
            self.act = make_act(g.act)
        elif g.layout == "ulite":
            out = g.widths[slot.index]
            self.norm = make_norm(g.norm, slot.out_channels)
            self.widen = pw(slot.out_channels, out)
            self.act = make_act(g.act)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.layout == "malunet":
            if self.last:
                y = self.act(self.block(x))
                return y, y
            y = self.act(self.pool(self.norm(self.block(x))))
            return y, y
        if self.layout == "unet":
            y = self.block(x)
            return y, self.pool(y)
        skip = self.norm(self.block(x))
        return skip, self.act(self.pool(self.widen(skip)))


class DecoderStage(nn.Module):
    """One decoder step. malunet: act(up(norm(block(x)))); unet/ulite: block(cat(up(x), skip))."""

    def __init__(self, g: Genotype, slot: Slot) -> None:
        super().__init__()
        self.layout = g.layout
        self.mode = g.upsample
        self.first = slot.index == 0
        self.block = BLOCKS.build(slot.block, slot.in_channels, slot.out_channels, g.options)
        if g.layout == "malunet":
            self.norm = make_norm(g.norm, slot.out_channels)
            self.act = make_act(g.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "malunet":
            y = self.norm(self.block(x))
            return self.act(y if self.first else upsample(y, self.mode))
        return self.block(x)


class Network(nn.Module):
    """A segmentation network built from a genotype; returns logits (B, out, H, W)."""

    def __init__(self, genotype: Genotype) -> None:
        super().__init__()
        g = genotype
        self.genotype = g
        self.supports_aux = g.deep_supervision
        slots = g.slots()
        opts: BlockOptions = g.options
        stem = [s for s in slots if s.role == "stem"]
        self.stem = (
            STEMS.build(g.stem, stem[0].in_channels, stem[0].out_channels, opts)
            if stem
            else nn.Identity()
        )
        enc = [s for s in slots if s.role == "encoder"]
        self.encoder = nn.ModuleList(
            EncoderStage(g, s, last=(i == len(enc) - 1)) for i, s in enumerate(enc)
        )
        bott = [s for s in slots if s.role == "bottleneck"]
        self.bottleneck = (
            BLOCKS.build(bott[0].block, bott[0].in_channels, bott[0].out_channels, opts)
            if bott
            else nn.Identity()
        )
        self.decoder = nn.ModuleList(DecoderStage(g, s) for s in slots if s.role == "decoder")
        skips = g.skip_channels()
        self.bridge: Bridge = (
            BRIDGES.build(g.bridge, skips, g.widths[-1], g) if g.bridge != "none" else Bridge()
        )
        dec_out = g.decoder_channels()
        self.aux_heads = nn.ModuleList(
            pw(c, g.out_channels) for c in (dec_out if g.deep_supervision else ())
        )
        self.head = pw(dec_out[-1], g.out_channels)
        if g.layout == "malunet":
            init_weights(self)

    def check_input(self, x: torch.Tensor) -> None:
        g = self.genotype
        if x.ndim != 4 or x.shape[1] != g.in_channels:
            raise ValueError(f"expected input (B, {g.in_channels}, H, W), got {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h % g.stride or w % g.stride:
            raise ValueError(
                f"input size {h}x{w} is not a multiple of the network's total stride {g.stride} "
                f"(try {max(g.stride, h // g.stride * g.stride)}x{max(g.stride, w // g.stride * g.stride)})"
            )

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        self.check_input(x)
        g = self.genotype
        x = self.stem(x)
        skips: list[torch.Tensor] = []
        for stage in self.encoder:
            skip, x = stage(x)
            skips.append(skip)
        if g.layout == "malunet":
            skips.pop()  # the last stage is the bottleneck: its output is not a skip
        x = self.bottleneck(x)
        skips = self.bridge.prepare(skips)
        deeper = x
        aux: list[torch.Tensor] = []
        for k, stage in enumerate(self.decoder):
            skip = skips[len(skips) - 1 - k]
            if g.layout == "malunet":
                x = stage(x)
                mask = self.aux_heads[k](x) if self.aux_heads else None
                skip = self.bridge.fuse(k, skip, deeper=deeper, decoder=x, mask=mask)
                x = x + skip
            else:
                up = upsample(x, g.upsample)
                skip = self.bridge.fuse(k, skip, deeper=deeper, decoder=up, mask=None)
                x = stage(torch.cat([up, skip], dim=1))
                mask = self.aux_heads[k](x) if self.aux_heads else None
            if mask is not None:
                aux.append(mask)
            deeper = skip
        out = self.head(x)
        if g.layout == "malunet":
            out = upsample(out, "bilinear")
        if return_aux:
            return out, aux
        return out


def build_model(genotype: Genotype) -> Network:
    """The ``nn.Module`` a genotype describes (fresh weights, CPU)."""
    return Network(genotype)
