"""Tests for srlab.metrics: BasicSR agreement, per-image shapes, analytic cases and input errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from srlab.io import quantize, to_tensor
from srlab.metrics import psnr, rgb_to_y, ssim

# Recorded with BasicSR 1.4.2 (PyPI): calculate_psnr / calculate_ssim(sr, hr, crop_border,
# test_y_channel) on the uint8 pair hr_rgb / sr_rgb; see tests/data/README.md.
GOLDEN = Path(__file__).parent / "data" / "metrics_basicsr.npz"
METRICS = {"psnr": psnr, "ssim": ssim}


def random_images(*shape: int, seed: int = 0) -> torch.Tensor:
    """Random 8-bit RGB images in [0, 1], (..., 3, h, w): a flat colour plus noise."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(*shape[:-2], 1, 1, generator=gen)
    return quantize(0.6 * base + 0.4 * torch.rand(*shape, generator=gen))


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as f:
        return dict(f)


@pytest.mark.parametrize("crop_border", [0, 4])
@pytest.mark.parametrize("y_channel", [False, True])
def test_golden_basicsr(golden, y_channel, crop_border):
    hr, sr = to_tensor(golden["hr_rgb"]), to_tensor(golden["sr_rgb"])  # (3, 48, 52)
    key = f"y{int(y_channel)}_crop{crop_border}"
    ours_psnr = psnr(sr, hr, crop_border=crop_border, y_channel=y_channel)
    ours_ssim = ssim(sr, hr, crop_border=crop_border, y_channel=y_channel)
    assert ours_psnr.shape == () and ours_psnr.dtype == torch.float64
    assert ours_ssim.shape == () and ours_ssim.dtype == torch.float64
    assert abs(ours_psnr.item() - golden[f"psnr_{key}"]) < 1e-4
    assert abs(ours_ssim.item() - golden[f"ssim_{key}"]) < 1e-5


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("y_channel", [False, True])
def test_batch_and_video_are_per_image(name, y_channel):
    metric = METRICS[name]
    hr = random_images(2, 3, 3, 24, 20, seed=1)  # video (b=2, t=3, 3, h, w)
    noise = 0.05 * torch.randn(hr.shape, generator=torch.Generator().manual_seed(2))
    sr = quantize(hr + noise)  # quantize clamps to [0, 1]
    video = metric(sr, hr, crop_border=2, y_channel=y_channel)
    batch = metric(sr[:, 1], hr[:, 1], crop_border=2, y_channel=y_channel)
    assert video.shape == (2, 3) and video.dtype == torch.float64
    assert batch.shape == (2,) and batch.dtype == torch.float64
    single = torch.stack(
        [
            torch.stack(
                [metric(sr[i, j], hr[i, j], crop_border=2, y_channel=y_channel) for j in range(3)]
            )
            for i in range(2)
        ]
    )  # (2, 3)
    torch.testing.assert_close(video, single, rtol=1e-12, atol=0)
    torch.testing.assert_close(batch, single[:, 1], rtol=1e-12, atol=0)
    assert len(set(single.flatten().tolist())) == 6  # the frames really differ


def test_ssim_chunks_give_the_same_values(monkeypatch):
    import srlab.metrics

    hr = random_images(5, 3, 16, 16, seed=3)
    sr = random_images(5, 3, 16, 16, seed=4)
    whole = ssim(sr, hr, crop_border=0, y_channel=False)
    monkeypatch.setattr(srlab.metrics, "_SSIM_CHUNK_VALUES", 2 * 3 * 16 * 16)  # two images a chunk
    torch.testing.assert_close(
        ssim(sr, hr, crop_border=0, y_channel=False), whole, rtol=1e-12, atol=0
    )


@pytest.mark.parametrize("y_channel", [False, True])
def test_psnr_of_known_mse(y_channel):
    # A uniform offset of d/255 on every channel: MSE = d^2 on RGB; on Y the offset becomes
    # d * (65.481 + 128.553 + 24.966) / 255 = d * 219 / 255 (the studio range is 219 levels).
    d = 10.0
    hr = torch.full((2, 3, 12, 14), 0.5, dtype=torch.float64)
    sr = hr + d / 255.0
    offset = d * 219.0 / 255.0 if y_channel else d
    expected = 10 * math.log10(255.0**2 / offset**2)
    out = psnr(sr, hr, crop_border=1, y_channel=y_channel)
    torch.testing.assert_close(
        out, torch.full((2,), expected, dtype=torch.float64), rtol=0, atol=1e-9
    )


def test_psnr_crop_drops_the_border():
    hr = torch.full((3, 10, 10), 0.5)
    sr = hr.clone()
    sr[:, 0, :] = 0.0  # an error only in the first row
    assert psnr(sr, hr, crop_border=0, y_channel=False).isfinite()
    assert psnr(sr, hr, crop_border=1, y_channel=False) == math.inf


@pytest.mark.parametrize("y_channel", [False, True])
def test_identical_images(y_channel):
    x = random_images(2, 3, 20, 18, seed=5)
    assert (psnr(x, x, crop_border=0, y_channel=y_channel) == math.inf).all()
    assert (ssim(x, x, crop_border=0, y_channel=y_channel) == 1.0).all()


def test_ssim_of_different_images_is_below_one():
    hr = random_images(3, 24, 24, seed=6)
    sr = random_images(3, 24, 24, seed=7)
    assert ssim(sr, hr, crop_border=0, y_channel=True) < 0.9


