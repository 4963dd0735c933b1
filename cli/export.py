"""The export verb: a trained run as an ONNX file, checked against PyTorch."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli import options as o

EPILOG = """\
The graph has one input "image" (1 x 3 x H x W, float32, normalised as in training) and one
output "logits" (1 x 1 x H x W, before the sigmoid). The batch is fixed at 1 and the size at
H x W: torch's exporters cannot make the batch dynamic for every preset (SCSONet's ODConv), so
export once per size. The run's normalisation, threshold and genotype are stored in the file's
metadata.
Unless --no-check, ONNX Runtime (CPU) runs the file on 3 random inputs and the export is refused
(nothing written) if it differs from PyTorch by more than 1e-5 + 1e-4 x max|logits|.
The file is written atomically: a failed export never leaves a partial file or replaces one.
"""


def run(args) -> int:
    from runner.runs import export_run, export_text

    report, config = export_run(
        Path(args.run),
        Path(args.onnx),
        o.image_size(args.image_size) if args.image_size else None,
        opset=args.opset,
        check=not args.no_check,
    )
    print(export_text(report, config), end="")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a trained run as an ONNX file and check it against PyTorch",
        description="Export the trained network of a run folder to ONNX (batch 1, fixed size)\n"
        "and check it against PyTorch with ONNX Runtime.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    o.add(p, "--run")
    p.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    o.add_image_size(
        p, "input size, a multiple of the network's stride (default: the run's training size)"
    )
    p.add_argument("--opset", type=int, help="ONNX opset, 11..20 (default 17)")
    p.add_argument(
        "--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison"
    )
    p.set_defaults(func=run)
