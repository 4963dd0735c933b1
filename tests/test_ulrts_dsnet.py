"""ULRTS-Net and DSNET (reconstructions without code): exact counts, paper calibration, parts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from searchspace.blocks.dsnet import THETA, DifferenceDW, GateUnit
from searchspace.blocks.ulrts import MLSFFM
from searchspace.genotype import Genotype, GenotypeError
from searchspace.network import build_model
from searchspace.presets import get_preset
from searchspace.presets.ulrtsnet import (
    PAPER_PARAMS,
    ULRTS_ABLATION_VARIANTS,
    ULRTS_ATTENTION_VARIANTS,
)
from searchspace.registry import BLOCKS, STEMS, BlockOptions


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def torch_macs(genotype: Genotype, size: int = 256) -> float:
    """FlopCounterMode total / 2 at 1x3xSxS, on the meta device (fast, no data)."""
    with torch.device("meta"):
        model = build_model(genotype).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, size, size))
    return counter.get_total_flops() / 2


# ---------------------------------------------------------------- presets: exact counts
PRESET_PARAMS = {"ulrtsnet": 406_115, "dsnet": 292_786}
PAPER = {"ulrtsnet": 407_000, "dsnet": 291_000}


@pytest.mark.parametrize("name", sorted(PRESET_PARAMS))
def test_preset_params_exact_and_near_paper(name: str) -> None:
    preset = get_preset(name)
    p = n_params(build_model(preset.genotype))
    assert p == PRESET_PARAMS[name]
    assert abs(p / PAPER[name] - 1) < 0.05  # required: within 5 % of the paper's figure
    assert preset.reference_params is None and preset.reconstructed
    assert preset.recipe == name


def test_dsnet_description_says_abstract() -> None:
    assert "reconstructed from the abstract" in get_preset("dsnet").description


@pytest.mark.parametrize("name", sorted(PRESET_PARAMS))
def test_preset_forward_shape(name: str) -> None:
    model = build_model(get_preset(name).genotype).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 192, 256))
    assert y.shape == (2, 1, 192, 256)
    assert torch.isfinite(y).all()


def test_preset_torch_macs() -> None:
    assert torch_macs(get_preset("ulrtsnet").genotype) == pytest.approx(299.87e6, rel=1e-3)
    # DSNET's abstract: 0.287 G
    assert torch_macs(get_preset("dsnet").genotype) == pytest.approx(287.18e6, rel=1e-3)


def test_ulrtsnet_parts() -> None:
    m = build_model(get_preset("ulrtsnet").genotype)
    assert [n_params(e) for e in m.encoder] == [343, 814, 2294, 64040, 254952]
    assert [n_params(d) for d in m.decoder] == [53992, 19560, 5734, 1894, 742]
    assert n_params(m.bridge) == 1741 and n_params(m.head) == 9


def test_dsnet_parts() -> None:
    m = build_model(get_preset("dsnet").genotype)
    assert [n_params(e) for e in m.encoder] == [960, 2944, 8088, 15456, 30000, 51776]
    assert [n_params(d) for d in m.decoder] == [52736, 30336, 15792, 8256, 20832]
    assert [n_params(u) for u in m.bridge.units] == [27937, 15769, 7057, 3997, 817]
    assert n_params(m.head) == 33


# ---------------------------------------------------------------- ULRTS-Net calibration
ABLATION_PARAMS = {
    "dc-x5": 934_753,
    "dscm-x5": 120_246,
    "dscm-x3-msffm3-x2": 404_374,
    "dscm-x3-msffm3-msffm5": 404_374,
    "full": 406_115,
}
ATTENTION_PARAMS = {
    "none": 405_087,
    "sa": 406_077,
    "ca": 405_125,
    "sa_ca": 406_115,
    "ca_sa": 406_115,
}


@pytest.mark.parametrize("key", sorted(ABLATION_PARAMS))
def test_ulrts_ablation_variants(key: str) -> None:
    g = ULRTS_ABLATION_VARIANTS[key]
    p = n_params(build_model(g))
    assert p == ABLATION_PARAMS[key]
    tolerance = 0.15 if key == "dscm-x5" else 0.03  # see docs/reconstructions.md
    assert abs(p / (PAPER_PARAMS[key] * 1e6) - 1) < tolerance


@pytest.mark.parametrize("order", sorted(ATTENTION_PARAMS))
def test_ulrts_attention_variants(order: str) -> None:
    p = n_params(build_model(ULRTS_ATTENTION_VARIANTS[order]))
    assert p == ATTENTION_PARAMS[order]
    assert abs(p / (PAPER_PARAMS[f"att-{order}"] * 1e6) - 1) < 0.01


def test_full_variant_is_the_preset() -> None:
    assert ULRTS_ABLATION_VARIANTS["full"].id == get_preset("ulrtsnet").genotype.id
    assert ULRTS_ATTENTION_VARIANTS["ca_sa"].id == get_preset("ulrtsnet").genotype.id


# ---------------------------------------------------------------- blocks at given channels
BN = BlockOptions(norm="bn", act="relu")


@pytest.mark.parametrize(
    ("kind", "name", "opts", "expected"),
    [
        (BLOCKS, "dsc", BN, 9 * 16 + 32 + 16 * 32 + 64),  # 752
        (BLOCKS, "dsc", BlockOptions(norm="none"), 9 * 16 + 16 + 16 * 32 + 32),  # 704
        (BLOCKS, "sdc", BN, 752),
        (BLOCKS, "dscm", BN, 752 + 9 * 32 + 64 + 32 * 32 + 64),  # 2192
        (BLOCKS, "dscm", BlockOptions(attention="ca_sa"), 2192 + 3 + 99),
        (BLOCKS, "msffm3", BN, 16 * 32 + 64 + 3 * (9 * 32 * 16 + 32) + 48 * 32 + 64),  # 16096
        (BLOCKS, "msffm5", BN, 16096),
        (STEMS, "dsc", BN, 9 * 3 + 3 + 3 * 16 + 16),  # 94
    ],
)
def test_block_params(kind, name: str, opts: BlockOptions, expected: int) -> None:
    entry = kind.entry(name)
    assert n_params(entry.factory(*entry.test_channels, opts)) == expected


@pytest.mark.parametrize("channels", [None, (3, 8)])
@pytest.mark.parametrize("name", ["dsc", "dscm", "msffm3", "msffm5", "sdc"])
def test_block_shape_grad_meta(name: str, channels: tuple[int, int] | None) -> None:
    """At the test channels, and as a first stage on an RGB image with gn4."""
    entry = BLOCKS.entry(name)
    cin, cout = channels or entry.test_channels
    assert entry.check(cin, cout, BlockOptions()) is None
    opts = BlockOptions(attention="ca_sa")
    block = entry.factory(cin, cout, opts)
    y = block(torch.randn(2, cin, 64, 48))
    assert y.shape == (2, cout, 64, 48) and torch.isfinite(y).all()
    y.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    with torch.device("meta"):
        assert entry.factory(cin, cout, opts)(torch.empty(2, cin, 16, 16)).shape[1] == cout


def test_difference_dw_is_cdc() -> None:
    """DW_w(x) + theta (DW_w(x) - x sum w) equals one DW conv with (1+theta) w - theta sum(w) at the centre."""
    torch.manual_seed(0)
    layer = DifferenceDW(4, bias=True)
    x = torch.randn(2, 4, 9, 7)
    w = layer.conv.weight.detach()
    kernel = (1 + THETA) * w
    kernel[:, :, 1, 1] -= THETA * w.sum(dim=(2, 3))  # the bias is not part of the difference
    expected = F.conv2d(x, kernel, layer.conv.bias.detach(), padding=1, groups=4)
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_mlsffm_params_and_any_number_of_skips() -> None:
    bridge = MLSFFM((8, 16, 32, 64, 128))
    assert n_params(bridge) == 7 * 248 + 5
    skips = [torch.randn(2, c, 64 >> i, 48 >> i) for i, c in enumerate((8, 16, 32))]
    out = MLSFFM((8, 16, 32)).prepare(skips)
    assert [o.shape for o in out] == [s.shape for s in skips]


def test_gate_unit_params() -> None:
    c, d, m = 32, 64, 8
    assert n_params(GateUnit(c, d, "gelu")) == c * m + d * m + m + m + 1 + m * c + c


@pytest.mark.parametrize("layout", ["malunet", "unet", "ulite"])
@pytest.mark.parametrize("bridge", ["gate", "mlsffm"])
def test_bridges_in_every_layout(layout: str, bridge: str) -> None:
    widths = (8, 16, 24, 32)
    extra = {"stem": "dsc", "stem_width": 8} if layout == "ulite" else {}
    g = Genotype(
        layout=layout,
        widths=widths,
        encoder=("sdc",) * 4 if layout == "ulite" else ("conv3", "sdc", "sdc", "sdc"),
        decoder=("dscm",) * (3 if layout == "malunet" else 4),
        bridge=bridge,
        **extra,
    )
    model = build_model(g)
    y = model(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, 1, 64, 96)
    y.square().mean().backward()
    assert all(p.grad is not None for p in model.bridge.parameters())


def test_checks_reject_bad_channels() -> None:
    with pytest.raises(GenotypeError, match="out_channels divisible by 4"):
        Genotype(layout="unet", widths=(8, 18), encoder=("dsc", "sdc"), decoder=("dsc", "dsc"))
    with pytest.raises(GenotypeError, match="divisible by 8"):
        Genotype(layout="unet", widths=(8, 20), encoder=("conv3", "msffm3"), decoder=("dsc", "dsc"))
    with pytest.raises(GenotypeError, match="divisible by 2"):
        Genotype(
            layout="unet",
            widths=(8, 9),
            encoder=("conv3", "msffm5"),
            decoder=("dsc", "dsc"),
            norm="bn",
        )
