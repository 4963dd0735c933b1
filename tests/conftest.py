"""Shared fixtures. The real ISIC 2017 sample lives beside the repository (../shared/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.register_assert_rewrite("docs_commands")  # its checks are plain asserts, as in a test file

ISIC2017_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isic2017"


REQUIRE_DATA = "LESION_NAS_REQUIRE_DATA"  # CI sets it: no real-data test may skip


def pytest_configure(config) -> None:
    """Under pytest-xdist each of the N test processes gets cores // N torch threads (torch's
    default, every core in each process, collapses when the processes share the cores)."""
    import os

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(scope="session")
def isic2017_root() -> Path:
    """The real ISIC 2017 sample (2000 train + 150 val); tests that need it skip without it,
    unless LESION_NAS_REQUIRE_DATA=1 (CI), where its absence fails them."""
    import os

    if not (ISIC2017_ROOT / "ISIC-2017_Validation_Part1_GroundTruth").is_dir():
        why = f"real ISIC 2017 sample not found at {ISIC2017_ROOT}"
        if os.environ.get(REQUIRE_DATA) == "1":
            pytest.fail(f"{REQUIRE_DATA}=1 but the {why}")
        pytest.skip(why)
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
