"""MALUNet and SCSONet: exact parameter counts (whole and per part), shapes, MACs, checks."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from searchspace import BLOCKS, BRIDGES, STEMS, BlockOptions, build_model
from searchspace.blocks.malunet import DGA, GAU, ExternalAttention
from searchspace.blocks.odconv import ODConv3
from searchspace.blocks.scconv import PConv, SCConv
from searchspace.blocks.scsonet import EMA
from searchspace.presets import get_preset

OPTS = BlockOptions(norm="gn4", act="gelu")
SKIPS = (8, 16, 24, 32, 48)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# seed-models.md §3 and §4: the stage blocks (without the stage's GroupNorm) and the bridge.
STAGE_PARAMS = {
    "malunet": {
        "encoder": (224, 1_168, 3_480, 10_768, 18_720, 39_584),
        "decoder": (46_000, 23_600, 12_632, 3_472, 1_160),
    },
    "scsonet": {
        "encoder": (224, 1_873, 3_480, 9_532, 18_512, 37_888),
        "decoder": (37_584, 18_288, 9_450, 3_472, 2_001),
    },
}


@pytest.mark.parametrize("name, params", [("malunet", 177_943), ("scsonet", 159_439)])
def test_preset_params_exact(name: str, params: int) -> None:
    preset = get_preset(name)
    model = build_model(preset.genotype)
    assert count(model) == params == preset.reference_params
    assert tuple(count(s.block) for s in model.encoder) == STAGE_PARAMS[name]["encoder"]
    assert tuple(count(s.block) for s in model.decoder) == STAGE_PARAMS[name]["decoder"]
    assert count(model.bridge) == 16_614
    norms = sum(count(s.norm) for s in (*model.encoder, *model.decoder))
    assert norms == 512
    assert count(model.head) == 9


@pytest.mark.parametrize("name", ["malunet", "scsonet"])
def test_preset_forward_shapes(name: str) -> None:
    model = build_model(get_preset(name).genotype).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 192, 256))
    assert y.shape == (2, 1, 192, 256)
    assert torch.isfinite(y).all()
    with torch.device("meta"):
        meta = build_model(get_preset(name).genotype)
        assert meta(torch.empty(2, 3, 256, 256)).shape == (2, 1, 256, 256)


@pytest.mark.parametrize("name", ["malunet", "scsonet"])
def test_preset_macs_match_reference(name: str) -> None:
    """thop and torch MACs at 1x3x256x256 within 1 % of the authors' code (seed-models.md §1)."""
    thop = pytest.importorskip("thop")
    preset = get_preset(name)
    model = build_model(preset.genotype).eval()
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    torch_macs = counter.get_total_flops() / 2
    thop_macs = thop.profile(copy.deepcopy(model), inputs=(x,), verbose=False)[0]
    assert torch_macs == pytest.approx(preset.reference_macs_torch, rel=0.01)
    assert thop_macs == pytest.approx(preset.reference_macs_thop, rel=0.01)


# ---------------------------------------------------------------- parts (seed-models.md §3, §4)
@pytest.mark.parametrize("c, params", [(24, 1_116), (32, 1_952), (48, 4_320)])
def test_scconv_params(c: int, params: int) -> None:
    assert count(SCConv(c)) == params


@pytest.mark.parametrize("c, params", [(24, 102), (32, 176), (48, 384), (64, 672)])
def test_ema_params(c: int, params: int) -> None:
    assert count(EMA(c)) == params


