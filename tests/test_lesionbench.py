"""lesionbench's sub-space: exhaustive over the mission factors, so every one-factor neighbour of
every candidate is itself a candidate (the property the local-search replay needs)."""

from __future__ import annotations

from benchmarks.lesionbench.build import PHASES, subset
from benchmarks.lesionbench.space import MACROS, candidates, neighbours
from searchspace.space import make_genotype


def test_the_sub_space_is_exhaustive_and_closed_under_one_factor_moves():
    cands = candidates()
    # per macro: 4 stems x (7 families without options + 6 orders each for dscm and msffm
    # + 5 N x 6 orders for ECDF = 49) x bridges (malunet 5, unet 4) = 980 + 784, all distinct
    assert len(cands) == 1764
    keys = {make_genotype(c).id for _, c in cands}
    assert len(keys) == len(cands)
    for macro, c in cands[::37]:  # a spread of 48 candidates, each with all its neighbours
        assert {k: c[k] for k in MACROS[macro]} == MACROS[macro]
        ns = neighbours(c)
        assert ns and all(make_genotype(n).id in keys for n in ns)
        moved = [sum(n.get(k) != c.get(k) for k in ("stem", "block", "bridge")) for n in ns]
        assert max(moved) == 1


def test_neighbours_of_an_ecdf_candidate_vary_n_and_the_attention_order():
    c = {**MACROS["malunet-d6-w8"], "stem": "plain", "block": "ecdf", "compression": 8,
         "attention": "sa", "bridge": "none"}  # fmt: skip
    ns = neighbours(c)
    assert sorted(n["compression"] for n in ns if n["block"] == "ecdf" and n["attention"] == "sa"
                  and n["stem"] == "plain" and n["bridge"] == "none") == [2, 4, 16, 32]  # fmt: skip
    assert len(ns) == 3 + 9 + 4 + 5 + 4  # stems, blocks, N, orders, bridges
    to_scf = [n for n in ns if n["block"] == "scf"]
    assert to_scf == [{**MACROS["malunet-d6-w8"], "stem": "plain", "block": "scf",
                       "bridge": "none"}]  # fmt: skip


def test_the_noise_subset_is_stratified_and_fixed():
    cands = candidates()
    first, again = subset(cands), subset(cands)
    assert first == again
    families = {(m, c["block"]) for m, c in cands}
    assert len(first) == 4 * len(families)
    assert PHASES["low"]["epochs"] == 2 and PHASES["low"]["size"] == (64, 64)
