"""``search.py compare``: search strategies side by side, over several search seeds each.

Input: named groups of studies (``--group nsga2=S1,S2,S3 --group random=S4,S5,S6``) of the same
space, budgets, objectives, metric, MAC counter, data, split, image size and training recipe
(epochs included); only the sampler, its population and the seeds may differ. Anything else is
refused with one message naming the study and the field.

Hypervolume (HV). Every study's trained, within-budget, non-duplicate trials with a score are
points in one space: -accuracy (reference 0, the worst score), log10 of each cost (reference: the
budget when the studies have one, else 1.1 x the largest cost over all the studies), the same
reference point for every study. A study's HV after k trained candidates (``--trials``'
counting: complete, pruned and failed trained candidates, in trial order) and after t seconds of
wall time (from its first trial's start to each trial's completion) are step functions; per group
the mean and a 95 % t-interval over its studies are drawn at each k and on a common time grid.

Final HV per group (each study's HV after all its trained candidates, or after the fewest any
study of the comparison has, ``--at`` / default: the smallest common count, so that every study
is compared at the same number of trained candidates): mean, sd, and between two groups a
two-sided Mann-Whitney U test (exact for small samples: with 3 studies per group its smallest
possible p is 0.1) and Welch's t-test, both from scipy.

Files in ``--out`` (default ``runs/compare-<groups>``): compare.html (plots + tables),
compare.png (HV curves and fronts, static, when kaleido finds a Chrome), compare.csv (one row per
study), compare.md (per group).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from reports.study import ReportError, StudyView, default_storage, load_study_view
from studies import objectives as objectives_table
from studies.evidence.stats import mean_std, t_interval
from studies.hypervolume import hypervolume, non_dominated
from studies.store.spec import check_comparable
from studies.tables import to_markdown


@dataclass(frozen=True)
class StudyCurve:
    group: str
    name: str
    sampler: str
    seed: int
    trained: int  # trained candidates (the --trials count)
    hv_by_trained: list[float]  # HV after 1..trained trained candidates
    times: list[float]  # seconds since the study's first trial start, per trained candidate
    wall: float
    points: list[tuple[float, ...]]  # (accuracy, params, macs) of its trained trials
    presets: dict[str, tuple[float, ...]]


def parse_named_paths(items: list[str] | None, flag: str, value: str = "PATH") -> dict[str, str]:
    """Repeated ``NAME=VALUE`` options (``--group``, ``--external``) -> {name: value}; one error
    naming the flag for a malformed or repeated one."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, rest = str(item).partition("=")
        if not sep or not name.strip() or not rest.strip():
            raise ValueError(f"{flag} {item!r}: write NAME={value}")
        if name.strip() in out:
            raise ValueError(f"{flag} {name.strip()!r} given twice")
        out[name.strip()] = rest.strip()
    return out


def parse_groups(items: list[str]) -> dict[str, list[str]]:
    """``["nsga2=a,b", "random=c,d"]`` -> ``{"nsga2": ["a", "b"], "random": ["c", "d"]}``."""
    named = parse_named_paths(items, "--group", "STUDY[,STUDY...]")
    groups = {k: [s.strip() for s in v.split(",") if s.strip()] for k, v in named.items()}
    for name, names in groups.items():
        if not names:
            raise ValueError(f"--group {name}={named[name]!r}: write NAME=STUDY[,STUDY...]")
    if len(groups) < 2:
        raise ValueError("compare needs at least two --group options")
    seen: dict[str, str] = {}
    for g, names in groups.items():
        for n in names:
            if n in seen:
                raise ValueError(f"study {n!r} is in groups {seen[n]!r} and {g!r}")
            seen[n] = g
    return groups


def check_compatible(views: list[StudyView]) -> None:
    check_comparable([(v.name, v.spec) for v in views])


def _cost(view: StudyView, r, name: str) -> float | None:
    return objectives_table.value(view, objectives_table.OBJECTIVES[name], r.attrs)


