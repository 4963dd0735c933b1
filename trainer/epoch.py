"""One training epoch, entirely on the device, and the parts it is built from.

The uint8 train split sits on the device (see `place_split`); each step indexes a batch with a
seeded permutation, converts it to float, augments it as a whole batch, normalises it, runs the
forward pass under autocast (bf16, or fp16 with a GradScaler) in channels_last when asked, and
steps the optimiser and the per-step schedule. Per-step losses stay on the device; the epoch ends
with one host sync that returns them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from trainer.augment import augment_batch
from trainer.config import TrainConfig
from trainer.datatypes import SplitData
from trainer.evaluation import Normalizer, autocast, resolve_amp, resolve_channels_last
from trainer.losses import Criterion, make_criterion
from trainer.optim import LrSchedule, make_optimizer


def place_split(split: SplitData, device: torch.device) -> SplitData:
    """The split's tensors on `device` (on CUDA when they fit in half the free memory; otherwise
    they stay in pinned CPU memory and each batch is copied)."""
    if device.type == "cpu" or split.images.device == device:
        return split
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        if split.images.numel() + split.masks.numel() > free // 2:
            return SplitData(split.images.pin_memory(), split.masks.pin_memory(), split.ids)
    return SplitData(split.images.to(device), split.masks.to(device), split.ids)


def steps_per_epoch(n: int, config: TrainConfig) -> int:
    """Full batches only when drop_last (and there is at least one), else ceil(n / batch)."""
    bs = config.batch_size
    return n // bs if (config.drop_last and n >= bs) else math.ceil(n / bs)


@dataclass
class TrainParts:
    """Everything a training step needs besides the model and the data."""

    device: torch.device
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format
    optimizer: torch.optim.Optimizer
    schedule: LrSchedule
    scaler: torch.amp.GradScaler
    criterion: Criterion
    normalize: Normalizer
    perm_gen: torch.Generator  # CPU: batch order
    aug_gen: torch.Generator  # on the device: augmentation
    use_aux: bool


def make_train_parts(
    model: nn.Module, config: TrainConfig, device: torch.device, total_steps: int
) -> TrainParts:
    """Seeds torch, moves the model to the device (channels_last if asked) and builds the rest."""
    torch.manual_seed(config.seed)
    amp_dtype = resolve_amp(config.amp, device)
    channels_last = resolve_channels_last(config.channels_last, device, model)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model.to(device).to(memory_format=memory_format)
    optimizer = make_optimizer(model, config, device)
    return TrainParts(
        device=device,
        amp_dtype=amp_dtype,
        memory_format=memory_format,
        optimizer=optimizer,
        schedule=LrSchedule(optimizer, config, total_steps),
        scaler=torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        criterion=make_criterion(
            config.loss,
            config.loss_weights,
            boundary_width=config.boundary_width,
            deep_supervision=config.deep_supervision,
        ),
        normalize=Normalizer(config.mean, config.std, device),
        perm_gen=torch.Generator().manual_seed(config.seed),
        aug_gen=torch.Generator(device=device).manual_seed(config.seed + 1),
        use_aux=bool(config.deep_supervision),
    )


def train_one_epoch(
    model: nn.Module, split: SplitData, config: TrainConfig, parts: TrainParts
) -> Tensor:
    """Train one epoch; returns the per-step losses (float32, CPU)."""
    model.train()
    dev, bs, n = parts.device, config.batch_size, len(split)
    steps = steps_per_epoch(n, config)
    perm = torch.randperm(n, generator=parts.perm_gen).to(split.images.device)
    losses = torch.zeros(steps, dtype=torch.float32, device=dev)
    for s in range(steps):
        idx = perm[s * bs : (s + 1) * bs]
        images = split.images[idx].to(dev, non_blocking=True)
        masks = split.masks[idx].to(dev, non_blocking=True)
        x, y = augment_batch(
            Normalizer.to_unit(images),
            masks.float(),
            hflip=config.hflip,
            vflip=config.vflip,
            rotation=config.rotation,
            degrees=config.rotation_degrees,
            rotation_prob=config.rotation_prob,
            generator=parts.aug_gen,
        )
        x = parts.normalize(x).contiguous(memory_format=parts.memory_format)
        with autocast(dev, parts.amp_dtype):
            if parts.use_aux:
                logits, aux = model(x, return_aux=True)
            else:
                logits, aux = model(x), ()
        loss = parts.criterion(logits.float(), y, [a.float() for a in aux])
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(loss).backward()
        if config.grad_clip is not None:
            parts.scaler.unscale_(parts.optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.schedule.after_step()
        losses[s] = loss.detach()
    return losses.cpu()
