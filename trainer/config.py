"""Training configuration: one frozen dataclass of primitives, and the papers' recipes.

A `TrainConfig` round-trips through JSON (`to_json` / `from_json`), refuses unknown keys with a
message naming the valid ones, and validates its values on construction. The published training
recipes (seed-models.md §10) are named instances in `RECIPES`; `recipe(name, **overrides)` derives
a variant with `dataclasses.replace`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from trainer.losses import LOSSES, make_loss

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULES = ("cosine", "onecycle", "plateau", "constant")
ROTATIONS = ("none", "free", "right_angles")
AMP_MODES = ("auto", "off", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")
OPTIMIZER_IMPLS = ("auto", "fused", "foreach", "forloop")
SELECT_MODES = ("max", "min")

# Mean and standard deviation (per RGB channel, on the 0..1 scale) used to normalise images.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines how a network is trained (the data itself is not part of it)."""

    # optimiser
    optimizer: str = "adamw"  # adamw | adam | sgd
    lr: float = 1e-3  # peak learning rate (the max lr of onecycle)
    weight_decay: float = 1e-2
    momentum: float = 0.9  # sgd only
    grad_clip: float | None = None  # max global gradient norm; None = no clipping
    # learning-rate schedule
    schedule: str = "cosine"  # cosine | onecycle | plateau | constant
    eta_min: float = 1e-5  # cosine: final learning rate (reached at the last step)
    onecycle_pct_start: float = 0.3  # onecycle: fraction of the steps spent warming up
    plateau_factor: float = 0.5  # plateau: lr multiplier when val loss stalls
    plateau_patience: int = 10  # plateau: validations without val-loss gain before reducing
    # length and batches
    epochs: int = 300
    batch_size: int = 8
    drop_last: bool = True  # drop the incomplete last batch (BatchNorm cannot train on 1 image)
    image_size: tuple[int, int] = (256, 256)  # (H, W) the data must have
    # augmentation (applied on the device, per sample)
    hflip: bool = True
    vflip: bool = True
    rotation: str = "free"  # none | free (uniform angle in ±rotation_degrees) | right_angles
    rotation_degrees: float = 180.0
    rotation_prob: float = 0.5  # probability that a sample is rotated at all
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # loss
    loss: str = "bce_dice"  # a key of trainer.losses.LOSSES
    loss_weights: tuple[float, ...] = ()  # () = the loss's defaults; see trainer.losses
    boundary_width: int = 3  # boundary_interior: half-width in pixels of the boundary band
    deep_supervision: tuple[float, ...] = ()  # weights of the model's aux maps; () = off
    # validation, selection, stopping
    eval_every: int = 1  # validate every k epochs (and always after the last one)
    eval_batch_size: int = 32
    select_metric: str = "val_dice_per_image_mean"  # a "val_" key of the history
    select_mode: str = "max"  # max | min
    early_stopping_patience: int | None = None  # epochs without improvement; None = off
    threshold: float = 0.5  # probability above which a pixel is predicted lesion
    # compute the slow metrics (trainer.metrics: hd95 and boundary F) on the final test
    # evaluation, never on val (stored before as ``hd95``: ``RENAMED`` reads that name)
    slow_test_metrics: bool = False
    # execution
    seed: int = 0
    amp: str = "auto"  # auto (bf16, or fp16 without bf16, on CUDA; off on CPU) | off | bf16 | fp16
    channels_last: str = "auto"  # auto (on for CUDA and CPU, measured) | on | off
    # auto (Adam/AdamW: torch's fused kernel on CPU and CUDA, measured; SGD: torch's choice) |
    # fused | foreach | forloop (torch's own default on CPU before)
    optimizer_impl: str = "auto"
    # cuDNN's autotuner (torch.backends.cudnn.benchmark) during fit on CUDA: on (the default,
    # as before it was an option) tunes each new convolution shape once per process, which a
    # search of many architectures pays for every candidate; off uses cuDNN's heuristics.
    # UNMEASURED: no GPU has been lent to time the two over a search (benchmarks/RESULTS.md)
    cudnn_benchmark: str = "on"
    num_threads: int | None = None  # torch CPU threads during fit; None = leave as is

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, list):  # from JSON
                object.__setattr__(self, f.name, tuple(value))
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        if not isinstance(d, dict):
            raise TypeError(f"TrainConfig.from_dict needs a dict, got {type(d).__name__}")
        d = renamed(d)
        unknown = sorted(set(d) - set(field_names()))
        if unknown:
            raise ValueError(
                f"unknown TrainConfig key(s) {unknown}; valid keys: {', '.join(field_names())}"
            )
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        return cls.from_dict(json.loads(text))


