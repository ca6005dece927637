"""Training: one plain loop for every model in srlab, from a 50-iteration notebook demo to a paper's
schedule on several GPUs.

    cfg = TrainConfig(iters=300_000, batch_size=16, lr=2e-4, schedule="cosine", loss="charbonnier",
                      out_dir="runs/basicvsr")
    history = train(model, train_set, cfg, val_fn=my_psnr_on_the_test_set)

What the loop promises, and how it keeps each promise:

- Same config, same numbers. train() seeds python, numpy and torch from cfg.seed and turns on
  torch.use_deterministic_algorithms while it runs. Which samples form each batch, and the seed of
  each sample's random crop and flip, are a function of (cfg.seed, sample number) alone
  (`SeededBatches`, in srlab.seeding with the rest of that machinery), so they do not depend on
  num_workers, on the number of processes, or on where a run was resumed.
- Resume is exact. out_dir/latest.pth holds the weights, the EMA, Adam's moments, the RNG states,
  the iteration and the history; resume=True continues from it, and on CPU the loss curve is
  bitwise the one of a run that was never interrupted. The learning rate is a function of
  (iteration, cfg.iters), so there is no scheduler state, and cfg.iters cannot change on resume.
- It stops rather than go wrong. A non-finite loss (a NaN in the data, a diverging run) raises
  FloatingPointError naming the iteration, before the optimizer step and before any checkpoint
  is written, so out_dir/latest.pth stays the last good state.
- It scales out. Under torchrun (WORLD_SIZE > 1) the same call trains with DistributedDataParallel
  (gloo on CPU, nccl on GPUs). cfg.batch_size is the total batch, split over the processes; DDP
  averages the gradients, which is what one process would compute on the whole batch. Only rank 0
  validates and writes files.

The papers' settings, as BasicSR's training configs (options/train/) state them:
  EDSR, RCAN: Adam lr 1e-4, betas (0.9, 0.99), L1, "multistep" milestones (200_000,), gamma 0.5,
    300k iterations, batch 16 of 48x48 LR patches (EDSR x3 and x4 start from the x2 model; the
    RCAN config also keeps an EMA, ema_decay 0.999).
  BasicVSR, IconVSR: Adam lr 2e-4, betas (0.9, 0.99), Charbonnier, "cosine" over 300k iterations to
    eta_min 1e-7, SpyNet at lr x0.125 and frozen for the first 5000 iterations:
    lr_mul=(("spynet.", 0.125),), freeze=("spynet.",) (IconVSR: ("spynet.", "edvr.")),
    freeze_iters=5000."""

from __future__ import annotations

import atexit
import copy
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset
from tqdm.auto import tqdm

import srlab
from srlab import checkpoints
from srlab.checks import check_float, check_int, check_same_shape
from srlab.device import PRECISIONS, autocast
from srlab.io import torch_save, write_json
from srlab.seeding import (  # noqa: F401  (SeededBatches, SeededSamples: importable from here too)
    SeededBatches,
    SeededSamples,
    rng_state,
    seed_all,
    seeded_loader,
    set_rng_state,
)

LOSSES = ("l1", "mse", "charbonnier")
SCHEDULES = ("cosine", "multistep")

# Settings that only change what is reported or where, never the numbers: free to change on resume.
RESUMABLE_CHANGES = ("val_every", "ckpt_every", "log_every", "out_dir", "num_workers", "progress")


