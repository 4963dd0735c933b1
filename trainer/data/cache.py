"""On-disk uint8 cache of decoded and resized image/mask pairs.

One file per (set of pairs, target size) holds four consecutive ``.npy`` records: a JSON ``meta``
string (key, content fingerprint), ``ids``, ``images`` (N, 3, H, W) and ``masks`` (N, H, W), all
uint8 but the strings. Reading it is a plain sequential read (about a second for 2150 pairs at
256x256), and the key is checked before the big arrays are read.

Cache key: sha256 of the canonical JSON of the cache format version, the layout name, the target
size, the decoder's rule constants, the Pillow version, and for every pair its id, the image's and
the mask's path relative to the dataset root, size in bytes and modification time (ns). Deciding a
hit therefore costs one ``stat`` per file and reads no image bytes (well under a second for 2150
pairs). Editing, adding, removing or renaming a file changes the key.

Content fingerprint: sha256 over every pair's id and the sha256 of its image bytes then mask bytes.
It is computed while decoding (the bytes are read anyway), stored in the cache, and becomes
``DataBundle.fingerprint``.

Cache folder: the ``cache_dir`` argument, else the ``LESION_NAS_CACHE`` environment variable, else
``.cache/lesion-nas`` in the current working directory. Writes go to a temporary file in that folder
and are moved into place with ``os.replace``, so an interrupted run never leaves a partial cache. A
cache file that cannot be read is ignored (with a warning) and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from tqdm import tqdm

from trainer.data import decode
from trainer.data.errors import DataError
from trainer.data.layouts import Sample

CACHE_VERSION = 1
ENV_VAR = "LESION_NAS_CACHE"
DEFAULT_CACHE_DIR = Path(".cache") / "lesion-nas"


@dataclass(frozen=True)
class CachedArrays:
    """Decoded pairs in the order of ``ids``, and where they came from."""

    images: np.ndarray  # uint8 (N, 3, H, W)
    masks: np.ndarray  # uint8 (N, H, W), values in {0, 1}
    ids: tuple[str, ...]
    fingerprint: str  # content fingerprint (see module docstring)
    path: Path | None  # the cache file (None if it could not be written)
    from_cache: bool  # True when read from an existing cache file, nothing decoded


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The argument if given, else ``$LESION_NAS_CACHE``, else ``./.cache/lesion-nas``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else DEFAULT_CACHE_DIR


def _stat(path: Path, root: Path) -> list:
    st = path.stat()
    return [os.path.relpath(path, root).replace(os.sep, "/"), st.st_size, st.st_mtime_ns]


def cache_key(samples: Sequence[Sample], root: Path, layout: str, size: tuple[int, int]) -> str:
    """The cache key of the module docstring (hex sha256)."""
    record = {
        "version": CACHE_VERSION,
        "layout": layout,
        "size": list(size),
        "rule": [decode.MASK_RULE, "bilinear image, nearest mask"],
        "pillow": PIL.__version__,
        "files": [[s.id, *_stat(s.image_path, root), *_stat(s.mask_path, root)] for s in samples],
    }
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def content_fingerprint(ids: Sequence[str], digests: Sequence[str]) -> str:
    """sha256 over ``id:digest`` lines, in the given order."""
    lines = "".join(f"{i}:{d}\n" for i, d in zip(ids, digests, strict=True))
    return hashlib.sha256(lines.encode()).hexdigest()


def _combine(errors: list[DataError]) -> DataError:
    if len(errors) == 1:
        return errors[0]
    shown = "; ".join(str(e) for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return DataError(f"{len(errors)} pairs could not be used: {shown}{more}")


def decode_all(
    samples: Sequence[Sample], size: tuple[int, int], *, progress: bool = True, workers: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode every pair (thread pool; Pillow releases the GIL while decoding and resizing).

    Every pair is tried; if any fails, one :class:`DataError` lists the failures (first 10).
    """
    n, (height, width) = len(samples), size
    images = np.empty((n, 3, height, width), dtype=np.uint8)
    masks = np.empty((n, height, width), dtype=np.uint8)
    digests = [""] * n
    errors: list[DataError] = []

    def work(index: int) -> DataError | None:
        sample = samples[index]
        try:
            pair = decode.decode_pair(sample.image_path, sample.mask_path, size)
        except DataError as err:
            return err
        images[index], masks[index], digests[index] = pair.image, pair.mask, pair.digest
        return None

    workers = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        bar = tqdm(total=n, desc=f"decoding {n} pairs", unit="img", disable=not progress)
        with bar:
            for err in pool.map(work, range(n)):
                if err is not None:
                    errors.append(err)
                bar.update(1)
    if errors:
        raise _combine(errors)
    return images, masks, digests


def _read(path: Path, key: str, ids: tuple[str, ...]) -> CachedArrays | None:
    try:
        with open(path, "rb") as handle:
            meta = json.loads(str(np.load(handle, allow_pickle=False)))
            cached_ids = tuple(str(i) for i in np.load(handle, allow_pickle=False))
            if meta.get("key") != key or cached_ids != ids:
                warnings.warn(
                    f"ignoring cache file {path}: its content does not match", stacklevel=3
                )
                return None
            images = np.load(handle, allow_pickle=False)
            masks = np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError, AttributeError) as err:
        warnings.warn(f"ignoring unreadable cache file {path}: {err}", stacklevel=3)
        return None
    if images.shape[0] != len(ids) or masks.shape != (len(ids), *images.shape[2:]):
        warnings.warn(f"ignoring cache file {path}: its arrays have the wrong shape", stacklevel=3)
        return None
    return CachedArrays(images, masks, ids, meta["fingerprint"], path, from_cache=True)


def _write(path: Path, records: list[np.ndarray]) -> bool:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            for record in records:
                np.save(handle, record, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return True
    except OSError as err:
        warnings.warn(f"could not write cache file {path}: {err}", stacklevel=3)
        return False
    finally:
        if tmp.exists():
            tmp.unlink()


def load_or_decode(
    samples: Sequence[Sample],
    *,
    root: Path,
    layout: str,
    size: tuple[int, int],
    cache_dir: str | Path | None = None,
    progress: bool = True,
    workers: int = 0,
) -> CachedArrays:
    """Read the pairs from the cache, or decode them and write the cache (only if all succeed)."""
    if not samples:
        raise DataError(f"no pairs to load from {root}")
    try:
        key = cache_key(samples, root, layout, size)
    except OSError as err:
        raise DataError(f"cannot stat a file of the dataset under {root}: {err}") from err
    ids = tuple(s.id for s in samples)
    height, width = size
    path = resolve_cache_dir(cache_dir) / f"{layout}-{height}x{width}-n{len(ids)}-{key[:20]}.npy"
    if path.is_file():
        cached = _read(path, key, ids)
        if cached is not None:
            return cached
    images, masks, digests = decode_all(samples, size, progress=progress, workers=workers)
    fingerprint = content_fingerprint(ids, digests)
    meta = {"key": key, "fingerprint": fingerprint, "layout": layout, "root": str(root)}
    written = _write(path, [np.array(json.dumps(meta)), np.array(ids), images, masks])
    return CachedArrays(
        images, masks, ids, fingerprint, path if written else None, from_cache=False
    )
