"""Speed must not change results: the fast paths on CPU against the plain path, same seed.

- packed trials (`trainer.packing.fit_packed`, one spawned process per trial slot, the path of
  benchmarks/packing.py) give the same metrics and bitwise the same weights as `fit` alone in this
  process with the same seed and one thread;
- channels_last "on" vs "off": not bitwise on CPU (oneDNN's NHWC kernels sum in another order,
  ~1 ulp in the first loss; Adam turns such differences in near-zero gradients into up to 2 x lr
  per step in the weights), so equal within stated tolerances after two steps;
- amp "auto" resolves to full precision on CPU, so it is bitwise "off";
- optimizer_impl "auto" (torch's fused AdamW on CPU) vs "forloop" (torch's CPU default before):
  the same update in another order of operations, so equal within tolerance after two steps;
"""

from __future__ import annotations

import functools
import os

import pytest
import torch

from searchspace import build_model
from searchspace.presets import get_preset
from trainer import fit, load_data, recipe
from trainer.evaluation import resolve_amp
from trainer.optim import make_optimizer, resolve_optimizer_impl
from trainer.packing import PackJob, fit_packed

SIZE = 32  # the presets' total stride
COUNTS = (16, 8, 0)  # 16 train images = 2 steps of batch 8; 8 val images
load_synthetic = functools.partial(
    load_data, "synthetic", image_size=(SIZE, SIZE), synthetic_counts=COUNTS, progress=False
)


@pytest.fixture(scope="module")
def data():
    return load_synthetic()


def config(name: str = "scsonet", **overrides):
    base = dict(epochs=1, batch_size=8, image_size=(SIZE, SIZE), num_threads=1)
    return recipe(name, **{**base, **overrides})


def job(model: str, seed: int, **overrides) -> PackJob:
    build = functools.partial(build_model, get_preset(model).genotype)
    return PackJob(f"{model}-s{seed}", build, config(model, seed=seed, **overrides))


