"""ONNX export: every preset matches PyTorch in ONNX Runtime; the `export` verb on a real run
folder; bad input is one error, writes nothing and never replaces an existing file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

import search
from searchspace import build_model
from searchspace.presets import ORDER, get_preset
from trainer.export import ExportError, export_onnx

ROOT = Path(__file__).resolve().parents[1]
SIZE = (64, 64)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """1 torch thread (and so 1 ORT thread in the check): on a shared 2-core machine, 2 threads
    make every small op wait for the busy core and multiply the wall time."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _ort_vs_torch(path: Path, model: nn.Module, x: torch.Tensor) -> tuple[float, float]:
    """max |ORT - torch| and max |torch| on one input, computed here, not by export_onnx."""
    got = _session(path).run(["logits"], {"image": x.numpy()})[0]
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    assert got.shape == expected.shape
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())


@pytest.mark.parametrize("name", ORDER)
def test_every_preset_exports_and_matches_pytorch(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(get_preset(name).genotype)
    model.train()
    path = tmp_path / f"{name}.onnx"
    report = export_onnx(model, path, SIZE)
    assert model.training  # the caller's mode is restored
    assert report.bytes == path.stat().st_size and report.opset == 17
    assert report.input_shape == (1, 3, *SIZE) and report.output_shape == (1, 1, *SIZE)
    assert report.checked_inputs == 3 and report.max_abs_diff <= report.tolerance
    session = _session(path)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, out.name, out.shape) == ("image", [1, 3, *SIZE], "logits", [1, 1, *SIZE])  # fmt: skip
    x = torch.randn(1, 3, *SIZE, generator=torch.Generator().manual_seed(123))
    diff, scale = _ort_vs_torch(path, model, x)
    # Untrained logits reach ~30, where float32 rounding alone is ~1e-4: a relative bound.
    assert diff <= 1e-4 * max(1.0, scale), (diff, scale)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


class _BakedCounter(nn.Module):
    """A Python value that tracing freezes: ONNX gives 1 x conv(x), PyTorch k x conv(x)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 3, padding=1)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.conv(x) * self.calls


def test_a_mismatch_is_one_error_and_keeps_the_existing_file(tmp_path):
    path = tmp_path / "model.onnx"
    good = export_onnx(nn.Conv2d(3, 1, 3, padding=1), path, (32, 32))
    before = path.read_bytes()
    assert good.max_abs_diff < 1e-5 and before
    with pytest.raises(ExportError, match="differs from PyTorch by .* above the tolerance") as e:
        export_onnx(_BakedCounter(), path, (32, 32))
    assert "\n" not in str(e.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    # Without the check the same graph is written (what --no-check is for).
    report = export_onnx(_BakedCounter(), tmp_path / "unchecked.onnx", (32, 32), check=False)
    assert report.max_abs_diff is None and report.checked_inputs == 0
    assert (tmp_path / "unchecked.onnx").stat().st_size == report.bytes


def test_export_refuses_bad_arguments_before_exporting(tmp_path):
    model = build_model(get_preset("malunet").genotype)
    with pytest.raises(ExportError, match="not a multiple of the network's total stride"):
        export_onnx(model, tmp_path / "a.onnx", (48, 48))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export_onnx(model, tmp_path / "missing" / "a.onnx", SIZE)
    with pytest.raises(ExportError, match="opset must be"):
        export_onnx(model, tmp_path / "a.onnx", SIZE, opset=99)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- the export verb
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run folder: scsonet trained for 1 epoch on 32x32 synthetic data."""
    from runner.runs import train_genotype
    from trainer import load_data, recipe

    out = tmp_path_factory.mktemp("export") / "run"
    data = load_data("synthetic", image_size=(32, 32), synthetic_counts=(8, 4, 4), progress=False)
    config = recipe("fast", epochs=1, image_size=(32, 32), batch_size=8)
    result = train_genotype(
        get_preset("scsonet").genotype, config, data, out_dir=out, device="cpu", progress=False
    )
    assert result.status == "completed"
    return out


def test_cli_exports_a_trained_run_that_matches_in_onnx_runtime(run_dir, tmp_path):
    from runner.runs import load_run

    path = tmp_path / "scsonet.onnx"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "search.py"), "export", "--run", str(run_dir), "--onnx", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {path}" in proc.stdout and "max |ONNX Runtime - PyTorch| = " in proc.stdout
    genotype, config, model = load_run(run_dir)
    session = _session(path)
    assert session.get_inputs()[0].shape == [1, 3, 32, 32]  # the run's training size by default
    # a normalised image, as the trainer feeds it
    pixels = torch.randint(0, 256, (1, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    mean = torch.tensor(config.mean).view(1, 3, 1, 1)
    std = torch.tensor(config.std).view(1, 3, 1, 1)
    diff, scale = _ort_vs_torch(path, model, (pixels / 255.0 - mean) / std)
    assert diff <= 1e-4 * max(1.0, scale), (diff, scale)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["lesion_nas.genotype_id"] == genotype.id
    assert meta["lesion_nas.genotype_name"] == "scsonet"
    assert meta["lesion_nas.mean"] == "[0.485, 0.456, 0.406]"


def test_cli_export_at_another_size_and_opset(run_dir, tmp_path, capsys):
    assert "export" in search.build_parser().format_help()  # listed among the verbs
    path = tmp_path / "other.onnx"
    argv = ["export", "--run", str(run_dir), "--onnx", str(path), "--image-size", "64", "96"]
    assert search.main([*argv, "--opset", "13", "--no-check"]) == 0
    assert "not checked against PyTorch (--no-check)" in capsys.readouterr().out
    proto = onnx.load(str(path))
    assert proto.opset_import[0].version == 13
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 64, 96]


def _fails(argv: list[str], capsys, expected: str) -> None:
    assert search.main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], lines
    assert "wrote" not in captured.out


def test_cli_export_bad_input_is_one_error_and_writes_nothing(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    path = out / "m.onnx"
    _fails(["export", "--run", str(tmp_path / "missing"), "--onnx", str(path)], capsys,
           "run folder")  # fmt: skip
    _fails(["export", "--run", str(run_dir), "--onnx", str(path), "--image-size", "48"], capsys,
           "not a multiple of scsonet's total stride 32")  # fmt: skip
    _fails(["export", "--run", str(run_dir), "--onnx", str(tmp_path / "nowhere" / "m.onnx")],
           capsys, "does not exist")  # fmt: skip
    unfinished = tmp_path / "unfinished"
    shutil.copytree(run_dir, unfinished)
    (unfinished / "model.pt").unlink()
    _fails(["export", "--run", str(unfinished), "--onnx", str(path)], capsys, "model.pt is missing")
    (unfinished / "model.pt").write_bytes(b"not a checkpoint")
    _fails(["export", "--run", str(unfinished), "--onnx", str(path)], capsys,
           "cannot load the trained network")  # fmt: skip
    assert list(out.iterdir()) == [] and not (tmp_path / "nowhere").exists()

    # an existing good file survives every failed export
    assert search.main(["export", "--run", str(run_dir), "--onnx", str(path)]) == 0
    good = path.read_bytes()
    capsys.readouterr()
    _fails(["export", "--run", str(run_dir), "--onnx", str(path), "--image-size", "40"], capsys,
           "not a multiple")  # fmt: skip
    _fails(["export", "--run", str(run_dir), "--onnx", str(path), "--opset", "5"], capsys,
           "opset must be")  # fmt: skip
    assert path.read_bytes() == good and [p.name for p in out.iterdir()] == ["m.onnx"]
