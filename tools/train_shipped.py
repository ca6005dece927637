"""Retrain the small models that srlab ships in srlab/weights/ (see the model card there), on the
embedded data, deterministically on one CPU thread.

    python tools/train_shipped.py edsr_tiny_x4             # writes srlab/weights/edsr_tiny_x4.pth
    python tools/train_shipped.py all --out retrained      # every model (or several names)
    python tools/train_shipped.py all --out retrained --compare   # and check them bit for bit

Each run prints the model card's row (test PSNR next to bicubic). --compare checks that the
retrained weights equal the shipped ones exactly: they do on the same kind of CPU (one thread, and
srlab.train's deterministic mode); another instruction set can round oneDNN's sums differently."""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

import torch

import srlab
from srlab import archs, checkpoints, data
from srlab.archs.spynet import SpyNet
from srlab.data import VideoPatches, bundled_videos
from srlab.degradations import degrade
from srlab.evaluate import evaluate_bicubic, evaluate_images
from srlab.flow import with_estimated_flows
from srlab.io import mod_crop, to_tensor, torch_save
from srlab.train import TrainConfig, train
from srlab.video import evaluate_clips, frame_mean

WEIGHTS = Path(archs.__file__).resolve().parents[1] / "weights"
# The shipped SpyNet (srlab/weights/README.md): BasicVSR's flow network, frozen while it trains.
SPYNET_FILE = "spynet_synthetic_BDx4_it3000_seed0_292063860a4e.pth"

# name -> (arch, constructor arguments, degradation, training settings). Image models: L1, Adam
# (0.9, 0.999), cosine to 0, on random patches of the 7 bundled training photographs.
RECIPES: dict[str, tuple[str, dict, str, dict]] = {
    "edsr_tiny_x2": (
        "edsr",
        dict(upscale=2, num_feat=32, num_block=4),
        "BI",
        dict(iters=500, batch_size=16, patch_size=24, lr=1e-3),
    ),
    "edsr_tiny_x4": (
        "edsr",
        dict(upscale=4, num_feat=32, num_block=4),
        "BI",
        dict(iters=500, batch_size=8, patch_size=24, lr=1e-3),
    ),
    "rcan_tiny_x2": (
        "rcan",
        dict(upscale=2, num_feat=16, num_group=4, num_block=2, squeeze_factor=4),
        "BI",
        dict(iters=500, batch_size=16, patch_size=24, lr=1e-3),
    ),
    # BasicVSR on synthetic BD x4 clips with the shipped SpyNet, frozen; Charbonnier, as BasicSR.
    "basicvsr_tiny_x4": (
        "basicvsr",
        dict(num_feat=16, num_block=2, num_feat_hr=16),
        "BD",
        dict(iters=400, batch_size=1, patch_size=16, num_frames=10, lr=2e-3),
    ),
}