@dataclass
class TrainConfig:
    """Everything that defines a training run. The defaults are a small run; see the module
    docstring for the papers' settings."""

    iters: int = 1000  # optimizer steps in the whole run; the lr schedule spans exactly these
    batch_size: int = 16  # total over all processes (BasicSR's batch_size_per_gpu times GPUs)
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.99)  # BasicSR's configs; the EDSR paper used 0.999
    weight_decay: float = 0.0
    schedule: str = "cosine"  # "cosine" | "multistep"
    eta_min: float = 1e-7  # cosine: the lr reached at the end of the run
    milestones: tuple[int, ...] = ()  # multistep: iterations where the lr is multiplied by gamma
    gamma: float = 0.5
    loss: str = "l1"  # "l1" | "mse" | "charbonnier"
    charbonnier_eps: float = 1e-12  # added to the squared difference, see pixel_loss
    ema_decay: float | None = None  # e.g. 0.999 (BasicSR); None: no EMA copy of the model
    grad_clip: float | None = None  # max global gradient norm; None: no clipping
    lr_mul: tuple[tuple[str, float], ...] = ()  # (parameter-name prefix, lr multiplier) pairs
    freeze: tuple[str, ...] = ()  # parameter-name prefixes left untouched for freeze_iters steps
    freeze_iters: int = 0
    val_every: int = 1000  # call val_fn every this many iterations, and after the last one
    ckpt_every: int = 1000  # write out_dir/latest.pth every this many iterations, and at the end
    log_every: int = 10  # refresh the progress bar's loss (mean of the last log_every)
    out_dir: str | None = None  # None: write nothing (and resume is impossible)
    seed: int = 0
    deterministic: bool = True  # torch.use_deterministic_algorithms(True) while training
    num_workers: int = 0  # DataLoader worker processes; the numbers do not depend on it
    progress: bool = True  # tqdm progress bar (rank 0 only)
    # "fp32" | "bf16" | "fp16": forward and loss under torch.autocast in that dtype (mixed
    # precision: weights, gradients and Adam stay float32); fp16 scales the loss (GradScaler) so
    # that small gradients do not underflow. srlab.device.choose_precision has the rule.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        # Plain tuples and str, so that the config compares equal after a checkpoint round trip.
        self.betas = tuple(self.betas)
        self.milestones = tuple(self.milestones)
        self.lr_mul = tuple((str(prefix), float(mul)) for prefix, mul in self.lr_mul)
        self.freeze = tuple(self.freeze)
        self.out_dir = None if self.out_dir is None else str(self.out_dir)

        for name in ("iters", "batch_size", "val_every", "ckpt_every", "log_every"):
            check_int(getattr(self, name), name, low=1)
        for name in ("freeze_iters", "num_workers", "seed"):
            check_int(getattr(self, name), name, low=0)
        # An infinite or NaN rate would run on and write NaN weights: refused here, by name.
        check_float(self.lr, "lr", low=0, low_open=True)
        check_float(self.eta_min, "eta_min", low=0)
        check_float(self.weight_decay, "weight_decay", low=0)
        check_float(self.gamma, "gamma", low=0, low_open=True)
        check_schedule(self)
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        check_float(self.charbonnier_eps, "charbonnier_eps", low=0, low_open=True)
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be None or lie in [0, 1), got {self.ema_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be None or positive, got {self.grad_clip!r}")
        for prefix, mul in self.lr_mul:
            check_float(mul, f"lr_mul[{prefix!r}]", low=0, low_open=True)
        if self.freeze_iters > 0 and not self.freeze:
            raise ValueError("freeze_iters > 0 needs freeze: the parameter-name prefixes to freeze")


def check_schedule(cfg) -> None:
    """The optimiser and schedule settings TrainConfig and srlab.gan.GANConfig share, checked by
    name: betas, schedule, eta_min (within [0, lr]), milestones (increasing, inside iters),
    gamma."""
    if len(cfg.betas) != 2 or not all(0 <= b < 1 for b in cfg.betas):
        raise ValueError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {cfg.schedule!r}")
    if not 0 <= cfg.eta_min <= cfg.lr:
        raise ValueError(f"eta_min must lie in [0, lr={cfg.lr}], got {cfg.eta_min!r}")
    if list(cfg.milestones) != sorted(cfg.milestones) or not all(
        0 < m < cfg.iters for m in cfg.milestones
    ):
        raise ValueError(
            f"milestones must be increasing iterations in (0, iters={cfg.iters}), "
            f"got {cfg.milestones!r}"
        )
    if not 0 < cfg.gamma <= 1:
        raise ValueError(f"gamma must lie in (0, 1], got {cfg.gamma!r}")


def pixel_loss(pred: Tensor, target: Tensor, kind: str, *, eps: float = 1e-12) -> Tensor:
    """The mean over all elements of a per-pixel loss of d = pred - target (any shape, the same):
    "l1" |d|, "mse" d^2, "charbonnier" sqrt(d^2 + eps), a differentiable L1 (LapSRN, Lai et al.,
    CVPR 2017). eps=1e-12 is the default of BasicSR's CharbonnierLoss, which its BasicVSR, IconVSR
    and EDVR configs use; LapSRN's epsilon = 1e-3 is eps = 1e-6 here (it enters squared)."""
    check_same_shape(pred, target, "pred", "target")
    diff = pred - target
    if kind == "l1":
        return diff.abs().mean()
    if kind == "mse":
        return diff.square().mean()
    if kind == "charbonnier":
        return torch.sqrt(diff.square() + eps).mean()
    raise ValueError(f"kind must be one of {LOSSES}, got {kind!r}")


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """The base learning rate of optimizer step `step` (0, 1, ..., cfg.iters - 1).

    cosine: eta_min + (lr - eta_min) * (1 + cos(pi * step / iters)) / 2, one half-period over the
        whole run (BasicSR's CosineAnnealingRestartLR with periods=[iters], as for BasicVSR).
    multistep: lr * gamma ** (number of milestones <= step) (EDSR and RCAN halve it at fixed steps).
    A parameter group's rate is this times its multiplier from cfg.lr_mul."""
    if not 0 <= step < cfg.iters:
        raise ValueError(f"step must lie in [0, iters={cfg.iters}), got {step}")
    if cfg.schedule == "cosine":
        cosine = 0.5 * (1 + math.cos(math.pi * step / cfg.iters))  # 1 -> 0 over the run
        return cfg.eta_min + (cfg.lr - cfg.eta_min) * cosine
    return cfg.lr * cfg.gamma ** sum(step >= m for m in cfg.milestones)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (BasicSR's model_ema; with
    0.999 the EMA averages roughly the last 1000 steps). Buffers are copied as they are."""
    for p_ema, p in zip(ema.parameters(), model.parameters(), strict=True):
        p_ema.mul_(decay).add_(p.detach(), alpha=1 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def default_forward(model: nn.Module, batch: dict) -> Tensor:
    """pred = model(batch["lq"]). Pass another `forward` to train() to feed a model more than that,
    e.g. oracle flows: lambda m, b: m(b["lq"], flows=(b["flow_forward"], b["flow_backward"]))."""
    return model(batch["lq"])


def forward_with_flows(model: nn.Module, batch: dict) -> Tensor:
    """pred = model(batch["lq"], flows=(batch["flow_forward"], batch["flow_backward"])): a video
    model fed the flows its training windows carry (the true flow, or a frozen SpyNet's computed
    once per clip), instead of estimating them itself."""
    return model(batch["lq"], flows=(batch["flow_forward"], batch["flow_backward"]))


def spynet_finetuning(iters: int, *, finetune: bool) -> dict:
    """TrainConfig settings for a video model's SpyNet, as BasicVSR trains it: with finetune, at
    0.125 of the learning rate and frozen for the first 5000 iterations (or a tenth of a shorter
    run); without, nothing (the caller freezes it: model.spynet.requires_grad_(False)).
    Returns {"lr_mul", "freeze", "freeze_iters"}: TrainConfig(**spynet_finetuning(...), ...)."""
    if not finetune:
        return {"lr_mul": (), "freeze": (), "freeze_iters": 0}
    freeze_iters = min(5000, iters // 10)
    return {
        "lr_mul": (("spynet.", 0.125),),
        "freeze": ("spynet.",) if freeze_iters else (),
        "freeze_iters": freeze_iters,
    }


def train(
    model: nn.Module,
    train_set: Dataset,
    cfg: TrainConfig,
    *,
    val_fn: Callable[[nn.Module], dict] | None = None,
    forward: Callable[[nn.Module, dict], Tensor] | None = None,
    resume: bool = False,
    stop_after: int | None = None,
) -> dict:
    """Train `model` in place on `train_set` with Adam, following `cfg`.

    train_set: a map-style Dataset of dicts {"lq": (3, h, w) or (t, 3, h, w), "gt": ..., ...} in
        [0, 1]; the loss compares forward(model, batch) with batch["gt"].
    val_fn(model) -> {"psnr": ..., ...}: called every cfg.val_every iterations and after the last
        one, with the EMA model if cfg.ema_decay is set, in eval mode under torch.no_grad().
    forward(model, batch) -> pred: default `default_forward`, model(batch["lq"]).
    resume: continue from cfg.out_dir/latest.pth; the saved config must equal cfg except for
        RESUMABLE_CHANGES.
    stop_after: end this call after that iteration (with a checkpoint), as if interrupted; the
        schedule still spans cfg.iters, and resume=True carries on.
    The model's initial weights are the caller's: build it after torch.manual_seed(...).
    Under DDP every trainable parameter must receive a gradient in each step; freeze the ones
    `forward` does not use (with oracle flows BasicVSR never calls SpyNet:
    model.spynet.requires_grad_(False)).

    A non-finite loss raises FloatingPointError naming the iteration (and the batch entry that
    holds a NaN or Inf, if one does) before the optimizer step: the model and out_dir/latest.pth
    keep the last good state.

    Returns the history, plain lists also written to out_dir/history.json:
        {"iter": [1, 2, ...], "loss": [...], "lr": [...], "val": {"iter": [...], "psnr": [...]},
         "wall_time": seconds over all runs}
    plus "ema": the EMA copy of the model (None when cfg.ema_decay is None)."""
    forward = forward or default_forward
    check_run(cfg, train_set, resume=resume, stop_after=stop_after, caller="train()")

    _init_distributed()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        device = _training_device(model)
        # A few GPU kernels (grid_sample's backward, used by flow warping) have no deterministic
        # version: there we warn instead of failing. Every CPU kernel srlab uses has one.
        torch.use_deterministic_algorithms(cfg.deterministic, warn_only=device.type != "cpu")
        return _train(model.to(device), train_set, cfg, val_fn, forward, resume, stop_after, device)
    finally:
        torch.use_deterministic_algorithms(was_deterministic, warn_only=was_warn_only)


def check_run(cfg, train_set: Dataset, *, resume: bool, stop_after: int | None, caller: str):
    """What train() and srlab.gan.train_gan check before a run, by name: stop_after within the
    run, resume only with an out_dir that holds latest.pth, and a train_set without a generator
    of its own (the loop seeds the global RNGs before each sample, and saves them)."""
    if stop_after is not None and not 0 < stop_after <= cfg.iters:
        raise ValueError(f"stop_after must lie in [1, iters={cfg.iters}], got {stop_after!r}")
    out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None
    if resume and out_dir is None:
        raise ValueError("resume=True needs cfg.out_dir, the folder of the run to continue")
    if resume and not (out_dir / "latest.pth").exists():
        raise FileNotFoundError(f"resume=True but there is no checkpoint {out_dir / 'latest.pth'}")
    if isinstance(getattr(train_set, "generator", None), torch.Generator):
        raise ValueError(
            f"train_set draws from its own torch.Generator, which {caller} can neither seed per "
            f"sample nor save in a checkpoint: build it with generator=None ({caller} seeds the "
            "global RNGs before each sample, e.g. srlab.data.ImagePatches(..., generator=None))"
        )


def _train(model, train_set, cfg, val_fn, forward, resume, stop_after, device) -> dict:
    rank, world_size = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    out_dir = Path(cfg.out_dir) if cfg.out_dir is not None else None
    seed_all(cfg.seed)
    frozen = _parameters_named(model, cfg.freeze, "freeze")
    optimizer = torch.optim.Adam(
        _param_groups(model, cfg), lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay
    )
    ema = copy.deepcopy(model).eval().requires_grad_(False) if cfg.ema_decay is not None else None
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
    history = {"iter": [], "loss": [], "lr": [], "val": {"iter": []}, "wall_time": 0.0}
    start = 0
    if resume:
        start, history = _load_checkpoint(
            out_dir / "latest.pth", cfg, model, ema, optimizer, scaler
        )
    elif rank == 0 and out_dir is not None:
        write_json(out_dir / "config.json", dataclasses.asdict(cfg))
    stop = stop_after or cfg.iters
    if rank == 0 and world_size > 1:
        print(f"DDP: {world_size} processes, {cfg.batch_size // world_size} samples each per step, "
              f"batch {cfg.batch_size} in all")  # fmt: skip
    # Under DDP, backward() also averages the gradients over the processes (all-reduce).
    net = model if world_size == 1 else DistributedDataParallel(model, device_ids=_ids(device))
    loader = seeded_loader(
        train_set, batch_size=cfg.batch_size, seed=cfg.seed, start=start, stop=stop, rank=rank,
        world_size=world_size, num_workers=cfg.num_workers,
    )  # fmt: skip
    bar = tqdm(total=cfg.iters, initial=start, desc="train", disable=not cfg.progress or rank != 0)
    last_val: dict[str, str] = {}  # the latest metrics, formatted for the progress bar
    t0, wall_before = time.perf_counter(), history["wall_time"]

    model.train()
    for it, batch in enumerate(loader, start=start + 1):  # `it` = iterations done after this one
        batch = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}
        lr = learning_rate(it - 1, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_mul"]

        optimizer.zero_grad(set_to_none=True)
        with autocast(device, cfg.precision):
            pred = forward(net, batch)  # (b, 3, H, W) or (b, t, 3, H, W), like batch["gt"]
            loss = pixel_loss(pred.float(), batch["gt"], cfg.loss, eps=cfg.charbonnier_eps)
        loss_value = _mean_over_processes(loss.detach().clone(), world_size)
        if not math.isfinite(loss_value):  # before the step: the weights stay the last good ones
            raise FloatingPointError(_not_finite(loss_value, it, batch, out_dir))
        scaler.scale(loss).backward()  # fp16: the loss times a scale; otherwise loss.backward()
        scaler.unscale_(optimizer)  # back to true gradients before freezing and clipping
        if it <= cfg.freeze_iters:
            # Adam skips parameters without a gradient, so they (and their moments) stay as they
            # are, exactly as if they had requires_grad=False. BasicVSR fixes its pretrained
            # SpyNet for the first 5000 iterations, so that the gradients of a still untrained SR
            # network do not spoil the flow.
            for p in frozen:
                p.grad = None
        if cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)  # fp16: skips the step if a gradient overflowed
        scaler.update()
        if ema is not None:
            ema_update(ema, model, cfg.ema_decay)

        history["iter"].append(it)
        history["loss"].append(loss_value)
        history["lr"].append(lr)
        if val_fn is not None and rank == 0 and (it % cfg.val_every == 0 or it == cfg.iters):
            last_val = _validate(ema if ema is not None else model, val_fn, it, history)
        bar.update(1)
        if it % cfg.log_every == 0 or it == stop:
            bar.set_postfix(loss=f"{np.mean(history['loss'][-cfg.log_every :]):.4g}", **last_val)
        if rank == 0 and out_dir is not None and (it % cfg.ckpt_every == 0 or it == stop):
            history["wall_time"] = wall_before + time.perf_counter() - t0
            _save_checkpoint(out_dir, it, cfg, model, ema, optimizer, history, scaler)
    bar.close()
    history["wall_time"] = wall_before + time.perf_counter() - t0
    return {**history, "ema": ema}


def _ids(device: torch.device) -> list[torch.device] | None:
    """DistributedDataParallel's device_ids: this process's GPU, or None on the CPU."""
    return [device] if device.type == "cuda" else None


def _not_finite(loss: float, it: int, batch: dict, out_dir: Path | None) -> str:
    """Why training stopped at iteration `it`, and which input, if any, holds a non-finite value."""
    bad = [
        f"batch[{k!r}]"
        for k, v in batch.items()
        if isinstance(v, Tensor) and v.is_floating_point() and not torch.isfinite(v).all()
    ]
    cause = (
        f"{' and '.join(bad)} hold(s) NaN or Inf: fix the data"
        if bad
        else "the inputs are finite, so the model diverged: lower the lr or set grad_clip"
    )
    kept = f"; {out_dir / 'latest.pth'} holds the last checkpoint" if out_dir is not None else ""
    return (
        f"the training loss is {loss} at iteration {it}: stopped before the optimizer step, so "
        f"the model keeps the weights of iteration {it - 1}{kept}. {cause}."
    )


def _init_distributed() -> None:
    """Join the process group torchrun describes (WORLD_SIZE, RANK, MASTER_ADDR, MASTER_PORT in
    the environment) unless one exists already. The group is kept for the process's later train()
    calls (a notebook trains many models) and destroyed when the process exits: creating and
    destroying one per call hung gloo at the third call of a process (torch 2.13)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    atexit.register(dist.destroy_process_group)


def _training_device(model: nn.Module) -> torch.device:
    """The model's device; under nccl, the GPU of this process (LOCAL_RANK, set by torchrun)."""
    if dist.is_initialized() and dist.get_backend() == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
        return device
    return next(model.parameters()).device


def _parameters_named(model: nn.Module, prefixes: tuple[str, ...], what: str) -> list:
    """The trainable parameters whose name starts with one of `prefixes` (each must match)."""
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name, _ in named):
            examples = ", ".join(sorted({name.split(".")[0] + "." for name, _ in named}))
            raise ValueError(f"{what} prefix {prefix!r} matches no parameter (names: {examples})")
    return [p for name, p in named if name.startswith(prefixes)]


