"""How the command line fails: a user's mistake is one clean line with exit 2; a bug anywhere
in a verb is one line naming the exception, the verb and the place, with exit 1 and the whole
trace in a file, never a bare key name or a traceback on the screen."""

from __future__ import annotations

import cli.presets
import search


def test_a_bug_in_a_verb_is_one_line_with_the_place_and_a_trace_file(monkeypatch, tmp_path, capsys):
    def broken(args):
        row = {"torch eager CPU latency ms (batch 1)": 1.0}
        return row["CPU latency ms (batch 1)"]  # the kind of slip issue 20 found in ablate

    monkeypatch.setattr(cli.presets, "run", broken)
    monkeypatch.chdir(tmp_path)
    rc = search.main(["presets"])
    err = capsys.readouterr().err
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("error: 'presets' failed unexpectedly at tests/test_cli_errors.py:")
    assert "(broken)" in line and "KeyError('CPU latency ms (batch 1)')" in line
    traces = list((tmp_path / "runs" / "errors").glob("presets-*.txt"))
    assert len(traces) == 1 and str(traces[0].relative_to(tmp_path)) in line
    text = traces[0].read_text()
    assert "Traceback (most recent call last)" in text and "def broken" not in line
    assert 'return row["CPU latency ms (batch 1)"]' in text


def test_a_trace_goes_to_the_temporary_folder_when_runs_cannot_be_written(
    monkeypatch, tmp_path, capsys
):
    def broken(args):
        raise RuntimeError("boom")

    (tmp_path / "runs").write_text("a file where the runs folder would be")
    monkeypatch.setattr(cli.presets, "run", broken)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    assert search.main(["presets"]) == 1
    line = capsys.readouterr().err.strip()
    assert "RuntimeError(boom)" in line and str(tmp_path / "tmp" / "lesion-nas-errors") in line


def test_unknown_names_are_user_errors_without_quotes(capsys):
    assert search.main(["cost", "--preset", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: unknown preset 'nope'; known: scsonet, malunet, egeunet, ulite, lmsaunet, "
        "ulrtsnet, dsnet"
    )
