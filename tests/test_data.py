"""Data layer on the real ISIC 2017 sample and on small folders built from copies of it."""

from __future__ import annotations

import hashlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import trainer.data.decode as decode_module
from trainer.data import (
    CACHE_ENV_VAR,
    DataError,
    describe_data,
    discover,
    load_data,
    load_pairs_for_evaluation,
    make_split,
    read_mask,
    split_hash,
)

SIZE = (64, 64)


@pytest.fixture(scope="module")
def real_samples(isic2017_root):
    """The first 14 training pairs of the real sample."""
    return [s for s in discover(isic2017_root).samples if s.split == "train"][:14]


def _mask_gray(sample) -> np.ndarray:
    return np.asarray(Image.open(sample.mask_path))


def _save(array: np.ndarray, path: Path, fmt: str | None = None, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt, **kw)


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _generic(root: Path, samples, mask_suffix: str = "_mask") -> Path:
    """images/<id>.jpg + masks/<id><mask_suffix>.png."""
    for s in samples:
        _copy(s.image_path, root / "images" / f"{s.id}.jpg")
        _copy(s.mask_path, root / "masks" / f"{s.id}{mask_suffix}.png")
    return root


def _isic2017(root: Path, train, val) -> Path:
    for part, samples in (("Training", train), ("Validation", val)):
        for s in samples:
            _copy(s.image_path, root / f"ISIC-2017_{part}_Data" / f"{s.id}.jpg")
            _copy(
                s.mask_path,
                root / f"ISIC-2017_{part}_Part1_GroundTruth" / f"{s.id}_segmentation.png",
            )
    return root


def _no_cache(cache: Path) -> bool:
    return not cache.exists() or not any(cache.iterdir())


# --- the real sample ------------------------------------------------------------------------


def test_real_isic2017_layout(isic2017_root) -> None:
    found = discover(isic2017_root)
    assert found.layout == "isic2017"
    assert found.official_splits == ("train", "val")
    counts = {name: sum(s.split == name for s in found.samples) for name in ("train", "val")}
    jpgs = {
        p: len(list((isic2017_root / f"ISIC-2017_{p}_Data").glob("ISIC_*.jpg")))
        for p in ("Training", "Validation")
    }
    assert (
        counts
        == {"train": jpgs["Training"], "val": jpgs["Validation"]}
        == {"train": 2000, "val": 150}
    )
    for s in found.samples[:50]:
        assert s.image_path.name == f"{s.id}.jpg"
        assert s.mask_path.name == f"{s.id}_segmentation.png"


def test_load_real_sample_with_limit(isic2017_root, tmp_path) -> None:
    bundle = load_data(isic2017_root, image_size=SIZE, limit=8, cache_dir=tmp_path, progress=False)
    train_ids = sorted(s.id for s in discover(isic2017_root).samples if s.split == "train")[:8]
    train, val = bundle.split("train"), bundle.split("val")
    assert list(train.ids) == train_ids
    assert len(val) == 150 and "test" not in bundle.splits
    assert train.images.shape == (8, 3, 64, 64) and val.masks.shape == (150, 1, 64, 64)
    assert set(torch.unique(val.masks).tolist()) == {0, 1}
    assert bundle.name == "isic2017" and not bundle.synthetic
    assert bundle.split_info["method"] == "official" and bundle.split_info["limit"] == 8
    assert bundle.split_info["ids"]["train"] == train_ids
    assert len(bundle.fingerprint) == 64 and "SYNTHETIC" not in describe_data(bundle)
    # the documented resize rules: bilinear image, mask binarised then nearest neighbour
    path = Path(val.mask_paths[3])
    assert path.name == f"{val.ids[3]}_segmentation.png"
    mask = Image.fromarray(read_mask(path)).resize((64, 64), Image.Resampling.NEAREST)
    assert np.array_equal(val.masks[3, 0].numpy(), np.asarray(mask))
    image_path = isic2017_root / "ISIC-2017_Validation_Data" / f"{val.ids[3]}.jpg"
    image = Image.open(image_path).convert("RGB").resize((64, 64), Image.Resampling.BILINEAR)
    assert np.array_equal(val.images[3].permute(1, 2, 0).numpy(), np.asarray(image))
    evaluation = load_pairs_for_evaluation(isic2017_root, "val", ids=val.ids[:5])
    assert [s.id for s in evaluation] == list(val.ids[:5])
    assert [str(s.mask_path) for s in evaluation] == list(val.mask_paths[:5])


