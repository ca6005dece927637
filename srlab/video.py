"""Running a video SR model on whole clips and scoring it frame by frame.

    out = run_clip(model, lqs, segments=4)             # SR frames, latency per frame, peak memory
    scores = evaluate_clips(model, clips, scale=4, degradation="BI", y_channel=False,
                            crop_border=0, flow="spynet")
    scores["psnr"]["clip0"]                            # (t,) PSNR of every frame, in dB

Per-frame scores matter for recurrent models: how good a frame is depends on where it sits in the
clip (the first frames of a unidirectional model have seen nothing yet), which a clip mean hides."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor, nn

from srlab.checks import check_scale, check_video
from srlab.complexity import peak_memory
from srlab.data import SyntheticClip, downscale_flow
from srlab.degradations import add_gaussian_noise, degrade, imresize
from srlab.device import synchronize
from srlab.io import quantize
from srlab.metrics import psnr
from srlab.metrics import ssim as metric_ssim  # `ssim` is also evaluate_clips's switch

FLOW_SOURCES = ("spynet", "oracle")


def run_clip(
    model: nn.Module,
    lqs: Tensor,
    *,
    flows: tuple[Tensor, Tensor] | None = None,
    segments: int = 1,
    interval: int | None = None,
    dtype: torch.dtype | None = None,
    **forward_kwargs,
) -> dict:
    """One forward pass of a video model over a whole clip, under torch.inference_mode().

    lqs: (t, 3, h, w) or (1, t, 3, h, w), RGB in [0, 1].
    flows: oracle flows (flows_forward, flows_backward), each (t-1, 2, h, w) or (1, t-1, 2, h, w)
        in LR pixels, BasicVSR's convention (srlab.archs.basicvsr.unpack_flows).
    segments, interval: local propagation (BasicVSR's forward); passed only when not the default,
        so a model without them (e.g. IconVSR, which takes keyframe_stride= in forward_kwargs)
        runs as well.
    dtype: None or torch.float32 as is; torch.bfloat16 (CPU) or torch.float16 (CUDA) under
        torch.autocast.

    Returns {"sr": (t, 3, 4h, 4w) float32 on the CPU, clamped to [0, 1], not rounded;
    "latency_s_per_frame": wall time of the pass / t (one pass, no warm-up: for careful timing use
    srlab.complexity.latency); "peak_mb": the rise in memory during the pass
    (srlab.complexity.peak_memory; CPU: resident set size); "memory_method"; "dtype"}."""
    single = lqs.dim() == 4
    lqs = lqs[None] if single else lqs
    check_video(lqs, "lqs", min_frames=2)
    if lqs.shape[0] != 1:
        raise ValueError(f"run_clip takes one clip, got a batch of {lqs.shape[0]}")
    device = next(model.parameters()).device
    lqs = lqs.to(device)
    kwargs = dict(forward_kwargs)
    if flows is not None:
        kwargs["flows"] = tuple((f[None] if f.dim() == 4 else f).to(device) for f in flows)
    if segments != 1:
        kwargs["segments"] = segments
    if interval is not None:
        kwargs["interval"] = interval
    autocast = dtype is not None and dtype != torch.float32
    was_training = model.training
    model.eval()
    result = {}

    def forward() -> None:
        start = time.perf_counter()
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
            result["sr"] = model(lqs, **kwargs)
        synchronize(device)
        result["seconds"] = time.perf_counter() - start

    try:
        memory = peak_memory(forward, device=device)
    finally:
        model.train(was_training)
    t = lqs.shape[1]
    return {
        "sr": result["sr"][0].float().clamp(0, 1).cpu(),  # (t, 3, 4h, 4w)
        "latency_s_per_frame": result["seconds"] / t,
        "peak_mb": memory["peak_mb"],
        "memory_method": memory["method"],
        "dtype": str(dtype or torch.float32).removeprefix("torch."),
    }


def clip_inputs(
    clip: SyntheticClip | Mapping[str, Tensor],
    *,
    scale: int,
    degradation: str,
    noise: float = 0.0,
    noise_seed: int = 0,
) -> dict[str, Tensor | None]:
    """The HR frames, LR frames and (if known) LR oracle flows of a test clip.

    clip: a SyntheticClip (its frames are the HR ground truth; the LR frames are made with
    `degradation`, and its flows brought to the LR grid), or a mapping {"gt": (t, 3, H, W),
    optional "lq": (t, 3, H/scale, W/scale) (else made with `degradation`), optional
    "flow_forward", "flow_backward": (t-1, 2, h, w) LR flows}.
    noise: sigma of Gaussian noise added to LR frames made here (in [0, 1] units), drawn from a
    generator seeded with noise_seed, so every model sees the same noisy test clip. Given "lq"
    frames are used as they are.
    Returns {"gt", "lq", "flow_forward", "flow_backward"} (flows None when unknown)."""

    def lr_frames(hr: Tensor) -> Tensor:
        lq = degrade(hr, scale, degradation)  # (t, 3, h, w)
        if not noise:
            return lq
        return add_gaussian_noise(lq, noise, generator=torch.Generator().manual_seed(noise_seed))

    if isinstance(clip, SyntheticClip):
        return {
            "gt": clip.frames,
            "lq": lr_frames(clip.frames),
            "flow_forward": downscale_flow(clip.flow_forward, scale),
            "flow_backward": downscale_flow(clip.flow_backward, scale),
        }
    if not isinstance(clip, Mapping) or "gt" not in clip:
        raise TypeError(
            "a clip must be a SyntheticClip or a mapping with 'gt' (and optional 'lq', "
            f"'flow_forward', 'flow_backward'), got {type(clip).__name__}"
        )
    lq = clip.get("lq")
    return {
        "gt": clip["gt"],
        "lq": lr_frames(clip["gt"]) if lq is None else lq,
        "flow_forward": clip.get("flow_forward"),
        "flow_backward": clip.get("flow_backward"),
    }


def evaluate_clips(
    model: nn.Module,
    clips: Mapping[str, SyntheticClip | Mapping[str, Tensor]],
    *,
    scale: int,
    degradation: str,
    y_channel: bool,
    crop_border: int,
    flow: str = "spynet",
    segments: int = 1,
    interval: int | None = None,
    dtype: torch.dtype | None = None,
    noise: float = 0.0,
    ssim: bool = True,
    **forward_kwargs,
) -> dict:
    """Per-frame PSNR and SSIM (unless ssim=False) of a video model on whole test clips, next to
    bicubic upsampling.

    clips: name -> clip (see clip_inputs). The protocol is keyword-only with no default, as for
    srlab.metrics: y_channel (Y of YCbCr, or RGB), crop_border. The SR frames are rounded to 8 bits
    before scoring (as BasicSR saves and scores them).
    flow: "spynet": the model estimates flow itself; "oracle": the clip's true LR flow is passed
        in (needs a SyntheticClip or a mapping with flows).
    segments, interval, dtype, forward_kwargs: as run_clip.
    noise: Gaussian noise on the LR frames made here (see clip_inputs): the i-th clip's noise is
        drawn with seed i, the same for every model and call.
    ssim: False leaves SSIM out (no "ssim" and "bicubic_ssim" keys): on a small model SSIM takes
        more than half of the time, so a PSNR-only sweep runs about twice as fast.

    Returns {"psnr", "bicubic_psnr" (and with ssim "ssim", "bicubic_ssim"): {name: np.ndarray
    (t,) float64}, "latency_s_per_frame": {name: float}, "peak_mb": {name: float},
    "protocol": {"scale", "degradation", "channel": "Y" | "RGB", "crop_border", "flow", "segments",
    "interval", "dtype"}}."""
    check_scale(scale)
    if flow not in FLOW_SOURCES:
        raise ValueError(f"flow must be one of {FLOW_SOURCES}, got {flow!r}")
    metrics = {"psnr": psnr, "ssim": metric_ssim} if ssim else {"psnr": psnr}
    keys = [p + m for m in metrics for p in ("", "bicubic_")] + ["latency_s_per_frame", "peak_mb"]
    out: dict = {k: {} for k in keys}
    for i, (name, clip) in enumerate(clips.items()):
        x = clip_inputs(clip, scale=scale, degradation=degradation, noise=noise, noise_seed=i)
        flows = None
        if flow == "oracle":
            if x["flow_forward"] is None or x["flow_backward"] is None:
                raise ValueError(f"flow='oracle' needs the true flow, but clip {name!r} has none")
            flows = (x["flow_forward"], x["flow_backward"])
        run = run_clip(
            model, x["lq"], flows=flows, segments=segments, interval=interval, dtype=dtype,
            **forward_kwargs,
        )  # fmt: skip
        bicubic = imresize(x["lq"], scale).clamp(0, 1)  # (t, 3, H, W)
        gt = x["gt"][None]  # (1, t, 3, H, W): metrics give (1, t)
        for prefix, pred in (("", run["sr"]), ("bicubic_", bicubic)):
            pred = quantize(pred)[None]
            protocol = dict(crop_border=crop_border, y_channel=y_channel)
            for key, metric in metrics.items():
                out[prefix + key][name] = metric(pred, gt, **protocol)[0].numpy()
        out["latency_s_per_frame"][name] = run["latency_s_per_frame"]
        out["peak_mb"][name] = run["peak_mb"]
    out["protocol"] = dict(
        scale=scale, degradation=degradation, channel="Y" if y_channel else "RGB",
        crop_border=crop_border, flow=flow, segments=segments, interval=interval,
        dtype=str(dtype or torch.float32).removeprefix("torch."), noise=noise,
    )  # fmt: skip
    return out


def frame_mean(scores: dict, key: str = "psnr") -> float:
    """The mean over all frames of all clips of an evaluate_clips result (every frame counts once).
    key: "psnr", "bicubic_psnr", or "ssim", "bicubic_ssim" if evaluate_clips computed SSIM."""
    return float(np.concatenate(list(scores[key].values())).mean())
