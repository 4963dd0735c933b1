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
from studies.evidence.stats import mean_std
from studies.search.run import study_counts
from studies.store.spec import StudySpec, check_comparable

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "evidence" / "studies"
ISIC = ROOT.parent / "shared" / "data" / "isic2017"
SECTION1 = [f"ev-{s}-s{k}" for s in ("random", "tpe") for k in range(3)]  # docs/evidence.md 1
MISSION = "ev-mission-local-s0"  # docs/evidence.md 5
# docs/evidence.md 6: live local vs random at the mission's budgets, 50 trained candidates each
SECTION6 = [*(f"ev-mission-random-s{k}" for k in range(3)), "ev-mission-local-s1",
            "ev-mission-local-s2"]  # fmt: skip
# docs/evidence.md 7: the live noise-aware search (promote:2:1, local + SH, floor 0.73)
LIVE = "ev-noise-live-s0"
# docs/evidence.md 8: the same plan in the wide space (--space wide)
WIDE = "ev-wide-live-s0"
# docs/evidence.md 9: the search whose budgets admit the seven published models (issue 32)
RIVALS = "ev-rivals-local-s0"
# docs/evidence.md 9: the ties against a wide-space search at ULRTS-Net's budgets
RIVALS_WIDE = "ev-rivals-wide-s0"
WIDE_INCLUDED = [str(ROOT / "docs" / "evidence" / f"{f}.json") for f in (  # as run.sh names them
    "wide-651cc08b5de0", "found-2d26ca2191b0", "found-a3f9c2077009", "found-de8746f76dc3",
    "found-8e2820f86c21", "found-bab8df142c44", "found-d015c0ad0680", "rival-26fed41710e0",
    "rival-1958f22695a0", "rival-10a5f9893565")]  # fmt: skip
FOUND = [str(ROOT / "docs" / "evidence" / f"found-{i}.json") for i in (  # as run.sh names them
    "2d26ca2191b0", "8936cd3c5380", "8e2820f86c21", "a3f9c2077009", "bab8df142c44",
    "d015c0ad0680", "de8746f76dc3")]  # fmt: skip
NAMES = [*SECTION1, MISSION, *SECTION6, LIVE, WIDE, RIVALS, RIVALS_WIDE]
# docs/evidence/run.sh's flags for each study: COMMON / MISSION, then the strategy
COMMON = [
    "--data", str(ISIC), "--image-size", "64", "64", "--epochs", "2", "--include-presets",
    "--no-report",
]  # fmt: skip
FLAGS = {
    **{n: ["--budget-params", "0.2M", "--trials", "20"] for n in SECTION1},
    MISSION: ["--budget-params", "177943", "--budget-gflops", "0.0104", "--trials", "100"],
    **{n: ["--budget-params", "177943", "--budget-gflops", "0.0104", "--trials", "50"]
       for n in SECTION6},
    LIVE: ["--budget-params", "177943", "--budget-gflops", "0.0104", "--trials", "100"],
    WIDE: ["--budget-params", "177943", "--budget-gflops", "0.0104", "--trials", "100"],
    RIVALS: ["--budget-params", "0.9M", "--budget-gflops", "0.104", "--trials", "100"],
    RIVALS_WIDE: ["--budget-params", "406115", "--budget-gflops", "21.131792M", "--trials",
                  "100"],
}  # fmt: skip
BUDGETS = {**{n: {"params": 200_000} for n in SECTION1},
           **{n: {"params": 177_943, "macs": 10_400_000}
              for n in (MISSION, *SECTION6, LIVE, WIDE)},
           RIVALS: {"params": 900_000, "macs": 104_000_000},
           RIVALS_WIDE: {"params": 406_115, "macs": 21_131_792}}  # fmt: skip


def strategy(name: str) -> list[str]:
    if name in (LIVE, WIDE):
        space = ["--space", "wide"] if name == WIDE else []
        return ["--sampler", "local", "--prune-rule", "sh", "--promote", "2:1", "--min-accuracy",
                "0.73", *space, "--seed", "0"]  # fmt: skip
    if name == RIVALS:
        included = [a for f in FOUND for a in ("--include-genotype", f)]
        return ["--sampler", "local", "--prune-rule", "sh", *included, "--seed", "0"]
    if name == RIVALS_WIDE:
        included = [a for f in WIDE_INCLUDED for a in ("--include-genotype", f)]
        return ["--sampler", "local", "--space", "wide", *included, "--seed", "0"]
    sampler, seed = name.removeprefix("ev-").removeprefix("mission-").split("-s")
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


