"""The network as its own cost model: exact parameters, thop MACs, torch MACs, activation memory.

``count_cost`` splits the network into parts (stem, encoder stages, bottleneck, decoder steps,
heads, bridge) and sums their costs, memoised: candidates share most of their parts. A part with
one input is memoised *size-free* as a law: its parameters and, for each counter, integers
a, b, c, d with ``MACs(h, w) = a + b h + c w + d h w`` in the part's input size. The law is
fitted on four tiny probes (a few pixels, real zero tensors on the CPU) and checked on a fifth;
a part that fails the check would be measured at its own shape instead (none here). Every MAC
count of these networks obeys that law: convolutions and norms scale with h w, poolings along
one axis add h or w terms, global poolings and their MLPs are constant. The bridge, which sees
several resolutions, is measured on the ``meta`` device at its own shapes. Counting uses the
lean counters of ``counters.py``, which equal thop and FlopCounterMode exactly and are several
times faster. ``method="whole"`` builds the whole network on the meta device and runs the real
``thop.profile`` and ``FlopCounterMode`` at the asked size: the reference the tests hold the
fast path to (equal, for every preset and sampled genotypes, at several sizes).

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
from .counters import count_macs_lean
from .genotype import Genotype
from .network import build_model
from .parts import HW_AT, build_part, free_key, iter_parts, unit, with_size

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
    """Bytes of the tensors autograd saves for backward in one training-mode forward pass.
    BatchNorm layers run in eval mode: on one image a 1x1 map leaves one value per channel, which
    BatchNorm refuses in train mode, and the tensors it saves are the same in both modes."""
    module.train()
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()
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
    module: nn.Module, inputs: tuple, *, memory: bool = False, lean: bool = False
) -> tuple[int, int, int, int]:
    """(params, thop MACs, torch MACs, saved-activation bytes or 0) of a module on meta inputs;
    ``lean`` counts with ``counters.count_macs_lean`` instead of thop.profile + FlopCounterMode."""
    params = sum(p.numel() for p in module.parameters())
    macs_thop, macs_torch = (count_macs_lean if lean else _count_macs)(module, inputs)
    return params, macs_thop, macs_torch, _saved_bytes(module, inputs) if memory else 0


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(*shape, device="meta")


PART_CACHE = PartCache()

# Probe sizes, in units of the part's own stride (2 for an encoder stage that pools, else 1):
# four to fit the law, one to check it.
_FIT = ((2, 2), (4, 2), (2, 4), (4, 4))
_CHECK = (3, 5)


def _part(key: tuple, genotype: Genotype) -> tuple[int, int, int, int]:
    """Cost of one part, memoised; ``genotype`` is only used to build the part on a miss.

    A part with one input shape is memoised by its size-free key as a *law*: its params and the
    coefficients of ``MACs(h, w) = a + b h + c w + d h w`` for each counter, fitted on tiny real
    CPU probes (see ``measure_part``), so one entry serves every image size. A part whose costs
    do not follow the law (none here, but the check is made) is measured at its own shape.
    """
    free = free_key(key)
    if free is not None:
        law = PART_CACHE.get(free)
        if law is None:
            measured = dict(measure_part(key, genotype))
            for k, v in measured.items():
                PART_CACHE.put(k, v)
            law = measured[free]
            if not law:
                return measured[key]
        if law:
            h, w = key[HW_AT[key[0]]], key[HW_AT[key[0]] + 1]
            return _apply_law(law, h, w)
    hit = PART_CACHE.get(key)
    if hit is None:
        hit = _build_and_measure(key, genotype)
        PART_CACHE.put(key, hit)
    return hit


def _apply_law(law: tuple, h: int, w: int) -> tuple[int, int, int, int]:
    params, *coef = law
    thop = coef[0] + coef[1] * h + coef[2] * w + coef[3] * h * w
    torch_ = coef[4] + coef[5] * h + coef[6] * w + coef[7] * h * w
    return params, thop, torch_, 0


def _fit(m: dict[tuple[int, int], int], sizes) -> tuple[int, int, int, int] | None:
    """Integer a, b, c, d with a + b h + c w + d h w = m[(h, w)] on the four fit sizes."""
    from fractions import Fraction

    (h1, w1), (h2, _), (_, w2), _ = sizes
    m11, m21, m12, m22 = (m[s] for s in sizes)
    d = Fraction(m22 - m21 - m12 + m11, (h2 - h1) * (w2 - w1))
    b = Fraction(m21 - m11, h2 - h1) - d * w1
    c = Fraction(m12 - m11, w2 - w1) - d * h1
    a = m11 - b * h1 - c * w1 - d * h1 * w1
    if any(v.denominator != 1 for v in (a, b, c, d)):
        return None
    return int(a), int(b), int(c), int(d)


def measure_part(key: tuple, genotype: Genotype) -> list[tuple[tuple, tuple]]:
    """Memo entries for one part: ``[(size-free key, law)]``, or, where no exact law fits (or a
    probe fails), ``[(size-free key, ()), (key, exact cost at the key's own shape)]``.

    The part is built once on the CPU and run in eval mode on zero images of five tiny sizes (a
    few pixels, in units of its own stride) under the lean counters (equal to thop and
    FlopCounterMode): four fit the law, the fifth must match it exactly. One such pass costs 1-2
    ms; one meta pass at the full size costs ~14 ms, as PyTorch runs meta element-wise ops
    through its Python reference implementations.
    """
    free = free_key(key)
    if free is None:
        return [(key, _build_and_measure(key, genotype))]
    u = unit(key)
    sizes = [(u * a, u * b) for a, b in (*_FIT, _CHECK)]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops: extra threads only wait for each other (or a busy core)
    try:
        with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the
            module, _ = build_part(with_size(key, *sizes[0]), genotype)  # caller's RNG as is
        params = sum(p.numel() for p in module.parameters())
        thop_m, torch_m = {}, {}
        for h, w in sizes:
            _, inputs = build_part(with_size(key, h, w), None, inputs_only=True)
            thop_m[(h, w)], torch_m[(h, w)] = count_macs_lean(module, inputs)
    except Exception:  # noqa: BLE001 - a probe this part cannot take: measure it at its shape
        return [(free, ()), (key, _build_and_measure(key, genotype))]
    finally:
        torch.set_num_threads(threads)
    laws = [_fit(m, sizes[:4]) for m in (thop_m, torch_m)]
    law = None if None in laws else (params, *laws[0], *laws[1])
    if law is not None and _apply_law(law, *sizes[4])[1:3] == (
        thop_m[sizes[4]],
        torch_m[sizes[4]],
    ):
        return [(free, law)]
    return [(free, ()), (key, _build_and_measure(key, genotype))]


def _build_and_measure(key: tuple, genotype: Genotype) -> tuple[int, int, int, int]:
    with torch.device("meta"):  # build only: the context slows every op run inside it
        module, inputs = build_part(key, genotype)
    return _measure(module, inputs, lean=True)


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


def cost_text(genotype: Genotype, cost: Cost, size: tuple[int, int]) -> str:
    """The ``cost`` verb's text: every count named by how it is computed."""
    g = genotype
    return (
        f"{g.name or 'genotype'} [{g.id}]: {g.summary()}\n"
        f"  params      {cost.params:>15,}\n"
        f"  MACs thop   {cost.macs_thop:>15,}   (thop.profile, what papers print as FLOPs)\n"
        f"  MACs torch  {cost.macs_torch:>15,}   (torch FlopCounterMode / 2)\n"
        f"  activations {cost.act_bytes:>15,} B (saved for backward, batch 1, fp32: "
        f"{cost.act_bytes / 2**20:.1f} MiB)\n"
        f"  at 1x{g.in_channels}x{size[0]}x{size[1]}\n"
    )
