"""Seeded synthetic dermoscopy-like images with exact lesion masks.

Each image is drawn from its own random stream, seeded by (seed, split, index), so it does not
depend on how many images are asked for, and its shapes and colours do not depend on the size it
is rendered at (only the final pixel noise does). The picture, in drawing order:

- skin: a tone between light and dark skin with low-frequency blotches and patches of erythema;
- lesion: an irregular blob, a radial Fourier series r(theta) around a rotated, elongated centre,
  filled with a pigment from dark brown to pale and pinkish (barely darker than the skin),
  internal texture, a darker centre, a darker, warped pigment network and skin-coloured
  regression patches; the pigment fades over a band across the border, whose middle is the
  mask's edge; the mask is exactly the pixel centres with rho < r(theta), regression included;
- distractors: small dark round spots away from the lesion (freckles, satellite naevi), not
  part of the mask, as in ISIC ground truth;
- hairs: thin dark curved strands over everything (not part of the mask either);
- light: an illumination gradient and, in most images, the dark circular field of a dermoscope
  (the lesion always lies well inside the bright field);
- sensor noise.

Version 4 (issue 20) is made so that architectures differ on it as on real dermoscopy
(benchmarks/synthetic_discrimination.py); version 1 drew only dark, sharp-edged lesions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

GENERATOR_VERSION = 4
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
_LIGHT_SKIN = np.array([238.0, 200.0, 178.0])
_DARK_SKIN = np.array([150.0, 102.0, 74.0])
_BROWN_TINT = np.array([1.0, 0.82, 0.7])
_PINK_TINT = np.array([1.0, 0.8, 0.85])
_REDDEN = np.array([0.0, 0.35, 0.3])  # erythema: less green and blue


@dataclass(frozen=True)
class SyntheticSettings:
    """How many images each split has, and the seed."""

    n_train: int = 400
    n_val: int = 100
    n_test: int = 100
    seed: int = 0

    def counts(self) -> dict[str, int]:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}


def synthetic_id(split: str, index: int) -> str:
    return f"synthetic_{split}_{index:05d}"


def parse_synthetic_id(sample_id: str) -> tuple[str, int]:
    _, split, index = sample_id.split("_")
    return split, int(index)


def synthetic_fingerprint(settings: SyntheticSettings) -> str:
    """sha256 of the generator version and the settings (the size is kept in the bundle)."""
    record = {"generator": "lesion-nas synthetic", "version": GENERATOR_VERSION, **asdict(settings)}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _waves(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, n: int, freq: tuple[float, float]
) -> np.ndarray:
    """Sum of ``n`` random plane waves, normalised to unit amplitude; frequencies in cycles/unit.

    ``x`` is (1, W) and ``y`` is (H, 1); a plane wave is separable in complex form, so the sum is
    one (H, n) @ (n, W) product.
    """
    angles = rng.uniform(0.0, np.pi, n)
    freqs = rng.uniform(*freq, n) * 2.0 * np.pi
    phases = rng.uniform(0.0, 2.0 * np.pi, n)
    along_x = np.exp(1j * (np.cos(angles) * freqs)[:, None] * x.ravel()[None, :])  # (n, W)
    along_y = np.exp(
        1j * ((np.sin(angles) * freqs)[:, None] * y.ravel()[None, :] + phases[:, None])
    )
    return (along_y.T @ along_x).real / np.sqrt(n)


def _lesion(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mask (bool), depth in [0, 1] (0 at the border, 1 at the centre), the signed distance to
    the border (radius - rho: > 0 inside) and the lesion's extent."""
    centre = rng.uniform(-0.25, 0.25, 2)
    r0 = rng.uniform(0.12, 0.62)
    rot, elongation = rng.uniform(0.0, np.pi), rng.uniform(0.65, 1.0)
    harmonics = np.arange(1, 8)
    irregularity = rng.uniform(0.08, 0.32)
    amps = irregularity * rng.uniform(0.3, 1.0, harmonics.size) / harmonics**1.1
    phases = rng.uniform(0.0, 2.0 * np.pi, harmonics.size)
    dx, dy = x - centre[0], y - centre[1]
    u = dx * np.cos(rot) + dy * np.sin(rot)
    v = (-dx * np.sin(rot) + dy * np.cos(rot)) / elongation
    rho, theta = np.hypot(u, v), np.arctan2(v, u)
    wobble = (
        amps[:, None, None] * np.cos(harmonics[:, None, None] * theta + phases[:, None, None])
    ).sum(0)
    radius = r0 * np.maximum(1.0 + wobble, 0.35)
    mask = rho < radius
    if not mask.any():  # only at absurdly small sizes: keep the pixel nearest the centre
        mask.flat[np.argmin(np.hypot(dx, dy))] = True
    depth = np.clip(1.0 - rho / radius, 0.0, 1.0) * mask
    extent = float(np.hypot(*centre) + r0 * (1.0 + amps.sum()))
    return mask, depth, radius - rho, extent


