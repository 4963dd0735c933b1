"""Exact hypervolume of a set of points (all objectives minimised), and non-domination.

Small and exact: a sweep in 2-D, slicing along the last axis above that (fine for the tens of
front members a search keeps). No private Optuna API.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, ...]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every (minimised) objective and better in one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def non_dominated(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the points no other point dominates (equal points all stay)."""
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]


def nondominated_ranks(points: Sequence[Sequence[float]]) -> list[int]:
    """Rank 0 for the non-dominated points, 1 for those only rank 0 dominates, and so on."""
    ranks = [-1] * len(points)
    left = list(range(len(points)))
    rank = 0
    while left:
        front = {left[j] for j in non_dominated([points[i] for i in left])}
        for i in front:
            ranks[i] = rank
        left = [i for i in left if i not in front]
        rank += 1
    return ranks


def _hv2(points: list[Point], ref: Point) -> float:
    area, y_best = 0.0, ref[1]
    for x, y in sorted(points):
        if y < y_best:
            area += (ref[0] - x) * (y_best - y)
            y_best = y
    return area


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Volume dominated by ``points`` and bounded by ``reference`` (minimisation)."""
    ref = tuple(float(r) for r in reference)
    pts = [tuple(float(v) for v in p) for p in points]
    if any(len(p) != len(ref) for p in pts):
        raise ValueError("every point needs as many coordinates as the reference point")
    pts = [p for p in pts if all(v < r for v, r in zip(p, ref, strict=True))]
    if not pts:
        return 0.0
    if len(ref) == 1:
        return ref[0] - min(p[0] for p in pts)
    if len(ref) == 2:
        return _hv2(pts, ref)
    pts = [pts[i] for i in non_dominated(pts)]
    pts.sort(key=lambda p: p[-1])
    volume = 0.0
    for i, p in enumerate(pts):
        top = pts[i + 1][-1] if i + 1 < len(pts) else ref[-1]
        if top > p[-1]:
            volume += hypervolume([q[:-1] for q in pts[: i + 1]], ref[:-1]) * (top - p[-1])
    return volume


def hypervolume_history(
    points: Sequence[Sequence[float] | None], reference: Sequence[float]
) -> list[float]:
    """Hypervolume after each point in turn (None = a trial that adds nothing)."""
    front: list[Point] = []
    out: list[float] = []
    current = 0.0
    for p in points:
        if p is not None:
            p = tuple(float(v) for v in p)
            if not any(dominates(q, p) or q == p for q in front):
                front = [q for q in front if not dominates(p, q)] + [p]
                current = hypervolume(front, reference)
        out.append(current)
    return out