def test_every_stored_study_is_checked_here():
    assert sorted(p.stem for p in STORED.glob("*.db")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_stored_study_loads_with_its_budget(copies: Path, name: str):
    view = load_study_view(name, _url(copies, name))
    assert view.budgets == BUDGETS[name]
    assert view.objectives == ("accuracy", "params", "macs")
    trials = int(FLAGS[name][FLAGS[name].index("--trials") + 1])
    study = optuna.load_study(study_name=name, storage=_url(copies, name))
    assert study_counts(study)["trained"] == trials  # what --trials counts (pruned ones too)
    spec = StudySpec.from_dict(view.spec)
    assert spec.budgets == BUDGETS[name] and spec.latency_runtime == "ort_cpu"


@pytest.mark.skipif(not ISIC.is_dir(), reason="needs ../shared/data/isic2017")
@pytest.mark.parametrize("name", NAMES)
def test_stored_study_resumes_with_its_command(copies: Path, name: str):
    """run.sh's own command on the stored study: accepted as the same study, nothing trained
    (all its candidates are there), every trial kept."""
    url = _url(copies, name)
    before = len(optuna.load_study(study_name=name, storage=url).trials)
    cmd = [sys.executable, str(ROOT / "search.py"), *FLAGS[name], *COMMON, *strategy(name),
           "--study", name,
           "--storage", url, "--out", str(copies / "out")]  # fmt: skip
    proc = subprocess.run(cmd, cwd=copies, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    trials = FLAGS[name][FLAGS[name].index("--trials") + 1]
    assert f"{trials}/{trials} candidates trained" in proc.stdout
    assert len(optuna.load_study(study_name=name, storage=url).trials) == before


def _compare_as_said(copies: Path, groups: dict[str, list[str]], at: int, said: dict) -> dict:
    """Compare the stored ``groups`` after ``at`` trained candidates; each group's HV mean and sd
    (3 studies) as ``said`` (docs/evidence.md's figures); returns the one test between them."""
    names = [n for ns in groups.values() for n in ns]
    check_comparable([(n, load_study_view(n, _url(copies, n)).spec) for n in names])
    cmp = compare(groups, at=at)
    assert cmp.at == at
    for group, (mean, sd) in said.items():
        got = mean_std([final_hv(c, at) for c in cmp.groups[group]])
        assert got.n == 3
        assert got.mean == pytest.approx(mean, abs=5e-4)
        assert got.std == pytest.approx(sd, abs=5e-4)
    (test,) = cmp.tests
    return test


def test_stored_studies_compare_as_docs_evidence_says(copies: Path, monkeypatch):
    """docs/evidence.md section 1: HV after 20 trained candidates, TPE 1.925 +- 0.244, random
    1.816 +- 0.055 (3 studies each), Mann-Whitney U = 6, p = 0.70."""
    monkeypatch.chdir(copies)
    groups = {
        "tpe": [n for n in SECTION1 if "-tpe-" in n],
        "random": [n for n in SECTION1 if "-random-" in n],
    }
    test = _compare_as_said(copies, groups, 20, {"tpe": (1.925, 0.244), "random": (1.816, 0.055)})
    assert test["mannwhitney_u"] in (3.0, 6.0)  # U of either group: 9 - 6 = 3
    assert test["mannwhitney_p"] == pytest.approx(0.70, abs=5e-3)


def test_stored_mission_studies_compare_as_docs_evidence_says(copies: Path, monkeypatch):
    """docs/evidence.md section 6: at the mission's budgets, HV after 50 trained candidates,
    local 1.0757 +- 0.0406, random 0.8822 +- 0.0507 (3 studies each; local seed 0 is the section
    5 search, read after its first 50), Welch p = 0.0076, Mann-Whitney U = 9 (or 0), p = 0.10."""
    monkeypatch.chdir(copies)
    groups = {
        "local": [MISSION, "ev-mission-local-s1", "ev-mission-local-s2"],
        "random": [n for n in SECTION6 if "-random-" in n],
    }
    said = {"local": (1.0757, 0.0406), "random": (0.8822, 0.0507)}
    test = _compare_as_said(copies, groups, 50, said)
    assert test["mannwhitney_u"] in (0.0, 9.0)  # every local study above every random one
    assert test["mannwhitney_p"] == pytest.approx(0.10, abs=5e-3)
    assert test["welch_p"] == pytest.approx(0.0076, abs=2e-4)
