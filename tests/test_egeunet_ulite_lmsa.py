"""EGE-UNet, U-Lite and LMSAUnet: exact parameter counts of the presets and of their parts."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from searchspace import BLOCKS, BRIDGES, STEMS, Genotype, GenotypeError, build_model
from searchspace.blocks.egeunet import GHPA, GroupAggregation
from searchspace.presets import get_preset
from searchspace.registry import BlockOptions


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


PRESET_PARAMS = {"egeunet": 53_374, "ulite": 878_417, "lmsaunet": 476_673}


@pytest.mark.parametrize("name", sorted(PRESET_PARAMS))
def test_preset_params_and_shape(name: str) -> None:
    preset = get_preset(name)
    model = build_model(preset.genotype).eval()
    assert n_params(model) == PRESET_PARAMS[name] == preset.reference_params
    with torch.no_grad():
        out = model(torch.randn(2, 3, 192, 256))
    assert out.shape == (2, 1, 192, 256)
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------ EGE-UNet
def test_egeunet_parts() -> None:
    model = build_model(get_preset("egeunet").genotype)
    enc = [n_params(s.block) for s in model.encoder]
    dec = [n_params(s.block) for s in model.decoder]
    assert enc == [224, 1_168, 3_480, 1_952, 3_184, 5_728]
    assert dec == [6_832, 4_160, 2_392, 3_472, 1_160]
    assert [n_params(h) for h in model.aux_heads] == [49, 33, 25, 17, 9]
    assert [n_params(u) for u in model.bridge.units] == [9_368, 4_728, 2_792, 1_496, 584]
    assert n_params(model.head) == 9


@pytest.mark.parametrize(("din", "dout"), [(24, 32), (48, 64), (64, 48), (32, 24)])
def test_ghpa_formula(din: int, dout: int) -> None:
    assert n_params(GHPA(din, dout)) == din * din // 4 + 42 * din + din * dout + dout


@pytest.mark.parametrize(("h", "w"), [(8, 8), (12, 20), (64, 32)])
def test_ghpa_any_size(h: int, w: int) -> None:
    y = GHPA(16, 8)(torch.randn(2, 16, h, w))
    assert y.shape == (2, 8, h, w)


def test_gab_unit_formula_and_grads() -> None:
    unit = GroupAggregation(32, 24)
    assert n_params(unit) == 32 * 24 + 2 * 24 * 24 + 34 * 24 + 56
    out = unit(torch.randn(2, 32, 8, 8), torch.randn(2, 24, 16, 16), torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 24, 16, 16)
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in unit.parameters())


def test_egeunet_deep_supervision_reaches_every_parameter() -> None:
    model = build_model(get_preset("egeunet").genotype)
    out, aux = model(torch.randn(2, 3, 64, 64), return_aux=True)
    assert out.shape == (2, 1, 64, 64)
    assert [a.shape[-1] for a in aux] == [2, 4, 8, 16, 32]
    (out.square().mean() + sum(a.square().mean() for a in aux)).backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_gab_rules() -> None:
    g = get_preset("egeunet").genotype
    assert BRIDGES.entry("gab").meta["needs_deep_supervision"]
    with pytest.raises(GenotypeError, match="deep_supervision"):
        dataclasses.replace(g, name="", deep_supervision=False)
    with pytest.raises(GenotypeError, match="divisible by 4"):
        dataclasses.replace(g, name="", widths=(8, 16, 24, 30, 48, 64), norm="bn")
    with pytest.raises(GenotypeError, match="only in the 'malunet' layout"):
        Genotype(
            layout="unet",
            widths=(16, 32),
            encoder=("conv3",) * 2,
            decoder=("conv3",) * 2,
            bridge="gab",
            deep_supervision=True,
        )


# ------------------------------------------------------------------------------ U-Lite
def test_ulite_parts() -> None:
    model = build_model(get_preset("ulite").genotype)
    assert n_params(model.stem) == 2_368
    assert [n_params(s) for s in model.encoder] == [832, 2_688, 9_472, 35_328, 136_192]
    assert n_params(model.bottleneck) == 332_416
    assert [n_params(s) for s in model.decoder] == [267_264, 68_096, 17_664, 4_736, 1_344]
    assert n_params(model.head) == 17


def test_ulite_block_rules() -> None:
    opts = BlockOptions(norm="bn")
    assert BLOCKS.entry("axial_dw").check(16, 32, opts)
    assert BLOCKS.entry("axial_bottleneck").check(30, 30, opts)
    assert BLOCKS.entry("axial_dec").check(48, 18, BlockOptions(norm="gn4"))
    assert BLOCKS.entry("axial_dw").decoder == "axial_dec"


# ------------------------------------------------------------------------------ LMSAUnet
@pytest.mark.parametrize(
    ("n", "params"),
    [(2, 832_113), (4, 595_153), (8, 476_673), (16, 417_433), (32, 387_813)],
)
def test_lmsaunet_compression_table(n: int, params: int) -> None:
    g = dataclasses.replace(get_preset("lmsaunet").genotype, name="", compression=n)
    with torch.device("meta"):
        model = build_model(g)
    assert n_params(model) == params


@pytest.mark.parametrize(
    ("cin", "cout", "n"), [(3, 64, 8), (1024, 512, 8), (192, 64, 2), (384, 128, 32)]
)
def test_ecdf_formula(cin: int, cout: int, n: int) -> None:
    opts = BlockOptions(norm="bn", attention="parallel", compression=n)
    k = (n - 2) // 2
    expected = cin * cout // n + 2 * cout // n + k * 11 * cout // (2 * n) + cout * cout // 2
    expected += 2 * cout + 5 + 99 + 2
    assert n_params(BLOCKS.build("ecdf", cin, cout, opts)) == expected


def test_ecdf_rules() -> None:
    entry = BLOCKS.entry("ecdf")
    assert entry.takes_attention and entry.takes_compression
    assert entry.check(64, 48, BlockOptions(norm="bn", compression=16))  # 48 % 32
    assert entry.check(64, 96, BlockOptions(norm="gn4", compression=16)) is None  # BN inside
    assert entry.check(64, 64, BlockOptions(norm="bn", compression=32)) is None
    with pytest.raises(GenotypeError, match="divisible by 2N"):
        dataclasses.replace(
            get_preset("lmsaunet").genotype, name="", widths=(48, 128, 256, 512), compression=32
        )


def test_axial_block_and_stem() -> None:
    opts = BlockOptions()
    assert n_params(BLOCKS.build("axial", 16, 32, opts)) == 16 * 32 + 32 + 2 * (7 * 32 + 32)
    assert n_params(STEMS.build("axial", 3, 16, opts)) == 320
