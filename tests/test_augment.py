"""Batched augmentation: alignment of image and mask, identities, determinism."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from trainer.augment import augment_batch, flip_batch, rot90_batch, rotate_batch


def _blobs(b: int, h: int, w: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks of random off-centre ellipses, and images whose 3 channels equal mask × 1."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    cy = torch.rand(b, 1, 1, generator=g) * h * 0.4 + h * 0.3
    cx = torch.rand(b, 1, 1, generator=g) * w * 0.4 + w * 0.2
    ry = torch.rand(b, 1, 1, generator=g) * h * 0.15 + h * 0.1
    rx = torch.rand(b, 1, 1, generator=g) * w * 0.2 + w * 0.1
    masks = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1).float().unsqueeze(1)
    return masks.repeat(1, 3, 1, 1), masks


def test_angle_zero_is_identity() -> None:
    images, masks = _blobs(4, 16, 24)
    images = images * torch.rand(images.shape)
    out_i, out_m = rotate_batch(images, masks, torch.zeros(4))
    assert torch.equal(out_i, images) and torch.equal(out_m, masks)
    same_i, same_m = augment_batch(images, masks, hflip=False, vflip=False, rotation="none")
    assert torch.equal(same_i, images) and torch.equal(same_m, masks)


def test_quarter_turn_matches_rot90_counter_clockwise() -> None:
    images, masks = _blobs(3, 20, 20)
    images = images * torch.rand(images.shape)
    out_i, out_m = rotate_batch(images, masks, torch.full((3,), 90.0))
    assert torch.equal(out_m, torch.rot90(masks, 1, dims=(-2, -1)))
    assert torch.allclose(out_i, torch.rot90(images, 1, dims=(-2, -1)), atol=1e-5)
    ri, rm = rot90_batch(images, masks, torch.tensor([0, 1, 3]))
    assert torch.equal(rm[0], masks[0]) and torch.equal(rm[1], out_m[1])
    assert torch.equal(ri[2], torch.rot90(images[2], 3, dims=(-2, -1)))


def test_half_turn_of_non_square_image_is_double_flip() -> None:
    images, masks = _blobs(2, 12, 30)
    out_i, out_m = rotate_batch(images, masks, torch.full((2,), 180.0))
    assert torch.equal(out_m, masks.flip(-1).flip(-2))
    assert torch.allclose(out_i, images.flip(-1).flip(-2), atol=1e-5)


def test_rotation_of_non_square_image_keeps_shapes_round() -> None:
    h, w = 32, 64
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    disk = (((yy - 15.5) ** 2 + (xx - 31.5) ** 2) <= 10**2).float().view(1, 1, h, w)
    _, rotated = rotate_batch(disk.repeat(1, 3, 1, 1), disk, torch.tensor([37.0]))
    inter = (rotated * disk).sum()
    union = ((rotated + disk) > 0).sum()
    assert inter / union > 0.95  # a sheared rotation would turn the disk into an ellipse


@pytest.mark.parametrize("angle", [13.0, -71.0, 145.0])
def test_free_rotation_keeps_image_and_mask_aligned(angle: float) -> None:
    images, masks = _blobs(4, 48, 48, seed=1)
    out_i, out_m = rotate_batch(images * 255, masks, torch.full((4,), angle))
    assert set(out_m.unique().tolist()) <= {0.0, 1.0}
    assert out_m.sum() > 0.8 * masks.sum()  # the lesion moved, it did not vanish
    from_image = (out_i[:, :1] / 255 > 0.5).float()
    differ = from_image != out_m
    assert differ.float().mean() < 0.01
    # Any disagreement lies on the mask's boundary (bilinear vs nearest), never inside.
    edge = F.max_pool2d(out_m, 3, 1, 1) - (-F.max_pool2d(-out_m, 3, 1, 1))
    assert (edge[differ] == 1).all()


def test_flips_keep_alignment_and_are_per_sample() -> None:
    images, masks = _blobs(64, 16, 16)
    out_i, out_m = augment_batch(
        images * 255, masks, rotation="none", generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(out_i[:, :1] / 255, out_m)
    variants = {
        "none": masks,
        "h": masks.flip(-1),
        "v": masks.flip(-2),
        "hv": masks.flip(-1).flip(-2),
    }
    seen = set()
    for i in range(64):
        match = [k for k, v in variants.items() if torch.equal(out_m[i], v[i])]
        assert match, f"sample {i} is not a flip of its input"
        seen.add(match[0])
    assert seen == set(variants)
    hf, vf = torch.tensor([True, False]), torch.tensor([True, True])
    fi, _ = flip_batch(images[:2], masks[:2], hf, vf)
    assert torch.equal(fi[0], images[0].flip(-1).flip(-2)) and torch.equal(
        fi[1], images[1].flip(-2)
    )


@pytest.mark.parametrize("rotation", ["free", "right_angles"])
def test_augmentation_is_aligned_and_deterministic(rotation: str) -> None:
    images, masks = _blobs(16, 32, 32, seed=2)
    kw = dict(rotation=rotation, rotation_prob=0.7, degrees=90.0)
    a = augment_batch(images * 255, masks, generator=torch.Generator().manual_seed(5), **kw)
    b = augment_batch(images * 255, masks, generator=torch.Generator().manual_seed(5), **kw)
    c = augment_batch(images * 255, masks, generator=torch.Generator().manual_seed(6), **kw)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert ((a[0][:, :1] / 255 > 0.5).float() != a[1]).float().mean() < 0.01
    changed = (a[1] != masks).flatten(1).any(1)
    assert 0 < changed.sum() < 16  # per-sample decisions, some samples untouched


def test_right_angles_needs_square_images_and_bad_mode_fails() -> None:
    images, masks = _blobs(2, 8, 12)
    with pytest.raises(ValueError, match="square"):
        rot90_batch(images, masks, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="rotation must be"):
        augment_batch(images, masks, rotation="random")