def reference_point(views: list[StudyView]) -> tuple[float, ...]:
    """(-accuracy ref, log10 cost refs...) shared by all studies; see the module docstring."""
    first = views[0]
    ref = [0.0]
    for o in objectives_table.costs(first):
        name = o.name
        budget = first.budget(o.name)
        if budget:
            ref.append(math.log10(budget))
            continue
        largest = max(
            (_cost(v, r, name) or 0 for v in views for r in v.records if v.is_trained(r)),
            default=1,
        )
        ref.append(math.log10(1.1 * max(largest, 1)))
    return tuple(ref)


def _point(view: StudyView, r) -> tuple[float, ...]:
    coords = [-float(view.accuracy(r))]
    for o in objectives_table.costs(view):
        coords.append(math.log10(max(float(_cost(view, r, o.name) or 1e-9), 1e-9)))
    return tuple(coords)


def study_curve(group: str, view: StudyView, ref: tuple[float, ...]) -> StudyCurve:
    from studies.store.trial_state import counts_as_trained

    trials = sorted(view.trials, key=lambda t: t.number)
    by_number = {r.number: r for r in view.records}
    starts = [t.datetime_start for t in trials if t.datetime_start is not None]
    t0 = min(starts) if starts else None
    hv, times, front, points, presets = [], [], [], [], {}
    wall = 0.0
    for t in trials:
        if t.datetime_complete is not None and t0 is not None:
            wall = max(wall, (t.datetime_complete - t0).total_seconds())
        if not counts_as_trained(t) or not t.state.is_finished():
            continue
        r = by_number[t.number]
        if view.is_trained(r):
            p = _point(view, r)
            front.append(p)
            front = [front[i] for i in non_dominated(front)]
            points.append((view.accuracy(r), float(r.params or 0), float(view.macs(r) or 0)))
            if r.preset:
                presets[r.preset] = points[-1]
        hv.append(hypervolume(front, ref) if front else 0.0)
        done = t.datetime_complete or t.datetime_start
        times.append((done - t0).total_seconds() if done and t0 else 0.0)
    spec = view.spec
    return StudyCurve(
        group, view.name, str(spec.get("sampler")), int(spec.get("seed", 0)), len(hv), hv, times,
        wall, points, presets,
    )  # fmt: skip


def _step(times: list[float], values: list[float], at: float) -> float:
    out = 0.0
    for t, v in zip(times, values, strict=True):
        if t <= at:
            out = v
    return out


@dataclass(frozen=True)
class Comparison:
    groups: dict[str, list[StudyCurve]]
    at: int  # trained candidates at which the final HV is read
    reference: tuple[float, ...]
    axes: tuple[str, ...]
    tests: list[dict]
    out: Path | None = None


def final_hv(c: StudyCurve, at: int) -> float:
    return c.hv_by_trained[at - 1] if at >= 1 and c.hv_by_trained else 0.0


def two_sample(a: list[float], b: list[float]) -> dict:
    from scipy import stats

    out: dict = {"n": (len(a), len(b))}
    if len(a) >= 1 and len(b) >= 1:
        out["mannwhitney_u"], out["mannwhitney_p"] = (
            float(x) for x in stats.mannwhitneyu(a, b, alternative="two-sided")
        )
    if len(a) >= 2 and len(b) >= 2:
        res = stats.ttest_ind(a, b, equal_var=False)
        out["welch_t"], out["welch_p"] = float(res.statistic), float(res.pvalue)
    return out


def compare(
    groups: dict[str, list[str]], storage: str | None = None, at: int | None = None
) -> Comparison:
    """Load, check and measure the studies of ``groups`` (see the module docstring)."""
    views = {}
    for names in groups.values():
        for n in names:
            views[n] = load_study_view(n, storage or default_storage(n))
    check_compatible(list(views.values()))
    ref = reference_point(list(views.values()))
    first = next(iter(views.values()))
    axes = ("-" + first.metric_label,) + tuple(
        f"log10 {o.label(first)}" for o in objectives_table.costs(first)
    )
    curves = {g: [study_curve(g, views[n], ref) for n in names] for g, names in groups.items()}
    common = min(c.trained for cs in curves.values() for c in cs)
    if common < 1:
        empty = [c.name for cs in curves.values() for c in cs if c.trained == 0]
        raise ReportError(f"no trained candidate in study {empty[0]!r}: nothing to compare")
    if at is None:
        at = common
    elif not 1 <= at <= common:
        raise ValueError(f"--at {at}: use 1..{common} (the fewest trained candidates of a study)")
    names = list(curves)
    tests = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            res = two_sample(
                [final_hv(c, at) for c in curves[a]], [final_hv(c, at) for c in curves[b]]
            )
            tests.append({"a": a, "b": b, **res})
    return Comparison(curves, at, ref, axes, tests)


