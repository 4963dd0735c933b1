"""fit / evaluate / config / run folder, with tiny real networks on tiny hand-built data."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import trainer.loop
from trainer import (
    RECIPES,
    DataBundle,
    SplitData,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    load_data,
    recipe,
    write_json,
)
from trainer.rundir import atomic_open

SIZE = 16


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class AuxNet(TinyNet):
    """Two aux logit maps at 1/2 and 1/4 resolution (coarsest first)."""

    supports_aux = True

    def __init__(self) -> None:
        super().__init__()
        self.aux_head = nn.Conv2d(3, 1, 1)
        self.aux_calls = 0

    def forward(self, x: torch.Tensor, return_aux: bool = False):
        logits = self.body(x)
        if not return_aux:
            return logits
        self.aux_calls += 1
        a = self.aux_head(x)
        return logits, [nn.functional.avg_pool2d(a, 4), nn.functional.avg_pool2d(a, 2)]


class NaNAfter(TinyNet):
    """Outputs NaN from its n-th training forward pass on."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.calls = n, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        out = self.body(x)
        return out * float("nan") if self.training and self.calls >= self.n else out


class PixelNet(nn.Module):
    """logit = w · brightness + b, starting at an inverted decision (dark = lesion)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(-0.3)
            self.conv.bias.fill_(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _split(n: int, seed: int, prefix: str, invert: bool = False) -> SplitData:
    """Bright discs (the lesion) on a dark noisy background; invert swaps the mask."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE).float(), torch.arange(SIZE).float(), indexing="ij")
    c = torch.rand(n, 2, 1, 1, generator=g) * 6 + 5
    r = torch.rand(n, 1, 1, generator=g) * 2 + 3
    masks = ((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2 <= r**2).to(torch.uint8).unsqueeze(1)
    noise = torch.rand(n, 3, SIZE, SIZE, generator=g) * 60
    images = (40 + masks * 150 + noise).clamp(0, 255).to(torch.uint8)
    if invert:
        masks = 1 - masks
    return SplitData(images, masks, tuple(f"{prefix}_{i}" for i in range(n)))


def _bundle(invert_test: bool = False, test: bool = True) -> DataBundle:
    splits = {"train": _split(16, 0, "tr"), "val": _split(8, 1, "va")}
    if test:
        splits["test"] = _split(8, 2, "te", invert=invert_test)
    return DataBundle(
        name="handmade",
        fingerprint="f00d",
        image_size=(SIZE, SIZE),
        splits=splits,
        split_info={"method": "by hand"},
        synthetic=True,
    )


def _config(**overrides) -> TrainConfig:
    base = dict(epochs=3, batch_size=4, image_size=(SIZE, SIZE), eval_batch_size=8, lr=1e-2)
    return recipe("fast", **{**base, **overrides})


def _net(seed: int = 0, cls: type[nn.Module] = TinyNet) -> nn.Module:
    torch.manual_seed(seed)
    return cls()


def _run(model: nn.Module | None = None, config: TrainConfig | None = None, **kw):
    model = model if model is not None else _net()
    kw.setdefault("progress", False)
    kw.setdefault("device", "cpu")  # determinism is promised on CPU; CUDA has its own test
    return model, fit(model, config or _config(), kw.pop("data", None) or _bundle(), **kw)


def _timeless(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if not k.endswith("seconds")} for row in history]


# --- config -----------------------------------------------------------------------------------


def test_config_json_round_trip_and_unknown_keys() -> None:
    for name, cfg in RECIPES.items():
        again = TrainConfig.from_json(cfg.to_json())
        assert again == cfg, name
        assert isinstance(again.image_size, tuple)
    with pytest.raises(ValueError, match=r"unknown TrainConfig key\(s\) \['epoch'\]; valid keys"):
        TrainConfig.from_dict({"epoch": 3})


