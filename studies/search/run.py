"""``run_search``: the search verb, from parsed options to a stored study, a front and a report.

Order of work, so that a mistake costs nothing: budgets and every option are checked first (a bad
one is one error, nothing written); then the data is loaded; then the storage is opened and the
study created or resumed (a study made with other settings is refused before anything is written
to it); then trials run until the study holds ``--trials`` trained candidates, or ``--timeout``
passes. ``--trials`` counts *trained* candidates (complete, pruned or failed in training):
over-budget candidates and re-used duplicates are stored but do not count. Re-running the same
command resumes; a larger ``--trials`` extends the study.

Fidelity defaults (documented in docs/search.md): with synthetic data (no ``--data``) 64x64,
400/100/100 images (train/val/test) and 6 epochs, 30 trained candidates; with ``--data``
128x128 and the recipe's epochs (``fast``: 20), 100 trained candidates, a GPU search of a couple
of hours.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import optuna

from studies import objectives as objectives_table
from studies.search import promotion
from studies.search.front import format_front, front_table, pareto_front, trained_records
from studies.search.trial import prescreen
from studies.search.workers import (
    StudyLock,
    WorkerJob,
    fail_stale_and_retry,
    resolve_workers,
    run_workers,
    work,
)
from studies.store import schema
from studies.store.spec import DEFAULT_OBJECTIVES, PruneSettings, StudySpec
from studies.store.storage import (
    check_storage,
    check_study_name,
    default_study_name,
    open_or_create_study,
    open_storage,
    storage_url,
)
from studies.store.trial_state import count_trained, tally

SYNTHETIC = "synthetic"
SYNTHETIC_SIZE = (64, 64)
SYNTHETIC_COUNTS = (400, 100, 100)
SYNTHETIC_EPOCHS = 6
SYNTHETIC_TRIALS = 30
DATA_SIZE = (128, 128)
DATA_TRIALS = 100
BACKENDS = ("optuna", "ray")


@dataclass(frozen=True)
class SearchOptions:
    """The search verb's options, as given on the command line (None = the default)."""

    # budget name -> the flag's text: {"params": "0.4M", "gflops": "0.1", "latency": "15ms"}
    # (studies.objectives declares each budget; options_from also takes budget_params=...)
    budgets: dict = dataclasses.field(default_factory=dict)
    latency_runtime: str = "ort_cpu"
    cost_counter: str = "thop"
    objectives: str = ",".join(DEFAULT_OBJECTIVES)
    metric: str = "dice_per_image_mean"
    min_accuracy: float | None = None  # the accuracy floor (StudySpec.min_accuracy)
    space: str = "base"  # the search space (searchspace.space.SPACES; StudySpec.space)
    promote: str | None = None  # K:S, the fidelity plan (StudySpec.promotion); None: off
    promote_every: int | None = None  # trained candidates between promotion rounds (10)
    promote_fidelity: str | None = None  # HxW:EPOCHS of the promotions (96x96:10)
    budget_hours: float | None = None  # training hours, candidates and promotions together
    sampler: str = "nsga2"
    population: int = 16
    seed: int = 0
    data: str = SYNTHETIC
    recipe: str = "fast"
    epochs: int | None = None
    batch_size: int | None = None
    image_size: tuple[int, int] | None = None
    limit: int | None = None
    device: str = "auto"
    trials: int | None = None
    timeout: float | None = None
    out: str = "runs"
    study: str | None = None
    storage: str | None = None
    include_presets: bool = False
    include_genotypes: tuple[str, ...] | list[str] = ()  # genotype JSON files trained first
    prune: bool = True
    prune_rule: str = "dominance"
    eta: int = 3
    min_resource: int = 1
    backend: str = "optuna"
    address: str | None = None
    gpus_per_trial: float | None = None
    cpus_per_trial: float | None = None
    progress: bool = True
    report: bool = True
    workers: str = "auto"
    gpus: str | None = None  # --gpus 0,1: the GPUs the workers are spread over (default all)
    worker_id: int = 0  # the first worker's id: one per command on a shared storage
    channels_last: str = "auto"
    optimizer_impl: str = "auto"
    cudnn_benchmark: str = "on"
    warm_start: str | None = None  # PROXY:M:K
    warm_start_reference: str | None = None  # study names, comma-separated
    force: bool = False


