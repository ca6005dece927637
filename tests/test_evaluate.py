"""Tests for srlab.evaluate: scoring against hand-made models and images, the bicubic floor, and
the verdict rule on constructed per-seed differences."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from srlab.degradations import bi_degrade, imresize
from srlab.evaluate import (
    confidence_interval,
    effect,
    evaluate_bicubic,
    evaluate_images,
    mean_std,
    paired_differences,
    verdict,
)
from srlab.io import quantize
from srlab.metrics import psnr


def smooth_image(h: int, w: int, seed: int) -> torch.Tensor:
    """An 8-bit RGB image (3, h, w) in [0.1, 0.9]: a smooth random field, so bicubic does well,
    with room for an error of a few levels either way before the clamp to [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=gen)
    field = nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return quantize(0.1 + 0.8 * field[0])


@pytest.fixture
def pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    gts = {"a": smooth_image(32, 48, 0), "b": smooth_image(40, 40, 1)}
    return {name: (bi_degrade(gt, 2), gt) for name, gt in gts.items()}


class Oracle(nn.Module):
    """Returns the ground truth of the one pair it was made for, off by `error` (a x2 'model')."""

    def __init__(self, gt: torch.Tensor, error: float):
        super().__init__()
        self.gt, self.error = gt, error
        self.weight = nn.Parameter(torch.zeros(1))  # a parameter, so the model has a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (self.gt.shape[-2] // 2, self.gt.shape[-1] // 2)
        return (self.gt + self.error)[None]


def test_evaluate_images_scores_rounded_clamped_output(pairs):
    lq, gt = pairs["a"]
    one = {"a": (lq, gt)}
    # An output 1.3 levels too bright everywhere is rounded to 1 level: MSE exactly 1 on each of
    # R, G, B, so the RGB PSNR is 10 log10(255^2) = 48.13 dB.
    model = Oracle(gt, error=1.3 / 255)
    rgb = evaluate_images(model, one, scale=2, crop_border=0, y_channel=False)
    assert rgb["a"] == pytest.approx(10 * math.log10(255**2), abs=1e-5)  # float32 levels
    exact = Oracle(gt, error=0.4 / 255)  # rounds back to gt: infinite PSNR
    assert evaluate_images(exact, one, scale=2, crop_border=2, y_channel=True)["a"] == math.inf
    far = Oracle(gt, error=5.0)  # clamped to white before scoring, so still a finite number
    assert math.isfinite(evaluate_images(far, one, scale=2, crop_border=0, y_channel=False)["a"])


class TrainingShows(Oracle):
    """The exact ground truth in eval mode; in train mode a batch-normalised copy of it (as a
    model with batch norm computes, from the batch's own statistics) that also updates running
    statistics. Scored in train mode it gets a finite PSNR and changes its buffers."""

    def __init__(self, gt: torch.Tensor):
        super().__init__(gt, error=0.0)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        return self.norm(out) if self.training else out


def test_evaluate_images_runs_the_model_in_eval_mode(pairs):
    lq, gt = pairs["a"]
    model = TrainingShows(gt).train()
    before = copy.deepcopy(model.norm.state_dict())
    score = evaluate_images(model, {"a": (lq, gt)}, scale=2, crop_border=0, y_channel=False)
    assert score["a"] == math.inf  # the eval-mode output, exactly the ground truth
    assert all(torch.equal(v, before[k]) for k, v in model.norm.state_dict().items())
    assert model.training  # and the caller's mode is back
    with torch.no_grad():  # the model does behave differently in train mode
        assert not torch.equal(model(lq[None]), gt[None])


def test_evaluate_images_restores_training_mode(pairs):
    model = Oracle(pairs["a"][1], error=0.0).train()
    evaluate_images(model, {"a": pairs["a"]}, scale=2, crop_border=0, y_channel=True)
    assert model.training
    model.eval()
    evaluate_images(model, {"a": pairs["a"]}, scale=2, crop_border=0, y_channel=True)
    assert not model.training


def test_evaluate_bicubic_matches_imresize_and_psnr(pairs):
    scores = evaluate_bicubic(pairs, scale=2, crop_border=2, y_channel=True)
    assert list(scores) == ["a", "b"]
    lq, gt = pairs["b"]
    up = quantize(imresize(lq, 2).clamp(0, 1))
    assert scores["b"] == float(psnr(up, gt, crop_border=2, y_channel=True))
    assert 25 < scores["b"] < math.inf  # a smooth image: bicubic is good but not exact


