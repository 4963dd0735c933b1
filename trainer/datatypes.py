"""Plain containers shared by the data layer and the training loop.

A dataset, once decoded and resized, is held entirely in memory as uint8 tensors: images
(N, 3, H, W) with values 0..255 and masks (N, 1, H, W) with values 0 or 1. The trainer only
ever sees these containers, never file paths or decoders.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


class MissingSplit(KeyError):
    """A split a dataset does not have; its ``str`` is the whole message (no quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class SplitData:
    """One split (train / val / test) of a dataset, decoded and resized."""

    images: torch.Tensor  # uint8, (N, 3, H, W)
    masks: torch.Tensor  # uint8, (N, 1, H, W), values in {0, 1}
    ids: tuple[str, ...]  # image ids, e.g. "ISIC_0000000"
    # Paths of the original mask files (same order as ids), so that predictions can be scored at
    # each ground-truth mask's own resolution. Empty for synthetic data.
    mask_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dtype != torch.uint8 or self.masks.dtype != torch.uint8:
            raise ValueError("SplitData holds uint8 images and masks")
        if self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(self.images.shape)}")
        if self.masks.shape != (n, 1, *self.images.shape[2:]):
            raise ValueError(
                f"masks must be (N, 1, H, W) matching images, got {tuple(self.masks.shape)}"
            )
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} images")

    def head(self, n: int) -> SplitData:
        """The first ``n`` images of the split (all of them when it has fewer)."""
        return SplitData(self.images[:n], self.masks[:n], self.ids[:n], self.mask_paths[:n])

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass(frozen=True)
class DataBundle:
    """A whole dataset: its splits plus what identifies it."""

    name: str  # "isic2017", "ph2", "folder", "synthetic", ...
    fingerprint: str  # hash of the source files' content (or of the generator's settings)
    image_size: tuple[int, int]  # (H, W) every image and mask was resized to
    splits: dict[str, SplitData]  # keys among "train", "val", "test"
    split_info: dict = field(default_factory=dict)  # how the split was made, ids per split, hash
    synthetic: bool = False
    # Where the data came from: layout, root, cache file, whether it was read from the cache, ...
    source_info: dict = field(default_factory=dict)

    def split(self, name: str) -> SplitData:
        if name not in self.splits:
            raise MissingSplit(
                f"dataset {self.name!r} has no {name!r} split (it has: {', '.join(self.splits)})"
            )
        return self.splits[name]
