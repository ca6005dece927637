"""GAN training for SR (SRGAN, ESRGAN): a generator and a discriminator trained in turn.

    generator = build("esrgan_x4"); load(generator, "psnr_model.pth")   # start from a PSNR model
    discriminator = build("vgg_discriminator_128")
    cfg = recipe("esrgan_x4", iters=5000, out_dir="runs/esrgan")
    history = train_gan(generator, discriminator, train_set, cfg)

Each iteration, as BasicSR's SRGANModel / ESRGANModel.optimize_parameters:
1. generator step (every net_d_iters iterations, after net_d_init_iters): with the discriminator
   frozen, minimise pixel_weight * pixel loss + perceptual_weight * perceptual loss
   + gan_weight * adversarial loss of G(lq) against gt;
2. discriminator step: real gt against the generator's (detached) output;
3. the EMA of the generator, if ema_decay is set.
ESRGAN makes both adversarial losses relativistic (cfg.relativistic; srlab.losses). BasicSR starts
GAN training from a PSNR-trained generator (train it with srlab.train.train, then pass it here).

The promises of srlab.train hold here too, with the same machinery (srlab.seeding):
the same config gives the same numbers, and resume=True from out_dir/latest.pth continues bitwise
as if never interrupted (CPU; tests/test_gan.py). One process (no DDP).

GANs diverge. A non-finite loss, or non-finite weights, stop the run with DivergedError before the
optimiser steps on them; checkpoints are written only after a finite step, so out_dir/latest.pth
always holds the last good state.

The papers' settings are RECIPES, as BasicSR's train_ESRGAN_x4.yml and train_MSRGAN_x4.yml state
them."""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

import srlab
from srlab.device import PRECISIONS, autocast
from srlab.io import torch_save, write_json
from srlab.losses import (
    PerceptualLoss,
    check_gan_type,
    gan_loss,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
)
from srlab.seeding import SeededBatches, SeededSamples, rng_state, set_rng_state
from srlab.train import (
    LOSSES,
    check_run,
    check_schedule,
    config_changes,
    ema_update,
    learning_rate,
    pixel_loss,
    read_training_state,
)

# Settings that only change what is reported or where: free to change on resume.
RESUMABLE_CHANGES = ("val_every", "ckpt_every", "log_every", "out_dir", "progress")


class DivergedError(FloatingPointError):
    """A loss or a weight of a GAN run became NaN or Inf. The checkpoint on disk is the last good
    one: resume from it with a lower learning rate or gan_weight, or with another seed."""


