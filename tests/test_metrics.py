"""Metrics: hand-computed values, agreement with isic-challenge-scoring on real masks, pooling."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import ndimage
from scipy.spatial.distance import cdist

from trainer.data import load_pairs_for_evaluation, read_mask
from trainer.metrics import (
    METRIC_NAMES,
    MetricAccumulator,
    confusion_counts,
    hd95_single,
    per_image_metrics,
)

isic_metrics = pytest.importorskip("isic_challenge_scoring.metrics")
from isic_challenge_scoring.confusion import create_binary_confusion_matrix  # noqa: E402
from isic_challenge_scoring.segmentation import SegmentationScore  # noqa: E402

TARGET_4x4 = [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
PRED_4x4 = [[1, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_hand_computed_4x4() -> None:
    # tp = (0,0), (0,1), (1,1) = 3; fp = (0,2) = 1; fn = (1,0) = 1; tn = 16 - 5 = 11
    pred = torch.tensor([[PRED_4x4]], dtype=torch.uint8)  # (1, 1, 4, 4)
    target = torch.tensor([[TARGET_4x4]], dtype=torch.uint8)
    tp, fp, fn, tn = confusion_counts(pred, target)
    assert (tp.item(), fp.item(), fn.item(), tn.item()) == (3, 1, 1, 11)
    assert tp.dtype == torch.int64
    m = per_image_metrics(pred, target)
    expected = {
        "dice": 0.75,  # 6 / 8
        "jaccard": 0.6,  # 3 / 5
        "jaccard_thresholded": 0.0,  # 0.6 < 0.65
        "accuracy": 0.875,  # 14 / 16
        "sensitivity": 0.75,  # 3 / 4
        "specificity": 0.9166666666666666,  # 11 / 12
        "miou": 0.7230769230769231,  # (3/5 + 11/13) / 2
        "fwiou": 0.7846153846153846,  # 4/16 * 3/5 + 12/16 * 11/13
        # surface distances: pred -> truth 0, 0, 1, 0; truth -> pred 0, 0, 1, 0; p95 of the 8 = 1
        "hd95": 1.0,
        # every surface distance above is <= 2 px: boundary precision = recall = 1
        "boundary_f": 1.0,
    }
    assert set(m) == set(expected)
    for name, value in expected.items():
        assert m[name][0] == pytest.approx(value, abs=1e-12), name


def test_shapes_and_dtypes_agree() -> None:
    rng = np.random.default_rng(0)
    pred = rng.random((5, 1, 9, 7)) > 0.5
    target = rng.random((5, 1, 9, 7)) > 0.6
    a = confusion_counts(torch.from_numpy(pred), torch.from_numpy(target))
    b = confusion_counts(
        torch.from_numpy(pred[:, 0]).to(torch.uint8), target[:, 0].astype(np.float32)
    )
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    tp, fp, fn, tn = (t.numpy() for t in a)
    assert np.array_equal(tp + fp + fn + tn, np.full(5, 63))
    assert np.array_equal(tp, (pred & target).reshape(5, -1).sum(1))


def test_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match="only 0 and 1"):
        confusion_counts(torch.full((1, 4, 4), 2), torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_counts(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        confusion_counts(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="no images"):
        MetricAccumulator().compute()


def test_empty_mask_conventions() -> None:
    empty, full = np.zeros((8, 6), bool), np.ones((8, 6), bool)
    blob = np.zeros((8, 6), bool)
    blob[2:5, 1:4] = True
    pred = torch.from_numpy(np.stack([empty, empty, blob, full]))
    target = torch.from_numpy(np.stack([empty, blob, empty, full]))
    m = per_image_metrics(pred, target)
    # both empty: everything perfect, hd95 0
    assert [m[k][0] for k in ("dice", "jaccard", "sensitivity", "specificity", "miou", "hd95")] == [
        1.0, 1.0, 1.0, 1.0, 1.0, 0.0,
    ]  # fmt: skip
    # empty prediction, lesion in truth: dice 0, specificity 1, hd95 = image diagonal
    assert (m["dice"][1], m["sensitivity"][1], m["specificity"][1]) == (0.0, 0.0, 1.0)
    assert m["hd95"][1] == pytest.approx(10.0)  # sqrt(8^2 + 6^2)
    # empty truth, lesion predicted: dice 0, sensitivity 1 (free, as in isic-challenge-scoring)
    assert (m["dice"][2], m["sensitivity"][2], m["hd95"][2]) == (0.0, 1.0, 10.0)
    # both full: specificity and background IoU undefined -> 1
    assert (m["specificity"][3], m["miou"][3], m["fwiou"][3]) == (1.0, 1.0, 1.0)


def _isic_per_image(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    cm = create_binary_confusion_matrix(
        truth_binary_values=truth.astype(np.uint8) * 255 > 128,
        prediction_binary_values=pred.astype(np.uint8) * 255 > 128,
    )
    return {
        "dice": isic_metrics.binary_dice(cm),
        "jaccard": isic_metrics.binary_jaccard(cm),
        "jaccard_thresholded": isic_metrics.binary_threshold_jaccard(cm, threshold=0.65),
        "accuracy": isic_metrics.binary_accuracy(cm),
        "sensitivity": isic_metrics.binary_sensitivity(cm),
        "specificity": isic_metrics.binary_specificity(cm),
    }


def _perturbations(truth: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    noisy = truth ^ (rng.random(truth.shape) < 0.05)
    return [
        truth,
        ndimage.binary_dilation(truth, iterations=4),
        ndimage.binary_erosion(truth, iterations=6),
        np.roll(truth, (9, -13), axis=(0, 1)),
        noisy,
        ndimage.binary_dilation(np.roll(truth, 25, axis=1), iterations=2),
        np.zeros_like(truth),
        np.ones_like(truth),
    ]


@pytest.fixture(scope="module")
def real_cases(isic2017_root) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prediction, truth) pairs: 20 real validation masks, each perturbed 8 ways, plus empty and
    full truths."""
    samples = load_pairs_for_evaluation(isic2017_root, "val")[:20]
    rng = np.random.default_rng(0)
    cases = []
    for sample in samples:
        truth = read_mask(sample.mask_path).astype(bool)
        cases += [(pred, truth) for pred in _perturbations(truth, rng)]
    shape = cases[0][1].shape
    some = cases[0][1]
    for truth in (np.zeros(shape, bool), np.ones(shape, bool)):
        cases += [(truth, truth), (some, truth), (~truth, truth)]
    return cases


