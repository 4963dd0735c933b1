"""Find image/mask pairs in the official folder layouts of the public skin-lesion datasets.

Layouts are tried most specific first:

1. ``isic2018``: ``ISIC2018_Task1-2_{Training,Validation,Test}_Input/ISIC_nnnnnnn.jpg`` with
   ``ISIC2018_Task1_{Training,Validation,Test}_GroundTruth/ISIC_nnnnnnn_segmentation.png``.
2. ``isic2017``: ``ISIC-2017_{Training,Validation,Test_v2}_Data/ISIC_nnnnnnn.jpg`` with
   ``ISIC-2017_{...}_Part1_GroundTruth/ISIC_nnnnnnn_segmentation.png``.
3. ``isic2016``: ``ISBI2016_ISIC_Part1_{Training,Test}_Data/ISIC_nnnnnnn.jpg`` with
   ``ISBI2016_ISIC_Part1_{Training,Test}_GroundTruth/ISIC_nnnnnnn_Segmentation.png``.
4. ``ph2``: ``PH2 Dataset images/IMDnnn/IMDnnn_Dermoscopic_Image/IMDnnn.bmp`` with
   ``IMDnnn/IMDnnn_lesion/IMDnnn_lesion.bmp`` (the root may also be the folder holding the
   ``IMDnnn`` folders).
5. ``folder``: ``{train,val,test}/images/`` + ``{train,val,test}/masks/`` (official split from the
   folder names), else a flat ``images/`` + ``masks/``. Pairs are matched by file stem; a mask stem
   may be the image stem or the image stem + ``_mask`` / ``_segmentation`` / ``_lesion``. A flat
   folder whose ids are all ``IMDnnn`` is reported as ``ph2``.

Files that are not images of the expected names are ignored (ISIC ``*_superpixels.png``, metadata
CSVs, LICENSE and ATTRIBUTION files, hidden files). ISIC split folders map to the split names
``train`` / ``val`` / ``test``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from trainer.data.errors import DataError, list_names

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"})
MASK_SUFFIXES = IMAGE_SUFFIXES | {".gif"}
MASK_STEM_SUFFIXES = ("_segmentation", "_mask", "_lesion")
SPLIT_NAMES = ("train", "val", "test")


class Sample(NamedTuple):
    """One image with its ground-truth mask and the official split it belongs to (if any)."""

    id: str
    image_path: Path
    mask_path: Path
    split: str | None


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: the layout's name and its pairs, sorted by (split, id)."""

    layout: str
    root: Path
    samples: tuple[Sample, ...]

    @property
    def official_splits(self) -> tuple[str, ...]:
        """The official split names present, in train/val/test order; () if the layout has none."""
        present = {s.split for s in self.samples}
        return tuple(name for name in SPLIT_NAMES if name in present)


@dataclass(frozen=True)
class _IsicSpec:
    name: str
    # (split, candidate image-folder names, candidate ground-truth-folder names)
    splits: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    mask_pattern: re.Pattern[str]


_ISIC_IMAGE = re.compile(r"^(ISIC_\d{7})\.(?:jpe?g|png)$", re.IGNORECASE)
_ISIC_MASK = re.compile(r"^(ISIC_\d{7})_segmentation\.png$", re.IGNORECASE)
_PH2_ID = re.compile(r"^IMD\d{3}$")

_ISIC_SPECS = (
    _IsicSpec(
        "isic2018",
        tuple(
            (split, (f"ISIC2018_Task1-2_{part}_Input",), (f"ISIC2018_Task1_{part}_GroundTruth",))
            for split, part in (("train", "Training"), ("val", "Validation"), ("test", "Test"))
        ),
        _ISIC_MASK,
    ),
    _IsicSpec(
        "isic2017",
        (
            ("train", ("ISIC-2017_Training_Data",), ("ISIC-2017_Training_Part1_GroundTruth",)),
            ("val", ("ISIC-2017_Validation_Data",), ("ISIC-2017_Validation_Part1_GroundTruth",)),
            (
                "test",
                ("ISIC-2017_Test_v2_Data", "ISIC-2017_Test_Data"),
                ("ISIC-2017_Test_v2_Part1_GroundTruth", "ISIC-2017_Test_Part1_GroundTruth"),
            ),
        ),
        _ISIC_MASK,
    ),
    _IsicSpec(
        "isic2016",
        tuple(
            (
                split,
                (f"ISBI2016_ISIC_Part1_{part}_Data",),
                (f"ISBI2016_ISIC_Part1_{part}_GroundTruth",),
            )
            for split, part in (("train", "Training"), ("test", "Test"))
        ),
        _ISIC_MASK,
    ),
)

