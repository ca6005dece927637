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
The project's rule: an effect is *resolved* when the 95% confidence interval of the mean of its
paired differences (Student's t with n - 1 degrees of freedom, `confidence_interval`) excludes
zero. `verdict` turns one of the paper's orderings into "reproduced", "reversed" or "not
resolved" by that rule: one seed is never resolved (no spread to read it against); n equal
non-zero differences are (no spread at all: the interval is a point); an interval that touches
zero is not. With three seeds the interval is mean ± 2.48 std, so the effect must be about
2.5 times its seed-to-seed spread."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence

import torch
from scipy import stats
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


def confidence_interval(differences: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """(low, high): the Student's t confidence interval of the mean of per-seed paired
    differences, mean ± t_{(1 + level) / 2, n - 1} * std / sqrt(n) with the sample std.

    n equal differences give a point (mean, mean): no spread at all. A single difference gives
    (nan, nan): one seed says nothing about the spread (mean_std's std is nan too). Non-finite
    differences are a ValueError, as is an empty sequence or a level outside (0, 1)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    values = _finite(differences, "differences")
    mean, std = mean_std(values)
    if len(values) < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(values) - 1)) * std / math.sqrt(len(values))
    return mean - half, mean + half


def verdict(differences: Sequence[float], paper_difference: float) -> str:
    """Whether per-seed paired differences reproduce the sign of the paper's difference.

    "not resolved" unless the 95% confidence interval of their mean (confidence_interval)
    excludes zero: one seed, all-zero differences or an interval that reaches zero are not
    resolved. Otherwise "reproduced" if the mean has the paper's sign, else "reversed".
    Non-finite differences are a ValueError that names them."""
    if paper_difference == 0 or not math.isfinite(paper_difference):
        raise ValueError(
            f"paper_difference must be a non-zero number (the paper's ordering), got "
            f"{paper_difference!r}"
        )
    low, high = confidence_interval(differences, 0.95)
    if not (low > 0 or high < 0):  # also one seed: nan compares false
        return "not resolved"
    return "reproduced" if (low > 0) == (paper_difference > 0) else "reversed"


def effect(differences: Sequence[float], paper_difference: float) -> dict:
    """One paired effect as a notebook reports it: {"per_seed": [...], "mean", "std",
    "ci95": [low, high] (confidence_interval), "verdict" (verdict against the paper's sign),
    "text": "+0.123 dB, 95% CI [+0.050, +0.196] -> reproduced"}. NaN std and interval for one
    seed (write_json stores them as null)."""
    values = _finite(differences, "differences")
    mean, std = mean_std(values)
    low, high = confidence_interval(values)
    result = verdict(values, paper_difference)
    return {
        "per_seed": values,
        "mean": mean,
        "std": std,
        "ci95": [low, high],
        "verdict": result,
        "text": f"{mean:+.3f} dB, 95% CI [{low:+.3f}, {high:+.3f}] -> {result}",
    }


def paired_effect(
    values: Sequence[float], reference: Sequence[float], paper_difference: float
) -> dict:
    """effect(paired_differences(values, reference), paper_difference): a variant against the
    reference it is compared with, seed by seed, read against the paper's difference."""
    return effect(paired_differences(values, reference), paper_difference)


def count_verdicts(rows: Iterable[Mapping]) -> dict[str, int]:
    """{"reproduced": n, "reversed": n, "not resolved": n} over rows that hold a "verdict" (as
    effect() returns them), every verdict counted, in the order of VERDICTS."""
    counts = dict.fromkeys(VERDICTS, 0)
    for i, row in enumerate(rows):
        if row.get("verdict") not in counts:
            raise ValueError(f"rows[{i}] has verdict {row.get('verdict')!r}, not one of {VERDICTS}")
        counts[row["verdict"]] += 1
    return counts


def markdown_table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, align: str | None = None
) -> str:
    """A Markdown table: one header row, then one line per row, cells written with str().

    align: one letter per column, "l" (left, the default) or "r" (right, for numbers), e.g.
    "lrr". Every row must have one cell per column; a cell must not hold "|" or a line break."""
    align = align if align is not None else "l" * len(header)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(
            f"align must give 'l' or 'r' for each of the {len(header)} columns, got {align!r}"
        )
    lines = [
        _table_line(header, "header"),
        "|" + "|".join({"l": "---", "r": "---:"}[a] for a in align) + "|",
    ]
    for i, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"rows[{i}] has {len(row)} cells, the header {len(header)}: {row!r}")
        lines.append(_table_line(row, f"rows[{i}]"))
    return "\n".join(lines)


def _table_line(cells: Sequence[object], name: str) -> str:
    texts = [str(c) for c in cells]
    bad = [t for t in texts if "|" in t or "\n" in t]
    if bad:
        raise ValueError(
            f"{name} has a cell with '|' or a line break, which ends a cell: {bad[0]!r}"
        )
    return "| " + " | ".join(texts) + " |"


class CpuTimer:
    """CPU seconds this process has used since the timer was made (time.process_time, all
    threads), to record beside the wall time: on a shared machine the wall time grows with the
    load, the CPU time much less."""

    def __init__(self) -> None:
        self.started = time.process_time()

    def seconds(self) -> float:
        """CPU seconds since creation, rounded to 0.1 s."""
        return round(time.process_time() - self.started, 1)


def _finite(values: Sequence[float], name: str) -> list[float]:
    """values as floats; a ValueError naming every non-finite one (a NaN PSNR of a diverged run
    would otherwise make its effect look "not resolved" instead of broken)."""
    values = [float(v) for v in values]
    bad = [f"{name}[{i}] = {v}" for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{name} must be finite numbers, got {', '.join(bad)}")
    return values


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