def test_bicubic_model_scores_like_the_bicubic_floor(pairs):
    class Bicubic(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return imresize(x, 2)

    floor = evaluate_bicubic(pairs, scale=2, crop_border=2, y_channel=True)
    model = evaluate_images(Bicubic(), pairs, scale=2, crop_border=2, y_channel=True)
    assert model == pytest.approx(floor, abs=1e-9)


@pytest.mark.parametrize(
    "bad, match",
    [
        ({}, "non-empty"),
        ({"a": (torch.rand(3, 8, 8),)}, "pair"),
        ({"a": (torch.rand(3, 8, 8), torch.rand(3, 16, 18))}, "size times scale"),
        ({"a": (torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16))}, "single images"),
        ({"a": (torch.rand(3, 8, 8) * 2, torch.rand(3, 16, 16))}, r"\[0, 1\]"),
    ],
)
def test_bad_pairs_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        evaluate_bicubic(bad, scale=2, crop_border=0, y_channel=True)


def test_scale_is_checked(pairs):
    with pytest.raises(ValueError, match="scale"):
        evaluate_bicubic(pairs, scale=5, crop_border=0, y_channel=True)
    with pytest.raises(ValueError, match="size times scale"):
        evaluate_bicubic(pairs, scale=4, crop_border=0, y_channel=True)


def test_mean_std_and_paired_differences():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    mean, std = mean_std([5.0])
    assert mean == 5.0 and math.isnan(std)
    with pytest.raises(ValueError, match="empty"):
        mean_std([])
    assert paired_differences([30.0, 31.0], [29.5, 31.5]) == [0.5, -0.5]
    with pytest.raises(ValueError, match="one number per seed"):
        paired_differences([1.0, 2.0], [1.0])


# Student's t quantiles from a printed table: t_{0.975, 1} = 12.706, t_{0.975, 2} = 4.303,
# t_{0.95, 2} = 2.920. With three seeds the 95% interval is mean ± 4.303 / sqrt(3) = 2.48 std.
@pytest.mark.parametrize(
    "differences, level, t",
    [([1.0, 2.0, 3.0], 0.95, 4.303), ([1.0, 2.0, 3.0], 0.90, 2.920), ([0.1, 0.3], 0.95, 12.706)],
)
def test_confidence_interval_is_students_t(differences, level, t):
    mean, std = mean_std(differences)
    low, high = confidence_interval(differences, level)
    half = t * std / math.sqrt(len(differences))
    assert low == pytest.approx(mean - half, abs=1e-3) and high == pytest.approx(
        mean + half, abs=1e-3
    )
    assert confidence_interval(differences) == confidence_interval(differences, 0.95)


def test_confidence_interval_edge_cases():
    low, high = confidence_interval([-0.2, -0.2, -0.2])  # no spread: a point
    assert low == high == pytest.approx(-0.2, abs=1e-15)
    assert confidence_interval([0.0, 0.0]) == (0.0, 0.0)
    low, high = confidence_interval([0.5])  # one seed: undefined, like mean_std's std
    assert math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match="empty"):
        confidence_interval([])
    with pytest.raises(ValueError, match="level"):
        confidence_interval([0.1, 0.2], level=1.0)


@pytest.mark.parametrize(
    "differences, paper, expected",
    [
        ([-0.3, -0.2, -0.4], -0.1, "reproduced"),  # -0.3 ± 0.25: excludes zero, paper's sign
        ([0.3, 0.2, 0.4], -0.1, "reversed"),
        ([0.3, 0.2, 0.4], 0.05, "reproduced"),
        ([-0.1, 0.1, -0.06], -0.1, "not resolved"),  # -0.02 ± 0.28
        ([-0.2, -0.2, -0.2], -0.1, "reproduced"),  # zero spread: the interval is a point
        ([-0.2, -0.2, -0.2], 0.1, "reversed"),
        ([0.0, 0.0, 0.0], -0.1, "not resolved"),  # all zero: the point is zero itself
        ([0.0, 0.0, 0.0], 0.1, "not resolved"),
        ([-0.5], -0.1, "not resolved"),  # one seed: no spread to read it against
        ([0.1, 0.3], 0.2, "not resolved"),  # mean 0.2 > std 0.14, but 0.2 ± 1.27 holds zero
        ([0.20, 0.21], 0.2, "reproduced"),  # 0.205 ± 0.064
        ([0.0, 0.3], 0.2, "not resolved"),
    ],
)
def test_verdict(differences, paper, expected):
    assert verdict(differences, paper) == expected


