"""``confirm``: retrain a study's Pareto front and its presets with several seeds, test once.

A search ranks candidates on one seed at a reduced fidelity; confirm re-measures the models that
matter (the front and the published presets the study trained) at a fuller one: by default the
search's recipe with the recipe's own number of epochs (``fast``: 20; ``--recipe scsonet`` is the
papers' 300-epoch recipe), ``--seeds`` training seeds (the study's seed, +1, +2, ...), on the
study's own data and split (reloaded from the spec and checked against its fingerprint). Each
run's best epoch is chosen on the validation split; the test split is evaluated once per run, at
the end (datasets without a test split report validation only, and say so).

Results: one run folder per model and seed under ``<out>/<study>/confirm/``; a finished run
folder with the same train config is reused, so an interrupted confirm resumes. Per model, the
study's user attribute ``schema.CONFIRM`` gets ``{trial number: {"seeds", "val": [metrics per
seed], "test": [...], "mean_std": {...}, ...}}`` (a study attribute: Optuna makes finished trials
read-only), and ``<out>/<study>/confirm.csv`` gets mean ± std (sample std, ddof 1) of the study's
metric: one row per model, a model another command confirmed kept, one this command retrained
replaced.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from runner.runs import evaluate_run, train_runs
from searchspace import Genotype
from searchspace.cost import count_cost
from studies.evidence.stats import mean_std
from studies.search.front import pareto_front, trained_records
from studies.search.trial import load_study_data
from studies.search.workers import resolve_workers
from studies.store import schema
from studies.store.promoted import promoted
from studies.store.storage import load_existing_study, load_spec, storage_url
from trainer import TrainConfig
from trainer.config import recipe_with


@dataclass(frozen=True)
class Candidate:
    number: int | None  # None: a published model the study did not train (--published)
    name: str
    genotype: Genotype
    params: int | None
    macs: int | None

    @property
    def key(self) -> str:
        """Its key in ``schema.CONFIRM`` and its run folder's name."""
        return f"preset:{self.name}" if self.number is None else str(self.number)

    @property
    def folder(self) -> str:
        return f"preset-{self.name}" if self.number is None else f"{self.number:04d}-{self.name}"


@dataclass(frozen=True)
class ConfirmOutcome:
    study_name: str
    records: dict[int, dict]
    csv: Path


def candidates(study, spec) -> list[Candidate]:
    """The front, then the study's presets (trained or not), one entry per genotype."""
    front = pareto_front(spec, trained_records(study), promoted(study))
    presets = [
        schema.record_from_trial(t)
        for t in study.get_trials(deepcopy=False)
        if t.user_attrs.get(schema.PRESET)
        and t.user_attrs.get(schema.GENOTYPE)
        and t.user_attrs.get(schema.FEASIBLE)
    ]
    out, seen = [], set()
    for r in [*front, *presets]:
        if r.genotype_id in seen:
            continue
        seen.add(r.genotype_id)
        out.append(candidate_of(r, spec))
    return out


def candidate_of(r, spec) -> Candidate:
    """A trained trial's record as a model to confirm."""
    macs = r.macs_thop if spec.cost_counter == "thop" else r.macs_torch
    name = r.preset or r.genotype_id or str(r.number)
    return Candidate(r.number, name, Genotype.from_dict(r.genotype), r.params, macs)


def published_names(published) -> tuple[str, ...]:
    """The published models ``--published`` names: none (False, None), every one (True, "all"),
    or a comma-separated text / list of preset names; an unknown name, or an empty list, is one
    error."""
    from searchspace.presets import PRESETS

    if published is None or published is False:
        return ()
    if published is True or published == "all":
        return tuple(PRESETS)
    names = published.split(",") if isinstance(published, str) else list(published)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in PRESETS]
    if unknown or not names:
        raise ValueError(
            f"--published: unknown published model(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(PRESETS)}"
        )
    return tuple(names)


def confirm_config(spec, recipe_name: str | None, epochs: int | None, seed: int) -> TrainConfig:
    return recipe_with(
        recipe_name or spec.recipe,
        image_size=tuple(spec.image_size),
        seed=seed,
        select_metric=f"val_{spec.metric}",
        select_mode="max",
        epochs=epochs,
    )


