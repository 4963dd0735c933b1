"""Budgets written the way people write them: ``400k``, ``0.4M``, ``400000``; ``0.1`` (G), ``100M``.

Parameter budgets are plain counts with an optional k/M/G suffix. MAC budgets (``--budget-gflops``)
are in G by default, as the papers print them ("GFLOPs" that are in fact thop MACs); a k/M/G
suffix states the unit explicitly. Both must be positive and finite.
"""

from __future__ import annotations

import math
import re

_SUFFIX = {"": 1, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9}
_PATTERN = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([kKmMgG]?)\s*$")


class BudgetError(ValueError):
    """A budget that cannot be read."""


def _parse(text: str, what: str, default_scale: float) -> float:
    if not isinstance(text, str):
        text = str(text)
    m = _PATTERN.match(text)
    if not m:
        raise BudgetError(
            f"cannot read {what} {text!r}: write a positive number with an optional k, M or G "
            f"suffix, e.g. 400k, 0.4M or 400000"
        )
    number = float(m.group(1))
    scale = _SUFFIX[m.group(2)] if m.group(2) else default_scale
    value = number * scale
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"{what} must be positive, got {text!r}")
    return value


def parse_params(text: str) -> int:
    """``"0.4M"`` -> 400000 parameters."""
    value = int(round(_parse(text, "parameter budget", 1.0)))
    if value < 1:
        raise BudgetError(f"parameter budget must be at least 1 parameter, got {text!r}")
    return value


def parse_macs(text: str) -> int:
    """``"0.1"`` (G by default) or ``"100M"`` -> 100000000 MACs."""
    return int(round(_parse(text, "MAC budget", 1e9)))


def format_count(value: float, unit: str = "") -> str:
    """1234567 -> '1.23 M'."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {suffix}{unit}"
    return f"{value:.0f} {unit}".strip()


def parse_latency_ms(text: str | float) -> float:
    """``"15ms"``, ``"15"`` (ms), ``"0.015s"``, ``"1500us"`` -> milliseconds, or one clear error."""
    import re

    raw = str(text).strip().lower().replace(" ", "")
    m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)(ms|s|us)?", raw)
    if not m:
        raise ValueError(
            f"--budget-latency {text!r}: write a positive time such as 15ms, 15 (ms) or 0.015s"
        )
    value = float(m.group(1)) * {"ms": 1.0, None: 1.0, "s": 1e3, "us": 1e-3}[m.group(2)]
    if not value > 0:
        raise ValueError(f"--budget-latency {text!r}: must be > 0")
    return value