def test_a_stored_config_with_a_renamed_field_still_loads_and_matches(tmp_path) -> None:
    """``hd95`` (stored by studies and run folders before) is today's ``slow_test_metrics``."""
    from runner.runs import finished_run

    stored = {**TrainConfig(epochs=2).to_dict(), "hd95": True}
    del stored["slow_test_metrics"], stored["cudnn_benchmark"]
    assert TrainConfig.from_dict(stored) == TrainConfig(epochs=2, slow_test_metrics=True)
    (tmp_path / "train_config.json").write_text(json.dumps(stored))
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "completed"}))
    assert finished_run(tmp_path, TrainConfig(epochs=2, slow_test_metrics=True)) is not None
    assert finished_run(tmp_path, TrainConfig(epochs=2)) is None


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("optimizer", "lion", "adamw, adam, sgd"),
        ("schedule", "step", "cosine, onecycle, plateau, constant"),
        ("rotation", "any", "none, free, right_angles"),
        ("epochs", 0, "epochs must be an int >= 1"),
        ("loss", "focal", "bce_dice"),
        ("loss_weights", (1.0,), "takes 2 weight"),
        ("select_metric", "test_dice_per_image_mean", "validation split only"),
        ("amp", "fp8", "auto, off, bf16, fp16"),
    ],
)
def test_config_rejects_bad_values(field: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_recipes_follow_the_papers() -> None:
    assert set(RECIPES) == {
        "scsonet",
        "malunet",
        "egeunet",
        "lmsaunet",
        "ulite",
        "ulrtsnet",
        "dsnet",
        "fast",
    }
    s = RECIPES["scsonet"]
    assert (s.optimizer, s.lr, s.weight_decay, s.schedule, s.eta_min) == (
        "adamw",
        1e-3,
        1e-2,
        "cosine",
        1e-5,
    )
    assert (s.epochs, s.batch_size, s.image_size, s.loss, s.rotation) == (
        300,
        8,
        (256, 256),
        "bce_dice",
        "free",
    )
    assert RECIPES["egeunet"].deep_supervision == (0.1, 0.2, 0.3, 0.4, 0.5)
    m = RECIPES["lmsaunet"]
    assert (m.loss, m.early_stopping_patience, m.select_metric, m.select_mode) == (
        "bce_iou",
        20,
        "val_loss",
        "min",
    )
    u = RECIPES["ulite"]
    assert (u.optimizer, u.lr, u.schedule, u.loss, u.epochs) == (
        "adam",
        2e-3,
        "plateau",
        "dice",
        200,
    )
    assert RECIPES["dsnet"].loss == "boundary_interior"


def test_recipe_overrides_and_errors() -> None:
    assert recipe("ulite", epochs=5).epochs == 5
    assert RECIPES["ulite"].epochs == 200
    with pytest.raises(ValueError, match="valid recipes: scsonet, malunet"):
        recipe("unet")
    with pytest.raises(ValueError, match=r"unknown TrainConfig field\(s\) \['lrate'\]"):
        recipe("fast", lrate=0.1)


# --- fit ----------------------------------------------------------------------------------------


def test_fit_learns_and_is_deterministic() -> None:
    m1, r1 = _run(_net(0))
    m2, r2 = _run(_net(0))
    m3, r3 = _run(_net(0), _config(seed=1))
    assert r1.status == "completed" and r1.epochs_run == 3 and len(r1.history) == 3
    assert _timeless(r1.history) == _timeless(r2.history)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert any(not torch.equal(a, b) for a, b in zip(m1.parameters(), m3.parameters(), strict=True))
    assert r1.history[-1]["train_loss"] < r1.history[0]["train_loss"] * 1.5
    assert r1.images_per_second > 0 and r1.train_seconds > 0


def test_best_epoch_is_chosen_on_val_and_test_runs_once(monkeypatch) -> None:
    data = _bundle(invert_test=True)  # what helps val hurts test
    test_split = data.split("test")
    calls: list[tuple[str, ...]] = []
    real_evaluate = trainer.loop.evaluate

    def counting(model, split, **kw):
        calls.append(split.ids)
        return real_evaluate(model, split, **kw)

    monkeypatch.setattr(trainer.loop, "evaluate", counting)
    model = PixelNet()
    per_epoch_test: list[float] = []

    def on_epoch(epoch: int, row: dict) -> None:
        metrics, _, _ = real_evaluate(model, test_split, output="none")
        per_epoch_test.append(metrics["dice_per_image_mean"])

    cfg = _config(epochs=6, lr=0.05, hflip=False, vflip=False, rotation="none", schedule="constant")
    _, result = _run(model, cfg, data=data, on_epoch=on_epoch)
    val_curve = [row["val_dice_per_image_mean"] for row in result.history]
    assert result.best_epoch == 1 + max(range(6), key=lambda i: val_curve[i])
    best_test_epoch = 1 + max(range(6), key=lambda i: per_epoch_test[i])
    assert best_test_epoch != result.best_epoch  # selecting on test would pick another epoch
    assert result.val["dice_per_image_mean"] == val_curve[result.best_epoch - 1]
    assert result.test["dice_per_image_mean"] == pytest.approx(
        per_epoch_test[result.best_epoch - 1]
    )
    assert calls.count(test_split.ids) == 1 and calls[-1] == test_split.ids
    assert calls.count(data.split("val").ids) == 6


def test_nan_loss_is_recorded_not_raised(tmp_path: Path) -> None:
    # 16 train images / batch 4 = 4 steps an epoch; the 6th forward is epoch 2, step 2.
    _, result = _run(NaNAfter(6), _config(epochs=4), out_dir=tmp_path)
    assert result.status == "failed" and not result.ok
    assert result.reason == "loss became NaN at epoch 2 step 2"
    assert result.epochs_run == 2 and result.best_epoch == 1 and result.test is None
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "failed" and metrics["reason"] == result.reason
    assert not (tmp_path / "model.pt").exists()
    _, huge = _run(config=_config(optimizer="sgd", lr=1e30, momentum=0.0))
    assert huge.status == "failed" and huge.reason.startswith(("loss became", "validation loss"))


def test_on_epoch_can_stop_the_run() -> None:
    seen: list[int] = []

    def stop_at_two(epoch: int, row: dict) -> bool:
        seen.append(epoch)
        assert "val_dice_per_image_mean" in row and "train_loss" in row
        return epoch == 2

    _, result = _run(config=_config(epochs=5), on_epoch=stop_at_two)
    assert seen == [1, 2] and result.epochs_run == 2
    assert (result.status, result.reason) == ("stopped", "stopped by callback at epoch 2")


def test_early_stopping_on_a_stalled_metric() -> None:
    _, result = _run(config=_config(epochs=10, lr=0.0, early_stopping_patience=2))
    assert result.status == "early_stopped" and result.epochs_run == 3 and result.best_epoch == 1
    assert "no val_dice_per_image_mean improvement for 2" in result.reason


def test_eval_every_and_schedules() -> None:
    _, r = _run(config=_config(epochs=3, eval_every=2, eta_min=1e-4))
    assert ["val_loss" in row for row in r.history] == [False, True, True]
    assert r.history[-1]["lr"] == pytest.approx(1e-4)
    _, oc = _run(config=_config(schedule="onecycle"))
    assert oc.status == "completed" and oc.history[-1]["lr"] < 1e-4
    _, pl = _run(config=_config(schedule="plateau", lr=0.0, plateau_patience=0, epochs=3))
    assert pl.history[-1]["lr"] == 0.0 and pl.status == "completed"
    _, pl2 = _run(
        config=_config(schedule="plateau", plateau_patience=0, epochs=4, select_metric="val_loss")
    )
    assert pl2.status == "completed"


def test_mixed_precision_and_channels_last_paths_on_cpu() -> None:
    _, result = _run(config=_config(amp="bf16", channels_last="on", epochs=2))
    assert result.status == "completed" and result.val["loss"] > 0
    with pytest.raises(ValueError, match="fp16' needs a CUDA device"):
        _run(config=_config(amp="fp16", epochs=1))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("amp", ["auto", "fp16", "off"])
def test_fit_on_cuda(amp: str, tmp_path: Path) -> None:
    model = _net(0, AuxNet)
    cfg = _config(amp=amp, deep_supervision=(0.4, 0.5), grad_clip=1.0, epochs=3)
    _, result = _run(model, cfg, device="cuda", out_dir=tmp_path)
    assert result.status == "completed", result.reason
    assert next(model.parameters()).is_cuda and result.test is not None
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert all(not t.is_cuda for t in ckpt["state_dict"].values())
    _, _, preds = evaluate(model, _bundle().split("test"), amp=amp)
    assert preds.device.type == "cpu" and preds.shape == (8, 1, SIZE, SIZE)


def test_deep_supervision_trains_the_aux_path() -> None:
    model = _net(0, AuxNet)
    before = model.aux_head.weight.detach().clone()
    _, result = _run(model, _config(deep_supervision=(0.4, 0.5), epochs=2))
    assert result.status == "completed"
    assert model.aux_calls == 2 * 4  # every training step, never validation
    assert not torch.equal(before, model.aux_head.weight)
    with pytest.raises(ValueError, match="deep supervision"):
        _run(_net(0), _config(deep_supervision=(0.5,)))
    with pytest.raises(ValueError, match="3 weight"):
        _run(_net(0, AuxNet), _config(deep_supervision=(0.1, 0.2, 0.3), epochs=1))


def test_fit_refuses_mismatched_data_and_unknown_metric() -> None:
    with pytest.raises(ValueError, match="image_size"):
        _run(config=_config(image_size=(32, 32)))
    with pytest.raises(ValueError, match="validation metrics: val_dice_per_image_mean"):
        _run(config=_config(select_metric="val_nope", epochs=1))


def test_run_folder_and_checkpoint_round_trip(tmp_path: Path) -> None:
    model, result = _run(out_dir=tmp_path / "run")
    run = tmp_path / "run"
    assert result.out_dir == run
    assert {p.name for p in run.iterdir()} == {
        "train_config.json",
        "runtime.json",
        "split.json",
        "history.csv",
        "metrics.json",
        "model.pt",
    }
    config = TrainConfig.from_json((run / "train_config.json").read_text())
    assert config == _config()
    split = json.loads((run / "split.json").read_text())
    assert (split["name"], split["fingerprint"], split["synthetic"]) == ("handmade", "f00d", True)
    assert split["sizes"] == {"train": 16, "val": 8, "test": 8}
    assert split["split_info"] == {"method": "by hand"}
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == result.epochs_run == 3
    assert float(rows[1]["val_loss"]) == pytest.approx(result.history[1]["val_loss"])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] == result.best_epoch and metrics["status"] == "completed"
    assert metrics["val"] == pytest.approx(result.val)
    assert metrics["test"] == pytest.approx(result.test)
    assert metrics["data"] == {"name": "handmade", "fingerprint": "f00d", "synthetic": True}
    assert metrics["selection"]["split"] == "val" and set(metrics["split"]) == {"val", "test"}

    raw = torch.load(run / "model.pt", weights_only=True)
    ckpt = load_checkpoint(run / "model.pt")
    assert set(raw["state_dict"]) == set(model.state_dict())
    assert ckpt["metadata"]["best_epoch"] == result.best_epoch
    assert TrainConfig.from_dict(ckpt["metadata"]["train_config"]) == config
    fresh = TinyNet()
    fresh.load_state_dict(ckpt["state_dict"])
    # the trained model's weights stay channels_last (CPU "auto"); the same memory format makes
    # the comparison bitwise (NHWC convolutions sum in another order than NCHW ones)
    fresh.to(memory_format=torch.channels_last)
    data = _bundle()
    _, _, probs_fit = evaluate(model, data.split("test"), output="probabilities")
    m_fresh, per_image, probs_fresh = evaluate(fresh, data.split("test"), output="probabilities")
    assert torch.equal(probs_fit, probs_fresh)
    assert m_fresh["dice_per_image_mean"] == pytest.approx(result.test["dice_per_image_mean"])
    assert all(len(v) == 8 for v in per_image.values())


