"""The studies committed under docs/evidence/studies still load, resume and compare.

They were stored by an older lesion-nas (budgets as ``budget_params`` / ``budget_macs`` fields, no
latency settings); every check runs on a copy, so the committed files are never written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from reports.compare import compare, final_hv
from reports.study import load_study_view
from studies.spec import StudySpec, check_comparable
from studies.stats import mean_std

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "evidence" / "studies"
ISIC = ROOT.parent / "shared" / "data" / "isic2017"
NAMES = sorted(p.stem for p in STORED.glob("ev-*.db"))
# docs/evidence/run.sh's COMMON flags and each study's strategy flags
COMMON = [
    "--budget-params", "0.2M", "--data", str(ISIC), "--image-size", "64", "64", "--epochs", "2",
    "--trials", "20", "--include-presets", "--no-report",
]  # fmt: skip


def strategy(name: str) -> list[str]:
    sampler, seed = name.removeprefix("ev-").split("-s")
    extra = ["--population", "6"] if sampler == "tpe" else []
    return ["--sampler", sampler, *extra, "--seed", seed]


@pytest.fixture()
def copies(tmp_path: Path) -> Path:
    for name in NAMES:
        (tmp_path / "runs" / name).mkdir(parents=True)
        shutil.copy(STORED / f"{name}.db", tmp_path / "runs" / name / "study.db")
    return tmp_path


def _url(root: Path, name: str) -> str:
    return f"sqlite:///{root / 'runs' / name / 'study.db'}"


def test_the_six_evidence_studies_are_there():
    assert NAMES == [f"ev-{s}-s{k}" for s in ("random", "tpe") for k in range(3)]


@pytest.mark.parametrize("name", NAMES)
def test_stored_study_loads_with_its_budget(copies: Path, name: str):
    view = load_study_view(name, _url(copies, name))
    assert view.budgets == {"params": 200_000}
    assert view.budget("macs") is None
    assert view.objectives == ("accuracy", "params", "macs")
    assert sum(view.is_trained(r) for r in view.records) == 20
    spec = StudySpec.from_dict(view.spec)
    assert spec.budgets == {"params": 200_000} and spec.latency_runtime == "ort_cpu"


@pytest.mark.skipif(not ISIC.is_dir(), reason="needs ../shared/data/isic2017")
@pytest.mark.parametrize("name", NAMES)
def test_stored_study_resumes_with_its_command(copies: Path, name: str):
    """run.sh's own command on the stored study: accepted as the same study, nothing trained
    (20 of 20 candidates are there), every trial kept."""
    url = _url(copies, name)
    before = len(optuna.load_study(study_name=name, storage=url).trials)
    cmd = [sys.executable, str(ROOT / "search.py"), *COMMON, *strategy(name), "--study", name,
           "--storage", url, "--out", str(copies / "out")]  # fmt: skip
    proc = subprocess.run(cmd, cwd=copies, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "20/20 candidates trained" in proc.stdout
    assert len(optuna.load_study(study_name=name, storage=url).trials) == before


def test_stored_studies_compare_as_docs_evidence_says(copies: Path, monkeypatch):
    """docs/evidence.md section 1: HV after 20 trained candidates, TPE 1.925 +- 0.244, random
    1.816 +- 0.055 (3 studies each), Mann-Whitney U = 6, p = 0.70."""
    monkeypatch.chdir(copies)
    specs = [(n, load_study_view(n, _url(copies, n)).spec) for n in NAMES]
    check_comparable(specs)
    groups = {
        "tpe": [n for n in NAMES if "-tpe-" in n],
        "random": [n for n in NAMES if "-random-" in n],
    }
    cmp = compare(groups)
    assert cmp.at == 20
    for group, (mean, sd) in {"tpe": (1.925, 0.244), "random": (1.816, 0.055)}.items():
        got = mean_std([final_hv(c, 20) for c in cmp.groups[group]])
        assert got.n == 3
        assert got.mean == pytest.approx(mean, abs=5e-4)
        assert got.std == pytest.approx(sd, abs=5e-4)
    (test,) = cmp.tests
    assert test["mannwhitney_u"] in (3.0, 6.0)  # U of either group: 9 - 6 = 3
    assert test["mannwhitney_p"] == pytest.approx(0.70, abs=5e-3)
