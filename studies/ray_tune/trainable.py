"""The Ray backend's worker side: the Tune trainable that trains one screened candidate.

A worker only trains (``studies.search.trial.train_candidate``) and reports; it never touches the
study's storage. Each validated epoch but the last gives one ``tune.report`` row (``_Reporter``),
and the final row carries the fit result (or why it failed) in its ``PAYLOAD``; the driver
(``studies.ray_tune.searcher``) records it in the study. The row's ``METRIC`` is what the schedulers
(``studies.ray_tune.schedulers``) watch. Imported only through ``studies.ray_tune.backend``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ray import tune

from searchspace import Genotype
from studies import objectives
from studies.search.trial import CandidateFailed, train_candidate
from studies.store.spec import StudySpec

METRIC = "val_metric"  # best validation --metric so far: what the schedulers watch
PAYLOAD = "lesion_nas"  # JSON: curve, best val metrics, train seconds, "final" fit result


class _Reporter:
    """``fit``'s ``on_epoch`` in a worker: a ``tune.report`` per validated epoch but the last
    (the final report, with the fit result, follows ``fit``)."""

    def __init__(self, spec: StudySpec, config: dict) -> None:
        self.spec = spec
        self.costs = {
            o.name: objectives.value(spec, o, config["cost_attrs"]) for o in objectives.costs(spec)
        }
        self.curve: list[float | None] = []
        self.val: dict = {}
        self.seconds = 0.0

    def __call__(self, epoch: int, row: dict) -> None:
        value = row.get(f"val_{self.spec.metric}")
        ok = value is not None and math.isfinite(float(value))
        best = max((v for v in self.curve if v is not None), default=-math.inf)
        self.curve += [None] * (epoch - 1 - len(self.curve)) + [float(value) if ok else None]
        self.seconds += float(row.get("epoch_seconds", 0.0))
        if ok and float(value) > best:  # fit's rule: the first best epoch
            self.val = {k[4:]: v for k, v in row.items() if k.startswith("val_")}
        if epoch < self.spec.epochs:
            tune.report(self.row(epoch))

    def row(self, epoch: int, final: dict | None = None) -> dict:
        best = max((v for v in self.curve if v is not None), default=0.0)
        payload = {"curve": self.curve, "val": self.val, "train_seconds": self.seconds}
        if final is not None:
            payload["final"] = final
        text = json.dumps(payload, default=str)
        return {
            "epoch": epoch,
            METRIC: best,
            objectives.ACCURACY: best,
            **self.costs,
            PAYLOAD: text,
        }


def train_trial(config: dict, *, spec: StudySpec, data: Any, device: str, threads: int) -> None:
    """The Tune trainable: train one screened candidate, report per epoch and at the end."""
    import torch

    torch.set_num_threads(max(1, threads))
    reporter = _Reporter(spec, config)
    genotype = Genotype.from_dict(config["genotype"])
    run_dir = Path(config["run_dir"])
    try:
        result = train_candidate(spec, genotype, data, run_dir, device=device, on_epoch=reporter)
        final = {k: v for k, v in result.to_dict().items() if k != "history"}
    except CandidateFailed as e:
        final = {"status": "failed", "reason": str(e)}
    except Exception as e:  # recorded as FAIL_REASON by the driver; the search goes on
        final = {"status": "failed", "reason": f"{type(e).__name__}: {e}"}
    tune.report(reporter.row(final.get("epochs_run") or len(reporter.curve), final))
