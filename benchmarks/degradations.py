"""Speed of srlab.degradations.imresize against scikit-image, measured in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/degradations.py [--size 512] [--scale 0.25]

srlab: imresize (MATLAB's bicubic, antialiased), on a float32 tensor (3, size, size) and on a
float32 HWC numpy array (the conversions are inside the timer). scikit-image:
skimage.transform.rescale(order=3, anti_aliasing=True, channel_axis=-1) on the same HWC array.
The two are NOT the same operation: skimage low-passes with a Gaussian (sigma = (1/scale - 1) / 2)
and then samples a cubic B-spline, where MATLAB widens Keys' cubic kernel by 1/scale. So the
outputs differ (the max |diff| column says by how much); only srlab's agrees with MATLAB/BasicSR."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import rescale

from srlab.degradations import imresize


def best_time(fn: Callable[[], object], repeats: int) -> float:
    """The fastest of `repeats` calls, in seconds (the least disturbed by other work)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_image(size: int, seed: int) -> torch.Tensor:
    """A smooth random RGB image with some fine texture: (3, size, size) float32 in [0, 1]."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size // 16, size // 16, generator=gen)
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    return (smooth[0] + 0.05 * torch.randn(3, size, size, generator=gen)).clamp(0, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    image = make_image(args.size, args.seed)  # (3, size, size)
    hwc = np.ascontiguousarray(image.permute(1, 2, 0).numpy())  # (size, size, 3) float32

    runs = {
        "srlab imresize, tensor": lambda: imresize(image, args.scale),
        "srlab imresize, numpy HWC": lambda: imresize(hwc, args.scale),
        "skimage rescale (order=3, anti_aliasing)": lambda: rescale(
            hwc, args.scale, order=3, anti_aliasing=True, channel_axis=-1
        ),
    }
    reference = imresize(hwc, args.scale)
    times = {name: best_time(fn, args.repeats) for name, fn in runs.items()}
    skimage_time = times["skimage rescale (order=3, anti_aliasing)"]

    print(
        f"RGB {args.size}x{args.size} float32, scale {args.scale:g}, "
        f"torch threads={torch.get_num_threads()}, best of {args.repeats}"
    )
    print(f"{'method':<42} {'ms':>8} {'skimage/this':>13} {'max |diff| vs srlab':>20}")
    for name, fn in runs.items():
        out = fn()
        out = out.permute(1, 2, 0).numpy() if isinstance(out, torch.Tensor) else out
        diff = np.abs(out.astype(np.float64) - reference).max()
        print(
            f"{name:<42} {times[name] * 1e3:8.2f} {skimage_time / times[name]:12.2f}x {diff:20.2e}"
        )


if __name__ == "__main__":
    main()
