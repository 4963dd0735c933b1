"""Decode, validate and resize one image/mask pair with Pillow.

Images are converted to RGB and resized to (H, W) with Pillow's bilinear filter, which
antialiases when it shrinks (its support widens with the scale factor). EXIF orientation is
ignored, so image and mask share one pixel grid.

Mask rule (:data:`MASK_RULE`): a mask must be grayscale (Pillow modes ``1``, ``L``, ``LA``; ``P``,
``RGB`` and ``RGBA`` are accepted, and converted, only when their red, green and blue values are
equal at every pixel; other colour masks and 16-bit or float masks are refused). Then:

1. a mask whose values are all 0 or 1 is used as is (1 = lesion);
2. otherwise its values must reach 128 (a mask such as {0, 1, 2} or {0, 100} is refused), pixels
   >= 128 are lesion, and the mask is refused as not binary if more than 1 % of its pixels are
   ambiguous, i.e. lie in 32..223, far from both 0 and 255.

The ambiguous band, rather than "any value strictly between 0 and 255", is what lets real
JPEG-compressed 0/255 masks through: re-encoding the ISIC 2017 masks (256x192) as JPEG leaves up
to 6 % of pixels in 1..254 (quality 75) but at most 0.6 % in 32..223 (even at quality 50), while a
soft, blurred or probability mask has several percent there. The mask is binarised at its own
resolution and then resized with nearest neighbour, so resized masks hold only 0 and 1.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from trainer.data.errors import DataError

LESION_THRESHOLD = 128
AMBIGUOUS_BAND = (32, 223)
MAX_AMBIGUOUS_FRACTION = 0.01
MASK_RULE = (
    "grayscale masks; a mask whose values are all 0/1 is used as is, otherwise values >= 128 are "
    f"lesion and at most {MAX_AMBIGUOUS_FRACTION:.0%} of the pixels may lie in "
    f"{AMBIGUOUS_BAND[0]}..{AMBIGUOUS_BAND[1]}"
)
_GRAY_MODES = ("1", "L", "LA")
_COLOR_MODES = ("P", "RGB", "RGBA")


@dataclass(frozen=True)
class DecodedPair:
    """One pair, resized: image (3, H, W) uint8, mask (H, W) uint8 in {0, 1}."""

    image: np.ndarray
    mask: np.ndarray
    digest: str  # sha256 over the image file's bytes then the mask file's bytes


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise DataError(f"cannot read {what} {path}: {err}") from err


def _open(data: bytes, path: Path, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"unreadable or corrupt {what} {path}: {err}") from err
    return image


def _image_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _mask_gray(image: Image.Image, path: Path) -> np.ndarray:
    """The mask's gray values (H, W) uint8, following the mode rule of the module docstring."""
    if image.mode in _GRAY_MODES:
        return np.asarray(image.convert("L"))
    if image.mode in _COLOR_MODES:
        rgb = np.asarray(image.convert("RGB"))
        if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
            return np.ascontiguousarray(rgb[..., 0])
        raise DataError(
            f"mask {path} is a colour ({image.mode}) image whose channels differ; masks must be "
            "grayscale (RGB masks are accepted, and converted, only when R == G == B everywhere)"
        )
    raise DataError(f"mask {path} has Pillow mode {image.mode!r}; expected an 8-bit grayscale mask")


def binarize_mask(values: np.ndarray, path: str | Path = "<array>") -> np.ndarray:
    """Apply :data:`MASK_RULE` to gray values (H, W) uint8; return (H, W) uint8 in {0, 1}."""
    if values.size == 0:
        raise DataError(f"mask {path} is empty (0 pixels)")
    top = int(values.max())
    if top <= 1:
        return values.astype(np.uint8)
    if top < LESION_THRESHOLD:
        raise DataError(
            f"mask {path} has values up to {top} but none >= {LESION_THRESHOLD}: it is neither a "
            f"0/1 nor a 0/255 mask (rule: {MASK_RULE})"
        )
    low, high = AMBIGUOUS_BAND
    ambiguous = np.count_nonzero((values >= low) & (values <= high)) / values.size
    if ambiguous > MAX_AMBIGUOUS_FRACTION:
        raise DataError(
            f"mask {path} is not binary: {ambiguous:.1%} of its pixels lie in {low}..{high} "
            f"(rule: {MASK_RULE})"
        )
    return (values >= LESION_THRESHOLD).astype(np.uint8)


def read_image(path: str | Path) -> np.ndarray:
    """An image at its own resolution, (H, W, 3) uint8 RGB."""
    path = Path(path)
    return _image_array(_open(_read_bytes(path, "image"), path, "image"))


def read_mask(path: str | Path) -> np.ndarray:
    """A ground-truth mask at its own resolution, (H, W) uint8 in {0, 1}, by :data:`MASK_RULE`."""
    path = Path(path)
    return binarize_mask(_mask_gray(_open(_read_bytes(path, "mask"), path, "mask"), path), path)


def decode_pair(image_path: Path, mask_path: Path, size: tuple[int, int]) -> DecodedPair:
    """Decode, check and resize one pair to ``size`` = (H, W); raise :class:`DataError` if bad."""
    height, width = size
    image_bytes = _read_bytes(image_path, "image")
    mask_bytes = _read_bytes(mask_path, "mask")
    image = _open(image_bytes, image_path, "image")
    mask_image = _open(mask_bytes, mask_path, "mask")
    if mask_image.size != image.size:
        raise DataError(
            f"mask {mask_path} is {mask_image.size[0]}x{mask_image.size[1]} (WxH) but its image "
            f"{image_path} is {image.size[0]}x{image.size[1]}"
        )
    mask = binarize_mask(_mask_gray(mask_image, mask_path), mask_path)
    if image.size != (width, height):
        image = image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
        mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.Resampling.NEAREST))
    pixels = _image_array(image)
    digest = hashlib.sha256(image_bytes)
    digest.update(mask_bytes)
    return DecodedPair(
        image=np.ascontiguousarray(pixels.transpose(2, 0, 1)),
        mask=np.ascontiguousarray(mask, dtype=np.uint8),
        digest=digest.hexdigest(),
    )