def alone(j: PackJob, data):
    """The plain path: seed, build, fit in this process."""
    torch.manual_seed(j.config.seed)
    model = j.build()
    result = fit(model, j.config, data, device="cpu", progress=False)
    return result, {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_history(a, b) -> bool:
    def strip(history):  # epoch_seconds is a timing
        return [{k: v for k, v in row.items() if k != "epoch_seconds"} for row in history]

    return strip(a.history) == strip(b.history)


def assert_bitwise(result, weights, ref_result, ref_weights):
    assert result.val == ref_result.val
    assert same_history(result, ref_result)
    assert result.best_epoch == ref_result.best_epoch
    assert weights.keys() == ref_weights.keys()
    for k in ref_weights:
        assert weights[k].dtype == ref_weights[k].dtype, k
        assert torch.equal(weights[k], ref_weights[k]), k


def test_packed_trials_equal_trials_alone(data):
    jobs = [job("scsonet", 0), job("dsnet", 1), job("scsonet", 2)]
    outcomes = fit_packed(jobs, data, processes=2, device="cpu", keep_weights=True, warmup=True)
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert [o.name for o in outcomes] == [j.name for j in jobs]
    # the first two start in different processes, neither of them this one
    assert (outcomes[0].worker, outcomes[1].worker) == (0, 1)
    assert len({outcomes[0].pid, outcomes[1].pid, os.getpid()}) == 3
    for j, o in zip(jobs, outcomes, strict=True):
        assert o.ok, o.error
        assert o.images_trained == 16
        assert o.memory_kind == "cpu_max_rss" and o.peak_memory_bytes >= o.base_memory_bytes > 0
        assert o.end >= o.start > 0
        assert_bitwise(o.result, o.weights, *alone(j, data))
    # a different seed does change the result (so the equality above is not vacuous)
    assert outcomes[0].result.val != outcomes[2].result.val


def test_packed_failures_are_reported_and_the_rest_still_trains(data):
    dies = PackJob("dies", functools.partial(os._exit, 3), config())  # the worker is killed
    wrong_size = job("scsonet", 0, image_size=(2 * SIZE, 2 * SIZE))  # fit raises ValueError
    good = job("scsonet", 0)
    outcomes = fit_packed(
        [dies, wrong_size, good],
        load_synthetic,  # a loader: each worker builds its own copy of the data
        processes=2,
        device="cpu",
        keep_weights=True,
        barrier_timeout=300,  # the dead worker never reaches the barrier: aborted, not waited
    )
    assert not outcomes[0].ok and "died (exit code 3)" in outcomes[0].error
    assert outcomes[0].result is None and outcomes[0].weights is None
    assert not outcomes[1].ok and "ValueError" in outcomes[1].error
    assert "image_size=(64, 64)" in outcomes[1].error
    assert outcomes[2].ok and outcomes[2].worker == 1  # the surviving worker took it
    assert_bitwise(outcomes[2].result, outcomes[2].weights, *alone(good, data))


def test_fit_packed_refuses_bad_arguments(data):
    with pytest.raises(ValueError, match="at least one job"):
        fit_packed([], data)
    with pytest.raises(ValueError, match="processes and threads"):
        fit_packed([job("scsonet", 0)], data, processes=0)


MODELS = ("scsonet", "dsnet", "egeunet")


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", MODELS)
def test_channels_last_forward_and_backward_match(name, one_thread):
    """Same weights, same input: outputs within 1e-4 of their scale, gradients within 1e-3 of the
    largest gradient (measured: <= 1.1e-5 and <= 4e-5 over 3 seeds; BatchNorm in train mode
    scales the reordering error up, and some parameters' true gradients are ~0, so per-parameter
    relative errors mean nothing)."""
    torch.manual_seed(0)
    plain = build_model(get_preset(name).genotype).train()
    fast = build_model(get_preset(name).genotype).train()
    fast.load_state_dict(plain.state_dict())
    fast.to(memory_format=torch.channels_last)
    x = torch.randn(4, 3, SIZE, SIZE)
    with torch.random.fork_rng():
        y_plain = plain(x)
    y_fast = fast(x.contiguous(memory_format=torch.channels_last))
    assert (y_fast - y_plain).abs().max() <= 1e-4 * y_plain.abs().max()
    y_plain.square().mean().backward()
    y_fast.square().mean().backward()
    pairs = zip(plain.named_parameters(), fast.parameters(), strict=True)
    grads = [(k, a.grad, b.grad) for (k, a), b in pairs]
    scale = max(g.abs().max() for _, g, _ in grads if g is not None)
    for k, a, b in grads:
        assert (a is None) == (b is None), k
        if a is not None:
            assert (b - a).abs().max() <= 1e-3 * scale, k


def relatively_close(a: float, b: float, rel: float = 2e-4) -> bool:
    """|a - b| within ``rel`` of the values' scale: float32 summed in another order differs in
    proportion to the magnitude (a loss of 6 moves ~6x as far as a loss of 1; seen: 3.2e-4 on
    5.99 with torch 2.14, 5e-5 relative). Dice lies in [0, 1], so its absolute bound is
    already relative."""
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize("name", MODELS)
def test_channels_last_training_matches_within_tolerance(name, data):
    runs = {}
    for setting in ("off", "on"):
        j = job(name, 0, channels_last=setting)
        runs[setting] = alone(j, data)
    (r_off, w_off), (r_on, w_on) = runs["off"], runs["on"]
    # "on" really trained in channels_last (so the comparison is not vacuous)
    convs = [v for v in w_on.values() if v.ndim == 4 and v.shape[1] > 1 and v.shape[-1] > 1]
    assert convs and all(v.is_contiguous(memory_format=torch.channels_last) for v in convs)
    assert not any(v.is_contiguous() for v in convs)
    assert relatively_close(r_on.history[0]["train_loss"], r_off.history[0]["train_loss"])
    assert relatively_close(r_on.val["loss"], r_off.val["loss"])
    assert abs(r_on.val["dice_per_image_mean"] - r_off.val["dice_per_image_mean"]) < 1e-3
    # 2 AdamW steps of lr 1e-3: each weight moves by at most ~1e-3 per step either way
    worst = max((w_on[k].float() - w_off[k].float()).abs().max().item() for k in w_off)
    assert worst < 5e-3


def test_amp_auto_is_bitwise_off_on_cpu(data):
    assert resolve_amp("auto", torch.device("cpu")) is None
    r_auto, w_auto = alone(job("scsonet", 0, amp="auto"), data)
    r_off, w_off = alone(job("scsonet", 0, amp="off"), data)
    assert_bitwise(r_auto, w_auto, r_off, w_off)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_optimizer_impl_auto_is_fused_adam_and_torch_default_sgd(optimizer):
    model = build_model(get_preset("scsonet").genotype)
    cpu = torch.device("cpu")
    cases = {
        "auto": (optimizer != "sgd", None),
        "foreach": (False, True),
        "forloop": (False, False),
    }
    if optimizer != "sgd":
        cases["fused"] = (True, None)
    for setting, (fused, foreach) in cases.items():
        opt = make_optimizer(model, config(optimizer=optimizer, optimizer_impl=setting), cpu)
        assert bool(opt.defaults.get("fused")) is fused, setting
        assert opt.defaults.get("foreach") == foreach, setting
    want = "torch default" if optimizer == "sgd" else "fused"
    assert resolve_optimizer_impl(config(optimizer=optimizer), cpu) == want


def test_fused_optimizer_training_matches_the_loop_within_tolerance(data):
    r_loop, w_loop = alone(job("scsonet", 0, optimizer_impl="forloop"), data)
    r_auto, w_auto = alone(job("scsonet", 0), data)
    assert r_auto.runtime["optimizer_impl"] == "fused"
    assert r_loop.runtime["optimizer_impl"] == "forloop"
    assert relatively_close(r_auto.history[0]["train_loss"], r_loop.history[0]["train_loss"])
    assert abs(r_auto.val["dice_per_image_mean"] - r_loop.val["dice_per_image_mean"]) < 1e-3
    worst = max((w_auto[k].float() - w_loop[k].float()).abs().max().item() for k in w_loop)
    assert worst < 5e-3
