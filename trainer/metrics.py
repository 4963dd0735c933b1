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
``boundary_f`` (per image only): the boundary F-score with a 2-pixel tolerance on the same
surfaces (``boundary_f_single``). hd95 and boundary_f are the slow metrics: computed on the
final test evaluation and by ``evaluate``, not on every validation epoch.

Each metric is one ``Metric`` entry of the registry ``METRICS`` (``register``): a function of
the confusion counts (per image, and pooled on the summed counts) or of each image's masks.
The accumulator, ``--metric``, the labels and the evaluate verb read the registry.

``*_per_image_mean`` is the mean of the per-image values; ``*_pooled`` applies the same formula
(and the same 0.65 rule) to the counts summed over all images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

JACCARD_THRESHOLD = 0.65
_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Metric:
    """One registered metric. A metric is computed either from the confusion counts
    (``from_counts(tp, fp, fn, tn) -> array``: per image, and pooled over all pixels by applying
    it to the summed counts) or from each image's masks (``from_masks(pred, truth) -> float`` on
    two (H, W) bool arrays: per image only). ``slow`` metrics are computed only when asked (the
    final test evaluation, ``TrainConfig.slow_test_metrics``; ``evaluate``), never on every validation epoch."""

    name: str
    label: str  # for tables and axes: "Dice", "HD95"
    from_counts: Callable[..., np.ndarray] | None = None
    from_masks: Callable[[np.ndarray, np.ndarray], float] | None = None
    higher_is_better: bool = True  # only these may be an accuracy objective (--metric)
    slow: bool = False

    @property
    def pooled(self) -> bool:
        return self.from_counts is not None

    def keys(self) -> tuple[str, ...]:
        """The result keys it fills: ``<name>_per_image_mean`` and, if poolable, ``_pooled``."""
        return (f"{self.name}_per_image_mean",) + ((f"{self.name}_pooled",) if self.pooled else ())


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    if metric.name in METRICS:
        raise ValueError(f"metric {metric.name!r} is registered twice")
    if (metric.from_counts is None) == (metric.from_masks is None):
        raise ValueError(f"metric {metric.name!r}: give exactly one of from_counts, from_masks")
    METRICS[metric.name] = metric
    return metric


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
    """Every count-based metric (:data:`METRIC_NAMES`) from counts (scalars or arrays), float64."""
    counts = tuple(np.asarray(v, dtype=np.float64) for v in (tp, fp, fn, tn))
    return {m.name: np.asarray(m.from_counts(*counts), dtype=np.float64) for m in _counting()}


def _counting() -> list[Metric]:
    return [m for m in METRICS.values() if m.from_counts is not None]


def _by_masks(slow: bool) -> list[Metric]:
    return [m for m in METRICS.values() if m.from_masks is not None and (slow or not m.slow)]


def _jaccard(tp, fp, fn, tn):
    return _ratio(tp, tp + fp + fn)


def _background_iou(tp, fp, fn, tn):
    return _ratio(tn, tn + fp + fn)


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


BOUNDARY_TOLERANCE = 2.0  # pixels: a boundary pixel this close to the other boundary matches


