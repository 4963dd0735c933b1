"""The network as its own cost model: exact parameters, thop MACs, torch MACs, activation memory.

``count_cost`` builds every part of the network (stem, stages, bottleneck, bridge, heads) on the
``meta`` device - no memory, no initialisation work - and runs it on a meta tensor of the shape
that part sees, under thop's hooks and under ``torch.utils.flop_counter.FlopCounterMode``. A part's
cost depends only on its configuration and input shape, so it is memoised: pre-screening many
candidates re-uses the parts they share. ``method="whole"`` counts the whole network in one pass
instead; the two agree exactly (tested), the first is the fast path.

Definitions (also printed by ``search.py cost``):

* ``params`` - ``sum(p.numel() for p in model.parameters())``.
* ``macs_thop`` - ``thop.profile`` total at 1 x C x H x W: what the papers print as "FLOPs".
  thop counts only modules it has rules for: it misses convolutions run through ``F.conv2d``
  inside custom modules (ODConv), GroupNorm and LayerNorm, attention products, interpolation.
* ``macs_torch`` - ``FlopCounterMode`` total / 2: every matmul and convolution, wherever it runs,
  and nothing else (no norms, activations or element-wise products).
* ``act_bytes`` - bytes of the tensors autograd saves for the backward pass of one image (batch
  1, fp32): the activation memory of one training step, excluding weights, gradients and
  optimizer state. Multiply by the batch size for a batch.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .cost_cache import PartCache
from .genotype import Genotype, Slot
from .network import Bridge, DecoderStage, EncoderStage, build_model
from .registry import BLOCKS, BRIDGES, STEMS

COUNTERS = ("thop", "torch")


@dataclass(frozen=True)
class Cost:
    params: int
    macs_thop: int
    macs_torch: int
    act_bytes: int | None  # None when not measured (``memory=False``)
    image_size: tuple[int, int]

    def macs(self, counter: str) -> int:
        if counter == "thop":
            return self.macs_thop
        if counter == "torch":
            return self.macs_torch
        raise ValueError(f"unknown MAC counter {counter!r}; use one of: {', '.join(COUNTERS)}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.macs_thop + other.macs_thop,
            self.macs_torch + other.macs_torch,
            None
            if self.act_bytes is None or other.act_bytes is None
            else self.act_bytes + other.act_bytes,
            self.image_size,
        )


def _count_macs(module: nn.Module, inputs: tuple) -> tuple[int, int]:
    """(thop MACs, torch MACs) from ONE forward pass: thop's hooks run inside FlopCounterMode."""
    import thop  # imported lazily: it prints on import in some versions

    module.eval()
    # Called outside any torch.device context: thop creates its counters on the default device
    # (the CPU), and a device context would intercept (and slow down) every op.
    with (
        torch.no_grad(),
        FlopCounterMode(display=False) as counter,
        contextlib.redirect_stdout(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        macs_thop, _ = thop.profile(module, inputs=inputs, verbose=False)
    return int(macs_thop), int(counter.get_total_flops() // 2)


def _saved_bytes(module: nn.Module, inputs: tuple) -> int:
    """Bytes of the tensors autograd saves for backward in one training-mode forward pass."""
    module.train()
    param_ids = {id(p) for p in module.parameters()}
    seen: set[int] = set()
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        if id(t) not in param_ids and id(t) not in seen:
            seen.add(id(t))
            saved += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(*inputs)
    return saved


def _measure(
    module: nn.Module, inputs: tuple, *, memory: bool = False
) -> tuple[int, int, int, int]:
    """(params, thop MACs, torch MACs, saved-activation bytes or 0) of a module on meta inputs."""
    params = sum(p.numel() for p in module.parameters())
    macs_thop, macs_torch = _count_macs(module, inputs)
    return params, macs_thop, macs_torch, _saved_bytes(module, inputs) if memory else 0


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


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


PART_CACHE = PartCache()


def _part(key: tuple, genotype: Genotype) -> tuple[int, int, int, int]:
    """Cost of one part, memoised on ``key``, which holds everything the cost depends on;
    ``genotype`` is only used to build the part on a miss."""
    hit = PART_CACHE.get(key)
    if hit is None:
        hit = _build_and_measure(key, genotype)
        PART_CACHE.put(key, hit)
    return hit


def _build_and_measure(key: tuple, genotype: Genotype) -> tuple[int, int, int, int]:
    with torch.device("meta"):  # build only: the context slows every op run inside it
        module, inputs = _build_part(key, genotype)
    return _measure(module, inputs)


def _build_part(key: tuple, genotype: Genotype) -> tuple[nn.Module, tuple]:
    """The module of one part and meta inputs of the shapes it sees."""
    kind = key[0]
    if kind == "stem":
        _, name, cin, cout, h, w = key[:6]
        return STEMS.build(name, cin, cout, genotype.options), (_meta(1, cin, h, w),)
    if kind == "encoder":
        (block, cin, cout, index), last, h, w = key[1], key[2], key[3], key[4]
        stage = EncoderStage(genotype, Slot("encoder", index, block, cin, cout), last=last)
        return stage, (_meta(1, cin, h, w),)
    if kind == "bottleneck":
        _, name, c, h, w = key[:5]
        return BLOCKS.build(name, c, c, genotype.options), (_meta(1, c, h, w),)
    if kind == "decoder":
        (block, cin, cout, first), h, w = key[1], key[2], key[3]
        slot = Slot("decoder", 0 if first else 1, block, cin, cout)
        return DecoderStage(genotype, slot), (_meta(1, cin, h, w),)
    if kind == "head":
        _, cin, cout, h, w = key
        return nn.Conv2d(cin, cout, 1), (_meta(1, cin, h, w),)
    if kind == "bridge":
        _, skips_shapes, deep_shape, dec_shapes, mask_shapes = key[:5]
        bridge = BRIDGES.build(
            genotype.bridge, genotype.skip_channels(), genotype.widths[-1], genotype
        )
        inputs = (
            tuple(_meta(*s) for s in skips_shapes),
            _meta(*deep_shape),
            tuple(_meta(*s) for s in dec_shapes),
            tuple(_meta(*s) if s else None for s in mask_shapes),
        )
        return _BridgeProbe(bridge), inputs
    raise ValueError(f"unknown part {kind!r}")


def _opts_key(g: Genotype, block: str) -> tuple:
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
            yield ("stem", s.block, s.in_channels, s.out_channels, h, w, _opts_key(g, s.block))
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
            _opts_key(g, s.block),
        )
        if not (g.layout == "malunet" and last):
            ch, cw = ch // 2, cw // 2
    for s in slots:
        if s.role == "bottleneck":
            yield ("bottleneck", s.block, s.in_channels, ch, cw, _opts_key(g, s.block))
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
        opts = _opts_key(g, s.block)
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


def _check_size(g: Genotype, image_size: tuple[int, int]) -> tuple[int, int]:
    h, w = (int(v) for v in image_size)
    if h < 1 or w < 1 or h % g.stride or w % g.stride:
        raise ValueError(
            f"image size {h}x{w} is not a positive multiple of the network's total stride {g.stride}"
        )
    return h, w


def count_cost(
    genotype: Genotype,
    image_size: tuple[int, int] = (256, 256),
    *,
    memory: bool = False,
    method: str = "parts",
) -> Cost:
    """Exact params, thop MACs and torch MACs at one image of this size (+ activation bytes).

    ``method="parts"`` (default) sums memoised per-part costs: the fast path for pre-screening.
    ``"whole"`` measures the whole network in one pass (slower; tests check both agree).
    ``memory=True`` adds ``act_bytes``, always measured on the whole network: a tensor crossing
    a part boundary may be saved on both sides, so per-part memory does not add up exactly.
    """
    h, w = _check_size(genotype, image_size)
    if method not in ("parts", "whole"):
        raise ValueError(f"unknown method {method!r}; use 'parts' or 'whole'")
    if method == "whole" or memory:
        with torch.device("meta"):
            model = build_model(genotype)
        whole = _measure(model, (_meta(1, genotype.in_channels, h, w),), memory=True)
        if method == "whole":
            return Cost(*whole, (h, w))
    total = Cost(0, 0, 0, 0, (h, w))
    for key in iter_parts(genotype, (h, w)):
        p, mt, mo, _ = _part(key, genotype)
        total = total + Cost(p, mt, mo, 0, (h, w))
    return Cost(
        total.params, total.macs_thop, total.macs_torch, whole[3] if memory else None, (h, w)
    )


def count_params(genotype: Genotype) -> int:
    """Exact parameter count (independent of the image size)."""
    with torch.device("meta"):
        model = build_model(genotype)
    return sum(p.numel() for p in model.parameters())
