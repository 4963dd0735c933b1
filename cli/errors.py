"""What a command's failure looks like: one line for the user's input, 130 / 143 for Ctrl-C /
``kill``, and for a bug one line naming the innermost project frame, the trace in a file."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that its cleanup runs."""


def terminated(signum, frame) -> None:
    raise Terminated()


def in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _user_errors() -> tuple[type[BaseException], ...]:
    from searchspace.registry import UnknownName
    from trainer.datatypes import MissingSplit

    return (ValueError, UnknownName, MissingSplit, FileNotFoundError, NotADirectoryError)


USER_ERRORS = _user_errors()


def unexpected_error_line(error: BaseException, argv: list[str]) -> str:
    """One line naming the exception, the verb and the innermost project frame; the full trace is
    written to ``runs/errors/`` (or the temporary folder when that cannot be written)."""
    import os
    import tempfile
    import time
    import traceback

    verb = argv[0] if argv else "search"
    trace = "".join(traceback.format_exception(error))
    text = f"lesion-nas {verb}: {' '.join(argv)}\n{trace}"
    name = f"{verb}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    where = None
    for folder in (Path("runs") / "errors", Path(tempfile.gettempdir()) / "lesion-nas-errors"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            where = folder / name
            break
        except OSError:
            continue
    root = ROOT
    frames = traceback.extract_tb(error.__traceback__)
    ours = [
        f
        for f in frames
        if Path(f.filename).resolve().is_relative_to(root) and "site-packages" not in f.filename
    ] or frames
    place = ""
    if ours:
        f = ours[-1]
        try:
            shown = Path(f.filename).resolve().relative_to(root)
        except ValueError:
            shown = Path(f.filename)
        place = f" at {shown}:{f.lineno} ({f.name})"
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    detail = f": {type(error).__name__}({detail})" if detail else f": {type(error).__name__}"
    trace_note = f"full trace in {where}" if where else "the trace could not be written"
    return (
        f"error: '{verb}' failed unexpectedly{place}{detail}; {trace_note} "
        "(this is a bug in lesion-nas, not in your input)"
    )
