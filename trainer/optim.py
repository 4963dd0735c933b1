"""Optimiser and learning-rate schedule built from a TrainConfig."""

from __future__ import annotations

import math

import torch
from torch import nn

from trainer.config import TrainConfig

# "auto": Adam / AdamW use torch's fused kernel on CPU as on CUDA (torch >= 2.4 has it for CPU).
# Measured (RESULTS.md, "Search throughput"): a training step of the fast recipe at 64x64, 1
# thread, alone on the machine, is 1-6 % faster than with torch's CPU default (a Python loop over
# the parameters), the most for the smallest networks, whose step is short next to that loop.
# Not bitwise the loop's result (another order of the same arithmetic); no accuracy lost
# (benchmarks/search_throughput.py --accuracy). SGD keeps torch's own choice.


def resolve_optimizer_impl(config: TrainConfig, device: torch.device) -> str:
    """The optimiser implementation a run uses: fused, foreach, forloop or "torch default"."""
    setting = config.optimizer_impl
    if setting != "auto":
        if setting == "fused" and device.type not in ("cpu", "cuda"):
            raise ValueError(f"optimizer_impl='fused' needs a CPU or CUDA device, not {device}")
        return setting
    if config.optimizer in ("adam", "adamw") and device.type in ("cpu", "cuda"):
        return "fused"
    return "torch default"


def make_optimizer(
    model: nn.Module, config: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW / Adam / SGD (momentum, Nesterov off) over all trainable parameters, with the
    implementation of ``resolve_optimizer_impl``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    impl = resolve_optimizer_impl(config, device)
    kw = {
        "fused": {"fused": True},
        "foreach": {"foreach": True},
        "forloop": {"foreach": False},
        "torch default": {},
    }[impl]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay, **kw)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **kw)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **kw
        )
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def cosine_factor(step: int, total: int, lr: float, eta_min: float) -> float:
    """Multiplier of lr at `step` for a cosine decay from lr to eta_min over `total` steps."""
    if lr <= 0:
        return 1.0
    t = min(step, total) / max(total, 1)
    return (eta_min + (lr - eta_min) * 0.5 * (1.0 + math.cos(math.pi * t))) / lr


class LrSchedule:
    """The learning-rate schedule of a run.

    cosine: per optimiser step, from lr down to eta_min at the last step of the last epoch.
    onecycle: torch's OneCycleLR per step with max_lr = lr (cycling Adam's beta1 / SGD momentum),
    ending at lr / 25 / 1e4.
    plateau: ReduceLROnPlateau on the validation loss, stepped after each validation (its patience
    counts validations). constant: lr throughout.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
    ) -> None:
        self.optimizer = optimizer
        self.per_step: torch.optim.lr_scheduler.LRScheduler | None = None
        self.plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None
        if config.schedule == "cosine":
            lr, eta_min = config.lr, config.eta_min
            self.per_step = torch.optim.lr_scheduler.LambdaLR(
                optimizer, lambda step: cosine_factor(step, total_steps, lr, eta_min)
            )
        elif config.schedule == "onecycle":
            self.per_step = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=config.lr,
                # One step more than will be taken: the last step() stays inside the cycle
                # (torch's cycle ends at total_steps - 1 and overshoots after it).
                total_steps=total_steps + 1,
                pct_start=config.onecycle_pct_start,
            )
        elif config.schedule == "plateau":
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode="min",
                factor=config.plateau_factor,
                patience=config.plateau_patience,
            )
        elif config.schedule != "constant":
            raise ValueError(f"unknown schedule {config.schedule!r}")

    def after_step(self) -> None:
        if self.per_step is not None:
            self.per_step.step()

    def after_validation(self, val_loss: float) -> None:
        if self.plateau is not None and math.isfinite(val_loss):
            self.plateau.step(val_loss)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])
