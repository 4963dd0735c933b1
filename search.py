#!/usr/bin/env python
"""lesion-nas command line: architecture search and ablations for tiny skin-lesion segmenters.

Argument parsing and error reporting only; every verb calls one function of a package.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from runner.latency import RUNTIMES as LATENCY_RUNTIMES  # noqa: E402

# The choice lists of the flags come from their registries (the packages declare them).
from searchspace.cost import COUNTERS  # noqa: E402
from studies.ablation.plan import DEFAULT_FACTORS, PLANS  # noqa: E402
from studies.ablation.plan import FACTORS as ABLATION_FACTORS  # noqa: E402
from studies.objectives import NAMES as ALL_OBJECTIVES  # noqa: E402
from studies.search.run import BACKENDS, SearchOptions  # noqa: E402
from studies.store.spec import PRUNE_RULES, SAMPLERS  # noqa: E402
from trainer.config import OPTIMIZER_IMPLS, RECIPES  # noqa: E402
from trainer.metrics import objective_keys  # noqa: E402

VERBS_HELP = """\
verbs:
  presets    list the published models (named genotypes) with our exact costs beside the papers'
  cost       parameters, thop MACs, torch MACs and activation memory of a preset or genotype file
  space      cost every distinct candidate of the search space at once; how many fit a budget
  train      train one preset or genotype on a dataset (or the built-in synthetic data)
  evaluate   score a trained run on any dataset split, per image, at the masks' own resolution
  export     a trained run as an ONNX file (batch 1), checked against PyTorch with ONNX Runtime
  report     Pareto plots, hypervolume, importance, tables and model cards of a study
  search     the architecture search under hard budgets (the default verb:
             `python search.py --budget-params 0.4M` is `python search.py search --budget-params 0.4M`)
  confirm    retrain a study's Pareto front and presets with several seeds; test mean +- std
  compare    groups of studies side by side (e.g. 3 seeds of TPE vs 3 of random search):
             hypervolume with 95 % CIs, Mann-Whitney U / Welch tests, union fronts
  fidelity   retrain a study's candidates at a higher fidelity: Spearman / Kendall with CIs
  proxies    zero-cost proxies (grad_norm, snip, grasp, fisher, synflow, jacob_cov, naswot) vs a
             study's trained candidates, beside the params and MACs baselines
  ablate     one-factor-at-a-time ablation (or a paper's plan) over seeds, with paired statistics

Run `python search.py VERB --help` for the options of a verb.
"""


def _image_size(values: list[int] | None, default: tuple[int, int] = (256, 256)) -> tuple[int, int]:
    if not values:
        return default
    if len(values) > 2:
        raise ValueError("--image-size takes H or H W")
    h = values[0]
    w = values[1] if len(values) == 2 else values[0]
    if h < 1 or w < 1:
        raise ValueError(f"--image-size must be positive, got {h} {w}")
    return h, w


# ------------------------------------------------------------------------- shared options
# Every option that several verbs take is declared here once (its type, metavar, default and
# help); a verb adds it with ``_add(parser, "--out", ...)`` and may only reword the help where the
# option means something narrower there (``--out`` is a folder for some verbs, a root for others).
# The search verb's defaults are not here: they are SearchOptions' (studies/search/run.py).
SEARCH_DEFAULTS = SearchOptions()
STORAGE_HELP = (
    "where the study lives (default sqlite:///runs/STUDY/study.db): sqlite:///FILE, "
    'journal:FILE, postgresql://USER:PASSWORD@HOST:PORT/DB (pip install -e ".[postgres]") '
    "or another Optuna RDB URL"
)
WORKERS_HELP = (
    "worker processes on this machine (default auto: one per usable CPU core, at most 8; 1 on a "
    "GPU); N workers get cores // N torch threads each (a single worker keeps torch's default); "
    "independent runs are trained that many at a time"
)
SHARED: dict[str, dict] = {
    "--data": {
        "default": SEARCH_DEFAULTS.data,
        "help": "dataset folder (ISIC 2016/2017/2018, PH2, images/+masks/) or 'synthetic' "
        "(the built-in data; default)",
    },
    "--recipe": {"help": "training recipe, one of " + ", ".join(RECIPES)},
    "--epochs": {"type": int, "help": "training epochs (default: the recipe's)"},
    "--batch-size": {"type": int, "help": "batch size (default: the recipe's)"},
    "--image-size": {"type": int, "nargs": "+", "metavar": "H [W]"},
    "--limit": {
        "type": int,
        "metavar": "N",
        "help": "use only the first N training images (smoke runs)",
    },
    "--seed": {"type": int, "help": "training seed (default: the recipe's, 0)"},
    "--seeds": {"type": int, "metavar": "N", "help": "training seeds 0..N-1 per model"},
    "--device": {
        "default": SEARCH_DEFAULTS.device,
        "help": "auto (CUDA if available), cpu or cuda",
    },
    "--out": {"default": SEARCH_DEFAULTS.out, "help": "root of the run folders (default runs/)"},
    "--storage": {"help": STORAGE_HELP},
    "--study": {"help": "study name"},
    "--workers": {"default": SEARCH_DEFAULTS.workers, "metavar": "N|auto", "help": WORKERS_HELP},
    "--preset": {"help": "a preset name (see `presets`)"},
    "--genotype": {"help": "a genotype JSON file"},
    "--run": {"required": True, "help": "a run folder written by train or search"},
}


def _add(parser, *flags: str, **override) -> None:
    """Add shared options (``SHARED``) to a parser or group; ``override`` rewords one of them."""
    if override and len(flags) != 1:
        raise TypeError("_add: overrides apply to one flag at a time")
    for flag in flags:
        parser.add_argument(flag, **{**SHARED[flag], **override})


def _add_image_size(parser, help: str) -> None:
    """The --image-size H [W] option every verb that takes a size shares (read by _image_size)."""
    _add(parser, "--image-size", help=help)


def _add_model(parser) -> None:
    """--preset or --genotype, exactly one (read by _load_genotype)."""
    src = parser.add_mutually_exclusive_group(required=True)
    _add(src, "--preset")
    _add(src, "--genotype")


def _add_budgets(
    parser, counter_help: str, *, table_only: bool = False, default: str | None = "thop"
) -> None:
    """One --budget-NAME flag per budget of the objectives table (studies/objectives.py), and
    --cost-counter; ``table_only``: the budgets the whole-space cost table can check (space)."""
    from studies import objectives

    for b in objectives.budget_declarations():
        owners = [o for o in objectives.OBJECTIVES.values() if o.budget == b]
        if table_only and not any(o.table_column for o in owners):
            continue
        parser.add_argument(b.flag, dest=b.dest, metavar=b.metavar, help=b.help)
    parser.add_argument("--cost-counter", choices=COUNTERS, default=default, help=counter_help)


def _budget_texts(args) -> dict[str, str]:
    """{budget name: the flag's text} of the budget flags given (``_add_budgets``)."""
    from studies import objectives

    return {
        b.name: getattr(args, b.dest)
        for b in objectives.budget_declarations()
        if getattr(args, b.dest, None) is not None
    }


def _load_genotype(args):
    from searchspace import Genotype
    from searchspace.presets import get_preset

    if getattr(args, "preset", None):
        return get_preset(args.preset).genotype
    path = Path(args.genotype)
    if not path.is_file():
        raise FileNotFoundError(f"genotype file {path} does not exist")
    return Genotype.from_json(path.read_text())


# ---------------------------------------------------------------------------------- verbs
def cmd_presets(args) -> int:
    from searchspace.catalog import preset_rows, presets_text

    rows = preset_rows(_image_size(args.image_size))
    print(presets_text(rows, args.format), end="")
    return 0


def cmd_cost(args) -> int:
    from searchspace.cost import count_cost

    g = _load_genotype(args)
    size = _image_size(args.image_size)
    cost = count_cost(g, size, memory=True)
    record = {"name": g.name, "genotype_id": g.id, "summary": g.summary(), **cost.to_dict()}
    if args.format == "json":
        print(json.dumps(record, indent=2))
        return 0
    print(f"{g.name or 'genotype'} [{g.id}]: {g.summary()}")
    print(f"  params      {cost.params:>15,}")
    print(f"  MACs thop   {cost.macs_thop:>15,}   (thop.profile, what papers print as FLOPs)")
    print(f"  MACs torch  {cost.macs_torch:>15,}   (torch FlopCounterMode / 2)")
    print(
        f"  activations {cost.act_bytes:>15,} B (saved for backward, batch 1, fp32: "
        f"{cost.act_bytes / 2**20:.1f} MiB)"
    )
    print(f"  at 1x{g.in_channels}x{size[0]}x{size[1]}")
    return 0


def _train_config(args, preset_recipe: str | None):
    from trainer import recipe

    name = args.recipe or preset_recipe or "fast"
    overrides = {}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.batch_size is not None:
        overrides["batch_size"] = args.batch_size
    if args.image_size:
        overrides["image_size"] = _image_size(args.image_size)
    if args.seed is not None:
        overrides["seed"] = args.seed
    return recipe(name, **overrides)


def cmd_train(args) -> int:
    import time

    from runner.runs import check_image_size, train_genotype
    from searchspace.presets import get_preset
    from trainer import load_data
    from trainer.data import describe_data

    genotype = _load_genotype(args)
    preset_recipe = get_preset(args.preset).recipe if args.preset else None
    config = _train_config(args, preset_recipe)
    check_image_size(genotype, config.image_size)
    data = load_data(args.data, image_size=config.image_size, limit=args.limit, seed=config.seed)
    print(describe_data(data))
    out = (
        Path(args.out)
        if args.out
        else Path("runs")
        / "train"
        / (f"{genotype.name or genotype.id}-{time.strftime('%Y%m%d-%H%M%S')}")
    )
    result = train_genotype(genotype, config, data, out_dir=out, device=args.device)
    val = result.val or {}
    print(
        f"{result.status}: best epoch {result.best_epoch}, val Dice (per-image mean) "
        f"{val.get('dice_per_image_mean', float('nan')):.4f} on {len(data.split('val'))} "
        f"{'SYNTHETIC ' if data.synthetic else ''}validation images, 1 seed ({config.seed})"
    )
    if result.test:
        print(
            f"test Dice (per-image mean) {result.test.get('dice_per_image_mean', float('nan')):.4f}"
        )
    if result.reason:
        print(f"reason: {result.reason}")
    print(f"run folder: {out}")
    return 0 if result.status != "failed" else 1


def cmd_evaluate(args) -> int:
    from runner.runs import evaluate_run
    from trainer.metrics import METRICS

    record = evaluate_run(
        Path(args.run),
        args.data,
        split=args.split,
        metric_resolution=args.metric_resolution,
        save_predictions=Path(args.save_predictions) if args.save_predictions else None,
        out_dir=Path(args.out) if args.out else None,
        device=args.device,
    )
    m = record["metrics"]
    print(
        f"{record['images']} images of {record['data']['name']} ({record['split']}: "
        f"{record['split_reason']}), scored at {record['metric_resolution']} resolution:"
    )
    for key in METRICS:  # every registered metric the evaluation computed
        if f"{key}_per_image_mean" not in m:
            continue
        pooled = m.get(f"{key}_pooled")
        line = f"  {key:<20} per-image mean {m[f'{key}_per_image_mean']:.4f}"
        print(line + (f"   pooled {pooled:.4f}" if pooled is not None else ""))
    print(f"per-image table and metrics: {record['out_dir']}")
    return 0


def cmd_export(args) -> int:
    from runner.runs import export_run

    report, config = export_run(
        Path(args.run),
        Path(args.onnx),
        _image_size(args.image_size) if args.image_size else None,
        opset=args.opset,
        check=not args.no_check,
    )
    print(f"wrote {report.describe()}")
    print(
        f"input: RGB / 255, then (x - mean) / std with mean {tuple(config.mean)}, std "
        f"{tuple(config.std)}; lesion where sigmoid(logits) > {config.threshold}"
    )
    if report.max_abs_diff is None:
        print("not checked against PyTorch (--no-check)")
    else:
        print(
            f"max |ONNX Runtime - PyTorch| = {report.max_abs_diff:.3g} on "
            f"{report.checked_inputs} random inputs (max |logits| {report.output_scale:.3g}, "
            f"tolerance {report.tolerance:.3g})"
        )
    return 0


EXPORT_EPILOG = """\
The graph has one input "image" (1 x 3 x H x W, float32, normalised as in training) and one
output "logits" (1 x 1 x H x W, before the sigmoid). The batch is fixed at 1 and the size at
H x W: torch's exporters cannot make the batch dynamic for every preset (SCSONet's ODConv), so
export once per size. The run's normalisation, threshold and genotype are stored in the file's
metadata.
Unless --no-check, ONNX Runtime (CPU) runs the file on 3 random inputs and the export is refused
(nothing written) if it differs from PyTorch by more than 1e-5 + 1e-4 x max|logits|.
The file is written atomically: a failed export never leaves a partial file or replaces one.
"""


def cmd_space(args) -> int:
    from searchspace.table import space_report
    from studies import objectives

    budgets = objectives.parse_budgets(_budget_texts(args))
    print(
        space_report(
            _image_size(args.image_size),
            limits=objectives.table_limits(budgets, args.cost_counter),
            counter=args.cost_counter,
            workers=args.workers,
            out=args.out,
            progress=not args.quiet,
        ),
        end="",
    )
    return 0


def cmd_report(args) -> int:
    from reports import build_report

    out = build_report(args.study, args.storage, Path(args.out) if args.out else None)
    print(f"report of study {args.study!r}: {out / 'index.html'}")
    return 0


SEARCH_EPILOG = """\
Budgets are hard and checked before training: over-budget candidates are recorded, never trained.
Without --data: built-in SYNTHETIC data at 64x64 (400/100/100 images), 6 epochs, 30 trained
candidates (a few minutes on 2 CPU cores). With --data: 128x128, the recipe's epochs (fast: 20),
100 trained candidates (a GPU search).
--trials counts TRAINED candidates (complete, pruned or failed in training): over-budget and
duplicate candidates are recorded and told to the sampler but do not count. Re-running the same
command resumes the study until it holds --trials trained candidates; a larger --trials extends
it. --workers N runs N worker processes on the study (default auto: one single-thread worker per
CPU core, up to 8; 1 on a GPU); the same command started again (here or on another machine)
against the same --storage, with its own --worker-id, adds workers: they share the study, no
genotype is trained twice, and a candidate whose worker was killed is trained again once.
See docs/search.md.
"""


def search_options(args):
    """``SearchOptions`` from the parsed flags: every field of the dataclass is read from the
    flag of the same name (one declaration: the dataclass), four are spelled differently."""
    import dataclasses

    from studies.search.run import SearchOptions

    special = {
        "image_size": _image_size(args.image_size) if args.image_size else None,
        "prune": not args.no_prune,
        "report": not args.no_report,
        "budgets": _budget_texts(args),
    }
    given = {
        f.name: special[f.name] if f.name in special else getattr(args, f.name)
        for f in dataclasses.fields(SearchOptions)
        if f.name in special or hasattr(args, f.name)
    }
    # a flag not given is None: the dataclass default applies (the defaults live only there)
    return SearchOptions(**{k: v for k, v in given.items() if v is not None})


def cmd_search(args) -> int:
    from studies.search.run import run_search

    try:
        from reports import build_report
    except ImportError:  # the report package is optional for a search
        build_report = None
        print("(no report package: the front table is the result)")

    outcome = run_search(search_options(args), report_builder=build_report)
    return 0 if outcome.counts["trials"] else 1


def _externals(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--external {item!r}: write NAME=PATH")
        if name.strip() in out:
            raise ValueError(f"--external {name.strip()!r} given twice")
        out[name.strip()] = path.strip()
    return out


def cmd_confirm(args) -> int:
    from studies.evidence.confirm import run_confirm

    outcome = run_confirm(
        args.study,
        args.storage,
        seeds=args.seeds,
        recipe_name=args.recipe,
        epochs=args.epochs,
        device=args.device,
        out_root=args.out,
        workers=args.workers,
        external=_externals(args.external),
    )
    print(f"confirmed {len(outcome.records)} model(s): {outcome.csv}")
    return 0


def _add_search_parser(sub) -> None:
    """The search verb's options. No default is stated here: a flag not given is None (False for
    a switch) and ``search_options`` leaves that field to SearchOptions' own default."""
    d = SEARCH_DEFAULTS
    p = sub.add_parser(
        "search",
        help="architecture search under hard budgets (the default verb)",
        epilog=SEARCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    g = p.add_argument_group("budgets and objectives")
    _add_budgets(g, f"which MAC count the budget and objective use (default {d.cost_counter})",
                 default=None)  # fmt: skip
    g.add_argument(
        "--objectives",
        help="comma-separated objectives: accuracy (the validation --metric; 'dice' is an old "
        "name for it) and any of "
        + ", ".join(n for n in ALL_OBJECTIVES if n != "accuracy")
        + " (latency = latency_ort_cpu_ms; studies/objectives.py; default "
        + f"{d.objectives})",
    )
    g.add_argument(
        "--latency-runtime",
        choices=LATENCY_RUNTIMES,
        help="what 'latency' and --budget-latency measure: ort_cpu (ONNX Runtime on the CPU, 1 "
        f"thread) or torch_cpu (torch eager on the CPU); default {d.latency_runtime}",
    )
    g.add_argument(
        "--metric",
        metavar="METRIC",
        help="validation metric of the accuracy objective, one of "
        + ", ".join(objective_keys())
        + f" (trainer/metrics.py; default {d.metric})",
    )
    g = p.add_argument_group("sampler")
    g.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="nsga2, tpe (multi-objective TPE), random, local (one-factor neighbours of the "
        "current front, restart at random when none is left), evolution (regularised "
        "evolution: tournaments by non-dominated rank, one-factor mutations); "
        f"studies/samplers/neighbour.py (default {d.sampler})",
    )
    g.add_argument(
        "--population",
        type=int,
        help="NSGA-II population size / TPE start-up trials / evolution's population (its "
        f"tournament is a quarter of it; default {d.population})",
    )
    g.add_argument("--seed", type=int, help=f"sampler and training seed (default {d.seed})")
    g.add_argument(
        "--no-prune",
        action="store_true",
        help="train every candidate to the end (no multi-objective pruning)",
    )
    g.add_argument(
        "--prune-rule",
        choices=PRUNE_RULES,
        help="dominance (stop a trial that a cheaper finished one beats by a margin at the same "
        "epoch) or sh (multi-objective successive halving: at rungs min-resource * eta**k, keep "
        "the best 1/eta by non-dominated rank, hypervolume contribution breaking ties); "
        f"studies/search/pruning.py (default {d.prune_rule})",
    )
    g.add_argument("--eta", type=int, help=f"sh: the halving factor (default {d.eta})")
    g.add_argument(
        "--min-resource",
        type=int,
        metavar="E",
        help=f"sh: the first rung's epoch (default {d.min_resource})",
    )
    g.add_argument(
        "--warm-start",
        metavar="PROXY:M:K",
        help="before the sampler starts, draw M feasible candidates, score them with a zero-cost "
        "proxy and enqueue the best K as the first trials; refused unless the proxy's Kendall "
        "tau on trained candidates beats params' (see --warm-start-reference, --force)",
    )
    g.add_argument(
        "--warm-start-reference",
        metavar="STUDY[,STUDY]",
        help="the studies whose trained candidates judge the proxy (default: this study's own)",
    )
    g.add_argument("--force", action="store_true", help="use the --warm-start proxy regardless")
    g.add_argument(
        "--include-presets",
        action="store_true",
        help="also train the published models that fit the budget, the same way",
    )
    g = p.add_argument_group("data and training (as in train)")
    _add(g, "--data", default=None)
    _add(g, "--recipe", help=f"training recipe (default {d.recipe}), one of " + ", ".join(RECIPES))
    _add(g, "--epochs", help="epochs per candidate (default 6 synthetic, else the recipe's)")
    _add(g, "--batch-size")
    _add_image_size(g, "a multiple of 32 (default 64 synthetic, 128 with --data)")
    _add(g, "--limit")
    _add(g, "--device", default=None, help=f"auto (CUDA if available), cpu or cuda (default "
         f"{d.device})")  # fmt: skip
    g.add_argument(
        "--channels-last",
        choices=("auto", "on", "off"),
        help="NHWC memory format in training (default auto: on for CUDA; on for CPU unless the "
        "network holds ODConv, which is slower in NHWC there: the measured rule of "
        "benchmarks/channels_last.py; each run records its choice in runtime.json)",
    )
    g.add_argument(
        "--optimizer-impl",
        choices=OPTIMIZER_IMPLS,
        help="optimiser kernels (default auto: torch's fused Adam/AdamW on CPU and CUDA, "
        "measured faster than its CPU default 'forloop'; recorded in runtime.json)",
    )
    g = p.add_argument_group("study")
    g.add_argument(
        "--trials",
        type=int,
        help="trained candidates the study should hold (default 30 synthetic, else 100); "
        "over-budget and duplicate candidates do not count",
    )
    _add(g, "--workers", default=None)
    g.add_argument(
        "--worker-id",
        type=int,
        metavar="K",
        help=f"id of this command's first worker (default {d.worker_id}; its --workers N are "
        "K..K+N-1): give each command started on one --storage its own, it seeds their "
        "samplers and names them in the study",
    )
    g.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    _add(g, "--study", help="study name (default search-DATA-pBUDGET[-mBUDGET])")
    _add(g, "--storage", help=STORAGE_HELP.replace("runs/STUDY", "OUT/STUDY"))
    _add(g, "--out", default=None)
    g.add_argument("--no-report", action="store_true", help="print the front, skip the report")
    g = p.add_argument_group("backend")
    g.add_argument("--backend", choices=BACKENDS, help=f"default {d.backend}")
    g.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    g.add_argument("--gpus-per-trial", type=float, help="Ray: GPUs per trial, e.g. 0.25")
    g.add_argument("--cpus-per-trial", type=float, help="Ray: CPUs per trial")
    p.set_defaults(func=cmd_search)


def cmd_compare(args) -> int:
    from reports.compare import group_markdown, run_compare

    cmp, folder, notes = run_compare(args.group, args.storage, args.out, args.at)
    first = next(iter(cmp.groups.values()))[0]
    from reports import load_study_view
    from reports.study import default_storage

    label = load_study_view(first.name, args.storage or default_storage(first.name)).metric_label
    print(group_markdown(cmp, label))
    for note in notes:
        print(note)
    print(f"comparison: {folder / 'compare.html'}")
    return 0


def cmd_fidelity(args) -> int:
    from studies.evidence.fidelity import run_fidelity

    studies = [s.strip() for s in args.study.split(",") if s.strip()]
    stats = run_fidelity(
        studies,
        storage=args.storage,
        top=args.top,
        sample=args.sample,
        image_size=_image_size(args.image_size),
        epochs=args.epochs,
        seeds=args.seeds,
        recipe_name=args.recipe,
        device=args.device,
        out_root=args.out,
        workers=args.workers,
        reference=None if args.reference.lower() == "none" else args.reference,
        limit=args.limit,
    )
    lo, hi = stats["spearman_ci"], stats["kendall_ci"]
    print(
        f"{stats['n']} candidates; {stats['metric']}: Spearman rho {stats['spearman']:.3f} "
        f"[{lo[0]:.3f}, {lo[1]:.3f}], Kendall tau {stats['kendall']:.3f} [{hi[0]:.3f}, "
        f"{hi[1]:.3f}] (95 % bootstrap CIs); the high-fidelity best is #"
        f"{stats['high_best_rank_at_low']} at low fidelity"
    )
    if stats["failed"]:
        print(f"failed at the high fidelity (left out): {', '.join(stats['failed'])}")
    paired = stats.get("paired")
    if paired is not None and "delta_dice_vs_ref" in paired:
        print(f"against {stats['reference']} (validation Dice, paired per image and seed):")
        for r in paired.to_dict("records"):
            delta = r.get("delta_dice_vs_ref")
            if r["name"] != stats["reference"] and delta is not None and delta == delta:  # not NaN
                print(
                    f"  {r['name']:<14} Dice {r['dice_mean']:.4f} +- {r['dice_std']:.4f}  "
                    f"delta {r['delta_dice_vs_ref']:+.4f} [{r['delta_ci_low']:+.4f}, "
                    f"{r['delta_ci_high']:+.4f}]  p {r['wilcoxon_p']:.3g}"
                )
    print(f"tables: {stats['folder']}/fidelity.md")
    return 0


def _add_fidelity_parser(sub) -> None:
    p = sub.add_parser(
        "fidelity",
        help="retrain trained candidates at a higher fidelity: does the ranking hold?",
        description="Retrain K trained candidates of one or more studies at a second fidelity "
        "and report Spearman rho / Kendall tau between the two fidelities' validation scores, "
        "with bootstrap CIs, and where the high-fidelity best ranked. See studies/evidence/fidelity.py.",
    )
    _add(p, "--study", required=True, help="study name, or several: A,B,C (their union)")
    _add(p, "--storage")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--top", type=int, metavar="K", help="the front, then the best, K in all")
    g.add_argument("--sample", type=int, metavar="K",
                   help="the front, then a stratified sample of the dominated, K in all")  # fmt: skip
    _add_image_size(p, "the second fidelity's size (required)")
    _add(p, "--epochs", required=True, help="the second fidelity's epochs")
    _add(p, "--limit", help="train on the first N of the study's training images only (smoke "
         "runs; the runs go to their own folder)")  # fmt: skip
    _add(p, "--seeds", default=1, help="training seeds per candidate (default 1)")
    p.add_argument(
        "--reference",
        default="scsonet",
        metavar="NAME",
        help="the network the others are compared with, paired per image (a preset or genotype "
        "id among the candidates; default scsonet, when the studies trained it; 'none': skip)",
    )
    _add(p, "--recipe", help="training recipe (default: the study's)")
    _add(p, "--device", "--out", "--workers")
    p.set_defaults(func=cmd_fidelity)


def cmd_proxies(args) -> int:
    from studies.evidence.proxies import markdown, run_proxies

    studies = [s.strip() for s in args.study.split(",") if s.strip()]
    names = [p.strip() for p in args.proxies.split(",") if p.strip()] if args.proxies else None
    out = run_proxies(studies, storage=args.storage, proxies=names, seeds=args.seeds,
                      batch_size=args.batch_size, out_root=args.out)  # fmt: skip
    print(markdown(out["table"], out))
    print(f"tables: {out['folder']}/proxies.md (.csv, .html, .json)")
    return 0


def _add_proxies_parser(sub) -> None:
    from trainer.proxies import PROXIES

    p = sub.add_parser(
        "proxies",
        help="zero-cost proxies scored against a study's trained candidates (rho, tau, CIs)",
        description="Score every trained candidate of one or more studies with zero-cost "
        "proxies (on one batch of the study's training data, untrained networks) and report how "
        "well each ranks the validation scores, beside the params and MACs baselines. See "
        "studies/evidence/proxies.py and trainer/proxies.py for the definitions.",
    )
    _add(p, "--study", required=True, help="study name, or several: A,B,C (their union)")
    _add(p, "--storage")
    p.add_argument("--proxies", help=f"comma-separated subset of {','.join(PROXIES)} (default all)")
    _add(p, "--seeds", default=1, help="initialisation seeds (default 1)")
    _add(p, "--batch-size", default=16, help="images in the batch (default 16)")
    _add(p, "--out")
    p.set_defaults(func=cmd_proxies)


def _add_compare_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="search strategies side by side: hypervolume with CIs, tests, fronts",
        description="Compare groups of studies (e.g. 3 seeds of NSGA-II vs 3 of random search) "
        "of the same space, budgets, data and fidelity: hypervolume against trained candidates "
        "and wall time (mean and 95 % CI per group), the final hypervolume with Mann-Whitney U "
        "and Welch tests, and the union Pareto fronts. See reports/compare.py.",
    )
    p.add_argument(
        "--group",
        action="append",
        required=True,
        metavar="NAME=STUDY,STUDY,...",
        help="a group of studies (give it twice or more)",
    )
    _add(p, "--storage", help="one storage for all studies (default: each study's "
         "sqlite:///runs/STUDY/study.db)")  # fmt: skip
    p.add_argument("--at", type=int, help="read the final hypervolume after this many trained "
                   "candidates (default: the fewest any study has)")  # fmt: skip
    _add(p, "--out", default=None, help="output folder (default runs/compare-GROUP-vs-GROUP)")
    p.set_defaults(func=cmd_compare)


def _add_confirm_parser(sub) -> None:
    p = sub.add_parser("confirm", help="retrain a study's front and presets with several seeds")
    _add(p, "--study", required=True)
    _add(p, "--storage")
    _add(p, "--seeds", default=3, help="training seeds per model (default 3)")
    _add(p, "--recipe", help="training recipe (default: the search's)")
    _add(p, "--epochs", "--device", "--out", "--workers")
    p.add_argument(
        "--external",
        action="append",
        metavar="NAME=PATH",
        help="also evaluate every confirmed run on this dataset (all its images, at the masks' "
        "own resolution); repeatable, e.g. --external ph2=data/PH2",
    )
    p.set_defaults(func=cmd_confirm)


def cmd_ablate(args) -> int:
    import optuna

    from studies.ablation import ablate

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    factors = [f.strip() for f in (args.factors or "").split(",") if f.strip()]
    if args.base is not None and not factors:
        factors = list(DEFAULT_FACTORS)
    out, variants = ablate(
        base=args.base,
        plan_name=args.plan,
        factors=factors,
        seeds=args.seeds,
        data_source=args.data,
        recipe_name=args.recipe,
        epochs=args.epochs,
        image_size=_image_size(args.image_size) if args.image_size else None,
        limit=args.limit,
        device=args.device,
        storage=args.storage,
        study_name=args.study,
        out_root=Path(args.out),
        latency=not args.no_latency,
    )
    print((out / "ablation.md").read_text())
    print(f"ablation table, plot and data: {out}")
    return 0


# ---------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="search.py",
        description="lesion-nas: search and ablate tiny skin-lesion segmentation networks.",
        epilog=VERBS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    p = sub.add_parser(
        "ablate",
        help="one-factor-at-a-time ablation of a model over several seeds, with paired statistics",
        description=(
            "Train the base model and every one-factor-at-a-time neighbour (or a named plan that "
            "reproduces a paper's ablation table) with the same seeds, splits and recipe; store "
            "every run in an Optuna study (re-running resumes); write a paper-style table "
            "(Markdown, LaTeX, CSV) with Dice/Jaccard mean ± std over seeds and Δ vs the base "
            "with a paired Wilcoxon test and a bootstrap CI, and a Δ Dice vs Δ params plot."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--base", help="PRESET, a genotype .json file, or STUDY:TRIAL")
    src.add_argument(
        "--plan",
        help="a paper's ablation plan: " + ", ".join(PLANS),
    )
    p.add_argument(
        "--factors",
        help=f"with --base: comma-separated among {', '.join(ABLATION_FACTORS)} "
        f"(default: {','.join(DEFAULT_FACTORS)})",
    )
    _add(p, "--seeds", default=3, help="seeds 0..N-1 per variant (default 3)")
    _add(p, "--data")
    _add(p, "--recipe", default="fast", help="training recipe (default fast)")
    _add(p, "--epochs")
    _add_image_size(p, "default: the recipe's")
    _add(p, "--limit", "--device", "--storage")
    _add(p, "--study", help="study name (default ablate-PLAN or ablate-BASE)")
    _add(p, "--out", help="root of run folders and reports (default runs/)")
    p.add_argument("--no-latency", action="store_true", help="skip the CPU latency column")
    p.set_defaults(func=cmd_ablate)

    p = sub.add_parser("presets", help="list the published models with their costs")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    _add_image_size(p, "default 256")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("cost", help="exact costs of a preset or genotype file")
    _add_model(p)
    _add_image_size(p, "default 256")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_cost)

    p = sub.add_parser("train", help="train one preset or genotype")
    _add_model(p)
    _add(p, "--data")
    _add(p, "--recipe", help="training recipe (default: the preset's, else 'fast'); "
         + ", ".join(RECIPES))  # fmt: skip
    _add(p, "--epochs", "--batch-size")
    _add_image_size(p, "training size (default: the recipe's, 256)")
    _add(p, "--limit", "--seed", "--device")
    _add(p, "--out", default=None, help="run folder (default runs/train/NAME-TIMESTAMP)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained run on a dataset")
    _add(p, "--run")
    _add(p, "--data", default=None, required=True, help="dataset folder or 'synthetic'")
    p.add_argument(
        "--split",
        help="test, val, train or all (default: on the run's own dataset test if present, else "
        "val; on any other dataset all its images)",
    )
    p.add_argument(
        "--metric-resolution",
        choices=("original", "model"),
        default="original",
        help="score at each ground-truth mask's own size (ISIC, default) or at the "
        "model's input size (what the papers report)",
    )
    p.add_argument("--save-predictions", metavar="DIR", help="write one 0/255 PNG per image id")
    _add(p, "--out", default=None,
         help="folder for per_image.csv and metrics.json (default RUN/eval/...)")  # fmt: skip
    _add(p, "--device")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "export",
        help="write a trained run as an ONNX file and check it against PyTorch",
        description="Export the trained network of a run folder to ONNX (batch 1, fixed size)\n"
        "and check it against PyTorch with ONNX Runtime.",
        epilog=EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add(p, "--run")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    _add_image_size(
        p, "input size, a multiple of the network's stride (default: the run's training size)"
    )
    p.add_argument("--opset", type=int, help="ONNX opset, 11..20 (default 17)")
    p.add_argument(
        "--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison"
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="write the report of a study (plots, tables, model cards)")
    _add(p, "--study", required=True)
    _add(p, "--storage")
    _add(p, "--out", default=None, help="report folder (default runs/STUDY/report)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "space",
        help="cost every candidate of the search space; how many fit a budget",
        description=(
            "Exact params and MACs of every distinct candidate of the search space at "
            "one image size. Parts shared between candidates are measured once, in worker "
            "processes, and kept in the persistent part memo, so later searches pre-screen from "
            "it. With budgets, counts the candidates within them (per block family)."
        ),
    )
    _add_image_size(p, "default 256")
    _add_budgets(p, "which MAC count the budget and summary use (default thop)", table_only=True)
    p.add_argument(
        "--workers", type=int, metavar="K", help="processes measuring parts (default: CPU count)"
    )
    _add(p, "--out", default=None, metavar="CSV", help="write the whole table as CSV here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_space)

    _add_search_parser(sub)
    _add_confirm_parser(sub)
    _add_compare_parser(sub)
    _add_fidelity_parser(sub)
    _add_proxies_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].startswith("--") and argv[0] != "--help":
        argv.insert(0, "search")  # the search is the default verb
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    # `kill PID` (SIGTERM) stops the command as Ctrl-C does: its cleanup runs, so the worker
    # processes it started are stopped with it instead of training on as orphans
    previous = signal.signal(signal.SIGTERM, _terminated) if _in_main_thread() else None
    try:
        from trainer.malloc import check_setting

        check_setting()  # a bad LESION_NAS_MALLOC fails here, not in every trial
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        print("terminated" if isinstance(e, Terminated) else "interrupted", file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug, not the user's input: one line, the trace in a file
        print(unexpected_error_line(e, argv), file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that its cleanup runs."""


def _terminated(signum, frame) -> None:
    raise Terminated()


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _user_errors() -> tuple[type[BaseException], ...]:
    from searchspace.registry import UnknownName
    from trainer.datatypes import MissingSplit

    return (ValueError, UnknownName, MissingSplit, FileNotFoundError, NotADirectoryError)


USER_ERRORS = _user_errors()


def unexpected_error_line(error: BaseException, argv: list[str]) -> str:
    """One line naming the exception, the verb and the innermost project frame; the full trace is
    written to ``runs/errors/`` (or the temporary folder when that cannot be written)."""
    import os
    import tempfile
    import time
    import traceback

    verb = argv[0] if argv else "search"
    trace = "".join(traceback.format_exception(error))
    text = f"lesion-nas {verb}: {' '.join(argv)}\n{trace}"
    name = f"{verb}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    where = None
    for folder in (Path("runs") / "errors", Path(tempfile.gettempdir()) / "lesion-nas-errors"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            where = folder / name
            break
        except OSError:
            continue
    root = Path(__file__).resolve().parent
    frames = traceback.extract_tb(error.__traceback__)
    ours = [
        f
        for f in frames
        if Path(f.filename).resolve().is_relative_to(root) and "site-packages" not in f.filename
    ] or frames
    place = ""
    if ours:
        f = ours[-1]
        try:
            shown = Path(f.filename).resolve().relative_to(root)
        except ValueError:
            shown = Path(f.filename)
        place = f" at {shown}:{f.lineno} ({f.name})"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    detail = f": {type(error).__name__}({detail})" if detail else f": {type(error).__name__}"
    trace_note = f"full trace in {where}" if where else "the trace could not be written"
    return (
        f"error: '{verb}' failed unexpectedly{place}{detail}; {trace_note} "
        "(this is a bug in lesion-nas, not in your input)"
    )


if __name__ == "__main__":
    sys.exit(main())
