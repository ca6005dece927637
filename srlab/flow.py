"""Optical flow without downloads: pretrain SpyNet on synthetic clips whose flow is known exactly,
measure it, and cache it.

BasicVSR aligns with a SpyNet that was pretrained on real optical-flow data (Sintel) and then
fine-tuned with the SR network (Sec. 4 of the BasicVSR paper). srlab ships no weights and downloads
nothing, so it pretrains SpyNet itself on `srlab.data.synthetic_video` clips, where the flow is
known in every pixel. BasicVSR runs SpyNet on the *LR* frames, so that is what it is trained on:
LR frames made with the same degradation as the SR input, and the ground-truth flow brought to the
LR grid with `srlab.data.downscale_flow`.

    spynet = pretrained_spynet(degradation="BD")        # the shipped run, from srlab/weights/
    report = evaluate_flow(spynet, bundled_videos("test"), scale=4, degradation="BD")
    report["epe"], report["epe_zero"]                   # ours vs "no motion", in LR pixels

With official weights, skip all this: SpyNet(load_path="spynet_sintel_final-3d2a1287.pth"), or
srlab.checkpoints.load(model, path) for a whole BasicVSR checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from srlab import checkpoints
from srlab.archs.spynet import NUM_LEVELS, SpyNet
from srlab.checks import check_same_shape, check_tensor
from srlab.data import SyntheticClip, downscale_flow, synthetic_video
from srlab.degradations import degrade
from srlab.device import num_threads

# Bump when a change to the pretraining code changes the weights it produces: old cache files
# then stop matching, instead of being silently reused.
PRETRAIN_VERSION = 2  # 2: default init instead of zero-flow init, 256 clips instead of 32
# Recipe settings added after PRETRAIN_VERSION 2, at the values that reproduce the runs before
# them: a run with these values keeps its old cache name (they are left out of the key).
LEGACY_SETTINGS = {"init": "pytorch", "augment": False, "photometric": False}
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[1] / ".cache"
# Pretraining runs shipped with srlab, under the names cache_path gives them: the notebooks' own
# settings, so that a first run on a fresh clone does not spend minutes pretraining SpyNet.
SHIPPED_DIR = Path(__file__).resolve().parent / "weights"


def epe(pred: Tensor, gt: Tensor, mask: Tensor | None = None) -> Tensor:
    """End-point error: the Euclidean distance between predicted and true flow vectors, averaged
    over pixels (over the pixels where mask is 1, if a mask is given).

    pred, gt: (..., 2, h, w) in pixels; mask: (..., 1, h, w) with values in {0, 1}, or None.
    Returns a scalar tensor. A mask with no valid pixel is an error, not a NaN."""
    check_tensor(pred, "pred")
    check_tensor(gt, "gt")
    check_same_shape(pred, gt, "pred", "gt")
    if pred.dim() < 3 or pred.shape[-3] != 2:
        raise ValueError(f"pred and gt must be flows (..., 2, h, w), got {tuple(pred.shape)}")
    error = (pred - gt).square().sum(dim=-3, keepdim=True).sqrt()  # (..., 1, h, w)
    if mask is None:
        return error.mean()
    check_tensor(mask, "mask")
    if mask.shape != error.shape:
        raise ValueError(f"mask must have shape {tuple(error.shape)}, got {tuple(mask.shape)}")
    valid = mask.to(error.dtype).sum()
    if valid == 0:
        raise ValueError("mask has no valid pixel")
    return (error * mask).sum() / valid


def downscale_mask(mask: Tensor, scale: int) -> Tensor:
    """A validity mask on the LR grid: an LR pixel is valid only if all scale x scale HR pixels it
    covers are. mask: (..., 1, H, W) in {0, 1} -> (..., 1, H/scale, W/scale)."""
    lead = mask.shape[:-3]
    flat = mask.reshape(-1, *mask.shape[-3:])
    low = -F.max_pool2d(-flat, scale)  # min-pool
    return low.reshape(*lead, *low.shape[-3:])


def lr_flow_pairs(clip: SyntheticClip, *, scale: int, degradation: str) -> dict[str, Tensor]:
    """Every pair of neighbouring frames of a synthetic clip, both ways, on the LR grid.

    Returns {"ref", "supp": (2(t-1), 3, h, w) LR frames; "flow": (2(t-1), 2, h, w) LR pixels,
    the flow that warps supp onto ref (SpyNet's output convention); "mask": (2(t-1), 1, h, w)}.
    The first t-1 pairs are (frame i, frame i+1) with flow_backward[i], the rest
    (frame i+1, frame i) with flow_forward[i]."""
    lqs = degrade(clip.frames, scale, degradation)  # (t, 3, h, w)
    return {
        "ref": torch.cat([lqs[:-1], lqs[1:]]),
        "supp": torch.cat([lqs[1:], lqs[:-1]]),
        "flow": downscale_flow(torch.cat([clip.flow_backward, clip.flow_forward]), scale),
        "mask": downscale_mask(torch.cat([clip.mask_backward, clip.mask_forward]), scale),
    }


def scale_coarse_levels(model: SpyNet) -> SpyNet:
    """train_spynet's init="scaled": each pyramid level's last conv (weight and bias) multiplied by
    2^-(levels above the finest). Level 0 is the coarsest; its output reaches the finest grid
    upsampled and doubled NUM_LEVELS - 1 times, so with PyTorch's default initialisation the
    coarse levels' random flow swamps the finest level's, and training first sits on a plateau
    at the zero-flow error (300-1600 steps in the pilots, papers/basicvsr.md). Scaled, every
    level starts with a contribution of the same size. In place; returns the model."""
    with torch.no_grad():
        for level, module in enumerate(model.basic_module):
            last = module.basic_module[-1]
            factor = 2.0 ** -(NUM_LEVELS - 1 - level)
            last.weight.mul_(factor)
            last.bias.mul_(factor)
    return model


def flip_transpose(batch: Mapping[str, Tensor], g: torch.Generator) -> dict[str, Tensor]:
    """A random horizontal flip, vertical flip and transpose (each with probability 1/2, drawn
    from `g`, the same for the whole batch) of a batch of flow pairs (lr_flow_pairs' keys), with
    the flow transformed to match: a horizontal flip negates its x component (channel 0), a
    vertical flip its y component, a transpose swaps them. 8 variants of every pair."""
    out = dict(batch)
    hflip, vflip, transpose = torch.randint(0, 2, (3,), generator=g).tolist()
    if hflip:
        out = {k: v.flip(-1) for k, v in out.items()}
        out["flow"] = out["flow"] * out["flow"].new_tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    if vflip:
        out = {k: v.flip(-2) for k, v in out.items()}
        out["flow"] = out["flow"] * out["flow"].new_tensor([1.0, -1.0]).view(1, 2, 1, 1)
    if transpose:
        out = {k: v.transpose(-1, -2) for k, v in out.items()}
        out["flow"] = out["flow"].flip(-3)  # (x, y) -> (y, x)
    return out


def photometric_jitter(batch: Mapping[str, Tensor], g: torch.Generator) -> dict[str, Tensor]:
    """A random change of colour and tone per pair of a batch of flow pairs (lr_flow_pairs' keys),
    the same for both frames of a pair, so the true flow and mask stay exact: the RGB channels
    permuted (one of 6 orders), then each channel v -> clamp(gain * (v - m) + m + shift, 0, 1)
    ** gamma, with m the pair's mean, a contrast gain in [0.7, 1.3] times a channel gain in
    [0.8, 1.2], a shift in [-0.1, 0.1] and gamma in [0.7, 1.4], all drawn from `g` (uniform;
    gamma log-uniform). Against a flow network that knows only the training photographs'
    colours and tones."""
    ref, supp = batch["ref"], batch["supp"]  # (b, 3, h, w) each
    b = ref.shape[0]
    orders = torch.tensor([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])
    order = orders[torch.randint(0, 6, (b,), generator=g)]  # (b, 3)

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return lo + (hi - lo) * torch.rand(b, *shape, 1, 1, generator=g)

    gain = uniform(0.7, 1.3, 1) * uniform(0.8, 1.2, 3)  # (b, 3, 1, 1)
    shift = uniform(-0.1, 0.1, 1)
    gamma = torch.exp(uniform(math.log(0.7), math.log(1.4), 1))
    out = dict(batch)
    mean = torch.cat([ref, supp], dim=-1).mean(dim=(1, 2, 3), keepdim=True)  # (b, 1, 1, 1)
    index = order.to(ref.device)[:, :, None, None].expand_as(ref)
    for key, frame in (("ref", ref), ("supp", supp)):
        frame = frame.gather(1, index)  # channel c of the output is channel order[c] of the input
        frame = gain.to(frame) * (frame - mean) + mean + shift.to(frame)
        out[key] = frame.clamp(0, 1) ** gamma.to(frame)
    return out


def train_spynet(
    *,
    iters: int,
    seed: int = 0,
    size: int = 32,
    num_clips: int = 512,
    num_frames: int = 5,
    batch_size: int = 8,
    lr: float = 5e-4,
    scale: int = 4,
    degradation: str = "BI",
    max_speed: float = 3.0,
    threads: int = 1,
    init: str = "scaled",
    augment: bool = True,
    photometric: bool = True,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> tuple[SpyNet, dict]:
    """Train a SpyNet from scratch on LR frames of synthetic clips, with the end-point error (on
    valid pixels) as the loss. The caller's global RNG is left as it was.

    size: LR side of the training frames (the clips are rendered at size * scale);
    num_clips clips of num_frames frames each, from synthetic_video seeds derived from `seed`,
    whose motion is synthetic_video's `max_speed` (HR pixels per frame; match the clips it is for).
    Adam (betas 0.9, 0.999) with a cosine schedule from lr to 0.
    init: "scaled" (scale_coarse_levels: every pyramid level starts with a contribution of the
    same size) or "pytorch" (PyTorch's default initialisation, the recipe before: it sits on a
    zero-flow plateau for hundreds of steps first). augment: random flips and transposes of
    every batch (flip_transpose), against memorising the clips. photometric: a random change of
    colour and tone per pair (photometric_jitter), after the flips: the test clips' photographs
    are not the training ones, and with it the test error fell from 0.50 to 0.46-0.47 of zero
    flow's (session 10) while the training error rose.
    threads: torch's thread count during training (the caller's is restored after). It is fixed
    because the weights depend on it: oneDNN splits its sums differently per thread count (1 and
    2 threads differ in the 7th digit after 60 steps), and training is chaotic (see iters). The
    CPU's instruction set can change the sums as well, which no setting fixes.
    device: where it trains (srlab.device.choose_device); the clips are rendered on the CPU.
    iters: with init="pytorch" training first sits on a plateau at the zero-flow error, and when
    it leaves it depends on tiny differences (BI, 3000 steps: seeds 0-3 left it after 300-1500
    steps and tested at 0.330, 0.314, 0.319, 0.425, zero flow 0.478). The pilots behind the
    defaults and the shipped runs are in papers/basicvsr.md ("SpyNet for BD").
    Returns (model in eval mode, {"loss": [per-iteration EPE], "wall_time_s": float})."""
    if iters < 1:
        raise ValueError(f"iters must be positive, got {iters}")
    if threads < 1:
        raise ValueError(f"threads must be positive, got {threads}")
    if init not in ("scaled", "pytorch"):
        raise ValueError(f"init must be 'scaled' or 'pytorch', got {init!r}")
    t0 = time.perf_counter()
    with torch.random.fork_rng(), num_threads(threads):
        torch.manual_seed(seed)
        pairs = [
            lr_flow_pairs(
                synthetic_video(
                    seed * 10_000 + k,
                    num_frames=num_frames,
                    size=(size * scale,) * 2,
                    max_speed=max_speed,
                ),
                scale=scale,
                degradation=degradation,
            )
            for k in range(num_clips)
        ]
        # (n, c, h, w) each, on the training device
        pool = {key: torch.cat([p[key] for p in pairs]).to(device) for key in pairs[0]}
        # Pilots (BI, test EPE after 1000 steps, zero flow 0.536): starting every level's last
        # layer at zero (exactly "no motion") stalls at zero flow for hundreds of steps (0.537,
        # or 0.551 after 2000); 32 clips are memorised (training EPE 0.24, test 0.537).
        model = SpyNet()
        if init == "scaled":
            scale_coarse_levels(model)
        model = model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        losses = []
        model.train()
        for it in tqdm(range(iters), desc="spynet", disable=not progress):
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * it / iters))
            idx = torch.randint(0, len(pool["ref"]), (batch_size,), generator=g).to(device)
            batch = {key: value[idx] for key, value in pool.items()}
            if augment:
                batch = flip_transpose(batch, g)
            if photometric:
                batch = photometric_jitter(batch, g)
            pred = model(batch["ref"], batch["supp"])  # (b, 2, h, w)
            loss = epe(pred, batch["flow"], batch["mask"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return model.eval(), {"loss": losses, "wall_time_s": time.perf_counter() - t0}


@torch.no_grad()
def evaluate_flow(
    spynet: SpyNet, clips: Mapping[str, SyntheticClip], *, scale: int, degradation: str
) -> dict:
    """End-point error of `spynet` on the LR frames of held-out synthetic clips, next to the
    zero-flow baseline (predicting "no motion", whose EPE is the mean true motion), both over
    valid pixels (visible in both frames) of every neighbouring pair, in both directions.

    Returns {"epe": float, "epe_zero": float, "per_clip": {name: {"epe", "epe_zero"}},
    "unit": "LR pixels"}; the totals weight every valid pixel equally."""
    was_training = spynet.training
    spynet.eval()
    device = next(spynet.parameters()).device
    per_clip, err_sum, zero_sum, n_valid = {}, 0.0, 0.0, 0.0
    try:
        for name, clip in clips.items():
            p = lr_flow_pairs(clip, scale=scale, degradation=degradation)
            p = {key: value.to(device) for key, value in p.items()}
            pred = spynet(p["ref"], p["supp"])
            n = p["mask"].sum().item()
            e, z = (
                epe(pred, p["flow"], p["mask"]).item(),
                epe(0 * pred, p["flow"], p["mask"]).item(),
            )
            per_clip[name] = {"epe": e, "epe_zero": z}
            err_sum, zero_sum, n_valid = err_sum + e * n, zero_sum + z * n, n_valid + n
    finally:
        spynet.train(was_training)
    return {
        "epe": err_sum / n_valid,
        "epe_zero": zero_sum / n_valid,
        "per_clip": per_clip,
        "unit": "LR pixels",
    }


@torch.no_grad()
def with_estimated_flows(
    clips: Mapping[str, SyntheticClip], spynet: SpyNet, *, scale: int, degradation: str
) -> dict[str, SyntheticClip]:
    """Copies of the clips whose flows are `spynet`'s estimates on their whole LR frames instead of
    the truth, stored so that srlab.data (downscale_flow, VideoPatches) reads them back exactly.

    Why: a frozen SpyNet gives a clip the same flow at every training step, so it can be computed
    once per clip rather than inside every step (for small crops that is most of the cost), and
    the training windows then carry learned flow where they would carry the true one.
    The LR flow (t-1, 2, h, w) is stored on the HR grid as each LR pixel's value repeated over its
    scale x scale block, times scale: downscale_flow (block mean / scale) undoes this exactly.
    Frames and masks are the clip's own."""
    out, device = {}, next(spynet.parameters()).device
    for name, clip in clips.items():
        lqs = degrade(clip.frames, scale, degradation).to(device)  # (t, 3, h, w)
        # SpyNet()(ref, supp) warps supp onto ref: flow_forward[i] warps frame i onto frame i+1,
        # flow_backward[i] frame i+1 onto frame i (srlab.data's convention, BasicVSR's).
        pairs = {"flow_forward": (lqs[1:], lqs[:-1]), "flow_backward": (lqs[:-1], lqs[1:])}
        flows = {}
        for key, (ref, supp) in pairs.items():
            flow = spynet(ref, supp)  # (t-1, 2, h, w) in LR pixels
            flows[key] = F.interpolate(flow, scale_factor=scale, mode="nearest").cpu() * scale
        out[name] = dataclasses.replace(clip, **flows)
    return out


def cache_path(cache_dir: str | Path | None = None, **settings) -> Path:
    """The cache file of a pretraining run: named by its main settings and a hash of all of them,
    so different settings never share a file. The real-valued settings are hashed as floats, so
    max_speed=3 (papermill passes `-p max_speed 3` as an int) names the same run as 3.0."""
    settings = {k: float(v) if k in ("lr", "max_speed") else v for k, v in settings.items()}
    # recipe settings newer than the key, at their old behaviour, keep older runs' names
    settings = {k: v for k, v in settings.items() if LEGACY_SETTINGS.get(k, object()) != v}
    key = json.dumps({"version": PRETRAIN_VERSION, **settings}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    name = (
        f"spynet_synthetic_{settings['degradation']}x{settings['scale']}"
        f"_it{settings['iters']}_seed{settings['seed']}_{digest}.pth"
    )
    return Path(cache_dir if cache_dir is not None else DEFAULT_CACHE_DIR) / name


def pretrained_spynet(
    *,
    cache_dir: str | Path | None = None,
    iters: int = 16_000,
    seed: int = 0,
    size: int = 32,
    num_clips: int = 512,
    num_frames: int = 5,
    batch_size: int = 8,
    lr: float = 5e-4,
    scale: int = 4,
    degradation: str = "BI",
    max_speed: float = 3.0,
    threads: int = 1,
    init: str = "scaled",
    augment: bool = True,
    photometric: bool = True,
    force: bool = False,
    progress: bool = True,
    device: str | torch.device = "cpu",
) -> SpyNet:
    """A SpyNet pretrained on synthetic LR clips (train_spynet), trained once and then read from a
    cache file (default: the checkout's .cache/, which git ignores), keyed by every setting.
    srlab ships the runs its notebooks use (srlab/weights/, the same file names): without a file
    in the cache those are read from there, never retrained, unless force=True.

    force=True retrains and overwrites (in cache_dir; a shipped file is left alone). The file is an
    srlab checkpoint written atomically (so a crash never leaves half a file), with the settings
    and the loss curve under "pretrain"; it is read back with weights_only=True. Returns the model
    in eval mode, on `device` (where it trains, if it must; the device is not part of the cache
    key: weights trained on a GPU differ from the CPU's only in float rounding)."""
    settings = dict(
        iters=iters,
        seed=seed,
        size=size,
        num_clips=num_clips,
        num_frames=num_frames,
        batch_size=batch_size,
        lr=lr,
        scale=scale,
        degradation=degradation,
        max_speed=max_speed,
        threads=threads,
        init=init,
        augment=augment,
        photometric=photometric,
    )  # every argument of train_spynet that changes the weights: the cache key
    path = cache_path(cache_dir, **settings)
    model = SpyNet()
    for found in (path, SHIPPED_DIR / path.name):  # a run in cache_dir (e.g. retrained) first
        if found.exists() and not force:
            return checkpoints.load(model, found).eval().to(device)
    model, history = train_spynet(**settings, progress=progress, device=device)
    checkpoints.save(
        path, model, arch="spynet", kwargs={}, extra={"pretrain": {**settings, **history}}
    )
    return model