def run_confirm(
    study_name: str,
    storage: str | None = None,
    *,
    seeds: int = 3,
    recipe_name: str | None = None,
    epochs: int | None = None,
    device: str = "auto",
    out_root: str | Path = "runs",
    progress: bool = True,
    workers: str | int = "auto",
    external: dict[str, str] | None = None,
    published: bool | str | Sequence[str] = False,
    image_size: tuple[int, int] | None = None,
    rivals: int | str | Sequence[str] | None = None,
) -> ConfirmOutcome:
    """Retrain and score (module docstring). ``external``: {name: dataset folder}; every
    confirmed run is also evaluated on each, all its images at each mask's own resolution
    (``runner.runs.evaluate_run``), and mean ± std over seeds goes to confirm.csv and the
    stored record ("external"). ``published``: also retrain the published models that a front
    member undercuts on both cost axes (``studies.evidence.rivals``) and pair each with its
    cheaper rivals on the validation images (``schema.RIVALS``); True or "all": every published
    model, a comma-separated text or a list of names: those only. ``rivals`` (with
    ``published``): retrain only those published models and each one's ``rivals`` best cheaper
    found front members (by search-fidelity score; another published model on the front is not
    one), not the whole front, cheapest network first (an interrupted command resumes where it
    stopped); or, as genotype ids or ``#N`` trial numbers (a comma-separated text or a list),
    the found front members to pair, each with the published models it undercuts on both axes
    (``rival_keys``). ``image_size``: retrain and score at this size instead of the search's (a fuller
    fidelity; runs under ``confirm-HxW``, the record and the table name it; the costs of the
    candidates stay the search's)."""
    import pandas as pd
    from tqdm import tqdm

    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    wanted = published_names(published)
    if rivals is not None and not wanted:
        raise ValueError("--rivals K needs --published (the published models to pair)")
    rivals, named = rival_keys(rivals)
    if epochs is not None and epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    out_root = Path(out_root)
    url = storage_url(study_name, storage, out_root)
    study = load_existing_study(study_name, url)
    search_spec = load_spec(study)
    spec, folder = search_spec, "confirm"
    if image_size is not None and tuple(image_size) != tuple(search_spec.image_size):
        import dataclasses

        size = tuple(int(v) for v in image_size)
        spec = dataclasses.replace(search_spec, image_size=size)  # the spec's checks apply
        folder = f"confirm-{size[0]}x{size[1]}"
    confirm_config(spec, recipe_name, epochs, spec.seed)  # a bad recipe fails before training
    external = dict(external or {})
    for name, path in external.items():
        if not Path(path).is_dir():
            raise FileNotFoundError(f"--external {name}={path}: no such folder")
    models = candidates(study, spec)
    undercut = []
    if wanted:
        from studies.evidence.rivals import cheaper_rivals, published_models

        front = pareto_front(spec, trained_records(study), promoted(study))
        records_all = [schema.record_from_trial(t) for t in study.get_trials(deepcopy=False)]
        by_number = {r.number: r for r in records_all}
        if rivals is not None:
            models = []  # the published models and their best rivals only
        skipped = []
        fitting = published_models(records_all, search_spec.image_size, spec.metric)
        for p in fitting:
            if p.name not in wanted:
                continue
            cheaper = cheaper_rivals(front, p, spec.metric)
            if rivals is not None:  # found networks only: another published one is no find
                cheaper = [r for r in cheaper if not by_number[r.number].preset]
                cheaper = [r for r in cheaper if _named_as(r, named)] if named else cheaper[:rivals]
            if not cheaper:
                skipped.append(p.name)
                continue
            undercut.append((p, cheaper))
            if rivals is not None:
                numbers = [r.number for r in cheaper] + ([p.trial] if p.trial is not None else [])
                for n in numbers:
                    if all(c.number != n for c in models):
                        models.append(candidate_of(by_number[n], spec))
            if not any(c.name == p.name for c in models):
                from searchspace.presets import get_preset

                g = get_preset(p.name).genotype
                macs = p.macs_thop if spec.cost_counter == "thop" else count_cost(
                    g, tuple(search_spec.image_size)).macs_torch  # fmt: skip
                models.append(Candidate(None, p.name, g, p.params, macs))
        unfit = [n for n in wanted if n not in {p.name for p in fitting}]
        if skipped or (unfit and published not in (True, "all")):
            print("published models not retrained: " + "; ".join(
                [f"{n} (no {'named rival' if named else 'front member'} is cheaper on params "
                 "and MACs)" for n in skipped]
                + [f"{n} (its stride does not divide the image size)" for n in unfit]))  # fmt: skip
        unmatched = [k for k in named if not any(_named_as(r, [k]) for _, c in undercut for r in c)]
        if unmatched:
            raise ValueError(
                f"--rivals {', '.join(unmatched)}: not a found front member of study "
                f"{study_name!r} with at most the params and thop MACs of "
                f"{', '.join(wanted)} (the study report lists each published model's cheaper "
                "rivals)"
            )
        if rivals is not None and not undercut:
            raise ValueError(
                f"--rivals: none of the published models {', '.join(wanted)} has a cheaper front "
                f"member in study {study_name!r}: nothing to pair"
            )
    if not models:
        raise ValueError(f"study {study_name!r} has no trained candidate or preset to confirm")
    if rivals is not None:  # cheapest first: an interrupted command has the small ones done
        models.sort(key=lambda c: (c.macs is None, c.macs or 0, c.name))
    csv = out_root / study_name / f"{folder}.csv"
    earlier_table(csv)  # checked before hours of training: a bad file fails now
    n_workers, threads = resolve_workers(workers, device)
    data = load_study_data(search_spec, image_size=spec.image_size, progress=progress)
    has_test = "test" in data.splits and len(data.split("test")) > 0
    seed_list = [spec.seed + k for k in range(seeds)]
    stored = dict(study.user_attrs.get(schema.CONFIRM) or {})
    rows, records = [], {}
    runs = []
    for c in models:
        for seed in seed_list:
            config = confirm_config(spec, recipe_name, epochs, seed)
            run_dir = out_root / study_name / folder / c.folder / f"seed{seed}"
            runs.append((c.genotype, config, run_dir))
    bar = tqdm(total=len(runs), unit="run", desc="confirm", disable=not progress)
    source = data if n_workers == 1 else partial(load_study_data, search_spec,
                                                  image_size=spec.image_size)  # fmt: skip
    results = train_runs(
        runs, source, workers=n_workers, threads=threads, device=device,
        on_done=lambda i, m: bar.update(1),
    )  # fmt: skip
    bar.close()
    for k, c in enumerate(models):
        mine = results[k * seeds : (k + 1) * seeds]
        vals = [(m or {}).get("val") or {} for m in mine]
        tests = [(m or {}).get("test") for m in mine]
        dirs = [str(r[2]) for r in runs[k * seeds : (k + 1) * seeds]]
        config = runs[k * seeds][1]
        v = mean_std([d.get(spec.metric) for d in vals])
        t = mean_std([(d or {}).get(spec.metric) for d in tests]) if has_test else (None, None, 0)
        ext = {}
        for name, path in external.items():
            values, images = [], None
            for m, run_dir in zip(mine, dirs, strict=True):
                if m is None:
                    values.append(None)
                    continue
                r = evaluate_run(Path(run_dir), path, split="all", progress=False,
                                 out_dir=Path(run_dir) / "eval" / f"external-{name}")  # fmt: skip
                values.append(r["metrics"].get(spec.metric))
                images = r["images"]
            ext[name] = {"path": str(path), "images": images, "values": values,
                         "mean_std": list(mean_std(values))}  # fmt: skip
        record = {
            "seeds": seed_list,
            "recipe": recipe_name or spec.recipe,
            "epochs": config.epochs,
            "image_size": list(spec.image_size),
            "metric": spec.metric,
            "val": vals,
            "test": tests if has_test else None,
            "test_split": "test" if has_test else None,
            "mean_std": {"val": list(v), "test": list(t)},
            "run_dirs": dirs,
            "external": ext,
        }
        records[c.key if c.number is None else c.number] = record
        stored[c.key] = record
        rows.append(
            {
                "trial": c.number,
                "name": c.name,
                "genotype_id": c.genotype.id,
                "params": c.params,
                f"macs_{spec.cost_counter}": c.macs,
                "seeds": len(seed_list),
                "recipe": record["recipe"],
                "epochs": config.epochs,
                "image_size": f"{spec.image_size[0]}x{spec.image_size[1]}",
                f"val_{spec.metric}_mean": v[0],
                f"val_{spec.metric}_std": v[1],
                f"test_{spec.metric}_mean": t[0],
                f"test_{spec.metric}_std": t[1],
                **{
                    f"{name}_{spec.metric}_{what}": e["mean_std"][j]
                    for name, e in ext.items()
                    for j, what in ((0, "mean"), (1, "std"))
                },
            }
        )
        study.set_user_attr(schema.CONFIRM, stored)
    csv.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(rows)
    _print(table, spec, has_test)
    earlier = earlier_table(csv)  # read again: another command may have written it meanwhile
    if len(earlier):  # an earlier command's models stay (a --published subset adds its own)
        earlier = earlier[~earlier["genotype_id"].isin(table["genotype_id"])]
        table = pd.concat([earlier, table], ignore_index=True)
    table.to_csv(csv, index=False)
    if undercut:
        by_name = {c.name: c for c in models}
        fidelity = (
            f"{spec.image_size[0]}x{spec.image_size[1]}, {runs[0][1].epochs} epochs, recipe "
            f"{recipe_name or spec.recipe}, {seeds} seeds, validation split"
        )
        paired = pair_rivals(undercut, by_name, records, data.split("val"), spec, fidelity, device)
        # merged: a --published subset replaces its own models' verdicts, keeps the others'
        paired = {**(study.user_attrs.get(schema.RIVALS) or {}), **paired}
        study.set_user_attr(schema.RIVALS, paired)
        _print_rivals(study, search_spec, paired)  # costs at the search's size, as paired
    return ConfirmOutcome(study_name, records, csv)


