"""Datasets by name: ``--data isic2016 | isic2017 | isic2018`` downloads the official ISIC
challenge archives of the segmentation task (training, validation where the year has one, and
test inputs with their ground truth) into a cache folder, once, and returns that folder, whose
layout ``trainer.data.layouts`` already knows.

The cache is ``$LESION_NAS_DATA`` (default ``~/.cache/lesion-nas``): archives download to
``NAME/downloads/ARCHIVE.zip.part``, resuming an interrupted transfer with an HTTP range
request; a finished archive is checked (its size against the server's, then the CRC-32 of every
member, which is the checksum the zip format carries; and, once one download has succeeded,
the sha256 recorded then in ``NAME/archives.json``), unpacked into a temporary folder beside
the dataset and moved into place in one rename, so a failure never leaves a half-unpacked
folder. With every archive unpacked the call is offline. The official archives publish no
checksum of their own, so the first download's sha256 is the reference for later ones.

PH2 is behind a licence form: asking for it by name says where to get it and which folder to
pass. ``LESION_NAS_DATA_URL`` replaces the archives' base URL (a mirror, or the tests' local
server).
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from trainer.data.errors import DataError

CACHE_ENV = "LESION_NAS_DATA"
URL_ENV = "LESION_NAS_DATA_URL"
BASE_URL = "https://isic-challenge-data.s3.amazonaws.com"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Dataset:
    name: str
    year: str
    archives: tuple[str, ...]  # the official archive names, without .zip


def _isic(year: str, names: list[str]) -> Dataset:
    return Dataset(f"isic{year}", year, tuple(names))


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        _isic("2016", [f"ISBI2016_ISIC_Part1_{s}_{k}" for s in ("Training", "Test")
                       for k in ("Data", "GroundTruth")]),
        _isic("2017", [f"ISIC-2017_{s}_{k}" for s in ("Training", "Validation", "Test_v2")
                       for k in ("Data", "Part1_GroundTruth")]),
        _isic("2018", [n for s in ("Training", "Validation", "Test")
                       for n in (f"ISIC2018_Task1-2_{s}_Input", f"ISIC2018_Task1_{s}_GroundTruth")]),
    )
}  # fmt: skip
PH2_HELP = (
    "PH2 cannot be downloaded by name: it is behind a licence form at "
    "https://www.fc.up.pt/addi/ph2%20database.html; download and unpack it, then pass its folder "
    "(the one holding 'PH2 Dataset images') as --data PATH"
)


def is_named(source: str | Path) -> bool:
    """Whether ``--data`` names a dataset (and no folder of that name is here)."""
    text = str(source)
    return text.lower() in (*DATASETS, "ph2") and not Path(text).exists()


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "lesion-nas")


def fetch(name: str, *, progress: bool = True) -> Path:
    """The dataset's folder in the cache, downloading and unpacking what is missing."""
    key = name.lower()
    if key == "ph2":
        raise DataError(PH2_HELP)
    if key not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; by name: {', '.join(DATASETS)}")
    d = DATASETS[key]
    folder = cache_root() / d.name
    for archive in d.archives:
        if not (folder / archive).is_dir():
            _get(d, archive, folder, progress)
    return folder


def _url(d: Dataset, archive: str) -> str:
    base = (os.environ.get(URL_ENV) or BASE_URL).rstrip("/")
    return f"{base}/{d.year}/{archive}.zip"


def _get(d: Dataset, archive: str, folder: Path, progress: bool) -> None:
    downloads = folder / "downloads"
    try:
        downloads.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create the data cache {downloads}: {e.strerror or e}") from None
    part = downloads / f"{archive}.zip.part"
    url = _url(d, archive)
    try:
        _download(url, part, progress)
        _check(part, archive, folder)
        _unpack(part, archive, folder)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DataError(
                f"{d.name}: the disk holding {folder} is full while getting {archive}.zip; free "
                f"space or set {CACHE_ENV} to another disk, and run again (the download resumes)"
            ) from None
        raise DataError(f"{d.name}: {archive}.zip: {e.strerror or e}") from None
    part.unlink(missing_ok=True)


def _download(url: str, part: Path, progress: bool) -> None:
    """Download ``url`` into ``part``, resuming from its current size (HTTP Range)."""
    from tqdm import tqdm

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # already complete
            return
        raise DataError(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        reason = getattr(e, "reason", e)
        raise DataError(f"cannot download {url} (no network?): {reason}") from None
    with response:
        resumed = response.status == 206
        if not resumed:
            have = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with (
            part.open("ab" if resumed else "wb") as out,
            tqdm(
                total=total,
                initial=have,
                unit="B",
                unit_scale=True,
                desc=Path(url).name,
                disable=not progress,
            ) as bar,  # fmt: skip
        ):
            while True:
                try:
                    chunk = response.read(CHUNK)
                except (TimeoutError, ConnectionError, urllib.error.URLError,
                        http.client.HTTPException) as e:  # fmt: skip
                    raise DataError(
                        f"the download of {url} was interrupted ({e}); run again to resume it"
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise DataError(
            f"the download of {url} stopped at {size:,} of {total:,} bytes; run again to resume it"
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _check(part: Path, archive: str, folder: Path) -> None:
    """Refuse a corrupt archive (removed, so the next call downloads it again)."""
    manifest = folder / "archives.json"
    known = json.loads(manifest.read_text()) if manifest.is_file() else {}
    problem = None
    try:
        with zipfile.ZipFile(part) as z:
            bad = z.testzip()  # the CRC-32 of every member
            if bad is not None:
                problem = f"member {bad} fails its CRC check"
    except zipfile.BadZipFile as e:
        problem = f"not a zip archive ({e})"
    digest = _sha256(part) if problem is None else None
    if problem is None and archive in known and known[archive] != digest:
        problem = f"sha256 {digest[:12]}... differs from the one recorded before"
    if problem is not None:
        part.unlink(missing_ok=True)
        raise DataError(f"{archive}.zip is corrupt: {problem}; removed, run again to download it")
    known[archive] = digest
    _write_atomic(manifest, json.dumps(known, indent=1, sort_keys=True))


def _unpack(part: Path, archive: str, folder: Path) -> None:
    """Unpack into a temporary folder beside the target, then rename it into place."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{archive}-", dir=folder))
    try:
        with zipfile.ZipFile(part) as z:
            for member in z.namelist():  # no path may leave the folder
                target = (tmp / member).resolve()
                if not target.is_relative_to(tmp.resolve()):
                    raise DataError(f"{archive}.zip holds a path outside its folder: {member}")
            z.extractall(tmp)
        inner = tmp / archive
        source = inner if inner.is_dir() else tmp
        os.replace(source, folder / archive)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
