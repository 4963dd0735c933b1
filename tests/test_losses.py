"""Losses against values computed by hand (plain Python math) on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import (
    LOSSES,
    boundary_and_interior,
    make_criterion,
    make_loss,
    masked_bce,
    register_loss,
)

# One image 1×1×2×2 and one 1×1×2×2, as nested lists of (logit, target).
LOGITS = [[0.0, 2.0, -1.0, 3.0], [-2.0, 0.5, 1.0, -0.5]]
TARGET = [[1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 1.0, 1.0]]


def _tensors() -> tuple[torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(LOGITS).view(2, 1, 2, 2),
        torch.tensor(TARGET).view(2, 1, 2, 2),
    )


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bce_ref() -> float:
    terms = [
        -(y * math.log(_sigmoid(x)) + (1 - y) * math.log(1 - _sigmoid(x)))
        for xs, ys in zip(LOGITS, TARGET, strict=True)
        for x, y in zip(xs, ys, strict=True)
    ]
    return sum(terms) / len(terms)


def _dice_ref() -> float:
    losses = []
    for xs, ys in zip(LOGITS, TARGET, strict=True):
        p = [_sigmoid(x) for x in xs]
        inter = sum(a * b for a, b in zip(p, ys, strict=True))
        losses.append(1 - (2 * inter + 1) / (sum(p) + sum(ys) + 1))
    return sum(losses) / len(losses)


def _iou_ref() -> float:
    losses = []
    for xs, ys in zip(LOGITS, TARGET, strict=True):
        p = [_sigmoid(x) for x in xs]
        inter = sum(a * b for a, b in zip(p, ys, strict=True))
        losses.append(1 - (inter + 1e-6) / (sum(p) + sum(ys) - inter + 1e-6))
    return sum(losses) / len(losses)


def test_bce_dice_matches_hand_computation() -> None:
    x, y = _tensors()
    assert make_loss("bce_dice")(x, y).item() == pytest.approx(_bce_ref() + _dice_ref(), rel=1e-6)
    weighted = make_loss("bce_dice", (0.3, 2.0))(x, y).item()
    assert weighted == pytest.approx(0.3 * _bce_ref() + 2.0 * _dice_ref(), rel=1e-6)


def test_bce_iou_default_weights_are_lmsaunet() -> None:
    x, y = _tensors()
    expected = 0.25 * _bce_ref() + 0.75 * _iou_ref()
    assert make_loss("bce_iou")(x, y).item() == pytest.approx(expected, rel=1e-6)


def test_dice_loss_value_and_extremes() -> None:
    x, y = _tensors()
    assert make_loss("dice")(x, y).item() == pytest.approx(_dice_ref(), rel=1e-6)
    perfect = make_loss("dice")((y * 2 - 1) * 50, y).item()
    assert perfect == pytest.approx(0.0, abs=1e-6)


def test_losses_are_stable_on_huge_logits_and_low_precision() -> None:
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).view(1, 1, 2, 2)
    x = torch.tensor([[-1e4, 1e4], [1e4, -1e4]]).view(1, 1, 2, 2).requires_grad_()
    for name in LOSSES:
        loss = make_loss(name)(x, y)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all(), name
        assert make_loss(name)(x.detach().bfloat16(), y).dtype == torch.float32


def test_boundary_band_and_interior_by_hand() -> None:
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 2:7, 2:7] = 1  # a 5×5 square
    band, interior = boundary_and_interior(mask, 1)
    # dilation by a 3×3 square: 7×7 = 49 pixels, erosion: the inner 3×3 = 9 pixels
    assert band.sum().item() == 49 - 9
    assert interior.sum().item() == 9
    assert interior[0, 0, 3:6, 3:6].eq(1).all()
    assert band[0, 0, 1, 1].item() == 1 and band[0, 0, 0, 0].item() == 0
    # The image border is not a lesion boundary: a full mask has no band.
    band_full, interior_full = boundary_and_interior(torch.ones(1, 1, 5, 5), 2)
    assert band_full.sum().item() == 0 and interior_full.sum().item() == 25


def test_boundary_interior_loss_formula() -> None:
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, 1:6, 2:7] = 1
    mask[1, :, 3:8, 0:4] = 1
    logits = torch.linspace(-3, 3, 128).view(2, 1, 8, 8)
    band, interior = boundary_and_interior(mask, 1)
    per_pixel = F.softplus(logits) - logits * mask  # BCE with logits, by hand
    expected = (
        0.5 * per_pixel.mean()
        + 2.0 * make_loss("dice")(logits, mask)
        + 3.0 * (per_pixel * band).sum() / band.sum()
        + 4.0 * (per_pixel * interior).sum() / interior.sum()
    )
    loss = make_loss("boundary_interior", (0.5, 2.0, 3.0, 4.0), boundary_width=1)(logits, mask)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # An empty region contributes 0, not NaN.
    empty = masked_bce(logits, mask, torch.zeros_like(mask))
    assert empty.item() == 0.0


def test_deep_supervision_upsamples_and_weights_aux_maps() -> None:
    x, y = _tensors()
    base = make_loss("bce_dice")
    criterion = make_criterion("bce_dice", deep_supervision=(0.1, 0.5))
    # Constant aux maps at 1×1 upsample to constants: easy to compute at full size.
    aux = [torch.full((2, 1, 1, 1), 0.7), torch.full((2, 1, 1, 1), -1.2)]
    expected = (
        base(x, y)
        + 0.1 * base(torch.full_like(x, 0.7), y)
        + 0.5 * base(torch.full_like(x, -1.2), y)
    )
    assert criterion(x, y, aux).item() == pytest.approx(expected.item(), rel=1e-6)
    # A non-constant aux map is upsampled bilinearly (align_corners=False).
    big_y = torch.zeros(1, 1, 4, 4)
    big_y[..., 1:3, 1:3] = 1
    small = torch.tensor([[-1.0, 2.0], [0.5, 3.0]]).view(1, 1, 2, 2)
    crit = make_criterion("dice", deep_supervision=(0.4,))
    up = F.interpolate(small, size=(4, 4), mode="bilinear", align_corners=False)
    expected = make_loss("dice")(big_y * 4, big_y) + 0.4 * make_loss("dice")(up, big_y)
    assert crit(big_y * 4, big_y, [small]).item() == pytest.approx(expected.item(), rel=1e-6)


def test_deep_supervision_count_mismatch_is_an_error() -> None:
    x, y = _tensors()
    with pytest.raises(ValueError, match="2 weight"):
        make_criterion("bce_dice", deep_supervision=(0.1, 0.2))(x, y, [x])
    with pytest.raises(ValueError, match="0 weight"):
        make_criterion("bce_dice")(x, y, [x])


def test_registry_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="valid losses: bce_dice, bce_iou, boundary_interior"):
        make_loss("focal")
    with pytest.raises(ValueError, match=r"takes 2 weight\(s\) \(bce, dice\)"):
        make_loss("bce_dice", (1.0,))
    with pytest.raises(ValueError, match="already registered"):
        register_loss("dice", LOSSES["dice"].build, ("dice",), (1.0,))
