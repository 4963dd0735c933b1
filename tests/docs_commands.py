"""The documented commands' cases and the machinery that runs them (tests/test_docs_commands.py
and tests/test_docs_commands_b.py, which share the commands out so that the two test processes
run them side by side).

Every command of the README and of docs/*.md runs as written, end to end, at smoke size.

The commands are read from the ```bash blocks of the documents themselves, so a command added to
the docs without a case here fails ``test_every_documented_command_has_a_case``, and a case whose
command left the docs fails too. Each command runs as a user runs it, in a fresh workspace laid
out like a checkout (``repo/`` with the real ``docs/``, ``shared/`` beside it, ``PH2/`` beside it
for ``--external``), with only smoke-size flags changed (``--trials 2``, ``--epochs 1``, 32x32,
``--limit 16``, fewer proxies): every other flag is the documented default. Each case asserts the
exit status and the files the command says it writes; no command may print a traceback.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ISIC = "../shared/data/isic2017"

SEARCH = {"--trials": ["2"], "--epochs": ["1"], "--image-size": ["32", "32"], "--limit": ["16"]}
TRAIN = {"--epochs": ["1"], "--image-size": ["32", "32"], "--limit": ["16"]}
# one seed: the ablation's statistics over seeds are tests/test_ablation.py's (2 seeds)
ABLATE = {"--seeds": ["1"], "--epochs": ["1"], "--image-size": ["32"], "--limit": ["16"]}
FIDELITY = {"--sample": ["2"], "--image-size": ["32", "32"], "--epochs": ["1"], "--limit": ["16"]}
CONFIRM = {"--epochs": ["1"]}
PROXIES = {"--proxies": ["synflow"], "--seeds": ["1"], "--batch-size": ["2"]}
REPORT_FILES = ("index.html", "pareto.html", "front.csv", "front.md", "front.tex", "trials.csv")
ABLATION_FILES = ("ablation.md", "ablation.tex", "ablation.csv", "ablation.html")
EVIDENCE = (
    "ev-tpe-s0",
    "ev-tpe-s1",
    "ev-tpe-s2",
    "ev-random-s0",
    "ev-random-s1",
    "ev-random-s2",
    "ev-mission-local-s0",
    "ev-mission-local-s1",
    "ev-mission-local-s2",
    "ev-mission-random-s0",
    "ev-mission-random-s1",
    "ev-mission-random-s2",
)
SYN = "search-synthetic-p400k"


def report(folder: str) -> tuple[str, ...]:
    return tuple(f"{folder}/{f}" for f in REPORT_FILES)


@dataclass(frozen=True)
class Case:
    smoke: dict = field(default_factory=dict)  # flag -> values: replaced, or appended
    writes: tuple[str, ...] = ()  # globs under repo/ that must match after the command
    needs: tuple[str, ...] = ()  # commands (as documented) that must have run before
    rc: int = 0
    says: str = ""  # text the output must hold
    replace: dict = field(default_factory=dict)  # token -> value ("{pg}" = a fresh PG database)
    skip: str = ""  # why this line is not run by this test


SEARCH_SYN = "python search.py --budget-params 0.4M"
SEARCH_ISIC = (
    "python search.py --budget-params 0.4M --budget-gflops 0.1 --include-presets --data "
    "../shared/data/isic2017"
)
RESTORE = "bash docs/evidence/run.sh restore"
TRAIN_CMD = (
    "python search.py train --preset scsonet --data ../shared/data/isic2017 --image-size 96 128 "
    "--epochs 4 --limit 512 --out runs/train/scsonet"
)
JOURNAL = (
    "python search.py --budget-params 0.4M --study demo-journal --storage "
    "journal:runs/demo-journal/journal.log"
)
PG_WORKER = (
    "python search.py --budget-params 0.4M --data DATA --study s1 --storage $URL --workers 1 "
    "--worker-id {k}"
)
SETUP = "set-up: CI's .ci/run runs the README's install and test commands themselves"
NOT_OURS = "a third-party program (optuna-dashboard), not part of lesion-nas"
EXAMPLE_HOST = "names an example database host; the two worker commands run on a private server"

CASES: dict[str, Case] = {
    'pip install -e ".[dev]"': Case(skip=SETUP),
    "python search.py --budget-params 0.4M --data isic2018 --study first-hour": Case(
        skip="downloads ISIC 2018 from the internet: tests/test_fetch.py runs the download "
        "against a local server, and the search verb runs on real data in the other cases"
    ),
    "python search.py report --study first-hour": Case(skip="needs the isic2018 search above"),
    "bash benchmarks/gpu.sh": Case(
        skip="the full GPU run; tests/test_gpu_suite.py runs its --smoke --device cpu path"
    ),
    "python -m pytest -q": Case(skip=SETUP),
    "python search.py --help": Case(says="verbs:"),
    SEARCH_SYN: Case(SEARCH, report(f"runs/{SYN}/report") + (f"runs/{SYN}/study.db",)),
    SEARCH_ISIC: Case(SEARCH, report("runs/search-isic2017-p400k-m100M/report")),
    f"python search.py report --study {SYN}": Case(
        writes=report(f"runs/{SYN}/report"), needs=(SEARCH_SYN,)
    ),
    f"python search.py confirm --study {SYN} --seeds 3 --external ph2=../PH2": Case(
        CONFIRM, (f"runs/{SYN}/confirm.csv",), needs=(SEARCH_SYN,), says=" ph2 dice_per_image_mean"
    ),
    f"python search.py confirm --study {SYN} --seeds 3": Case(
        CONFIRM, (f"runs/{SYN}/confirm.csv",), needs=(SEARCH_SYN,)
    ),
    RESTORE: Case(writes=tuple(f"runs/{s}/study.db" for s in EVIDENCE)),
    "python search.py compare --group tpe=ev-tpe-s0,ev-tpe-s1,ev-tpe-s2 --group "
    "random=ev-random-s0,ev-random-s1,ev-random-s2": Case(
        writes=tuple(f"runs/compare-tpe-vs-random/compare.{e}" for e in ("html", "csv", "md")),
        needs=(RESTORE,),
    ),
    "python search.py fidelity --study ev-tpe-s0,ev-random-s0 --sample 10 --image-size 96 96 "
    "--epochs 6": Case(
        FIDELITY,
        ("runs/ev-tpe-s0/fidelity/*-limit16/sample2-seeds1-vs-scsonet/fidelity.md",),
        needs=(RESTORE,),
    ),
    "python search.py proxies --study ev-tpe-s0,ev-random-s0 --seeds 3": Case(
        PROXIES, ("runs/ev-tpe-s0/proxies/proxies.md",), needs=(RESTORE,)
    ),
    "python search.py proxies --study ev-tpe-s0,ev-random-s0 --proxies synflow,snip --seeds 3": Case(
        PROXIES, ("runs/ev-tpe-s0/proxies/proxies.md",), needs=(RESTORE,)
    ),
    "python search.py --budget-params 0.2M --warm-start synflow:200:8 --warm-start-reference "
    "ev-random-s0": Case(
        {**SEARCH, "--warm-start": ["synflow:16:2"]},
        needs=(RESTORE,),
        rc=2,
        says="not above params",
    ),
    "python search.py ablate --plan lmsa-compression --data ../shared/data/isic2017 --image-size 64 "
    "--epochs 2 --seeds 3": Case(
        ABLATE, tuple(f"runs/ablate-lmsa-compression/report/{f}" for f in ABLATION_FILES)
    ),
    "python search.py ablate --base scsonet --factors stem,block,bridge --seeds 3": Case(
        ABLATE, tuple(f"runs/ablate-scsonet/report/{f}" for f in ABLATION_FILES)
    ),
    "python search.py presets": Case(says="scsonet"),
    "python search.py cost --preset scsonet --image-size 192 256": Case(says="159,439"),
    "python search.py space --budget-params 0.4M --budget-gflops 0.5": Case(
        {"--image-size": ["32"]}, says="42,544"
    ),
    TRAIN_CMD: Case(
        TRAIN, tuple(f"runs/train/scsonet/{f}" for f in ("model.pt", "metrics.json", "history.csv"))
    ),
    "python search.py evaluate --run runs/train/scsonet --data ../shared/data/isic2017 --split val "
    "--save-predictions preds/": Case(
        writes=("preds/*.png", "runs/train/scsonet/eval/*/per_image.csv"), needs=(TRAIN_CMD,)
    ),
    "python search.py export --run runs/train/scsonet --onnx scsonet.onnx": Case(
        writes=("scsonet.onnx",), needs=(TRAIN_CMD,)
    ),
    "python search.py --budget-params 0.4M --sampler local --promote 2:3 --promote-fidelity "
    "96x96:10 --study search-promote": Case(
        {**SEARCH, "--promote": ["1:1"], "--promote-fidelity": ["32x32:2"]},
        (
            *report("runs/search-promote/report"),
            "runs/search-promote/promote/32x32-e2/*/seed0/metrics.json",
        ),
        says="handed over: trial",
    ),
    "python search.py --budget-params 0.4M --backend ray --study search-ray": Case(
        SEARCH, report("runs/search-ray/report")
    ),
    "python search.py --budget-params 0.2M --objectives accuracy,params,latency --budget-latency "
    "15ms --study search-latency": Case(SEARCH, report("runs/search-latency/report")),
    # docs/evidence.md
    "python search.py train --genotype docs/evidence/found-8936cd3c5380.json --data "
    "../shared/data/isic2017 --recipe fast --image-size 96 96 --epochs 6 --seed 0": Case(
        TRAIN, ("runs/train/8936cd3c5380-*/metrics.json",)
    ),
    "python search.py train --genotype docs/evidence/found-d015c0ad0680.json --data "
    "../shared/data/isic2017 --recipe fast --image-size 96 96 --epochs 6 --seed 0": Case(
        TRAIN, ("runs/train/d015c0ad0680-*/metrics.json",)
    ),
    "python search.py train --preset scsonet --data ../shared/data/isic2017 --recipe fast "
    "--image-size 96 96 --epochs 6 --seed 0": Case(TRAIN, ("runs/train/scsonet-*/metrics.json",)),
    "python search.py train --genotype docs/evidence/found-2d26ca2191b0.json --data "
    "../shared/data/isic2017 --recipe fast --image-size 96 96 --epochs 10 --seed 0": Case(
        TRAIN, ("runs/train/2d26ca2191b0-*/metrics.json",)
    ),
    # docs/reports.md
    JOURNAL: Case(SEARCH, ("runs/demo-journal/journal.log", "runs/demo-journal/report/index.html")),
    "python search.py report --study demo-journal --storage journal:runs/demo-journal/journal.log "
    "--out somewhere/": Case(writes=report("somewhere"), needs=(JOURNAL,)),
    "pip install optuna-dashboard": Case(skip=NOT_OURS),
    f"optuna-dashboard sqlite:///runs/{SYN}/study.db": Case(skip=NOT_OURS),
    "optuna-dashboard runs/demo-journal/journal.log": Case(skip=NOT_OURS),
    # docs/search.md
    "python search.py --budget-params 0.4M --sampler local --study search-local": Case(
        SEARCH, report("runs/search-local/report")
    ),
    "python search.py --budget-params 0.4M --space wide --sampler local --study search-wide": Case(
        SEARCH, report("runs/search-wide/report")
    ),
    "python search.py train --genotype docs/demo-front/200b2d579229.json --image-size 64 64 "
    "--epochs 6": Case(TRAIN, ("runs/train/200b2d579229-*/metrics.json",)),
    "python search.py --budget-params 0.2M --data ../shared/data/isic2017 --image-size 64 64 "
    "--epochs 3 --trials 20 --workers 2": Case(SEARCH, report("runs/search-isic2017-p200k/report")),
    "python search.py --budget-params 400k --objectives accuracy,params --sampler tpe --seed 1 "
    "--study search-tpe": Case(SEARCH, report("runs/search-tpe/report")),
    'pip install -e ".[postgres]"': Case(skip=SETUP),
    "createdb -h db.example.org -U lesion lesion_nas": Case(skip=EXAMPLE_HOST),
    "URL=postgresql://lesion:PASSWORD@db.example.org:5432/lesion_nas": Case(skip=EXAMPLE_HOST),
    PG_WORKER.format(k=0): Case(SEARCH, replace={"DATA": ISIC, "$URL": "{pg}"}, says="trained"),
    PG_WORKER.format(k=1): Case(
        SEARCH, replace={"DATA": ISIC, "$URL": "{pg}"}, needs=(PG_WORKER.format(k=0),)
    ),
}


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command line of every ```bash block, in order."""
    out = []
    for doc in DOCS:
        block, lines = False, []
        for raw in doc.read_text().splitlines():
            if raw.startswith("```"):
                block = raw.strip() == "```bash" and not block
                continue
            if block:
                lines.append(raw)
        joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
        for line in joined.splitlines():
            text = line.split(" # ", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if text:
                out.append((doc.name, " ".join(text.split())))
    return out


def smoke_argv(command: str, case: Case, replace: dict) -> list[str]:
    argv = shlex.split(command)
    argv = [replace.get(a, a) for a in argv]
    for flag, values in case.smoke.items():
        if flag in argv:
            i = argv.index(flag)
            n = 1
            while i + n < len(argv) and not argv[i + n].startswith("--"):
                n += 1
            argv[i : i + n] = [flag, *values]
        else:
            argv += [flag, *values]
    if argv[:2] == ["python", "search.py"]:
        argv[:2] = [sys.executable, str(ROOT / "search.py")]
    return argv


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, isic2017_root):
    """``top/repo`` (cwd; ``docs`` is the real one), ``top/shared`` and ``top/PH2`` beside it."""
    top = tmp_path_factory.mktemp("docs-commands")
    repo = top / "repo"
    repo.mkdir()
    (repo / "docs").symlink_to(ROOT / "docs")
    (top / "shared").symlink_to(isic2017_root.parents[1])
    ph2 = top / "PH2"  # a flat images/ + masks/ folder, as PH2 can be laid out
    (ph2 / "images").mkdir(parents=True)
    (ph2 / "masks").mkdir()
    val = isic2017_root / "ISIC-2017_Validation_Data"
    for image in sorted(val.glob("ISIC_*.jpg"))[:6]:
        shutil.copy(image, ph2 / "images" / image.name)
        mask = (
            isic2017_root
            / "ISIC-2017_Validation_Part1_GroundTruth"
            / f"{image.stem}_segmentation.png"
        )
        shutil.copy(mask, ph2 / "masks" / f"{image.stem}.png")
    return repo


