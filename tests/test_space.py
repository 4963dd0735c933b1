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
