"""Which networks an ablation trains: its base, one-factor-at-a-time neighbours, the papers' plans.

``resolve_base(text, ...)`` turns ``--base`` (a preset name, a genotype JSON file, or STUDY:TRIAL)
into the base genotype. ``neighbours(base, factors)`` returns the base plus, for every chosen
factor, one variant per alternative value of that factor (everything else unchanged). A value that
gives an invalid network, or a network identical to one already listed, is skipped with its
reason. Named plans reproduce the structure of the papers' own ablation tables.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna

from searchspace import Genotype, GenotypeError
from searchspace.presets import get_preset
from searchspace.presets.ulrtsnet import ULRTS_ABLATION_VARIANTS, ULRTS_ATTENTION_VARIANTS
from searchspace.registry import COMPRESSIONS
from searchspace.space import ALL_FACTORS as SPACE_FACTORS
from searchspace.space import with_block, with_stem
from studies.store import schema
from studies.store.storage import open_storage

# the factors an ablation varies one at a time: the spaces' own (``searchspace.space.ALL_FACTORS``)
# that can be set on a genotype, with the space's values (bridge: every bridge of the space;
# width_profile: on networks of the wide space)
FACTORS = {f.name: f for f in SPACE_FACTORS if f.apply is not None}
DEFAULT_FACTORS = tuple(f.name for f in SPACE_FACTORS if f.ablate_by_default)


@dataclass(frozen=True)
class Variant:
    name: str  # "base", or "<factor>=<value>", or a plan's row name
    factor: str  # "base", a factor name, or "plan"
    value: str
    genotype: Genotype | None  # None when skipped
    skipped: str | None = None  # the reason, when skipped


def neighbours(base: Genotype, factors: list[str]) -> list[Variant]:
    unknown = [f for f in factors if f not in FACTORS]
    if unknown:
        raise ValueError(f"unknown factor(s) {', '.join(unknown)}; known: {', '.join(FACTORS)}")
    base_name = f"base ({base.name})" if base.name else "base"
    out = [Variant(base_name, "base", "", base)]
    seen = {base.id: base_name}
    for name in factors:
        factor = FACTORS[name]
        if not factor.varies(base):
            out.append(Variant(name, name, "", None, f"the base has no {name} to vary"))
            continue
        for value in factor.values({}):
            label = f"{name}={value}"
            try:
                g = dataclasses.replace(factor.apply(base, value), name=label)
            except GenotypeError as e:
                out.append(Variant(label, name, str(value), None, str(e)))
                continue
            if g.id in seen:
                if seen[g.id] != base_name:
                    out.append(
                        Variant(label, name, str(value), None, f"same network as {seen[g.id]}")
                    )
                continue  # the base's own value
            seen[g.id] = label
            out.append(Variant(label, name, str(value), g))
    return out


def _named(rows: list[tuple[str, Genotype]], base: str) -> list[Variant]:
    out = [
        Variant(name, "base" if name == base else "plan", name, dataclasses.replace(g, name=name))
        for name, g in rows
    ]
    out.sort(key=lambda v: v.factor != "base")  # the base first, the paper's order otherwise
    return out


def _lmsa() -> list[Variant]:
    g = get_preset("lmsaunet").genotype
    rows = [(f"N={n}", dataclasses.replace(g, compression=n)) for n in COMPRESSIONS]
    return _named(rows, "N=8")


def _scsonet_scf() -> list[Variant]:
    g = get_preset("scsonet").genotype

    def swap(kind: str) -> Genotype:
        enc = tuple(f"scf_{kind}" if b == "scf" else b for b in g.encoder)
        dec = tuple(f"scf_dec_{kind}" if b == "scf_dec" else b for b in g.decoder)
        return dataclasses.replace(g, encoder=enc, decoder=dec)

    rows = [
        ("SCF (PConv + EMA)", g),
        ("SCF with DSC", swap("dsc")),
        ("SCF with dilated conv", swap("dil")),
        ("SCF without EMA", swap("noema")),
    ]
    return _named(rows, "SCF (PConv + EMA)")


def _scsonet_modules() -> list[Variant]:
    m = get_preset("malunet").genotype
    rows = [
        ("MALUNet", m),
        ("+ ConvStem", with_stem(m, "convstem")),
        ("+ SCF", with_block(m, "scf")),
        ("+ ConvStem + SCF", with_block(with_stem(m, "convstem"), "scf")),
    ]
    return _named(rows, "MALUNet")


PLANS: dict[str, tuple[str, Callable[[], list[Variant]]]] = {
    "ulrts-attention": (
        "ULRTS-Net attention orders none / SA / CA / SA+CA / CA+SA (paper Table 3), base CA+SA",
        lambda: _named(
            [(f"attention {k}", g) for k, g in ULRTS_ATTENTION_VARIANTS.items()], "attention ca_sa"
        ),
    ),
    "ulrts-modules": (
        "ULRTS-Net modules DC x5, DSCM x5, DSCM x3 + MSFFM-3 x2, + MSFFM-5, + ML-SFFM (Table 4)",
        lambda: _named(list(ULRTS_ABLATION_VARIANTS.items()), "full"),
    ),
    "lmsa-compression": ("LMSAUnet compression factor N in 2, 4, 8, 16, 32, base N = 8", _lmsa),
    "scsonet-scf": (
        "SCSONet's SCF: PConv vs DSC vs dilated conv, with and without EMA",
        _scsonet_scf,
    ),
    "scsonet-modules": ("MALUNet base, + ConvStem, + SCF, both (= SCSONet)", _scsonet_modules),
}


def plan(name: str) -> list[Variant]:
    if name not in PLANS:
        raise ValueError(f"unknown plan {name!r}; known: {', '.join(PLANS)}")
    return PLANS[name][1]()


def resolve_base(text: str, storage: str | None, out_root: Path) -> Genotype:
    """A preset name, a genotype JSON file, or STUDY:TRIAL (a trial of a stored study)."""
    from searchspace.presets import PRESETS

    if text in PRESETS:
        return PRESETS[text].genotype
    path = Path(text)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"genotype file {path} does not exist")
        return Genotype.from_json(path.read_text())
    if ":" in text:
        study_name, _, number = text.rpartition(":")
        if not number.isdigit():
            raise ValueError(f"--base {text!r}: expected STUDY:TRIAL with a trial number")
        url = storage or f"sqlite:///{out_root / study_name / 'study.db'}"
        storage_obj = open_storage(url, create=False)
        study = optuna.load_study(study_name=study_name, storage=storage_obj)
        trials = [t for t in study.trials if t.number == int(number)]
        if not trials or schema.GENOTYPE not in trials[0].user_attrs:
            raise ValueError(f"study {study_name!r} has no trial {number} with a genotype")
        g = Genotype.from_dict(trials[0].user_attrs[schema.GENOTYPE])
        return dataclasses.replace(g, name=g.name or f"{study_name}-{number}")
    raise ValueError(
        f"--base {text!r} is neither a preset ({', '.join(PRESETS)}), a genotype .json file, "
        "nor STUDY:TRIAL"
    )
