"""The files of a run folder, each written atomically (temporary file + os.replace).

A run folder holds train_config.json, split.json, history.csv, metrics.json and model.pt (the
caller adds genotype.json with `write_json`). A killed run never leaves a half-written file: each
is first written next to its destination, flushed to disk, then renamed over it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from trainer.config import TrainConfig
from trainer.datatypes import DataBundle

TRAIN_CONFIG = "train_config.json"
RUNTIME = "runtime.json"
SPLIT = "split.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
MODEL = "model.pt"


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def to_jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy/torch scalars → numbers, tuples → lists, NaN/inf → None."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # 0-d torch tensor
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented, key-sorted JSON, atomically (NaN/inf become null)."""
    text = json.dumps(to_jsonable(obj), sort_keys=True, indent=2, allow_nan=False)
    with atomic_open(path, "w") as f:
        f.write(text + "\n")


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_history_csv(path: str | Path, history: list[dict[str, Any]]) -> None:
    """One row per epoch; columns in first-seen order, empty where a row lacks a value."""
    columns: list[str] = []
    for row in history:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    with atomic_open(path, "w") as f:
        f.write(buffer.getvalue())


def split_record(data: DataBundle) -> dict[str, Any]:
    """What identifies the data a run used: name, fingerprint, synthetic flag, sizes, split_info."""
    return {
        "name": data.name,
        "fingerprint": data.fingerprint,
        "synthetic": data.synthetic,
        "image_size": list(data.image_size),
        "sizes": {name: len(split) for name, split in data.splits.items()},
        "split_info": data.split_info,
        "source_info": getattr(data, "source_info", {}),
    }


def write_run_start(out_dir: Path, config: TrainConfig, data: DataBundle) -> None:
    """train_config.json and split.json, written before the first epoch."""
    write_json(out_dir / TRAIN_CONFIG, config.to_dict())
    write_json(out_dir / SPLIT, split_record(data))
