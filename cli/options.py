"""The options several verbs share, declared once (type, metavar, default, help), and the small
readers of parsed flags (image size, budgets, model). A verb adds a shared option with
``add(parser, "--out", ...)`` and may only reword the help where the option means something
narrower there (``--out`` is a folder for some verbs, a root for others). The search verb's
defaults are not here: they are ``SearchOptions``' (studies/search/run.py); the other verbs'
defaults are their library function's keyword defaults (``defaults_of``)."""

from __future__ import annotations

import inspect
from pathlib import Path

from searchspace.cost import COUNTERS
from studies.search.run import SearchOptions
from trainer.config import RECIPES


def defaults_of(func) -> dict:
    """The keyword defaults of a library function (run_confirm, run_fidelity, ...): the one
    declaration the CLI reads its defaults from."""
    return {
        name: p.default
        for name, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def image_size(values: list[int] | None, default: tuple[int, int] = (256, 256)) -> tuple[int, int]:
    if not values:
        return default
    if len(values) > 2:
        raise ValueError("--image-size takes H or H W")
    h = values[0]
    w = values[1] if len(values) == 2 else values[0]
    if h < 1 or w < 1:
        raise ValueError(f"--image-size must be positive, got {h} {w}")
    return h, w


SEARCH_DEFAULTS = SearchOptions()


STORAGE_HELP = (
    "where the study lives (default sqlite:///runs/STUDY/study.db): sqlite:///FILE, "
    'journal:FILE, postgresql://USER:PASSWORD@HOST:PORT/DB (pip install -e ".[postgres]") '
    "or another Optuna RDB URL"
)


WORKERS_HELP = (
    "worker processes on this machine (default auto: one per usable CPU core, at most 8; on a GPU "
    "machine 1 per GPU used, every visible one or those --gpus names: today's rule, until a GPU "
    "measurement sets it); N workers get cores // N torch threads each (a single worker keeps torch's default); "
    "independent runs are trained that many at a time"
)


SHARED: dict[str, dict] = {
    "--data": {
        "default": SEARCH_DEFAULTS.data,
        "help": "dataset folder (ISIC 2016/2017/2018, PH2, images/+masks/), a dataset's name "
        "(isic2016, isic2017, isic2018: the official archives, downloaded once into "
        "$LESION_NAS_DATA, default ~/.cache/lesion-nas) or 'synthetic' "
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


def add(parser, *flags: str, **override) -> None:
    """Add shared options (``SHARED``) to a parser or group; ``override`` rewords one of them."""
    if override and len(flags) != 1:
        raise TypeError("add: overrides apply to one flag at a time")
    for flag in flags:
        parser.add_argument(flag, **{**SHARED[flag], **override})


def add_image_size(parser, help: str) -> None:
    """The --image-size H [W] option every verb that takes a size shares (read by image_size)."""
    add(parser, "--image-size", help=help)


def add_space(parser, default: str | None = "base") -> None:
    """``--space``: which search space (searchspace.space.SPACES)."""
    from searchspace.space import SPACES

    parser.add_argument(
        "--space",
        choices=SPACES,
        default=default,
        help="the search space: base (the papers' macro: each layout's own width multipliers, "
        "base widths 8-32) or wide (base, plus per-stage width profiles flat / steep / "
        "wide_top, base width 20 and a four-stage malunet layout: about 6x as many choice sets; "
        "`search.py space --space S` counts them); default base (docs/search.md)",
    )


def add_model(parser) -> None:
    """--preset or --genotype, exactly one (read by load_genotype)."""
    src = parser.add_mutually_exclusive_group(required=True)
    add(src, "--preset")
    add(src, "--genotype")


def add_budgets(
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


def budget_texts(args) -> dict[str, str]:
    """{budget name: the flag's text} of the budget flags given (``add_budgets``)."""
    from studies import objectives

    return {
        b.name: getattr(args, b.dest)
        for b in objectives.budget_declarations()
        if getattr(args, b.dest, None) is not None
    }


def load_genotype(args):
    from searchspace import Genotype
    from searchspace.presets import get_preset

    if getattr(args, "preset", None):
        return get_preset(args.preset).genotype
    path = Path(args.genotype)
    if not path.is_file():
        raise FileNotFoundError(f"genotype file {path} does not exist")
    return Genotype.from_json(path.read_text())


def add_from(parser, flag: str, func, param: str, help: str, **override) -> None:
    """A shared option whose default is ``func``'s keyword default for ``param`` (the library's
    one declaration), stated in the help."""
    default = defaults_of(func)[param]
    add(parser, flag, default=default, help=f"{help} (default {default})", **override)