# --- cache ----------------------------------------------------------------------------------


def test_second_load_reads_cache_without_decoding(real_samples, tmp_path, monkeypatch) -> None:
    root = _isic2017(tmp_path / "data", real_samples[:6], real_samples[6:9])
    cache = tmp_path / "cache"
    first = load_data(root, image_size=SIZE, cache_dir=cache, progress=False)
    assert first.source_info["from_cache"] is False
    assert [p.name for p in cache.iterdir()] == [Path(first.source_info["cache_path"]).name]

    def refuse(*args, **kwargs):
        raise AssertionError("decoded although the cache is valid")

    monkeypatch.setattr(decode_module, "decode_pair", refuse)
    second = load_data(root, image_size=SIZE, cache_dir=cache, progress=False)
    assert second.source_info["from_cache"] is True
    assert "read from cache" in describe_data(second)
    assert second.fingerprint == first.fingerprint and second.split_info == first.split_info
    for name in ("train", "val"):
        assert torch.equal(second.split(name).images, first.split(name).images)
        assert torch.equal(second.split(name).masks, first.split(name).masks)
    # another size is another cache entry, so it must decode
    with pytest.raises(AssertionError, match="decoded although"):
        load_data(root, image_size=(32, 48), cache_dir=cache, progress=False)


def test_cache_key_follows_files(real_samples, tmp_path) -> None:
    root = _isic2017(tmp_path / "data", real_samples[:3], real_samples[3:5])
    cache = tmp_path / "cache"
    first = load_data(root, image_size=SIZE, cache_dir=cache, progress=False)
    mask_path = (
        root / "ISIC-2017_Training_Part1_GroundTruth" / f"{real_samples[0].id}_segmentation.png"
    )
    flipped = np.ascontiguousarray(_mask_gray(real_samples[0])[::-1])
    _save(flipped, mask_path)
    second = load_data(root, image_size=SIZE, cache_dir=cache, progress=False)
    assert second.source_info["from_cache"] is False
    assert second.fingerprint != first.fingerprint
    assert len(list(cache.iterdir())) == 2


def test_cache_location_env_and_default(real_samples, tmp_path, monkeypatch) -> None:
    root = _generic(tmp_path / "data", real_samples[:3])
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path / "from_env"))
    bundle = load_data(root, image_size=SIZE, split="ratio", ratios=(0.7, 0.3), progress=False)
    assert Path(bundle.source_info["cache_path"]).parent == tmp_path / "from_env"
    monkeypatch.delenv(CACHE_ENV_VAR)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    bundle = load_data(root, image_size=SIZE, split="ratio", progress=False)
    assert Path(bundle.source_info["cache_path"]).parent == Path(".cache") / "lesion-nas"
    assert len(list((tmp_path / "cwd" / ".cache" / "lesion-nas").glob("*.npy"))) == 1


def test_broken_or_interrupted_cache(real_samples, tmp_path, monkeypatch) -> None:
    root = _generic(tmp_path / "data", real_samples[:3])
    cache = tmp_path / "cache"

    def interrupted_save(handle, array, **kwargs):
        handle.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(np, "save", interrupted_save)
        with pytest.raises(KeyboardInterrupt):
            load_data(root, image_size=SIZE, split="ratio", cache_dir=cache, progress=False)
    assert _no_cache(cache)  # neither a partial file nor a stray temporary one
    first = load_data(root, image_size=SIZE, split="ratio", cache_dir=cache, progress=False)
    cache_file = Path(first.source_info["cache_path"])
    cache_file.write_bytes(cache_file.read_bytes()[:1000])  # damaged by something else
    with pytest.warns(UserWarning, match="unreadable cache file"):
        again = load_data(root, image_size=SIZE, split="ratio", cache_dir=cache, progress=False)
    assert again.source_info["from_cache"] is False
    assert torch.equal(again.split("train").images, first.split("train").images)


