"""studies/ has no import cycle, counting imports inside functions too (issue 22: objective.py
and workers.py imported each other; the trial-state predicates now live in trial_state.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _edges(package: str) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):  # sub-packages too (ablation, ray_tune)
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        deps = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
                if module == package:  # from studies import schema, objectives
                    deps |= {f"{package}.{a.name}" for a in node.names}
                elif module.startswith(package + "."):
                    deps.add(module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith(package + ".")}
        deps.discard(name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> list[str] | None:
        state[n] = 1
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*path, n, m]
            if m not in state and (found := visit(m, [*path, n])):
                return found
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n, [])):
            return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_studies_has_no_import_cycle():
    graph = _edges("studies")
    assert "studies.trial_state" in graph["studies.trial"]
    assert "studies.workers" not in graph["studies.trial"]
    assert "studies.ablation.plan" in graph["studies.ablation.run"]  # sub-packages are walked
    assert "studies.ray_tune.searcher" in graph["studies.ray_tune"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))