def test_evaluate_outputs_and_mode_restore() -> None:
    model = _net()
    model.train()
    split = _bundle().split("val")
    metrics, _, preds = evaluate(model, split, batch_size=3)
    assert model.training
    assert preds.dtype == torch.bool and preds.shape == (8, 1, SIZE, SIZE)
    _, _, probs = evaluate(model, split, batch_size=5, output="probabilities")
    assert torch.equal(probs > 0.5, preds) and "loss" not in metrics
    loss_metrics, _, nothing = evaluate(
        model, split, loss_fn=lambda x, y: x.mean() * 0 + 2.0, output="none"
    )
    assert nothing is None and loss_metrics["loss"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="output must be"):
        evaluate(model, split, output="masks")


def test_fit_on_the_synthetic_dataset(tmp_path: Path) -> None:
    data = load_data("synthetic", image_size=(32, 32), synthetic_counts=(16, 8, 8), progress=False)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.GELU(), nn.Conv2d(8, 1, 1)
    )
    cfg = recipe("dsnet", epochs=2, batch_size=8, image_size=(32, 32))
    _, result = _run(model, cfg, data=data, out_dir=tmp_path)
    assert result.status == "completed" and set(result.test) >= {"dice_pooled", "loss"}
    split = json.loads((tmp_path / "split.json").read_text())
    assert split["synthetic"] is True and split["split_info"]["ids"]["val"] == list(
        data.split("val").ids
    )


def test_write_json_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "genotype.json"
    write_json(path, {"b": (1, 2), "a": float("nan")})
    assert json.loads(path.read_text()) == {"a": None, "b": [1, 2]}
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("{half")
        raise RuntimeError("killed")
    assert json.loads(path.read_text()) == {"a": None, "b": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["genotype.json"]


def test_importing_trainer_pulls_no_search_packages() -> None:
    code = (
        "import trainer, sys; "
        "assert not any(m.split('.')[0] in {'optuna','ray','studies'} for m in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
