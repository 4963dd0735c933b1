"""`fit`: train a model on a DataBundle, choose the best epoch on "val", test it once.

Training steps live in `trainer.epoch` (the data on the device, one host sync per epoch); this
module validates, selects the best epoch, stops early, records the history and writes the run
folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from trainer.checkpoint import save_checkpoint
from trainer.config import TrainConfig
from trainer.datatypes import DataBundle
from trainer.epoch import make_train_parts, place_split, steps_per_epoch, train_one_epoch
from trainer.evaluation import evaluate, resolve_device, runtime_choices
from trainer.malloc import tune_malloc
from trainer.rundir import (
    HISTORY,
    METRICS,
    MODEL,
    RUNTIME,
    write_history_csv,
    write_json,
    write_run_start,
)

OnEpoch = Callable[[int, dict[str, Any]], "bool | None"]
STATUSES = ("completed", "early_stopped", "stopped", "failed")


@dataclass(frozen=True)
class FitResult:
    """Outcome of `fit`. val: metrics of the best epoch on the val split (unprefixed keys, with
    "loss"); test: the best weights' metrics on the test split, computed once (None without a
    test split or when the run failed); history: one dict per epoch ("val_*" keys on epochs that
    were validated)."""

    status: str  # completed | early_stopped | stopped (by the callback) | failed
    reason: str
    best_epoch: int | None
    val: dict[str, float]
    test: dict[str, float] | None
    history: list[dict[str, Any]]
    epochs_run: int
    train_seconds: float
    images_per_second: float
    out_dir: Path | None
    runtime: dict[str, Any] = field(default_factory=dict)  # evaluation.runtime_choices

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def _runtime(config: TrainConfig, device: torch.device) -> Iterator[None]:
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = config.cudnn_benchmark == "on"
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = benchmark


def _check_inputs(model: nn.Module, config: TrainConfig, data: DataBundle) -> None:
    if tuple(data.image_size) != tuple(config.image_size):
        raise ValueError(
            f"data {data.name!r} is {tuple(data.image_size)} but the config says image_size="
            f"{tuple(config.image_size)}; load the data at that size or override image_size"
        )
    if len(data.split("train")) == 0 or len(data.split("val")) == 0:
        raise ValueError("fit needs non-empty 'train' and 'val' splits")
    if config.deep_supervision and not getattr(model, "supports_aux", False):
        raise ValueError(
            "the config asks for deep supervision but the model has no aux outputs "
            "(supports_aux is missing or False); use deep_supervision=()"
        )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _better(value: float, best: float | None, mode: str) -> bool:
    if not math.isfinite(value):
        return False
    return best is None or (value > best if mode == "max" else value < best)


def fit(
    model: nn.Module,
    config: TrainConfig,
    data: DataBundle,
    *,
    out_dir: str | Path | None = None,
    device: str | torch.device = "auto",
    on_epoch: OnEpoch | None = None,
    progress: bool = True,
) -> FitResult:
    """Train `model` in place; on return it holds the best epoch's weights (when there was one).

    The best epoch is chosen on the val split only (config.select_metric / select_mode); early
    stopping (config.early_stopping_patience, in epochs) watches the same metric. A NaN/inf loss
    ends the run with status "failed" and its reason, without raising. `on_epoch(epoch, row)` is
    called after each validation with the history row; returning True stops the run.
    With out_dir, writes train_config.json, split.json, runtime.json (what "auto" resolved to:
    channels_last, amp,
    threads, optimiser implementation, allocator), history.csv (after every epoch), metrics.json and model.pt
    (best weights, weights-only) there.
    """
    dev = resolve_device(device)
    _check_inputs(model, config, data)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        write_run_start(out, config, data)
    if dev.type == "cpu":
        tune_malloc()  # keeps freed tensor memory for the next step (trainer/malloc.py)
    with _runtime(config, dev):
        runtime = runtime_choices(config, dev, model)
        if out is not None:
            write_json(out / RUNTIME, runtime)
        result = _train(model, config, data, dev, out, on_epoch, progress)
    result = dataclasses.replace(result, runtime=runtime)
    if out is not None:
        _write_results(out, result, config, data, model)
    return result


def _train(
    model: nn.Module,
    config: TrainConfig,
    data: DataBundle,
    dev: torch.device,
    out: Path | None,
    on_epoch: OnEpoch | None,
    progress: bool,
) -> FitResult:
    train, val = place_split(data.split("train"), dev), place_split(data.split("val"), dev)
    n, steps = len(train), steps_per_epoch(len(train), config)
    parts = make_train_parts(model, config, dev, steps * config.epochs)
    eval_kw = dict(
        device=dev,
        batch_size=config.eval_batch_size,
        mean=config.mean,
        std=config.std,
        threshold=config.threshold,
        amp=config.amp,
        channels_last=config.channels_last,
        loss_fn=parts.criterion.base,
    )
    history: list[dict[str, Any]] = []
    status, reason = "completed", f"finished {config.epochs} epochs"
    best_epoch: int | None = None
    best_value: float | None = None
    best_val: dict[str, float] = {}
    best_state: dict[str, torch.Tensor] | None = None
    step_seconds, images_seen, epoch = 0.0, 0, 0
    bar = tqdm(total=config.epochs, disable=not progress, desc="fit", unit="epoch")
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        _sync(dev)
        t0 = time.perf_counter()
        losses_cpu = train_one_epoch(model, train, config, parts)
        step_seconds += time.perf_counter() - t0
        images_seen += min(steps * config.batch_size, n)
        row: dict[str, Any] = {"epoch": epoch, "train_loss": float(losses_cpu.mean())}
        row["lr"] = parts.schedule.lr
        bad = (~torch.isfinite(losses_cpu)).nonzero()
        if len(bad):
            s = int(bad[0, 0])
            kind = "NaN" if math.isnan(float(losses_cpu[s])) else "inf"
            status, reason = "failed", f"loss became {kind} at epoch {epoch} step {s + 1}"
        validate = epoch % config.eval_every == 0 or epoch == config.epochs
        if status != "failed" and validate:
            metrics, _, _ = evaluate(model, val, **eval_kw, output="none")
            row.update({f"val_{k}": v for k, v in metrics.items()})
            if not math.isfinite(metrics["loss"]):
                status, reason = "failed", f"validation loss became NaN/inf at epoch {epoch}"
            else:
                parts.schedule.after_validation(metrics["loss"])
                if config.select_metric not in row:
                    raise ValueError(
                        f"select_metric {config.select_metric!r} is not among the validation "
                        f"metrics: {', '.join(k for k in row if k.startswith('val_'))}"
                    )
                if _better(row[config.select_metric], best_value, config.select_mode):
                    best_epoch, best_value, best_val = epoch, row[config.select_metric], metrics
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        row["epoch_seconds"] = time.perf_counter() - t0
        history.append(row)
        if out is not None:
            write_history_csv(out / HISTORY, history)
        bar.update(1)
        shown = row.get(config.select_metric, float("nan"))
        bar.set_postfix(loss=f"{row['train_loss']:.4f}", val=f"{shown:.4f}")
        if status == "failed":
            break
        if validate:
            patience = config.early_stopping_patience
            if on_epoch is not None and on_epoch(epoch, dict(row)) is True:
                status, reason = "stopped", f"stopped by callback at epoch {epoch}"
            elif patience is not None and epoch - (best_epoch or 0) >= patience:
                status = "early_stopped"
                reason = (
                    f"early stopping at epoch {epoch}: no {config.select_metric} improvement "
                    f"for {patience} epoch(s) (best epoch {best_epoch})"
                )
            if status != "completed":
                break
    bar.close()
    _sync(dev)
    train_seconds = time.perf_counter() - start
    if status != "failed" and best_state is None:
        status, reason = "failed", f"{config.select_metric} was never finite"
    if best_state is not None:
        model.load_state_dict(best_state)
    test = None
    if status != "failed" and "test" in data.splits and len(data.split("test")) > 0:
        test, _, _ = evaluate(
            model,
            data.split("test"),
            **eval_kw,
            slow_metrics=config.slow_test_metrics,
            output="none",
        )
    return FitResult(
        status=status,
        reason=reason,
        best_epoch=best_epoch,
        val=best_val,
        test=test,
        history=history,
        epochs_run=epoch,
        train_seconds=train_seconds,
        images_per_second=images_seen / step_seconds if step_seconds > 0 else 0.0,
        out_dir=out,
    )


def _write_results(
    out: Path, result: FitResult, config: TrainConfig, data: DataBundle, model: nn.Module
) -> None:
    """model.pt (best weights) unless the run failed, then metrics.json."""
    data_record = {"name": data.name, "fingerprint": data.fingerprint, "synthetic": data.synthetic}
    if result.status != "failed":
        save_checkpoint(
            out / MODEL,
            model,
            metadata={
                "train_config": config.to_dict(),
                "best_epoch": result.best_epoch,
                "val": result.val,
                "data": data_record,
            },
        )
    write_json(
        out / METRICS,
        {
            "status": result.status,
            "reason": result.reason,
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "selection": {
                "metric": config.select_metric,
                "mode": config.select_mode,
                "split": "val",
            },
            "val": result.val,
            "test": result.test,
            "split": {
                "val": "val: best epoch chosen here",
                "test": "test: best weights, evaluated once" if result.test is not None else None,
            },
            "sizes": {name: len(split) for name, split in data.splits.items()},
            "data": data_record,
            "train_seconds": result.train_seconds,
            "images_per_second": result.images_per_second,
            "runtime": result.runtime,
        },
    )
