"""Genotype: validation messages, JSON round trip, stable ids, budgets of bad form."""

from __future__ import annotations

import dataclasses
import json

import pytest

from searchspace import Genotype, GenotypeError, build_model
from searchspace.budget import BudgetError, parse_macs, parse_params

PLAIN = Genotype(
    widths=(8, 16, 24, 32, 48, 64),
    encoder=("conv3",) * 6,
    decoder=("conv3",) * 5,
    name="plain",
)


def test_round_trip_and_id_ignores_name():
    again = Genotype.from_json(PLAIN.to_json())
    assert again == PLAIN
    assert again.id == PLAIN.id
    assert dataclasses.replace(PLAIN, name="other").id == PLAIN.id
    assert dataclasses.replace(PLAIN, widths=(8, 16, 24, 32, 48, 72)).id != PLAIN.id


def test_id_is_pinned():
    # The id is a hash of the canonical JSON: a change here breaks every stored study's dedup.
    assert PLAIN.canonical_json().startswith('{"act":"gelu","attention":"none","bottleneck":"none"')
    assert PLAIN.id == "7776022beacb"


def test_unused_compression_does_not_change_id():
    assert dataclasses.replace(PLAIN, compression=32).id == PLAIN.id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"compression": 3}, "compression factor N must be a power of two in 2..32, got 3"),
        ({"compression": 64}, "compression factor N must be a power of two in 2..32, got 64"),
        (
            {"widths": (8, 16, 24, 32, 48, 66)},
            "norm 'gn4' needs every width divisible by 4, got 66",
        ),
        ({"widths": (8, 16, 24, 32, 48)}, "6 encoder blocks for 5 widths"),
        ({"decoder": ("conv3",) * 6}, "needs 5 decoder blocks, got 6"),
        ({"encoder": ("conv3",) * 5 + ("nope",)}, "unknown block 'nope'"),
        ({"layout": "vnet"}, "unknown layout 'vnet'"),
        ({"attention": "sa_ca"}, "attention order 'sa_ca' has no effect"),
        ({"attention": "spatial"}, "unknown attention order 'spatial'"),
        ({"upsample": "pixelshuffle"}, "unknown up-sampling mode 'pixelshuffle'"),
        ({"bridge": "bogus"}, "unknown bridge 'bogus'"),
        ({"bottleneck": "conv3"}, "the malunet layout has no separate bottleneck"),
        ({"stem": "conv3"}, "stem 'conv3' needs stem_width >= 1"),
        ({"version": 2}, "version 2 is not supported"),
        ({"widths": (8, 16, 24, 32, 48, 0)}, "widths must be positive integers"),
    ],
)
def test_invalid_genotypes_are_rejected_with_one_message(change, message):
    with pytest.raises(GenotypeError) as info:
        dataclasses.replace(PLAIN, **change)
    assert message in str(info.value)
    assert str(info.value).count("\n") == 0


def test_block_group_constraints_are_checked():
    # EMA inside SCF needs channels divisible by its 8 groups: 36 is not.
    with pytest.raises(GenotypeError, match="encoder 6 'scf'"):
        dataclasses.replace(
            PLAIN, widths=(8, 16, 24, 32, 48, 36), encoder=("conv3",) * 5 + ("scf",)
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"widths": [8], "encoder": ["conv3"], "decoder": [], "colour": "red", "version": 1}',
            "unknown genotype key(s): colour",
        ),
        (
            '{"widths": [8, 16], "encoder": ["conv3", "conv3"], "decoder": ["conv3"], "version": 7}',
            "genotype version 7 is not supported",
        ),
        (
            '{"widths": [8, 16], "encoder": ["conv3", "conv3"], "decoder": ["conv3"]}',
            "genotype version None is not supported",
        ),
        (
            '{"widths": "8", "encoder": ["conv3"], "decoder": [], "version": 1}',
            "genotype key 'widths' must be list",
        ),
        (
            '{"widths": [8, 16], "encoder": ["conv3", 3], "decoder": ["conv3"], "version": 1}',
            "'encoder' must be a list of str",
        ),
        (
            '{"widths": [8, 16], "encoder": ["conv3", "conv3"], "version": 1}',
            "missing key(s): decoder",
        ),
        ("[1, 2]", "must be a JSON object"),
        ("{nope", "not valid JSON"),
    ],
)
def test_bad_json_is_rejected(text, message):
    with pytest.raises(GenotypeError) as info:
        Genotype.from_json(text)
    assert message in str(info.value)


def test_to_json_is_sorted_and_versioned():
    data = json.loads(PLAIN.to_json())
    assert data["version"] == 1
    assert list(data) == sorted(data)


def test_input_size_must_be_a_multiple_of_the_stride():
    import torch

    model = build_model(PLAIN).eval()
    assert PLAIN.stride == 32
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 192, 256)).shape == (1, 1, 192, 256)
        with pytest.raises(ValueError, match="not a multiple of the network's total stride 32"):
            model(torch.zeros(1, 3, 200, 256))


@pytest.mark.parametrize(
    ("text", "params", "macs"),
    [
        ("400k", 400_000, 400_000),
        ("0.4M", 400_000, 400_000),
        ("400000", 400_000, 400_000 * 10**9),
        ("0.1", None, 100_000_000),
        ("100M", 100_000_000, 100_000_000),
        ("1.5e5", 150_000, 150_000 * 10**9),
    ],
)
def test_budgets_in_human_form(text, params, macs):
    if params is None:
        with pytest.raises(BudgetError, match="at least 1 parameter"):
            parse_params(text)
    else:
        assert parse_params(text) == params
    assert parse_macs(text) == macs


@pytest.mark.parametrize("text", ["0.4X", "-1M", "abc", "", "0", "inf", "1M1", "nan"])
def test_budgets_of_bad_form_are_rejected(text):
    with pytest.raises(BudgetError) as info:
        parse_params(text)
    assert repr(text) in str(info.value)
    with pytest.raises(BudgetError):
        parse_macs(text)