# ------------------------------------------------------------------------------ tables
def study_table(cmp: Comparison):
    import pandas as pd

    rows = []
    for g, cs in cmp.groups.items():
        for c in cs:
            best = max((p[0] for p in c.points), default=None)
            rows.append(
                {
                    "group": g,
                    "study": c.name,
                    "sampler": c.sampler,
                    "seed": c.seed,
                    "trained": c.trained,
                    f"hv_at_{cmp.at}": final_hv(c, cmp.at),
                    "hv_final": c.hv_by_trained[-1] if c.hv_by_trained else 0.0,
                    "best_val_accuracy": best,
                    "wall_seconds": round(c.wall, 1),
                }
            )
    return pd.DataFrame(rows)


def group_markdown(cmp: Comparison, metric_label: str) -> str:
    """The per-group hypervolume table and the tests between groups, as Markdown."""
    import pandas as pd

    rows = []
    for g, cs in cmp.groups.items():
        vals = [final_hv(c, cmp.at) for c in cs]
        _, lo, hi = t_interval(vals)
        hv = mean_std(vals)
        bests = mean_std([max((p[0] for p in c.points), default=math.nan) for c in cs])
        rows.append({
            "group": g, "studies": len(cs), "HV mean": hv.mean, "HV sd": hv.std,
            "95 % CI": f"[{lo:.4f}, {hi:.4f}]", "best val accuracy (mean)": bests.mean,
        })  # fmt: skip
    tests = pd.DataFrame(
        [
            {
                "groups": f"{t['a']} vs {t['b']}",
                "Mann-Whitney U": t.get("mannwhitney_u"),
                "p (two-sided)": t.get("mannwhitney_p"),
                "Welch t": t.get("welch_t"),
                "p": t.get("welch_p"),
            }
            for t in cmp.tests
        ]
    )
    axes = ", ".join(
        f"{a} (reference {r:.4g})" for a, r in zip(cmp.axes, cmp.reference, strict=True)
    )
    text = (
        f"Hypervolume after {cmp.at} trained candidates (validation {metric_label}; axes {axes})"
        f"\n\n{to_markdown(pd.DataFrame(rows), floatfmt='.4f', missingval='-')}"
    )
    if len(tests):
        fmt = ("", ".1f", ".3f", ".2f", ".3f")
        text += "\n" + to_markdown(tests, floatfmt=fmt, missingval="-")
    return text


# ------------------------------------------------------------------------------ plots
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def _band(fig, xs, per_study: list[list[float]], name: str, colour: str, row: int, col: int,
          show: bool) -> None:  # fmt: skip
    import plotly.graph_objects as go

    stats = [t_interval([s[i] for s in per_study]) for i in range(len(xs))]
    mean = [m for m, _, _ in stats]
    lo = [v for _, v, _ in stats]
    hi = [v for _, _, v in stats]
    fig.add_trace(
        go.Scatter(
            x=list(xs) + list(xs)[::-1],
            y=hi + lo[::-1],
            fill="toself",
            opacity=0.2,
            line={"width": 0},
            fillcolor=colour,
            hoverinfo="skip",
            showlegend=False,
            legendgroup=name,
        ),  # fmt: skip
        row=row,
        col=col,
    )
    fig.add_trace(
        go.Scatter(
            x=list(xs), y=mean, name=name, line={"color": colour}, legendgroup=name, showlegend=show
        ),  # fmt: skip
        row=row,
        col=col,
    )


