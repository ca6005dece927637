"""Speed and agreement of srlab.metrics against scikit-image, measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/metrics.py [--images 8] [--size 256]

Both sides do the same work: from the same batch of RGB images in [0, 1] to one value per image.
srlab: ssim / psnr on the whole batch (input checks and the Y conversion included).
scikit-image: per image, Y from RGB with the same BT.601 formula (numpy), then
structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=255) or peak_signal_noise_ratio(data_range=255); for RGB SSIM, channel_axis=-1.
skimage pads ("reflect") and then drops a 5-pixel border from the mean, which is the same valid
region as srlab's (and BasicSR's), so the values agree to rounding. Times are the best of
--repeats interleaved runs (the machine is shared); the ratio is skimage time / srlab time."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from srlab.checks import check_image
from srlab.io import quantize
from srlab.metrics import psnr, ssim

Y_WEIGHTS = np.array([65.481, 128.553, 24.966])  # MATLAB rgb2ycbcr, Y on 0-255 from RGB in [0, 1]
SKIMAGE_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)


def best_times(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """The fastest of `repeats` calls of each fn, in seconds. The calls are interleaved, so a burst
    of load from other processes on a shared machine slows all of them alike."""
    best = [math.inf] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def make_pair(num_images: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random 8-bit RGB images (hr) and a blurred, noisy 8-bit version of them (sr)."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(num_images, 3, size // 8, size // 8, generator=gen)
    hr = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    blurred = F.avg_pool2d(hr, 3, stride=1, padding=1, count_include_pad=False)
    sr = quantize(blurred + 0.03 * torch.randn(hr.shape, generator=gen))  # (b, 3, size, size)
    return sr, quantize(hr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sr, hr = make_pair(args.images, args.size, args.seed)
    sr_np, hr_np = (x.double().movedim(1, -1).numpy() for x in (sr, hr))  # (b, h, w, 3) float64

    def y_255(rgb: np.ndarray) -> np.ndarray:  # (h, w, 3) in [0, 1] -> (h, w) Y on 0-255
        return rgb @ Y_WEIGHTS + 16.0

    cases = {
        "SSIM Y": (
            lambda: ssim(sr, hr, crop_border=0, y_channel=True),
            lambda: [
                structural_similarity(y_255(a), y_255(b), **SKIMAGE_SSIM)
                for a, b in zip(sr_np, hr_np, strict=True)
            ],
        ),
        "SSIM RGB": (
            lambda: ssim(sr, hr, crop_border=0, y_channel=False),
            lambda: [
                structural_similarity(a * 255, b * 255, channel_axis=-1, **SKIMAGE_SSIM)
                for a, b in zip(sr_np, hr_np, strict=True)
            ],
        ),
        "PSNR Y": (
            lambda: psnr(sr, hr, crop_border=0, y_channel=True),
            lambda: [
                peak_signal_noise_ratio(y_255(b), y_255(a), data_range=255)
                for a, b in zip(sr_np, hr_np, strict=True)
            ],
        ),
    }
    print(
        f"{args.images} images {args.size}x{args.size}, crop_border=0, torch threads="
        f"{torch.get_num_threads()}, best of {args.repeats} interleaved runs"
    )
    print(f"{'':<9} {'srlab ms':>9} {'skimage ms':>11} {'speed-up':>9} {'max |diff|':>11}")
    for name, (ours, theirs) in cases.items():
        diff = np.abs(ours().numpy() - np.array(theirs())).max()
        t_ours, t_theirs = best_times([ours, theirs], args.repeats)
        print(
            f"{name:<9} {t_ours * 1e3:9.2f} {t_theirs * 1e3:11.2f} {t_theirs / t_ours:8.2f}x "
            f"{diff:11.2e}"
        )
    (t_checks,) = best_times([lambda: (check_image(sr, "sr"), check_image(hr, "hr"))], args.repeats)
    print(f"srlab's times include {t_checks * 1e3:.2f} ms of input checks (srlab.checks).")


if __name__ == "__main__":
    main()