@dataclass(frozen=True)
class SearchOutcome:
    study_name: str
    storage: str
    counts: dict[str, int]
    front: list[schema.TrialRecord]
    report: Path | None
    front_csv: Path


def _objectives(text: str) -> tuple[str, ...]:
    return objectives_table.parse(str(text))


def _check_options(o: SearchOptions) -> None:
    if o.trials is not None and o.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {o.trials}")
    if o.timeout is not None and o.timeout <= 0:
        raise ValueError(f"--timeout must be > 0 seconds, got {o.timeout}")
    if o.epochs is not None and o.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {o.epochs}")
    if o.limit is not None and o.limit < 1:
        raise ValueError(f"--limit must be >= 1, got {o.limit}")
    if o.backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {o.backend!r}")
    if o.backend == "optuna" and (o.address or o.gpus_per_trial or o.cpus_per_trial):
        raise ValueError("--address, --gpus-per-trial and --cpus-per-trial need --backend ray")
    if o.warm_start:
        from studies.evidence.proxies import parse_warm_start

        parse_warm_start(o.warm_start)
    for path in o.include_genotypes or ():
        included_genotype(path, o.space)  # a bad file is refused before the study is touched
    if o.budget_hours is not None and o.budget_hours <= 0:
        raise ValueError(f"--budget-hours must be > 0, got {o.budget_hours}")
    if o.worker_id < 0:
        raise ValueError(f"--worker-id must be >= 0, got {o.worker_id}")
    if o.backend == "optuna":
        resolve_workers(o.workers, o.device, o.gpus)
        from runner.devices import place

        place(1, o.device, o.gpus)  # a bad --gpus is refused before anything is written
    elif str(o.workers) not in ("auto", "1"):
        raise ValueError(
            "--workers is for --backend optuna; Ray sizes its workers itself "
            "(--cpus-per-trial, --gpus-per-trial)"
        )
    elif o.gpus:
        raise ValueError(
            "--gpus is for --backend optuna; Ray places its trials on GPUs itself "
            "(--gpus-per-trial)"
        )
    if o.backend == "ray":
        _ray_entry()  # fails now, before anything is written, when the backend is missing


def _ray_entry():
    try:
        from studies.ray_tune import run_ray
    except ImportError as e:
        if e.name in ("studies.ray_tune", "studies.ray_tune.backend", "ray"):
            raise ValueError(
                f"--backend ray is not available: {e} (use --backend optuna, the default)"
            ) from None
        raise
    return run_ray