def figure(cmp: Comparison, metric_label: str):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=(
            "hypervolume vs trained candidates",
            "hypervolume vs wall time",
            "union Pareto fronts (validation)",
        ),
    )
    for i, (g, cs) in enumerate(cmp.groups.items()):
        colour = COLOURS[i % len(COLOURS)]
        n = min(c.trained for c in cs)
        xs = list(range(1, n + 1))
        _band(fig, xs, [c.hv_by_trained[:n] for c in cs], f"{g} (n={len(cs)})", colour, 1, 1, True)
        end = max(c.times[-1] if c.times else 0.0 for c in cs)
        grid = [end * k / 60 for k in range(61)]
        per = [[_step(c.times, c.hv_by_trained, t) for t in grid] for c in cs]
        _band(fig, [t / 60 for t in grid], per, g, colour, 1, 2, False)
        pts = [p for c in cs for p in c.points]
        keep = sorted((pts[j] for j in non_dominated([(-p[0], p[1], p[2]) for p in pts])),
                      key=lambda p: p[1])  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[p[1] for p in pts],
                y=[p[0] for p in pts],
                mode="markers",
                marker={"color": colour, "size": 5, "opacity": 0.35},
                name=f"{g}: trained",
                legendgroup=g,
                showlegend=False,
            ),  # fmt: skip
            row=1,
            col=3,
        )
        fig.add_trace(
            go.Scatter(
                x=[p[1] for p in keep],
                y=[p[0] for p in keep],
                mode="markers+lines",
                line={"color": colour, "shape": "hv"},
                marker={"color": colour, "size": 8},
                name=f"{g}: union front",
                legendgroup=g,
                showlegend=False,
            ),  # fmt: skip
            row=1,
            col=3,
        )
    presets: dict[str, list[tuple]] = {}
    for cs in cmp.groups.values():
        for c in cs:
            for name, p in c.presets.items():
                presets.setdefault(name, []).append(p)
    for name, ps in sorted(presets.items()):
        acc = sum(p[0] for p in ps) / len(ps)
        fig.add_trace(
            go.Scatter(
                x=[ps[0][1]],
                y=[acc],
                mode="markers+text",
                text=[name],
                textposition="top center",
                marker={"symbol": "star", "size": 12, "color": "black"},
                name=f"{name} (mean of {len(ps)} studies)",
                showlegend=False,
            ),  # fmt: skip
            row=1,
            col=3,
        )
    fig.update_xaxes(title_text="trained candidates", row=1, col=1)
    fig.update_xaxes(title_text="wall time (min)", row=1, col=2)
    fig.update_xaxes(title_text="params", type="log", row=1, col=3)
    fig.update_yaxes(title_text="hypervolume", row=1, col=1)
    fig.update_yaxes(title_text=f"val {metric_label}", row=1, col=3)
    fig.update_layout(template="plotly_white", height=520, width=1500)
    return fig


def write_comparison(cmp: Comparison, out: Path, metric_label: str) -> list[str]:
    """compare.html / .png / .csv / .md into ``out`` (written beside, then moved in place)."""
    from reports.html import page
    from reports.plots import export_png
    from reports.tables import to_markdown

    out.mkdir(parents=True, exist_ok=True)
    table = study_table(cmp)
    md = group_markdown(cmp, metric_label)
    fig = figure(cmp, metric_label)
    notes = []
    files = {
        "compare.csv": table.to_csv(index=False),
        "compare.md": md + "\n" + to_markdown(table),
        "compare.html": page(
            "lesion-nas compare",
            "<h1>Search strategies compared</h1>"
            + fig.to_html(full_html=False, include_plotlyjs="cdn")
            + "<h2>Per group</h2><pre>"
            + md
            + "</pre><h2>Per study</h2>"
            + table.to_html(index=False),
        ),
    }
    for name, text in files.items():
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(out / name)
    warning = export_png(fig, out / "compare.png")
    if warning:
        notes.append(warning.replace("pareto.png", "compare.png"))
    return notes


def run_compare(
    group_items: list[str], storage: str | None, out: str | None, at: int | None = None
) -> tuple[Comparison, Path, list[str]]:
    """The compare verb: parse, load, check, measure, write; returns (comparison, folder, notes)."""
    groups = parse_groups(group_items)
    cmp = compare(groups, storage, at)
    folder = Path(out) if out else Path("runs") / ("compare-" + "-vs-".join(groups))
    first = next(iter(cmp.groups.values()))[0]
    label = load_study_view(first.name, storage or default_storage(first.name)).metric_label
    notes = write_comparison(cmp, folder, label)
    return cmp, folder, notes