def rival_keys(rivals) -> tuple[int | None, list[str]]:
    """``--rivals``: (K, []) for a count, (0, keys) for named rivals (genotype ids, 12 hex
    digits, or ``#N`` trial numbers, as the study report names them), (None, []) for none; a bad
    value is a ValueError."""
    if rivals is None:
        return None, []
    text = rivals.strip() if isinstance(rivals, str) else None
    if isinstance(rivals, int) or (text is not None and text.isdigit() and len(text) < 12):
        k = int(rivals)
        if k < 1:
            raise ValueError(f"--rivals K must be >= 1, got {k}")
        return k, []
    keys = rivals.split(",") if isinstance(rivals, str) else list(rivals)
    keys = [k.strip() for k in keys if k.strip()]
    bad = [k for k in keys if not re.fullmatch(r"#\d+|[0-9a-f]{12}", k)]
    if not keys or bad:
        raise ValueError(
            f"--rivals {rivals!r}: give a count K, or genotype ids (12 hex digits) or #N trial "
            f"numbers, comma-separated{' (not: ' + ', '.join(bad) + ')' if bad else ''}"
        )
    return 0, keys


def _named_as(rival, keys) -> bool:
    return any(k == f"#{rival.number}" or k == rival.genotype_id for k in keys)


def earlier_table(csv: Path):
    """The rows an earlier ``confirm`` wrote to ``csv`` (empty when there is none), read before
    any training: a file that is not such a table is named in a ValueError, and left as it is,
    rather than found unreadable after hours of training or overwritten without its rows."""
    import pandas as pd

    if not csv.exists():
        return pd.DataFrame()
    try:
        table = pd.read_csv(csv)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ValueError(f"{csv}: not a confirm table ({e}); move it aside and rerun") from e
    if len(table) and "genotype_id" not in table:
        raise ValueError(
            f"{csv}: not a confirm table (no genotype_id column); move it aside and rerun"
        )
    return table


