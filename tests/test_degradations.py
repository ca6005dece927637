"""srlab.degradations: MATLAB's bicubic imresize, the BI and BD benchmark degradations, noise, JPEG.

Golden numbers: tests/data/imresize_matlab.npz (a copy of shared/reference/golden/), from
BasicSR 1.4.2 (PyPI) `basicsr.utils.matlab_functions.imresize`, its reproduction of MATLAB's bicubic
imresize: `input` is a float64 HWC image of 37x41 (both odd), the other keys its resizes at 1/2,
1/3, 1/4, 2, 3, 4: 19x21, 13x14, 10x11, 74x82, 111x123, 148x164 (float32: BasicSR computes in
float32). Even-sized inputs are covered by the ramp and constant
tests below, not by the golden file. srlab computes the sampling positions in float64, as MATLAB
does; the largest difference, 4.2e-6 at x3, is BasicSR's float32 rounding of x / scale (float32
positions reproduce the golden to 2.4e-7)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srlab.degradations import (
    add_gaussian_noise,
    bd_degrade,
    bd_kernel,
    bi_degrade,
    degrade,
    imresize,
    jpeg_compress,
)

GOLDEN_FILE = Path(__file__).parent / "data" / "imresize_matlab.npz"
GOLDEN_SCALES = {
    "scale_0.5000": 1 / 2,
    "scale_0.3333": 1 / 3,
    "scale_0.2500": 1 / 4,
    "scale_2.0000": 2,
    "scale_3.0000": 3,
    "scale_4.0000": 4,
}


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN_FILE) as f:  # committed with the tests: never skipped
        return {key: f[key] for key in f.files}


def rand_image(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


# --- imresize ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key, scale", GOLDEN_SCALES.items())
def test_imresize_matches_basicsr_golden(golden, key, scale):
    x, expected = golden["input"], golden[key]

    out = imresize(x, scale)  # numpy float64 HWC path
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    assert out.shape == expected.shape
    assert np.abs(out - expected).max() < 1e-5

    image = torch.from_numpy(x).float().permute(2, 0, 1)  # tensor float32 CHW path, batched
    batch = imresize(torch.stack([image, 1 - image]), scale)
    want = torch.from_numpy(expected).permute(2, 0, 1)
    assert batch.dtype == torch.float32 and batch.shape == (2, *want.shape)
    assert (batch[0] - want).abs().max() < 1e-5
    assert (batch[1] - (1 - want)).abs().max() < 1e-5  # weights sum to 1: affine maps commute


def test_golden_one_third_was_made_with_exactly_one_third(golden):
    """Was golden "scale_0.3333" made with scale 1/3 or with 0.3333? Output sizes cannot tell:
    ceil(37/3) = ceil(37 * 0.3333) = 13 and ceil(41/3) = ceil(41 * 0.3333) = 14. Values can:
    1/3 matches to 1.3e-7, while 0.3333 moves the sampling grid (x / 0.3333 drifts 0.004 input
    pixels by the last output) and misses by 4.8e-4. So BasicSR was called with 1/3."""
    x, expected = golden["input"], golden["scale_0.3333"]
    assert imresize(x, 0.3333).shape == expected.shape
    assert np.abs(imresize(x, 1 / 3) - expected).max() < 1e-5
    assert np.abs(imresize(x, 0.3333) - expected).max() > 1e-4


@pytest.mark.parametrize(
    "h, w, scale, size",
    [
        (37, 41, 1 / 2, (19, 21)),
        (37, 41, 1 / 3, (13, 14)),
        (36, 40, 1 / 4, (9, 10)),
        (300, 9, 1 / 3, (100, 3)),  # 300 * (1/3) must not round up to 101
        (48, 48, 1 / 8, (6, 6)),
        (5, 6, 3, (15, 18)),
        (7, 8, 1.5, (11, 12)),
    ],
)
def test_imresize_output_size_is_ceil(h, w, scale, size):
    assert imresize(torch.zeros(3, h, w), scale).shape == (3, *size)
    assert imresize(np.zeros((h, w, 3), np.float32), scale).shape == (*size, 3)


def test_imresize_scale_one_is_identity_and_keeps_dtype():
    x = rand_image(2, 3, 7, 6).double()
    out = imresize(x, 1)
    assert out.dtype == torch.float64 and torch.allclose(out, x, atol=1e-12)
    out_np = imresize(x[0].permute(1, 2, 0).numpy().astype(np.float32), 0.5)
    assert out_np.dtype == np.float32


def test_imresize_takes_any_leading_dims():
    video = rand_image(2, 3, 3, 12, 10)  # (b, t, c, h, w)
    out = imresize(video, 1 / 2)
    assert out.shape == (2, 3, 3, 6, 5)
    assert torch.allclose(out[1, 2], imresize(video[1, 2], 1 / 2), atol=1e-6)


def test_imresize_is_differentiable():
    x = rand_image(1, 1, 5, 6).double().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: imresize(t, 0.5), (x,))
    assert torch.autograd.gradcheck(lambda t: imresize(t, 2), (x,))


# --- BI and BD ---------------------------------------------------------------------------------


def test_bd_kernel_is_matlab_fspecial_12x12_at_sigma_1_6():
    kernel = bd_kernel(4)
    assert kernel.shape == (12, 12) and kernel.dtype == torch.float64
    assert abs(kernel.sum().item() - 1) < 1e-12
    coord = torch.arange(12, dtype=torch.float64) - 5.5  # even size: centre between two taps
    expected = torch.exp(-(coord[:, None] ** 2 + coord[None, :] ** 2) / (2 * 1.6**2))
    assert torch.allclose(kernel, expected / expected.sum(), rtol=0, atol=1e-15)
    assert kernel[5, 5] == kernel[6, 6] == kernel.max()  # four equal central taps
    assert torch.equal(bd_kernel(4, variant="rcan"), kernel)  # RCAN's even scales: the same
    assert bd_kernel(2).shape == bd_kernel(8).shape == (12, 12)


def test_bd_kernel_rcan_x3_is_7x7():
    kernel = bd_kernel(3, variant="rcan")
    assert kernel.shape == (7, 7) and abs(kernel.sum().item() - 1) < 1e-12
    assert divmod(kernel.argmax().item(), 7) == (3, 3)
    assert bd_kernel(3, sigma=2.0, variant="rcan").shape == (13, 13)  # ceil(3 sigma) * 2 + 1


def matlab_bd(hr: np.ndarray, scale: int, variant: str) -> np.ndarray:
    """A direct, loop-by-loop reading of the MATLAB scripts on one (h, w) plane, independent of
    the strided conv in srlab: imfilter(hr, kernel, 'replicate') with the centre at tap
    floor((size + 1) / 2) (1-based), then `scale/2:scale:end-scale/2` (BasicVSR, even scales)
    or imresize(., 1/3, 'nearest') (RCAN x3), whose 1-based sample for output k is
    round(k / (1/3) + 0.5 * (1 - 3)) = 3k - 1."""
    kernel = bd_kernel(scale, variant=variant).numpy()
    size = kernel.shape[0]
    centre = (size + 1) // 2  # 1-based
    h, w = hr.shape
    padded = np.pad(hr, ((centre - 1, size - centre), (centre - 1, size - centre)), mode="edge")
    blurred = np.zeros_like(hr)
    for i in range(h):
        for j in range(w):
            blurred[i, j] = (kernel * padded[i : i + size, j : j + size]).sum()
    if scale % 2 == 0:
        first, last = scale // 2, h - scale // 2  # 1-based, inclusive
        rows = np.arange(first, last + 1, scale) - 1
        cols = np.arange(scale // 2, w - scale // 2 + 1, scale) - 1
    else:
        rows = 3 * np.arange(1, h // 3 + 1) - 1 - 1
        cols = 3 * np.arange(1, w // 3 + 1) - 1 - 1
    return blurred[np.ix_(rows, cols)]


@pytest.mark.parametrize("scale, variant", [(2, "basicvsr"), (4, "basicvsr"), (3, "rcan")])
def test_bd_matches_a_direct_reading_of_the_matlab_scripts(scale, variant):
    hr = rand_image(1, 3, 24, 5 * scale, seed=scale).double()  # odd LR width
    lr = bd_degrade(hr, scale, variant=variant, quantize=False)
    expected = matlab_bd(hr[0, 1].numpy(), scale, variant)
    assert lr.shape == (1, 3, 24 // scale, 5)
    assert np.abs(lr[0, 1].numpy() - expected).max() < 1e-12


@pytest.mark.parametrize(
    "scale, variant", [(2, "basicvsr"), (4, "basicvsr"), (8, "basicvsr"), (3, "rcan")]
)
def test_each_lr_pixel_is_centred_on_its_hr_block(scale, variant):
    """A linear ramp, blurred by any symmetric kernel, keeps its value at the kernel's centre. So
    away from the borders an LR pixel equals the mean of its scale x scale HR block exactly when
    the kernel's centre and the sample offset together land on the block's centre. One HR pixel
    off (cv2's default anchor, or the offset scale/2 instead of scale/2 - 1) misses by a slope."""
    size = 48
    i, j = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    ramp = ((i + 2 * j + 0.5).double() / (3 * size)).expand(3, size, size)  # slopes 1/144, 2/144
    block_means = F.avg_pool2d(ramp, scale)
    crop = math.ceil(bd_kernel(scale, variant=variant).shape[0] / scale)  # untouched by padding
    inner = (..., slice(crop, -crop), slice(crop, -crop))
    bd = bd_degrade(ramp, scale, variant=variant, quantize=False)
    assert torch.allclose(bd[inner], block_means[inner], rtol=0, atol=1e-12)
    bi = bi_degrade(ramp, scale, quantize=False)  # the symmetric bicubic kernel, likewise
    assert torch.allclose(bi[inner], block_means[inner], rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
def test_constant_image_stays_constant(scale):
    hr = torch.full((3, 24, 24), 0.37)
    for kind in ("BI", "BD"):
        lr = degrade(hr, scale, kind, quantize=False)
        assert lr.shape == (3, 24 // scale, 24 // scale)
        assert torch.allclose(lr, torch.full_like(lr, 0.37), atol=1e-6)
        assert torch.all(degrade(hr, scale, kind) == round(0.37 * 255) / 255)


@pytest.mark.parametrize("kind", ["BI", "BD"])
def test_quantised_output_is_on_256_levels_and_in_range(kind):
    lr = degrade(rand_image(3, 16, 16), 4, kind)
    levels = lr * 255
    assert (levels - levels.round()).abs().max() < 1e-4
    assert lr.min() >= 0 and lr.max() <= 1


def test_bi_without_quantisation_is_clamped_and_differentiable():
    hr = torch.zeros(3, 16, 16)
    hr[:, :, 8:] = 1  # a hard edge: bicubic overshoots on both sides of it
    assert imresize(hr, 1 / 2).max() > 1  # MATLAB's imresize itself overshoots...
    lr = bi_degrade(hr, 2, quantize=False)  # ...an LR image stays in [0, 1]
    assert lr.min() >= 0 and lr.max() <= 1
    x = rand_image(1, 3, 8, 8).requires_grad_()
    bi_degrade(x, 2, quantize=False).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()


def test_degradations_take_video_leading_dims():
    video = rand_image(2, 3, 3, 16, 16)  # (b, t, 3, h, w)
    frames = video.reshape(6, 3, 16, 16)
    for fn in (bi_degrade, bd_degrade):
        lr = fn(video, 4)
        assert lr.shape == (2, 3, 3, 4, 4)
        assert torch.equal(lr.reshape(6, 3, 4, 4), fn(frames, 4))
        assert torch.equal(lr[1, 2], fn(video[1, 2], 4))
    assert jpeg_compress(video, 50).shape == video.shape
    assert add_gaussian_noise(video, 0.1).shape == video.shape


def test_degrade_dispatches_case_insensitively():
    hr = rand_image(3, 12, 12)
    assert torch.equal(degrade(hr, 4), bi_degrade(hr, 4))
    assert torch.equal(degrade(hr, 4, "bi", quantize=False), bi_degrade(hr, 4, quantize=False))
    assert torch.equal(degrade(hr, 4, "Bd"), bd_degrade(hr, 4))
    assert torch.equal(degrade(hr, 3, "BD"), bd_degrade(hr, 3, variant="rcan"))


# --- noise and JPEG ----------------------------------------------------------------------------


def test_gaussian_noise_statistics_seed_and_clamp():
    grey = torch.full((3, 64, 64), 0.5)
    noisy = add_gaussian_noise(grey, 0.05, generator=torch.Generator().manual_seed(1))
    assert abs((noisy - grey).std().item() - 0.05) < 0.005
    assert abs((noisy - grey).mean().item()) < 0.005
    again = add_gaussian_noise(grey, 0.05, generator=torch.Generator().manual_seed(1))
    other = add_gaussian_noise(grey, 0.05, generator=torch.Generator().manual_seed(2))
    assert torch.equal(noisy, again) and not torch.equal(noisy, other)
    wild = add_gaussian_noise(grey.double(), 1.0)
    assert wild.dtype == torch.float64 and wild.min() == 0 and wild.max() == 1
    assert torch.equal(add_gaussian_noise(grey, 0), grey)


def test_jpeg_quality_orders_the_error_and_keeps_dtype():
    base = F.interpolate(rand_image(1, 3, 4, 4), size=(32, 32), mode="bilinear")
    x = (base + 0.05 * rand_image(1, 3, 32, 32, seed=1)).clamp(0, 1).double()  # (1, 3, 32, 32)
    errors = {q: (jpeg_compress(x, q) - x).abs().mean().item() for q in (10, 50, 95)}
    assert errors[10] > errors[50] > errors[95] > 0
    out = jpeg_compress(x, 95)
    assert out.dtype == torch.float64 and out.shape == x.shape
    assert ((out * 255) - (out * 255).round()).abs().max() < 1e-9


def test_jpeg_is_per_image():
    video = rand_image(1, 2, 3, 16, 16)
    out = jpeg_compress(video, 30)
    assert torch.equal(out[0, 1], jpeg_compress(video[0, 1], 30))


# --- input validation --------------------------------------------------------------------------


GOOD = torch.full((3, 8, 8), 0.5)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: imresize([[0.5]], 0.5), TypeError, "torch.Tensor"),
        (lambda: imresize(torch.zeros(3, 4, 4, dtype=torch.uint8), 0.5), TypeError, "uint8"),
        (lambda: imresize(np.zeros((4, 4, 3), np.uint8), 0.5), TypeError, "uint8"),
        (lambda: imresize(np.zeros((4, 4)), 0.5), ValueError, "HWC"),
        (lambda: imresize(torch.zeros(4, 4), 0.5), ValueError, r"\(\.\.\., c, h, w\)"),
        (lambda: imresize(GOOD, 0), ValueError, "scale"),
        (lambda: imresize(GOOD, -2), ValueError, "scale"),
        (lambda: imresize(GOOD, float("nan")), ValueError, "scale"),
        (lambda: imresize(GOOD, True), ValueError, "scale"),
        (lambda: bi_degrade(torch.full((3, 10, 10), 0.5), 4), ValueError, "mod_crop"),
        (lambda: bi_degrade(GOOD * 255, 4), ValueError, r"\[0, 1\]"),
        (lambda: bi_degrade(GOOD.to(torch.uint8), 4), TypeError, "uint8"),
        (lambda: bi_degrade(GOOD, 5), ValueError, "scale"),
        (lambda: bi_degrade(GOOD, 2.0), ValueError, "scale"),
        (lambda: bi_degrade(GOOD[:2], 2), ValueError, "RGB"),
        (lambda: bi_degrade(GOOD[0], 2), ValueError, "RGB"),
        (lambda: bi_degrade(GOOD.numpy(), 2), TypeError, "torch.Tensor"),
        (lambda: bd_degrade(GOOD, 4, variant="cv2"), ValueError, "variant"),
        (lambda: bd_degrade(torch.full((3, 9, 9), 0.5), 3), ValueError, "rcan"),
        (lambda: bd_degrade(GOOD, 4, sigma=0), ValueError, "sigma"),
        (lambda: bd_degrade(torch.full((3, 8, 8), float("nan")), 4), ValueError, "NaN"),
        (lambda: degrade(GOOD, 4, "BN"), ValueError, "kind"),
        (lambda: degrade(GOOD, 4, None), ValueError, "kind"),
        (lambda: add_gaussian_noise(GOOD, 25), ValueError, "0-255"),
        (lambda: add_gaussian_noise(GOOD, -0.1), ValueError, "sigma"),
        (lambda: add_gaussian_noise(GOOD.to(torch.uint8), 0.1), TypeError, "uint8"),
        (lambda: jpeg_compress(GOOD, 0), ValueError, "quality"),
        (lambda: jpeg_compress(GOOD, 101), ValueError, "quality"),
        (lambda: jpeg_compress(GOOD, 50.0), ValueError, "quality"),
        (lambda: jpeg_compress(GOOD[:1], 50), ValueError, "RGB"),
        (lambda: jpeg_compress(GOOD + 1, 50), ValueError, r"\[0, 1\]"),
    ],
)
def test_bad_inputs_fail_with_clear_messages(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_check_degradation_is_the_one_name_check():
    from srlab.data import ImagePatches
    from srlab.degradations import check_degradation

    assert check_degradation("bd") == "BD" and check_degradation("BI") == "BI"
    with pytest.raises(ValueError, match="'BI' or 'BD'"):
        check_degradation("blur")
    img = {"a": np.zeros((24, 24, 3), np.uint8)}
    assert ImagePatches(img, scale=2, patch_size=4, degradation="bd").degradation == "BD"
