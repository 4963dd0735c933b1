"""Weights-only checkpoints: a dict of plain tensors and primitives, saved atomically.

`torch.load(path, weights_only=True)` can read them: they hold no pickled classes, only the
state_dict (CPU tensors) and JSON-like metadata (train config, best epoch, val metrics, data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.rundir import atomic_open, to_jsonable

CHECKPOINT_FORMAT = "lesion-nas-checkpoint"
CHECKPOINT_VERSION = 1


def checkpoint_state(
    model_or_state: nn.Module | dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """A state_dict as contiguous CPU tensors (detached copies)."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_checkpoint(
    path: str | Path,
    model_or_state: nn.Module | dict[str, torch.Tensor],
    *,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Save {"format", "version", "state_dict", "metadata"} to `path` atomically.

    metadata must be JSON-like (it is converted with the same rules as write_json).
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state_dict": checkpoint_state(model_or_state),
        "metadata": to_jsonable(metadata or {}),
    }
    with atomic_open(path, "wb") as f:
        torch.save(payload, f)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with weights_only=True and check its format and version."""
    payload = torch.load(Path(path), map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a lesion-nas checkpoint")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path}: checkpoint version {payload.get('version')!r}, this code reads "
            f"version {CHECKPOINT_VERSION}"
        )
    return payload