LAYOUT_DESCRIPTIONS = (
    "isic2018 (ISIC2018_Task1-2_*_Input/ + ISIC2018_Task1_*_GroundTruth/)",
    "isic2017 (ISIC-2017_*_Data/ + ISIC-2017_*_Part1_GroundTruth/)",
    "isic2016 (ISBI2016_ISIC_Part1_*_Data/ + ISBI2016_ISIC_Part1_*_GroundTruth/)",
    "ph2 ('PH2 Dataset images'/IMDnnn/IMDnnn_Dermoscopic_Image/ + IMDnnn_lesion/)",
    "folder ({train,val,test}/images/ + masks/, or images/ + masks/ paired by file stem)",
)


def discover(root: str | Path) -> Discovery:
    """Detect the layout of the dataset under ``root`` and list its image/mask pairs.

    Raises :class:`DataError` if the folder is missing, matches no layout, holds no pairs, has
    images without masks (or masks without images), or has two files for one id.
    """
    root = Path(root).expanduser()
    if not root.exists():
        raise DataError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"dataset path is not a folder: {root}")
    finders: tuple[tuple[str, Callable[[Path], list[Sample] | None]], ...] = (
        *((spec.name, _isic_finder(spec)) for spec in _ISIC_SPECS),
        ("ph2", _find_ph2),
        ("folder", _find_split_folders),
        ("folder", _find_flat_folder),
    )
    for layout, finder in finders:
        samples = finder(root)
        if samples is None:
            continue
        if not samples:
            raise DataError(f"no image/mask pairs found under {root} (layout {layout})")
        if layout == "folder" and all(s.split is None and _PH2_ID.match(s.id) for s in samples):
            layout = "ph2"
        _check_unique_ids(samples, root)
        ordered = sorted(samples, key=lambda s: (_split_rank(s.split), s.id))
        return Discovery(layout=layout, root=root, samples=tuple(ordered))
    raise DataError(
        f"no image/mask pairs found under {root}: it matches none of the known layouts. "
        "Looked for: " + "; ".join(LAYOUT_DESCRIPTIONS)
    )


def _split_rank(split: str | None) -> int:
    return SPLIT_NAMES.index(split) if split in SPLIT_NAMES else -1


def _check_unique_ids(samples: list[Sample], root: Path) -> None:
    seen: dict[str, Sample] = {}
    duplicates = []
    for sample in samples:
        if sample.id in seen:
            duplicates.append(f"{sample.id} ({seen[sample.id].image_path} and {sample.image_path})")
        seen[sample.id] = sample
    if duplicates:
        raise DataError(f"the same image id appears twice under {root}: {list_names(duplicates)}")


