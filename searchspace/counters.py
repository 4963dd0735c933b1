"""Lean MAC counters that give exactly thop's and FlopCounterMode's numbers, several times faster.

``count_macs_lean(module, inputs)`` runs one forward pass and returns ``(thop MACs, torch MACs)``:

* torch: a ``TorchDispatchMode`` that applies ``torch.utils.flop_counter``'s own registry of flop
  formulas to the same ops ``FlopCounterMode`` sees (it decomposes composite ops the same way and
  skips the same metadata queries), without ``FlopCounterMode``'s per-module bookkeeping (module
  hooks and per-parent tallies, which cost 5-8x a plain forward on tiny inputs). Whether an op
  has a composite decomposition is looked up once per op, not on every call.
* thop: thop's own per-module rules (``thop.profile.register_hooks``) attached as forward hooks
  and summed the way ``thop.profile`` sums them (a hooked module's total stands for its subtree,
  except for ``nn.Sequential`` / ``nn.ModuleList``), with thop's parameter-counting hook left out
  (its result is discarded) and the rules run outside the dispatch mode.

``searchspace.cost`` uses these on its fast path and the real ``thop.profile`` and
``FlopCounterMode`` for ``method="whole"``; the tests check that both give the same numbers.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils.flop_counter import flop_registry

_aten = torch.ops.aten
# The metadata queries FlopCounterMode leaves to the default implementation.
_PASS_THROUGH = {
    _aten.sym_is_contiguous.default,
    _aten.is_contiguous.default,
    _aten.is_contiguous.memory_format,
    _aten.is_strides_like_format.default,
    _aten.is_non_overlapping_and_dense.default,
    _aten.size.default,
    _aten.sym_size.default,
    _aten.stride.default,
    _aten.sym_stride.default,
    _aten.storage_offset.default,
    _aten.sym_storage_offset.default,
    _aten.numel.default,
    _aten.sym_numel.default,
    _aten.dim.default,
    torch.ops.prim.layout.default,
}
_COMPOSITE: dict = {}  # op -> whether it has a CompositeImplicitAutograd kernel


def _is_composite(func) -> bool:
    known = _COMPOSITE.get(func)
    if known is None:
        known = func is not torch.ops.prim.device.default and (
            torch._C._dispatch_has_kernel_for_dispatch_key(
                func.name(), torch._C.DispatchKey.CompositeImplicitAutograd
            )
        )
        _COMPOSITE[func] = known
    return known


class TorchMacCounter(TorchDispatchMode):
    """Counts FLOPs as ``FlopCounterMode.get_total_flops()`` does; ``macs`` = flops // 2."""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    @property
    def macs(self) -> int:
        return int(self.flops // 2)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: D105
        kwargs = kwargs or {}
        if func in _PASS_THROUGH:
            return NotImplemented
        if _is_composite(func):
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def _outside_modes(rule):
    def hook(module, inputs, output):
        with _disable_current_modes():
            rule(module, inputs, output)

    return hook


def _thop_total(module: nn.Module, hooked: set[nn.Module]) -> float:
    """thop.profile's dfs_count: a hooked child stands for its subtree (not containers)."""
    total = float(module.total_ops.item())
    for child in module.children():
        if child in hooked and not isinstance(child, (nn.Sequential, nn.ModuleList)):
            total += float(child.total_ops.item())
        else:
            total += _thop_total(child, hooked)
    return total


def count_macs_lean(module: nn.Module, inputs: tuple) -> tuple[int, int]:
    """(thop MACs, torch MACs) of ``module(*inputs)`` in eval mode, one forward pass."""
    from thop.profile import register_hooks  # thop prints on import in some versions

    was_training = module.training
    module.eval()
    modules = list(module.modules())
    hooked: set[nn.Module] = set()
    handles = []
    for m in modules:
        m.total_ops = torch.zeros(1, dtype=torch.float64)
        rule = register_hooks.get(type(m))
        if rule is not None:
            hooked.add(m)
            handles.append(m.register_forward_hook(_outside_modes(rule)))
    counter = TorchMacCounter()
    try:
        with (
            torch.no_grad(),
            counter,
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")
            module(*inputs)
        thop_macs = _thop_total(module, hooked)
    finally:
        for h in handles:
            h.remove()
        for m in modules:
            del m.total_ops
        module.train(was_training)
    return int(thop_macs), counter.macs
