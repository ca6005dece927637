"""Tests for srlab.evaluate: scoring against hand-made models and images, the bicubic floor, and
the verdict rule on constructed per-seed differences."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from srlab.degradations import bi_degrade, imresize
from srlab.evaluate import (
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


@pytest.mark.parametrize(
    "differences, paper, expected",
    [
        ([-0.3, -0.2, -0.4], -0.1, "reproduced"),  # mean -0.3, std 0.1: resolved, paper's sign
        ([0.3, 0.2, 0.4], -0.1, "reversed"),
        ([0.3, 0.2, 0.4], 0.05, "reproduced"),
        ([-0.1, 0.1, -0.06], -0.1, "not resolved"),  # mean smaller than its spread
        ([-0.2, -0.2, -0.2], -0.1, "reproduced"),  # no spread at all
        ([-0.5], -0.1, "not resolved"),  # one seed: no spread to read it against
        ([0.1, 0.3], 0.2, "reproduced"),  # mean 0.2 > std 0.141
        ([0.0, 0.3], 0.2, "not resolved"),  # mean 0.15 < std 0.212
    ],
)
def test_verdict(differences, paper, expected):
    assert verdict(differences, paper) == expected


def test_verdict_needs_a_paper_ordering():
    with pytest.raises(ValueError, match="non-zero"):
        verdict([0.1, 0.2], 0.0)
    with pytest.raises(ValueError, match="non-zero"):
        verdict([0.1, 0.2], math.nan)
