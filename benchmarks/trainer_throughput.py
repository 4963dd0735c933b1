"""Training throughput (images/s): lesion-nas's `trainer.fit` against a naive per-file loop.

Usage: python benchmarks/trainer_throughput.py [--models scsonet,ulite,searched] [--image-size 128]
       [--images 256] [--batch-size 8] [--epochs 1] [--device auto] [--workers 0] [--repeats 3]
       [--threads N] [--determinism]

Both pipelines train the same genotype (same initial weights), on the same first N ISIC 2017
training images, on the same device, with the same batch size, in this one process:

- naive (what the papers' public code does): a `Dataset` that opens the JPEG and the PNG with PIL
  on every `__getitem__`, resizes them, applies random h-flip, v-flip and (with probability 0.5) a
  rotation by a uniform angle in +-180 degrees with PIL's `Image.rotate`, converts to normalised
  tensors; a shuffling `DataLoader`; fp32; AdamW; BCE + Dice; a plain Python loop that calls
  `loss.item()` every step and steps a cosine schedule per epoch.
- lesion-nas: `load_data(..., limit=N)` (uint8 tensors from the on-disk cache) and
  `trainer.fit` with the "scsonet" recipe (AdamW, BCE + Dice, the same flips and free rotation,
  batched on the device), `amp` and `channels_last` left on "auto" (on for CUDA, off on CPU).

Measured: wall time of the training epochs only. For lesion-nas that is
`FitResult.images_per_second` (time inside `train_one_epoch`, validation excluded; `load_data` is
timed separately; fit's one validation, after the last epoch, runs on 16 val images only to
keep the wall time down). For the naive loop it is the whole epoch, data loading included,
because its data loading happens inside the epoch. A warm-up of a few naive steps on a throw-away
copy of the model runs first; then each pipeline runs `--repeats` times from the same initial
weights, alternating which goes first, and the medians are compared (the load average is printed:
other processes on a shared machine move CPU figures a lot). On a busy 2-core machine, 2 torch
threads make every small op wait for the other core (an 8-image `augment_batch` goes from 4 ms to
~130 ms), which swamps both pipelines; `--threads 1` (applied to both) gives stable figures there.
`--determinism` also runs `fit` twice on 16 images with the same seed and says whether the metrics
and weights are identical.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from benchmarks.common import header  # noqa: E402
from searchspace import build_model  # noqa: E402
from searchspace.presets import get_preset  # noqa: E402
from searchspace.space import make_genotype  # noqa: E402
from trainer import TrainConfig, fit, load_data, recipe, resolve_device  # noqa: E402
from trainer.data import discover  # noqa: E402
from trainer.datatypes import SplitData  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "isic2017"
# The "searched" model: a fixed point of the search space near 0.2 M parameters (179,615).
SEARCHED = {
    "layout": "unet",
    "depth": 5,
    "base_width": 8,
    "stem": "axial",
    "block": "dscm",
    "bridge": "scab",
    "upsample": "bilinear",
}
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def genotype_for(name: str):
    return make_genotype(SEARCHED) if name == "searched" else get_preset(name).genotype


# --------------------------------------------------------------------------- the naive loop


class NaiveISIC(Dataset):
    """Opens, resizes and augments one image/mask pair per call, with PIL, on the CPU."""

    def __init__(self, pairs: list[tuple[Path, Path]], size: tuple[int, int]) -> None:
        self.pairs = pairs
        self.size = size  # (H, W)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image_path, mask_path = self.pairs[i]
        h, w = self.size
        image = Image.open(image_path).convert("RGB").resize((w, h), Image.BILINEAR)
        mask = Image.open(mask_path).convert("L").resize((w, h), Image.NEAREST)
        if random.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
            mask = mask.transpose(Image.FLIP_LEFT_RIGHT)
        if random.random() < 0.5:
            image = image.transpose(Image.FLIP_TOP_BOTTOM)
            mask = mask.transpose(Image.FLIP_TOP_BOTTOM)
        if random.random() < 0.5:
            angle = random.uniform(-180.0, 180.0)
            image = image.rotate(angle, resample=Image.BILINEAR)
            mask = mask.rotate(angle, resample=Image.NEAREST)
        x = np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0
        x = (x - MEAN) / STD
        y = (np.asarray(mask, dtype=np.float32) >= 128).astype(np.float32)[None]
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def bce_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits).flatten(1)
    y = target.flatten(1)
    dice = 1 - (2 * (p * y).sum(1) + 1) / (p.sum(1) + y.sum(1) + 1)
    return bce + dice.mean()


def naive_loader(pairs, size, batch_size: int, workers: int) -> DataLoader:
    return DataLoader(
        NaiveISIC(pairs, size),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=False,
    )


def naive_train(
    model: nn.Module, loader: DataLoader, epochs: int, device: torch.device, max_steps: int = 0
) -> tuple[float, int]:
    """Train with the plain loop; returns (seconds, images seen)."""
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=1e-5)
    seen, steps = 0, 0
    start = time.perf_counter()
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            loss = bce_dice(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the papers' loops log every step
            seen += x.shape[0]
            steps += 1
            if max_steps and steps >= max_steps:
                break
        schedule.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, seen


def data_only(loader: DataLoader) -> float:
    """images/s of one pass over the naive loader with no model."""
    start, seen = time.perf_counter(), 0
    for x, _ in loader:
        seen += x.shape[0]
    return seen / (time.perf_counter() - start)


# --------------------------------------------------------------------------- the benchmark


def config_for(args, size: tuple[int, int]) -> TrainConfig:
    # eval_every > epochs: fit validates only after the last epoch, outside the timed steps.
    return recipe(
        "scsonet",
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=size,
        eval_every=args.epochs + 1,
        seed=0,
        num_threads=args.threads,
    )


def fresh_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    return build_model(genotype_for(name))


def determinism(data_dir: Path, size: tuple[int, int], device: torch.device) -> str:
    data = load_data(data_dir, image_size=size, limit=16, progress=False)
    config = recipe("scsonet", epochs=1, batch_size=8, image_size=size, seed=0)
    runs = []
    for _ in range(2):
        model = fresh_model("scsonet")
        result = fit(model, config, data, out_dir=None, device=device, progress=False)
        runs.append((result, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}))
    (r1, w1), (r2, w2) = runs
    same_metrics = r1.val == r2.val and r1.history[0]["train_loss"] == r2.history[0]["train_loss"]
    same_weights = all(torch.equal(w1[k], w2[k]) for k in w1)
    return (
        f"determinism ({device.type}, scsonet, 16 train images, 1 epoch, seed 0, run twice): "
        f"metrics identical: {same_metrics} (val dice {r1.val.get('dice_per_image_mean'):.6f} vs "
        f"{r2.val.get('dice_per_image_mean'):.6f}, train loss {r1.history[0]['train_loss']:.6f} "
        f"vs {r2.history[0]['train_loss']:.6f}); weights bitwise identical: {same_weights}"
    )


def trimmed_val(data, n: int):
    """The bundle with only the first n val images: fit's one (untimed) validation stays short."""
    val = data.split("val")
    small = SplitData(val.images[:n], val.masks[:n], val.ids[:n], val.mask_paths[:n])
    return dataclasses.replace(data, splits={"train": data.split("train"), "val": small})