# --- bad input: one clear error, nothing written --------------------------------------------


def test_missing_folder_and_no_pairs(tmp_path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="dataset folder not found") as err:
        load_data(tmp_path / "nowhere", cache_dir=cache, progress=False)
    assert "nowhere" in str(err.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("nothing here")
    with pytest.raises(DataError, match="no image/mask pairs found") as err:
        load_data(tmp_path / "empty", cache_dir=cache, progress=False)
    for layout in ("isic2018", "isic2017", "isic2016", "ph2", "images/ + masks/"):
        assert layout in str(err.value)
    assert _no_cache(cache)


def test_unpaired_files_are_listed(real_samples, tmp_path) -> None:
    root = tmp_path / "data"
    for n in range(13):
        _copy(real_samples[0].image_path, root / "images" / f"case{n:02d}.jpg")
    _copy(real_samples[0].mask_path, root / "masks" / "case00_mask.png")
    _copy(real_samples[0].mask_path, root / "masks" / "orphan_mask.png")
    with pytest.raises(DataError, match="unpaired") as err:
        load_data(root, cache_dir=tmp_path / "cache", progress=False)
    message = str(err.value)
    assert "12 image(s) without a mask" in message and "case01.jpg" in message
    assert "case10.jpg" in message and "case11.jpg" not in message and "(and 2 more)" in message
    assert "1 mask(s) without an image: orphan_mask.png" in message
    assert _no_cache(tmp_path / "cache")


def test_isic_missing_ground_truth_folder(real_samples, tmp_path) -> None:
    root = _isic2017(tmp_path / "data", real_samples[:2], real_samples[2:4])
    shutil.rmtree(root / "ISIC-2017_Validation_Part1_GroundTruth")
    with pytest.raises(DataError, match="ISIC-2017_Validation_Part1_GroundTruth.*is missing"):
        discover(root)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_image(real_samples, tmp_path, damage) -> None:
    root = _generic(tmp_path / "data", real_samples[:4])
    bad = root / "images" / f"{real_samples[2].id}.jpg"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"not a jpeg at all")
    with pytest.raises(DataError, match="unreadable or corrupt image") as err:
        load_data(
            root, image_size=SIZE, split="ratio", cache_dir=tmp_path / "cache", progress=False
        )
    assert bad.name in str(err.value)
    assert _no_cache(tmp_path / "cache")