def boundary_f_single(pred: np.ndarray, target: np.ndarray) -> float:
    """Boundary F-score (BF, Csurka et al. 2013) of one (H, W) bool prediction: precision = the
    share of the prediction's surface pixels within ``BOUNDARY_TOLERANCE`` pixels (Euclidean) of
    the truth's surface, recall the converse, F = 2PR / (P + R); surfaces as for hd95. Both masks
    empty: 1; exactly one empty, or no surface pixel matched: 0."""
    pred, target = np.asarray(pred, dtype=bool), np.asarray(target, dtype=bool)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"boundary F needs two (H, W) masks, got {pred.shape} and {target.shape}")
    has_pred, has_target = bool(pred.any()), bool(target.any())
    if not (has_pred or has_target):
        return 1.0
    if has_pred != has_target:
        return 0.0
    pred_surface, target_surface = _surface(pred), _surface(target)
    to_target = ndimage.distance_transform_edt(~target_surface)[pred_surface]
    to_pred = ndimage.distance_transform_edt(~pred_surface)[target_surface]
    precision = float((to_target <= BOUNDARY_TOLERANCE).mean())
    recall = float((to_pred <= BOUNDARY_TOLERANCE).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def mask_metrics(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *, slow: bool = True
) -> dict[str, np.ndarray]:
    """The mask-based metrics (``slow`` ones only if asked) of each image: name -> float64 (N,)."""
    chosen = _by_masks(slow)
    if not chosen:
        return {}
    p = _as_bool(pred, "pred").cpu().numpy()
    t = _as_bool(target, "target").cpu().numpy()
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    return {
        m.name: np.array([m.from_masks(a, b) for a, b in zip(p, t, strict=True)], np.float64)
        for m in chosen
    }


for _metric in (
    Metric("dice", "Dice", lambda tp, fp, fn, tn: _ratio(2 * tp, 2 * tp + fp + fn)),
    Metric("jaccard", "IoU (Jaccard)", _jaccard),
    Metric(
        "jaccard_thresholded",
        "thresholded Jaccard",
        lambda *c: np.where(_jaccard(*c) >= JACCARD_THRESHOLD, _jaccard(*c), 0.0),
    ),
    Metric("accuracy", "pixel accuracy", lambda tp, fp, fn, tn: (tp + tn) / (tp + fp + fn + tn)),
    Metric("sensitivity", "sensitivity", lambda tp, fp, fn, tn: _ratio(tp, tp + fn)),
    Metric("specificity", "specificity", lambda tp, fp, fn, tn: _ratio(tn, tn + fp)),
    Metric("miou", "mIoU", lambda *c: (_jaccard(*c) + _background_iou(*c)) / 2),
    Metric(
        "fwiou",
        "FWIoU",
        lambda tp, fp, fn, tn: (
            ((tp + fn) * _jaccard(tp, fp, fn, tn) + (tn + fp) * _background_iou(tp, fp, fn, tn))
            / (tp + fp + fn + tn)
        ),
    ),
    Metric("hd95", "HD95", from_masks=hd95_single, higher_is_better=False, slow=True),
    Metric("boundary_f", "boundary F (2 px)", from_masks=boundary_f_single, slow=True),
):
    register(_metric)

# the count-based metrics, in registration order (each has a per-image mean and a pooled value)
METRIC_NAMES = tuple(m.name for m in _counting())


def per_image_metrics(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, *, slow: bool = True
) -> dict[str, np.ndarray]:
    """Every metric for every image: name -> float64 array (N,); ``slow`` ones only if asked."""
    counts = [c.cpu().numpy() for c in confusion_counts(pred, target)]
    return {**metrics_from_counts(*counts), **mask_metrics(pred, target, slow=slow)}


class MetricAccumulator:
    """Collects confusion counts (and the mask-based metrics) batch by batch; without the
    ``slow`` ones (hd95) it is cheap enough for every epoch.

    Images may differ in size between updates (e.g. scoring at each mask's own resolution).
    """

    def __init__(self, *, slow: bool = False) -> None:
        self.slow = slow
        self._counts: list[np.ndarray] = []  # (4, n) int64 per update
        self._masks: list[dict[str, np.ndarray]] = []

    def __len__(self) -> int:
        return int(sum(c.shape[1] for c in self._counts))

    def update(self, pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> None:
        """Add a batch: ``pred`` bool (or {0, 1}), ``target`` {0, 1}; (N, 1, H, W) or (N, H, W)."""
        counts = torch.stack(confusion_counts(pred, target)).cpu().numpy()
        self._counts.append(counts)
        self._masks.append(mask_metrics(pred, target, slow=self.slow))

    def _stacked(self) -> np.ndarray:
        if not self._counts:
            raise ValueError("MetricAccumulator has no images; call update() first")
        return np.concatenate(self._counts, axis=1)

    def per_image(self) -> dict[str, np.ndarray]:
        """name -> float64 array over all images so far, in update order."""
        out = metrics_from_counts(*self._stacked())
        for name in self._masks[0]:
            out[name] = np.concatenate([m[name] for m in self._masks])
        return out

    def compute(self) -> dict[str, float]:
        """``<name>_per_image_mean`` for every metric computed, and ``<name>_pooled`` for the
        count-based ones."""
        per_image = self.per_image()
        pooled = metrics_from_counts(*self._stacked().sum(axis=1))
        out: dict[str, float] = {}
        for name, values in per_image.items():
            out[f"{name}_per_image_mean"] = float(values.mean())
            if name in pooled:
                out[f"{name}_pooled"] = float(pooled[name])
        return out


def metric_label(key: str) -> str:
    """``dice_per_image_mean`` -> ``Dice (per-image mean)``; ``dice_pooled`` -> ``Dice (pooled)``."""
    for suffix, how in (("_per_image_mean", "per-image mean"), ("_pooled", "pooled")):
        if key.endswith(suffix):
            base = key[: -len(suffix)]
            return f"{METRICS[base].label if base in METRICS else base} ({how})"
    return METRICS[key].label if key in METRICS else key


def objective_keys() -> tuple[str, ...]:
    """Validation metric keys an accuracy objective may use (``--metric``): higher is better."""
    return tuple(k for m in METRICS.values() if m.higher_is_better for k in m.keys())
