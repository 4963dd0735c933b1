"""Training of lesion-segmentation networks: config, losses, augmentation, fit, evaluate, run folders.

This package never imports optuna, ray or `studies`; the search drives it only through `fit`'s
`on_epoch` callback.
"""

from __future__ import annotations

from trainer.augment import augment_batch, flip_batch, rot90_batch, rotate_batch
from trainer.checkpoint import load_checkpoint, save_checkpoint
from trainer.config import RECIPES, TrainConfig, recipe
from trainer.data import DataError, load_data
from trainer.datatypes import DataBundle, SplitData
from trainer.evaluation import evaluate, resolve_device
from trainer.loop import FitResult, fit
from trainer.losses import LOSSES, Criterion, make_criterion, make_loss, register_loss
from trainer.metrics import MetricAccumulator
from trainer.rundir import read_json, write_json

__all__ = [
    "LOSSES",
    "RECIPES",
    "Criterion",
    "DataBundle",
    "DataError",
    "FitResult",
    "MetricAccumulator",
    "SplitData",
    "TrainConfig",
    "augment_batch",
    "evaluate",
    "fit",
    "load_data",
    "flip_batch",
    "load_checkpoint",
    "make_criterion",
    "make_loss",
    "read_json",
    "recipe",
    "register_loss",
    "resolve_device",
    "rot90_batch",
    "rotate_batch",
    "save_checkpoint",
    "write_json",
]