def measure(name: str, args, loader, data, config, device) -> tuple[int, list[float], list[float]]:
    """(params, naive images/s per repeat, lesion-nas images/s per repeat); the order of the two
    alternates between repeats so that a change of machine load hits both alike."""
    model = fresh_model(name)
    params = sum(p.numel() for p in model.parameters())
    naive_train(copy.deepcopy(model), loader, 1, device, max_steps=3)  # warm-up
    naive, ours = [], []
    for rep in range(args.repeats):
        for which in ("naive", "ours") if rep % 2 == 0 else ("ours", "naive"):
            if which == "naive":
                seconds, seen = naive_train(copy.deepcopy(model), loader, args.epochs, device)
                naive.append(seen / seconds)
            else:
                result = fit(copy.deepcopy(model), config, data, device=device, progress=False)
                if not result.ok:
                    print(f"{name}: fit failed: {result.reason}")
                ours.append(result.images_per_second)
    return params, naive, ours


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="scsonet", help="one model (a preset or 'searched')")
    parser.add_argument("--models", default=None, help="comma list; overrides --preset")
    parser.add_argument("--image-size", type=int, default=None, help="128 on CPU, 256 on GPU")
    parser.add_argument("--images", type=int, default=256, help="training images")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0, help="naive DataLoader num_workers")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each pipeline")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads for both (default: as is)"
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--determinism", action="store_true", help="also run fit twice, compare")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    side = args.image_size or (256 if device.type == "cuda" else 128)
    size = (side, side)
    models = (args.models or args.preset).split(",")
    print(header("training throughput: lesion-nas fit vs a naive PIL/DataLoader loop", str(device)))
    print(
        f"data {args.data}: first {args.images} train images at {side}x{side}; batch "
        f"{args.batch_size}; {args.epochs} epoch(s) x {args.repeats} repeats; naive "
        f"num_workers={args.workers}; load average at start {os.getloadavg()[0]:.2f}"
    )

    t0 = time.perf_counter()
    data = load_data(args.data, image_size=size, limit=args.images, progress=False)
    load_s = time.perf_counter() - t0
    origin = "from cache" if data.source_info.get("from_cache") else "decoded + cached"
    print(f"lesion-nas load_data: {load_s:.2f} s ({origin}; not in the images/s below)")
    train = data.split("train")
    by_id = {s.id: s for s in discover(args.data).samples}
    pairs = [(by_id[i].image_path, by_id[i].mask_path) for i in train.ids]
    loader = naive_loader(pairs, size, args.batch_size, args.workers)
    config = config_for(args, size)
    data = trimmed_val(data, 2 * args.batch_size)
    random.seed(0)
    data_only(loader)  # warm the page cache and PIL
    print(f"naive data pipeline alone (no model): {data_only(loader):.1f} images/s")

    rows = []
    for name in models:
        params, naive, ours = measure(name, args, loader, data, config, device)
        ratio = statistics.median(ours) / statistics.median(naive)
        rows.append((name, params, naive, ours, ratio))
        print(
            f"{name} ({params / 1e6:.3f} M params): naive {spread(naive)} images/s, "
            f"lesion-nas {spread(ours)} images/s, ratio of medians {ratio:.2f}x"
        )
    amp = "bf16/fp16 autocast + channels_last" if device.type == "cuda" else "fp32, no autocast"
    print(
        "differs: naive decodes+resizes+augments per sample with PIL in the loop "
        f"(num_workers={args.workers}) and syncs each step (loss.item()); lesion-nas indexes "
        f"cached uint8 tensors and augments the batch with grid_sample ({amp}), one sync per "
        f"epoch; same torch threads ({torch.get_num_threads()}), model, initial weights, "
        "optimiser, loss, batch size"
    )
    print(f"load average at end {os.getloadavg()[0]:.2f}")
    print("\n| model | params | naive images/s | lesion-nas images/s | ratio (medians) |")
    print("|---|---:|---:|---:|---:|")
    for name, params, naive, ours, ratio in rows:
        print(f"| {name} | {params:,} | {spread(naive)} | {spread(ours)} | {ratio:.2f}x |")
    print("images/s: median (min-max) over the repeats")
    if args.determinism:
        print("\n" + determinism(Path(args.data), size, device))


if __name__ == "__main__":
    main()
