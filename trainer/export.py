"""Export a segmentation network to ONNX and check it against PyTorch with ONNX Runtime.

``export_onnx(model, path, image_size=(H, W))`` writes an ONNX graph with one input ``"image"``
(1 x C x H x W, float32, normalised as in training) and one output ``"logits"`` (1 x 1 x H x W,
before the sigmoid). With ``check=True`` (the default) ONNX Runtime's CPU provider runs the graph on a
few seeded random inputs and compares it with the PyTorch model; a difference above
``atol + rtol * max|torch logits|`` is an :class:`ExportError`, and nothing is written.

Choices, measured on torch 2.13 / onnx 1.23 / onnxruntime 1.32 over the seven presets:

- **Exporter.** The TorchScript exporter (``torch.onnx.export(..., dynamo=False)``): it exports
  all seven presets, needs no package beyond ``onnx`` and takes well under a second per model.
  The default dynamo exporter also exports them all, but needs ``onnxscript`` and ``onnx_ir``
  and takes 2-8 s per model. torch's deprecation warning about the TorchScript exporter is
  silenced here. Its ``TracerWarning`` s are silenced too: in these networks they come only from
  shape checks (input size against the stride, skip resizing), which a fixed-size export makes
  constant. The numerical check would catch a value-dependent branch that tracing baked in.
- **Fixed batch 1.** Neither exporter makes the batch dimension dynamic for every preset.
  SCSONet's ODConv (a per-sample ``F.conv2d`` on a reshaped batch) fails with both, and ULRTS-Net's
  ML-SFFM (``adaptive_avg_pool2d`` to a traced size) fails with the TorchScript exporter. The
  graph therefore has a fixed shape, batch 1 and the given H x W (what deployment at batch 1
  uses); export once per input size.
- **Tolerance.** The untrained networks give logits up to ~30 in magnitude. float32 rounding
  alone (PyTorch fp32 vs fp64) then differs by up to ~2e-4. ORT differs from PyTorch by the same
  amount, so the bound scales with the output: the defaults ``atol=1e-5, rtol=1e-4`` allow
  ~3e-3 at logits of 30 and ~1e-5 at logits below 0.1.

The file is written atomically: the graph is built and checked in memory, then written to a
temporary file beside ``path`` and renamed over it. A failed export leaves no file and never
replaces an existing one.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainer.rundir import atomic_open

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
DEFAULT_OPSET = 17
MIN_OPSET = 11  # bilinear Resize with align_corners needs 11
MAX_OPSET = 20  # the highest opset of torch's TorchScript exporter
CHECK_INPUTS = 3


class ExportError(ValueError):
    """An export that failed or does not match PyTorch; the message is one line."""


@dataclass(frozen=True)
class ExportReport:
    """What ``export_onnx`` wrote and how well ONNX Runtime matched PyTorch."""

    path: str
    bytes: int
    opset: int
    input_shape: tuple[int, int, int, int]  # (1, C, H, W): the batch is fixed at 1
    output_shape: tuple[int, ...]
    checked_inputs: int  # 0 when check=False
    max_abs_diff: float | None  # max |ORT - PyTorch| over the checked inputs
    output_scale: float | None  # max |PyTorch logits| over the checked inputs
    tolerance: float | None  # atol + rtol * output_scale

    def describe(self) -> str:
        """One line: path, size, opset, input and output shapes."""
        return (
            f"{self.path} ({self.bytes:,} bytes, opset {self.opset}, input {INPUT_NAME!r} "
            f"{'x'.join(map(str, self.input_shape))}, output {OUTPUT_NAME!r} "
            f"{'x'.join(map(str, self.output_shape))}; batch fixed at 1)"
        )


def _one_line(error: BaseException, limit: int = 300) -> str:
    """The first line of an exception message, shortened: exporter errors can print a graph."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_arguments(onnx_path: Path, image_size: tuple[int, int], opset: int) -> tuple[int, int]:
    if onnx_path.is_dir():
        raise ExportError(f"ONNX path {onnx_path} is a directory; give a file name")
    if not onnx_path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {onnx_path}: directory {onnx_path.parent} does not exist"
        )
    if len(image_size) != 2 or not all(
        isinstance(v, (int, np.integer)) and v >= 1 for v in image_size
    ):
        raise ExportError(f"image_size must be two positive ints (H, W), got {image_size!r}")
    if not (isinstance(opset, int) and MIN_OPSET <= opset <= MAX_OPSET):
        raise ExportError(f"opset must be an int in {MIN_OPSET}..{MAX_OPSET}, got {opset!r}")
    return int(image_size[0]), int(image_size[1])


def _in_channels(model: nn.Module) -> int:
    genotype = getattr(model, "genotype", None)
    if genotype is not None and hasattr(genotype, "in_channels"):
        return int(genotype.in_channels)
    for module in model.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return module.in_channels
    raise ExportError("cannot tell the model's input channels: give it a conv or a genotype")


