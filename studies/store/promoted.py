"""The promotions a study holds (``schema.PROMOTED``), as data: what the front, the samplers and
the report read. The promotion rounds themselves are ``studies.search.promotion``."""

from __future__ import annotations

from dataclasses import dataclass, field

from studies.intervals import finite, mean_std, t_interval
from studies.store import schema


@dataclass(frozen=True)
class Promotion:
    """One promoted candidate: its per-seed fuller-fidelity scores (None: a failed seed)."""

    genotype_id: str
    trial: int
    fidelity: str
    values: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    run_dirs: list = field(default_factory=list)

    @property
    def scores(self) -> list[float]:
        """The finite per-seed scores (a failed seed left out)."""
        return finite(self.values)

    @property
    def mean(self) -> float | None:
        return mean_std(self.values).mean

    def interval(self) -> tuple[float, float, float]:
        """(mean, low, high): the 95 % t-interval over seeds (no width with one seed)."""
        return t_interval(self.values)

    def to_dict(self) -> dict:
        return {
            "trial": self.trial,
            "fidelity": self.fidelity,
            "values": list(self.values),
            "seconds": list(self.seconds),
            "run_dirs": list(self.run_dirs),
        }


def promoted(user_attrs) -> dict[str, Promotion]:
    """The study's promotions by genotype id (``study.user_attrs`` or a study)."""
    attrs = getattr(user_attrs, "user_attrs", user_attrs) or {}
    raw = attrs.get(schema.PROMOTED) or {}
    return {
        gid: Promotion(
            gid,
            int(d["trial"]),
            str(d["fidelity"]),
            list(d.get("values") or []),
            list(d.get("seconds") or []),
            list(d.get("run_dirs") or []),
        )  # fmt: skip
        for gid, d in raw.items()
    }