def pair_rivals(undercut, by_name, records, val, spec, fidelity: str, device: str) -> dict:
    """{published model: {rival trial number: paired result}} (``studies.evidence.rivals``)."""
    import numpy as np

    from runner.runs import per_image_scores
    from studies.evidence.rivals import verdict
    from studies.evidence.stats import paired_comparison

    cache: dict[str, np.ndarray | None] = {}

    def scores(key) -> np.ndarray | None:
        """(seeds, images) validation Dice of a confirmed model; None if a seed failed."""
        record = records.get(key)
        if record is None:
            return None
        name = str(key)
        if name not in cache:
            if any(not v for v in record["val"]):
                cache[name] = None
            else:
                per_seed = [
                    per_image_scores(Path(d), val, device=device)["dice"]
                    for d in record["run_dirs"]
                ]
                cache[name] = np.stack(per_seed)
        return cache[name]

    out: dict[str, dict] = {}
    for p, rivals in undercut:
        c = by_name[p.name]
        base = scores(c.key if c.number is None else c.number)
        results = {}
        for r in rivals:
            mine = scores(r.number)
            result = {"params": r.params, "macs_thop": r.macs_thop, "fidelity": fidelity}
            if base is None or mine is None:
                result.update(delta=None, note="a seed failed or the rival was not confirmed")
            else:
                cmp = paired_comparison(mine, base, seed=0)
                result.update(
                    # mean per-image Dice over the seeds, at the fidelity paired
                    dice=float(mine.mean()),
                    published_dice=float(base.mean()),
                    delta=cmp.mean_delta,
                    ci=[cmp.ci_low, cmp.ci_high],
                    pairs=cmp.n_pairs,
                    p_value=cmp.p_value,
                    verdict=verdict(cmp.ci_low, cmp.ci_high),
                )
            results[str(r.number)] = result
        out[p.name] = results
    return out


