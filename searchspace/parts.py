"""The parts of a network, as the cost model sees them: memo keys, and how to build each part.

A network is split into stem, encoder stages, bottleneck, decoder steps, heads and bridge.
``iter_parts`` yields one key per part: a tuple of primitives holding everything the part's cost
depends on (block, channels, options, the input shape it sees). ``build_part`` builds the part
and inputs of that shape; ``memo_key`` drops the input size where the part's cost follows the
size law of ``cost.py`` (every part with one input).
"""

from __future__ import annotations

import torch
from torch import nn

from .genotype import Genotype, Slot
from .network import Bridge, DecoderStage, EncoderStage
from .registry import BLOCKS, BRIDGES, STEMS

# Where a part's key holds its input height (the width follows); bridges see several shapes and
# are always measured at their own shapes.
HW_AT = {"stem": 4, "encoder": 3, "bottleneck": 3, "decoder": 2, "head": 3}


def memo_key(key: tuple) -> tuple:
    """The key under which the memo holds this part (size-free where a law applies)."""
    return free_key(key) or key


def free_key(key: tuple) -> tuple | None:
    """The key without its input size (None for a bridge, which sees several sizes)."""
    i = HW_AT.get(key[0])
    return None if i is None else ("law", *key[:i], None, None, *key[i + 2 :])


def with_size(key: tuple, h: int, w: int) -> tuple:
    i = HW_AT[key[0]]
    return (*key[:i], h, w, *key[i + 2 :])


def unit(key: tuple) -> int:
    """The part's own stride: an encoder stage halves its input unless it is malunet's last."""
    return 2 if key[0] == "encoder" and not key[2] else 1


def build_part(
    key: tuple, genotype: Genotype | None, *, inputs_only: bool = False
) -> tuple[nn.Module | None, tuple]:
    """The module of one part and inputs of the shapes it sees (meta inside a meta device
    context, else zeros on the CPU); with ``inputs_only`` the module is not built."""
    kind = key[0]

    def new(*shape: int) -> torch.Tensor:
        return torch.zeros(*shape)

    def build(make):
        return None if inputs_only else make()

    if kind == "stem":
        _, name, cin, cout, h, w = key[:6]
        return build(lambda: STEMS.build(name, cin, cout, genotype.options)), (new(1, cin, h, w),)
    if kind == "encoder":
        (block, cin, cout, index), last, h, w = key[1], key[2], key[3], key[4]
        return build(
            lambda: EncoderStage(genotype, Slot("encoder", index, block, cin, cout), last=last)
        ), (new(1, cin, h, w),)
    if kind == "bottleneck":
        _, name, c, h, w = key[:5]
        return build(lambda: BLOCKS.build(name, c, c, genotype.options)), (new(1, c, h, w),)
    if kind == "decoder":
        (block, cin, cout, first), h, w = key[1], key[2], key[3]
        slot = Slot("decoder", 0 if first else 1, block, cin, cout)
        return build(lambda: DecoderStage(genotype, slot)), (new(1, cin, h, w),)
    if kind == "head":
        _, cin, cout, h, w = key
        return build(lambda: nn.Conv2d(cin, cout, 1)), (new(1, cin, h, w),)
    if kind == "bridge":
        _, skips_shapes, deep_shape, dec_shapes, mask_shapes = key[:5]
        bridge = build(
            lambda: BRIDGES.build(
                genotype.bridge, genotype.skip_channels(), genotype.widths[-1], genotype
            )
        )
        inputs = (
            tuple(new(*s) for s in skips_shapes),
            new(*deep_shape),
            tuple(new(*s) for s in dec_shapes),
            tuple(new(*s) if s else None for s in mask_shapes),
        )
        return (None if bridge is None else _BridgeProbe(bridge)), inputs
    raise ValueError(f"unknown part {kind!r}")


