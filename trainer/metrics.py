"""Binary lesion-segmentation metrics, per image and pooled over all pixels.

From the confusion counts TP, FP, FN, TN of a prediction against its ground truth:

- ``dice`` = 2TP / (2TP + FP + FN); ``jaccard`` = TP / (TP + FP + FN) (lesion IoU);
- ``jaccard_thresholded`` = jaccard if jaccard >= 0.65 else 0 (the ISIC 2018 challenge score);
- ``accuracy`` = (TP + TN) / all; ``sensitivity`` = TP / (TP + FN); ``specificity`` =
  TN / (TN + FP);
- ``miou`` = (lesion IoU + background IoU) / 2, background IoU = TN / (TN + FN + FP);
- ``fwiou`` = frequency-weighted IoU = ((TP + FN) * lesion IoU + (TN + FP) * background IoU) / all,
  each class weighted by its share of the ground-truth pixels;
- ``hd95`` (per image only): the 95th percentile of the symmetric surface distance in pixels, as in
  medpy's ``hd95``: surfaces are the mask pixels removed by one binary erosion (4-connected
  structuring element, pixels outside the image count as background); the distances from each
  surface pixel of the prediction to the nearest surface pixel of the truth and from each truth
  surface pixel to the prediction's surface are pooled, and their 95th percentile (numpy's linear
  interpolation) is taken.

Conventions for undefined ratios follow the ``isic-challenge-scoring`` package: a ratio whose
denominator is 0 scores 1.0 (dice and jaccard when TP + FP + FN = 0, i.e. both masks empty;
sensitivity when the truth is empty; specificity when the truth covers the whole image); the same
rule gives background IoU = 1 when both masks cover the whole image. Accuracy is always defined.
hd95 is 0 when both masks are empty and the image diagonal, sqrt(H^2 + W^2), when exactly one is
empty (the largest distance possible in the image; the package defines no distance metric).

``*_per_image_mean`` is the mean of the per-image values; ``*_pooled`` applies the same formula
(and the same 0.65 rule) to the counts summed over all images.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

METRIC_NAMES = (
    "dice",
    "jaccard",
    "jaccard_thresholded",
    "accuracy",
    "sensitivity",
    "specificity",
    "miou",
    "fwiou",
)
JACCARD_THRESHOLD = 0.65
_CROSS = ndimage.generate_binary_structure(2, 1)


def _as_bool(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    """(N, 1, H, W) or (N, H, W) bool / {0, 1} -> (N, H, W) bool tensor (same device)."""
    x = torch.as_tensor(x)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"{name} must be (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"{name} must be (N, 1, H, W) or (N, H, W), got {tuple(x.shape)}")
    if x.dtype != torch.bool:
        if not bool(((x == 0) | (x == 1)).all()):
            raise ValueError(f"{name} must be boolean or hold only 0 and 1")
        x = x != 0
    return x


def confusion_counts(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-image (tp, fp, fn, tn), each an int64 tensor (N,) on the inputs' device."""
    p, t = _as_bool(pred, "pred"), _as_bool(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    p, t = p.flatten(1), t.flatten(1)
    tp = (p & t).sum(1, dtype=torch.int64)
    fp = (p & ~t).sum(1, dtype=torch.int64)
    fn = (~p & t).sum(1, dtype=torch.int64)
    tn = p.shape[1] - tp - fp - fn
    return tp, fp, fn, tn


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, and 1.0 where den == 0 (the isic-challenge-scoring convention)."""
    return np.where(den > 0, num / np.maximum(den, 1), 1.0)


def metrics_from_counts(tp, fp, fn, tn) -> dict[str, np.ndarray]:
    """The :data:`METRIC_NAMES` metrics from counts (scalars or arrays), as float64 arrays."""
    tp, fp, fn, tn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    total = tp + fp + fn + tn
    jaccard = _ratio(tp, tp + fp + fn)
    background = _ratio(tn, tn + fp + fn)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "jaccard": jaccard,
        "jaccard_thresholded": np.where(jaccard >= JACCARD_THRESHOLD, jaccard, 0.0),
        "accuracy": (tp + tn) / total,
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "miou": (jaccard + background) / 2,
        "fwiou": ((tp + fn) * jaccard + (tn + fp) * background) / total,
    }


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=_CROSS, border_value=0)


def hd95_single(pred: np.ndarray, target: np.ndarray) -> float:
    """hd95 of one (H, W) bool prediction against its truth (module docstring convention)."""
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"hd95 needs two (H, W) masks, got {pred.shape} and {target.shape}")
    has_pred, has_target = bool(pred.any()), bool(target.any())
    if not (has_pred or has_target):
        return 0.0
    if has_pred != has_target:
        return float(np.hypot(*pred.shape))
    pred_surface, target_surface = _surface(pred), _surface(target)
    to_target = ndimage.distance_transform_edt(~target_surface)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface)[target_surface]
    return float(np.percentile(np.concatenate([to_target, to_pred]), 95))


def hd95_per_image(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray
) -> np.ndarray:
    """hd95 of each image of a batch, float64 (N,)."""
    p = _as_bool(pred, "pred").cpu().numpy()
    t = _as_bool(target, "target").cpu().numpy()
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    return np.array([hd95_single(a, b) for a, b in zip(p, t, strict=True)], dtype=np.float64)


def per_image_metrics(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *, hd95: bool = True
) -> dict[str, np.ndarray]:
    """Every metric for every image: name -> float64 array (N,); ``hd95`` only if asked."""
    counts = [c.cpu().numpy() for c in confusion_counts(pred, target)]
    out = metrics_from_counts(*counts)
    if hd95:
        out["hd95"] = hd95_per_image(pred, target)
    return out


class MetricAccumulator:
    """Collects confusion counts (and hd95) batch by batch; cheap enough for every epoch.

    Images may differ in size between updates (e.g. scoring at each mask's own resolution).
    """

    def __init__(self, *, hd95: bool = False) -> None:
        self.hd95 = hd95
        self._counts: list[np.ndarray] = []  # (4, n) int64 per update
        self._hd95: list[np.ndarray] = []

    def __len__(self) -> int:
        return int(sum(c.shape[1] for c in self._counts))

    def reset(self) -> None:
        self._counts.clear()
        self._hd95.clear()

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add a batch: ``pred`` bool (or {0, 1}), ``target`` {0, 1}; (N, 1, H, W) or (N, H, W)."""
        counts = torch.stack(confusion_counts(pred, target)).cpu().numpy()
        self._counts.append(counts)
        if self.hd95:
            self._hd95.append(hd95_per_image(pred, target))

    def _stacked(self) -> np.ndarray:
        if not self._counts:
            raise ValueError("MetricAccumulator has no images; call update() first")
        return np.concatenate(self._counts, axis=1)

    def per_image(self) -> dict[str, np.ndarray]:
        """name -> float64 array over all images so far, in update order."""
        out = metrics_from_counts(*self._stacked())
        if self.hd95:
            out["hd95"] = np.concatenate(self._hd95)
        return out

    def compute(self) -> dict[str, float]:
        """``<name>_per_image_mean`` and ``<name>_pooled`` for every metric (hd95: mean only)."""
        counts = self._stacked()
        per_image = self.per_image()
        pooled = metrics_from_counts(*counts.sum(axis=1))
        out: dict[str, float] = {}
        for name in METRIC_NAMES:
            out[f"{name}_per_image_mean"] = float(per_image[name].mean())
            out[f"{name}_pooled"] = float(pooled[name])
        if self.hd95:
            out["hd95_per_image_mean"] = float(per_image["hd95"].mean())
        return out
