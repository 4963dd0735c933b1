"""``build_report``: read a study, write ``runs/<study>/report/`` (index, plots, tables, cards).

The study is read first, so a missing or empty study is one ``ReportError`` and nothing is
written. The report is assembled in a temporary folder beside its destination and moved into
place at the end, so a failed build never leaves half a report.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from runner.latency import latency_note, measure_latency_ms
from searchspace import Genotype

from . import plots
from .cards import card_html, card_name
from .extract import (
    PublishedReference,
    factor_data,
    front_records,
    hypervolume_data,
    importance_data,
    pareto_data,
)
from .html import analysis_html, index_html
from .images import Samples, load_samples
from .study import ReportError, StudyView, default_storage, load_study_view
from .tables import (
    display_table,
    front_table,
    rivals_table,
    trials_table,
    write_rivals,
    write_tables,
)

MARKER = ".lesion-nas-report"


def _with_run_costs(view: StudyView) -> StudyView:
    """Fill a missing activation count from the run folder's cost.json."""
    records = []
    for r in view.records:
        cost = Path(r.run_dir) / "cost.json" if r.run_dir else None
        if r.act_bytes is None and cost is not None and cost.is_file():
            act = json.loads(cost.read_text()).get("act_bytes")
            r = dataclasses.replace(r, act_bytes=act)
        records.append(r)
    return dataclasses.replace(view, records=tuple(records))


def preset_references(view: StudyView) -> tuple[list[PublishedReference], dict[str, dict]]:
    """The published models not trained in this study, costed at the study's image size."""
    from searchspace.cost import count_cost
    from searchspace.presets import PRESETS

    if view.image_size is None:
        return [], {}
    trained = {r.preset for r in view.records if r.preset}
    refs, costs = [], {}
    h, w = view.image_size
    for name, preset in PRESETS.items():
        g = preset.genotype
        if name in trained or h % g.stride or w % g.stride:
            continue
        cost = count_cost(g, view.image_size)
        refs.append(PublishedReference(name, cost.params, cost.macs(view.counter)))
        costs[name] = {**cost.to_dict(), "summary": g.summary(), "genotype_id": g.id}
    return refs, costs


def _card_records(view: StudyView):
    front = {r.number for r in front_records(view)}
    out = []
    for r in view.records:
        published = bool(r.preset) and view.is_trained(r)
        if r.number in front or published:
            role = "Pareto front" + (", published model" if published else "")
            out.append((r, role if r.number in front else "published model (trained here)"))
    return out


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / MARKER).is_file())
    ):
        raise ReportError(f"{out_dir} exists and is not a lesion-nas report; choose another --out")


def _write(view: StudyView, out: Path, *, latency: bool, references: bool) -> None:
    warnings: list[str] = []
    notes: list[str] = []
    refs, ref_costs = preset_references(view) if references else ([], {})
    pareto = pareto_data(view, refs)
    fig = plots.plot_pareto(pareto)
    fig.write_html(out / "pareto.html", include_plotlyjs=True, full_html=True)
    png_warning = plots.export_png(fig, out / "pareto.png")
    if png_warning:
        warnings.append(png_warning)
    hv, imp, fac = hypervolume_data(view), importance_data(view), factor_data(view)
    figures = {
        "hypervolume": plots.plot_hypervolume(hv),
        "importance": plots.plot_importance(imp),
        "factors": plots.plot_factors(fac),
    }
    (out / "analysis.html").write_text(analysis_html(view, figures, hv, imp, fac), encoding="utf-8")

    cards = _card_records(view)
    latency_ms: dict[int | str, float] = {}
    if latency and view.image_size is not None:
        for r, _ in cards:
            if r.genotype:
                latency_ms[r.number] = measure_latency_ms(
                    Genotype.from_dict(r.genotype), view.image_size
                )
        from searchspace.presets import PRESETS

        for ref in refs:
            latency_ms[ref.name] = measure_latency_ms(PRESETS[ref.name].genotype, view.image_size)
        notes.append(f"CPU latency: {latency_note()}, built untrained at the study's image size.")
    else:
        notes.append("CPU latency not measured for this report.")
    plan = view.promotion
    if plan is not None:
        from reports.extract import handed_over

        pick = handed_over(view)
        notes.append(
            f"Fidelity plan: every {plan.every} trained candidates the {plan.k} best unpromoted "
            f"front members were retrained at {plan.fidelity} with {plan.seeds} seed(s) "
            f"({len(view.promoted)} promoted); pairs are judged at the fullest fidelity both "
            "have; 'fullest' is the mean and 95 % t-interval over seeds; the network handed "
            f"over is {'none yet' if pick is None else (pick.preset or f'#{pick.number}')} (the "
            "best promoted mean); 'vs handed over' is the difference of means with its 95 % "
            "Welch interval, distinguishable when it excludes 0."
        )
    trials = trials_table(view)
    front = front_table(view, refs, latency_ms, ref_costs)
    write_tables(view, out, trials, front)
    rivals = rivals_table(view)
    write_rivals(view, out, rivals)

    (out / "cards").mkdir()
    first_run = next((r.run_dir for r, _ in cards if r.run_dir), None)
    samples = (
        load_samples(Path(first_run), source=view.data.get("source"))
        if first_run
        else Samples(None, "no validation images: no front member has a run folder")
    )
    names: dict[int, str] = {}
    for r, role in cards:
        names[r.number] = card_name(r)
        html = card_html(view, r, role=role, latency_ms=latency_ms.get(r.number), samples=samples)
        (out / "cards" / names[r.number]).write_text(html, encoding="utf-8")
    shown = display_table(front, view) if len(front) else front
    if len(front):
        shown.insert(1, "trial", front["trial"].map(lambda v: "-" if pd.isna(v) else int(v)))
    (out / "index.html").write_text(
        index_html(view, shown, names, warnings, notes, rivals), encoding="utf-8"
    )
    (out / MARKER).write_text(view.name + "\n", encoding="utf-8")


def build_report(
    study_name: str,
    storage: str | None = None,
    out_dir: Path | None = None,
    *,
    latency: bool = True,
    references: bool = True,
) -> Path:
    """Write the report of a study; return its folder (default ``runs/<study>/report``).

    ``storage`` defaults to ``sqlite:///runs/<study>/study.db``. ``latency=False`` skips the CPU
    timing; ``references=False`` leaves out the published models not trained in the study.
    Raises ``ReportError`` (a ``ValueError``) for a missing study or one with no complete trial.
    """
    storage = storage or default_storage(study_name)
    view = _with_run_costs(load_study_view(study_name, storage))
    out_dir = Path(out_dir) if out_dir is not None else Path("runs") / study_name / "report"
    _check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a report is meant to be shared
    try:
        _write(view, tmp, latency=latency, references=references)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
