"""Real validation images with the predicted and the true lesion contours drawn on them."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from trainer import SplitData, evaluate, load_data, read_json

TRUE_COLOUR = (0, 220, 0)  # green: ground truth
PRED_COLOUR = (255, 0, 255)  # magenta: prediction


def contour(mask: np.ndarray) -> np.ndarray:
    """The inner boundary of a binary mask: pixels of the mask with a 4-neighbour outside it."""
    m = np.asarray(mask, dtype=bool)
    padded = np.pad(m, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & m
    return m & ~interior


def overlay(image: np.ndarray, truth: np.ndarray, pred: np.ndarray, scale: int = 1) -> np.ndarray:
    """``image`` (H, W, 3 uint8) enlarged ``scale`` times, true contour then predicted on top."""
    out = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1).copy()
    for mask, colour in ((truth, TRUE_COLOUR), (pred, PRED_COLOUR)):
        big = np.repeat(np.repeat(np.asarray(mask, dtype=bool), scale, axis=0), scale, axis=1)
        edge = contour(big)
        if scale > 2:  # two pixels wide (inwards), so the line shows at any zoom
            edge = edge | (contour(big & ~edge) & big)
        out[edge] = colour
    return out


def png_data_uri(array: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class Samples(NamedTuple):
    split: SplitData | None
    note: str  # what the images are, or why there are none


def _pick(ids: list[str], k: int) -> list[str]:
    if len(ids) <= k:
        return list(ids)
    return [ids[round(i * (len(ids) - 1) / (k - 1))] for i in range(k)] if k > 1 else ids[:1]


def load_samples(run_dir: Path, *, source: str | None = None, k: int = 4) -> Samples:
    """``k`` validation images (evenly spaced over the split) of the data a run was trained on.

    The data is reloaded from its source (``source``, else the run's ``split.json``) and used
    only if its fingerprint equals the run's; otherwise the note says why there are no images.
    """
    path = Path(run_dir) / "split.json"
    if not path.is_file():
        return Samples(None, f"no validation images: {path} is missing")
    rec = read_json(path)
    info = rec.get("source_info") or {}
    size = tuple(rec["image_size"])
    ids = _pick(list((rec.get("split_info") or {}).get("ids", {}).get("val", [])), k)
    if not ids:
        return Samples(None, "no validation images: the run's split lists no val ids")
    try:
        if rec.get("synthetic"):
            counts = info.get("counts") or {}
            bundle = load_data(
                "synthetic", image_size=size, progress=False,
                synthetic_counts=(counts["train"], counts["val"], counts["test"]),
                synthetic_seed=int(info.get("data_seed", 0)),
            )  # fmt: skip
        else:
            source = source or info.get("source")
            if not source or not Path(source).exists():
                return Samples(None, f"no validation images: data source {source!r} not found")
            split_info = rec.get("split_info") or {}
            bundle = load_data(  # same limit and seed: the fingerprint covers the loaded files
                source, image_size=size, progress=False, limit=split_info.get("limit"),
                seed=int(split_info.get("seed") or 0),
            )  # fmt: skip
    except (ValueError, KeyError, OSError) as e:
        return Samples(None, f"no validation images: reloading the data failed ({e})")
    if bundle.fingerprint != rec.get("fingerprint"):
        theirs = str(rec.get("fingerprint"))[:12]
        return Samples(
            None,
            f"no validation images: the data reloaded from {info.get('source')!r} differs from "
            f"the run's (fingerprint {bundle.fingerprint[:12]} vs {theirs})",
        )
    index = {i: (name, n) for name, s in bundle.splits.items() for n, i in enumerate(s.ids)}
    found = [index[i] for i in ids if i in index]
    if not found:
        return Samples(None, "no validation images: the run's val ids are not in the data")
    images = torch.stack([bundle.splits[name].images[n] for name, n in found])
    masks = torch.stack([bundle.splits[name].masks[n] for name, n in found])
    tag = "SYNTHETIC " if bundle.synthetic else ""
    note = f"{len(found)} {tag}validation images of {bundle.name} ({size[0]}x{size[1]})"
    return Samples(SplitData(images, masks, tuple(i for i in ids if i in index)), note)


class Panel(NamedTuple):
    image_id: str
    dice: float
    uri: str


def prediction_panels(model: torch.nn.Module, config, split: SplitData) -> list[Panel]:
    """Predict on CPU and draw both contours; the caption's Dice is per image at model size."""
    _, per_image, preds = evaluate(
        model, split, device="cpu", batch_size=config.eval_batch_size, mean=config.mean,
        std=config.std, threshold=config.threshold, output="predictions",
    )  # fmt: skip
    size = split.images.shape[-1]
    scale = max(1, 192 // size)
    panels = []
    for n, image_id in enumerate(split.ids):
        image = split.images[n].permute(1, 2, 0).numpy()
        drawn = overlay(image, split.masks[n, 0].numpy(), preds[n, 0].numpy(), scale)
        panels.append(Panel(image_id, float(per_image["dice"][n]), png_data_uri(drawn)))
    return panels
