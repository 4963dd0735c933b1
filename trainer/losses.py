"""Segmentation losses on logits, chosen by name from a registry.

Every loss takes logits (B, 1, H, W) (any float dtype; computed in float32) and a target
(B, 1, H, W) with values in {0, 1}, and returns a scalar. Notation: p = sigmoid(logits), y = target,
sums run over one image's pixels, "mean_b" is the mean over the images of the batch.

- BCE   = mean over all pixels of -[y·log p + (1-y)·log(1-p)]   (binary_cross_entropy_with_logits)
- Dice  = mean_b [1 - (2·Σ p·y + 1) / (Σ p + Σ y + 1)]          (soft Dice per image, smooth 1)
- IoU   = mean_b [1 - (Σ p·y + 1e-6) / (Σ p + Σ y - Σ p·y + 1e-6)]   (soft Jaccard, LMSAUnet's ε)

Registered losses, with their weights (`TrainConfig.loss_weights`, () = the defaults shown):
- `bce_dice` (w_bce, w_dice) = (1, 1):  w_bce·BCE + w_dice·Dice           (MALUNet, SCSONet, EGE-UNet)
- `bce_iou` (w_bce, w_iou) = (0.25, 0.75):  w_bce·BCE + w_iou·IoU         (LMSAUnet)
- `dice` (w_dice,) = (1,):  w_dice·Dice                                   (U-Lite)
- `boundary_interior` (w_bce, w_dice, w_boundary, w_interior) = (1, 1, 1, 1), DSNET's
  boundary-interior correction loss, RECONSTRUCTED FROM THE PAPER'S ABSTRACT ONLY:
      L = w_bce·BCE + w_dice·Dice + w_boundary·BCE[band] + w_interior·BCE[interior]
  with r = `boundary_width`, k = 2r + 1, and morphology by max pooling (stride 1, padding r):
      dilate(y) = maxpool_k(y),  erode(y) = -maxpool_k(-y),
      band = dilate(y) - erode(y)   (pixels within r of the true boundary, both sides),
      interior = erode(y)           (lesion pixels farther than r from the boundary),
      BCE[M] = Σ_batch M·bce / max(Σ_batch M, 1)   (mean pixel BCE inside the region M).
  Pixels outside the image count as neither foreground nor background for the morphology, so the
  image border is never a boundary. The extra terms re-weight the band (blurred boundaries) and the
  interior (holes inside the lesion) on top of BCE + Dice.

Deep supervision (EGE-UNet): `make_criterion(..., deep_supervision=(0.1, 0.2, 0.3, 0.4, 0.5))`
gives L(main) + Σ_i w_i·L(upsample(aux_i)), each aux logit map upsampled bilinearly
(align_corners=False) to the target's size, w_i applied in the order the model returns its maps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]

DICE_SMOOTH = 1.0
IOU_EPS = 1e-6


def bce(logits: Tensor, target: Tensor) -> Tensor:
    """Mean binary cross-entropy over all pixels, from logits."""
    return F.binary_cross_entropy_with_logits(logits.float(), target.float())


def _per_image_sums(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    p = torch.sigmoid(logits.float()).flatten(1)
    y = target.float().flatten(1)
    return (p * y).sum(1), p.sum(1), y.sum(1)


def dice_loss(logits: Tensor, target: Tensor, smooth: float = DICE_SMOOTH) -> Tensor:
    """1 - soft Dice, per image (smoothed), averaged over the batch."""
    inter, sp, sy = _per_image_sums(logits, target)
    return (1 - (2 * inter + smooth) / (sp + sy + smooth)).mean()


def iou_loss(logits: Tensor, target: Tensor, eps: float = IOU_EPS) -> Tensor:
    """1 - soft IoU (Jaccard), per image, averaged over the batch."""
    inter, sp, sy = _per_image_sums(logits, target)
    return (1 - (inter + eps) / (sp + sy - inter + eps)).mean()


def boundary_and_interior(target: Tensor, width: int) -> tuple[Tensor, Tensor]:
    """(band, interior) float masks of a {0,1} target: see the module docstring."""
    y = target.float()
    k = 2 * width + 1
    dilated = F.max_pool2d(y, k, stride=1, padding=width)
    eroded = -F.max_pool2d(-y, k, stride=1, padding=width)
    return dilated - eroded, eroded


def masked_bce(logits: Tensor, target: Tensor, region: Tensor) -> Tensor:
    """Mean pixel BCE over the pixels where region is 1 (0 when the region is empty)."""
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    return (per_pixel * region).sum() / region.sum().clamp(min=1.0)


def _bce_dice(w: tuple[float, ...], boundary_width: int) -> LossFn:
    return lambda x, y: w[0] * bce(x, y) + w[1] * dice_loss(x, y)


def _bce_iou(w: tuple[float, ...], boundary_width: int) -> LossFn:
    return lambda x, y: w[0] * bce(x, y) + w[1] * iou_loss(x, y)


def _dice(w: tuple[float, ...], boundary_width: int) -> LossFn:
    return lambda x, y: w[0] * dice_loss(x, y)


def _boundary_interior(w: tuple[float, ...], boundary_width: int) -> LossFn:
    def loss(x: Tensor, y: Tensor) -> Tensor:
        band, interior = boundary_and_interior(y, boundary_width)
        return (
            w[0] * bce(x, y)
            + w[1] * dice_loss(x, y)
            + w[2] * masked_bce(x, y, band)
            + w[3] * masked_bce(x, y, interior)
        )

    return loss


@dataclass(frozen=True)
class LossEntry:
    """A registered loss: builder(weights, boundary_width) -> loss, and its weights' meaning."""

    build: Callable[[tuple[float, ...], int], LossFn]
    weight_names: tuple[str, ...]
    default_weights: tuple[float, ...]