def image_test_pairs(scale: int, degradation: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The 5 bundled test photographs, whole (cropped to a multiple of the scale), and their LR."""
    pairs = {}
    for name, img in data.bundled_images("test").items():
        gt = mod_crop(to_tensor(img), scale)  # (3, H, W)
        pairs[name] = (degrade(gt, scale, degradation), gt)
    return pairs


def score(name: str, model: torch.nn.Module) -> dict[str, float]:
    """The card's numbers: mean test PSNR of the model and of bicubic, in dB.
    Images: Y channel, `scale` pixels cropped (the SR tables' protocol), 5 test photographs.
    Video: RGB, no crop (REDS4's protocol), the first 16 frames of the 4 bundled test clips."""
    arch, kwargs, degradation, _ = RECIPES[name]
    if arch == "basicvsr":
        clips = bundled_videos("test", num_frames=16)
        scores = evaluate_clips(
            model, clips, scale=4, degradation=degradation, y_channel=False, crop_border=0
        )
        return {"psnr": frame_mean(scores), "bicubic_psnr": frame_mean(scores, "bicubic_psnr")}
    scale = kwargs["upscale"]
    pairs = image_test_pairs(scale, degradation)
    protocol = dict(scale=scale, crop_border=scale, y_channel=True)
    return {
        "psnr": statistics.fmean(evaluate_images(model, pairs, **protocol).values()),
        "bicubic_psnr": statistics.fmean(evaluate_bicubic(pairs, **protocol).values()),
    }


def retrain(name: str) -> tuple[torch.nn.Module, dict]:
    """Train `name` from scratch with its recipe (seed 0, one thread). Returns (model, history)."""
    arch, kwargs, degradation, recipe = RECIPES[name]
    torch.manual_seed(0)
    model = archs.build(arch, **kwargs)
    cfg = dict(iters=recipe["iters"], batch_size=recipe["batch_size"], lr=recipe["lr"], seed=0)
    if arch == "basicvsr":
        spynet = checkpoints.load(SpyNet(), WEIGHTS / SPYNET_FILE).eval()
        model.spynet.load_state_dict(spynet.state_dict())
        model.spynet.requires_grad_(False)  # frozen: its flows are computed once, below
        clips = with_estimated_flows(
            bundled_videos("train"), spynet, scale=4, degradation=degradation
        )
        train_set = VideoPatches(
            clips, scale=4, patch_size=recipe["patch_size"], num_frames=recipe["num_frames"],
            degradation=degradation,
        )  # fmt: skip
        config = TrainConfig(**cfg, loss="charbonnier", progress=False)
        history = train(
            model, train_set, config,
            forward=lambda m, b: m(b["lq"], flows=(b["flow_forward"], b["flow_backward"])),
        )  # fmt: skip
    else:
        train_set = data.ImagePatches(
            data.bundled_images("train"), scale=kwargs["upscale"],
            patch_size=recipe["patch_size"], degradation=degradation,
        )  # fmt: skip
        config = TrainConfig(**cfg, betas=(0.9, 0.999), eta_min=0.0, loss="l1", progress=False)
        history = train(model, train_set, config)
    return model.eval(), history


def save(name: str, model: torch.nn.Module, history: dict, scores: dict, out: Path) -> Path:
    """An srlab checkpoint, with the recipe and the card's scores. BasicVSR's SpyNet is not stored
    again: the file names the shipped SpyNet file that srlab.archs.pretrained loads into it."""
    arch, kwargs, degradation, recipe = RECIPES[name]
    extra = {
        "recipe": {"degradation": degradation, **recipe, "seed": 0, "threads": 1},
        "score": scores,
        "train_loss_last100": statistics.fmean(history["loss"][-100:]),
        "wall_time_s": round(history["wall_time"], 1),
    }
    if arch != "basicvsr":
        return checkpoints.save(out / f"{name}.pth", model, extra=extra)
    params = {k: v for k, v in model.state_dict().items() if not k.startswith("spynet.")}
    srlab_info = {"arch": arch, "kwargs": kwargs, "version": srlab.__version__}
    return torch_save(
        out / f"{name}.pth",
        {"params": params, "srlab": srlab_info, "spynet_file": SPYNET_FILE, **extra},
    )


def digest(model: torch.nn.Module) -> str:
    """SHA-256 (first 12 hex digits) of the weights' bytes, in state_dict order."""
    h = hashlib.sha256()
    for key, value in model.state_dict().items():
        h.update(key.encode())
        h.update(value.detach().contiguous().numpy().tobytes())
    return h.hexdigest()[:12]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="+", choices=[*RECIPES, "all"], metavar="name")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="folder (default: srlab/weights)")
    parser.add_argument("--compare", action="store_true", help="check against the shipped file")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the weights depend on the thread count (oneDNN's sums)
    args.out.mkdir(parents=True, exist_ok=True)
    mismatched = []
    for name in RECIPES if "all" in args.names else args.names:
        t0 = time.perf_counter()
        model, history = retrain(name)
        scores = score(name, model)
        path = save(name, model, history, scores, args.out)
        print(
            f"{name}: {scores['psnr']:.2f} dB, bicubic {scores['bicubic_psnr']:.2f} dB, "
            f"weights {digest(model)}, {time.perf_counter() - t0:.0f} s -> {path}",
            flush=True,
        )
        if args.compare:
            shipped = archs.pretrained(name)
            same = all(
                torch.equal(a, b)
                for a, b in zip(
                    model.state_dict().values(), shipped.state_dict().values(), strict=True
                )
            )
            print(f"  {'identical to' if same else 'DIFFERS from'} the shipped weights")
            mismatched += [] if same else [name]
    if mismatched:
        sys.exit(f"retrained weights differ from the shipped ones: {mismatched}")


if __name__ == "__main__":
    main()
