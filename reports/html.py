"""Static HTML pages of the report: index, analysis; shared page frame. Work from file://."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import pandas as pd

from studies import objectives as objectives_table
from studies.store.trial_state import tally

from .extract import FactorData, HypervolumeData, ImportanceData
from .study import StudyView

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1300px;padding:0 16px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3}code,pre{background:#f6f6f6}
pre{padding:8px;overflow:auto;font-size:12px}.warn{color:#a04000;font-weight:bold}
.synthetic{background:#fff3cd;border:1px solid #e0b000;padding:6px 10px}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-size:12px}
"""


def page(title: str, body: str) -> str:
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def banner(view: StudyView) -> str:
    if view.data.get("synthetic"):
        return (
            "<p class='synthetic'>SYNTHETIC data: every metric here was measured on generated "
            "images, not on real dermoscopy.</p>"
        )
    return ""


def table_html(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, raw: bool = False
) -> str:
    """A plain table; cells are escaped unless ``raw`` (for cells that hold links)."""
    cell = (lambda v: str(v)) if raw else (lambda v: escape(str(v)))
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def spec_rows(view: StudyView) -> list[tuple[str, str]]:
    objectives = ", ".join(
        f"{o} ({d})" for o, d in zip(view.objectives, view.directions, strict=True)
    )
    d = view.data
    size = "x".join(map(str, view.image_size)) if view.image_size else "unknown"
    return [
        ("objectives", objectives),
        ("accuracy metric", f"{view.metric} (validation split)"),
        ("MAC counter", view.counter),
        ("budgets", objectives_table.budget_text(view)),
        ("accuracy floor", "none" if view.min_accuracy is None else f"{view.min_accuracy:g} (below it: never on the front)"),
        ("image size", size),
        ("data", f"{d.get('name', '?')}{' (SYNTHETIC)' if d.get('synthetic') else ''}, fingerprint {str(d.get('fingerprint', '?'))[:12]}"),
        ("storage", view.storage),
    ]  # fmt: skip


def state_counts(view: StudyView) -> list[tuple[str, int]]:
    """The search's own tally (``studies.store.trial_state.tally``, the numbers its summary prints),
    and how many trained networks are scored within budget (the plotted ones)."""
    c = tally(list(view.trials))
    rows = [
        ("trials", c["trials"]),
        ("trained (what --trials counts)", c["trained"]),
        ("  of them pruned", c["pruned"]),
        ("  of them failed", c["failed"]),
        ("  of them running", c["running"]),
        ("over budget (not trained)", c["over_budget"]),
        ("duplicates (not trained)", c["duplicate"]),
        ("killed and retried", c["retried"]),
        ("scored within budget, unique (plotted)", sum(view.is_trained(r) for r in view.records)),
    ]
    return [(k, v) for k, v in rows if v or not k.startswith("  ")]


def _blank_cell(v) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v == ""


def _fmt_cell(v, signed: bool = False) -> str:
    import numbers

    if isinstance(v, numbers.Real) and not isinstance(v, bool):
        if abs(float(v)) < 1 and float(v) != 0:
            return f"{float(v):+.4f}" if signed else f"{float(v):.4f}"
        return f"{float(v):,.0f}"
    return str(v)


def dashboard_command(storage: str) -> str:
    """optuna-dashboard takes an RDB URL, or the path of a journal file."""
    target = storage[len("journal:") :] if storage.startswith("journal:") else storage
    return f"optuna-dashboard {target}"