LOSSES: dict[str, LossEntry] = {}


def register_loss(
    name: str,
    build: Callable[[tuple[float, ...], int], LossFn],
    weight_names: tuple[str, ...],
    default_weights: tuple[float, ...],
) -> None:
    if name in LOSSES:
        raise ValueError(f"loss {name!r} is already registered")
    if len(weight_names) != len(default_weights):
        raise ValueError(f"loss {name!r}: {len(weight_names)} weight names, defaults differ")
    LOSSES[name] = LossEntry(build, tuple(weight_names), tuple(default_weights))


register_loss("bce_dice", _bce_dice, ("bce", "dice"), (1.0, 1.0))
register_loss("bce_iou", _bce_iou, ("bce", "iou"), (0.25, 0.75))
register_loss("dice", _dice, ("dice",), (1.0,))
register_loss(
    "boundary_interior",
    _boundary_interior,
    ("bce", "dice", "boundary", "interior"),
    (1.0, 1.0, 1.0, 1.0),
)


def make_loss(name: str, weights: Sequence[float] = (), *, boundary_width: int = 3) -> LossFn:
    """The registered loss `name` with its weights (() = defaults) as a (logits, target) callable."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses: {', '.join(sorted(LOSSES))}")
    entry = LOSSES[name]
    w = tuple(float(v) for v in weights) or entry.default_weights
    if len(w) != len(entry.default_weights):
        raise ValueError(
            f"loss {name!r} takes {len(entry.weight_names)} weight(s) "
            f"({', '.join(entry.weight_names)}), got {len(w)}: {w}"
        )
    if boundary_width < 1:
        raise ValueError(f"boundary_width must be >= 1, got {boundary_width}")
    return entry.build(w, boundary_width)


def upsample_to(logits: Tensor, size: Sequence[int]) -> Tensor:
    """Bilinear resize of a logit map to (H, W) (unchanged when already that size)."""
    if tuple(logits.shape[-2:]) == tuple(size):
        return logits
    return F.interpolate(logits.float(), size=tuple(size), mode="bilinear", align_corners=False)


class Criterion:
    """A training loss: `criterion(logits, target, aux=())`, with optional deep supervision."""

    def __init__(self, base: LossFn, deep_supervision: Sequence[float] = ()) -> None:
        self.base = base
        self.weights = tuple(float(w) for w in deep_supervision)

    def __call__(self, logits: Tensor, target: Tensor, aux: Sequence[Tensor] = ()) -> Tensor:
        total = self.base(logits, target)
        if len(aux) != len(self.weights):
            raise ValueError(
                f"deep supervision has {len(self.weights)} weight(s) but the model returned "
                f"{len(aux)} aux map(s)"
            )
        for w, a in zip(self.weights, aux, strict=True):
            total = total + w * self.base(upsample_to(a, target.shape[-2:]), target)
        return total


def make_criterion(
    name: str,
    weights: Sequence[float] = (),
    *,
    boundary_width: int = 3,
    deep_supervision: Sequence[float] = (),
) -> Criterion:
    """The loss `name`, wrapped with deep-supervision weights for the aux maps (() = none)."""
    return Criterion(make_loss(name, weights, boundary_width=boundary_width), deep_supervision)
