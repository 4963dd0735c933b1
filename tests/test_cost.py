"""The cost model: exact numbers by hand, per-part sums equal to whole-model counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from searchspace import BLOCKS, STEMS, BlockOptions, Genotype, build_model
from searchspace.cost import count_cost, count_params
from searchspace.presets import PRESETS
from searchspace.space import random_genotypes

TINY = Genotype(widths=(4, 8), encoder=("conv3", "conv3"), decoder=("conv3",))


def test_tiny_network_by_hand():
    # conv3 3->4 (112) + GN(4) (8) + conv3 4->8 (296) + conv3 8->4 (292) + GN(4) (8) + head (5)
    cost = count_cost(TINY, (8, 8), memory=True)
    assert cost.params == 721
    # 8x8x4x27 + 4x4x8x36 + 4x4x4x72 + 4x4x1x4 multiply-accumulates
    assert cost.macs_torch == 6912 + 4608 + 4608 + 64
    assert cost.act_bytes > 0
    assert count_params(TINY) == sum(p.numel() for p in build_model(TINY).parameters())


@pytest.mark.parametrize("size", [(64, 64), (192, 256)])
@pytest.mark.parametrize("name", list(PRESETS))
def test_parts_equal_whole_for_presets(name, size):
    # parts: lean counters on tiny CPU probes + the size law; whole: thop.profile and
    # FlopCounterMode on the whole network at this size
    g = PRESETS[name].genotype
    parts = count_cost(g, size)
    whole = count_cost(g, size, method="whole")
    assert (parts.params, parts.macs_thop, parts.macs_torch) == (
        whole.params,
        whole.macs_thop,
        whole.macs_torch,
    )


def test_parts_equal_whole_for_sampled_genotypes():
    for g in random_genotypes(25, seed=11):
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


@pytest.mark.parametrize("opts", [0, 1], ids=["gn4-gelu", "bn-relu-ca_sa"])
@pytest.mark.parametrize("name", BLOCKS.names() + tuple(f"stem:{n}" for n in STEMS.names()))
def test_lean_counters_equal_thop_and_flopcountermode(name, opts):
    from searchspace.cost import _count_macs
    from searchspace.counters import count_macs_lean

    registry = STEMS if name.startswith("stem:") else BLOCKS
    entry = registry.entry(name.removeprefix("stem:"))
    cin, cout = entry.test_channels
    options = [
        BlockOptions(norm="gn4", act="gelu", attention="none", compression=8),
        BlockOptions(norm="bn", act="relu", attention="ca_sa", compression=4),
    ][opts]
    module = entry.factory(cin, cout, options)
    for shape in ((1, cin, 8, 12), (2, cin, 16, 16)):
        x = torch.zeros(shape)
        lean = count_macs_lean(module, (x,))
        # no counter state left on any module (thop.profile leaves some on unhooked ones)
        assert not any(hasattr(m, "total_ops") for m in module.modules())
        assert lean == _count_macs(module, (x,)), shape


def test_size_law_serves_every_image_size_from_one_entry():
    from searchspace.cost import PART_CACHE
    from searchspace.parts import iter_parts, memo_key

    g = PRESETS["scsonet"].genotype
    count_cost(g, (64, 64))
    misses = PART_CACHE.misses
    other = count_cost(g, (96, 160))  # a size never asked for
    # only the bridge (several input shapes, measured at its own) is measured again
    sized = [k for k in iter_parts(g, (96, 160)) if memo_key(k) == k]
    assert [k[0] for k in sized] == ["bridge"]
    assert PART_CACHE.misses == misses + 1
    laws = {memo_key(k) for k in iter_parts(g, (96, 160))} - set(sized)
    assert laws == {memo_key(k) for k in iter_parts(g, (64, 64))} - {
        k for k in iter_parts(g, (64, 64)) if k[0] == "bridge"
    }
    whole = count_cost(g, (96, 160), method="whole")
    assert (other.params, other.macs_thop, other.macs_torch) == (
        whole.params,
        whole.macs_thop,
        whole.macs_torch,
    )


def test_law_fit_is_exact_or_refused():
    from searchspace.cost import _FIT, _fit

    sizes = [(2, 2), (4, 2), (2, 4), (4, 4)]
    assert list(_FIT) == sizes
    law = (7, 3, 5, 11)  # a + b h + c w + d h w
    m = {(h, w): law[0] + law[1] * h + law[2] * w + law[3] * h * w for h, w in sizes}
    assert _fit(m, sizes) == law
    m[(4, 4)] += 1  # not of that form with integer coefficients
    assert _fit(m, sizes) is None


def test_costing_leaves_the_global_rng_alone(tmp_path, monkeypatch):
    from searchspace.cost import PART_CACHE

    monkeypatch.setenv("LESION_NAS_CACHE", str(tmp_path))  # an empty memo: every part is built
    PART_CACHE.clear()
    g = PRESETS["dsnet"].genotype
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    count_cost(g, (64, 64))  # builds its parts on the CPU: their weights draw random numbers
    assert PART_CACHE.misses > 0
    assert torch.equal(torch.rand(3), expected)
    PART_CACHE.clear()


def test_memory_is_measured_when_the_deepest_map_is_one_pixel():
    """A six-stage malunet at 32x32 ends on a 1x1 map, where ECDF's BatchNorm compress unit sees
    one value per channel: the train-mode memory pass must not fail there (it once failed such
    candidates after they were claimed for training); BatchNorm's mode does not change the bytes
    saved (64x64: the value measured with the layers in train mode, before they ran in eval)."""
    g = Genotype.from_dict({
        "widths": [24, 48, 128, 128, 192, 192], "encoder": ["dsc", "dsc", "dsc", "ecdf", "ecdf", "ecdf"],
        "decoder": ["ecdf", "ecdf", "ecdf", "dsc", "dsc"], "layout": "malunet", "stem": "none",
        "stem_width": 0, "bottleneck": "none", "bridge": "none", "attention": "ca_sa",
        "compression": 32, "upsample": "nearest", "norm": "gn4", "act": "gelu", "version": 1,
    })  # fmt: skip
    small = count_cost(g, (32, 32), memory=True)
    assert small.act_bytes == 1_402_640
    assert count_cost(g, (64, 64), memory=True).act_bytes == 5_510_432
