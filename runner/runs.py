"""Train one genotype into a run folder, and evaluate a trained run on any dataset.

The glue between ``searchspace`` (what to build) and ``trainer`` (how to train it); the trainer
itself never sees a genotype. A run folder is rebuildable without any study: ``genotype.json``,
``train_config.json``, ``split.json``, ``history.csv``, ``metrics.json``, ``cost.json``, ``model.pt``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from searchspace import Genotype, build_model
from searchspace.cost import count_cost
from trainer import (
    DataBundle,
    FitResult,
    MetricAccumulator,
    SplitData,
    TrainConfig,
    evaluate,
    fit,
    load_checkpoint,
    load_data,
    write_json,
)
from trainer.config import upgraded as upgraded_config
from trainer.data import read_mask


def check_image_size(genotype: Genotype, image_size: tuple[int, int]) -> None:
    h, w = image_size
    if h % genotype.stride or w % genotype.stride:
        raise ValueError(
            f"image size {h}x{w} is not a multiple of {genotype.name or 'the genotype'}'s total "
            f"stride {genotype.stride}; use e.g. --image-size {max(genotype.stride, h // genotype.stride * genotype.stride)}"
        )


def train_genotype(
    genotype: Genotype,
    config: TrainConfig,
    data: DataBundle,
    *,
    out_dir: Path | None,
    device: str = "auto",
    progress: bool = True,
    on_epoch: Callable[[int, dict], bool | None] | None = None,
) -> FitResult:
    """Build the genotype's network and train it; the run folder gets genotype and costs too."""
    check_image_size(genotype, config.image_size)
    torch.manual_seed(config.seed)
    model = build_model(genotype)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "genotype.json", genotype.to_dict())
        cost = count_cost(genotype, config.image_size, memory=True)
        write_json(out_dir / "cost.json", {**cost.to_dict(), "counter_notes": COST_NOTES})
    return fit(
        model, config, data, out_dir=out_dir, device=device, on_epoch=on_epoch, progress=progress
    )


COST_NOTES = {
    "params": "sum of numel over model.parameters()",
    "macs_thop": "thop.profile MACs at batch 1 (papers print these as FLOPs)",
    "macs_torch": "torch.utils.flop_counter.FlopCounterMode total / 2, batch 1",
    "act_bytes": "bytes autograd saves for backward, batch 1, fp32",
}


def load_run(run_dir: Path) -> tuple[Genotype, TrainConfig, torch.nn.Module]:
    """The genotype, config and trained network of a run folder."""
    run_dir = Path(run_dir)
    for name in ("genotype.json", "train_config.json", "model.pt"):
        if not (run_dir / name).is_file():
            raise FileNotFoundError(f"{run_dir} is not a finished run: {name} is missing")
    genotype = Genotype.from_json((run_dir / "genotype.json").read_text())
    config = TrainConfig.from_json((run_dir / "train_config.json").read_text())
    model = build_model(genotype)
    model.load_state_dict(load_checkpoint(run_dir / "model.pt")["state_dict"])
    return genotype, config, model.eval()


def _concat(bundle: DataBundle) -> SplitData:
    parts = list(bundle.splits.values())
    return SplitData(
        images=torch.cat([p.images for p in parts]),
        masks=torch.cat([p.masks for p in parts]),
        ids=tuple(i for p in parts for i in p.ids),
        mask_paths=tuple(m for p in parts for m in p.mask_paths),
    )


def _run_fingerprint(run_dir: Path) -> str | None:
    """The content fingerprint of the data a run was trained on (its metrics.json)."""
    path = Path(run_dir) / "metrics.json"
    if not path.is_file():
        return None
    return (json.loads(path.read_text()).get("data") or {}).get("fingerprint")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "data"


