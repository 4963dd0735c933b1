"""Build the parser from the verb modules and run one verb, with the project's error handling."""

from __future__ import annotations

import argparse
import signal
import sys

from cli import (
    ablate,
    compare,
    confirm,
    cost,
    evaluate,
    export,
    fidelity,
    presets,
    proxies,
    report,
    search,
    space,
    train,
)
from cli.errors import (
    USER_ERRORS,
    Terminated,
    in_main_thread,
    terminated,
    unexpected_error_line,
)

# the verbs, in the order `--help` lists them
VERBS = (ablate, presets, cost, train, evaluate, export, report, space, search, confirm, compare,
         fidelity, proxies)  # fmt: skip
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="search.py",
        description="lesion-nas: search and ablate tiny skin-lesion segmentation networks.",
        epilog=VERBS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        verb.add_parser(sub)
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
    previous = signal.signal(signal.SIGTERM, terminated) if in_main_thread() else None
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
