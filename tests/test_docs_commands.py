"""Every command of the README and of docs/*.md runs as written, end to end, at smoke size: the
cases and the machinery are tests/docs_commands.py; this file checks that every documented command
has a case and runs the first share of them (tests/test_docs_commands_b.py the second)."""

from __future__ import annotations

import pytest
from docs_commands import CASES, documented_commands, ids, runner, workspace  # noqa: F401
from docs_commands import check as check_command


def test_every_documented_command_has_a_case():
    documented = {c for _, c in documented_commands()}
    missing = sorted(documented - set(CASES))
    stale = sorted(set(CASES) - documented)
    assert not missing, f"documented commands without a case here: {missing}"
    assert not stale, f"cases whose command is no longer documented: {stale}"


@pytest.mark.slow
@pytest.mark.parametrize("command", ids(second=False))
def test_documented_command_runs_as_written(command, runner):  # noqa: F811
    check_command(command, runner)


def test_each_command_runs_in_exactly_one_file():
    first, second = ids(second=False), ids(second=True)
    assert first and second and not set(first) & set(second)
    runnable = {c for _, c in documented_commands() if not (CASES.get(c) and CASES[c].skip)}
    assert set(first) | set(second) == runnable