def opts_key(g: Genotype, block: str) -> tuple:
    entry = BLOCKS.entry(block) if block in BLOCKS else STEMS.entry(block)
    return (
        g.norm,
        g.act,
        g.attention if entry.takes_attention else "none",
        g.compression if entry.takes_compression else 0,
    )


def iter_parts(g: Genotype, image_size: tuple[int, int]):
    """Yield the cache key of every part of the network with the input shape it sees."""
    h, w = image_size
    slots = g.slots()
    for s in slots:
        if s.role == "stem":
            yield ("stem", s.block, s.in_channels, s.out_channels, h, w, opts_key(g, s.block))
    enc = [s for s in slots if s.role == "encoder"]
    res = []  # resolution each encoder stage sees
    ch, cw = h, w
    for i, s in enumerate(enc):
        res.append((ch, cw))
        last = i == len(enc) - 1
        # the ulite stage's widening conv reads g.widths[index]: the index matters only there
        index = i if g.layout == "ulite" else 0
        widen = g.widths[i] if g.layout == "ulite" else 0
        yield (
            "encoder",
            (s.block, s.in_channels, s.out_channels, index),
            last and g.layout == "malunet",
            ch,
            cw,
            g.layout,
            widen,
            opts_key(g, s.block),
        )
        if not (g.layout == "malunet" and last):
            ch, cw = ch // 2, cw // 2
    for s in slots:
        if s.role == "bottleneck":
            yield ("bottleneck", s.block, s.in_channels, ch, cw, opts_key(g, s.block))
    dec = [s for s in slots if s.role == "decoder"]
    skips = g.skip_channels()
    if g.layout == "malunet":
        skip_res = [(r[0] // 2, r[1] // 2) for r in res[:-1]]
    else:
        skip_res = res
    dec_shapes, mask_shapes = [], []
    for k, s in enumerate(dec):
        level = len(skips) - 1 - k
        sh, sw = skip_res[level]
        # malunet decoder steps up-sample inside the stage (but the first); unet ones before it
        dh, dw_ = (sh // 2, sw // 2) if g.layout == "malunet" and k > 0 else (sh, sw)
        opts = opts_key(g, s.block)
        first = k == 0
        yield (
            "decoder",
            (s.block, s.in_channels, s.out_channels, first),
            dh,
            dw_,
            g.layout,
            g.upsample,
            opts,
        )
        if g.layout == "malunet":
            dec_shapes.append((1, s.out_channels, sh, sw))
        else:
            prev = g.widths[-1] if k == 0 else dec[k - 1].out_channels
            dec_shapes.append((1, prev, sh, sw))
        if g.deep_supervision:
            yield ("head", s.out_channels, g.out_channels, sh, sw)
        mask_shapes.append(
            (1, g.out_channels, sh, sw) if g.deep_supervision and g.layout == "malunet" else ()
        )
    last_dec = dec[-1]
    oh, ow = skip_res[0]
    yield ("head", last_dec.out_channels, g.out_channels, oh, ow)
    if g.bridge != "none":
        deep_shape = (1, g.widths[-1], *(res[-1] if g.layout == "malunet" else (ch, cw)))
        yield (
            "bridge",
            tuple((1, c, *skip_res[i]) for i, c in enumerate(skips)),
            deep_shape,
            tuple(dec_shapes),
            tuple(mask_shapes),
            g.bridge,
            g.layout,
            g.deep_supervision,
            g.out_channels,
            g.norm,
            g.act,
        )


class _BridgeProbe(nn.Module):
    """Calls a bridge the way ``Network.forward`` does, on tensors of the right shapes."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge

    def forward(self, skips, deep, decoders, masks):  # noqa: D102
        skips = self.bridge.prepare(list(skips))
        deeper = deep
        for k, (dec, mask) in enumerate(zip(decoders, masks, strict=True)):
            skip = self.bridge.fuse(
                k, skips[len(skips) - 1 - k], deeper=deeper, decoder=dec, mask=mask
            )
            deeper = skip
        return skips