def evaluate_run(
    run_dir: Path,
    source: str,
    *,
    split: str | None = None,
    metric_resolution: str = "original",
    save_predictions: Path | None = None,
    out_dir: Path | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Score a trained run on a dataset split; write ``per_image.csv`` and ``metrics.json``.

    ``split``: a split name of the dataset ("test", "val", "train") or "all". By default, on the
    run's own dataset (same content fingerprint): "test" when it has one, else "val" (the images
    the run did not train on); on any other dataset: "all" its images, since none of them was
    seen in training. The record's ``split_reason`` says which rule chose. ``metric_resolution="original"`` brings each
    prediction back to its ground-truth mask's own size (bilinear on the probability, then > 0.5)
    and scores it there, as the ISIC challenge does; ``"model"`` scores at the model's input size.
    """
    import pandas as pd

    if metric_resolution not in ("original", "model"):
        raise ValueError(
            f"--metric-resolution must be 'original' or 'model', got {metric_resolution!r}"
        )
    genotype, config, model = load_run(run_dir)
    bundle = load_data(source, image_size=config.image_size, progress=progress)
    own = _run_fingerprint(run_dir)
    if split in (None, ""):
        if own is not None and own != bundle.fingerprint:
            split = "all"
            reason = (
                f"{bundle.name} is not the run's training data (fingerprint "
                f"{bundle.fingerprint[:12]} vs {own[:12]}): all its images"
            )
        else:
            split = "test" if "test" in bundle.splits else "val"
            reason = f"the run's own dataset: its {split} split (not trained on)"
    else:
        reason = f"--split {split}"
    data = _concat(bundle) if split == "all" else bundle.split(split)
    probs = _probabilities(model, config, data, device, run_dir)
    original = metric_resolution == "original" and bool(data.mask_paths)
    predictions: list[np.ndarray] = []
    if original:
        acc = MetricAccumulator(slow=True)
        for i, path in enumerate(data.mask_paths):
            truth = torch.from_numpy(read_mask(path).astype(np.uint8))[None, None]
            p = F.interpolate(
                probs[i : i + 1], size=truth.shape[-2:], mode="bilinear", align_corners=False
            )
            pred = p > config.threshold
            acc.update(pred, truth)
            predictions.append(pred[0, 0].numpy())
        metrics, per_image = acc.compute(), acc.per_image()
    else:
        acc = MetricAccumulator(slow=True)
        pred = probs > config.threshold
        acc.update(pred, data.masks)
        metrics, per_image = acc.compute(), acc.per_image()
        predictions = [p[0].numpy() for p in pred]
    resolution = "original" if original else "model"
    out_dir = (
        Path(out_dir)
        if out_dir
        else Path(run_dir) / "eval" / _safe_name(f"{bundle.name}-{split}-{resolution}")
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"id": list(data.ids), **{k: v for k, v in per_image.items()}})
    table.to_csv(out_dir / "per_image.csv", index=False)
    record = {
        "run": str(run_dir),
        "genotype_id": genotype.id,
        "data": {
            "name": bundle.name,
            "fingerprint": bundle.fingerprint,
            "synthetic": bundle.synthetic,
        },
        "split": split,
        "split_reason": reason,
        "images": len(data),
        "metric_resolution": resolution,
        "metrics": metrics,
    }
    write_json(out_dir / "metrics.json", record)
    if save_predictions:
        from PIL import Image

        folder = Path(save_predictions)
        folder.mkdir(parents=True, exist_ok=True)
        for image_id, pred in zip(data.ids, predictions, strict=True):
            Image.fromarray(pred.astype(np.uint8) * 255).save(
                folder / f"{_safe_name(image_id)}.png"
            )
    record["out_dir"] = str(out_dir)
    return json.loads(json.dumps(record, default=float))


def scoring_settings(run_dir: Path | None, device: str) -> tuple[str, str, str]:
    """(device, amp, channels_last) to score a run with. ``auto``: the device the run trained on,
    when this machine has it, with the training's mixed precision and memory layout (its
    ``runtime.json``), so a GPU run is scored as it was validated; otherwise, and for ``cpu``,
    the CPU in fp32 and NCHW. Any other device: that device, fp32, NCHW."""
    if device != "auto":
        return device, "off", "off"
    runtime = {}
    path = Path(run_dir) / "runtime.json" if run_dir is not None else None
    if path is not None and path.is_file():
        try:
            runtime = json.loads(path.read_text())
        except ValueError:
            runtime = {}
    trained_on = str(runtime.get("device", "cpu"))
    if trained_on.startswith("cuda") and torch.cuda.is_available():
        index = int(trained_on.split(":")[1]) if ":" in trained_on else 0
        if index < torch.cuda.device_count():
            amp = {"bfloat16": "bf16", "float16": "fp16"}.get(str(runtime.get("amp")), "off")
            layout = "on" if runtime.get("channels_last") else "off"
            return trained_on, amp, layout
        return "cuda", "off", "off"  # trained on a GPU this machine lacks: its first one
    return "cpu", "off", "off"


def _probabilities(model, config, data, device: str, run_dir: Path | None = None) -> torch.Tensor:
    """The model's foreground probabilities on ``data``, with the run's own evaluation settings,
    on the device ``scoring_settings`` chooses."""
    dev, amp, layout = scoring_settings(run_dir, device)
    _, _, probs = evaluate(
        model,
        data,
        device=dev,
        batch_size=config.eval_batch_size,
        mean=config.mean,
        std=config.std,
        threshold=config.threshold,
        output="probabilities",
        amp=amp,
        channels_last=layout,
    )
    return probs.float().cpu()


def per_image_scores(run_dir: Path, split, *, device: str = "auto") -> dict[str, np.ndarray]:
    """Every metric of every image of ``split`` (a ``SplitData``) for a finished run, scored at
    the model's input size as in training (so the per-image mean of "dice" is the run's
    ``val`` dice_per_image_mean when ``split`` is its validation split)."""
    from trainer.metrics import per_image_metrics

    _, config, model = load_run(run_dir)
    probs = _probabilities(model, config, split, device, run_dir)
    return per_image_metrics(probs > config.threshold, split.masks, slow=False)


# ------------------------------------------------------------------------------ many runs
def finished_run(run_dir: Path, config: TrainConfig) -> dict | None:
    """metrics.json of a run folder that finished with exactly this config, else None."""
    metrics, saved = Path(run_dir) / "metrics.json", Path(run_dir) / "train_config.json"
    if metrics.is_file() and saved.is_file():
        if upgraded_config(json.loads(saved.read_text())) == config.to_dict():
            m = json.loads(metrics.read_text())
            if m.get("status") != "failed":
                return m
    return None


def _prepare(genotype: Genotype, config: TrainConfig, run_dir: Path) -> None:
    check_image_size(genotype, config.image_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "genotype.json", genotype.to_dict())
    cost = count_cost(genotype, config.image_size, memory=True)
    write_json(run_dir / "cost.json", {**cost.to_dict(), "counter_notes": COST_NOTES})


def train_runs(
    runs: list[tuple[Genotype, TrainConfig, Path]],
    data: DataBundle | Callable[[], DataBundle],
    *,
    workers: int = 1,
    threads: int | None = None,
    device: str = "auto",
    on_done: Callable[[int, dict | None], None] | None = None,
) -> list[dict | None]:
    """Train independent runs into their folders; a folder that already finished with the same
    config is reused (an interrupted verb resumes). Returns each run's metrics.json content, or
    None for a failed run. With ``workers`` > 1 the runs to train go to
    ``trainer.packing.fit_packed``: that many spawned processes with ``threads`` torch threads
    each, the data loaded once per process (``data`` must then be a picklable callable, or a
    DataBundle, which is shared). The results are those of one process at a time, with the same
    thread count (tests/test_fast_paths.py)."""
    from functools import partial

    from trainer.packing import PackJob, fit_packed

    out: list[dict | None] = [None] * len(runs)
    todo = []
    for i, (_g, config, run_dir) in enumerate(runs):
        done = finished_run(run_dir, config)
        if done is not None:
            out[i] = done
            if on_done is not None:
                on_done(i, done)
        else:
            todo.append(i)
    if workers <= 1:
        bundle = data() if callable(data) and not isinstance(data, DataBundle) else data
        for i in todo:
            g, config, run_dir = runs[i]
            train_genotype(g, config, bundle, out_dir=run_dir, device=device, progress=False)
            out[i] = finished_run(run_dir, config)
            if on_done is not None:
                on_done(i, out[i])
        return out
    jobs = []
    for i in todo:
        g, config, run_dir = runs[i]
        _prepare(g, config, Path(run_dir))
        jobs.append(PackJob(str(run_dir), partial(build_model, g), config, str(run_dir)))
    if jobs:

        def ended(outcome) -> None:  # as each run ends, so that a progress bar moves
            i = todo[outcome.index]
            g, config, run_dir = runs[i]
            out[i] = finished_run(run_dir, config) if outcome.ok else None
            if on_done is not None:
                on_done(i, out[i])

        from runner.devices import place

        devices = place(min(workers, len(jobs)), device)  # one GPU each, round robin
        fit_packed(jobs, data, processes=workers, device=devices, threads=threads or 1,
                   on_outcome=ended)  # fmt: skip
    return out


def export_run(
    run_dir: Path,
    onnx_path: Path,
    image_size: tuple[int, int] | None = None,
    *,
    opset: int | None = None,
    check: bool = True,
):
    """``search.py export``: a run folder's trained network as an ONNX file (batch 1, at
    ``image_size`` or the run's training size), its metadata, checked in ONNX Runtime unless
    ``check`` is False (``trainer.export.export_onnx``). Returns (export report, train config)."""
    import pickle

    from trainer.export import export_onnx

    run_dir, onnx_path = Path(run_dir), Path(onnx_path)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder {run_dir} does not exist")
    if not onnx_path.parent.is_dir():
        raise FileNotFoundError(
            f"cannot write {onnx_path}: directory {onnx_path.parent} does not exist"
        )
    try:
        genotype, config, model = load_run(run_dir)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"cannot load the trained network of {run_dir}: {first}") from e
    stored = tuple(config.image_size) if config.image_size else (256, 256)
    size = tuple(image_size) if image_size else stored
    check_image_size(genotype, size)
    report = export_onnx(
        model,
        onnx_path,
        size,
        opset=opset,
        check=check,
        metadata={
            "lesion_nas.run": str(run_dir),
            "lesion_nas.genotype_id": genotype.id,
            "lesion_nas.genotype_name": genotype.name or "",
            "lesion_nas.genotype": genotype.to_json(),
            "lesion_nas.train_image_size": list(config.image_size),
            "lesion_nas.input": "RGB uint8 / 255, then (x - mean) / std, NCHW float32, batch 1",
            "lesion_nas.mean": list(config.mean),
            "lesion_nas.std": list(config.std),
            "lesion_nas.output": "logits; lesion where sigmoid(logits) > threshold",
            "lesion_nas.threshold": config.threshold,
        },
    )
    return report, config


def train_text(result, data, config: TrainConfig, out: Path) -> str:
    """The ``train`` verb's summary: status, best epoch, validation (and test) Dice, the split
    and how many seeds each number is over."""
    val = result.val or {}
    lines = [
        f"{result.status}: best epoch {result.best_epoch}, val Dice (per-image mean) "
        f"{val.get('dice_per_image_mean', float('nan')):.4f} on {len(data.split('val'))} "
        f"{'SYNTHETIC ' if data.synthetic else ''}validation images, 1 seed ({config.seed})"
    ]
    if result.test:
        dice = result.test.get("dice_per_image_mean", float("nan"))
        lines.append(f"test Dice (per-image mean) {dice:.4f}")
    if result.reason:
        lines.append(f"reason: {result.reason}")
    lines.append(f"run folder: {out}")
    return "\n".join(lines) + "\n"


def evaluation_text(record: dict) -> str:
    """The ``evaluate`` verb's summary: every registered metric the evaluation computed, per-image
    mean and pooled, and where the per-image table is."""
    from trainer.metrics import METRICS

    m = record["metrics"]
    lines = [
        f"{record['images']} images of {record['data']['name']} ({record['split']}: "
        f"{record['split_reason']}), scored at {record['metric_resolution']} resolution:"
    ]
    for key in METRICS:
        if f"{key}_per_image_mean" not in m:
            continue
        pooled = m.get(f"{key}_pooled")
        line = f"  {key:<20} per-image mean {m[f'{key}_per_image_mean']:.4f}"
        lines.append(line + (f"   pooled {pooled:.4f}" if pooled is not None else ""))
    lines.append(f"per-image table and metrics: {record['out_dir']}")
    return "\n".join(lines) + "\n"


def export_text(report, config: TrainConfig) -> str:
    """The ``export`` verb's summary: the file, the input convention, the check's result."""
    lines = [
        f"wrote {report.describe()}",
        f"input: RGB / 255, then (x - mean) / std with mean {tuple(config.mean)}, std "
        f"{tuple(config.std)}; lesion where sigmoid(logits) > {config.threshold}",
    ]
    if report.max_abs_diff is None:
        lines.append("not checked against PyTorch (--no-check)")
    else:
        lines.append(
            f"max |ONNX Runtime - PyTorch| = {report.max_abs_diff:.3g} on "
            f"{report.checked_inputs} random inputs (max |logits| {report.output_scale:.3g}, "
            f"tolerance {report.tolerance:.3g})"
        )
    return "\n".join(lines) + "\n"
