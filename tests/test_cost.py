"""The cost model: exact numbers by hand, per-part sums equal to whole-model counts."""

from __future__ import annotations

import optuna
import pytest

from searchspace import Genotype, build_model
from searchspace.cost import count_cost, count_params
from searchspace.presets import PRESETS
from searchspace.space import sample_genotype

TINY = Genotype(widths=(4, 8), encoder=("conv3", "conv3"), decoder=("conv3",))


def test_tiny_network_by_hand():
    # conv3 3->4 (112) + GN(4) (8) + conv3 4->8 (296) + conv3 8->4 (292) + GN(4) (8) + head (5)
    cost = count_cost(TINY, (8, 8), memory=True)
    assert cost.params == 721
    # 8x8x4x27 + 4x4x8x36 + 4x4x4x72 + 4x4x1x4 multiply-accumulates
    assert cost.macs_torch == 6912 + 4608 + 4608 + 64
    assert cost.act_bytes > 0
    assert count_params(TINY) == sum(p.numel() for p in build_model(TINY).parameters())


@pytest.mark.parametrize("name", list(PRESETS))
def test_parts_equal_whole_for_presets(name):
    g = PRESETS[name].genotype
    size = (64, 64) if g.stride <= 64 else (g.stride, g.stride)
    parts = count_cost(g, size)
    whole = count_cost(g, size, method="whole")
    assert (parts.params, parts.macs_thop, parts.macs_torch) == (
        whole.params,
        whole.macs_thop,
        whole.macs_torch,
    )


def test_parts_equal_whole_for_sampled_genotypes():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=11))
    for _ in range(25):
        trial = study.ask()
        g = sample_genotype(trial)
        study.tell(trial, 0.0)
        parts = count_cost(g, (64, 96))
        whole = count_cost(g, (64, 96), method="whole")
        assert (parts.params, parts.macs_thop, parts.macs_torch) == (
            whole.params,
            whole.macs_thop,
            whole.macs_torch,
        ), g.summary()


def test_cost_rejects_sizes_off_the_stride():
    with pytest.raises(ValueError, match="multiple of the network's total stride 2"):
        count_cost(TINY, (7, 8))