def test_ssim_matches_skimage_on_y():
    # An independent implementation: skimage pads and then drops the 5-pixel border from the mean,
    # which is the valid region that BasicSR and srlab use.
    hr = random_images(2, 3, 30, 27, seed=8)
    sr = random_images(2, 3, 30, 27, seed=9)
    ours = ssim(sr, hr, crop_border=0, y_channel=True)
    hr_y = rgb_to_y(hr.double())[:, 0].numpy() * 255
    sr_y = rgb_to_y(sr.double())[:, 0].numpy() * 255
    theirs = [
        structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        for a, b in zip(sr_y, hr_y, strict=True)
    ]
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=1e-12)


def test_rgb_is_the_mean_of_per_channel_ssim():
    hr = random_images(3, 20, 20, seed=10)
    sr = random_images(3, 20, 20, seed=11)
    rgb = ssim(sr, hr, crop_border=0, y_channel=False)
    # A grey image (R = G = B) has SSIM of that one channel; average the three channels' values.
    per_channel = [
        ssim(sr[c].expand(3, -1, -1), hr[c].expand(3, -1, -1), crop_border=0, y_channel=False)
        for c in range(3)
    ]
    torch.testing.assert_close(rgb, torch.stack(per_channel).mean(), rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "rgb, y255",
    [
        ((1.0, 1.0, 1.0), 235.0),
        ((0.0, 0.0, 0.0), 16.0),
        ((1.0, 0.0, 0.0), 16.0 + 65.481),
        ((0.0, 1.0, 0.0), 16.0 + 128.553),
        ((0.0, 0.0, 1.0), 16.0 + 24.966),
        ((0.5, 0.25, 0.75), 16.0 + 0.5 * 65.481 + 0.25 * 128.553 + 0.75 * 24.966),
    ],
)
def test_rgb_to_y_known_colours(rgb, y255):
    x = torch.tensor(rgb, dtype=torch.float64).view(3, 1, 1).expand(3, 2, 5)
    y = rgb_to_y(x)
    assert y.shape == (1, 2, 5) and y.dtype == torch.float64
    torch.testing.assert_close(y, torch.full((1, 2, 5), y255 / 255, dtype=torch.float64))


def test_rgb_to_y_keeps_leading_dims():
    x = random_images(2, 4, 3, 6, 7)
    assert rgb_to_y(x).shape == (2, 4, 1, 6, 7)
    torch.testing.assert_close(rgb_to_y(x)[1, 2], rgb_to_y(x[1, 2]))


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize(
    "sr, hr, error, match",
    [
        (torch.rand(16, 16), torch.rand(16, 16), ValueError, "sr must be an image"),
        (torch.rand(1, 1, 1, 3, 16, 16), torch.rand(1, 1, 1, 3, 16, 16), ValueError, "video"),
        (torch.rand(4, 16, 16), torch.rand(4, 16, 16), ValueError, "3 channels"),
        (torch.rand(2, 1, 16, 16), torch.rand(2, 1, 16, 16), ValueError, "3 channels"),
        (torch.rand(2, 2, 1, 16, 16), torch.rand(2, 2, 1, 16, 16), ValueError, "3 channels"),
        (torch.zeros(3, 16, 16, dtype=torch.uint8), torch.rand(3, 16, 16), TypeError, "uint8"),
        (
            torch.rand(3, 16, 16),
            torch.rand(3, 16, 16) * 255,
            ValueError,
            r"hr must lie in \[0, 1\]",
        ),
        (
            torch.rand(3, 16, 16) - 0.5,
            torch.rand(3, 16, 16),
            ValueError,
            r"sr must lie in \[0, 1\]",
        ),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 17), ValueError, "same shape"),
        (torch.rand(2, 3, 16, 16), torch.rand(3, 16, 16), ValueError, "same shape"),
        ([[0.5]], torch.rand(3, 16, 16), TypeError, "torch.Tensor"),
    ],
)
def test_bad_inputs(name, sr, hr, error, match):
    with pytest.raises(error, match=match):
        METRICS[name](sr, hr, crop_border=0, y_channel=False)


@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("crop_border", [-1, 1.0, True])
def test_bad_crop_border(name, crop_border):
    x = torch.rand(3, 32, 32)
    with pytest.raises(ValueError, match="crop_border must be an integer >= 0"):
        METRICS[name](x, x, crop_border=crop_border, y_channel=False)


@pytest.mark.parametrize(
    "name, size, crop_border, ok",
    [
        ("psnr", 10, 4, True),  # 2x2 left
        ("psnr", 10, 5, False),  # nothing left
        ("ssim", 19, 4, True),  # 11x11 left: exactly one window
        ("ssim", 18, 4, False),  # 10x10 left: the 11x11 window does not fit
        ("ssim", 10, 0, False),  # too small even without a crop
    ],
)
def test_crop_border_too_large(name, size, crop_border, ok):
    x = random_images(3, size, size + 5)
    if ok:
        METRICS[name](x, x, crop_border=crop_border, y_channel=True)
    else:
        with pytest.raises(ValueError, match=f"crop_border={crop_border} leaves"):
            METRICS[name](x, x, crop_border=crop_border, y_channel=True)


@pytest.mark.parametrize("name", METRICS)
def test_protocol_is_keyword_only_without_defaults(name):
    x = torch.rand(3, 16, 16)
    with pytest.raises(TypeError):
        METRICS[name](x, x)
    with pytest.raises(TypeError):
        METRICS[name](x, x, 0, False)
    with pytest.raises(TypeError, match="y_channel must be True or False"):
        METRICS[name](x, x, crop_border=0, y_channel=1)


def test_rgb_to_y_bad_inputs():
    with pytest.raises(ValueError, match="RGB"):
        rgb_to_y(torch.rand(4, 8, 8))
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_y(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        rgb_to_y(torch.rand(3, 8, 8) * 2)
