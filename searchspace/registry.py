"""String registries: one per kind of building block, each entry with one signature per kind.

Kinds and their factory signatures:

* ``BLOCKS``     ``factory(in_channels, out_channels, opts: BlockOptions) -> nn.Module``
                  (x: (B, in, H, W)) -> (B, out, H, W)
* ``STEMS``      same signature as blocks; applied once at full resolution before stage 1.
* ``ATTENTIONS`` ``factory(channels, opts) -> nn.Module`` (x) -> x re-weighted, same shape.
* ``BRIDGES``    ``factory(skip_channels, deep_channels, genotype) -> Bridge`` (``Bridge`` below);
                  its ``check(skip_channels, deep_channels, genotype)``.

Each entry carries metadata used for validation and by the search space: a ``check`` callable
returning an error message (or ``None``) for a channel configuration, whether the entry consumes
the genotype's attention order or ECDF compression factor, the decoder-side variant of a block,
and the channel sizes its unit test uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

NORMS = ("gn4", "bn", "none")
ACTIVATIONS = ("gelu", "relu")
ATTENTION_ORDERS = ("none", "sa", "ca", "sa_ca", "ca_sa", "parallel")
UPSAMPLE_MODES = ("bilinear", "nearest", "bicubic")
COMPRESSIONS = (2, 4, 8, 16, 32)


@dataclass(frozen=True)
class BlockOptions:
    """Network-wide options a block may read. Blocks ignore the ones they do not declare."""

    norm: str = "gn4"
    act: str = "gelu"
    attention: str = "none"
    compression: int = 8


Check = Callable[[int, int, BlockOptions], "str | None"]


def _no_check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
    return None


@dataclass(frozen=True)
class Entry:
    name: str
    factory: Callable[..., nn.Module]
    check: Check = _no_check
    takes_attention: bool = False
    takes_compression: bool = False
    decoder: str | None = None  # the decoder-side variant of an encoder block, if any
    test_channels: tuple[int, int] = (16, 32)
    doc: str = ""
    meta: dict = field(default_factory=dict)


class UnknownName(KeyError):
    """A name that no registry, preset list or option table knows; its text is the whole message.

    A ``KeyError`` (callers that look names up keep working) whose ``str`` is the message itself,
    not its ``repr``: the command line prints it as one clean line.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry:
    """A mapping from names to factories that refuses duplicates and explains unknown names."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, **meta) -> Callable:
        def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
            if name in self._entries:
                raise KeyError(f"{self.kind} {name!r} is already registered")
            doc = meta.pop("doc", None) or (factory.__doc__ or "").strip().split("\n")[0]
            self._entries[name] = Entry(name=name, factory=factory, doc=doc, **meta)
            return factory

        return decorate

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries))
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}") from None

    def build(self, name: str, *args, **kwargs) -> nn.Module:
        return self.entry(name).factory(*args, **kwargs)

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._entries))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


class Bridge(nn.Module):
    """Refines the encoder's skips before the decoder adds or concatenates them.

    ``prepare`` sees every skip at once (SCAB, ML-SFFM); ``fuse`` is called once per decoder
    step, deepest first, with the skip of that step, the next deeper (already refined) skip or the
    bottleneck output, the decoder's feature at that step and its deep-supervision map if any
    (GAB, gates). Skips are ordered shallow (highest resolution) to deep.
    """

    def prepare(self, skips: list[torch.Tensor]) -> list[torch.Tensor]:
        return skips

    def fuse(
        self,
        level: int,
        skip: torch.Tensor,
        *,
        deeper: torch.Tensor,
        decoder: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        return skip


BLOCKS = Registry("block")
STEMS = Registry("stem")
ATTENTIONS = Registry("attention")
BRIDGES = Registry("bridge")


def divisible(*, by_in: int = 1, by_out: int = 1, same: bool = False) -> Check:
    """A check that channel counts are multiples of the groups a block needs."""

    def check(in_channels: int, out_channels: int, opts: BlockOptions) -> str | None:
        if same and in_channels != out_channels:
            return f"needs in_channels == out_channels, got {in_channels} -> {out_channels}"
        if in_channels % by_in:
            return f"needs in_channels divisible by {by_in}, got {in_channels}"
        if out_channels % by_out:
            return f"needs out_channels divisible by {by_out}, got {out_channels}"
        return None

    return check