def index_html(
    view: StudyView,
    front: pd.DataFrame,
    cards: dict[int, str],
    warnings: list[str],
    notes: list[str],
    rivals: pd.DataFrame | None = None,
) -> str:
    parts = [f"<h1>Study {escape(view.name)}</h1>", banner(view)]
    parts += [f"<p class='warn'>{escape(w)}</p>" for w in warnings]
    parts.append(table_html(["setting", "value"], spec_rows(view)))
    parts.append(table_html(["trials", "count"], state_counts(view)))
    links = [
        ("pareto.html", "accuracy vs params and vs MACs (interactive, offline)"),
        ("pareto.png", "the same, static (for papers)"),
        ("analysis.html#hypervolume", "hypervolume over trials"),
        ("analysis.html#importance", "parameter importance per objective"),
        ("analysis.html#factors", "search-space factors vs accuracy"),
        ("trials.csv", "every trial, one row"),
        ("front.csv", "front and published models (raw numbers)"),
        ("front.md", "the same as Markdown"),
        ("front.tex", "the same as LaTeX (booktabs)"),
        ("rivals.md", "each published model against its cheaper front members (also .csv)"),
    ]
    items = []
    for href, text in links:
        if href == "pareto.png" and any("pareto.png" in w for w in warnings):
            items.append("<li>pareto.png: not written (see the warning above)</li>")
            continue
        items.append(f"<li><a href='{href}'>{escape(href)}</a>: {escape(text)}</li>")
    parts.append("<h2>Contents</h2><ul>" + "".join(items) + "</ul>")
    parts.append("<h2>Front and published models</h2>")
    if len(front):
        rows = []
        for row in front.itertuples(index=False):
            values = [escape(str(v)) for v in row]
            trial = row[list(front.columns).index("trial")] if "trial" in front.columns else None
            key = int(trial) if str(trial).isdigit() else None
            if key in cards:
                values[0] = f"<a href='cards/{cards[key]}'>{values[0]}</a>"
            rows.append(values)
        parts.append(table_html(list(front.columns), rows, raw=True))
    else:
        parts.append("<p>No trained, within-budget trial yet: no front.</p>")
    parts += [f"<p>{escape(n)}</p>" for n in notes]
    if rivals is not None and len(rivals):
        parts.append("<h2>Published models and their cheaper rivals</h2>")
        parts.append(
            "<p>Front members with at most the published model's params and thop MACs "
            "(* reaches its validation score at the search fidelity). The verdicts need "
            f"<code>python search.py confirm --study {escape(view.name)} --published</code>: "
            "Δ Dice paired per (seed, image) on the validation split, 95 % bootstrap CI; beats: "
            "CI above 0, matches: CI within ±0.005, loses: CI below 0, else inconclusive.</p>"
        )
        signed = [("Δ" in c or "CI" in c) for c in rivals.columns]
        cells = [
            [
                "-" if _blank_cell(v) else _fmt_cell(v, sign)
                for v, sign in zip(row, signed, strict=True)
            ]
            for row in rivals.itertuples(index=False)
        ]
        parts.append(table_html(list(rivals.columns), cells))
    parts.append(
        "<h2>Interactive exploration</h2><p>The study opens as it is in optuna-dashboard "
        f"(<code>pip install optuna-dashboard</code>): <code>{escape(dashboard_command(view.storage))}"
        "</code></p>"
    )
    return page(f"{view.name} report", "\n".join(parts))


def analysis_html(
    view: StudyView,
    figures: dict[str, object | None],
    hv: HypervolumeData,
    importance: ImportanceData,
    factors: FactorData,
) -> str:
    """Hypervolume, importance and factor plots on one page, plotly.js inlined once."""
    parts = [
        f"<p><a href='index.html'>← report index</a></p><h1>{escape(view.name)}: analysis</h1>"
    ]
    parts.append(banner(view))
    first = True

    def fig_html(fig) -> str:
        nonlocal first
        html = fig.to_html(full_html=False, include_plotlyjs=first)
        first = False
        return html

    parts.append("<h2 id='hypervolume'>Hypervolume over trials</h2>")
    parts.append(fig_html(figures["hypervolume"]) + f"<p>{escape(hv.note)}</p>")
    parts.append("<h2 id='importance'>Parameter importance per objective</h2>")
    if figures.get("importance") is not None:
        parts.append(fig_html(figures["importance"]))
        parts.append(
            "<p>Optuna's default evaluator (PED-ANOVA) on the trained, within-budget trials, one "
            "objective at a time.</p>"
        )
    else:
        parts.append(f"<p class='warn'>{escape(importance.message or 'no importance')}</p>")
    parts.append("<h2 id='factors'>Search-space factors vs accuracy</h2>")
    if figures.get("factors") is not None:
        parts.append(fig_html(figures["factors"]))
        for name, levels in factors.factors.items():
            rows = [
                (lv.value, len(lv.accuracies), f"{lv.best:.4f}", f"{lv.median:.4f}")
                for lv in levels
            ]
            parts.append(f"<h3>{escape(name)}</h3>")
            parts.append(
                table_html([name, "trials", f"best val {factors.metric_label}", "median"], rows)
            )
    else:
        parts.append("<p>No trained trial yet.</p>")
    return page(f"{view.name} analysis", "\n".join(parts))