@dataclass
class GANConfig:
    """Everything that defines a GAN training run. The defaults are BasicSR's ESRGAN losses and
    optimisers on a short schedule; RECIPES holds the papers' full settings."""

    iters: int = 1000  # iterations (one discriminator step each); the lr schedule spans them
    batch_size: int = 16
    lr: float = 1e-4  # the generator's Adam learning rate (schedule as srlab.train.learning_rate)
    lr_d: float | None = None  # the discriminator's; None: lr. Both follow the same schedule.
    betas: tuple[float, float] = (0.9, 0.99)
    schedule: str = "multistep"  # "multistep" | "cosine"
    eta_min: float = 0.0  # cosine: the lr at the end
    milestones: tuple[int, ...] = ()  # multistep: the lr is multiplied by gamma at each
    gamma: float = 0.5
    pixel_loss: str = "l1"  # "l1" | "mse" | "charbonnier"
    pixel_weight: float = 1e-2
    perceptual_layers: dict[str, float] = field(default_factory=lambda: {"conv5_4": 1.0})
    perceptual_weight: float = 1.0  # 0: no perceptual loss (and no VGG)
    vgg_weights: str | None = None  # torchvision's vgg19-dcbb9e9d.pth; None: random-weight VGG19
    gan_type: str = "vanilla"  # one of srlab.losses.GAN_TYPES
    gan_weight: float = 5e-3
    relativistic: bool = True  # ESRGAN's relativistic average GAN; False: SRGAN's standard GAN
    net_d_iters: int = 1  # the generator steps every net_d_iters iterations ...
    net_d_init_iters: int = 0  # ... and only after this many discriminator-only iterations
    ema_decay: float | None = 0.999  # BasicSR's configs; None: no EMA copy of the generator
    val_every: int = 1000
    ckpt_every: int = 1000
    log_every: int = 10
    out_dir: str | None = None
    seed: int = 0
    deterministic: bool = True
    progress: bool = True
    # "fp32" | "bf16" | "fp16": both networks' forward passes and losses under torch.autocast
    # (srlab.train's rule); fp16 scales the losses, one GradScaler over both optimisers
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        self.milestones = tuple(self.milestones)
        self.perceptual_layers = {str(k): float(v) for k, v in dict(self.perceptual_layers).items()}
        self.out_dir = None if self.out_dir is None else str(self.out_dir)
        self.vgg_weights = None if self.vgg_weights is None else str(self.vgg_weights)
        for name in ("iters", "batch_size", "net_d_iters", "val_every", "ckpt_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("net_d_init_iters", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr", "lr_d"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        for name in ("pixel_weight", "perceptual_weight", "gan_weight"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        check_schedule(self)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.pixel_loss not in LOSSES:
            raise ValueError(f"pixel_loss must be one of {LOSSES}, got {self.pixel_loss!r}")
        check_gan_type(self.gan_type)
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be None or lie in [0, 1), got {self.ema_decay!r}")
        if self.net_d_init_iters >= self.iters:
            raise ValueError(
                f"net_d_init_iters={self.net_d_init_iters} leaves no generator step in "
                f"iters={self.iters}"
            )


# BasicSR's options/train/ESRGAN/train_ESRGAN_x4.yml and SRResNet_SRGAN/train_MSRGAN_x4.yml: DIV2K
# 128x128 GT patches (flips and rotations), batch 16, 400k iterations, Adam 1e-4 (0.9, 0.99) for
# both networks, lr halved at 50k, 100k, 200k, 300k; L1 1e-2 + perceptual conv5_4 (before ReLU,
# L1) 1.0 + vanilla GAN 5e-3; EMA 0.999. ESRGAN (ESRGANModel) is relativistic, MSRGAN (SRGANModel)
# is not. Both start from the PSNR-trained generator of the same architecture ("pretrain").
_BASICSR_GAN = dict(
    iters=400_000,
    batch_size=16,
    lr=1e-4,
    betas=(0.9, 0.99),
    schedule="multistep",
    milestones=(50_000, 100_000, 200_000, 300_000),
    gamma=0.5,
    pixel_loss="l1",
    pixel_weight=1e-2,
    perceptual_layers={"conv5_4": 1.0},
    perceptual_weight=1.0,
    gan_type="vanilla",
    gan_weight=5e-3,
    net_d_iters=1,
    net_d_init_iters=0,
    ema_decay=0.999,
)
RECIPES: dict[str, dict] = {
    "esrgan_x4": dict(
        generator="esrgan_x4",
        discriminator="vgg_discriminator_128",
        gt_size=128,
        pretrain="RRDBNet x4 trained with L1 (BasicSR 051_RRDBNet_PSNR_x4_f64b23_DIV2K_1000k)",
        config=dict(_BASICSR_GAN, relativistic=True),
    ),
    "msrgan_x4": dict(
        generator="msrresnet_x4",
        discriminator="vgg_discriminator_128",
        gt_size=128,
        pretrain="MSRResNet x4 trained with L1 (BasicSR 001_MSRResNet_x4_f64b16_DIV2K_1000k)",
        config=dict(_BASICSR_GAN, relativistic=False),
    ),
}


def recipe(name: str, **overrides) -> GANConfig:
    """The GANConfig of RECIPES[name], with `overrides` replacing settings (e.g. iters, out_dir).
    RECIPES[name] also names the generator and discriminator presets (srlab.archs.build), the GT
    patch size and the PSNR-trained model to start from."""
    if name not in RECIPES:
        raise ValueError(f"unknown GAN recipe {name!r}; recipes: {', '.join(RECIPES)}")
    return GANConfig(**{**RECIPES[name]["config"], **overrides})


@torch.no_grad()
def interpolate_networks(psnr_model: nn.Module, gan_model: nn.Module, alpha: float) -> nn.Module:
    """ESRGAN's network interpolation (Sec. 3.4): a copy of psnr_model with every floating-point
    weight (1 - alpha) * psnr + alpha * gan, so alpha 0 is the PSNR-oriented model and 1 the GAN
    fine-tuned one. The two must share the architecture (the GAN one is fine-tuned from the
    other). Integer buffers (BatchNorm's counters) are taken from psnr_model. Eval mode."""
    if not (isinstance(alpha, int | float) and 0 <= alpha <= 1):
        raise ValueError(f"alpha must be a number in [0, 1], got {alpha!r}")
    a, b = psnr_model.state_dict(), gan_model.state_dict()
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ValueError("psnr_model and gan_model must have the same state_dict keys and shapes")
    mixed = {k: torch.lerp(a[k], b[k], alpha) if a[k].is_floating_point() else a[k] for k in a}
    model = copy.deepcopy(psnr_model)
    model.load_state_dict(mixed)
    return model.eval()


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    train_set: Dataset,
    cfg: GANConfig,
    *,
    val_fn: Callable[[nn.Module], dict] | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict:
    """Train `generator` and `discriminator` in place on `train_set`, following `cfg`.

    train_set: a map-style Dataset of {"lq": (3, h, w), "gt": (3, H, W), ...} in [0, 1], e.g.
        srlab.data.ImagePatches(..., generator=None); H and W must be the discriminator's
        input_size when it has one.
    val_fn(model) -> {"psnr": ..., ...}: every cfg.val_every iterations and after the last, with
        the EMA generator if cfg.ema_decay is set, in eval mode under torch.no_grad().
    resume, stop_after: as srlab.train.train.
    Returns the history (also out_dir/history.json): {"iter", "lr", "l_g_pix", "l_g_percep",
    "l_g_gan", "l_d", "d_real", "d_fake" (mean logits), "val": {...}, "wall_time",
    "vgg": which VGG the perceptual loss used}, plus "ema": the EMA generator (or None)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError("train_gan runs in one process; DistributedDataParallel is not wired in")
    check_run(cfg, train_set, resume=resume, stop_after=stop_after, caller="train_gan")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    device = next(generator.parameters()).device
    try:
        torch.use_deterministic_algorithms(cfg.deterministic, warn_only=device.type != "cpu")
        return _train_gan(
            generator, discriminator.to(device), train_set, cfg, val_fn, resume, stop_after, device
        )
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def _train_gan(generator, discriminator, train_set, cfg, val_fn, resume, stop_after, device):
    out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    perceptual = None
    if cfg.perceptual_weight > 0:
        perceptual = PerceptualLoss(cfg.perceptual_layers, vgg_weights=cfg.vgg_weights).to(device)
    d_lr_mul = (cfg.lr_d if cfg.lr_d is not None else cfg.lr) / cfg.lr
    opt_g = torch.optim.Adam(
        [p for p in generator.parameters() if p.requires_grad], lr=cfg.lr, betas=cfg.betas
    )
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=cfg.lr * d_lr_mul, betas=cfg.betas)
    ema = None
    if cfg.ema_decay is not None:
        ema = copy.deepcopy(generator).eval().requires_grad_(False)
    keys = ("l_g_pix", "l_g_percep", "l_g_gan", "l_d", "d_real", "d_fake")
    history = {"iter": [], "lr": [], **{k: [] for k in keys}, "val": {"iter": []}}
    history |= {"wall_time": 0.0, "vgg": perceptual.source if perceptual else None}
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    start = 0
    if resume:
        start, history = _load_checkpoint(
            out_dir / "latest.pth", cfg, generator, discriminator, ema, opt_g, opt_d, scaler
        )
    elif out_dir is not None:
        write_json(out_dir / "config.json", dataclasses.asdict(cfg))
    stop = stop_after or cfg.iters

    batches = SeededBatches(len(train_set), cfg.batch_size, cfg.seed, start, stop)
    loader = DataLoader(
        SeededSamples(train_set),
        batch_sampler=batches,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    bar = tqdm(total=cfg.iters, initial=start, desc="train_gan", disable=not cfg.progress)
    t0, wall_before = time.perf_counter(), history["wall_time"]
    generator.train()
    discriminator.train()
    for it, batch in enumerate(loader, start=start + 1):
        lq, gt = batch["lq"].to(device), batch["gt"].to(device)
        if it == start + 1:
            _check_discriminator_input(discriminator, gt)
        lr = learning_rate(it - 1, cfg)
        for group in opt_g.param_groups:
            group["lr"] = lr
        for group in opt_d.param_groups:
            group["lr"] = lr * d_lr_mul

        # 1. Generator: the discriminator is a fixed critic here.
        discriminator.requires_grad_(False)
        with autocast(device, cfg.precision):
            fake = generator(lq).float()  # (b, 3, H, W)
        _check_finite(fake, "the generator's output", it)
        losses = {}
        if it % cfg.net_d_iters == 0 and it > cfg.net_d_init_iters:
            with autocast(device, cfg.precision):
                losses["l_g_pix"] = cfg.pixel_weight * pixel_loss(fake, gt, cfg.pixel_loss)
                if perceptual is not None:
                    losses["l_g_percep"] = cfg.perceptual_weight * perceptual(fake, gt).float()
                fake_pred = discriminator(fake).float()  # (b, 1) logits
                if cfg.relativistic:
                    real_pred = discriminator(gt).float().detach()
                    l_gan = relativistic_generator_loss(real_pred, fake_pred, cfg.gan_type)
                else:
                    l_gan = gan_loss(fake_pred, True, cfg.gan_type, is_disc=False)
                losses["l_g_gan"] = cfg.gan_weight * l_gan
            l_g = sum(losses.values())
            _check_finite(l_g, "the generator's loss", it, losses)
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(l_g).backward()  # fp16: the loss times a scale; else l_g.backward()
            scaler.step(opt_g)  # fp16: skipped if a gradient overflowed

        # 2. Discriminator: real images against the generator's output of this iteration.
        discriminator.requires_grad_(True)
        with autocast(device, cfg.precision):
            real_pred = discriminator(gt).float()
            fake_pred = discriminator(fake.detach()).float()
            if cfg.relativistic:
                l_d = relativistic_discriminator_loss(real_pred, fake_pred, cfg.gan_type)
            else:
                l_d = gan_loss(real_pred, True, cfg.gan_type, is_disc=True) + gan_loss(
                    fake_pred, False, cfg.gan_type, is_disc=True
                )
        _check_finite(l_d, "the discriminator's loss", it)
        opt_d.zero_grad(set_to_none=True)
        scaler.scale(l_d).backward()
        scaler.step(opt_d)
        scaler.update()  # once per iteration, after both optimisers
        if ema is not None:
            ema_update(ema, generator, cfg.ema_decay)

        history["iter"].append(it)
        history["lr"].append(lr)
        for k in ("l_g_pix", "l_g_percep", "l_g_gan"):
            history[k].append(losses[k].item() if k in losses else None)
        history["l_d"].append(l_d.item())
        history["d_real"].append(real_pred.detach().mean().item())
        history["d_fake"].append(fake_pred.detach().mean().item())
        if val_fn is not None and (it % cfg.val_every == 0 or it == cfg.iters):
            _validate(ema if ema is not None else generator, val_fn, it, history)
        bar.update(1)
        if it % cfg.log_every == 0 or it == stop:
            bar.set_postfix(l_d=f"{np.mean(history['l_d'][-cfg.log_every :]):.4g}")
        if out_dir is not None and (it % cfg.ckpt_every == 0 or it == stop):
            for name, net in (("generator", generator), ("discriminator", discriminator)):
                for key, p in net.named_parameters():
                    _check_finite(p, f"the {name}'s weight {key}", it)
            history["wall_time"] = wall_before + time.perf_counter() - t0
            _save_checkpoint(
                out_dir, it, cfg, generator, discriminator, ema, opt_g, opt_d, history, scaler
            )
    bar.close()
    history["wall_time"] = wall_before + time.perf_counter() - t0
    return {**history, "ema": ema}


def _check_discriminator_input(discriminator: nn.Module, gt: Tensor) -> None:
    """The discriminator sees GT-sized patches: they must be the size it was built for."""
    size = getattr(discriminator, "input_size", None)
    if size is not None and tuple(gt.shape[-2:]) != (size, size):
        raise ValueError(
            f"the discriminator takes {size}x{size} images (input_size={size}) but the training "
            f"GT patches are {gt.shape[-2]}x{gt.shape[-1]}: build it with input_size equal to the "
            "GT patch side (patch_size * scale), or change the patch size"
        )


def _check_finite(x: Tensor, what: str, it: int, parts: dict | None = None) -> None:
    if not torch.isfinite(x).all():
        detail = ""
        if parts:
            detail = " (" + ", ".join(f"{k} = {v.item():.4g}" for k, v in parts.items()) + ")"
        raise DivergedError(
            f"{what} is NaN or Inf at iteration {it}{detail}: the GAN diverged. Nothing was "
            "written for this iteration; the last checkpoint on disk is the last good state "
            "(lower lr or gan_weight, or try another seed)"
        )


def _validate(model: nn.Module, val_fn, it: int, history: dict) -> None:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            metrics = val_fn(model)
    finally:
        model.train(was_training)
    if not isinstance(metrics, dict):
        raise TypeError(f"val_fn must return a dict of metrics, got {type(metrics).__name__}")
    history["val"]["iter"].append(it)
    for name, value in metrics.items():
        history["val"].setdefault(name, []).append(float(value))


def _save_checkpoint(
    out_dir, it, cfg, generator, discriminator, ema, opt_g, opt_d, history, scaler=None
):
    """out_dir/latest.pth and history.json, atomically. The generator sits under BasicSR's
    "params" / "params_ema" (srlab.checkpoints.load reads it), the discriminator under
    "params_d"."""
    state = {
        "iter": it,
        "config": dataclasses.asdict(cfg),
        "params": generator.state_dict(),
        "params_d": discriminator.state_dict(),
        "optimizer_g": opt_g.state_dict(),
        "optimizer_d": opt_d.state_dict(),
        "rng": rng_state(),
        "history": history,
    }
    if ema is not None:
        state["params_ema"] = ema.state_dict()
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()  # fp16's loss scale, for an exact resume
    if hasattr(generator, "srlab_config"):
        state["srlab"] = {**generator.srlab_config, "version": srlab.__version__}
    torch_save(out_dir / "latest.pth", state)
    write_json(out_dir / "history.json", history)


# What _save_checkpoint always writes (params_ema and scaler only with EMA and fp16).
_TRAINING_STATE = ("iter", "config", "params", "params_d", "optimizer_g", "optimizer_d", "rng",
                   "history")  # fmt: skip


def _load_checkpoint(path, cfg, generator, discriminator, ema, opt_g, opt_d, scaler=None):
    """Restore everything _save_checkpoint wrote. Read by srlab.checkpoints (weights_only=True):
    an empty, truncated or foreign file is an error that names it, as in srlab.train."""
    state = read_training_state(path, _TRAINING_STATE, ema=ema is not None, writer="srlab.gan")
    details = config_changes(state["config"], cfg, RESUMABLE_CHANGES)
    if details:
        raise ValueError(
            f"cannot resume {path} with a different config ({details}): resume with the saved "
            "values, or use a new out_dir"
        )
    generator.load_state_dict(state["params"])
    discriminator.load_state_dict(state["params_d"])
    if ema is not None:
        ema.load_state_dict(state["params_ema"])
    opt_g.load_state_dict(state["optimizer_g"])
    opt_d.load_state_dict(state["optimizer_d"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state["iter"], state["history"]
