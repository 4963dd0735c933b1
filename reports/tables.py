"""The report's tables (pandas): every trial, and the front beside the published models."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from studies import objectives as objectives_table
from studies.store.schema import TrialRecord
from studies.tables import to_markdown  # noqa: F401  (re-exported)

from .extract import PublishedReference, front_records, trial_factors
from .study import StudyView

LATENCY = "report-time torch eager CPU latency, batch 1 (ms, median)"
ACT = "train activations per image (MiB, fp32)"


def trials_table(view: StudyView) -> pd.DataFrame:
    """One row per trial, every state: costs, flags, choices, val and test metrics."""
    rows = []
    for r in view.records:
        c = view.confirms.get(r.number)
        row = {
            "number": r.number,
            "state": r.state,
            "feasible": r.feasible,
            "over_budget": r.over_budget or "",
            "preset": r.preset or "",
            "duplicate_of": r.duplicate_of,
            "genotype_id": r.genotype_id or "",
            "summary": r.summary,
            "params": r.params,
            "macs_thop": r.macs_thop,
            "macs_torch": r.macs_torch,
            "act_bytes": r.act_bytes,
            **{k: v for k, v in r.costs.items() if not k.endswith("_detail")},
            **{f"choice_{k}": v for k, v in trial_factors(r).items()},
            **{f"val_{k}": v for k, v in sorted(r.val.items())},
            **{f"test_{k}": v for k, v in sorted((r.test or {}).items())},
            "confirm_seeds": c.seeds if c else None,
            f"confirm_val_{view.metric}_mean": c.val_mean if c else None,
            f"confirm_val_{view.metric}_std": c.val_std if c else None,
            "run_dir": r.run_dir or "",
            "fail_reason": r.fail_reason or "",
        }
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in ("duplicate_of", "params", "macs_thop", "macs_torch", "act_bytes", "confirm_seeds"):
        df[col] = df[col].astype("Int64")
    return df


def _metric_cells(view: StudyView, r: TrialRecord) -> dict:
    label = view.metric_label
    c = view.confirms.get(r.number)
    val = view.accuracy(r)
    test = (r.test or {}).get(view.metric)
    cells = {
        f"val {label}": val,
        f"val {label} std": None,
        "val seeds": 1 if val is not None else None,
        f"test {label}": test,
        f"test {label} std": None,
        "test seeds": 1 if test is not None else None,
    }
    if c is not None:
        if c.val_mean is not None:
            cells.update(
                {f"val {label}": c.val_mean, f"val {label} std": c.val_std, "val seeds": c.seeds}
            )
        if c.test_mean is not None:
            cells.update({f"test {label}": c.test_mean, f"test {label} std": c.test_std, "test seeds": c.seeds})  # fmt: skip
        for name, (mean, std, _) in sorted(c.external.items()):
            cells.update({f"{name} {label}": mean, f"{name} {label} std": std})
    return cells


def _latency_objectives(view: StudyView) -> list:
    """The study's latency objectives (measured before training, stored on each trial)."""
    return [o for o in objectives_table.costs(view) if o.unit == "ms"]


def front_table(
    view: StudyView,
    references: list[PublishedReference] | None = None,
    latency_ms: Mapping[int | str, float] | None = None,
    reference_costs: Mapping[str, dict] | None = None,
) -> pd.DataFrame:
    """One row per front member and per published model (trained here, or costs only).

    ``latency_ms`` maps a trial number (or a reference's name) to its CPU latency;
    ``reference_costs`` maps a reference's name to its ``Cost.to_dict()``.
    """
    from reports.extract import handed_over

    latency_ms = latency_ms or {}
    front = {r.number for r in front_records(view)}
    pick = handed_over(view)
    rows = []
    for r in view.records:
        on_front, published = r.number in front, bool(r.preset) and view.is_trained(r)
        if not (on_front or published):
            continue
        role = (
            "front, published" if on_front and published else "front" if on_front else "published"
        )
        rows.append(
            {
                "model": r.preset or f"#{r.number}",
                "role": role,
                "trial": r.number,
                "genotype id": r.genotype_id,
                "genotype": r.summary,
                "params": r.params,
                "MACs (thop)": r.macs_thop,
                "MACs (torch)": r.macs_torch,
                **{o.label(view): r.costs.get(o.attr(view)) for o in _latency_objectives(view)},
                LATENCY: latency_ms.get(r.number),
                ACT: None if r.act_bytes is None else r.act_bytes / 2**20,
                **_metric_cells(view, r),
                **(_fullest_cells(view, r, pick) if view.promotion is not None else {}),
            }
        )
    for ref in references or []:
        cost = (reference_costs or {}).get(ref.name, {})
        act = cost.get("act_bytes")
        rows.append(
            {
                "model": ref.name,
                "role": "published, costs only (not trained here)",
                "trial": None,
                "genotype id": cost.get("genotype_id"),
                "genotype": cost.get("summary", ""),
                "params": ref.params,
                "MACs (thop)": cost.get("macs_thop"),
                "MACs (torch)": cost.get("macs_torch"),
                LATENCY: latency_ms.get(ref.name),
                ACT: None if act is None else act / 2**20,
            }
        )
    label = view.metric_label
    metrics = [f"{s} {label}{x}" for s in ("val", "test") for x in ("", " std")]
    lat = [o.label(view) for o in _latency_objectives(view)]
    columns = ["model", "role", "trial", "genotype id", "genotype", "params", "MACs (thop)",
               "MACs (torch)", *lat, LATENCY, ACT, *metrics[:2], "val seeds", *metrics[2:],
               "test seeds"]  # fmt: skip
    if view.promotion is not None:
        columns += FULLEST
    df = pd.DataFrame(rows, columns=columns)
    for col in ("trial", "params", "MACs (thop)", "MACs (torch)", "val seeds", "test seeds",
                "fullest seeds"):  # fmt: skip
        if col in df:
            df[col] = df[col].astype("Int64")
    return df