class Runner:
    def __init__(self, repo: Path, request) -> None:
        self.repo, self.request, self.done, self.pg = repo, request, {}, None

    def run(self, command: str) -> subprocess.CompletedProcess:
        if command in self.done:
            return self.done[command]
        case = CASES[command]
        for need in case.needs:
            prior = self.run(need)
            assert prior.returncode == CASES[need].rc, f"{need}:\n{prior.stderr[-3000:]}"
        replace = dict(case.replace)
        if "{pg}" in replace.values():
            if self.pg is None:  # one database for the commands that share a study
                server = self.request.getfixturevalue("pg_server")
                self.pg = server.create_database("docs_commands")
            replace = {k: (self.pg if v == "{pg}" else v) for k, v in replace.items()}
        argv = smoke_argv(command, case, replace)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            argv, cwd=self.repo, capture_output=True, text=True, timeout=600, env=env
        )
        self.done[command] = out
        return out


@pytest.fixture(scope="module")
def runner(workspace, request):
    return Runner(workspace, request)


def cluster(command: str) -> str:
    """The command a command's ``needs`` chain starts from: commands of one cluster share a
    workspace state, so they run in the same test file (one process)."""
    case = CASES.get(command)
    while case is not None and case.needs:
        command = case.needs[0]
        case = CASES.get(command)
    return command