def _hairs(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, pixel: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(coverage in [0, 1], colour) per hair strand."""
    count = 0 if rng.random() < 0.35 else int(rng.integers(1, 8))
    strands = []
    for _ in range(count):
        px, py = rng.uniform(-1.0, 1.0, 2)
        angle = rng.uniform(0.0, np.pi)
        bend, wave_amp = rng.uniform(-0.6, 0.6), rng.uniform(0.0, 0.05)
        wave_freq, wave_phase = rng.uniform(2.0, 8.0), rng.uniform(0.0, 2.0 * np.pi)
        half_length = rng.uniform(0.3, 1.2)
        width = max(rng.uniform(0.006, 0.014), 0.45 * pixel)
        dx, dy = x - px, y - py
        s = dx * np.cos(angle) + dy * np.sin(angle)
        t = -dx * np.sin(angle) + dy * np.cos(angle)
        centre_line = bend * s * s + wave_amp * np.sin(wave_freq * s + wave_phase)
        slope = 2.0 * bend * s + wave_amp * wave_freq * np.cos(wave_freq * s + wave_phase)
        distance = np.abs(t - centre_line) / np.sqrt(1.0 + slope * slope)
        along = _smoothstep((half_length - np.abs(s)) / 0.1)
        coverage = 0.9 * np.exp(-((distance / width) ** 2)) * along
        colour = np.array([40.0, 28.0, 22.0]) * rng.uniform(0.4, 1.6)
        strands.append((coverage, colour))
    return strands


def _spots(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, keep_out: np.ndarray, pixel: float
) -> list[tuple[np.ndarray, float]]:
    """Distractors that are not the lesion (not in the mask, as in ISIC ground truth): small dark
    round spots (freckles, satellite naevi) placed away from the lesion; (coverage, darkness)."""
    count = 0 if rng.random() < 0.2 else int(rng.integers(1, 8))
    spots = []
    for _ in range(count):
        for _try in range(8):
            cx, cy = rng.uniform(-0.85, 0.85, 2)
            radius = rng.uniform(0.03, 0.16)
            iy = int(np.clip((cy + 1.0) / 2.0 * keep_out.shape[0], 0, keep_out.shape[0] - 1))
            ix = int(np.clip((cx + 1.0) / 2.0 * keep_out.shape[1], 0, keep_out.shape[1] - 1))
            if not keep_out[iy, ix]:
                break
        else:
            continue
        rho = np.hypot(x - cx, (y - cy) / rng.uniform(0.7, 1.0))
        soft = max(0.3 * radius, pixel)
        coverage = _smoothstep((radius - rho) / soft + 0.5) * (~keep_out)
        spots.append((coverage, rng.uniform(0.3, 0.8)))
    return spots


def render(
    seed: int, split: str, index: int, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic image (3, H, W) uint8 and its mask (H, W) uint8 in {0, 1}."""
    height, width = size
    rng = np.random.default_rng([GENERATOR_VERSION, seed, SPLIT_CODES[split], index])
    y = ((np.arange(height) + 0.5) / height * 2.0 - 1.0)[:, None]
    x = ((np.arange(width) + 0.5) / width * 2.0 - 1.0)[None, :]
    pixel = 2.0 / min(height, width)

    tone = rng.uniform(0.0, 1.0)
    skin = (1.0 - tone) * _LIGHT_SKIN + tone * _DARK_SKIN + rng.normal(0.0, 5.0, 3)
    blotch_amp = rng.uniform(0.04, 0.2)
    blotches = 1.0 + blotch_amp * _waves(rng, x, y, 5, (0.4, 2.5))
    redness = np.clip(_waves(rng, x, y, 3, (0.3, 1.2)), 0.0, None) * rng.uniform(0.0, 0.25)
    img = skin[:, None, None] * blotches[None] * (1.0 - redness[None] * _REDDEN[:, None, None])

    mask, depth, signed, extent = _lesion(rng, x, y)
    # contrast: from dark brown to pale, barely darker than the skin (amelanotic-like, pinker)
    darkness = rng.uniform(0.4, 0.97)
    pale = _smoothstep((darkness - 0.55) / 0.35)
    tint = _BROWN_TINT * (1.0 - pale) + _PINK_TINT * pale
    pigment = skin * tint * darkness
    texture = 1.0 + 0.12 * _waves(rng, x, y, 6, (3.0, 9.0))
    centre_dark = 1.0 - rng.uniform(0.0, 0.35) * _smoothstep(depth / 0.6)
    warp = 1.5 * _waves(rng, x, y, 4, (0.5, 2.5))
    grid_angle, grid_freq = rng.uniform(0.0, np.pi), rng.uniform(5.0, 11.0) * np.pi
    p = x * np.cos(grid_angle) + y * np.sin(grid_angle)
    q = -x * np.sin(grid_angle) + y * np.cos(grid_angle)
    network = np.maximum(
        (1.0 - np.abs(np.sin(grid_freq * p + warp))) ** 6,
        (1.0 - np.abs(np.sin(grid_freq * q - warp))) ** 6,
    )
    shade = texture * centre_dark * (1.0 - rng.uniform(0.15, 0.4) * network)
    # regression: skin-coloured patches inside the lesion (still lesion in the mask)
    regression = rng.uniform(0.0, 0.8) * _smoothstep(
        (_waves(rng, x, y, 5, (1.0, 3.0)) - rng.uniform(0.2, 0.9)) / 0.3
    )
    # a soft border: the pigment fades over a band whose middle is the mask's edge
    band = rng.uniform(0.03, 0.2)
    ramp = _smoothstep(0.5 + signed / (2.0 * band))
    alpha = ramp * (0.65 + 0.35 * _smoothstep(depth / 0.35)) * (1.0 - regression * mask)
    img = img * (1.0 - alpha) + pigment[:, None, None] * (shade * alpha)[None]

    keep_out = signed > -0.15  # distractors stay clear of the lesion and its fading border
    for coverage, spot_dark in _spots(rng, x, y, keep_out, pixel):
        spot = skin * _BROWN_TINT * spot_dark
        img = img * (1.0 - coverage[None]) + spot[:, None, None] * coverage[None]

    for coverage, colour in _hairs(rng, x, y, pixel):
        img = img * (1.0 - coverage) + colour[:, None, None] * coverage[None]

    gradient_angle = rng.uniform(0.0, 2.0 * np.pi)
    gradient = 1.0 + rng.uniform(0.0, 0.3) * (
        x * np.cos(gradient_angle) + y * np.sin(gradient_angle)
    )
    light = gradient * rng.uniform(0.9, 1.08)
    if rng.random() < 0.7:
        field_radius = max(rng.uniform(0.95, 1.35), extent + 0.2)
        light = light * (0.04 + 0.96 * _smoothstep((field_radius - np.hypot(x, y)) / 0.08))
    img = img * light[None] + rng.normal(0.0, rng.uniform(2.0, 12.0), img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def render_many(
    seed: int, items: list[tuple[str, int]], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, H, W) and masks (N, H, W) for the (split, index) items, in order."""
    height, width = size
    images = np.empty((len(items), 3, height, width), dtype=np.uint8)
    masks = np.empty((len(items), height, width), dtype=np.uint8)
    for n, (split, index) in enumerate(items):
        images[n], masks[n] = render(seed, split, index, size)
    return images, masks