FULLEST = ["fullest fidelity", "fullest mean", "fullest CI low", "fullest CI high",
           "fullest seeds", "handed over", "vs handed over"]  # fmt: skip


def _fullest_cells(view: StudyView, r, pick) -> dict:
    """A promoting study's columns: the member's fullest measurement (``front.fullest``) and its
    difference from the handed-over network (``studies.search.front._versus``)."""
    from studies.search.front import _versus, fullest
    from studies.store.spec import fidelity_tag

    tag = fidelity_tag(view.image_size or ("?", "?"), view.epochs)
    cells = fullest(r, view.promoted, tag, view.accuracy(r))
    return {
        **dict(zip(FULLEST[:5], cells, strict=True)),
        "handed over": pick is not None and r.number == pick.number,
        "vs handed over": _versus(r, pick, view.promoted),
    }


def _blank(v) -> bool:
    return v is None or (not isinstance(v, str) and pd.isna(v))


def display_table(df: pd.DataFrame, view: StudyView) -> pd.DataFrame:
    """The front table formatted for people: thousands separators, M for MACs, mean ± std."""
    label = view.metric_label
    out = pd.DataFrame({"model": df["model"], "role": df["role"], "genotype": df["genotype"]})
    out["params"] = df["params"].map(lambda v: "-" if _blank(v) else f"{int(v):,}")
    for col in ("MACs (thop)", "MACs (torch)"):
        out[col + " M"] = df[col].map(lambda v: "-" if _blank(v) else f"{v / 1e6:.1f}")
    out[LATENCY] = df[LATENCY].map(lambda v: "-" if _blank(v) else f"{v:.1f}")
    out[ACT] = df[ACT].map(lambda v: "-" if _blank(v) else f"{v:.1f}")
    for split in ("val", "test"):
        col = f"{split} {label}"
        if col not in df:
            continue

        def cell(row, split=split, col=col) -> str:
            v, s, n = row[col], row[f"{col} std"], row[f"{split} seeds"]
            if _blank(v):
                return "-"
            if _blank(n) or int(n) <= 1:
                return f"{v:.4f} (1 seed)"
            return f"{v:.4f} ± {0.0 if _blank(s) else s:.4f} ({int(n)} seeds)"

        out[col] = df.apply(cell, axis=1)
    if "fullest mean" in df:

        def fullest(row) -> str:
            if _blank(row["fullest mean"]):
                return "-"
            n = 0 if _blank(row["fullest seeds"]) else int(row["fullest seeds"])
            mark = "" if _blank(row["handed over"]) or not row["handed over"] else " (handed over)"
            if n > 1:
                return (f"{row['fullest mean']:.4f} [{row['fullest CI low']:.4f}, "
                        f"{row['fullest CI high']:.4f}] at {row['fullest fidelity']}, {n} seeds"
                        f"{mark}")  # fmt: skip
            return f"{row['fullest mean']:.4f} at {row['fullest fidelity']}, 1 seed{mark}"

        out[f"fullest {label} (95 % CI)"] = df.apply(fullest, axis=1)
        out["vs handed over"] = df["vs handed over"].map(lambda v: "-" if _blank(v) else v)
    return out


