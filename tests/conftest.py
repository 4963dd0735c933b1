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
