"""Shared fixtures. The real ISIC 2017 sample lives beside the repository (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

ISIC2017_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isic2017"


@pytest.fixture(scope="session")
def isic2017_root() -> Path:
    """The real ISIC 2017 sample (2000 train + 150 val); tests that need it skip without it."""
    if not (ISIC2017_ROOT / "ISIC-2017_Validation_Part1_GroundTruth").is_dir():
        pytest.skip(f"real ISIC 2017 sample not found at {ISIC2017_ROOT}")
    return ISIC2017_ROOT


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Every cache (decoded data, part costs) of the test session goes to a fresh folder, so no
    test depends on, or writes to, the user's ``./.cache/lesion-nas``."""
    import os

    folder = tmp_path_factory.mktemp("lesion-nas-cache")
    old = os.environ.get("LESION_NAS_CACHE")
    os.environ["LESION_NAS_CACHE"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("LESION_NAS_CACHE", None)
    else:
        os.environ["LESION_NAS_CACHE"] = old


@pytest.fixture(scope="session")
def pg_server():
    """A private PostgreSQL server on 127.0.0.1 (``tests/pg_server.py``) for the session."""
    import os

    import pg_server as pg

    server, why = pg.start()
    if server is None:
        if os.environ.get("LESION_NAS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"LESION_NAS_REQUIRE_POSTGRES=1 but no PostgreSQL server: {why}")
        pytest.skip(f"no PostgreSQL server could be started: {why}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server) -> str:
    """A fresh, empty database on the session's server; its URL."""
    import uuid

    return pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
