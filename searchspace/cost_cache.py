"""The per-part cost memo of ``cost.py``, persisted across processes and runs.

A part's cost depends only on its configuration and input shape (the memo key) and on the code
that builds and counts it. The memo is kept in memory and, unless disabled, in a JSON file under
the cache folder (``$LESION_NAS_CACHE`` or ``./.cache/lesion-nas``) named by a hash of every
``searchspace`` source file and the torch and thop versions, so a change to any block starts a
fresh file instead of reusing stale numbers. Writes are atomic (temp file + ``os.replace``) and
merge with what other processes (search workers) saved meanwhile. ``LESION_NAS_COST_CACHE=0``
turns persistence off.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

import torch

ENV_DIR = "LESION_NAS_CACHE"
ENV_SWITCH = "LESION_NAS_COST_CACHE"
Value = tuple[int, ...]  # (params, thop, torch, 0), or a law (see cost._part), or ()


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 over the searchspace sources and the counters' versions (first 16 hex digits)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    try:
        thop_version = metadata.version("thop")
    except metadata.PackageNotFoundError:
        thop_version = "none"
    digest.update(f"torch {torch.__version__} thop {thop_version}".encode())
    return digest.hexdigest()[:16]


def cache_file() -> Path | None:
    """The memo's file for the current settings (read on every lookup: memoised per setting)."""
    if os.environ.get(ENV_SWITCH, "1") == "0":
        return None
    return _cache_file(os.environ.get(ENV_DIR), os.getcwd())


@functools.lru_cache(maxsize=8)
def _cache_file(folder: str | None, cwd: str) -> Path:
    base = Path(folder) if folder else Path(cwd) / ".cache" / "lesion-nas"
    return base / f"part-costs-{code_version()}.json"


class PartCache:
    """Memo of part costs: in memory, loaded from and saved to ``cache_file()`` lazily."""

    def __init__(self) -> None:
        self._memory: dict[str, Value] = {}
        self._unsaved: dict[str, Value] = {}
        self._loaded_from: Path | None = None
        self._registered = False
        self.hits = 0
        self.misses = 0

    def _load(self) -> None:
        path = cache_file()
        if path == self._loaded_from:
            return
        self._loaded_from = path
        if path is not None and path.is_file():
            try:
                stored = json.loads(path.read_text())
            except (OSError, ValueError):
                stored = {}  # unreadable: ignored, rewritten on save
            for k, v in stored.items():
                self._memory.setdefault(k, tuple(v))

    def get(self, key: tuple) -> Value | None:
        self._load()
        hit = self._memory.get(repr(key))
        if hit is None:
            self.misses += 1
        else:
            self.hits += 1
        return hit

    def put(self, key: tuple, value: Value) -> None:
        self._memory[repr(key)] = value
        self._unsaved[repr(key)] = value
        if not self._registered:
            atexit.register(self.save)
            self._registered = True

    def save(self) -> Path | None:
        """Merge the new entries into the file (atomically); returns the file or None."""
        path = cache_file()
        if path is None or not self._unsaved:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        merged: dict[str, Value] = {}
        if path.is_file():
            try:
                merged = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
            except (OSError, ValueError):
                merged = {}
        merged.update(self._unsaved)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(merged, f)
        os.replace(tmp, path)
        self._unsaved.clear()
        return path

    def clear(self) -> None:
        """Forget the in-memory memo (the file stays); the next lookup reloads it."""
        self._memory.clear()
        self._unsaved.clear()
        self._loaded_from = None
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._memory)
