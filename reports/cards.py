"""One model card per front member (and per published model trained in the study).

A card is a standalone HTML page: genotype JSON, stage diagram (inline SVG), costs, metrics and a
few real validation images with the predicted (magenta) and true (green) contours (inline PNG).
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from searchspace import Genotype
from studies.store.schema import TrialRecord

from .diagram import _get_diagram_data, render_svg
from .html import banner, page, table_html
from .images import PRED_COLOUR, TRUE_COLOUR, Panel, Samples, prediction_panels
from .study import StudyView, metric_label


def card_name(record: TrialRecord) -> str:
    return f"trial-{record.number:04d}.html"


def _rgb(c: tuple[int, int, int]) -> str:
    return f"rgb{c}"


def _panels(record: TrialRecord, samples: Samples) -> tuple[list[Panel], str]:
    if samples.split is None:
        return [], samples.note
    if not record.run_dir:
        return [], "no validation images: the trial has no run folder"
    from runner.runs import load_run

    try:
        _, config, model = load_run(Path(record.run_dir))
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        return [], f"no validation images: {e}"
    return prediction_panels(model, config, samples.split), samples.note


def card_html(
    view: StudyView,
    record: TrialRecord,
    *,
    role: str,
    latency_ms: float | None,
    samples: Samples,
) -> str:
    title = record.preset or f"trial {record.number}"
    parts = [f"<p><a href='../index.html'>← report index</a></p><h1>{escape(title)}</h1>"]
    parts.append(banner(view))
    parts.append(
        f"<p><b>{escape(role)}</b> · trial {record.number} · genotype "
        f"<code>{escape(record.genotype_id or '?')}</code></p><p>{escape(record.summary)}</p>"
    )
    size = "x".join(map(str, view.image_size)) if view.image_size else "?"
    act = record.act_bytes
    costs = [
        ("parameters", f"{record.params:,}" if record.params is not None else "-"),
        (f"MACs thop (1x3x{size})", f"{record.macs_thop:,}" if record.macs_thop is not None else "-"),
        (f"MACs torch (1x3x{size})", f"{record.macs_torch:,}" if record.macs_torch is not None else "-"),
        ("train activations per image (fp32)", "-" if act is None else f"{act / 2**20:.2f} MiB"),
        ("report-time torch eager CPU latency, batch 1", "not measured" if latency_ms is None else f"{latency_ms:.1f} ms"),
    ]  # fmt: skip
    for key, value in sorted(record.costs.items()):
        if key.startswith("latency_") and not key.endswith("_detail"):
            detail = record.costs.get(f"{key}_detail") or {}
            spread = (
                f" (IQR {detail['iqr_ms']:.2f} ms, {detail['repeats']} repeats, {detail['threads']} thread(s))"
                if detail
                else ""
            )
            costs.append((f"{key} (pre-screen, untrained network)", f"{value:.2f} ms{spread}"))
    parts.append("<h2>Costs</h2>" + table_html(["cost", "value"], costs))
    keys = sorted(set(record.val) | set(record.test or {}))
    rows = [
        (metric_label(k), _num(record.val.get(k)), _num((record.test or {}).get(k))) for k in keys
    ]
    parts.append(
        "<h2>Metrics (1 seed, best epoch on val)</h2>" + table_html(["metric", "val", "test"], rows)
    )
    c = view.confirms.get(record.number)
    if c is not None:
        parts.append(
            f"<p>Confirmed over {c.seeds} seeds{escape(' (' + c.detail + ')' if c.detail else '')}, "
            f"{escape(view.metric_label)}: val "
            f"{_pm(c.val_mean, c.val_std)}, test {_pm(c.test_mean, c.test_std)}"
            + "".join(
                f", {escape(name)} (all {n} images) {_pm(m, sd)}"
                for name, (m, sd, n) in sorted(c.external.items())
            )
            + "</p>"
        )
    if record.genotype:
        g = Genotype.from_dict(record.genotype)
        parts.append("<h2>Architecture</h2>" + render_svg(_get_diagram_data(g)))
    panels, note = _panels(record, samples)
    parts.append("<h2>Validation images</h2>")
    if panels:
        parts.append(
            f"<p>{escape(note)}; contours: <span style='color:{_rgb(TRUE_COLOUR)}'>■ true</span> "
            f"<span style='color:{_rgb(PRED_COLOUR)}'>■ predicted</span>; Dice per image at the "
            "model's input size.</p><div class='grid'>"
        )
        for p in panels:
            parts.append(
                f"<figure><img src='{p.uri}' alt='{escape(p.image_id)}'>"
                f"<figcaption>{escape(p.image_id)}: Dice {p.dice:.3f}</figcaption></figure>"
            )
        parts.append("</div>")
    else:
        parts.append(f"<p class='warn'>{escape(note)}</p>")
    if record.genotype:
        text = json.dumps(record.genotype, indent=2, sort_keys=True)
        parts.append(f"<h2>Genotype JSON</h2><pre>{escape(text)}</pre>")
    if record.run_dir:
        parts.append(f"<p>Run folder: <code>{escape(record.run_dir)}</code></p>")
    return page(f"{title} · {view.name}", "\n".join(parts))


def _num(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _pm(mean, std) -> str:
    return "-" if mean is None else f"{mean:.4f} ± {std or 0:.4f}"