def _print_rivals(study, spec, paired: dict) -> None:
    from studies.evidence.rivals import published_models
    from studies.evidence.rivals import rows as rival_rows

    records = [schema.record_from_trial(t) for t in study.get_trials(deepcopy=False)]
    front = pareto_front(spec, trained_records(study), promoted(study))
    table = rival_rows(published_models(records, spec.image_size, spec.metric), front,
                       spec.metric, paired)  # fmt: skip
    print("\npublished models and their cheaper rivals (* reaches it at the search fidelity):")
    print(rivals_text(table))


def rivals_text(table: list[dict]) -> str:
    """The rivals table as text: one line per published model."""
    lines = []
    for r in table:
        head = (
            f"  {r['published']:<9} {r['params']:>9,} params {r['macs_thop'] / 1e6:>8.1f} M MACs: "
        )
        if not r["n_rivals"]:
            lines.append(head + "no cheaper front member")
            continue
        text = head + f"rivals {r['rivals']}"
        if r.get("verdict"):
            text += (
                f"; best confirmed {r['rival']}: delta Dice {r['delta_dice']:+.4f} "
                f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] -> {r['verdict']} ({r['fidelity']})"
            )
        lines.append(text)
    return "\n".join(lines)


def _print(table, spec, has_test: bool) -> None:
    def pm(mean, std) -> str:
        return "-" if mean is None or mean != mean else f"{mean:.4f} ± {std:.4f}"

    m = spec.metric
    view = table[["trial", "name", "params"]].copy()
    view[f"val {m}"] = [
        pm(a, b) for a, b in zip(table[f"val_{m}_mean"], table[f"val_{m}_std"], strict=True)
    ]
    view[f"test {m}"] = [
        pm(a, b) for a, b in zip(table[f"test_{m}_mean"], table[f"test_{m}_std"], strict=True)
    ]
    suffix = f"_{m}_mean"
    for column in table.columns:  # the --external datasets, all of their images
        name = column[: -len(suffix)] if column.endswith(suffix) else None
        if name and name not in ("val", "test"):
            view[f"{name} {m}"] = [
                pm(a, b) for a, b in zip(table[column], table[f"{name}_{m}_std"], strict=True)
            ]
    print(view.to_string(index=False))
    if not has_test:
        print("the dataset has no test split: validation only")
    if spec.synthetic:
        print("SYNTHETIC data: these numbers say nothing about real dermoscopy")
