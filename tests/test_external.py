"""Cross-dataset evaluation on real ISIC 2017 images: a test-only folder keeps its split name,
evaluate scores all images of a foreign dataset by default, confirm --external."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from reports.study import load_study_view
from runner.runs import evaluate_run, train_genotype
from searchspace.presets import PRESETS
from studies.evidence.confirm import run_confirm
from studies.search.run import options_from, run_search
from trainer import load_data, recipe
from trainer.data import discover

ROOT = Path(__file__).resolve().parents[1]
ISIC2017 = ROOT.parent / "shared" / "data" / "isic2017"
pytestmark = pytest.mark.skipif(not ISIC2017.is_dir(), reason="needs ../shared/data/isic2017")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A test-only ISIC 2017 folder (5 official validation pairs under the test names) and an
    images/ + masks/ folder of 10 training pairs."""
    base = tmp_path_factory.mktemp("external")
    samples = discover(ISIC2017).samples
    val = [s for s in samples if s.split == "val"][:5]
    train = [s for s in samples if s.split == "train"][:10]
    test_only = base / "isic2017-test"
    for s in val:
        _copy(s.image_path, test_only / "ISIC-2017_Test_v2_Data" / f"{s.id}.jpg")
        _copy(s.mask_path, test_only / "ISIC-2017_Test_v2_Part1_GroundTruth" /
              f"{s.id}_segmentation.png")  # fmt: skip
    own = base / "own"
    for s in train:
        _copy(s.image_path, own / "images" / f"{s.id}.jpg")
        _copy(s.mask_path, own / "masks" / f"{s.id}_segmentation.png")
    return test_only, own, [s.id for s in val]


def test_a_test_only_folder_keeps_its_split(folders):
    test_only, _, ids = folders
    bundle = load_data(test_only, image_size=(64, 64), progress=False)
    assert list(bundle.splits) == ["test"] and list(bundle.split("test").ids) == sorted(ids)
    assert bundle.split_info["evaluation_only"] is True


def test_evaluate_scores_all_images_of_a_foreign_dataset(folders, tmp_path):
    test_only, own, ids = folders
    config = recipe("fast", image_size=(64, 64), epochs=1, batch_size=4)
    data = load_data(own, image_size=(64, 64), progress=False)
    run_dir = tmp_path / "run"
    train_genotype(PRESETS["egeunet"].genotype, config, data, out_dir=run_dir, progress=False)
    mine = evaluate_run(run_dir, str(own), progress=False)
    assert mine["split"] == "val" and mine["images"] == len(data.split("val")) == 3
    assert "own dataset" in mine["split_reason"]
    foreign = evaluate_run(run_dir, str(test_only), progress=False)
    assert foreign["split"] == "all" and foreign["images"] == 5
    assert "not the run's training data" in foreign["split_reason"]
    table = pd.read_csv(Path(foreign["out_dir"]) / "per_image.csv")
    assert sorted(table["id"]) == sorted(ids)
    explicit = evaluate_run(run_dir, str(test_only), split="test", progress=False)
    assert explicit["split"] == "test" and explicit["split_reason"] == "--split test"
    assert explicit["metrics"] == foreign["metrics"]


def test_confirm_external(folders, tmp_path):
    test_only, _, _ = folders
    outcome = run_search(
        options_from(
            trials=2,
            epochs=1,
            image_size=(64, 64),
            limit=16,
            sampler="random",
            seed=1,
            workers="1",
            progress=False,
            report=False,
            out=str(tmp_path),
        )  # fmt: skip
    )
    confirmed = run_confirm(
        outcome.study_name, seeds=2, epochs=1, out_root=tmp_path, progress=False, workers=1,
        external={"isic17test": str(test_only)},
    )  # fmt: skip
    table = pd.read_csv(confirmed.csv)
    col = "isic17test_dice_per_image_mean_mean"
    assert col in table and table[col].notna().all()
    for record in confirmed.records.values():
        ext = record["external"]["isic17test"]
        assert ext["images"] == 5 and len(ext["values"]) == 2
        assert ext["mean_std"][0] == pytest.approx(sum(ext["values"]) / 2)
    view = load_study_view(outcome.study_name, outcome.storage)
    assert all("isic17test" in c.external for c in view.confirms.values())
    with pytest.raises(FileNotFoundError, match="--external nowhere"):
        run_confirm(outcome.study_name, seeds=1, out_root=tmp_path, progress=False, workers=1,
                    external={"nowhere": str(tmp_path / "missing")})  # fmt: skip
