"""Zero-cost proxies against closed forms and second, independent implementations; determinism;
refusals; and every proxy on a real preset."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from trainer.proxies import PROXIES, ProxyError, score, seg_loss


def two_layer(c: int = 3, hidden: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c, hidden, 1, bias=False), nn.Conv2d(hidden, 1, 1, bias=False))


def batch(n: int = 3, c: int = 3, h: int = 4, w: int = 5, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    y = (torch.rand(n, h, w, generator=g) > 0.5).float()
    return x, y


def test_synflow_of_a_two_layer_linear_network_has_a_closed_form():
    x, y = batch()
    torch.manual_seed(0)
    net = two_layer()
    w1 = net[0].weight.detach().abs().reshape(4, 3)
    w2 = net[1].weight.detach().abs().reshape(1, 4)
    n, _, h, w = x.shape
    r = n * h * w * float(w2 @ w1 @ torch.ones(3, 1))
    # R is homogeneous of degree 1 in each layer's weights: sum(theta * dR/dtheta) = R per layer
    assert score("synflow", two_layer, x, y, seed=0) == pytest.approx(
        2 * r, rel=1e-6
    )  # r in float32, synflow in float64


def _grads(net, x, y):
    net.zero_grad()
    seg_loss(net(x), y).backward()
    return [(p.detach(), p.grad.detach()) for p in net.parameters()]


def test_grad_norm_snip_fisher_against_a_second_implementation():
    x, y = batch()
    torch.manual_seed(0)
    pairs = _grads(two_layer(), x, y)
    assert score("grad_norm", two_layer, x, y) == pytest.approx(
        sum(float(g.norm()) for _, g in pairs)
    )
    assert score("snip", two_layer, x, y) == pytest.approx(
        sum(float((p * g).abs().sum()) for p, g in pairs)
    )
    # fisher: per conv output a, 0.5 * mean over images of (sum_hw a * dL/da)^2, summed over channels
    torch.manual_seed(0)
    net = two_layer()
    a1 = net[0](x)
    a2 = net[1](a1)
    g1, g2 = torch.autograd.grad(seg_loss(a2, y), [a1, a2])
    expected = sum(
        float(0.5 * ((a * g).sum(dim=(2, 3)) ** 2).mean(0).sum()) for a, g in ((a1, g1), (a2, g2))
    )
    assert score("fisher", two_layer, x, y) == pytest.approx(expected, rel=1e-6)


def test_grasp_against_an_explicit_hessian():
    x, y = batch(n=2, h=2, w=2)
    torch.manual_seed(0)
    net = two_layer(hidden=2)
    shapes = [p.shape for p in net.parameters()]
    theta = torch.cat([p.detach().reshape(-1) for p in net.parameters()])

    def loss_of(flat):
        w1 = flat[: shapes[0].numel()].reshape(shapes[0])
        w2 = flat[shapes[0].numel() :].reshape(shapes[1])
        return seg_loss(torch.conv2d(torch.conv2d(x, w1), w2), y)

    g = torch.func.grad(loss_of)(theta)
    hess = torch.autograd.functional.hessian(loss_of, theta)
    expected = float(-(theta @ (hess @ g)))
    assert score("grasp", lambda: two_layer(hidden=2), x, y) == pytest.approx(
        expected, rel=1e-5, abs=1e-9
    )


def test_naswot_and_jacob_cov_by_hand():
    # one unit per pixel, codes: image A = (1, 0), image B = (1, 1): K = [[2, 1], [1, 2]], det 3
    def relu_net():
        conv = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1.0)
        return nn.Sequential(conv, nn.ReLU())

    x = torch.tensor([[[[1.0, -1.0]]], [[[1.0, 1.0]]]])
    y = torch.zeros(2, 1, 2)
    assert score("naswot", relu_net, x, y) == pytest.approx(math.log(3))
    # a linear network: every image has the same input Jacobian, the correlation matrix is all
    # ones, eigenvalues (n, 0, ..., 0)
    xs, ys = batch(n=3)
    k = 1e-5
    expected = -((math.log(3 + k) + 1 / (3 + k)) + 2 * (math.log(k) + 1 / k))
    assert score("jacob_cov", two_layer, xs, ys) == pytest.approx(expected, rel=1e-6)


def test_determinism_refusals_and_the_callers_rng():
    x, y = batch()
    for name in ("grad_norm", "snip", "synflow"):
        assert score(name, two_layer, x, y, seed=3) == score(name, two_layer, x, y, seed=3)
        assert score(name, two_layer, x, y, seed=3) != score(name, two_layer, x, y, seed=4)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    score("snip", two_layer, x, y, seed=9)
    assert torch.equal(torch.rand(1), before)
    with pytest.raises(ProxyError, match="activation modules"):
        score("naswot", two_layer, x, y)
    with pytest.raises(ValueError, match="unknown proxy"):
        score("zen", two_layer, x, y)


@pytest.mark.parametrize("name", PROXIES)
def test_every_proxy_on_a_preset(name):
    from functools import partial

    from searchspace import build_model
    from searchspace.presets import PRESETS

    x, y = batch(n=4, h=32, w=32)
    build = partial(build_model, PRESETS["egeunet"].genotype)
    value = score(name, build, x, y, seed=0)
    assert math.isfinite(value) and value == score(name, build, x, y, seed=0)


def test_proxies_report_on_a_study_with_planted_accuracies(tmp_path, monkeypatch):
    """Accuracy planted as a decreasing function of params: the params baseline must rank it
    exactly (tau = -1), and the report holds every proxy with the right counts."""
    import pandas as pd

    import studies.search.trial as trial_steps
    from searchspace.cost import count_cost
    from studies.evidence.proxies import run_proxies
    from studies.search.run import options_from, run_search
    from trainer import FitResult

    def planted(genotype, config, data, *, out_dir, device, progress, on_epoch):
        acc = 1.0 - count_cost(genotype, (32, 32)).params / 1e6
        row = {"epoch": 1, "val_dice_per_image_mean": acc}
        return FitResult("completed", "planted", 1, {"dice_per_image_mean": acc}, None, [row], 1,
                         0.0, 0.0, out_dir)  # fmt: skip

    monkeypatch.setattr(trial_steps, "train_genotype", planted)
    out = run_search(options_from(trials=6, epochs=1, image_size=(32, 32), limit=32, seed=4,
                                  sampler="random", workers="1", progress=False, report=False,
                                  out=str(tmp_path)))  # fmt: skip
    res = run_proxies([out.study_name], proxies=["grad_norm", "synflow", "naswot"], seeds=2,
                      batch_size=4, out_root=tmp_path, progress=False)  # fmt: skip
    table = res["table"].set_index("proxy")
    assert table.loc["params", "kendall"] == pytest.approx(-1.0)
    assert table.loc["params", "kind"] == "baseline" and table.loc["synflow", "kind"] == "proxy"
    assert set(table.index) == {"grad_norm", "synflow", "naswot", "params", "macs"}
    assert (table["scored"] + table["failed"] == res["candidates"]).all()
    kendall = list(res["table"]["kendall"].dropna())
    assert kendall == sorted(kendall, reverse=True)  # rows sorted by tau
    per = pd.read_csv(tmp_path / out.study_name / "proxies" / "candidates.csv")
    assert len(per) == res["candidates"] >= 3
    for name in ("proxies.md", "proxies.html", "proxies.json"):
        assert (tmp_path / out.study_name / "proxies" / name).is_file()


def test_warm_start_refusal_and_enqueue(tmp_path, monkeypatch):
    import optuna

    import studies.search.trial as trial_steps
    from searchspace.cost import count_cost
    from studies.evidence.proxies import WARM_START, WARM_TRIAL, parse_warm_start
    from studies.search.run import options_from, run_search
    from studies.store import schema
    from trainer import FitResult

    def planted(genotype, config, data, *, out_dir, device, progress, on_epoch):
        acc = count_cost(genotype, (32, 32)).params / 1e6  # params rank it perfectly: tau = 1
        row = {"epoch": 1, "val_dice_per_image_mean": acc}
        return FitResult("completed", "planted", 1, {"dice_per_image_mean": acc}, None, [row], 1,
                         0.0, 0.0, out_dir)  # fmt: skip

    monkeypatch.setattr(trial_steps, "train_genotype", planted)
    common = dict(epochs=1, image_size=(32, 32), limit=32, seed=4, sampler="random", workers="1",
                  progress=False, report=False, budget_params="0.2M")  # fmt: skip
    run_search(options_from(trials=5, out=str(tmp_path / "ref"), study="ref", **common))
    # no proxy can beat a perfect params ranking: refused, with both taus, nothing enqueued
    with pytest.raises(
        ValueError, match=r"Kendall tau on \d+ trained candidates of ref is .*params' 1\.000"
    ):
        run_search(options_from(trials=2, out=str(tmp_path / "ref"), study="warm",
                                warm_start="synflow:6:3", warm_start_reference="ref", **common))  # fmt: skip
    for bad in ("synflow", "zen:5:2", "synflow:2:5", "synflow:a:b"):
        with pytest.raises(ValueError, match="--warm-start"):
            parse_warm_start(bad)
    # forced: exactly K feasible candidates enqueued first, ranked by the proxy
    out = run_search(options_from(trials=4, out=str(tmp_path / "ref"), study="forced", force=True,
                                  warm_start="synflow:6:3", warm_start_reference="ref", **common))  # fmt: skip
    study = optuna.load_study(study_name="forced", storage=out.storage)
    warm = [t for t in study.get_trials() if WARM_TRIAL in t.user_attrs]
    assert [t.number for t in warm] == [0, 1, 2]
    assert [t.user_attrs[WARM_TRIAL]["rank"] for t in warm] == [1, 2, 3]
    scores = [t.user_attrs[WARM_TRIAL]["score"] for t in warm]
    assert scores == sorted(scores, reverse=True)
    assert all(t.user_attrs[schema.FEASIBLE] for t in warm)
    refused = optuna.load_study(
        study_name="warm", storage=f"sqlite:///{tmp_path}/ref/warm/study.db"
    )
    assert refused.get_trials() == [] and WARM_START not in refused.user_attrs
    record = study.user_attrs[WARM_START]
    assert (
        record["forced"]
        and record["enqueued"] == 3
        and record["kendall_params"] == pytest.approx(1.0)
    )


def test_warm_start_draws_from_the_studys_own_space():
    """The candidates a warm start scores are drawn from the spec's space, with that space's
    Optuna parameters (a wide study's trials must carry its own parameter names)."""
    import dataclasses

    from searchspace.space import choices_from_params, make_genotype
    from studies.evidence.proxies import draw_feasible
    from studies.search.run import make_spec, options_from

    base = make_spec(options_from(budget_params="0.2M", image_size=(32, 32), progress=False))
    wide = dataclasses.replace(base, space="wide")
    for spec, key in ((base, "base_width"), (wide, "base_width_wide")):
        drawn = draw_feasible(spec, 6, seed=1)
        assert len({g.id for _, g in drawn}) == 6
        for params, g in drawn:
            assert key in params and ("width_profile" in params) == (spec is wide)
            assert make_genotype(choices_from_params(params)).id == g.id
