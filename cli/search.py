"""The search verb (the default: `python search.py --budget-params 0.4M`)."""

from __future__ import annotations

import argparse
import dataclasses

from cli import options as o
from runner.latency import RUNTIMES as LATENCY_RUNTIMES
from studies.objectives import NAMES as ALL_OBJECTIVES
from studies.search.run import BACKENDS, SearchOptions
from studies.store.spec import PRUNE_RULES, SAMPLERS
from trainer.config import OPTIMIZER_IMPLS, RECIPES
from trainer.metrics import objective_keys

EPILOG = """\
Budgets are hard and checked before training: over-budget candidates are recorded, never trained.
Without --data: built-in SYNTHETIC data at 64x64 (400/100/100 images), 6 epochs, 30 trained
candidates (a few minutes on 2 CPU cores). With --data: 128x128, the recipe's epochs (fast: 20),
100 trained candidates (a GPU search).
--trials counts TRAINED candidates (complete, pruned or failed in training): over-budget and
duplicate candidates are recorded and told to the sampler but do not count. Re-running the same
command resumes the study until it holds --trials trained candidates; a larger --trials extends
it. --workers N runs N worker processes on the study (default auto: one single-thread worker per
CPU core, up to 8; 1 per GPU used on a GPU machine); the same command started again (here or on another machine)
against the same --storage, with its own --worker-id, adds workers: they share the study, no
genotype is trained twice, and a candidate whose worker was killed is trained again once.
See docs/search.md.
"""


def search_options(args):
    """``SearchOptions`` from the parsed flags: every field of the dataclass is read from the
    flag of the same name (one declaration: the dataclass), four are spelled differently."""
    special = {
        "image_size": o.image_size(args.image_size) if args.image_size else None,
        "prune": not args.no_prune,
        "report": not args.no_report,
        "budgets": o.budget_texts(args),
    }
    given = {
        f.name: special[f.name] if f.name in special else getattr(args, f.name)
        for f in dataclasses.fields(SearchOptions)
        if f.name in special or hasattr(args, f.name)
    }
    # a flag not given is None: the dataclass default applies (the defaults live only there)
    return SearchOptions(**{k: v for k, v in given.items() if v is not None})


def run(args) -> int:
    from studies.search.run import run_search

    try:
        from reports import build_report
    except ImportError:  # the report package is optional for a search
        build_report = None
        print("(no report package: the front table is the result)")

    outcome = run_search(search_options(args), report_builder=build_report)
    return 0 if outcome.counts["trials"] else 1


def add_parser(sub) -> None:
    """The search verb's options. No default is stated here: a flag not given is None (False for
    a switch) and ``search_options`` leaves that field to SearchOptions' own default."""
    d = o.SEARCH_DEFAULTS
    p = sub.add_parser(
        "search",
        help="architecture search under hard budgets (the default verb)",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    g = p.add_argument_group("budgets and objectives")
    o.add_budgets(g, f"which MAC count the budget and objective use (default {d.cost_counter})",
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
    g.add_argument(
        "--min-accuracy",
        type=float,
        metavar="F",
        help="accuracy floor: trained candidates whose validation --metric (at the search "
        "fidelity) is below F are never on the front, local search does not move from them, and "
        "the hypervolume's reference accuracy is F (e.g. a reference model's score minus a "
        "margin; default none)",
    )
    g = p.add_argument_group(
        "fidelity plan (a search that tells a better network from a lucky draw)"
    )
    g.add_argument(
        "--promote",
        metavar="K:S",
        help="every --promote-every trained candidates, retrain the K best front members not yet "
        "promoted at the fuller --promote-fidelity with S seeds; pairs of candidates are then "
        "judged at the fullest fidelity both have (front, local search's moves), front members "
        "carry mean and 95 %% CI, and the search hands over the promoted member with the best "
        "fuller-fidelity mean; promotions are not counted in --trials "
        "(studies/search/promotion.py; default off)",
    )
    g.add_argument("--promote-every", type=int, metavar="N",
                   help="trained candidates between promotion rounds (default 10)")  # fmt: skip
    g.add_argument(
        "--promote-fidelity",
        metavar="HxW:EPOCHS",
        help="the promotions' image size and epochs, fuller than the search's (default 96x96:10)",
    )
    g.add_argument(
        "--budget-hours",
        type=float,
        metavar="H",
        help="stop starting rounds once the study's training seconds (trained candidates and "
        "promotions together) reach H hours, so that plans compare at equal compute "
        "(default: no limit; --trials still caps the trained candidates)",
    )
    g = p.add_argument_group("sampler")
    o.add_space(g, default=None)
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
    g.add_argument(
        "--include-genotype",
        dest="include_genotypes",
        action="append",
        metavar="FILE",
        help="also train this genotype JSON (a network of the space: a committed winner, say) "
        "the same way, first; repeat for several; over-budget ones are skipped, said so",
    )
    g = p.add_argument_group("data and training (as in train)")
    o.add(g, "--data", default=None)
    o.add(g, "--recipe", help=f"training recipe (default {d.recipe}), one of " + ", ".join(RECIPES))
    o.add(g, "--epochs", help="epochs per candidate (default 6 synthetic, else the recipe's)")
    o.add(g, "--batch-size")
    o.add_image_size(g, "a multiple of 32 (default 64 synthetic, 128 with --data)")
    o.add(g, "--limit")
    o.add(g, "--device", default=None, help=f"auto (CUDA if available), cpu or cuda (default "
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
    g.add_argument(
        "--cudnn-benchmark",
        choices=("on", "off"),
        help="cuDNN's autotuner during training on CUDA (default on, as before; off uses "
        "cuDNN's heuristics instead of tuning each candidate's new shapes; which is faster for "
        "a search of many architectures is not measured yet)",
    )
    g = p.add_argument_group("study")
    g.add_argument(
        "--trials",
        type=int,
        help="trained candidates the study should hold (default 30 synthetic, else 100); "
        "over-budget and duplicate candidates do not count",
    )
    o.add(g, "--workers", default=None)
    g.add_argument(
        "--gpus",
        metavar="I,J,...",
        help="the GPUs the workers are spread over, round robin (indexes among the GPUs "
        "CUDA_VISIBLE_DEVICES leaves; default: every visible GPU)",
    )
    g.add_argument(
        "--worker-id",
        type=int,
        metavar="K",
        help=f"id of this command's first worker (default {d.worker_id}; its --workers N are "
        "K..K+N-1): give each command started on one --storage its own, it seeds their "
        "samplers and names them in the study",
    )
    g.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    o.add(g, "--study", help="study name (default search-DATA-pBUDGET[-mBUDGET])")
    o.add(g, "--storage", help=o.STORAGE_HELP.replace("runs/STUDY", "OUT/STUDY"))
    o.add(g, "--out", default=None)
    g.add_argument("--no-report", action="store_true", help="print the front, skip the report")
    g = p.add_argument_group("backend")
    g.add_argument("--backend", choices=BACKENDS, help=f"default {d.backend}")
    g.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    g.add_argument("--gpus-per-trial", type=float, help="Ray: GPUs per trial, e.g. 0.25")
    g.add_argument("--cpus-per-trial", type=float, help="Ray: CPUs per trial")
    p.set_defaults(func=run)