def to_latex(df: pd.DataFrame, caption: str) -> str:
    """A booktabs table through pandas' Styler, every cell escaped for LaTeX."""
    styler = df.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    return styler.to_latex(
        hrules=True, caption=caption.replace("_", r"\_"), label="tab:front", position="htbp"
    )


def write_tables(view: StudyView, out_dir: Path, trials: pd.DataFrame, front: pd.DataFrame) -> None:
    trials.to_csv(out_dir / "trials.csv", index=False)
    front.to_csv(out_dir / "front.csv", index=False)
    shown = display_table(front, view) if len(front) else front
    size = "x".join(map(str, view.image_size)) if view.image_size else "?"
    data = view.data.get("name", "?") + (" (SYNTHETIC)" if view.data.get("synthetic") else "")
    caption = (
        f"Pareto front of study {view.name} and the published models; costs at 1x3x{size}, "
        f"val/test {view.metric_label} on {data}."
    )
    if not len(front):
        empty = "No trained, within-budget trial yet: no front."
        (out_dir / "front.md").write_text(f"{caption}\n\n{empty}\n", encoding="utf-8")
        (out_dir / "front.tex").write_text(f"% {caption}\n% {empty}\n", encoding="utf-8")
        return
    (out_dir / "front.md").write_text(f"{caption}\n\n{to_markdown(shown)}", encoding="utf-8")
    (out_dir / "front.tex").write_text(to_latex(shown, caption), encoding="utf-8")


RIVAL_COLUMNS = {
    "published": "published",
    "params": "params",
    "macs_thop": "MACs (thop)",
    "val_search": "val (search fidelity)",
    "rivals": "cheaper front members (* reach it)",
    "published_dice": "Dice (confirmed)",
    "rival": "best confirmed rival",
    "rival_params": "rival params",
    "rival_macs_thop": "rival MACs (thop)",
    "rival_dice": "rival Dice (confirmed)",
    "delta_dice": "Δ Dice (rival − published)",
    "ci_low": "CI low",
    "ci_high": "CI high",
    "pairs": "pairs (seed, image)",
    "verdict": "verdict",
    "fidelity": "measured at",
}


def rivals_table(view: StudyView) -> pd.DataFrame:
    """One row per published model: its costs, its cheaper rivals on the front and, once
    ``confirm --published`` has run, the best rival's paired Δ Dice and verdict
    (``studies.evidence.rivals``)."""
    from studies.evidence.rivals import published_models, rows

    if view.image_size is None:
        return pd.DataFrame(columns=list(RIVAL_COLUMNS.values()))
    table = rows(
        published_models(view.records, view.image_size, view.metric),
        front_records(view),
        view.metric,
        view.rivals,
    )
    df = pd.DataFrame(table).reindex(columns=list(RIVAL_COLUMNS))
    return df.rename(columns=RIVAL_COLUMNS)


def write_rivals(view: StudyView, out_dir: Path, rivals: pd.DataFrame) -> None:
    rivals.to_csv(out_dir / "rivals.csv", index=False)
    size = "x".join(map(str, view.image_size)) if view.image_size else "?"
    caption = (
        f"Published models against the front of study {view.name}: front members with at most "
        f"their params and thop MACs at {size} (* reaches the published model's validation "
        f"{view.metric_label} at the search fidelity); Δ paired per (seed, image) on the "
        "validation split after `confirm --published` (beats: CI above 0; matches: CI within "
        "±0.005; loses: CI below 0; inconclusive: otherwise)."
    )
    shown = rivals_display(rivals)  # text as shown: tabulate must not re-read "+0.0120" as 0.012
    text = to_markdown(shown, disable_numparse=True)
    (out_dir / "rivals.md").write_text(f"{caption}\n\n{text}", encoding="utf-8")


def rivals_display(rivals: pd.DataFrame) -> pd.DataFrame:
    """The rivals table for reading: counts with thousands separators, MACs in millions, scores
    to 4 decimals (differences signed), nothing measured yet as '-'."""

    def fmt(column: str, v) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        if "MACs" in column:
            return f"{float(v) / 1e6:.2f} M"
        if column in ("params", "rival params", "pairs (seed, image)"):
            return f"{int(v):,}"
        if isinstance(v, (int, float)):
            signed = "Δ" in column or "CI" in column
            return f"{float(v):+.4f}" if signed else f"{float(v):.4f}"
        return str(v)

    return pd.DataFrame({c: [fmt(c, v) for v in rivals[c]] for c in rivals.columns})
