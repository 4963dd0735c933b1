"""Ablation neighbours, the papers' plans, and the paired statistics (hand-computed values)."""

from __future__ import annotations

import numpy as np
import pytest

from searchspace.presets import get_preset
from searchspace.space import with_block, with_stem
from studies.ablation.plan import PLANS, neighbours, plan
from studies.evidence.stats import mean_std, paired_comparison


def test_neighbours_vary_one_factor_at_a_time():
    base = get_preset("scsonet").genotype
    variants = neighbours(base, ["stem", "bridge", "attention"])
    assert variants[0].factor == "base" and variants[0].genotype == base
    made = {v.name: v for v in variants}
    # the base's own values are not repeated; every other value is there
    assert "stem=convstem" not in made and "bridge=scab" not in made
    assert {
        "stem=plain",
        "stem=dsc",
        "stem=axial",
        "bridge=none",
        "bridge=mlsffm",
        "bridge=gate",
        "bridge=gab",
    } <= set(made)
    assert made["attention"].skipped == "the base has no attention to vary"
    plain = made["stem=plain"].genotype
    assert plain.encoder[3:] == base.encoder[3:] and plain.bridge == base.bridge
    assert plain.encoder[:3] == ("conv3", "conv3", "conv3")
    gab = made["bridge=gab"].genotype
    assert gab.bridge == "gab" and gab.deep_supervision and gab.encoder == base.encoder
    ids = [v.genotype.id for v in variants if v.genotype]
    assert len(ids) == len(set(ids))


def test_the_width_profile_is_varied_on_networks_of_the_wide_space():
    """The wide-space winner (MALUNet depth 5, steep 8-24-32-48-72, gate bridge): its width
    profile read off the genotype, and varied to the hand-computed widths of the other three,
    everything else unchanged; U-Lite (not a point of the space) has none to vary."""
    import json
    from pathlib import Path

    from searchspace import Genotype
    from searchspace.space import FACTORS as BASE_FACTORS
    from searchspace.space import WIDTH_PROFILE

    path = Path(__file__).resolve().parents[1] / "docs" / "evidence" / "wide-651cc08b5de0.json"
    base = Genotype.from_dict(json.loads(path.read_text()))
    assert base.widths == (8, 24, 32, 48, 72) and WIDTH_PROFILE.read(base) == "steep"
    made = {v.name: v for v in neighbours(base, ["width_profile"])}
    widths = {k: made[f"width_profile={k}"].genotype.widths for k in ("paper", "flat", "wide_top")}
    # flat: 8 x (1, 1.5, 2, 2.5, 3.5) = 8, 12, 16, 20, 28, the deep stages (from the second on
    # in a depth-5 malunet layout) rounded up to multiples of 8
    assert widths == {"paper": (8, 16, 24, 32, 48), "flat": (8, 16, 16, 24, 32),
                      "wide_top": (16, 16, 24, 32, 48)}  # fmt: skip
    for v in made.values():
        if v.genotype is not None:
            g = v.genotype
            assert (g.encoder, g.decoder, g.bridge) == (base.encoder, base.decoder, base.bridge)
    assert "width_profile=steep" not in made  # the base's own value
    assert WIDTH_PROFILE.read(get_preset("malunet").genotype) == "paper"
    ulite = neighbours(get_preset("ulite").genotype, ["width_profile"])
    assert ulite[1].skipped == "the base has no width_profile to vary"
    assert "width_profile" not in {f.name for f in BASE_FACTORS}  # the base space has none


def test_invalid_neighbours_are_skipped_with_their_reason():
    variants = {v.name: v for v in neighbours(get_preset("scsonet").genotype, ["block"])}
    assert variants["block=ecdf"].genotype is None
    assert "needs out_channels divisible by 2N" in variants["block=ecdf"].skipped
    assert variants["block=dscm"].genotype is not None
    with pytest.raises(ValueError, match="unknown factor"):
        neighbours(get_preset("scsonet").genotype, ["colour"])


def test_plans_reproduce_the_papers_tables():
    assert set(PLANS) == {
        "ulrts-attention",
        "ulrts-modules",
        "lmsa-compression",
        "scsonet-scf",
        "scsonet-modules",
    }
    lmsa = plan("lmsa-compression")
    assert [v.name for v in lmsa] == ["N=8", "N=2", "N=4", "N=16", "N=32"]
    assert [v.genotype.compression for v in lmsa] == [8, 2, 4, 16, 32]
    modules = plan("scsonet-modules")
    assert modules[0].name == "MALUNet" and modules[0].factor == "base"
    both = modules[-1].genotype
    assert both.id == get_preset("scsonet").genotype.id
    assert modules[1].genotype.id == with_stem(get_preset("malunet").genotype, "convstem").id
    assert modules[2].genotype.id == with_block(get_preset("malunet").genotype, "scf").id
    scf = {v.name: v.genotype for v in plan("scsonet-scf")}
    assert (
        "scf_dsc" in scf["SCF with DSC"].encoder
        and "scf_dec_noema" in scf["SCF without EMA"].decoder
    )
    assert [v.name for v in plan("ulrts-attention")][0] == "attention ca_sa"
    assert len(plan("ulrts-modules")) == 5


def test_wilcoxon_and_bootstrap_by_hand():
    # d = [0.1, -0.2, 0.3, 0.4, 0.5]: ranks of |d| 1..5, W- = 2, W+ = 13; exact two-sided
    # p = 2 * P(W <= 2) = 2 * 3/32 (subsets {}, {1}, {2}) = 0.1875.
    base = np.zeros((1, 5))
    variant = np.array([[0.1, -0.2, 0.3, 0.4, 0.5]])
    c = paired_comparison(variant, base, n_boot=500, seed=1)
    assert c.n_pairs == 5
    assert c.statistic == 2.0
    assert c.p_value == pytest.approx(0.1875)
    assert c.mean_delta == pytest.approx(0.22)
    assert c.ci_low <= 0.22 <= c.ci_high
    assert not c.significant  # p >= 0.05


def test_constant_improvement_is_significant_with_a_point_interval():
    base = np.full((3, 30), 0.5)
    variant = base + 0.04
    c = paired_comparison(variant, base, n_boot=200)
    assert c.ci_low == pytest.approx(0.04) and c.ci_high == pytest.approx(0.04)
    assert c.p_value < 1e-6 and c.significant
    same = paired_comparison(base, base)
    assert same.p_value == 1.0 and not same.significant and same.mean_delta == 0.0


def test_mean_std_and_shape_check():
    assert mean_std([0.8, 0.9, 1.0]) == (pytest.approx(0.9), pytest.approx(0.1), 3)
    assert mean_std([0.7]) == (0.7, 0.0, 1)
    with pytest.raises(ValueError, match=r"\(seeds, images\)"):
        paired_comparison(np.zeros((2, 3)), np.zeros((3, 2)))