def make_spec(o: SearchOptions, data=None) -> StudySpec:
    """The study spec of these options; with ``data=None`` a provisional one (checks only)."""
    from trainer.config import recipe_with

    synthetic = str(o.data) == SYNTHETIC
    size = tuple(o.image_size) if o.image_size else (SYNTHETIC_SIZE if synthetic else DATA_SIZE)
    config = recipe_with(
        o.recipe,
        image_size=size,
        seed=o.seed,
        select_metric=f"val_{o.metric}",
        select_mode="max",
        epochs=o.epochs if o.epochs is not None else SYNTHETIC_EPOCHS if synthetic else None,
        batch_size=o.batch_size,
        channels_last=None if o.channels_last == "auto" else o.channels_last,
        optimizer_impl=None if o.optimizer_impl == "auto" else o.optimizer_impl,
        cudnn_benchmark=o.cudnn_benchmark,
    )
    info = data.split_info if data is not None else {}
    return StudySpec(
        budgets=objectives_table.parse_budgets(o.budgets, o.latency_runtime),
        latency_runtime=o.latency_runtime,
        data_name=data.name if data is not None else str(o.data),
        data_fingerprint=data.fingerprint if data is not None else "",
        split_hash=str(info.get("hash", "")),
        synthetic=data.synthetic if data is not None else synthetic,
        image_size=size,
        train_config=config.to_dict(),
        recipe=o.recipe,
        cost_counter=o.cost_counter,
        objectives=_objectives(o.objectives),
        metric=o.metric,
        min_accuracy=o.min_accuracy,
        space=o.space,
        promotion=promotion.make_plan(o.promote, o.promote_every, o.promote_fidelity),
        sampler=o.sampler,
        population_size=o.population,
        seed=o.seed,
        data_source=SYNTHETIC if synthetic else _source(o.data),
        data_limit=o.limit,
        synthetic_counts=SYNTHETIC_COUNTS if synthetic else None,
        pruning=PruneSettings(
            enabled=o.prune,
            warmup_epochs=max(1, config.epochs // 4),
            rule=o.prune_rule,
            eta=o.eta,
            min_resource=o.min_resource,
        ),
    )


def _source(data: str) -> str:
    """Where confirm reloads the data from: a dataset's name as given, else the folder's path."""
    from trainer.data.fetch import is_named

    return str(data).lower() if is_named(data) else str(Path(data).resolve())


def enqueue_presets(study: optuna.Study, spec: StudySpec) -> tuple[list[str], list[str]]:
    """Enqueue the presets within budget that this study has not had yet; (enqueued, skipped)."""
    from searchspace.presets import PRESETS

    done = set(study.user_attrs.get(schema.PRESETS_ENQUEUED) or [])
    enqueued, skipped = [], []
    for name, preset in PRESETS.items():
        if name in done:
            continue
        screen = prescreen(spec, preset.genotype)
        if screen.feasible:
            study.enqueue_trial({}, user_attrs={schema.PRESET: name})
            enqueued.append(name)
        else:
            skipped.append(f"{name} ({screen.reason})")
        done.add(name)
    study.set_user_attr(schema.PRESETS_ENQUEUED, sorted(done))
    return enqueued, skipped


def included_genotype(path: str | Path, space: str = "base"):
    """(genotype, Optuna parameters) of a ``--include-genotype`` file; a file that is missing,
    not a genotype, or not a network of ``space`` (the search can only train what its sampler
    can draw) is one clear error."""
    from searchspace import Genotype
    from searchspace.space import choices_for, params_of

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--include-genotype: {path} does not exist")
    try:
        g = Genotype.from_json(path.read_text())
    except Exception as e:  # noqa: BLE001 -- any parse error is the file's fault
        raise ValueError(f"--include-genotype: {path} is not a genotype JSON ({e})") from None
    choices = choices_for(g, space)
    if choices is None:
        wider = " (it is one of the wide space: --space wide)" if (
            space == "base" and choices_for(g, "wide") is not None) else ""  # fmt: skip
        raise ValueError(
            f"--include-genotype: {path} ({g.summary()}) is not a network of the {space} search "
            f"space{wider}; train it with `search.py train --genotype FILE` instead"
        )
    return g, params_of(choices)


def enqueue_genotypes(study: optuna.Study, spec: StudySpec, paths) -> tuple[list[str], list[str]]:
    """Enqueue the ``--include-genotype`` files within budget that this study has not had yet
    (by genotype id, so a resumed command enqueues nothing twice); (enqueued, skipped)."""
    from searchspace.presets import PRESETS

    done = set(study.user_attrs.get(schema.GENOTYPES_ENQUEUED) or [])
    had = set()  # the networks the study already has (trained, waiting or a preset enqueued)
    for t in study.get_trials(deepcopy=False):
        preset = t.user_attrs.get(schema.PRESET)
        had.add(
            PRESETS[preset].genotype.id
            if preset in PRESETS
            else t.user_attrs.get(schema.GENOTYPE_ID)
        )
    enqueued, skipped = [], []
    for path in paths:
        g, params = included_genotype(path, spec.space)
        if g.id in done:
            continue
        if g.id in had:
            skipped.append(f"{Path(path).name} (already in the study)")
            done.add(g.id)
            continue
        screen = prescreen(spec, g)
        if screen.feasible:
            study.enqueue_trial(params, user_attrs={schema.INCLUDED_FROM: str(path)})
            enqueued.append(f"{Path(path).name} ({g.id[:12]})")
        else:
            skipped.append(f"{Path(path).name} ({screen.reason})")
        done.add(g.id)
    study.set_user_attr(schema.GENOTYPES_ENQUEUED, sorted(done))
    return enqueued, skipped


def study_counts(study: optuna.Study) -> dict[str, int]:
    """``workers.tally`` of the study (``trained`` is what ``--trials`` counts)."""
    return tally(study.get_trials(deepcopy=False))


class _Progress:
    """A tqdm bar over trained candidates, fed from the study (any worker's trials)."""

    def __init__(self, study, spec, name: str, trials: int, enabled: bool) -> None:
        from tqdm import tqdm

        self.study, self.spec, self.trials = study, spec, trials
        self.bar = tqdm(
            total=trials,
            initial=min(trials, count_trained(study)),
            unit="trained",
            desc=name,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self._last = None

    def __call__(self, *_: object) -> None:
        trials = self.study.get_trials(deepcopy=False)
        c = tally(trials)
        key = tuple(c.values())
        if key == self._last:
            return
        self._last = key
        self.bar.n = min(self.trials, c["trained"])
        scores = [
            float((t.user_attrs.get(schema.VAL) or {}).get(self.spec.metric, 0.0))
            for t in trials
            if t.state.name == "COMPLETE" and t.user_attrs.get(schema.FEASIBLE)
        ]
        self.bar.set_postfix(
            best=f"{max(scores, default=0.0):.3f}",
            drawn=c["trials"],
            over=c["over_budget"],
            dup=c["duplicate"],
            pruned=c["pruned"],
            failed=c["failed"],
        )
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _optimize(study, spec, o: SearchOptions, name: str, url: str, trials: int, out: Path,
              data) -> None:  # fmt: skip
    import time

    from runner.devices import place, placement_text

    workers, threads = resolve_workers(o.workers, o.device, o.gpus)
    devices = place(workers, o.device, o.gpus)
    job = WorkerJob(
        spec=spec,
        study_name=name,
        url=url,
        target=trials,
        index=o.worker_id,
        workers=workers,
        threads=threads,
        out_root=str(out),
        device=devices[0],
        devices=tuple(devices),
        deadline=time.time() + o.timeout if o.timeout else None,
    )
    if workers > 1 or devices[0].startswith("cuda"):
        threads_text = f", {threads} torch thread(s) each" if threads else ""
        print(f"{placement_text(devices)}{threads_text}")
    bar = _Progress(study, spec, name, trials, o.progress)
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        if workers == 1:
            work(job, data=data, on_trial=bar)
        else:
            run_workers(job, workers, progress=bar)
    finally:
        optuna.logging.set_verbosity(level)
        bar.close()


def run_search(o: SearchOptions, report_builder=None) -> SearchOutcome:
    """Run (or resume) a search; see the module docstring. ``report_builder`` (the CLI passes
    ``reports.build_report``; ``studies`` never imports ``reports``) writes the report when
    ``o.report``; a report error is printed and does not lose the search."""
    from trainer import load_data
    from trainer.data import describe_data

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    make_spec(o)  # every option checked before anything is loaded or written
    _check_options(o)
    synthetic = str(o.data) == SYNTHETIC
    trials = o.trials or (SYNTHETIC_TRIALS if synthetic else DATA_TRIALS)
    out = Path(o.out)
    provisional = make_spec(o)
    name = check_study_name(o.study or default_study_name(o.data, provisional.budgets))
    url = storage_url(name, o.storage, out)
    check_storage(url)  # before the data is loaded: a storage error is the first thing said
    data = load_data(
        o.data,
        image_size=provisional.image_size,
        limit=o.limit,
        seed=provisional.split_seed,
        progress=o.progress,
        **({"synthetic_counts": SYNTHETIC_COUNTS} if synthetic else {}),
    )
    spec = make_spec(o, data)
    if synthetic and o.progress:
        print("no --data: searching on the built-in SYNTHETIC data at reduced size")
    print(describe_data(data))
    storage = open_storage(url)
    study, created = open_or_create_study(spec, name, storage)
    with StudyLock(url, name):
        stale, retried = fail_stale_and_retry(study)
    if stale:
        print(
            f"marked FAIL: trial(s) {', '.join(map(str, stale))} left RUNNING by a stopped worker"
        )
    if retried:
        print(f"enqueued a retry of trial(s) {', '.join(map(str, retried))} (trained, then killed)")
    if o.warm_start:
        from studies.evidence.proxies import warm_start

        ref = [r.strip() for r in (o.warm_start_reference or "").split(",") if r.strip()] or None
        warm = warm_start(study, spec, o.warm_start, reference=ref, force=o.force,
                          storage=o.storage, out_root=out)  # fmt: skip
        if warm:
            print(f"warm start: enqueued {len(warm)} candidates ranked by {o.warm_start}")
    if o.include_presets:
        with StudyLock(url, name):  # several commands starting together enqueue each once
            enqueued, skipped = enqueue_presets(study, spec)
        if enqueued:
            print(f"enqueued presets: {', '.join(enqueued)}")
        if skipped:
            print(
                f"presets over budget at {spec.image_size[0]}x{spec.image_size[1]}: "
                + "; ".join(skipped)
            )
    if o.include_genotypes:
        with StudyLock(url, name):
            enqueued, skipped = enqueue_genotypes(study, spec, o.include_genotypes)
        if enqueued:
            print(f"enqueued genotypes: {', '.join(enqueued)}")
        if skipped:
            print("genotypes not enqueued: " + "; ".join(skipped))
    print(
        f"study {name!r} in {url}: {spec.budget_text()}, objectives "
        f"{', '.join(spec.objectives)} ({spec.metric}), {spec.sampler}, {spec.epochs} epochs "
        f"at {spec.image_size[0]}x{spec.image_size[1]}; {count_trained(study)}/{trials} candidates trained"
    )
    if spec.promotion is not None:
        print(f"fidelity plan: {promotion.describe(spec)}")
    _rounds(study, spec, o, name, url, trials, out, data)
    return _finish(study, spec, name, url, out, o, report_builder)


def _train_to(study, spec, o: SearchOptions, name: str, url: str, target: int, out: Path,
              data, timeout: float | None) -> None:  # fmt: skip
    """Train candidates until the study holds ``target`` trained ones (either backend)."""
    if count_trained(study) >= target:
        return
    if o.backend == "ray":
        _ray_entry()(
            spec,
            name,
            url,
            target,
            timeout,
            address=o.address,
            gpus_per_trial=o.gpus_per_trial,
            cpus_per_trial=o.cpus_per_trial,
            out_root=out,
            device=o.device,
            progress=o.progress,
            data=data,
        )
    else:
        _optimize(study, spec, dataclasses.replace(o, timeout=timeout), name, url, target, out,
                  data)  # fmt: skip


def _rounds(study, spec, o: SearchOptions, name: str, url: str, trials: int, out: Path,
            data) -> None:  # fmt: skip
    """Train up to ``trials`` candidates; with a promotion plan or ``--budget-hours`` in rounds
    of ``every`` (10 without a plan), a promotion round after each, and the training-seconds
    budget (candidates' and promotions' seconds) checked before each round."""
    import time

    plan = spec.promotion
    every = plan.every if plan else (10 if o.budget_hours else trials)
    start = time.time()
    with contextlib.ExitStack() as stack:
        if o.backend == "ray" and every < trials:  # one Ray for every round
            from studies.ray_tune import ray_session

            stack.enter_context(ray_session(o.address))
        _round_loop(study, spec, o, name, url, trials, out, data, every, start)


def _round_loop(study, spec, o: SearchOptions, name: str, url: str, trials: int, out: Path, data,
                every: int, start: float) -> None:  # fmt: skip
    import time

    plan = spec.promotion
    while True:
        spent = sum(promotion.spent_seconds(study))
        if o.budget_hours is not None and spent >= o.budget_hours * 3600:
            print(f"training budget reached: {spent / 3600:.2f} h of {o.budget_hours:g} h "
                  "(candidates and promotions)")  # fmt: skip
            break
        remaining = None if o.timeout is None else o.timeout - (time.time() - start)
        if remaining is not None and remaining <= 0:
            break
        have = count_trained(study)
        if plan is not None:  # a round due but not run (an interrupted run): run it first
            due = [m for m in range(every, min(have, trials) + 1, every)
                   if m not in promotion.rounds_done(study)]  # fmt: skip
            if due:  # after an interrupted run several may be due: one round stands for them
                if _claim_round(study, url, name, due):
                    _promote(study, spec, o, name, url, out)
                continue
        if have >= trials:
            break
        target = min(trials, (have // every + 1) * every)
        _train_to(study, spec, o, name, url, target, out, data, remaining)
        if count_trained(study) == have:
            break  # nothing trained (timeout, or the space has no untried candidate left)
    if (
        plan is not None
        and count_trained(study) >= trials
        and _claim_round(study, url, name, [trials])
    ):
        _promote(study, spec, o, name, url, out)  # the last round: the front as it ends


def _claim_round(study, url: str, name: str, at: list[int]) -> bool:
    """Claim the promotion round(s) at these trained counts under the study lock, so that
    several commands on one storage never run the same round twice (a command stopped during a
    round leaves it claimed: its members, still unpromoted, are picked again by the next round,
    and their finished seeds are reused from the run folders). False when another took it."""
    with StudyLock(url, name):
        done = promotion.rounds_done(study)
        if all(int(m) in done for m in at):
            return False
        study.set_user_attr(schema.PROMOTION_ROUNDS, sorted(done | {int(m) for m in at}))
    return True


def _promote(study, spec, o: SearchOptions, name: str, url: str, out: Path) -> None:
    workers, threads = (
        (1, None) if o.backend == "ray" else resolve_workers(o.workers, o.device, o.gpus)
    )
    new = promotion.run_round(study, spec, study_name=name, out_root=out, device=o.device,
                              workers=workers, threads=threads, progress=o.progress, url=url)  # fmt: skip
    for p in new:
        mean, lo, hi = p.interval()
        ci = f" [{lo:.4f}, {hi:.4f}]" if len(p.scores) > 1 else ""
        print(f"promoted trial {p.trial} ({p.genotype_id}) at {p.fidelity}: {spec.metric} "
              f"{mean:.4f}{ci} over {len(p.scores)} seed(s)")  # fmt: skip


def _finish(
    study, spec, name: str, url: str, out: Path, o: SearchOptions, report_builder=None
) -> SearchOutcome:
    counts = study_counts(study)
    promos = promotion.promoted(study) if spec.promotion is not None else None
    front = pareto_front(spec, trained_records(study), promos)
    print(
        f"\n{counts['trials']} candidates drawn: {counts['trained']} trained (of them "
        f"{counts['pruned']} pruned, {counts['failed']} failed), {counts['over_budget']} over "
        f"budget and {counts['duplicate']} duplicates (not trained)"
        + (f", {counts['retried']} killed and retried" if counts["retried"] else "")
    )
    floor = ""
    if spec.min_accuracy is not None:
        below = sum(objectives_table.below_floor(spec, r.attrs) for r in trained_records(study))
        floor = f"; {below} below the accuracy floor {spec.min_accuracy:g}, never on it"
    print(
        f"Pareto front ({len(front)} of {counts['trained']} trained; validation "
        f"{spec.metric}{', SYNTHETIC data' if spec.synthetic else ''}{floor}):"
    )
    print(format_front(spec, front, promos))
    search_s, promo_s = promotion.spent_seconds(study)
    if spec.promotion is not None:
        runs = sum(len(p.values) for p in (promos or {}).values())
        print(
            f"promotions: {len(promos or {})} networks, {runs} runs at {spec.promotion.fidelity} "
            f"({promo_s / 3600:.2f} h), beside the {counts['trained']} trained candidates "
            f"({search_s / 3600:.2f} h); pairs judged at the fullest fidelity both have"
        )
        pick = promotion.chosen(spec, front, promos or {})
        if pick is not None:
            print(f"handed over: trial {pick.number} ({pick.preset or pick.genotype_id}), marked * "
                  "(the promoted front member with the best fuller-fidelity mean)")  # fmt: skip
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "front.csv"
    front_table(spec, front, promos).to_csv(csv, index=False)
    print(f"front table: {csv}")
    report = None
    if o.report and report_builder is not None:
        report = _report(report_builder, name, url, folder / "report")
        if report is not None:
            print(f"report: {report / 'index.html'}")
    return SearchOutcome(name, url, counts, front, report, csv)


def _report(build_report, name: str, url: str, out_dir: Path) -> Path | None:
    try:
        return Path(build_report(name, url, out_dir))
    except Exception as e:  # a report problem must not lose a finished search
        print(f"report not written: {type(e).__name__}: {e}")
        return None


def options_from(**kwargs) -> SearchOptions:
    """``SearchOptions`` from keyword arguments, unknown ones refused (for scripts and tests); a
    budget may be given by its flag's name, ``budget_params="0.4M"``, ``budget_gflops=...``."""
    budgets = dict(kwargs.pop("budgets", None) or {})
    for b in objectives_table.budget_declarations():
        if b.dest in kwargs:
            budgets[b.name] = kwargs.pop(b.dest)
    names = {f.name for f in dataclasses.fields(SearchOptions)}
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ValueError(f"unknown search option(s) {unknown}")
    return SearchOptions(budgets={k: v for k, v in budgets.items() if v is not None}, **kwargs)
