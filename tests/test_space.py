"""The search space: 200 sampled genotypes round-trip, keep their ids, build and run."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from searchspace import Genotype, build_model
from searchspace.presets import get_preset
from searchspace.space import (
    BLOCK_FAMILIES,
    STEM_PATTERNS,
    choices_for,
    make_genotype,
    random_genotypes,
    with_block,
    with_stem,
)

_samples = random_genotypes
SAMPLES = _samples(200)


def test_samples_round_trip_with_stable_ids():
    for g in SAMPLES:
        again = Genotype.from_json(g.to_json())
        assert again == g and again.id == g.id
        assert Genotype.from_json(again.to_json()).canonical_json() == g.canonical_json()


@pytest.mark.parametrize("i", range(0, 200, 20))
def test_choices_for_finds_the_choices_of_a_sample(i):
    assert make_genotype(choices_for(SAMPLES[i])).id == SAMPLES[i].id


@pytest.mark.parametrize(
    "name, in_space",
    [("scsonet", True), ("malunet", True), ("egeunet", True), ("ulite", False), ("dsnet", False)],
)
def test_choices_for_tells_which_published_models_are_points_of_the_space(name, in_space):
    c = choices_for(get_preset(name).genotype)
    assert (c is not None) == in_space
    if in_space:
        assert make_genotype(c).id == get_preset(name).genotype.id


def test_samples_cover_every_factor_value():
    assert {g.layout for g in SAMPLES} == {"malunet", "unet"}
    assert {g.bridge for g in SAMPLES} == {"none", "scab", "mlsffm", "gate", "gab"}
    blocks = set().union(*(g.block_names() for g in SAMPLES))
    for enc, dec in BLOCK_FAMILIES.values():
        assert enc in blocks and dec in blocks
    assert {"msffm3", "msffm5", "odconv3", "axial"} <= blocks
    assert {g.compression for g in SAMPLES if g.uses_compression()} == {2, 4, 8, 16, 32}
    assert {g.attention for g in SAMPLES if g.uses_attention()} == {
        "none",
        "sa",
        "ca",
        "sa_ca",
        "ca_sa",
        "parallel",
    }


@pytest.mark.parametrize("chunk", range(4))
def test_every_sample_builds_and_runs_at_64(chunk):
    torch.manual_seed(0)
    for g in SAMPLES[chunk::4]:
        model = build_model(g).eval()
        with torch.no_grad():
            out = model(torch.randn(1, 3, 64, 64))
        assert out.shape == (1, 1, 64, 64), g.summary()
        assert torch.isfinite(out).all(), g.summary()


def test_sampling_is_deterministic_given_the_seed():
    assert [g.id for g in _samples(20, seed=0)] == [g.id for g in SAMPLES[:20]]
    assert [g.id for g in _samples(20, seed=3)] != [g.id for g in _samples(20, seed=4)]


def test_with_stem_and_block_rewrite_only_their_stages():
    base = get_preset("malunet").genotype
    scso = with_stem(with_block(base, "scf"), "convstem")
    ref = get_preset("scsonet").genotype
    assert scso.encoder == ref.encoder and scso.decoder == ref.decoder
    assert dataclasses.replace(scso, name="scsonet").id == ref.id
    for pattern in STEM_PATTERNS:
        g = with_stem(base, pattern)
        assert g.encoder[3:] == base.encoder[3:] and g.decoder[:3] == base.decoder[:3]


def test_make_genotype_rounds_widths_for_ecdf_groups():
    g = make_genotype(
        {
            "layout": "unet",
            "depth": 4,
            "base_width": 12,
            "stem": "plain",
            "block": "ecdf",
            "compression": 32,
            "attention": "parallel",
            "bridge": "none",
        }
    )
    assert all(w % 64 == 0 for w in g.widths[1:])
    assert g.compression == 32 and g.attention == "parallel"


def test_every_combination_of_choices_is_a_valid_genotype_and_the_docs_quote_the_size():
    import re
    from pathlib import Path

    from searchspace.registry import ATTENTION_ORDERS
    from searchspace.space import space_size

    # make_genotype raises GenotypeError on an invalid combination; a few choice sets build the
    # same network
    n, distinct = space_size()
    assert (n, distinct) == (43120, 42544)
    assert len(ATTENTION_ORDERS) == 6
    # the docs quote the figures; no code holds them (space_size computes them)
    root = Path(__file__).resolve().parents[1]
    for doc in ("README.md", "docs/search.md", "docs/extending.md"):
        text = (root / doc).read_text()
        quoted = set(re.findall(r"\b4[23],\d{3}\b", text))
        assert quoted <= {f"{n:,}", f"{distinct:,}"}, (doc, quoted)
    for doc in ("README.md", "docs/search.md"):  # the wide space's choice sets (pinned below)
        text = (root / doc).read_text()
        assert set(re.findall(r"\b25\d,\d{3}\b", text)) == {"254,016"}, doc
    code = [
        p
        for d in ("searchspace", "studies", "reports", "trainer")
        for p in (root / d).rglob("*.py")
    ]
    code.append(root / "search.py")
    for path in code:
        assert not re.search(
            r"4[23],?\d{3} (distinct|candidates|networks|choice)", path.read_text()
        ), path


# ------------------------------------------------------------------------------ the wide space
def test_width_profiles_give_the_hand_computed_widths():
    """Base width 16, malunet layout, depth 6, DSC blocks (deep widths multiples of 8):
    paper 16x(1,2,3,4,6,8); flat 16x(1,1.5,2,2.5,3.5,4.5); steep 16x(1,2.5,4,5.5,8.5,11.5);
    wide_top 16x(2,2,3,4,6,8)."""
    base = {"layout": "malunet", "depth": 6, "base_width": 16, "stem": "plain", "block": "dsc",
            "bridge": "none", "upsample": "bilinear"}  # fmt: skip
    want = {
        "paper": (16, 32, 48, 64, 96, 128),
        "flat": (16, 24, 32, 40, 56, 72),
        "steep": (16, 40, 64, 88, 136, 184),
        "wide_top": (32, 32, 48, 64, 96, 128),
    }
    for profile, widths in want.items():
        assert make_genotype({**base, "width_profile": profile}).widths == widths, profile
    assert make_genotype(base).widths == want["paper"]  # a base choice set: the paper profile


def test_the_wide_space_holds_the_base_space_and_every_new_combination_is_valid():
    """Every base choice set builds the same network with the paper profile; every combination
    of the wide space's macro factors (layout, depth, base width, profile) with every block
    family and bridge builds a valid genotype (make_genotype raises otherwise); the four-stage
    malunet layout is there. (Every one of its 254,016 choice sets is checked by
    ``search.py space --space wide``, which costs them all.)"""
    import itertools

    from searchspace.space import (
        BRIDGE_CHOICES,
        WIDE_BASE_WIDTHS,
        WIDE_LAYOUT_DEPTHS,
        WIDTH_PROFILES,
        all_choices,
    )

    for c in itertools.islice(all_choices(), 0, None, 97):
        assert make_genotype({**c, "width_profile": "paper"}).id == make_genotype(c).id
    n = sum(1 for _ in all_choices(space="wide"))
    assert n == 254016  # base 43,120 with depth 4, base width 20 and four profiles
    seen_depths = set()
    for layout, depths in WIDE_LAYOUT_DEPTHS.items():
        for depth, width, profile, block, bridge in itertools.product(
            depths, WIDE_BASE_WIDTHS, WIDTH_PROFILES, BLOCK_FAMILIES, BRIDGE_CHOICES[layout]
        ):
            c = {"layout": layout, "depth": depth, "base_width": width, "width_profile": profile,
                 "stem": "dsc", "block": block, "compression": 4, "attention": "sa_ca",
                 "bridge": bridge, "upsample": "nearest"}  # fmt: skip
            g = make_genotype(c)
            seen_depths.add((g.layout, g.depth))
    assert ("malunet", 4) in seen_depths


def test_sampling_a_space_suggests_its_own_factors_and_moves_stay_in_it():
    import optuna

    from searchspace.space import (
        choices_from_params,
        one_factor_neighbours,
        params_of,
        sample_choices,
        space_of,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    draws = {}
    for space in ("wide", "base"):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
        draws[space] = []
        for _ in range(40):
            t = study.ask()
            draws[space].append(sample_choices(t, space))
            study.tell(t, 0.0)
            # the parameters name the space's own factors and read back to the same choices
            assert choices_from_params(t.params) == draws[space][-1] and params_of(
                draws[space][-1]) == t.params  # fmt: skip
            assert ("base_width_wide" in t.params) == (space == "wide")
    wide, base = draws["wide"], draws["base"]
    assert all("width_profile" in c and space_of(c) == "wide" for c in wide)
    assert len({c["width_profile"] for c in wide}) == 4
    assert not any("width_profile" in c for c in base)
    assert {c["depth"] for c in wide if c["layout"] == "malunet"} == {4, 5, 6}
    moves = one_factor_neighbours(wide[0])
    assert sum(m["width_profile"] != wide[0]["width_profile"] for m in moves) == 3
    assert all("width_profile" not in m for m in one_factor_neighbours(base[0]))
    with pytest.raises(ValueError, match="unknown search space 'huge'"):
        sample_choices(study.ask(), "huge")


def test_choices_for_finds_a_wide_network_in_the_wide_space_only():
    c = {"layout": "malunet", "depth": 5, "base_width": 12, "width_profile": "flat",
         "stem": "plain", "block": "dsc", "bridge": "scab", "upsample": "bilinear"}  # fmt: skip
    g = make_genotype(c)
    assert choices_for(g) is None
    found = choices_for(g, "wide")
    assert found is not None and make_genotype(found).id == g.id
    assert choices_for(get_preset("malunet").genotype, "wide") is not None