def _param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict]:
    """One Adam group per lr multiplier: parameters named by a cfg.lr_mul prefix (the first that
    matches) get lr * mul, all others lr * 1. Parameters with requires_grad=False are left out."""
    _parameters_named(model, tuple(prefix for prefix, _ in cfg.lr_mul), "lr_mul")
    groups = [{"params": [], "lr_mul": 1.0}] + [{"params": [], "lr_mul": m} for _, m in cfg.lr_mul]
    for name, p in model.named_parameters():
        if p.requires_grad:
            matches = [i + 1 for i, (prefix, _) in enumerate(cfg.lr_mul) if name.startswith(prefix)]
            groups[matches[0] if matches else 0]["params"].append(p)
    return [g for g in groups if g["params"]]


def _mean_over_processes(loss: Tensor, world_size: int) -> float:
    """The loss of the whole batch: the mean of the processes' equal-sized batch means."""
    if world_size > 1:
        dist.all_reduce(loss)  # sum (gloo has no average)
        loss = loss / world_size
    return loss.item()


def _validate(model: nn.Module, val_fn, it: int, history: dict) -> dict[str, str]:
    """Run val_fn in eval mode, append its metrics to history["val"]; return them for the bar."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            metrics = val_fn(model)
    finally:  # a failing val_fn must not leave the model in eval mode
        model.train(was_training)
    if not isinstance(metrics, dict):
        raise TypeError(f"val_fn must return a dict of metrics, got {type(metrics).__name__}")
    history["val"]["iter"].append(it)
    for name, value in metrics.items():
        history["val"].setdefault(name, []).append(float(value))
    return {name: f"{float(value):.4g}" for name, value in metrics.items()}


def _save_checkpoint(
    out_dir: Path, it: int, cfg, model, ema, optimizer, history: dict, scaler=None
) -> None:
    """out_dir/latest.pth (plain containers and tensors) and out_dir/history.json, atomically.

    The weights sit under BasicSR's keys "params" and "params_ema" (only with EMA), and a model
    made by srlab.archs.build also gets the "srlab" entry of srlab.checkpoints, so
    srlab.checkpoints.load(model, path) and load_model(path) read the file (EMA weights first)."""
    state = {
        "iter": it,
        "config": dataclasses.asdict(cfg),
        "params": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "history": history,
    }
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()  # fp16's loss scale, for an exact resume
    if ema is not None:
        state["params_ema"] = ema.state_dict()
    if hasattr(model, "srlab_config"):
        state["srlab"] = {**model.srlab_config, "version": srlab.__version__}
    torch_save(out_dir / "latest.pth", state)
    write_json(out_dir / "history.json", history)


def config_changes(saved: dict, cfg, resumable: tuple[str, ...]) -> str:
    """The settings of the dataclass config `cfg` that differ from a checkpoint's saved config,
    other than the `resumable` ones, as "name: saved x, now y; ..." ("" when none). A setting
    added after the file was written counts at its default there (precision: "fp32")."""
    saved = {**dataclasses.asdict(type(cfg)()), **saved}
    now = dataclasses.asdict(cfg)
    changed = [k for k in now if k not in resumable and saved.get(k) != now[k]]
    return "; ".join(f"{k}: saved {saved.get(k)!r}, now {now[k]!r}" for k in changed)


def read_training_state(path: Path, keys: tuple[str, ...], *, ema: bool, writer: str) -> dict:
    """A training checkpoint to resume from, read by srlab.checkpoints (weights_only=True: an
    empty, truncated or foreign file is an error naming it), with every one of `keys` (and
    params_ema when `ema`) present, or a ValueError naming what is missing and `writer`, the
    module whose checkpoints these are. srlab.train's and srlab.gan's loaders share it."""
    state = checkpoints.read(path)
    missing = [k for k in keys if k not in state]
    if missing or (ema and "params_ema" not in state):
        raise ValueError(
            f"cannot resume from {path}: it is not a training checkpoint of {writer} (no "
            f"{', '.join(missing) or 'params_ema, though cfg.ema_decay is set'}). Use a new "
            "out_dir."
        )
    return state


def _load_checkpoint(path: Path, cfg, model, ema, optimizer, scaler=None) -> tuple[int, dict]:
    """Restore everything _save_checkpoint wrote; return (iteration, history). The file is read by
    srlab.checkpoints (weights_only=True), and every error names it."""
    keys = ("iter", "config", "params", "optimizer", "rng", "history")
    state = read_training_state(path, keys, ema=ema is not None, writer="srlab.train")
    details = config_changes(state["config"], cfg, RESUMABLE_CHANGES)
    if details:
        raise ValueError(
            f"cannot resume {path} with a different config ({details}). These settings define "
            "the run (the lr schedule spans `iters`): resume with the saved values, or use a new "
            "out_dir."
        )
    # strict: a different model fails with the missing, unexpected and mis-shaped keys named
    checkpoints.load(model, path_or_state=state, param_key="params", source=path)
    if ema is not None:
        checkpoints.load(ema, path_or_state=state, param_key="params_ema", source=path)
    optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    return state["iter"], state["history"]