def test_per_image_equals_isic_challenge_scoring(real_cases) -> None:
    shape = real_cases[0][1].shape
    assert all(t.shape == shape for _, t in real_cases)  # the sample's masks share one size
    pred = torch.from_numpy(np.stack([p for p, _ in real_cases]))
    truth = torch.from_numpy(np.stack([t for _, t in real_cases]).astype(np.uint8))
    ours = per_image_metrics(pred, truth, slow=False)
    thresholded = 0
    for n, (p, t) in enumerate(real_cases):
        for name, value in _isic_per_image(p, t).items():
            assert abs(ours[name][n] - value) <= 1e-9, (n, name, ours[name][n], value)
        thresholded += ours["jaccard_thresholded"][n] == 0 and ours["jaccard"][n] > 0
    assert thresholded > 0  # the 0.65 rule was exercised


@pytest.mark.filterwarnings("ignore:The inplace keyword:Warning")
def test_accumulator_equals_isic_segmentation_score(real_cases) -> None:
    acc = MetricAccumulator(slow=False)
    for start in range(0, len(real_cases), 7):  # uneven batches
        chunk = real_cases[start : start + 7]
        acc.update(
            torch.from_numpy(np.stack([p for p, _ in chunk])[:, None]),
            torch.from_numpy(np.stack([t for _, t in chunk])[:, None].astype(np.uint8)),
        )
    pairs = [
        SimpleNamespace(
            image_id=f"case{n}",
            truth_image=t.astype(np.uint8) * 255,
            prediction_image=p.astype(np.uint8) * 255,
        )
        for n, (p, t) in enumerate(real_cases)
    ]
    macro = SegmentationScore(pairs).macro_average
    ours = acc.compute()
    names = {"threshold_jaccard": "jaccard_thresholded"}
    for isic_name, value in macro.items():
        key = f"{names.get(isic_name, isic_name)}_per_image_mean"
        assert abs(ours[key] - value) <= 1e-9, (key, ours[key], value)


def _brute_hd95(pred: np.ndarray, truth: np.ndarray) -> float:
    """Surface = mask pixels with a 4-neighbour outside the mask (or outside the image)."""

    def surface_points(mask: np.ndarray) -> np.ndarray:
        padded = np.pad(mask, 1)
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        return np.argwhere(mask & ~inner).astype(float)

    a, b = surface_points(pred), surface_points(truth)
    d = cdist(a, b)
    return float(np.percentile(np.concatenate([d.min(axis=1), d.min(axis=0)]), 95))


def test_hd95_against_brute_force(real_cases) -> None:
    assert hd95_single(_point(0, 0), _point(3, 4)) == 5.0  # a 3-4-5 triangle
    checked = 0
    for pred, truth in real_cases[:40]:
        if pred.any() and truth.any():
            assert hd95_single(pred, truth) == pytest.approx(_brute_hd95(pred, truth), abs=1e-9)
            checked += 1
    assert checked >= 30
    acc = MetricAccumulator(slow=True)
    pred, truth = real_cases[1]
    acc.update(torch.from_numpy(pred[None]), torch.from_numpy(truth[None]))
    assert acc.compute()["hd95_per_image_mean"] == pytest.approx(_brute_hd95(pred, truth))


def _point(row: int, col: int) -> np.ndarray:
    mask = np.zeros((8, 8), bool)
    mask[row, col] = True
    return mask