# The clusters that tests/test_docs_commands_b.py runs (the rest: tests/test_docs_commands.py),
# chosen so that the two files take about as long (their --durations on 2 cores).
SECOND_FILE = (
    RESTORE,
    "python search.py space --budget-params 0.4M --budget-gflops 0.5",
    "python search.py ablate --base scsonet --factors stem,block,bridge --seeds 3",
    "python search.py ablate --plan lmsa-compression --data ../shared/data/isic2017 --image-size 64 "
    "--epochs 2 --seeds 3",
    PG_WORKER.format(k=0),
    "python search.py --budget-params 0.4M --backend ray --study search-ray",
)


def ids(second: bool) -> list[str]:
    """The documented commands this test runs, once each, in document order (the set-up and
    third-party lines are listed in CASES with the reason they are not run here); those of
    ``SECOND_FILE``'s clusters, or the others."""
    seen, out = set(), []
    for _, command in documented_commands():
        case = CASES.get(command)
        if command in seen or (case and case.skip) or (cluster(command) in SECOND_FILE) != second:
            continue
        seen.add(command)
        out.append(command)
    return out


def check(command: str, runner: Runner) -> None:
    """Run one documented command (after the ones it needs) and check its case."""
    case = CASES.get(command)
    assert case is not None, f"no case for {command!r}"
    out = runner.run(command)
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both[-4000:]
    assert out.returncode == case.rc, f"exit {out.returncode}:\n{out.stderr[-4000:]}"
    if case.says:
        assert case.says in both, both[-2000:]
    for pattern in case.writes:
        assert list(runner.repo.glob(pattern)), f"{command!r} did not write {pattern}"
