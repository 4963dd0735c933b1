"""The cost model: exact numbers by hand, per-part sums equal to whole-model counts."""

from __future__ import annotations

import json
from pathlib import Path

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


def _cost_in_subprocess(cache: Path, env_extra: dict | None = None) -> dict:
    import os
    import subprocess
    import sys

    code = (
        "import json; from searchspace.cost import count_cost, PART_CACHE;"
        "from searchspace.presets import PRESETS;"
        "c = count_cost(PRESETS['scsonet'].genotype, (64, 64));"
        "print(json.dumps({'params': c.params, 'thop': c.macs_thop, 'torch': c.macs_torch,"
        " 'misses': PART_CACHE.misses, 'hits': PART_CACHE.hits}))"
    )
    env = {**os.environ, "LESION_NAS_CACHE": str(cache), **(env_extra or {})}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_part_costs_persist_across_processes(tmp_path):
    from searchspace.cost_cache import code_version

    first = _cost_in_subprocess(tmp_path)
    assert first["misses"] > 0 and first["hits"] == 0
    files = list(tmp_path.glob("part-costs-*.json"))
    assert [f.name for f in files] == [f"part-costs-{code_version()}.json"]
    second = _cost_in_subprocess(tmp_path)
    assert second["misses"] == 0 and second["hits"] == first["misses"]
    assert (second["params"], second["thop"], second["torch"]) == (
        first["params"],
        first["thop"],
        first["torch"],
    )
    whole = count_cost(PRESETS["scsonet"].genotype, (64, 64), method="whole")
    assert (first["params"], first["thop"], first["torch"]) == (
        whole.params,
        whole.macs_thop,
        whole.macs_torch,
    )


def test_part_cost_persistence_can_be_switched_off(tmp_path):
    _cost_in_subprocess(tmp_path, {"LESION_NAS_COST_CACHE": "0"})
    assert not list(tmp_path.glob("part-costs-*"))
