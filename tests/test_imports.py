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
                if module == package or module.startswith(package + "."):
                    # from studies.store import schema: the module schema, else the package
                    for a in node.names:
                        sub = f"{module}.{a.name}"
                        is_module = (ROOT / Path(*sub.split("."))).with_suffix(".py").is_file()
                        is_package = (ROOT / Path(*sub.split(".")) / "__init__.py").is_file()
                        deps.add(sub if is_module or is_package else module)
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
    assert "studies.store.trial_state" in graph["studies.search.trial"]
    assert "studies.search.workers" not in graph["studies.search.trial"]
    assert "studies.ablation.plan" in graph["studies.ablation.run"]  # sub-packages are walked
    assert "studies.ray_tune.searcher" in graph["studies.ray_tune"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


# studies/ by concept: a group imports only the groups below it (store at the bottom, the
# search's steps above it, the evidence verbs and the backends on top); the shared leaves
# (objectives, hypervolume, tables) sit at the top level of studies/, and the search command,
# search.run, above every group (it dispatches to either backend and to the proxies' filter).
GROUP_ORDER = ("store", "samplers", "search", "evidence", "ray_tune", "ablation")
TOP = {"studies.search.run"}


def test_studies_groups_import_downwards_only():
    graph = _edges("studies")
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}

    def group(name: str) -> str | None:
        parts = name.split(".")
        return parts[1] if len(parts) > 1 and parts[1] in rank else None

    assert group("studies.store.schema") == "store" and group("studies.objectives") is None
    up = [
        f"{a} -> {b}"
        for a, deps in graph.items()
        for b in deps
        if a not in TOP
        and group(a)
        and group(b)
        and group(a) != group(b)
        and rank[group(b)] > rank[group(a)]
    ]
    assert not any(b in TOP for deps in graph.values() for b in deps)  # nothing imports it
    assert up == []
