"""The search space: the factors a search varies, and ``sample_genotype(trial)``.

A candidate is described by a few *choices* (layout, depth, base width, stem pattern, block
family, ECDF compression N, attention order, skip bridge, up-sampling mode); ``make_genotype``
turns choices into a valid ``Genotype`` deterministically. ``sample_genotype(trial)`` is the only
place in lesion-nas that calls ``trial.suggest_*``.

Shallow and deep stages. The papers change the high-resolution stages (the "stem": SCSONet's
ConvStem, U-Lite's axial depthwise convs) independently of the low-resolution ones (the "block":
SCF, ECDF, DSCM, MSFFM, ...). The last three encoder stages and the first three decoder steps are
*deep*; the others are *shallow*. ``with_stem`` and ``with_block`` rewrite one group on any
genotype (a preset included), which is what one-factor-at-a-time ablations need.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

from .genotype import Genotype, GenotypeError
from .registry import ATTENTION_ORDERS, BLOCKS, COMPRESSIONS

SPACE_VERSION = 1
DEEP_STAGES = 3

# Shallow-stage patterns: (encoder blocks, shallow-first; decoder blocks, last = highest resolution)
STEM_PATTERNS: dict[str, str] = {
    "plain": "3x3 convolutions (MALUNet, EGE-UNet)",
    "convstem": "conv3 / ODConv / conv3, ODConv in the last decoder step (SCSONet's ConvStem)",
    "dsc": "depthwise-separable convolutions",
    "axial": "point-wise + axial depthwise 7x7 convolutions (U-Lite's building block)",
}

# Deep-stage block families: (encoder block, decoder block).
BLOCK_FAMILIES: dict[str, tuple[str, str]] = {
    "scf": ("scf", "scf_dec"),
    "ecdf": ("ecdf", "ecdf"),
    "dsc": ("dsc", "dsc"),
    "dscm": ("dscm", "dscm"),
    "msffm": ("dscm", "dscm"),  # deepest two encoder stages become MSFFM-3, MSFFM-5 (ULRTS-Net)
    "ea_dga": ("ea_dga", "dga_ea"),
    "ghpa": ("ghpa", "ghpa"),
    "sdc": ("sdc", "sdc"),
    "double_conv": ("double_conv", "double_conv"),
    "conv3": ("conv3", "conv3"),
}
BRIDGE_CHOICES = {
    "malunet": ("none", "scab", "mlsffm", "gate", "gab"),
    "unet": ("none", "scab", "mlsffm", "gate"),
}
LAYOUT_DEPTHS = {"malunet": (5, 6), "unet": (3, 4, 5)}
BASE_WIDTHS = (8, 12, 16, 24, 32)
# Width multipliers per stage: MALUNet's 8-16-24-32-48-64 is 8 x (1, 2, 3, 4, 6, 8).
WIDTH_MULTIPLIERS = {"malunet": (1, 2, 3, 4, 6, 8), "unet": (1, 2, 4, 8, 16)}
UPSAMPLE_CHOICES = ("bilinear", "nearest")

# The spaces a study can search (``--space``). ``base`` is the papers' macro: each layout's own
# width multipliers, base widths 8..32, depths as above. ``wide`` is ``base`` plus what the
# fuller-fidelity table (benchmarks/lesionbench) pointed at: the per-stage width profile, base
# width 20, and a four-stage malunet layout. A ``base`` choice set builds the same network in
# both (the profile ``paper`` is the layout's own multipliers), so ``wide`` contains ``base``.
SPACES = ("base", "wide")
WIDE_LAYOUT_DEPTHS = {"malunet": (4, 5, 6), "unet": (3, 4, 5)}
WIDE_BASE_WIDTHS = (8, 12, 16, 20, 24, 32)
# Per-stage width profiles: how the width grows from the first stage (base width) to the deepest.
# ``flat`` halves the growth beyond the first stage, ``steep`` makes it 1.5x; ``wide_top`` gives
# the first (highest-resolution) stage twice the base width, the others as the paper's.
WIDTH_PROFILES: dict[str, str] = {
    "paper": "the layout's own multipliers (MALUNet 1-2-3-4-6-8, U-Net 1-2-4-8-16)",
    "flat": "growth halved: 1 + (m - 1) / 2 (MALUNet 1-1.5-2-2.5-3.5-4.5)",
    "steep": "growth x1.5: 1 + 1.5 (m - 1) (MALUNet 1-2.5-4-5.5-8.5-11.5)",
    "wide_top": "first stage at twice the base width (MALUNet 2-2-3-4-6-8)",
}


@functools.lru_cache(maxsize=64)
def stage_multipliers(layout: str, profile: str = "paper") -> tuple[float, ...]:
    """The width multiplier of every stage of a layout under a width profile."""
    paper = WIDTH_MULTIPLIERS[layout]
    if profile == "paper":
        return tuple(float(m) for m in paper)
    if profile == "flat":
        return tuple(1 + (m - 1) / 2 for m in paper)
    if profile == "steep":
        return tuple(1 + 1.5 * (m - 1) for m in paper)
    if profile == "wide_top":
        return (2.0, *(float(m) for m in paper[1:]))
    raise GenotypeError(f"unknown width profile {profile!r}; known: {', '.join(WIDTH_PROFILES)}")


def n_shallow(g: Genotype) -> tuple[int, int]:
    """How many encoder stages and decoder steps are shallow (high resolution).

    At most three encoder stages are deep, and the first stage (which sees the image) is always
    shallow; the decoder mirrors the encoder (one step fewer in the malunet layout, whose last
    stage is the bottleneck).
    """
    enc = max(len(g.encoder) - DEEP_STAGES, 1)
    dec = enc - 1 if g.layout == "malunet" else enc
    return enc, dec


def _stem_blocks(pattern: str, n_enc: int, n_dec: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if pattern == "plain":
        return ("conv3",) * n_enc, ("conv3",) * n_dec
    if pattern == "convstem":
        enc = tuple("odconv3" if i == 1 else "conv3" for i in range(n_enc))
        dec = tuple("odconv3" if i == n_dec - 1 else "conv3" for i in range(n_dec))
        return enc, dec
    if pattern == "dsc":
        return ("dsc",) * n_enc, ("dsc",) * n_dec
    if pattern == "axial":
        return ("axial",) * n_enc, ("axial",) * n_dec
    raise GenotypeError(f"unknown stem pattern {pattern!r}; known: {', '.join(STEM_PATTERNS)}")


def with_stem(g: Genotype, pattern: str) -> Genotype:
    """``g`` with its shallow stages rebuilt from a stem pattern."""
    ne, nd = n_shallow(g)
    enc, dec = _stem_blocks(pattern, ne, nd)
    return dataclasses.replace(
        g, encoder=enc + g.encoder[ne:], decoder=g.decoder[: len(g.decoder) - nd] + dec
    )


def with_block(g: Genotype, family: str) -> Genotype:
    """``g`` with its deep stages rebuilt from a block family (attention dropped if unused)."""
    if family not in BLOCK_FAMILIES:
        raise GenotypeError(f"unknown block family {family!r}; known: {', '.join(BLOCK_FAMILIES)}")
    ne, nd = n_shallow(g)
    enc_b, dec_b = BLOCK_FAMILIES[family]
    deep_enc = [enc_b] * (len(g.encoder) - ne)
    if family == "msffm" and len(deep_enc) >= 2:
        deep_enc[-2:] = ["msffm3", "msffm5"]
    deep_dec = (dec_b,) * (len(g.decoder) - nd)
    encoder = g.encoder[:ne] + tuple(deep_enc)
    decoder = deep_dec + g.decoder[len(g.decoder) - nd :]
    names = set(encoder) | set(decoder)
    takes_att = any(BLOCKS.entry(b).takes_attention for b in names if b in BLOCKS)
    return dataclasses.replace(
        g, encoder=encoder, decoder=decoder, attention=g.attention if takes_att else "none"
    )


def family_takes(family: str, what: str) -> bool:
    """Whether a block family uses the attention order (``"attention"``) or N (``"compression"``)."""
    enc, dec = BLOCK_FAMILIES[family]
    names = {enc, dec} | ({"msffm3", "msffm5"} if family == "msffm" else set())
    return any(getattr(BLOCKS.entry(b), f"takes_{what}") for b in names if b in BLOCKS)


def _round_up(value: float, multiple: int) -> int:
    return max(multiple, int(math.ceil(value / multiple)) * multiple)


def make_genotype(choices: dict) -> Genotype:
    """The genotype for a set of choices (keys as in ``sample_genotype``); always valid."""
    layout = choices["layout"]
    depth = int(choices["depth"])
    base = int(choices["base_width"])
    block = choices["block"]
    compression = int(choices.get("compression", 8))
    mults = stage_multipliers(layout, choices.get("width_profile", "paper"))[:depth]
    n_enc_shallow = max(depth - DEEP_STAGES, 1)
    # Widths that deep blocks produce: the deep encoder stages', and in the malunet layout also
    # the one the last deep decoder step maps to. ECDF needs them divisible by 2N, EMA/GN by 8.
    first_deep = n_enc_shallow - 1 if layout == "malunet" else n_enc_shallow
    takes_n = family_takes(block, "compression")
    deep_multiple = math.lcm(8, 2 * compression) if takes_n else 8
    # The width feeding the first deep encoder stage must suit SCF's grouped convs (8).
    feeds_deep = n_enc_shallow - 1
    widths = [
        _round_up(base * m, deep_multiple if i >= first_deep else 8 if i == feeds_deep else 4)
        for i, m in enumerate(mults)
    ]
    bridge = choices.get("bridge", "none")
    n_dec = depth - 1 if layout == "malunet" else depth
    g = Genotype(
        layout=layout,
        widths=tuple(widths),
        encoder=("conv3",) * depth,
        decoder=("conv3",) * n_dec,
        norm="gn4" if layout == "malunet" else "bn",
        act="gelu",
        upsample=choices.get("upsample", "bilinear"),
        bridge=bridge,
        deep_supervision=bridge == "gab",
        compression=compression if takes_n else 8,
    )
    g = with_block(with_stem(g, choices["stem"]), block)
    attention = choices.get("attention", "none") if family_takes(block, "attention") else "none"
    return dataclasses.replace(g, attention=attention, compression=compression if takes_n else 8)


@dataclasses.dataclass(frozen=True)
class Factor:
    """One factor of the space, declared once: its values and Optuna parameter name given the
    choices made before it (conditional factors have their own names, so that every parameter's
    distribution stays fixed, as Optuna's samplers need), when it applies, how to read it off a
    genotype and how to set it on one. Sampling, enumeration (``searchspace.table``), the space's
    size, local search's moves, the ablation verb's factors and defaults and the report's factor
    columns all read a space's factor list (``FACTORS`` is ``base``'s, ``SPACE_FACTORS`` names
    each space's); adding a block family touches its block file and ``BLOCK_FAMILIES`` only."""

    name: str
    values: Callable[[dict], tuple]
    param: Callable[[dict], str]
    applies: Callable[[dict], bool] = lambda c: True
    label: str = ""  # the report's column name (default: name)
    # the value a genotype has (None: not readable off a genotype, or not used by it)
    read: Callable[[Genotype], object] | None = None
    # the genotype with this factor set to a value (None: a macro factor, not set one at a time)
    apply: Callable[[Genotype, object], Genotype] | None = None
    # whether a genotype has this factor to vary (attention and N: only blocks that use them)
    varies: Callable[[Genotype], bool] = lambda g: True
    ablate_by_default: bool = False  # in ``ablate --base``'s default factor list
    # a one-factor move of local search changes it (layout, depth and width stay)
    neighbour: bool = False

    @property
    def column(self) -> str:
        return self.label or self.name


def _with_bridge(g: Genotype, bridge: str) -> Genotype:
    return dataclasses.replace(
        g, bridge=bridge, deep_supervision=g.deep_supervision or bridge == "gab"
    )


def _replace(field: str) -> Callable[[Genotype, object], Genotype]:
    return lambda g, v: dataclasses.replace(g, **{field: v})


FACTORS: tuple[Factor, ...] = (
    Factor("layout", lambda c: tuple(LAYOUT_DEPTHS), lambda c: "layout", read=lambda g: g.layout),
    Factor(
        "depth",
        lambda c: LAYOUT_DEPTHS[c["layout"]],
        lambda c: f"depth_{c['layout']}",
        read=lambda g: g.depth,
    ),
    Factor("base_width", lambda c: BASE_WIDTHS, lambda c: "base_width", read=lambda g: g.widths[0]),
    Factor(
        "stem",
        lambda c: tuple(STEM_PATTERNS),
        lambda c: "stem",
        apply=lambda g, v: with_stem(g, v),
        ablate_by_default=True,
        neighbour=True,
    ),
    Factor(
        "block",
        lambda c: tuple(BLOCK_FAMILIES),
        lambda c: "block",
        apply=lambda g, v: with_block(g, v),
        ablate_by_default=True,
        neighbour=True,
    ),
    Factor(
        "bridge",
        # every bridge of the space where no layout is given (the malunet layout takes all)
        lambda c: BRIDGE_CHOICES[c.get("layout", "malunet")],
        lambda c: f"bridge_{c['layout']}",
        read=lambda g: g.bridge,
        apply=_with_bridge,
        ablate_by_default=True,
        neighbour=True,
    ),
    Factor(
        "upsample",
        lambda c: UPSAMPLE_CHOICES,
        lambda c: "upsample",
        read=lambda g: g.upsample,
        apply=_replace("upsample"),
        neighbour=True,
    ),
    Factor(
        "compression",
        lambda c: COMPRESSIONS,
        lambda c: "compression",
        lambda c: family_takes(c["block"], "compression"),
        "N",
        read=lambda g: g.compression if g.uses_compression() else None,
        apply=_replace("compression"),
        varies=lambda g: g.uses_compression(),
        ablate_by_default=True,
        neighbour=True,
    ),
    Factor(
        "attention",
        lambda c: ATTENTION_ORDERS,
        lambda c: "attention",
        lambda c: family_takes(c["block"], "attention"),
        read=lambda g: g.attention if g.uses_attention() else None,
        apply=_replace("attention"),
        varies=lambda g: g.uses_attention(),
        ablate_by_default=True,
        neighbour=True,
    ),
)


def _widened(f: Factor) -> Factor:
    """A factor of ``base`` as the ``wide`` space has it. A factor with other values has its own
    Optuna parameter name (``_wide`` appended): Optuna fixes a parameter's distribution per name
    within a study, and a study warm-started from another space's trials must not meet the same
    name with other values."""
    if f.name == "depth":
        return dataclasses.replace(
            f,
            values=lambda c: WIDE_LAYOUT_DEPTHS[c["layout"]],
            param=lambda c: f"depth_{c['layout']}_wide",
        )
    if f.name == "base_width":
        return dataclasses.replace(
            f, values=lambda c: WIDE_BASE_WIDTHS, param=lambda c: "base_width_wide"
        )
    return f


@functools.lru_cache(maxsize=512)
def _wide_choices(g: Genotype) -> tuple | None:
    """The wide space's choices that build ``g`` (as sorted items), None when it is not a point
    of it (cached: a genotype is immutable)."""
    c = choices_for(g, "wide")
    return None if c is None else tuple(sorted(c.items()))


def _read_profile(g: Genotype) -> str | None:
    c = _wide_choices(g)
    return None if c is None else dict(c)["width_profile"]


def _apply_profile(g: Genotype, profile: str) -> Genotype:
    c = _wide_choices(g)
    if c is None:
        raise GenotypeError(f"{g.summary()} is not a network of the wide space: no width profile")
    return make_genotype({**dict(c), "width_profile": profile})


WIDTH_PROFILE = Factor(
    "width_profile",
    lambda c: tuple(WIDTH_PROFILES),
    lambda c: "width_profile",
    # read and set on any genotype of the wide space (found by enumeration): the ablation verb
    # varies it (`ablate --base FILE --factors width_profile`)
    read=_read_profile,
    apply=_apply_profile,
    varies=lambda g: _wide_choices(g) is not None,
    neighbour=True,  # local search may move it (an over-budget move is screened, not trained)
)
_AFTER_WIDTH = [f.name for f in FACTORS].index("base_width") + 1
WIDE_FACTORS: tuple[Factor, ...] = (
    *(_widened(f) for f in FACTORS[:_AFTER_WIDTH]),
    WIDTH_PROFILE,
    *FACTORS[_AFTER_WIDTH:],
)
SPACE_FACTORS: dict[str, tuple[Factor, ...]] = {"base": FACTORS, "wide": WIDE_FACTORS}
# Every factor of every space, in sampling order (``wide`` holds them all by name): the report's
# factor columns.
ALL_FACTORS = WIDE_FACTORS
# The factors a one-factor move changes (local search; the ablation verb varies those with an
# ``apply``). A choice set moves only in the factors of its own space (``space_of``).
NEIGHBOUR_FACTORS = tuple(f.name for f in ALL_FACTORS if f.neighbour)


def factors_of(space: str = "base") -> tuple[Factor, ...]:
    """The factors of a space, in sampling order; an unknown space is one clear error."""
    try:
        return SPACE_FACTORS[space]
    except KeyError:
        raise ValueError(f"unknown search space {space!r}; known: {', '.join(SPACES)}") from None


def space_of(choices: dict) -> str:
    """The space a choice set was drawn from: ``wide`` choices always carry a width profile."""
    return "wide" if "width_profile" in choices else "base"


def space_size(layouts=None, space: str = "base") -> tuple[int, int]:
    """(choice sets, distinct networks) of a space: every combination ``sample_choices`` can
    return, and how many distinct genotypes they build (a few combinations build the same one).
    The figures the CLI and docs quote come from here (docs: pinned by tests/test_space.py)."""
    ids = set()
    n = 0
    for c in all_choices(layouts, space=space):
        n += 1
        ids.add(make_genotype(c).id)
    return n, len(ids)


def one_factor_neighbours(
    choices: dict, factors: tuple[str, ...] = NEIGHBOUR_FACTORS
) -> list[dict]:
    """The choice dicts that differ from ``choices`` in exactly one of ``factors`` (layout,
    depth and base width stay), in sampling order. A move to or from ECDF adds or drops N
    (ECDF keeps the current N, else 8); a move to a family that takes an attention order keeps
    the current order (else ``none``), one to a family that takes none drops it. A choice set
    moves in the factors of its own space only (a ``base`` one never gains a width profile)."""
    out = []
    for f in factors_of(space_of(choices)):
        if f.name not in factors or f.name in ("layout", "depth", "base_width"):
            continue
        if not f.applies(choices):
            continue
        for v in f.values(choices):
            if choices.get(f.name) == v:
                continue
            c = {**choices, f.name: v}
            if f.name == "block":
                c.pop("compression", None)
                c.pop("attention", None)
                if family_takes(v, "compression"):
                    c["compression"] = choices.get("compression", 8)
                if family_takes(v, "attention"):
                    c["attention"] = choices.get("attention", "none")
            out.append(c)
    return out


def params_of(choices: dict) -> dict:
    """The Optuna parameters that ``sample_choices`` would suggest for ``choices`` (name ->
    value), the inverse of ``choices_from_params``."""
    out: dict = {}
    seen: dict = {}
    for f in factors_of(space_of(choices)):
        if f.applies(seen) and f.name in choices:
            seen[f.name] = choices[f.name]
            out[f.param(seen)] = choices[f.name]
    return out


def sample_choices(trial, space: str = "base") -> dict:
    """Suggest every factor of ``space`` that applies on an Optuna trial (define-by-run, in
    sampling order)."""
    choices: dict = {}
    for f in factors_of(space):
        if f.applies(choices):
            choices[f.name] = trial.suggest_categorical(f.param(choices), list(f.values(choices)))
    return choices


def choices_from_params(params: dict) -> dict:
    """The choices of a trial from its Optuna parameters (the inverse of ``sample_choices``)."""
    choices: dict = {}
    wide = "width_profile" in params or any(str(k).endswith("_wide") for k in params)
    for f in factors_of("wide" if wide else "base"):
        try:
            if f.applies(choices) and f.param(choices) in params:
                choices[f.name] = params[f.param(choices)]
        except KeyError:  # a factor it depends on is missing: skip it
            continue
    return choices


def all_choices(layouts=None, _choices: dict | None = None, _i: int = 0, space: str = "base"):
    """Every choice dict ``sample_choices(trial, space)`` can return (each factor where it
    applies)."""
    factors = factors_of(space)
    choices = dict(_choices or {})
    if _i == len(factors):
        yield choices
        return
    f = factors[_i]
    if not f.applies(choices):
        yield from all_choices(layouts, choices, _i + 1, space)
        return
    values = f.values(choices)
    if f.name == "layout" and layouts is not None:
        values = tuple(layouts)
    for v in values:
        yield from all_choices(layouts, {**choices, f.name: v}, _i + 1, space)


def choices_for(g: Genotype, space: str = "base") -> dict | None:
    """The choices of ``space`` that build ``g`` (``make_genotype(choices).id == g.id``), None
    when ``g`` is not a point of that space. Found by enumeration among the choice sets of ``g``'s
    layout and depth that agree with what ``g`` says of the other factors (a few hundred)."""
    factors = factors_of(space)
    # the first factors fixed, the rest enumerated (not the base width: ECDF rounds widths up)
    macro = ("layout", "depth")
    assert tuple(f.name for f in factors[: len(macro)]) == macro
    fixed = {f.name: f.read(g) for f in factors[: len(macro)]}
    if fixed["layout"] not in LAYOUT_DEPTHS or fixed["depth"] not in factors[1].values(fixed):
        return None
    readable = {  # the other factors readable off g: a choice set that differs is no match
        f.name: f.read(g)
        for f in factors[len(macro) :]
        if f.read and f.name not in ("base_width", "width_profile")  # (read by this search)
    }
    for c in all_choices(None, fixed, len(macro), space):
        if any(c[k] != v for k, v in readable.items() if k in c):
            continue
        if make_genotype(c).id == g.id:
            return c
    return None


def sample_genotype(trial, space: str = "base") -> Genotype:
    """A genotype drawn from a space through an Optuna trial (any sampler)."""
    return make_genotype(sample_choices(trial, space))


def random_genotypes(n: int, seed: int = 0) -> list[Genotype]:
    """``n`` genotypes drawn by Optuna's RandomSampler (seeded) through ``sample_genotype``: the
    candidates a random search would try first (benchmarks and tests use them)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        trial = study.ask()
        out.append(sample_genotype(trial))
        study.tell(trial, 0.0)
    return out