@pytest.mark.parametrize("c", [24, 32, 48])
def test_pconv_params(c: int) -> None:
    assert count(PConv(c)) == (c // 2) ** 2 * 9


@pytest.mark.parametrize("cin, cout, params", [(8, 16, 1_873), (16, 8, 2_001)])
def test_odconv_params(cin: int, cout: int, params: int) -> None:
    assert count(ODConv3(cin, cout)) == params
    assert count(BLOCKS.build("odconv3", cin, cout, OPTS)) == params
    assert count(STEMS.build("odconv3", cin, cout, OPTS)) == params


@pytest.mark.parametrize("c", [24, 32, 48])
def test_external_attention_params(c: int) -> None:
    assert count(ExternalAttention(c, OPTS)) == 10 * c * c + 3 * c


@pytest.mark.parametrize("cin, cout", [(24, 32), (64, 48)])
def test_dga_params(cin: int, cout: int) -> None:
    gau = 2 * cin * cin + 2 * cin * cout + 54 * cin + 2 * cout
    assert count(GAU(cin, cout, OPTS)) == gau
    assert count(DGA(cin, cout, OPTS)) == 3 * cin * cin + 2 * cin * cout + 67 * cin + 2 * cout


def test_scab_params_and_any_skips() -> None:
    assert count(BRIDGES.build("scab", SKIPS, 64, None)) == 16_614
    skips = (5, 7, 64)
    bridge = BRIDGES.build("scab", skips, 64, None)
    total = sum(skips)
    assert count(bridge) == 99 + 3 + (total + 1) * total
    xs = [torch.randn(2, c, s, s) for c, s in zip(skips, (16, 8, 8), strict=True)]
    assert [y.shape for y in bridge.prepare(xs)] == [x.shape for x in xs]
    assert bridge.fuse(0, xs[0], deeper=xs[1], decoder=xs[0], mask=None) is xs[0]


# ---------------------------------------------------------------- behaviour
def test_odconv_is_per_sample() -> None:
    """The grouped conv over the batch gives each sample its own kernel, independent of others."""
    torch.manual_seed(0)
    m = ODConv3(8, 16).eval()
    x = torch.randn(3, 8, 12, 10)
    with torch.no_grad():
        batched = m(x)
        single = torch.cat([m(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


def test_odconv_trains_on_a_batch_of_one() -> None:
    """A train-mode batch of 1 uses the running statistics (the authors' BatchNorm would raise)."""
    m = ODConv3(8, 16)
    x = torch.randn(1, 8, 16, 16)
    y = m.train()(x)
    y.square().mean().backward()
    assert torch.equal(m.bn.running_mean, torch.zeros(16))
    with torch.no_grad():
        torch.testing.assert_close(y.detach(), m.eval()(x))


def test_sru_hard_gate_has_no_gradient_and_is_declared() -> None:
    for name in ("scconv", "scf", "scf_dec"):
        entry = BLOCKS.entry(name)
        cin, cout = entry.test_channels
        m = entry.factory(cin, cout, OPTS)
        m(torch.randn(2, cin, 16, 16)).square().mean().backward()
        no_grad = {k for k, p in m.named_parameters() if p.grad is None}
        declared = entry.meta["no_grad"]
        assert no_grad and all(k.endswith(declared) for k in no_grad)


def test_sru_works_when_groups_do_not_divide_channels() -> None:
    m = SCConv(24)  # 16 normalisation groups over 24 channels, as the authors' code
    assert m(torch.randn(2, 24, 8, 8)).shape == (2, 24, 8, 8)
    assert SCConv(8)(torch.randn(2, 8, 5, 5)).shape == (2, 8, 5, 5)


@pytest.mark.parametrize(
    "name, cin, cout, bad",
    [
        ("scconv", 20, 20, "divisible by 8"),
        ("scconv", 16, 24, "in_channels == out_channels"),
        ("pconv", 15, 15, "divisible by 2"),
        ("ema", 20, 20, "divisible by 8"),
        ("scf", 20, 32, "divisible by 8"),
        ("scf", 24, 36, "divisible by 8"),
        ("scf_dec", 36, 20, "divisible by 8"),
        ("ea", 16, 24, "in_channels == out_channels"),
        ("ea", 18, 18, "divisible by 4"),
        ("dga", 18, 16, "divisible by 4"),
        ("ea_dga", 30, 32, "divisible by 4"),
        ("dga_ea", 32, 30, "divisible by 4"),
    ],
)
def test_checks_reject_impossible_channels(name: str, cin: int, cout: int, bad: str) -> None:
    msg = BLOCKS.entry(name).check(cin, cout, OPTS)
    assert msg and bad in msg


def test_checks_accept_the_presets_and_other_norms() -> None:
    assert BLOCKS.entry("ea").check(18, 18, BlockOptions(norm="bn")) is None
    assert BLOCKS.entry("dga_ea").check(32, 30, BlockOptions(norm="bn")) is None
    assert BLOCKS.entry("scf").decoder == "scf_dec"
    assert BLOCKS.entry("ea_dga").decoder == "dga_ea"


def test_scsonet_convstem_is_stages_1_to_3() -> None:
    g = get_preset("scsonet").genotype
    assert g.encoder[:3] == ("conv3", "odconv3", "conv3")
    assert g.decoder[-1] == "odconv3"
    assert g.stem == "none"
