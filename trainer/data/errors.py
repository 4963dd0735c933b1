"""The one exception the data layer raises for bad input, and helpers to word its messages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class DataError(ValueError):
    """A dataset on disk is missing, malformed or ambiguous.

    The message always names the problem and the file(s) or folder(s) involved. When it is raised
    while loading, nothing has been written to the cache.
    """


def list_names(items: Sequence[str | Path], limit: int = 10) -> str:
    """``'a, b, c'`` for at most ``limit`` items, then ``'(and N more)'``."""
    names = [item.name if isinstance(item, Path) else str(item) for item in items]
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f" (and {len(names) - limit} more)"
    return shown
