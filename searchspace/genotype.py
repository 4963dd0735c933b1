"""The genotype: a whole network described as frozen, JSON-able data.

A genotype names a macro layout, the width and block of every stage, the stem, the bottleneck,
the skip bridge and the network-wide options (attention order, ECDF compression factor N,
up-sampling mode, norm and activation). It validates itself on construction, so an invalid
genotype cannot exist; every problem gets one message naming it.

Layouts (see ``network.py`` for the wiring):

* ``malunet`` - the MALUNet / SCSONet / EGE-UNet skeleton: every stage is block -> norm ->
  max-pool -> act, the pooled output is the skip, the last stage is the bottleneck (block -> act);
  the decoder adds skips; the head works at half resolution and is up-sampled x2.
* ``unet`` - encoder blocks whose outputs are the skips, each followed by a max-pool, an optional
  bottleneck block, decoders that up-sample, concatenate the skip and apply a block (LMSAUnet).
* ``ulite`` - U-Lite: stem, then per stage skip = norm(block(x)) with in == out, and
  x = act(max-pool(PW(x))); bottleneck; decoders as in ``unet``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from . import blocks  # noqa: F401  (populates the registries)
from .registry import (
    ACTIVATIONS,
    ATTENTION_ORDERS,
    BLOCKS,
    BRIDGES,
    COMPRESSIONS,
    NORMS,
    STEMS,
    UPSAMPLE_MODES,
    BlockOptions,
)

GENOTYPE_VERSION = 1
LAYOUTS = ("malunet", "unet", "ulite")


class GenotypeError(ValueError):
    """A genotype (or its JSON) that does not describe a buildable network."""


@dataclass(frozen=True)
class Slot:
    """One block of the network with its channel sizes (derived from a genotype)."""

    role: str  # "stem", "encoder", "bottleneck", "decoder"
    index: int
    block: str
    in_channels: int
    out_channels: int

    @property
    def label(self) -> str:
        return f"{self.role} {self.index + 1}" if self.role in ("encoder", "decoder") else self.role


@dataclass(frozen=True)
class Genotype:
    widths: tuple[int, ...]
    encoder: tuple[str, ...]
    decoder: tuple[str, ...]
    layout: str = "malunet"
    stem: str = "none"
    stem_width: int = 0
    bottleneck: str = "none"
    bridge: str = "none"
    attention: str = "none"
    compression: int = 8
    upsample: str = "bilinear"
    norm: str = "gn4"
    act: str = "gelu"
    deep_supervision: bool = False
    in_channels: int = 3
    out_channels: int = 1
    name: str = ""
    version: int = GENOTYPE_VERSION

    def __post_init__(self) -> None:
        for f in ("widths", "encoder", "decoder"):
            value = getattr(self, f)
            if isinstance(value, list):
                object.__setattr__(self, f, tuple(value))
        problem = _first_problem(self)
        if problem:
            label = f"genotype {self.name!r}" if self.name else "genotype"
            raise GenotypeError(f"invalid {label}: {problem}")

    # ------------------------------------------------------------------ derived structure
    @property
    def options(self) -> BlockOptions:
        return BlockOptions(
            norm=self.norm, act=self.act, attention=self.attention, compression=self.compression
        )

    @property
    def depth(self) -> int:
        return len(self.widths)

    @property
    def stride(self) -> int:
        """Total down-sampling factor: input sizes must be multiples of it."""
        pools = self.depth - 1 if self.layout == "malunet" else self.depth
        return 2**pools

    def slots(self) -> tuple[Slot, ...]:
        return tuple(_plan(self)[0])

    def skip_channels(self) -> tuple[int, ...]:
        return _plan(self)[1]

    def decoder_channels(self) -> tuple[int, ...]:
        return tuple(s.out_channels for s in self.slots() if s.role == "decoder")

    def block_names(self) -> set[str]:
        names = set(self.encoder) | set(self.decoder)
        if self.bottleneck != "none":
            names.add(self.bottleneck)
        return names

    def uses_compression(self) -> bool:
        return any(BLOCKS.entry(b).takes_compression for b in self.block_names())

    def uses_attention(self) -> bool:
        return any(BLOCKS.entry(b).takes_attention for b in self.block_names())

    # ------------------------------------------------------------------ identity and JSON
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("widths", "encoder", "decoder"):
            d[k] = list(d[k])
        return d

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    def canonical_json(self) -> str:
        """JSON of what the network is: the label dropped, unused options set to defaults."""
        d = self.to_dict()
        d.pop("name")
        if not self.uses_compression():
            d["compression"] = 8
        return json.dumps(d, sort_keys=True, separators=(",", ":"))

    @property
    def id(self) -> str:
        """Stable identity: the first 12 hex digits of sha256(canonical JSON); computed once
        per (immutable) instance, kept outside the dataclass fields (not in to_dict or ==)."""
        cached = self.__dict__.get("_id")
        if cached is None:
            cached = hashlib.sha256(self.canonical_json().encode()).hexdigest()[:12]
            object.__setattr__(self, "_id", cached)
        return cached

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genotype:
        if not isinstance(data, dict):
            raise GenotypeError(f"a genotype must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GenotypeError(f"unknown genotype key(s): {', '.join(unknown)}")
        version = data.get("version", None)
        if version != GENOTYPE_VERSION:
            raise GenotypeError(
                f"genotype version {version!r} is not supported (this lesion-nas reads version "
                f"{GENOTYPE_VERSION})"
            )
        missing = [k for k in ("widths", "encoder", "decoder") if k not in data]
        if missing:
            raise GenotypeError(f"genotype is missing key(s): {', '.join(missing)}")
        for f in fields(cls):
            if f.name in data:
                _check_type(f.name, data[f.name])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenotypeError(f"genotype is not valid JSON: {e}") from None
        return cls.from_dict(data)

    def summary(self) -> str:
        """A one-line human description."""
        enc = "/".join(_compact(self.encoder))
        dec = "/".join(_compact(self.decoder))
        parts = [self.layout, "w" + "-".join(map(str, self.widths)), f"enc {enc}", f"dec {dec}"]
        if self.stem != "none":
            parts.append(f"stem {self.stem}({self.stem_width})")
        if self.bottleneck != "none":
            parts.append(f"bneck {self.bottleneck}")
        if self.bridge != "none":
            parts.append(f"bridge {self.bridge}")
        if self.uses_attention():
            parts.append(f"att {self.attention}")
        if self.uses_compression():
            parts.append(f"N={self.compression}")
        return ", ".join(parts)


def _compact(names: tuple[str, ...]) -> list[str]:
    """('conv3', 'conv3', 'scf') -> ['conv3x2', 'scf']."""
    runs: list[list] = []
    for n in names:
        if runs and runs[-1][0] == n:
            runs[-1][1] += 1
        else:
            runs.append([n, 1])
    return [n if k == 1 else f"{n}x{k}" for n, k in runs]


_TYPES: dict[str, type | tuple[type, ...]] = {
    "widths": list,
    "encoder": list,
    "decoder": list,
    "stem_width": int,
    "compression": int,
    "deep_supervision": bool,
    "in_channels": int,
    "out_channels": int,
    "version": int,
}


def _check_type(key: str, value: Any) -> None:
    expected = _TYPES.get(key, str)
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if key in ("widths", "encoder", "decoder") and isinstance(value, (list, tuple)):
        inner = int if key == "widths" else str
        ok = all(isinstance(v, inner) and not isinstance(v, bool) for v in value)
        if not ok:
            raise GenotypeError(f"genotype key {key!r} must be a list of {inner.__name__}")
        return
    if not ok:
        name = expected.__name__ if isinstance(expected, type) else str(expected)
        raise GenotypeError(f"genotype key {key!r} must be {name}, got {value!r}")


def _plan(g: Genotype) -> tuple[list[Slot], tuple[int, ...]]:
    """Every block with its channels, and the channels of the skips, for a genotype."""
    w = list(g.widths)
    d = len(w)
    slots: list[Slot] = []
    first = g.stem_width if g.stem != "none" else g.in_channels
    if g.stem != "none":
        slots.append(Slot("stem", 0, g.stem, g.in_channels, g.stem_width))
    if g.layout == "malunet":
        chain = [first, *w]
        for i, b in enumerate(g.encoder):
            slots.append(Slot("encoder", i, b, chain[i], chain[i + 1]))
        for k, b in enumerate(g.decoder):
            slots.append(Slot("decoder", k, b, w[d - 1 - k], w[d - 2 - k]))
        return slots, tuple(w[:-1])
    if g.layout == "unet":
        chain = [first, *w]
        for i, b in enumerate(g.encoder):
            slots.append(Slot("encoder", i, b, chain[i], chain[i + 1]))
        skips = tuple(w)
    else:  # ulite: the block keeps its width, a point-wise conv after the skip widens
        chain = [first, *w]
        for i, b in enumerate(g.encoder):
            slots.append(Slot("encoder", i, b, chain[i], chain[i]))
        skips = tuple(chain[:-1])
    if g.bottleneck != "none":
        slots.append(Slot("bottleneck", 0, g.bottleneck, w[-1], w[-1]))
    prev = w[-1]
    for k, b in enumerate(g.decoder):
        skip = skips[d - 1 - k]
        slots.append(Slot("decoder", k, b, prev + skip, skip))
        prev = skip
    return slots, skips


def _first_problem(g: Genotype) -> str | None:  # noqa: C901 - a flat list of rules
    if g.version != GENOTYPE_VERSION:
        return f"version {g.version!r} is not supported (expected {GENOTYPE_VERSION})"
    if g.layout not in LAYOUTS:
        return f"unknown layout {g.layout!r}; known: {', '.join(LAYOUTS)}"
    if not g.widths or any((not isinstance(c, int)) or c < 1 for c in g.widths):
        return f"widths must be positive integers, got {list(g.widths)}"
    if g.in_channels < 1 or g.out_channels < 1:
        return "in_channels and out_channels must be >= 1"
    d = len(g.widths)
    need_dec = d - 1 if g.layout == "malunet" else d
    if g.layout == "malunet" and d < 2:
        return "the malunet layout needs at least 2 stages"
    if len(g.encoder) != d:
        return f"{len(g.encoder)} encoder blocks for {d} widths (one block per width)"
    if len(g.decoder) != need_dec:
        return f"layout {g.layout!r} with {d} stages needs {need_dec} decoder blocks, got {len(g.decoder)}"
    if g.layout == "malunet" and g.bottleneck != "none":
        return "the malunet layout has no separate bottleneck (its last stage is the bottleneck)"
    if g.layout == "ulite" and g.stem == "none":
        return "the ulite layout needs a stem"
    if g.stem != "none" and g.stem_width < 1:
        return f"stem {g.stem!r} needs stem_width >= 1"
    if g.stem == "none" and g.stem_width != 0:
        return "stem_width must be 0 when stem is 'none'"
    for label, value, choices in (
        ("attention order", g.attention, ATTENTION_ORDERS),
        ("up-sampling mode", g.upsample, UPSAMPLE_MODES),
        ("norm", g.norm, NORMS),
        ("activation", g.act, ACTIVATIONS),
    ):
        if value not in choices:
            return f"unknown {label} {value!r}; known: {', '.join(choices)}"
    if g.compression not in COMPRESSIONS:
        return f"compression factor N must be a power of two in 2..32, got {g.compression!r}"
    for b in (*g.encoder, *g.decoder):
        if b not in BLOCKS:
            return f"unknown block {b!r}; known: {', '.join(BLOCKS.names())}"
    if g.bottleneck != "none" and g.bottleneck not in BLOCKS:
        return (
            f"unknown bottleneck block {g.bottleneck!r}; known: none, {', '.join(BLOCKS.names())}"
        )
    if g.stem != "none" and g.stem not in STEMS:
        return f"unknown stem {g.stem!r}; known: none, {', '.join(STEMS.names())}"
    if g.bridge != "none" and g.bridge not in BRIDGES:
        return f"unknown bridge {g.bridge!r}; known: none, {', '.join(BRIDGES.names())}"
    if g.norm == "gn4" and g.layout in ("malunet", "ulite"):
        for c in g.widths:
            if c % 4:
                return f"norm 'gn4' needs every width divisible by 4, got {c}"
    if g.attention != "none" and not g.uses_attention():
        return (
            f"attention order {g.attention!r} has no effect: none of the blocks "
            f"({', '.join(sorted(g.block_names()))}) takes attention"
        )
    opts = g.options
    slots, skips = _plan(g)
    for s in slots:
        registry = STEMS if s.role == "stem" else BLOCKS
        msg = registry.entry(s.block).check(s.in_channels, s.out_channels, opts)
        if msg:
            return f"{s.label} {s.block!r} ({s.in_channels} -> {s.out_channels}) {msg}"
    if g.bridge != "none":
        entry = BRIDGES.entry(g.bridge)
        if entry.meta.get("needs_deep_supervision") and not g.deep_supervision:
            return f"bridge {g.bridge!r} needs deep_supervision=true (it is fed the decoder's deep-supervision maps)"
        msg = entry.check(
            skips, g.widths[-1], g
        )  # bridges: check(skip_channels, deep_channels, genotype)
        if msg:
            return f"bridge {g.bridge!r}: {msg}"
    return None