def onnx_bytes(model: nn.Module, example: torch.Tensor, opset: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        torch.onnx.export(
            model,
            (example,),
            buffer,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def export_onnx(
    model: nn.Module,
    onnx_path: str | Path,
    image_size: tuple[int, int] = (256, 256),
    *,
    opset: int | None = None,
    check: bool = True,
    atol: float = 1e-5,
    rtol: float = 1e-4,
    metadata: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> ExportReport:
    """Export ``model`` (in eval mode) to ``onnx_path`` at batch 1 x C x H x W.

    ``opset``: ONNX opset (default 17; 11..20). ``check``: run ONNX Runtime (CPU) on
    ``CHECK_INPUTS`` seeded standard-normal inputs (the scale of normalised images) and require
    ``max|ORT - PyTorch| <= atol + rtol * max|PyTorch|``. ``metadata``: key -> value pairs stored
    in the ONNX model's ``metadata_props`` (non-strings as JSON), e.g. the normalisation a caller
    must apply. The model's train/eval mode is restored afterwards.

    Raises :class:`ExportError` (a ``ValueError``) when the exporter fails, the graph is invalid or
    ORT does not match. Raises ``FileNotFoundError`` when the output folder does not exist. In
    every failure case nothing is written.
    """
    import onnx

    onnx_path = Path(onnx_path)
    opset = DEFAULT_OPSET if opset is None else opset
    h, w = _check_arguments(onnx_path, tuple(image_size), opset)
    params = next(iter(model.parameters()), None)
    device = params.device if params is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)
    shape = (1, _in_channels(model), h, w)
    inputs = [torch.randn(shape, generator=generator) for _ in range(1 + CHECK_INPUTS)]

    was_training = model.training
    model.eval()
    try:
        try:
            data = onnx_bytes(model, inputs[0].to(device), opset)
        except ValueError as e:  # e.g. the model's own check: size not a multiple of its stride
            raise ExportError(_one_line(e)) from e
        except Exception as e:  # the exporter's errors have many types
            raise ExportError(f"ONNX export failed: {type(e).__name__}: {_one_line(e)}") from e
        proto = onnx.load_from_string(data)
        if metadata:
            onnx.helper.set_model_props(
                proto,
                {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()},
            )
            data = proto.SerializeToString()
        try:
            onnx.checker.check_model(proto)
        except onnx.checker.ValidationError as e:
            raise ExportError(f"exported ONNX graph is invalid: {_one_line(e)}") from e

        output_shape = tuple(d.dim_value for d in proto.graph.output[0].type.tensor_type.shape.dim)
        diff = scale = tolerance = None
        if check:
            diff, scale, output_shape = _compare(model, data, inputs[1:], device)
            tolerance = atol + rtol * scale
            if not diff <= tolerance:  # also catches NaN
                raise ExportError(
                    f"ONNX Runtime output differs from PyTorch by {diff:.3g} (max abs over "
                    f"{CHECK_INPUTS} random inputs), above the tolerance {tolerance:.3g} "
                    f"(atol {atol:g} + rtol {rtol:g} x max|logits| {scale:.3g}); not written"
                )
    finally:
        model.train(was_training)

    with atomic_open(onnx_path, "wb") as f:
        f.write(data)
    return ExportReport(
        path=str(onnx_path),
        bytes=len(data),
        opset=opset,
        input_shape=shape,
        output_shape=tuple(output_shape),
        checked_inputs=CHECK_INPUTS if check else 0,
        max_abs_diff=diff,
        output_scale=scale,
        tolerance=tolerance,
    )


def ort_session(source: str | Path | bytes, *, threads: int | None = None, providers=None):
    """An ONNX Runtime session (CPU provider unless ``providers`` says otherwise)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    source = str(source) if isinstance(source, Path) else source
    return ort.InferenceSession(
        source, options, providers=list(providers or ["CPUExecutionProvider"])
    )


def _compare(
    model: nn.Module, data: bytes, inputs: list[torch.Tensor], device: torch.device
) -> tuple[float, float, tuple[int, ...]]:
    """max |ORT - PyTorch|, max |PyTorch| and the output shape, over ``inputs``."""
    try:
        session = ort_session(data, threads=torch.get_num_threads())
    except Exception as e:
        raise ExportError(f"ONNX Runtime cannot load the exported graph: {_one_line(e)}") from e
    names = ([i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise ExportError(f"exported graph has inputs/outputs {names}, expected image -> logits")
    diff = scale = 0.0
    shape: tuple[int, ...] = ()
    for x in inputs:
        with torch.no_grad():
            expected = model(x.to(device))
        if not isinstance(expected, torch.Tensor):
            raise ExportError(f"model returned {type(expected).__name__}, expected one tensor")
        expected = expected.float().cpu().numpy()
        if not np.isfinite(expected).all():
            raise ExportError("the PyTorch model's output is not finite; nothing to compare")
        got = session.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
        if got.shape != expected.shape:
            raise ExportError(
                f"ONNX Runtime output shape {got.shape} differs from PyTorch's {expected.shape}"
            )
        gap = float(np.max(np.abs(got.astype(np.float64) - expected)))
        diff = max(diff, gap if np.isfinite(gap) else float("inf"))
        scale = max(scale, float(np.max(np.abs(expected))))
        shape = tuple(got.shape)
    return diff, scale, shape
