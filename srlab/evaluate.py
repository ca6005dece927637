"""Scoring image SR models on a test set, and reading a seed-paired ablation against a paper.

    scores = evaluate_images(model, pairs, scale=2, crop_border=2, y_channel=True)  # {name: dB}
    floor = evaluate_bicubic(pairs, scale=2, crop_border=2, y_channel=True)

`pairs` maps an image name to (lq, gt): lq (3, h, w) and gt (3, h * scale, w * scale), RGB in
[0, 1]. Outputs are rounded to 8 bits before they are scored, because the benchmarks score saved
PNG files (BasicSR's tensor2img, then calculate_psnr); the bicubic baseline is MATLAB's imresize
of lq, clamped and rounded the same way, the "Bicubic" row of every SR table.

An ablation trained with several seeds is read seed by seed: with seed i, every variant sees the
same data order (and the same initial weights where shapes allow), so variant minus reference
is a paired difference d_i, and its spread over seeds is the noise that the effect must beat.
`verdict` turns one of the paper's orderings into "reproduced", "reversed" or "not resolved" by
the rule: an effect whose mean is not larger than its spread (the sample std of the d_i) is not
resolved, whatever its sign."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from srlab.checks import check_image, check_scale
from srlab.degradations import imresize
from srlab.io import quantize
from srlab.metrics import psnr

VERDICTS = ("reproduced", "reversed", "not resolved")


def evaluate_images(
    model: nn.Module,
    pairs: Mapping[str, tuple[Tensor, Tensor]],
    *,
    scale: int,
    crop_border: int,
    y_channel: bool,
) -> dict[str, float]:
    """PSNR in dB of model(lq) against gt for every pair, as {name: psnr}.

    The whole image runs at once, in eval mode under torch.no_grad() on the model's device (the
    model's mode is restored afterwards); the output is clamped to [0, 1] and rounded to 8 bits."""
    _check_pairs(pairs, scale)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    scores = {}
    try:
        with torch.no_grad():
            for name, (lq, gt) in pairs.items():
                sr = model(lq[None].to(device))[0].float().cpu()  # (3, h * s, w * s)
                sr = quantize(sr.clamp(0, 1))
                scores[name] = float(psnr(sr, gt, crop_border=crop_border, y_channel=y_channel))
    finally:
        model.train(was_training)
    return scores


def evaluate_bicubic(
    pairs: Mapping[str, tuple[Tensor, Tensor]],
    *,
    scale: int,
    crop_border: int,
    y_channel: bool,
) -> dict[str, float]:
    """PSNR in dB of bicubic upsampling (MATLAB's imresize by `scale`) for every pair, as
    {name: psnr}: the floor a learned model has to beat."""
    _check_pairs(pairs, scale)
    scores = {}
    for name, (lq, gt) in pairs.items():
        up = quantize(imresize(lq, scale).clamp(0, 1))  # (3, h * s, w * s); imresize overshoots
        scores[name] = float(psnr(up, gt, crop_border=crop_border, y_channel=y_channel))
    return scores


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) of per-seed values; the std is nan for a single value,
    since one seed says nothing about the spread."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values is empty")
    std = statistics.stdev(values) if len(values) > 1 else math.nan
    return statistics.fmean(values), std


def paired_differences(values: Sequence[float], reference: Sequence[float]) -> list[float]:
    """values[i] - reference[i] for each seed i: a variant minus the reference it is compared
    with, trained with the same seed."""
    if len(values) != len(reference) or not values:
        raise ValueError(
            f"values and reference must hold one number per seed, the same non-zero count; got "
            f"{len(values)} and {len(reference)}"
        )
    return [float(v) - float(r) for v, r in zip(values, reference, strict=True)]


def verdict(differences: Sequence[float], paper_difference: float) -> str:
    """Whether per-seed paired differences reproduce the sign of the paper's difference.

    "not resolved" when |mean| <= the sample std of the differences (or there is only one seed,
    hence no spread); otherwise "reproduced" if the mean has the paper's sign, else "reversed"."""
    if paper_difference == 0 or not math.isfinite(paper_difference):
        raise ValueError(
            f"paper_difference must be a non-zero number (the paper's ordering), got "
            f"{paper_difference!r}"
        )
    mean, std = mean_std(differences)
    if math.isnan(std) or abs(mean) <= std:
        return "not resolved"
    return "reproduced" if (mean > 0) == (paper_difference > 0) else "reversed"


def _check_pairs(pairs: Mapping[str, tuple[Tensor, Tensor]], scale: int) -> None:
    check_scale(scale)
    if not isinstance(pairs, Mapping) or not pairs:
        raise ValueError("pairs must be a non-empty mapping {name: (lq, gt)}")
    for name, pair in pairs.items():
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValueError(f"pairs[{name!r}] must be a pair (lq, gt)")
        lq, gt = pair
        check_image(lq, f"pairs[{name!r}] lq")
        check_image(gt, f"pairs[{name!r}] gt")
        if lq.dim() != 3 or gt.dim() != 3:
            raise ValueError(f"pairs[{name!r}]: lq and gt must be single images (3, h, w)")
        if gt.shape[-2:] != (lq.shape[-2] * scale, lq.shape[-1] * scale):
            raise ValueError(
                f"pairs[{name!r}]: gt must be lq's size times scale={scale}, got lq "
                f"{tuple(lq.shape)} and gt {tuple(gt.shape)}"
            )
