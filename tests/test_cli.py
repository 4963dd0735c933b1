"""The command line, run as a user runs it: presets, cost, train on real data, evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from searchspace.presets import PRESETS
from trainer.data import read_mask
from trainer.metrics import per_image_metrics

ROOT = Path(__file__).resolve().parents[1]
ISIC2017 = ROOT.parent / "shared" / "data" / "isic2017"


def run(*args: str, cwd: Path = ROOT, env_cache: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if env_cache is not None:
        import os

        env = {**os.environ, "LESION_NAS_CACHE": str(env_cache)}
    return subprocess.run(
        [sys.executable, str(ROOT / "search.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_help_names_every_verb():
    out = run("--help")
    assert out.returncode == 0
    for verb in ("presets", "cost", "train", "evaluate"):
        assert verb in out.stdout


def test_presets_json_lists_every_named_genotype_with_costs():
    out = run("presets", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["name"] for r in rows] == list(PRESETS)
    for r in rows:
        assert {"name", "params", "macs_thop", "macs_torch"} <= set(r)
        assert r["params"] > 0 and r["macs_thop"] > 0 and r["macs_torch"] > 0
    by_name = {r["name"]: r for r in rows}
    assert by_name["scsonet"]["params"] == 159_439
    assert by_name["malunet"]["params"] == 177_943


def test_presets_table_and_csv():
    table = run("presets")
    assert table.returncode == 0 and "scsonet" in table.stdout and "159,439" in table.stdout
    csv = run("presets", "--format", "csv")
    assert csv.stdout.splitlines()[0].startswith("name,params,macs_thop,macs_torch")


def test_cost_of_a_genotype_file_and_bad_input(tmp_path):
    path = tmp_path / "g.json"
    path.write_text(PRESETS["malunet"].genotype.to_json())
    out = run("cost", "--genotype", str(path), "--image-size", "192", "256", "--format", "json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["params"] == 177_943 and record["image_size"] == [192, 256]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**json.loads(path.read_text()), "compression": 3}))
    out = run("cost", "--genotype", str(bad))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: invalid genotype 'malunet': compression factor N must be a power of two in 2..32, got 3"
    ]
    out = run("cost", "--preset", "malunet", "--image-size", "100")
    assert (
        out.returncode == 2
        and "not a positive multiple of the network's total stride 32" in out.stderr
    )


@pytest.mark.skipif(not ISIC2017.is_dir(), reason="needs ../shared/data/isic2017")
def test_train_then_evaluate_on_real_isic2017(tmp_path):
    run_dir = tmp_path / "run"
    out = run(
        "train",
        "--preset",
        "egeunet",
        "--data",
        str(ISIC2017),
        "--epochs",
        "1",
        "--image-size",
        "64",
        "--limit",
        "16",
        "--batch-size",
        "8",
        "--out",
        str(run_dir),
        env_cache=tmp_path / "cache",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "on 150 validation images" in out.stdout
    for name in (
        "genotype.json",
        "train_config.json",
        "split.json",
        "history.csv",
        "metrics.json",
        "cost.json",
        "model.pt",
    ):
        assert (run_dir / name).is_file(), name
    split = json.loads((run_dir / "split.json").read_text())
    assert len(split["split_info"]["ids"]["train"]) == 16
    torch.load(run_dir / "model.pt", weights_only=True)

    preds = tmp_path / "preds"
    out = run(
        "evaluate",
        "--run",
        str(run_dir),
        "--data",
        str(ISIC2017),
        "--split",
        "val",
        "--save-predictions",
        str(preds),
        env_cache=tmp_path / "cache",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    table = pd.read_csv(run_dir / "eval" / "isic2017-val-original" / "per_image.csv")
    assert len(table) == 150 and table["id"].str.match(r"ISIC_\d{7}$").all()
    # Re-score three saved predictions against the original masks: same numbers as the table.
    for _, row in table.head(3).iterrows():
        pred = np.asarray(Image.open(preds / f"{row['id']}.png"))
        assert set(np.unique(pred)) <= {0, 255}
        truth = read_mask(
            ISIC2017 / "ISIC-2017_Validation_Part1_GroundTruth" / f"{row['id']}_segmentation.png"
        )
        assert pred.shape == truth.shape
        ref = per_image_metrics(
            torch.from_numpy(pred > 0)[None, None],
            torch.from_numpy(truth.astype(np.uint8))[None, None],
        )
        assert ref["dice"][0] == pytest.approx(row["dice"], abs=1e-12)
        assert ref["hd95"][0] == pytest.approx(row["hd95"], abs=1e-9)


def test_train_refuses_bad_input_without_writing(tmp_path):
    out = run(
        "train",
        "--preset",
        "malunet",
        "--data",
        str(tmp_path / "missing"),
        "--out",
        str(tmp_path / "r"),
    )
    assert out.returncode == 2 and out.stderr.startswith("error: ")
    assert not (tmp_path / "r").exists()
    out = run("train", "--preset", "malunet", "--image-size", "48", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "not a multiple of" in out.stderr
    assert not (tmp_path / "r").exists()
    out = run("train", "--preset", "malunet", "--recipe", "nope", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "nope" in out.stderr


def test_every_preset_names_an_existing_recipe():
    from trainer import RECIPES

    for preset in PRESETS.values():
        assert preset.recipe in RECIPES, preset.name


def test_ablate_refuses_bad_input_with_one_line():
    out = run("ablate", "--plan", "nope", "--out", "/nonexistent-never-written")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: unknown plan 'nope'; known: ulrts-attention, ulrts-modules, lmsa-compression, "
        "scsonet-scf, scsonet-modules"
    ]
    out = run("ablate", "--base", "scsonet", "--factors", "colour")
    assert out.returncode == 2 and "unknown factor(s) colour" in out.stderr
    assert not Path("/nonexistent-never-written").exists()


@pytest.mark.parametrize(
    "verb, func",
    [
        ("confirm", "studies.evidence.confirm:run_confirm"),
        ("fidelity", "studies.evidence.fidelity:run_fidelity"),
        ("proxies", "studies.evidence.proxies:run_proxies"),
        ("ablate", "studies.ablation.run:ablate"),
    ],
)
def test_each_verbs_defaults_are_its_library_functions(verb, func):
    """A flag left out means what the library function's keyword default means (issue 31: the
    CLI said --workers auto where run_confirm defaulted to 1)."""
    import importlib

    from cli.main import build_parser
    from cli.options import defaults_of

    module, name = func.split(":")
    defaults = defaults_of(getattr(importlib.import_module(module), name))
    sub = next(a for a in build_parser()._actions if a.dest == "verb").choices[verb]
    flags = {a.dest: a.default for a in sub._actions}
    names = {"recipe": "recipe_name", "out": "out_root", "data": "data_source"}
    checked = 0
    for dest, default in flags.items():
        key = names.get(dest, dest)
        if key in defaults and default is not None and dest not in ("out", "help"):
            assert default == defaults[key], (verb, dest, default, defaults[key])
            checked += 1
    assert checked >= 1
