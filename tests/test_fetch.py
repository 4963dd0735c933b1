"""Datasets by name against a local HTTP server on 127.0.0.1 that serves small archives in the
official ISIC 2017 structure (real images of the sample): an interrupted transfer resumes with a
range request, a corrupt archive is refused and removed, a second call is offline, and no
network, PH2 and an unknown name are one clear error each."""

from __future__ import annotations

import io
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from trainer.data import fetch
from trainer.data.errors import DataError

ARCHIVES = fetch.DATASETS["isic2017"].archives


def _archives(root: Path) -> dict[str, bytes]:
    """Each official archive as zip bytes: a top folder of its name, 4 training, 2 validation
    and 2 test images with their masks (the test split borrows other training images)."""
    train = sorted((root / "ISIC-2017_Training_Data").glob("ISIC_*.jpg"))
    val = sorted((root / "ISIC-2017_Validation_Data").glob("ISIC_*.jpg"))
    picks = {"Training": train[:4], "Validation": val[:2], "Test_v2": train[4:6]}
    source = {"Training": "Training", "Validation": "Validation", "Test_v2": "Training"}
    out = {}
    for split, images in picks.items():
        for kind in ("Data", "Part1_GroundTruth"):
            name = f"ISIC-2017_{split}_{kind}"
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                for image in images:
                    if kind == "Data":
                        z.write(image, f"{name}/{image.name}")
                    else:
                        mask = (root / f"ISIC-2017_{source[split]}_Part1_GroundTruth"
                                / f"{image.stem}_segmentation.png")  # fmt: skip
                        z.write(mask, f"{name}/{mask.name}")
            out[name] = buf.getvalue()
    return out


class Server:
    """Serves ``files`` at /2017/NAME.zip with Range support; ``cut`` names archives whose
    first transfer stops half-way (the connection closes early)."""

    def __init__(self, files: dict[str, bytes], cut: set[str] = frozenset()) -> None:
        self.files, self.cut, self.ranges = files, set(cut), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                name = Path(self.path).stem
                data = owner.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                header = self.headers.get("Range")
                if header:
                    start = int(header.split("=")[1].split("-")[0])
                    owner.ranges.append((name, start))
                self.send_response(206 if header else 200)
                self.send_header("Content-Length", str(len(data) - start))
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                body = data[start:]
                if name in owner.cut:
                    owner.cut.discard(name)
                    body = body[: len(body) // 2]
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def archives(isic2017_root):
    return _archives(isic2017_root)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(fetch.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no folder named isic2017 here
    return tmp_path / "cache"


def test_an_interrupted_download_resumes_then_works_offline(archives, cache, monkeypatch):
    first = "ISIC-2017_Training_Data"
    server = Server(archives, cut={first})
    monkeypatch.setenv(fetch.URL_ENV, server.url)
    try:
        with pytest.raises(DataError, match="run again to resume"):
            fetch.fetch("isic2017", progress=False)
        part = cache / "isic2017" / "downloads" / f"{first}.zip.part"
        assert 0 < part.stat().st_size < len(archives[first])
        assert not (cache / "isic2017" / first).exists()  # nothing half-unpacked
        folder = fetch.fetch("isic2017", progress=False)
        assert any(name == first and start > 0 for name, start in server.ranges)
    finally:
        server.stop()
    assert folder == cache / "isic2017"
    for name in ARCHIVES:
        assert (folder / name).is_dir()
    assert not list((folder / "downloads").iterdir())  # the archives are removed once unpacked
    # offline now: the server is gone, the same call and a real load work from the cache
    assert fetch.fetch("isic2017", progress=False) == folder
    from trainer import load_data

    data = load_data("isic2017", image_size=(32, 32), progress=False)
    assert (len(data.split("train")), len(data.split("val")), len(data.split("test"))) == (4, 2, 2)


def test_a_corrupt_archive_is_refused_and_removed(archives, cache, monkeypatch):
    name = "ISIC-2017_Validation_Data"
    bad = bytearray(archives[name])
    middle = len(bad) // 2
    bad[middle : middle + 64] = bytes(64)  # zeroes inside a member's compressed data
    server = Server({**archives, name: bytes(bad)})
    monkeypatch.setenv(fetch.URL_ENV, server.url)
    try:
        with pytest.raises(DataError, match=f"{name}.zip is corrupt"):
            fetch.fetch("isic2017", progress=False)
    finally:
        server.stop()
    folder = cache / "isic2017"
    assert not (folder / name).exists()
    assert not (folder / "downloads" / f"{name}.zip.part").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary folder


def test_no_network_ph2_and_unknown_names_are_one_clear_error(cache, monkeypatch):
    monkeypatch.setenv(fetch.URL_ENV, "http://127.0.0.1:9")  # nothing listens on port 9
    with pytest.raises(
        DataError, match=r"cannot download .*ISIC-2017_Training_Data.zip \(no network\?\)"
    ):
        fetch.fetch("isic2017", progress=False)
    with pytest.raises(DataError, match="licence form"):
        fetch.fetch("ph2")
    with pytest.raises(DataError, match="unknown dataset 'isic2030'"):
        fetch.fetch("isic2030")
    assert fetch.is_named("isic2018") and fetch.is_named("PH2") and not fetch.is_named("synthetic")


def test_a_full_disk_is_one_clear_error_and_leaves_nothing_half_unpacked(
    archives, cache, monkeypatch
):
    import errno
    import zipfile as zf

    server = Server(archives)
    monkeypatch.setenv(fetch.URL_ENV, server.url)

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(zf.ZipFile, "extractall", full)
    try:
        with pytest.raises(DataError, match="is full while getting ISIC-2017_Training_Data.zip"):
            fetch.fetch("isic2017", progress=False)
    finally:
        server.stop()
    folder = cache / "isic2017"
    assert not (folder / "ISIC-2017_Training_Data").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