def test_pooled_and_mean_differ() -> None:
    # image A: a one-pixel lesion, missed (tp 0, fn 1); image B: an 8-pixel lesion, found exactly
    target = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    target[0, 0, 0, 0] = 1
    target[1, 0, :2] = 1
    pred = target.bool().clone()
    pred[0] = False
    acc = MetricAccumulator()
    acc.update(pred[:1], target[:1])
    acc.update(pred[1:], target[1:])
    m = acc.compute()
    assert m["dice_per_image_mean"] == 0.5  # (0 + 1) / 2
    assert m["dice_pooled"] == pytest.approx(16 / 17)  # 2*8 / (2*8 + 0 + 1)
    assert m["jaccard_per_image_mean"] == 0.5
    assert m["jaccard_pooled"] == pytest.approx(8 / 9)
    assert m["jaccard_thresholded_pooled"] == pytest.approx(8 / 9)  # >= 0.65 survives
    assert m["sensitivity_per_image_mean"] == 0.5
    assert m["sensitivity_pooled"] == pytest.approx(8 / 9)
    assert m["accuracy_per_image_mean"] == m["accuracy_pooled"] == pytest.approx(31 / 32)
    expected_keys = {f"{n}_{s}" for n in METRIC_NAMES for s in ("per_image_mean", "pooled")}
    assert set(m) == expected_keys  # hd95 off by default
    per_image = acc.per_image()
    assert per_image["dice"].tolist() == [0.0, 1.0]
    assert len(acc) == 2


def test_accumulator_handles_mixed_sizes() -> None:
    acc = MetricAccumulator(slow=True)
    small = torch.tensor([[TARGET_4x4]], dtype=torch.uint8)
    acc.update(torch.tensor([[PRED_4x4]]).bool(), small)
    big = torch.zeros(1, 1, 10, 12, dtype=torch.uint8)
    big[0, 0, 3:7, 4:9] = 1
    acc.update(big.bool(), big)
    per_image = acc.per_image()
    assert per_image["dice"].tolist() == [0.75, 1.0]
    assert per_image["hd95"].tolist() == [1.0, 0.0]
    assert acc.compute()["hd95_per_image_mean"] == 0.5


def _brute_boundary_f(pred: np.ndarray, truth: np.ndarray, tol: float = 2.0) -> float:
    def surface_points(mask: np.ndarray) -> np.ndarray:
        padded = np.pad(mask, 1)
        inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        return np.argwhere(mask & ~inner).astype(float)

    d = cdist(surface_points(pred), surface_points(truth))
    precision, recall = (d.min(axis=1) <= tol).mean(), (d.min(axis=0) <= tol).mean()
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def test_boundary_f_by_hand_and_against_brute_force(real_cases) -> None:
    from trainer.metrics import boundary_f_single

    empty = np.zeros((8, 8), bool)
    assert boundary_f_single(empty, empty) == 1.0 and boundary_f_single(_point(1, 1), empty) == 0.0
    assert boundary_f_single(_point(0, 0), _point(1, 1)) == 1.0  # sqrt(2) <= 2 px
    assert boundary_f_single(_point(0, 0), _point(3, 0)) == 0.0  # 3 px apart
    # a 4x4 square against the same square shifted 3 columns: the shared edge columns match
    a, b = np.zeros((8, 8), bool), np.zeros((8, 8), bool)
    a[2:6, 0:4], b[2:6, 3:7] = True, True
    # a's surface: 12 pixels, of which the 8 in columns 1..3 lie within 2 px of b's surface
    assert (
        boundary_f_single(a, b) == pytest.approx(_brute_boundary_f(a, b)) == pytest.approx(8 / 12)
    )
    checked = 0
    for pred, truth in real_cases[:40]:
        if pred.any() and truth.any():
            want = _brute_boundary_f(pred, truth)
            assert boundary_f_single(pred, truth) == pytest.approx(want, abs=1e-12)
            checked += 1
    assert checked >= 30


def test_the_registry_drives_the_accumulator_and_the_objective_keys() -> None:
    from trainer.metrics import METRICS, metric_label, objective_keys

    acc = MetricAccumulator(slow=True)
    acc.update(torch.tensor([[PRED_4x4]]).bool(), torch.tensor([[TARGET_4x4]], dtype=torch.uint8))
    keys = set(acc.compute())
    assert keys == {k for m in METRICS.values() for k in m.keys()}
    assert "hd95_pooled" not in keys and "boundary_f_per_image_mean" in keys
    # an accuracy objective may only use metrics that are better when higher
    assert "hd95_per_image_mean" not in objective_keys()
    assert {"dice_pooled", "boundary_f_per_image_mean"} <= set(objective_keys())
    assert metric_label("boundary_f_per_image_mean") == "boundary F (2 px) (per-image mean)"
    assert metric_label("jaccard_pooled") == "IoU (Jaccard) (pooled)"
