"""How an ablation is stored: its Optuna study, the spec that study keeps, and the run settings.

Every (variant, seed) is one trial of an Optuna study (kind "ablation") in the same storage as
searches. The study stores its spec (variants, seeds, train config, data fingerprint) under
``ABLATION_SPEC`` and refuses to resume with other settings; each trial names its ``VARIANT`` and
``SEED`` and keeps its per-image validation scores (``PER_IMAGE``). The runner
(``studies.ablation``) writes these attributes and the report (``studies.ablation.report``) reads
them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import optuna

from studies.ablation.plan import Variant
from studies.store import schema
from studies.store.storage import open_storage
from trainer import DataBundle, TrainConfig

ABLATION_SPEC = "lesion_nas_ablation"
VARIANT = "variant"
SEED = "seed"
PER_IMAGE = "per_image_val"  # {"ids": [...], "dice": [...], "jaccard": [...]}


@dataclass(frozen=True)
class AblationSettings:
    seeds: tuple[int, ...]
    config: TrainConfig  # its seed is replaced per run
    out_root: Path
    device: str = "auto"
    progress: bool = True


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-") or "variant"


def ablation_spec(variants: list[Variant], settings: AblationSettings, data: DataBundle) -> dict:
    return {
        "schema": schema.SCHEMA_VERSION,
        "variants": {v.name: v.genotype.id for v in variants if v.genotype is not None},
        "base": next(v.name for v in variants if v.factor == "base"),
        "seeds": list(settings.seeds),
        "train_config": {**settings.config.to_dict(), "seed": None},
        "data": {"name": data.name, "fingerprint": data.fingerprint, "synthetic": data.synthetic},
    }


def open_ablation(study_name: str, storage_url: str, spec: dict) -> optuna.Study:
    """Create the study or resume it; a different spec is refused, writing nothing."""
    storage = open_storage(storage_url)
    if study_name in optuna.study.get_all_study_names(storage):
        study = optuna.load_study(study_name=study_name, storage=storage)
        stored = study.user_attrs.get(ABLATION_SPEC)
        if stored is None:
            raise ValueError(
                f"study {study_name!r} exists and is not an ablation; choose another --study"
            )
        diffs = sorted(
            k
            for k in spec
            if json.dumps(spec[k], sort_keys=True) != json.dumps(stored.get(k), sort_keys=True)
        )
        if diffs:
            raise ValueError(
                f"ablation {study_name!r} was created with other settings ({', '.join(diffs)} "
                "differ): re-run with the same ones to resume, or choose another --study"
            )
        return study
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    study.set_user_attr(ABLATION_SPEC, spec)
    study.set_user_attr(schema.STUDY_KIND, "ablation")
    return study


def _done(study: optuna.Study) -> set[tuple[str, int]]:
    return {
        (t.user_attrs[VARIANT], t.user_attrs[SEED])
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    }
