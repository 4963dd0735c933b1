"""The second share of the documented commands (tests/docs_commands.py says which), run in their
own test file so that the two test processes run the documented commands side by side."""

from __future__ import annotations

import pytest
from docs_commands import check as check_command
from docs_commands import ids, runner, workspace  # noqa: F401


@pytest.mark.slow
@pytest.mark.parametrize("command", ids(second=True))
def test_documented_command_runs_as_written(command, runner):  # noqa: F811
    check_command(command, runner)
