"""Evaluation of a model on one split, and the device helpers shared with the training loop."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from trainer.config import IMAGENET_MEAN, IMAGENET_STD
from trainer.datatypes import SplitData
from trainer.malloc import malloc_state
from trainer.metrics import MetricAccumulator
from trainer.optim import resolve_optimizer_impl

OUTPUTS = ("predictions", "probabilities", "none")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" = CUDA when available, else CPU."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for an amp setting ("auto": bf16 on CUDA, fp16 where bf16 is missing; off
    on CPU), or None for full precision."""
    if amp == "off":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "bf16":
        return torch.bfloat16
    if amp == "fp16":
        if device.type != "cuda":
            raise ValueError("amp='fp16' needs a CUDA device; use 'bf16' or 'off' on CPU")
        return torch.float16
    raise ValueError(f"amp must be auto, off, bf16 or fp16, got {amp!r}")


# "auto": channels_last (NHWC) on CUDA; on CPU too, unless a module of the network declares
# ``channels_last_cpu = False``. Measured on CPU (benchmarks/channels_last.py, RESULTS.md
# "channels_last on CPU"): a training step of the 7 presets and 30 random candidates of the space
# at 64x64, 1 thread, is a median 1.18x faster in NHWC (geometric mean 1.21x); of the 7 that are
# slower, the 3 slower by more than 5 % (0.83-0.89x) and 4 of the 6 networks with ODConv hold
# ODConv, whose per-sample grouped convolution reshapes the batch into channels, which costs a
# copy in NHWC; ODConv3 declares it. The 31 networks without ODConv are all >= 0.95x.
CHANNELS_LAST_RULE = (
    "auto: on for cuda; on for cpu unless a module has channels_last_cpu = False "
    "(ODConv; benchmarks/channels_last.py)"
)


def _slow_in_nhwc_on_cpu(model: nn.Module | None) -> list[str]:
    if model is None:
        return []
    return sorted(
        {
            type(m).__name__
            for m in model.modules()
            if getattr(m, "channels_last_cpu", True) is False
        }
    )


def resolve_channels_last(
    setting: str, device: torch.device, model: nn.Module | None = None
) -> bool:
    """Whether to train / evaluate in channels_last (see ``CHANNELS_LAST_RULE``)."""
    if setting == "auto":
        if device.type == "cuda":
            return True
        return device.type == "cpu" and not _slow_in_nhwc_on_cpu(model)
    if setting in ("on", "off"):
        return setting == "on"
    raise ValueError(f"channels_last must be auto, on or off, got {setting!r}")


def runtime_choices(config, device: torch.device, model: nn.Module | None = None) -> dict:
    """What the "auto" settings resolved to for a run on ``device`` (recorded in runtime.json);
    torch_threads is the count at the start of the run."""
    dtype = resolve_amp(config.amp, device)
    slow = _slow_in_nhwc_on_cpu(model) if device.type == "cpu" else []
    return {
        "device": str(device),
        "channels_last": resolve_channels_last(config.channels_last, device, model),
        "channels_last_setting": config.channels_last,
        "channels_last_rule": CHANNELS_LAST_RULE,
        "channels_last_slow_modules": slow,
        "amp": str(dtype).replace("torch.", "") if dtype is not None else "off",
        "amp_setting": config.amp,
        "torch_threads": torch.get_num_threads(),
        "optimizer_impl": resolve_optimizer_impl(config, device),
        "optimizer_impl_setting": config.optimizer_impl,
        "malloc": malloc_state(),
    }


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


class Normalizer:
    """uint8 0..255 → float, and (x01 - mean) / std, on one device."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    @staticmethod
    def to_unit(images: Tensor) -> Tensor:
        return images.float() * (1.0 / 255.0)

    def __call__(self, unit_images: Tensor) -> Tensor:
        return (unit_images - self.mean) / self.std


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    split: SplitData,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 32,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    threshold: float = 0.5,
    amp: str = "off",
    channels_last: str = "off",
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    slow_metrics: bool = False,
    output: str = "predictions",
) -> tuple[dict[str, float], dict[str, np.ndarray], Tensor | None]:
    """Score `model` on a whole split, in eval mode (its train/eval mode is restored after).

    device "auto" = where the model's parameters are (otherwise the model is moved there). Returns (metrics, per_image, out): metrics
    from `MetricAccumulator.compute()` plus "loss" (mean over images of `loss_fn`, when given);
    per_image from `.per_image()` (in split order); out per `output`: "predictions" = bool
    (N, 1, H, W) on CPU, "probabilities" = float32 (N, 1, H, W) on CPU, "none" = None.
    """
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    dev = model_device(model) if device == "auto" else resolve_device(device)
    model.to(dev)
    amp_dtype = resolve_amp(amp, dev)
    memory_format = (
        torch.channels_last
        if resolve_channels_last(channels_last, dev, model)
        else torch.contiguous_format
    )
    normalize = Normalizer(mean, std, dev)
    accumulator = MetricAccumulator(slow=slow_metrics)
    n = len(split)
    out: Tensor | None = None
    if output == "predictions":
        out = torch.empty((n, 1, *split.masks.shape[-2:]), dtype=torch.bool)
    elif output == "probabilities":
        out = torch.empty((n, 1, *split.masks.shape[-2:]), dtype=torch.float32)
    loss_sum = torch.zeros((), dtype=torch.float32, device=dev)
    with eval_mode(model):
        for start in range(0, n, batch_size):
            images = split.images[start : start + batch_size].to(dev, non_blocking=True)
            target = split.masks[start : start + batch_size].to(dev, non_blocking=True)
            x = normalize(Normalizer.to_unit(images)).contiguous(memory_format=memory_format)
            with autocast(dev, amp_dtype):
                logits = model(x)
            logits = logits.float()
            if logits.shape != target.shape:
                raise ValueError(
                    f"model returned logits {tuple(logits.shape)} for targets {tuple(target.shape)}"
                )
            if loss_fn is not None:
                loss_sum += loss_fn(logits, target) * images.shape[0]
            probabilities = torch.sigmoid(logits)
            predicted = probabilities > threshold
            accumulator.update(predicted, target)
            if output == "predictions":
                out[start : start + batch_size] = predicted.cpu()
            elif output == "probabilities":
                out[start : start + batch_size] = probabilities.cpu()
    metrics = {k: float(v) for k, v in accumulator.compute().items()}
    if loss_fn is not None:
        metrics["loss"] = float(loss_sum.item()) / max(n, 1)
    return metrics, accumulator.per_image(), out
