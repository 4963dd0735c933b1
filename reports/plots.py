"""Plotly renderers: each draws one data object of ``extract.py`` and computes nothing."""

from __future__ import annotations

import math
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .extract import FactorData, HypervolumeData, ImportanceData, ObjectivePanel, ParetoData

FRONT = "#d62728"
GREY = "#9e9e9e"
LIGHT = "#cfcfcf"
ANCHOR = "#1f4e99"
CONFIRM = "#111111"
PROMOTED = "#2ca02c"  # front members measured at the fuller fidelity


def _floor(data: ParetoData) -> float:
    """Where untrained (over-budget) candidates sit: just below the lowest accuracy."""
    accs = [p.accuracy for p in data.points if p.accuracy is not None]
    accs += [
        p.confirm_mean - (p.confirm_std or 0) for p in data.points if p.confirm_mean is not None
    ]
    if not accs:
        return 0.0
    low, high = min(accs), max(accs)
    return low - 0.08 * max(high - low, 0.05)


def _x(item, name: str):
    """A point's (or a reference's) value on a panel's cost axis."""
    costs = getattr(item, "costs", None)
    if costs and name in costs:
        return costs[name]
    return getattr(item, name, None)


def plot_pareto(data: ParetoData) -> go.Figure:
    """Accuracy vs each cost objective of the study (one panel each, log x where the objective
    says so), front in colour, the rest grey."""
    panels = list(data.panels) or [  # data made without panels: params and MACs, no budget
        ObjectivePanel("params", "parameters", True, None),
        ObjectivePanel("macs", f"MACs ({data.counter}, batch 1)", True, None),
    ]
    fig = make_subplots(
        rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.04,
        subplot_titles=[f"vs {p.title}" for p in panels],
    )  # fmt: skip
    floor = _floor(data)
    groups = (
        ("dominated", data.dominated, dict(color=LIGHT, size=8, line=dict(color=GREY, width=1))),
        ("pruned (stopped early)", data.pruned, dict(color="white", size=7, line=dict(color=GREY, width=1))),
        ("over budget (not trained, drawn at the floor)", data.over_budget, dict(color=GREY, size=7, symbol="x-thin", line=dict(color=GREY, width=1.5))),
        ("Pareto front", data.front, dict(color=FRONT, size=11, line=dict(color="black", width=1))),
    )  # fmt: skip
    for col, panel in enumerate(panels, start=1):
        xkey = panel.name
        for name, idx, marker in groups:
            if not idx:
                continue
            pts = [data.points[i] for i in idx]
            fig.add_trace(
                go.Scatter(
                    x=[_x(p, xkey) for p in pts],
                    y=[floor if p.accuracy is None else p.accuracy for p in pts],
                    mode="markers", marker=marker, name=name, legendgroup=name,
                    showlegend=col == 1, text=[p.hover for p in pts],
                    hovertemplate="%{text}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        if data.presets:
            pts = [data.points[i] for i in data.presets]
            fig.add_trace(
                go.Scatter(
                    x=[_x(p, xkey) for p in pts],
                    y=[floor if p.accuracy is None else p.accuracy for p in pts],
                    mode="markers+text", text=[p.label for p in pts], textposition="top center",
                    marker=dict(symbol="diamond-open", size=15, color=ANCHOR, line=dict(width=2)),
                    name="published models (in this study)", legendgroup="presets",
                    showlegend=col == 1, hovertext=[p.hover for p in pts], hoverinfo="text",
                ),
                row=1, col=col,
            )  # fmt: skip
        if data.confirmed:
            pts = [data.points[i] for i in data.confirmed]
            fig.add_trace(
                go.Scatter(
                    x=[_x(p, xkey) for p in pts], y=[p.confirm_mean for p in pts],
                    error_y=dict(type="data", array=[p.confirm_std or 0 for p in pts], visible=True),
                    mode="markers", marker=dict(symbol="line-ew-open", size=14, color=CONFIRM),
                    name="confirmed: mean ± std over seeds", legendgroup="confirm",
                    showlegend=col == 1,
                    text=[f"{p.label}: {p.confirm_mean:.4f} ± {p.confirm_std or 0:.4f} "
                          f"({p.confirm_seeds} seeds)" for p in pts],
                    hovertemplate="%{text}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        if data.promoted_points:
            pts = [data.points[i] for i in data.promoted_points]
            fig.add_trace(
                go.Scatter(
                    x=[_x(p, xkey) for p in pts], y=[p.promoted[0] for p in pts],
                    error_y=dict(type="data", symmetric=False, visible=True,
                                 array=[min(p.promoted[2], 1.0) - p.promoted[0] for p in pts],
                                 arrayminus=[p.promoted[0] - max(p.promoted[1], 0.0)
                                             for p in pts]),
                    mode="markers", marker=dict(symbol="square-open", size=12, color=PROMOTED),
                    name=f"promoted to {data.fuller_fidelity}: mean, 95 % CI over seeds "
                    "(drawn within [0, 1])",
                    legendgroup="promoted", showlegend=col == 1,
                    text=[f"{p.label}: {p.promoted[0]:.4f} [{p.promoted[1]:.4f}, "
                          f"{p.promoted[2]:.4f}] at {p.promoted[4]} ({p.promoted[3]} seeds)"
                          for p in pts],
                    hovertemplate="%{text}<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        if data.references:
            refs = data.references
            fig.add_trace(
                go.Scatter(
                    x=[_x(r, xkey) for r in refs], y=[floor] * len(refs),
                    mode="markers+text", text=[r.name for r in refs], textposition="bottom center",
                    marker=dict(symbol="triangle-up-open", size=11, color=ANCHOR),
                    name="published models, costs only (not trained here)",
                    legendgroup="references", showlegend=col == 1, visible="legendonly",
                    hovertext=[f"{r.name}: {r.params:,} params, {r.macs:,} MACs ({data.counter}); "
                               "not trained in this study" for r in refs], hoverinfo="text",
                ),
                row=1, col=col,
            )  # fmt: skip
        budget = panel.budget
        if budget:
            label = (
                f"budget {budget / 1e6:.3g} M {panel.title}" if panel.log else f"budget {budget:g}"
            )
            fig.add_vline(
                x=budget, line=dict(color="black", dash="dash", width=1.5), row=1, col=col
            )
            axis = "x" if col == 1 else f"x{col}"
            fig.add_annotation(  # on a log axis an annotation's x is log10 of the value
                x=math.log10(budget) if panel.log else budget, y=0.02, xref=axis, yref=f"y{'' if col == 1 else col} domain",
                text=label, showarrow=False, xanchor="right", font=dict(size=12),
            )  # fmt: skip
    for col, panel in enumerate(panels, start=1):
        fig.update_xaxes(
            type="log" if panel.log else "linear", title_text=panel.title, row=1, col=col
        )
    fig.update_yaxes(title_text=f"val {data.metric_label}", row=1, col=1)
    fig.update_layout(
        template="plotly_white", height=560, width=1250, hovermode="closest",
        title=f"Accuracy vs cost: val {data.metric_label}; Pareto front over "
        f"({', '.join(data.objectives)})",
        legend=dict(orientation="h", y=-0.18),
    )  # fmt: skip
    return fig


def plot_hypervolume(data: HypervolumeData) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=data.trial_numbers, y=data.values, mode="lines+markers", line=dict(shape="hv"),
            name="hypervolume", hovertemplate="trial %{x}: %{y:.4g}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        template="plotly_white", height=380, title="Hypervolume over trials",
        xaxis_title="trial number", yaxis_title="hypervolume",
    )  # fmt: skip
    return fig


def plot_importance(data: ImportanceData) -> go.Figure | None:
    if not data.importances:
        return None
    fig = make_subplots(rows=1, cols=len(data.objectives), subplot_titles=data.objectives)
    for col, imp in enumerate(data.importances, start=1):
        items = sorted(imp.items(), key=lambda kv: kv[1])
        fig.add_trace(
            go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h",
                   marker_color=ANCHOR, showlegend=False,
                   hovertemplate="%{y}: %{x:.3f}<extra></extra>"),
            row=1, col=col,
        )  # fmt: skip
    fig.update_layout(
        template="plotly_white", height=120 + 28 * max(len(i) for i in data.importances),
        title=f"Parameter importance per objective ({data.n_trials} trained trials)",
    )  # fmt: skip
    return fig


def plot_factors(data: FactorData) -> go.Figure | None:
    if not data.factors:
        return None
    names = list(data.factors)
    cols = 3
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, vertical_spacing=0.12)
    for k, name in enumerate(names):
        row, col = k // cols + 1, k % cols + 1
        for level in data.factors[name]:
            fig.add_trace(
                go.Box(
                    y=level.accuracies, name=level.value, boxpoints="all", jitter=0.4,
                    pointpos=0, marker=dict(color=ANCHOR, size=5), line=dict(color=GREY),
                    showlegend=False, text=[f"trial {n}" for n in level.numbers],
                    hovertemplate="%{text}: %{y:.4f}<extra></extra>",
                ),
                row=row, col=col,
            )  # fmt: skip
    fig.update_yaxes(title_text=f"val {data.metric_label}", col=1)
    fig.update_layout(
        template="plotly_white", height=320 * rows,
        title=f"Search-space factors vs val {data.metric_label} (trained trials)",
    )  # fmt: skip
    return fig


def export_png(fig: go.Figure, path: Path) -> str | None:
    """Write a static PNG with kaleido; return a warning line instead of failing without Chrome."""
    try:
        fig.write_image(str(path), width=1250, height=560, scale=2)
    except Exception as e:  # no kaleido, no Chrome, a Chrome that does not start
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        return (
            f"pareto.png was not written: static export needs kaleido and a Chrome/Chromium "
            f"(e.g. apt-get install chromium; BROWSER_PATH=/usr/bin/chromium): {reason}"
        )
    return None
