"""Batched geometric augmentation on whatever device the batch is on.

Images are float (B, 3, H, W), masks float (B, 1, H, W) in {0, 1}. Each sample draws its own flips
and rotation angle from a `torch.Generator` (on the batch's device), so a CPU run is deterministic
given the generator's seed, and there is no per-sample Python loop: choices are applied with
`torch.where` over the whole batch. Images are resampled bilinearly, masks with nearest neighbour,
both with zero padding, so a mask stays in {0, 1} and aligned with its image.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _per_sample(choice: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """a where choice (B,) is True, else b."""
    return torch.where(choice.view(-1, *([1] * (a.ndim - 1))), a, b)


def flip_batch(
    images: Tensor, masks: Tensor, hflip: Tensor, vflip: Tensor
) -> tuple[Tensor, Tensor]:
    """Flip left-right the samples where hflip (B,) bool is True, up-down where vflip is True."""
    images = _per_sample(hflip, images.flip(-1), images)
    masks = _per_sample(hflip, masks.flip(-1), masks)
    images = _per_sample(vflip, images.flip(-2), images)
    masks = _per_sample(vflip, masks.flip(-2), masks)
    return images, masks


def rotation_grid(angles_deg: Tensor, size: tuple[int, int, int, int]) -> Tensor:
    """Sampling grid (B, H, W, 2) rotating each sample counter-clockwise (as displayed, y down) by
    its angle in degrees about the image centre, in pixel units (so non-square images are not
    sheared)."""
    _, _, h, w = size
    a = angles_deg.to(torch.float32) * (math.pi / 180.0)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    # Output pixel (x, y) reads input pixel R(-angle)(x, y); normalised coordinates scale x by 2/W
    # and y by 2/H, hence the aspect-ratio factors on the off-diagonal terms.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * (h / w), zero], dim=-1),
            torch.stack([sin * (w / h), cos, zero], dim=-1),
        ],
        dim=1,
    )
    return F.affine_grid(theta, list(size), align_corners=False)


def rotate_batch(images: Tensor, masks: Tensor, angles_deg: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate each sample by its own angle (B,) in degrees; samples with angle 0 are untouched."""
    grid = rotation_grid(angles_deg, tuple(images.shape)).to(images.dtype)
    rot_images = F.grid_sample(
        images, grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    rot_masks = F.grid_sample(
        masks, grid.to(masks.dtype), mode="nearest", padding_mode="zeros", align_corners=False
    )
    moved = angles_deg != 0
    return _per_sample(moved, rot_images, images), _per_sample(moved, rot_masks, masks)


def rot90_batch(images: Tensor, masks: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate each sample by k (B,) quarter turns, exactly (square images only)."""
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"right-angle rotation needs square images, got {tuple(images.shape)}")
    out_i, out_m = images, masks
    for turns in (1, 2, 3):
        chosen = k == turns
        out_i = _per_sample(chosen, torch.rot90(images, turns, dims=(-2, -1)), out_i)
        out_m = _per_sample(chosen, torch.rot90(masks, turns, dims=(-2, -1)), out_m)
    return out_i, out_m


def augment_batch(
    images: Tensor,
    masks: Tensor,
    *,
    hflip: bool = True,
    vflip: bool = True,
    rotation: str = "free",
    degrees: float = 180.0,
    rotation_prob: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Random per-sample flips (each with probability 0.5) and rotation.

    rotation: "none"; "free" = with probability rotation_prob, an angle uniform in
    [-degrees, degrees]; "right_angles" = with probability rotation_prob, 1, 2 or 3 quarter turns
    (uniform). The random numbers come from `generator`, which must live on the batch's device.
    """
    if rotation not in ("none", "free", "right_angles"):
        raise ValueError(f"rotation must be none, free or right_angles, got {rotation!r}")
    b, device = images.shape[0], images.device

    def uniform() -> Tensor:
        return torch.rand(b, generator=generator, device=device)

    if hflip or vflip:
        h = uniform() < 0.5 if hflip else torch.zeros(b, dtype=torch.bool, device=device)
        v = uniform() < 0.5 if vflip else torch.zeros(b, dtype=torch.bool, device=device)
        images, masks = flip_batch(images, masks, h, v)
    if rotation == "free" and degrees > 0 and rotation_prob > 0:
        rotate = uniform() < rotation_prob
        angles = (uniform() * 2 - 1) * degrees
        images, masks = rotate_batch(images, masks, torch.where(rotate, angles, 0.0))
    elif rotation == "right_angles" and rotation_prob > 0:
        rotate = uniform() < rotation_prob
        k = 1 + (uniform() * 3).long().clamp(max=2)
        images, masks = rot90_batch(images, masks, torch.where(rotate, k, 0))
    return images, masks
