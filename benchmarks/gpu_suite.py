"""The GPU machine's benchmarks in one run (``bash benchmarks/gpu.sh`` calls this): each a ratio
measured in this same run, the device named, all written to one Markdown file.

Usage: python benchmarks/gpu_suite.py [--smoke] [--device auto|cpu|cuda] [--out FILE]
       [--data DIR] [--only NAME[,NAME]]

The measurements (``--only`` picks some; each is one of the project's benchmarks, run as a
subprocess with the sizes below, its printed result kept whole):

- ``throughput``: ``trainer_throughput.py``: ``trainer.fit`` against the naive per-file loop
  (scsonet; 256x256, 512 images, 3 repeats on a GPU). Target on an H100: >= 10x.
- ``packing``: ``packing.py``: 1/2/4/8 trials packed per GPU (scsonet, dsnet and a searched
  network, 256x256), then the same with MPS when ``nvidia-cuda-mps-control`` is on the machine
  (started for the run and stopped after; "not available" otherwise). Target: >= 5,000
  images/s aggregate for 0.1-0.4 M-parameter models at 256x256.
- ``cudnn``: ``cudnn_autotune.py``: the autotuner off / on over 20 different candidates.
- ``search``: ``search_throughput.py`` on synthetic data: a 100-candidate search at 128x128 / 20
  epochs with ``--workers 1`` (baseline) and ``--workers auto`` (new); trained candidates per
  hour of each and their ratio.
- ``evaluation``: a network trained here, scored by ``evaluate`` on the training device (its amp
  and memory layout, the default) and with ``--device cpu`` (fp32): per-image Dice parity
  within 0.005 (mean absolute difference) and the wall-time ratio.

``--smoke``: the same code paths at toy sizes (32x32, a handful of images, 1 epoch, 2 candidates,
packs 1 and 2) in under 2 minutes on 2 CPU cores; ``tests/test_gpu_suite.py`` runs it with
``--device cpu``. Without ``--data`` and without ``../shared/data/isic2017``, the naive loop's
files are a synthetic set written in the official ISIC 2017 layout (the naive loop needs files).
Nothing is installed from the network: ``gpu.sh`` installs carried wheels from ``.whl/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ISIC = ROOT.parent / "shared" / "data" / "isic2017"
NAMES = ("throughput", "packing", "cudnn", "search", "evaluation")
# mean absolute per-image Dice difference allowed between the device's scoring and the CPU's
EVAL_TOLERANCE = 0.005


def sizes(smoke: bool, cuda: bool) -> dict:
    if smoke:
        return dict(side=32, images=16, repeats=1, packs="1,2", epochs=1, candidates=2,
                    trials=1, search_epochs=1, search_side=32, models="scsonet", budget="0.1M")  # fmt: skip
    side = 256 if cuda else 128
    return dict(side=side, images=512, repeats=3, packs="1,2,4,8", epochs=2, candidates=20,
                trials=100, search_epochs=20, search_side=128,
                models="scsonet,dsnet,searched", budget="0.4M")  # fmt: skip


def write_isic_layout(folder: Path, side: int, n_train: int, n_val: int) -> Path:
    """Synthetic lesions saved as JPEG images and PNG masks under the official ISIC 2017 folder
    and file names (``ISIC_0000000.jpg``, ``ISIC_0000000_segmentation.png``)."""
    import numpy as np
    from PIL import Image

    from trainer import load_data

    data = load_data("synthetic", image_size=(side, side), synthetic_counts=(n_train, n_val, 2),
                     progress=False)  # fmt: skip
    k = 0
    for split, part in (("train", "Training"), ("val", "Validation")):
        s = data.split(split)
        images = folder / f"ISIC-2017_{part}_Data"
        masks = folder / f"ISIC-2017_{part}_Part1_GroundTruth"
        images.mkdir(parents=True, exist_ok=True)
        masks.mkdir(parents=True, exist_ok=True)
        for i in range(len(s.ids)):
            name = f"ISIC_{k:07d}"
            k += 1
            img = s.images[i].permute(1, 2, 0).numpy()
            if img.dtype != np.uint8:
                img = (img.clip(0, 1) * 255).astype(np.uint8)
            Image.fromarray(img).save(images / f"{name}.jpg", quality=95)
            mask = (s.masks[i][0].numpy() > 0).astype(np.uint8) * 255
            Image.fromarray(mask).save(masks / f"{name}_segmentation.png")
    return folder


def run(cmd: list[str], title: str, timeout: float | None = None) -> str:
    """One benchmark as a subprocess; its output, or why it failed."""
    print(f"== {title}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"(timed out after {timeout:.0f} s)"
    text = done.stdout.strip()
    if done.returncode != 0:
        text += f"\n\n(FAILED: exit {done.returncode})\n{done.stderr.strip()[-3000:]}"
    print(f"   {time.perf_counter() - t0:.1f} s", flush=True)
    return text


def mps_available() -> bool:
    return shutil.which("nvidia-cuda-mps-control") is not None


def evaluation(device: str, side: int, images: int, epochs: int, work: Path) -> str:
    """Train one network here; score it with ``evaluate_run`` on the device and on the CPU."""
    import pandas as pd
    import torch

    from benchmarks.common import header
    from runner.runs import evaluate_run, train_genotype
    from searchspace.presets import PRESETS
    from trainer import load_data, recipe

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    counts = (images, max(8, images // 2), 2)
    data = load_data("synthetic", image_size=(side, side), synthetic_counts=counts, progress=False)
    config = recipe("fast", image_size=(side, side), epochs=epochs, batch_size=8)
    run_dir = work / "eval-run"
    train_genotype(PRESETS["scsonet"].genotype, config, data, out_dir=run_dir, device=device,
                   progress=False)  # fmt: skip
    scores, walls = {}, {}
    source = "synthetic"  # its own val split (the run trained on a smaller draw)
    for label, dev in (("device", "auto"), ("cpu", "cpu")):
        t0 = time.perf_counter()
        evaluate_run(run_dir, source, split="val", out_dir=work / f"eval-{label}", device=dev,
                     progress=False)  # fmt: skip
        walls[label] = time.perf_counter() - t0
        scores[label] = pd.read_csv(work / f"eval-{label}" / "per_image.csv")
    a, b = scores["device"], scores["cpu"]
    col = next(c for c in a.columns if c.startswith("dice"))
    diff = (a[col] - b[col]).abs()
    ok = diff.mean() <= EVAL_TOLERANCE
    return "\n".join(
        [
            header("evaluation on the training device vs the CPU (fp32)", device),
            f"scsonet trained {epochs} epoch(s) on {images} synthetic images at {side}x{side} on "
            f"{device}; {len(a)} validation images scored by `evaluate` with --device auto (the "
            "training device, its amp and memory layout) and --device cpu",
            f"per-image {col}: mean |difference| {diff.mean():.5f}, max {diff.max():.5f} "
            f"(tolerance: mean <= {EVAL_TOLERANCE}): {'PARITY' if ok else 'DIFFERENT'}",
            f"wall seconds: device {walls['device']:.2f}, cpu {walls['cpu']:.2f}; ratio cpu / "
            f"device {walls['cpu'] / walls['device']:.2f}x",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="toy sizes: the code paths in < 2 min")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--out", help="the Markdown file (default benchmarks/RESULTS-gpu.md; with "
                   "--smoke runs/gpu-smoke/RESULTS-gpu.md)")  # fmt: skip
    p.add_argument("--data", help="ISIC 2017 folder for the naive loop (default ../shared/data/"
                   "isic2017 if there, else a synthetic set in its layout)")  # fmt: skip
    p.add_argument("--only", help=f"comma-separated subset of {', '.join(NAMES)}")
    a = p.parse_args(argv)
    only = [n.strip() for n in (a.only or ",".join(NAMES)).split(",") if n.strip()]
    bad = [n for n in only if n not in NAMES]
    if bad:
        print(f"error: --only {bad[0]!r}: choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    import torch

    from benchmarks.common import describe_device

    cuda = a.device != "cpu" and torch.cuda.is_available()
    if a.device == "cuda" and not cuda:
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    device = "cuda" if cuda else "cpu"
    z = sizes(a.smoke, cuda)
    out = Path(a.out) if a.out else (
        ROOT / "runs" / "gpu-smoke" / "RESULTS-gpu.md" if a.smoke else ROOT / "benchmarks" / "RESULTS-gpu.md"
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    sections = []
    with tempfile.TemporaryDirectory(prefix="gpu-suite-") as tmp:
        work = Path(tmp)
        data = a.data or (str(ISIC) if ISIC.is_dir() and not a.smoke else None)
        if "throughput" in only:
            if data is None:
                data = str(write_isic_layout(work / "isic2017", z["side"], z["images"], 16))
            sections.append(("trainer throughput vs the naive loop", run(
                [py, "benchmarks/trainer_throughput.py", "--models", "scsonet", "--device",
                 device, "--image-size", str(z["side"]), "--images", str(z["images"]),
                 "--repeats", str(z["repeats"]), "--data", data], "throughput")))  # fmt: skip
        if "packing" in only:
            cmd = [py, "benchmarks/packing.py", "--models", z["models"], "--packs", z["packs"],
                   "--device", device, "--image-size", str(z["side"]), "--images",
                   str(z["images"]), "--epochs", str(z["epochs"])]  # fmt: skip
            sections.append(("packing trials per GPU, without MPS", run(cmd, "packing")))
            if cuda and mps_available():
                subprocess.run(["nvidia-cuda-mps-control", "-d"], check=False)
                try:
                    sections.append(("packing trials per GPU, with MPS", run(cmd, "packing+MPS")))
                finally:
                    subprocess.run(["nvidia-cuda-mps-control"], input="quit\n", text=True,
                                   check=False)  # fmt: skip
            else:
                why = "no CUDA" if not cuda else "nvidia-cuda-mps-control is not on this machine"
                sections.append(("packing trials per GPU, with MPS", f"not measured: {why}"))
        if "cudnn" in only:
            sections.append(("cuDNN autotune over many candidates", run(
                [py, "benchmarks/cudnn_autotune.py", "--candidates", str(z["candidates"]),
                 "--image-size", str(z["search_side"]), "--epochs", str(z["epochs"]),
                 "--images", str(z["images"]), "--budget-params", z["budget"], "--device",
                 device], "cudnn")))  # fmt: skip
        if "search" in only:
            side = str(z["search_side"])
            sections.append(("trained candidates per hour of a search", run(
                [py, "benchmarks/search_throughput.py", "--data", "synthetic", "--image-size",
                 side, side, "--epochs", str(z["search_epochs"]), "--trials", str(z["trials"]),
                 "--baseline", f"--workers 1 --device {device}", "--baseline-env", "",
                 "--new", f"--workers auto --device {device}"], "search")))  # fmt: skip
        if "evaluation" in only:
            print("== evaluation", flush=True)
            try:
                text = evaluation(device, z["side"], z["images"], z["epochs"], work)
            except Exception as e:  # one broken measurement must not lose the others
                text = f"(FAILED: {type(e).__name__}: {e})"
            sections.append(("evaluation on the GPU vs the CPU", text))
    body = [
        "# GPU benchmarks (`bash benchmarks/gpu.sh`)",
        "",
        f"device: {describe_device(device)}; torch {torch.__version__}"
        + (f", CUDA {torch.version.cuda}" if cuda else "")
        + (" -- SMOKE SIZES: code paths only, no figure here means anything" if a.smoke else ""),
        "",
    ]
    for title, text in sections:
        body += [f"## {title}", "", "```", text, "```", ""]
    out.write_text("\n".join(body))
    print(f"wrote {out}")
    failed = [t for t, text in sections if "(FAILED" in text or "(timed out" in text]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