# fields renamed since configs were first stored (studies' specs, run folders): old -> new
RENAMED = {"hd95": "slow_test_metrics"}


def renamed(d: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict with its renamed fields under today's names."""
    return {RENAMED.get(k, k): v for k, v in d.items()}


def upgraded(d: dict[str, Any]) -> dict[str, Any]:
    """A stored config dict in today's form: renamed fields under today's names, and fields
    added since it was stored at their defaults (which is what the run had: the default is
    always the behaviour from before the field existed)."""
    d = renamed(d)
    defaults = TrainConfig().to_dict()
    return {**{k: v for k, v in defaults.items() if k not in d}, **d}


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(f"TrainConfig: {message}")


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _choice(c: TrainConfig, name: str, options: tuple[str, ...]) -> None:
    value = getattr(c, name)
    _check(value in options, f"{name}={value!r} is not one of {', '.join(options)}")


def _validate(c: TrainConfig) -> None:
    _choice(c, "optimizer", OPTIMIZERS)
    _choice(c, "schedule", SCHEDULES)
    _choice(c, "rotation", ROTATIONS)
    _choice(c, "amp", AMP_MODES)
    _choice(c, "channels_last", SWITCHES)
    _choice(c, "optimizer_impl", OPTIMIZER_IMPLS)
    _choice(c, "cudnn_benchmark", ("on", "off"))
    _choice(c, "select_mode", SELECT_MODES)
    _check(c.loss in LOSSES, f"loss={c.loss!r} is not one of {', '.join(sorted(LOSSES))}")
    for name in ("lr", "weight_decay", "momentum", "eta_min", "rotation_degrees"):
        value = getattr(c, name)
        _check(_is_num(value) and value >= 0, f"{name} must be a number >= 0, got {value!r}")
    _check(c.grad_clip is None or (_is_num(c.grad_clip) and c.grad_clip > 0), "grad_clip > 0")
    _check(c.rotation_degrees <= 180, "rotation_degrees must be within 0..180")
    for name in ("onecycle_pct_start", "plateau_factor", "rotation_prob", "threshold"):
        value = getattr(c, name)
        _check(_is_num(value) and 0 <= value <= 1, f"{name} must be within 0..1, got {value!r}")
    for name in ("epochs", "batch_size", "eval_every", "eval_batch_size", "boundary_width"):
        value = getattr(c, name)
        _check(_is_int(value) and value >= 1, f"{name} must be an int >= 1, got {value!r}")
    _check(_is_int(c.plateau_patience) and c.plateau_patience >= 0, "plateau_patience >= 0")
    _check(_is_int(c.seed), f"seed must be an int, got {c.seed!r}")
    for name in ("early_stopping_patience", "num_threads"):
        value = getattr(c, name)
        _check(value is None or (_is_int(value) and value >= 1), f"{name} must be None or >= 1")
    _check(
        len(c.image_size) == 2 and all(_is_int(v) and v >= 1 for v in c.image_size),
        f"image_size must be (H, W) positive ints, got {c.image_size!r}",
    )
    for name in ("mean", "std"):
        value = getattr(c, name)
        _check(len(value) == 3 and all(_is_num(v) for v in value), f"{name} needs 3 numbers")
    _check(all(v > 0 for v in c.std), "std must be > 0")
    for name in ("loss_weights", "deep_supervision"):
        value = getattr(c, name)
        _check(all(_is_num(v) and v >= 0 for v in value), f"{name} must be numbers >= 0")
    _check(
        c.select_metric.startswith("val_"),
        f"select_metric must name a validation metric ('val_...'), got {c.select_metric!r}: "
        "the best epoch is chosen on the validation split only",
    )
    for name in ("hflip", "vflip", "drop_last", "slow_test_metrics"):
        _check(isinstance(getattr(c, name), bool), f"{name} must be a bool")
    # Raises a clear error for a wrong number of loss weights.
    make_loss(c.loss, c.loss_weights, boundary_width=c.boundary_width)


# The shared skeleton's recipe (MALUNet / SCSONet / EGE-UNet papers): 256×256, h/v flips and random
# rotation, AdamW lr 1e-3 wd 1e-2, cosine to 1e-5 over the whole run (the public code's T_max = 50
# and once-per-run rotation angle are bugs, not the recipe), 300 epochs, batch 8, BCE + Dice 1:1.
_SKELETON = TrainConfig()

RECIPES: dict[str, TrainConfig] = {
    "scsonet": _SKELETON,
    "malunet": _SKELETON,
    # EGE-UNet: same recipe plus BCE+Dice on the 5 deep-supervision maps, weighted 0.1..0.5 from
    # the coarsest map (the model returns its aux maps coarsest first) to the finest.
    "egeunet": dataclasses.replace(_SKELETON, deep_supervision=(0.1, 0.2, 0.3, 0.4, 0.5)),
    # LMSAUnet (paper + authors' code): AdamW wd 1e-5, one-cycle max lr 1e-3, batch 8, up to 200
    # epochs, early stop after 20 epochs without val-loss gain, the model with the lowest val loss
    # kept, 256×256, 0.25·BCE + 0.75·IoU, horizontal flip only.
    "lmsaunet": dataclasses.replace(
        _SKELETON,
        weight_decay=1e-5,
        schedule="onecycle",
        epochs=200,
        vflip=False,
        rotation="none",
        loss="bce_iou",
        select_metric="val_loss",
        select_mode="min",
        early_stopping_patience=20,
    ),
    # U-Lite: Adam lr 2e-3, reduce-on-plateau (factor 0.5 and patience 10 are our choice, not
    # stated), 200 epochs, batch 8, Dice loss; augmentation not stated, we use h/v flips.
    "ulite": dataclasses.replace(
        _SKELETON,
        optimizer="adam",
        lr=2e-3,
        weight_decay=0.0,
        schedule="plateau",
        epochs=200,
        rotation="none",
        loss="dice",
    ),
    # ULRTS-Net: its paper's recipe is not legible in the OCR'd text; we train it like the skeleton
    # models (an assumption, stated wherever the recipe is shown).
    "ulrtsnet": _SKELETON,
    # DSNET (reconstructed from the abstract): the skeleton recipe with its boundary-interior loss.
    "dsnet": dataclasses.replace(_SKELETON, loss="boundary_interior"),
    # A short recipe for smoke runs and architecture search: same optimiser, 20 epochs, batch 16.
    "fast": dataclasses.replace(_SKELETON, lr=2e-3, epochs=20, batch_size=16),
}


def recipe(name: str, **overrides: Any) -> TrainConfig:
    """The named recipe with some fields replaced, e.g. `recipe("fast", epochs=3)`."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; valid recipes: {', '.join(RECIPES)}")
    unknown = sorted(set(overrides) - set(field_names()))
    if unknown:
        raise ValueError(
            f"unknown TrainConfig field(s) {unknown}; valid fields: {', '.join(field_names())}"
        )
    return dataclasses.replace(RECIPES[name], **overrides)


def recipe_with(name: str, **overrides: Any) -> TrainConfig:
    """``recipe`` with only the overrides that were given (not None): how every verb applies its
    flags (``--epochs``, ``--image-size``, ...) to a recipe; a flag not given keeps the recipe's."""
    return recipe(name, **{k: v for k, v in overrides.items() if v is not None})
