"""The static Pareto PNG (kaleido + a Chrome), and the clear warning when no Chrome is found."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from reports.extract import ParetoData, ParetoPoint, PublishedReference
from reports.plots import export_png, plot_pareto


def _data() -> ParetoData:
    pts = [
        ParetoPoint(0, "#0", 20_000, 30_000_000, 0.80, 0.79, 0.01, 3, "trial 0"),
        ParetoPoint(1, "#1", 60_000, 50_000_000, 0.70, None, None, 0, "trial 1"),
        ParetoPoint(2, "egeunet", 53_374, 72_000_000, 0.75, None, None, 0, "egeunet"),
        ParetoPoint(3, "#3", 900_000, 10**9, None, None, None, 0, "over budget"),
    ]
    return ParetoData(
        "Dice (per-image mean)", "thop", ("dice", "params", "macs"), pts, front=[0], dominated=[1, 2], over_budget=[3],
        pruned=[], presets=[2], confirmed=[0], references=[PublishedReference("scsonet", 159_439, 59_800_000)],
    )  # fmt: skip


def _chrome() -> str | None:
    path = os.environ.get("BROWSER_PATH")
    if path:
        return path if Path(path).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_png_export_writes_a_png_when_chrome_is_available(tmp_path):
    pytest.importorskip("kaleido", reason="kaleido is not installed")
    if _chrome() is None:
        pytest.skip("no Chrome/Chromium found (apt-get install chromium; BROWSER_PATH=...)")
    path = tmp_path / "pareto.png"
    warning = export_png(plot_pareto(_data()), path)
    assert warning is None, warning
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (2 * 1250, 2 * 560)  # the figure's size at scale 2


def test_png_export_without_chrome_is_a_warning_not_a_crash(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    path = tmp_path / "pareto.png"
    warning = export_png(plot_pareto(_data()), path)
    assert warning is not None and warning.startswith("pareto.png was not written")
    assert "Chrome" in warning and "\n" not in warning
    assert not path.exists()
