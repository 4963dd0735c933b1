"""Every registry entry: output shape, finite values, gradients reaching every parameter."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from searchspace import ATTENTIONS, BLOCKS, BRIDGES, STEMS, BlockOptions, Genotype, build_model
from searchspace.registry import Registry

OPTIONS = [
    BlockOptions(norm="gn4", act="gelu", attention="none", compression=8),
    BlockOptions(norm="bn", act="relu", attention="ca_sa", compression=4),
]


def _check_grads(module: torch.nn.Module, out: torch.Tensor, no_grad: tuple[str, ...] = ()) -> None:
    """Every parameter gets a non-zero gradient, except those the entry declares gradient-free
    by design (SCConv's SRU norm feeds only a hard threshold: ``meta["no_grad"]`` suffixes)."""
    out.square().mean().backward()
    params = [(n, p) for n, p in module.named_parameters() if not n.endswith(no_grad or ("\0",))]
    missing = [n for n, p in params if p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
    zero = [n for n, p in params if not torch.any(p.grad != 0)]
    assert not zero, f"gradient is zero everywhere for {zero}"


@pytest.mark.parametrize("opts", OPTIONS, ids=["gn4-gelu", "bn-relu-ca_sa"])
@pytest.mark.parametrize("name", BLOCKS.names() + tuple(f"stem:{n}" for n in STEMS.names()))
def test_block(name, opts):
    registry = STEMS if name.startswith("stem:") else BLOCKS
    entry = registry.entry(name.removeprefix("stem:"))
    cin, cout = entry.test_channels
    torch.manual_seed(0)
    module = entry.factory(cin, cout, opts)
    x = torch.randn(2, cin, 64, 64)
    out = module(x)
    assert out.shape == (2, cout, 64, 64)
    assert torch.isfinite(out).all()
    _check_grads(module, out, tuple(entry.meta.get("no_grad", ())))
    assert entry.doc, f"{name} has no docstring"


@pytest.mark.parametrize("name", ATTENTIONS.names())
def test_attention(name):
    module = ATTENTIONS.build(name, 16, BlockOptions())
    x = torch.randn(2, 16, 64, 64)
    out = module(x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    _check_grads(module, out)


def _bridge_genotype(name: str) -> Genotype:
    entry = BRIDGES.entry(name)
    return Genotype(
        widths=(8, 16, 24, 32, 48, 64),
        encoder=("conv3",) * 6,
        decoder=("conv3",) * 5,
        bridge=name,
        deep_supervision=bool(entry.meta.get("needs_deep_supervision")),
    )


@pytest.mark.parametrize("name", BRIDGES.names())
def test_bridge(name):
    torch.manual_seed(0)
    model = build_model(_bridge_genotype(name))
    out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64) and torch.isfinite(out).all()
    out.square().mean().backward()
    bridge_params = dict(model.bridge.named_parameters())
    assert bridge_params, f"bridge {name} has no parameters"
    missing = [n for n, p in bridge_params.items() if p.grad is None or not torch.any(p.grad != 0)]
    assert not missing, f"no gradient reaches bridge parameters {missing}"


@pytest.mark.parametrize("name", BRIDGES.names())
def test_bridge_in_unet_layout_or_clear_refusal(name):
    g = _bridge_genotype(name)
    try:
        g = dataclasses.replace(
            g,
            layout="unet",
            widths=(16, 32, 64, 128),
            encoder=("conv3",) * 4,
            decoder=("conv3",) * 4,
            norm="bn",
            deep_supervision=g.deep_supervision,
        )
    except ValueError as e:  # a bridge may be refused in a layout, with a message naming it
        assert name in str(e)
        return
    out = build_model(g)(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 1, 64, 64) and torch.isfinite(out).all()


def test_registry_refuses_duplicates_and_names_unknowns():
    reg = Registry("thing")
    reg.register("a")(lambda i, o, opts: torch.nn.Identity())
    with pytest.raises(KeyError, match="thing 'a' is already registered"):
        reg.register("a")(lambda i, o, opts: torch.nn.Identity())
    with pytest.raises(KeyError, match="unknown thing 'b'; known: a"):
        reg.entry("b")


def test_the_registries_hold_what_the_space_needs():
    needed_blocks = {
        "conv3",
        "odconv3",
        "scconv",
        "pconv",
        "ema",
        "scf",
        "scf_dec",
        "ecdf",
        "dsc",
        "dscm",
        "msffm3",
        "msffm5",
        "ea",
        "dga",
        "gau",
        "ea_dga",
        "dga_ea",
        "ghpa",
        "axial_dw",
        "axial_dec",
        "axial_bottleneck",
        "axial",
        "sdc",
        "double_conv",
    }
    assert needed_blocks <= set(BLOCKS.names())
    assert {"scab", "gab", "mlsffm", "gate"} <= set(BRIDGES.names())
    assert {"sa", "ca", "sa_ca", "ca_sa", "parallel"} == set(ATTENTIONS.names())
    assert {"conv3", "conv7", "odconv3", "dsc", "axial"} <= set(STEMS.names())