@pytest.mark.parametrize(
    "interval, expected",
    [
        ((0.0, 0.4), "not resolved"),  # an interval that reaches zero does not exclude it
        ((-0.4, 0.0), "not resolved"),
        ((5e-324, 0.4), "reproduced"),  # the smallest float above zero does
        ((-0.4, -5e-324), "reversed"),
    ],
)
def test_verdict_at_the_boundary(monkeypatch, interval, expected):
    import srlab.evaluate

    monkeypatch.setattr(srlab.evaluate, "confidence_interval", lambda d, level: interval)
    assert verdict([1.0, 2.0], 0.1) == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_verdict_refuses_non_finite_differences(bad):
    with pytest.raises(ValueError, match=rf"differences\[1\] = {bad}"):
        verdict([0.1, bad, 0.2], 0.1)
    with pytest.raises(ValueError, match="finite"):
        confidence_interval([bad, bad])


def test_verdict_needs_a_paper_ordering():
    with pytest.raises(ValueError, match="non-zero"):
        verdict([0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="non-zero"):
        verdict([0.1, 0.2], math.nan)


def test_effect_reports_mean_interval_and_verdict():
    e = effect([-0.2, -0.3, -0.25], paper_difference=-0.5)
    assert e["per_seed"] == [-0.2, -0.3, -0.25] and e["mean"] == pytest.approx(-0.25)
    assert e["ci95"] == pytest.approx(list(confidence_interval([-0.2, -0.3, -0.25])))
    assert e["ci95"][1] < 0 and e["verdict"] == "reproduced"
    low, high = e["ci95"]
    assert e["text"] == f"-0.250 dB, 95% CI [{low:+.3f}, {high:+.3f}] -> reproduced"
    assert effect([-0.2, -0.3, -0.25], paper_difference=0.5)["verdict"] == "reversed"
    wide = effect([-0.2, 0.3, -0.25], paper_difference=-0.5)
    assert wide["ci95"][0] < 0 < wide["ci95"][1] and wide["verdict"] == "not resolved"
    one = effect([0.4], paper_difference=1.0)
    assert math.isnan(one["std"]) and one["verdict"] == "not resolved"
    with pytest.raises(ValueError, match="finite"):
        effect([0.1, math.nan], paper_difference=1.0)


# --- reporting helpers ---------------------------------------------------------------------------


def test_paired_effect_is_effect_of_the_paired_differences():
    from srlab.evaluate import paired_effect

    values, reference = [30.2, 30.31, 30.25], [30.0, 30.1, 30.05]  # +0.2 dB, every seed
    assert paired_effect(values, reference, 0.1) == effect(
        paired_differences(values, reference), 0.1
    )
    assert paired_effect(values, reference, -0.1)["verdict"] == "reversed"


def test_count_verdicts_counts_every_kind_in_order():
    from srlab.evaluate import VERDICTS, count_verdicts

    rows = [{"verdict": "reproduced"}, {"verdict": "not resolved"}, {"verdict": "reproduced"}]
    counts = count_verdicts(rows)
    assert list(counts) == list(VERDICTS)
    assert counts == {"reproduced": 2, "reversed": 0, "not resolved": 1}
    assert count_verdicts([]) == dict.fromkeys(VERDICTS, 0)


def test_markdown_table_lines_and_alignment():
    from srlab.evaluate import markdown_table

    rows = [["full", "30.12"], ["none", 29.5]]
    table = markdown_table(["variant", "PSNR (dB)"], rows, align="lr")
    assert table.splitlines() == [
        "| variant | PSNR (dB) |",
        "|---|---:|",
        "| full | 30.12 |",
        "| none | 29.5 |",
    ]
    assert markdown_table(["a"], []).splitlines() == ["| a |", "|---|"]  # left by default


def test_cpu_timer_counts_cpu_not_sleep():
    import time

    from srlab.evaluate import CpuTimer

    timer = CpuTimer()
    time.sleep(0.3)  # wall time passes, CPU time hardly
    slept = timer.seconds()
    end = time.process_time() + 0.25
    while time.process_time() < end:  # busy: CPU time passes
        pass
    assert slept < 0.2 and timer.seconds() >= 0.2