def _first_dir(root: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (root / name).is_dir():
            return root / name
    return None


def _files(folder: Path, suffixes: frozenset[str]) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def _raise_unpaired(where: str, images_only: list[Path], masks_only: list[Path]) -> None:
    parts = []
    if images_only:
        parts.append(f"{len(images_only)} image(s) without a mask: {list_names(images_only)}")
    if masks_only:
        parts.append(f"{len(masks_only)} mask(s) without an image: {list_names(masks_only)}")
    raise DataError(f"unpaired files in {where}: " + "; ".join(parts))


def _pair(
    images: dict[str, Path], masks: dict[str, Path], split: str | None, where: str
) -> list[Sample]:
    images_only = [images[i] for i in sorted(images.keys() - masks.keys())]
    masks_only = [masks[i] for i in sorted(masks.keys() - images.keys())]
    if images_only or masks_only:
        _raise_unpaired(where, images_only, masks_only)
    if not images:
        raise DataError(f"no image/mask pairs found in {where}")
    return [Sample(i, images[i], masks[i], split) for i in sorted(images)]


def _index(files: list[Path], key: Callable[[Path], str | None], folder: Path) -> dict[str, Path]:
    """Map id -> file for the files whose ``key`` is not None; refuse two files for one id."""
    out: dict[str, Path] = {}
    for path in files:
        sample_id = key(path)
        if sample_id is None:
            continue
        if sample_id in out:
            raise DataError(
                f"two files for id {sample_id!r} in {folder}: {out[sample_id].name}, {path.name}"
            )
        out[sample_id] = path
    return out


def _regex_key(pattern: re.Pattern[str]) -> Callable[[Path], str | None]:
    def key(path: Path) -> str | None:
        match = pattern.match(path.name)
        return match.group(1) if match else None

    return key


def _isic_finder(spec: _IsicSpec) -> Callable[[Path], list[Sample] | None]:
    def find(root: Path) -> list[Sample] | None:
        found = False
        samples: list[Sample] = []
        for split, image_names, mask_names in spec.splits:
            image_dir = _first_dir(root, image_names)
            mask_dir = _first_dir(root, mask_names)
            if image_dir is None and mask_dir is None:
                continue
            found = True
            if image_dir is None or mask_dir is None:
                present, missing = (
                    (image_dir, mask_names[0]) if mask_dir is None else (mask_dir, image_names[0])
                )
                raise DataError(
                    f"{spec.name} layout: found {present} but the matching folder {missing!r} "
                    f"is missing under {root}"
                )
            images = _index(_files(image_dir, IMAGE_SUFFIXES), _regex_key(_ISIC_IMAGE), image_dir)
            masks = _index(_files(mask_dir, MASK_SUFFIXES), _regex_key(spec.mask_pattern), mask_dir)
            samples += _pair(images, masks, split, f"{image_dir} and {mask_dir}")
        return samples if found else None

    return find


def _file_with_stem(folder: Path, stem: str) -> Path | None:
    if not folder.is_dir():
        return None
    matches = [p for p in _files(folder, MASK_SUFFIXES) if p.stem.lower() == stem.lower()]
    if len(matches) > 1:
        raise DataError(f"two files for {stem!r} in {folder}: {list_names(matches)}")
    return matches[0] if matches else None


def _find_ph2(root: Path) -> list[Sample] | None:
    base = root / "PH2 Dataset images"
    if not base.is_dir():
        base = root
    case_dirs = sorted(d for d in base.iterdir() if d.is_dir() and _PH2_ID.match(d.name))
    if not case_dirs:
        return None
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    for case in case_dirs:
        image = _file_with_stem(case / f"{case.name}_Dermoscopic_Image", case.name)
        mask = _file_with_stem(case / f"{case.name}_lesion", f"{case.name}_lesion")
        if image is not None:
            images[case.name] = image
        if mask is not None:
            masks[case.name] = mask
    missing_images = [base / c.name for c in case_dirs if c.name not in images]
    missing_masks = [base / c.name for c in case_dirs if c.name not in masks]
    if missing_images or missing_masks:
        parts = []
        if missing_masks:
            parts.append(
                f"{len(missing_masks)} case(s) without a lesion mask: {list_names(missing_masks)}"
            )
        if missing_images:
            parts.append(
                f"{len(missing_images)} case(s) without a dermoscopic image: {list_names(missing_images)}"
            )
        raise DataError(f"unpaired files in PH2 folder {base}: " + "; ".join(parts))
    return [Sample(i, images[i], masks[i], None) for i in sorted(images)]


def _mask_id(path: Path) -> str:
    stem = path.stem
    for suffix in MASK_STEM_SUFFIXES:
        if stem.lower().endswith(suffix) and len(stem) > len(suffix):
            return stem[: -len(suffix)]
    return stem


def _pair_folder(folder: Path, split: str | None) -> list[Sample]:
    image_dir, mask_dir = folder / "images", folder / "masks"
    images = _index(_files(image_dir, IMAGE_SUFFIXES), lambda p: p.stem, image_dir)
    masks = _index(_files(mask_dir, MASK_SUFFIXES), _mask_id, mask_dir)
    return _pair(images, masks, split, f"{image_dir} and {mask_dir}")


def _find_split_folders(root: Path) -> list[Sample] | None:
    splits = [
        s for s in SPLIT_NAMES if (root / s / "images").is_dir() or (root / s / "masks").is_dir()
    ]
    if not splits:
        return None
    samples: list[Sample] = []
    for split in splits:
        for sub in ("images", "masks"):
            if not (root / split / sub).is_dir():
                raise DataError(f"folder layout: {root / split} has no {sub!r} folder")
        samples += _pair_folder(root / split, split)
    return samples


def _find_flat_folder(root: Path) -> list[Sample] | None:
    has_images, has_masks = (root / "images").is_dir(), (root / "masks").is_dir()
    if not (has_images or has_masks):
        return None
    if not (has_images and has_masks):
        missing = "masks" if has_images else "images"
        raise DataError(f"folder layout: {root} has no {missing!r} folder")
    return _pair_folder(root, None)
