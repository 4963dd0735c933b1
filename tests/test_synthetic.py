"""Synthetic dermoscopy-like data: determinism, exact binary masks, shapes, bundle metadata."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from trainer.data import describe_data, load_data
from trainer.data.synthetic import SyntheticSettings, render, render_many, synthetic_fingerprint

COUNTS = (24, 8, 8)


@pytest.fixture(scope="module")
def bundle():
    return load_data("synthetic", image_size=(48, 64), synthetic_counts=COUNTS)


def test_bundle_shapes_and_metadata(bundle) -> None:
    assert bundle.name == "synthetic" and bundle.synthetic
    assert {k: len(v) for k, v in bundle.splits.items()} == {"train": 24, "val": 8, "test": 8}
    for split in bundle.splits.values():
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (3, 48, 64)
        assert split.masks.shape == (len(split), 1, 48, 64) and split.mask_paths == ()
    assert bundle.split("val").ids[0] == "synthetic_val_00000"
    assert "SYNTHETIC" in describe_data(bundle)
    assert bundle.split_info["method"] == "official"


def test_deterministic(bundle) -> None:
    again = load_data("synthetic", image_size=(48, 64), synthetic_counts=COUNTS)
    for name in bundle.splits:
        assert torch.equal(again.split(name).images, bundle.split(name).images)
        assert torch.equal(again.split(name).masks, bundle.split(name).masks)
    assert again.fingerprint == bundle.fingerprint
    # an image depends on (seed, split, index, size) only, not on how many were asked for
    bigger = load_data("synthetic", image_size=(48, 64), synthetic_counts=(30, 2, 0))
    assert torch.equal(bigger.split("train").images[:24], bundle.split("train").images)
    assert "test" not in bigger.splits
    other_seed = load_data(
        "synthetic", image_size=(48, 64), synthetic_counts=COUNTS, synthetic_seed=1
    )
    assert not torch.equal(other_seed.split("train").images, bundle.split("train").images)
    assert other_seed.fingerprint != bundle.fingerprint
    image, mask = render(0, "train", 5, (48, 64))
    assert np.array_equal(image, bundle.split("train").images[5].numpy())
    assert not np.array_equal(render(0, "val", 5, (48, 64))[1], mask)


def test_masks_binary_lesions_darker_some_pale_with_soft_borders(bundle) -> None:
    images = torch.cat([s.images for s in bundle.splits.values()]).numpy().astype(float)
    masks = torch.cat([s.masks for s in bundle.splits.values()]).numpy()[:, 0].astype(bool)
    assert set(np.unique(masks)) == {False, True}
    luminance = images.mean(axis=1)
    contrasts, edge_ratios = [], []
    for lum, mask in zip(luminance, masks, strict=True):
        assert 0.005 < mask.mean() < 0.7
        ring = ndimage.binary_dilation(mask, iterations=3) & ~mask
        contrasts.append(lum[mask].mean() / lum[ring].mean())
        # the bands just inside and just outside the mask's border
        inner = mask & ~ndimage.binary_erosion(mask)
        outer = ndimage.binary_dilation(mask) & ~mask
        edge_ratios.append(np.median(lum[inner]) / np.median(lum[outer]))
    contrasts = np.array(contrasts)
    assert contrasts.max() < 0.95  # every lesion is darker than the skin around it
    assert np.median(contrasts) < 0.75  # most of them clearly
    assert (contrasts > 0.8).sum() >= 3  # and some are pale, the hard cases (generator v2+)
    # the border fades over a band, so the pixels either side of it differ less than the lesion
    # and the skin do, but the inside is still darker on the whole
    assert np.median(contrasts) < np.median(edge_ratios) < 0.97


def test_mask_shape_is_size_independent() -> None:
    _, small = render(0, "test", 3, (64, 64))
    _, large = render(0, "test", 3, (256, 256))
    downsampled = large.reshape(64, 4, 64, 4).mean(axis=(1, 3)) >= 0.5
    assert np.mean(downsampled != small.astype(bool)) < 0.02


def test_splits_and_limit_on_synthetic() -> None:
    limited = load_data("synthetic", image_size=(32, 32), synthetic_counts=(20, 5, 5), limit=4)
    assert limited.split("train").ids == tuple(f"synthetic_train_{i:05d}" for i in range(4))
    assert len(limited.split("val")) == 5
    folds = load_data(
        "synthetic", image_size=(32, 32), synthetic_counts=(20, 5, 5), split="kfold", fold=0, k=3
    )
    assert len(folds.split("train")) + len(folds.split("val")) == 30
    # the fingerprint names the generated data, not the split
    assert folds.fingerprint == synthetic_fingerprint(SyntheticSettings(20, 5, 5, seed=0))


def test_render_many_matches_render() -> None:
    items = [("train", 0), ("val", 7), ("train", 2)]
    images, masks = render_many(4, items, (40, 30))
    assert images.shape == (3, 3, 40, 30) and masks.shape == (3, 40, 30)
    for n, (split, index) in enumerate(items):
        image, mask = render(4, split, index, (40, 30))
        assert np.array_equal(images[n], image) and np.array_equal(masks[n], mask)