def test_several_bad_pairs_reported_together(real_samples, tmp_path) -> None:
    root = _generic(tmp_path / "data", real_samples[:4])
    for s in real_samples[1:3]:
        (root / "images" / f"{s.id}.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="2 pairs could not be used") as err:
        load_data(
            root, image_size=SIZE, split="ratio", cache_dir=tmp_path / "cache", progress=False
        )
    assert all(f"{s.id}.jpg" in str(err.value) for s in real_samples[1:3])


def test_mask_size_mismatch(real_samples, tmp_path) -> None:
    root = _generic(tmp_path / "data", real_samples[:3])
    mask = root / "masks" / f"{real_samples[1].id}_mask.png"
    _save(np.asarray(Image.open(mask).resize((100, 80), Image.Resampling.NEAREST)), mask)
    with pytest.raises(DataError, match=r"is 100x80 \(WxH\) but its image") as err:
        load_data(
            root, image_size=SIZE, split="ratio", cache_dir=tmp_path / "cache", progress=False
        )
    assert mask.name in str(err.value) and f"{real_samples[1].id}.jpg" in str(err.value)
    assert _no_cache(tmp_path / "cache")


@pytest.mark.parametrize("kind", ["gradient", "blurred", "low_values"])
def test_non_binary_mask_refused(real_samples, tmp_path, kind) -> None:
    root = _generic(tmp_path / "data", real_samples[:3])
    gray = _mask_gray(real_samples[1])
    if kind == "gradient":
        values = np.broadcast_to(np.linspace(0, 255, gray.shape[1]).astype(np.uint8), gray.shape)
    elif kind == "blurred":
        from scipy import ndimage

        values = ndimage.gaussian_filter(gray.astype(float), 4).astype(np.uint8)
    else:
        values = (gray // 255 * 2).astype(np.uint8)  # a {0, 2} label mask
    mask = root / "masks" / f"{real_samples[1].id}_mask.png"
    _save(np.ascontiguousarray(values), mask)
    with pytest.raises(DataError, match="rule: grayscale masks") as err:
        load_data(
            root, image_size=SIZE, split="ratio", cache_dir=tmp_path / "cache", progress=False
        )
    assert mask.name in str(err.value)
    assert ("not binary" if kind != "low_values" else "neither a 0/1 nor a 0/255") in str(err.value)
    assert _no_cache(tmp_path / "cache")


def test_accepted_mask_encodings(real_samples, tmp_path) -> None:
    """0/1 PNG, JPEG-compressed 0/255 and gray RGB masks read like the original 0/255 PNG."""
    sample = real_samples[0]
    gray = _mask_gray(sample)
    reference = read_mask(sample.mask_path)
    assert set(np.unique(reference)) == {0, 1}
    _save(gray // 255, tmp_path / "zero_one.png")
    assert np.array_equal(read_mask(tmp_path / "zero_one.png"), reference)
    _save(np.stack([gray] * 3, axis=-1), tmp_path / "rgb.png")
    assert np.array_equal(read_mask(tmp_path / "rgb.png"), reference)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, "JPEG", quality=75)
    (tmp_path / "jpeg_mask.jpg").write_bytes(buffer.getvalue())
    decoded = np.asarray(Image.open(tmp_path / "jpeg_mask.jpg"))
    assert np.count_nonzero((decoded > 0) & (decoded < 255)) > 0.01 * decoded.size  # realistic
    from_jpeg = read_mask(tmp_path / "jpeg_mask.jpg")
    assert set(np.unique(from_jpeg)) == {0, 1}
    assert np.count_nonzero(from_jpeg != reference) < 0.005 * reference.size


def test_rgb_mask_with_colour_refused(real_samples, tmp_path) -> None:
    root = _generic(tmp_path / "data", real_samples[:3])
    gray = _mask_gray(real_samples[1])
    rgb = np.stack([gray, gray // 2, np.zeros_like(gray)], axis=-1)
    mask = root / "masks" / f"{real_samples[1].id}_mask.png"
    _save(rgb, mask)
    with pytest.raises(DataError, match=r"channels differ.*R == G == B") as err:
        load_data(
            root, image_size=SIZE, split="ratio", cache_dir=tmp_path / "cache", progress=False
        )
    assert mask.name in str(err.value)
    assert _no_cache(tmp_path / "cache")


# --- layouts --------------------------------------------------------------------------------


def test_isic2017_extra_files_ignored_and_test_split(real_samples, tmp_path) -> None:
    root = _isic2017(tmp_path / "data", real_samples[:3], real_samples[3:5])
    for s in real_samples[:3]:
        _copy(s.mask_path, root / "ISIC-2017_Training_Data" / f"{s.id}_superpixels.png")
    (root / "ISIC-2017_Training_Data" / "ISIC-2017_Training_Data_metadata.csv").write_text("id\n")
    (root / "ISIC-2017_Training_Part1_GroundTruth" / "LICENSE.txt").write_text("CC-0")
    for s in real_samples[5:7]:
        _copy(s.image_path, root / "ISIC-2017_Test_v2_Data" / f"{s.id}.jpg")
        _copy(
            s.mask_path, root / "ISIC-2017_Test_v2_Part1_GroundTruth" / f"{s.id}_segmentation.png"
        )
    found = discover(root)
    assert found.layout == "isic2017" and found.official_splits == ("train", "val", "test")
    assert [s.id for s in found.samples if s.split == "test"] == [s.id for s in real_samples[5:7]]
    bundle = load_data(root, image_size=SIZE, cache_dir=tmp_path / "cache", progress=False)
    assert {k: len(v) for k, v in bundle.splits.items()} == {"train": 3, "val": 2, "test": 2}


def test_isic2016_layout_carves_val_from_train(real_samples, tmp_path) -> None:
    root = tmp_path / "isic2016"
    for part, samples in (("Training", real_samples[:10]), ("Test", real_samples[10:12])):
        for s in samples:
            _copy(s.image_path, root / f"ISBI2016_ISIC_Part1_{part}_Data" / f"{s.id}.jpg")
            _copy(
                s.mask_path,
                root / f"ISBI2016_ISIC_Part1_{part}_GroundTruth" / f"{s.id}_Segmentation.png",
            )
    found = discover(root)
    assert found.layout == "isic2016" and found.official_splits == ("train", "test")
    bundle = load_data(root, image_size=SIZE, cache_dir=tmp_path / "cache", progress=False)
    assert {k: len(v) for k, v in bundle.splits.items()} == {"train": 7, "val": 3, "test": 2}
    assert bundle.split_info["val_from"] == "train" and bundle.name == "isic2016"
    assert set(bundle.split("val").ids) | set(bundle.split("train").ids) == {
        s.id for s in real_samples[:10]
    }


def test_isic2018_layout(real_samples, tmp_path) -> None:
    root = tmp_path / "isic2018"
    for part, samples in (("Training", real_samples[:3]), ("Validation", real_samples[3:5])):
        for s in samples:
            _copy(s.image_path, root / f"ISIC2018_Task1-2_{part}_Input" / f"{s.id}.jpg")
            _copy(
                s.mask_path,
                root / f"ISIC2018_Task1_{part}_GroundTruth" / f"{s.id}_segmentation.png",
            )
    (root / "ISIC2018_Task1-2_Training_Input" / "ATTRIBUTION.txt").write_text("ISIC")
    found = discover(root)
    assert found.layout == "isic2018" and found.official_splits == ("train", "val")
    assert [s.id for s in found.samples] == [s.id for s in real_samples[:5]]


def _ph2_case(base: Path, n: int, sample) -> None:
    case = f"IMD{n:03d}"
    folder = base / case
    _save(
        np.asarray(Image.open(sample.image_path)),
        folder / f"{case}_Dermoscopic_Image" / f"{case}.bmp",
    )
    _save(_mask_gray(sample), folder / f"{case}_lesion" / f"{case}_lesion.bmp")
    _save(_mask_gray(sample), folder / f"{case}_roi" / f"{case}_R1_Label4.bmp")


@pytest.mark.parametrize("nested", [True, False])
def test_ph2_layout(real_samples, tmp_path, nested) -> None:
    root = tmp_path / "PH2Dataset"
    base = root / "PH2 Dataset images" if nested else root
    for n, sample in enumerate(real_samples[:4], start=2):
        _ph2_case(base, n, sample)
    found = discover(root)
    assert found.layout == "ph2" and found.official_splits == ()
    assert [s.id for s in found.samples] == ["IMD002", "IMD003", "IMD004", "IMD005"]
    bundle = load_data(root, image_size=SIZE, cache_dir=tmp_path / "cache", progress=False)
    assert bundle.split_info["method"] == "ratio"  # "auto" without official splits
    assert sum(len(v) for v in bundle.splits.values()) == 4
    expected = np.asarray(
        Image.fromarray(read_mask(real_samples[0].mask_path)).resize(
            (64, 64), Image.Resampling.NEAREST
        )
    )
    row = list(bundle.split("train").ids + bundle.split("val").ids).index("IMD002")
    masks = torch.cat([bundle.split("train").masks, bundle.split("val").masks])
    assert np.array_equal(masks[row, 0].numpy(), expected)
    shutil.rmtree(base / "IMD003" / "IMD003_lesion")
    with pytest.raises(DataError, match="1 case\\(s\\) without a lesion mask: IMD003"):
        discover(root)


def test_ph2_flat_and_generic_layouts(real_samples, tmp_path) -> None:
    flat = tmp_path / "ph2flat"
    for n, sample in enumerate(real_samples[:3], start=1):
        _save(np.asarray(Image.open(sample.image_path)), flat / "images" / f"IMD{n:03d}.bmp")
        _save(_mask_gray(sample), flat / "masks" / f"IMD{n:03d}_lesion.bmp")
    assert discover(flat).layout == "ph2"

    generic = tmp_path / "generic"
    suffixes = ["", "_mask", "_segmentation", "_lesion"]
    for sample, suffix in zip(real_samples[:4], suffixes, strict=True):
        _copy(sample.image_path, generic / "images" / f"{sample.id}.jpg")
        _copy(sample.mask_path, generic / "masks" / f"{sample.id}{suffix}.png")
    found = discover(generic)
    assert found.layout == "folder" and found.official_splits == ()
    assert [s.id for s in found.samples] == [s.id for s in real_samples[:4]]

    split_root = tmp_path / "splits"
    _generic(split_root / "train", real_samples[:3])
    _generic(split_root / "val", real_samples[3:5])
    found = discover(split_root)
    assert found.layout == "folder" and found.official_splits == ("train", "val")


def test_duplicate_stems_refused(real_samples, tmp_path) -> None:
    root = _generic(tmp_path / "data", real_samples[:2])
    _copy(real_samples[0].mask_path, root / "masks" / f"{real_samples[0].id}.png")
    with pytest.raises(DataError, match=f"two files for id '{real_samples[0].id}'"):
        discover(root)


# --- splits ---------------------------------------------------------------------------------

IDS = [f"id{n:03d}" for n in range(100)]


def test_ratio_split_seeded() -> None:
    labelled = [(i, None) for i in IDS]
    a = make_split(labelled, method="ratio", seed=1)
    b = make_split(labelled, method="ratio", seed=1)
    c = make_split(labelled, method="ratio", seed=2)
    assert a.ids == b.ids and a.info["hash"] == b.info["hash"]
    assert a.ids != c.ids and a.info["hash"] != c.info["hash"]
    assert (len(a.ids["train"]), len(a.ids["val"])) == (70, 30)
    assert sorted(a.ids["train"] + a.ids["val"]) == IDS and list(a.ids["val"]) == sorted(
        a.ids["val"]
    )
    three = make_split(labelled, method="ratio", ratios=(0.8, 0.1, 0.1), seed=0)
    assert [len(three.ids[k]) for k in ("train", "val", "test")] == [80, 10, 10]
    with pytest.raises(ValueError, match="sum to 1"):
        make_split(labelled, method="ratio", ratios=(0.7, 0.2))


def test_kfold_partitions() -> None:
    labelled = [(i, "train" if n < 80 else "val") for n, i in enumerate(IDS)]
    vals = []
    for fold in range(5):
        plan = make_split(labelled, method="kfold", k=5, fold=fold, seed=3)
        assert set(plan.ids["train"]).isdisjoint(plan.ids["val"])
        assert sorted(plan.ids["train"] + plan.ids["val"]) == IDS
        assert len(plan.ids["val"]) == 20 and plan.info["fold"] == fold
        vals += plan.ids["val"]
    assert sorted(vals) == IDS  # the val folds partition the pooled ids
    pooled = make_split(labelled, method="kfold", k=4, fold=0, pool=["train"])
    assert len(pooled.ids["train"] + pooled.ids["val"]) == 80
    with pytest.raises(ValueError, match="needs fold"):
        make_split(labelled, method="kfold")


def test_split_hash_and_limit() -> None:
    ids = {"train": ["b", "c"], "val": ["a"]}
    canonical = b'{"train":["b","c"],"val":["a"]}'
    assert split_hash(ids) == hashlib.sha256(canonical).hexdigest()
    labelled = [(i, "val" if n % 10 == 0 else "train") for n, i in enumerate(IDS)]
    plan = make_split(labelled, limit=5)
    assert plan.info["method"] == "official"
    assert list(plan.ids["train"]) == ["id001", "id002", "id003", "id004", "id005"]
    assert len(plan.ids["val"]) == 10 and plan.info["hash"] == split_hash(plan.info["ids"])
    with pytest.raises(DataError, match="no official train split"):
        make_split([(i, None) for i in IDS], method="official", layout="folder")


def test_evaluation_pairs_errors(isic2017_root) -> None:
    with pytest.raises(DataError, match="synthetic data has no files"):
        load_pairs_for_evaluation("synthetic")
    with pytest.raises(DataError, match="no official 'test' split \\(has: train, val\\)"):
        load_pairs_for_evaluation(isic2017_root, "test")
    with pytest.raises(DataError, match="ids not found.*ISIC_9999999"):
        load_pairs_for_evaluation(isic2017_root, "val", ids=["ISIC_9999999"])
