"""NIQE, a no-reference image quality score: Mittal, Soundararajan and Bovik, "Making a 'Completely
Blind' Image Quality Analyzer", IEEE Signal Processing Letters 20(3), 2013.

PSNR and SSIM need the true image and reward the average of all plausible answers, which is
blurry; a GAN's sharper, invented detail scores worse on them (Blau and Michaeli, "The
Perception-Distortion Tradeoff", CVPR 2018). NIQE needs no reference: it fits a multivariate
Gaussian to 36 natural-scene statistics of an image's 96x96 patches, at two scales, and returns
the distance to the Gaussian fitted once on pristine photographs. Lower is more natural.

The pristine model ships in srlab/metric_params/niqe_pris_params.npz (LIVE's numbers, as BasicSR
1.4.2 distributes them under Apache-2.0; see the README there). The computation follows BasicSR's
calculate_niqe with convert_to="y" step by step, including where it works in float32, and agrees
with it to 1e-3 on the recorded outputs in tests/data/niqe_basicsr.npz (tests/test_niqe.py)."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import convolve
from scipy.special import gamma
from torch import Tensor

from srlab.checks import check_image
from srlab.degradations import imresize
from srlab.metrics import rgb_to_y

PARAMS_PATH = Path(__file__).resolve().parent / "metric_params" / "niqe_pris_params.npz"
BLOCK = 96  # patch side, the size the pristine model was fitted on (no overlap, as LIVE's code)

# The shape parameter alpha of a generalised Gaussian is found on this grid (LIVE's and BasicSR's
# moment matching): the ratio r(alpha) = Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a)) is tabulated once.
_ALPHAS = np.arange(0.2, 10.001, 0.001)
_RATIOS = np.square(gamma(2 / _ALPHAS)) / (gamma(1 / _ALPHAS) * gamma(3 / _ALPHAS))


@functools.cache
def pristine_params() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mu (36,), cov (36, 36), gaussian_window (7, 7)), float64, from PARAMS_PATH."""
    with np.load(PARAMS_PATH, allow_pickle=False) as params:
        return (
            params["mu_pris_param"][0],
            params["cov_pris_param"],
            params["gaussian_window"],
        )


def niqe(img: Tensor, *, crop_border: int) -> Tensor:
    """NIQE of each image, as BasicSR's calculate_niqe(img, crop_border, convert_to="y").

    img: (3, h, w) or (b, 3, h, w), RGB in [0, 1]. The score is taken on Y of YCbCr (BT.601, 0-255,
    rounded to integers as BasicSR and MATLAB do), after cropping crop_border pixels from every
    edge and then cutting the image down to whole 96x96 blocks; at least two must remain.
    Returns a float64 scalar tensor or (b,). Lower is better (more like pristine photographs)."""
    check_image(img, "img")
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0:
        raise ValueError(f"crop_border must be an int >= 0, got {crop_border!r}")
    h, w = img.shape[-2] - 2 * crop_border, img.shape[-1] - 2 * crop_border
    if max(h, 0) // BLOCK * (max(w, 0) // BLOCK) < 2:
        # The image's Gaussian needs a covariance: at least two blocks (BasicSR fails in SVD).
        raise ValueError(
            f"NIQE needs at least two {BLOCK}x{BLOCK} blocks: crop_border={crop_border} leaves "
            f"{max(h, 0)}x{max(w, 0)} of the {img.shape[-2]}x{img.shape[-1]} image(s)"
        )
    batch = img.reshape(-1, *img.shape[-3:])  # (n, 3, h, w)
    y = rgb_to_y(batch.double()) * 255.0  # (n, 1, h, w), float64 on 0-255
    y = y[..., crop_border : crop_border + h, crop_border : crop_border + w]
    # BasicSR converts in float32 and rounds ("for being consistent with MATLAB's result").
    y = y.float().round().cpu().numpy()[:, 0]  # (n, h, w) float32, integers 0-255
    scores = torch.tensor([_niqe_y(plane) for plane in y], dtype=torch.float64)
    return scores.reshape(img.shape[:-3])


def _niqe_y(img: np.ndarray) -> float:
    """NIQE of one (h, w) float32 Y image on 0-255 (Eq. 10 of the paper)."""
    mu_pris, cov_pris, window = pristine_params()
    n_h, n_w = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    img = img[: n_h * BLOCK, : n_w * BLOCK]
    features = []  # per scale: (n_h * n_w, 18)
    for scale in (1, 2):
        # Local mean subtraction and contrast normalisation (MSCN coefficients, Eq. 1).
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(np.square(img), window, mode="nearest") - np.square(mu)))
        mscn = (img - mu) / (sigma + 1)
        size = BLOCK // scale
        blocks = [
            mscn[i * size : (i + 1) * size, j * size : (j + 1) * size]
            for j in range(n_w)  # column-major, as BasicSR (the order does not change the score)
            for i in range(n_h)
        ]
        features.append(np.array([_block_features(block) for block in blocks]))
        if scale == 1:
            img = imresize(img[:, :, None] / 255.0, 0.5)[:, :, 0] * 255.0  # (h / 2, w / 2)
    feats = np.concatenate(features, axis=1)  # (blocks, 36)

    # Fit the image's own Gaussian and compare it with the pristine one (Eq. 10). A flat block
    # (e.g. saturated white) has no statistics: its features are NaN and it is left out.
    finite = feats[np.isfinite(feats).all(axis=1)]
    if len(finite) < 2:
        raise ValueError(
            f"NIQE is undefined for this image: only {len(finite)} of its {len(feats)} "
            f"{BLOCK}x{BLOCK} blocks (at either scale) have texture; flat or saturated blocks give "
            "no statistics (BasicSR's calculate_niqe fails here too)"
        )
    mu_img = np.nanmean(feats, axis=0)
    cov_img = np.cov(finite, rowvar=False)
    diff = mu_pris - mu_img
    distance = diff @ np.linalg.pinv((cov_pris + cov_img) / 2) @ diff
    return math.sqrt(float(distance))


def _block_features(block: np.ndarray) -> list[float]:
    """18 features of one block of MSCN coefficients: the generalised Gaussian fit of the
    coefficients (shape, scale), and the asymmetric fits of the products of horizontal, vertical
    and both diagonal neighbours (shape, mean, left scale, right scale each; Eqs. 7-8)."""
    alpha, beta_l, beta_r = _aggd_fit(block)
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        alpha, beta_l, beta_r = _aggd_fit(block * np.roll(block, shift, axis=(0, 1)))
        mean = (beta_r - beta_l) * (gamma(2 / alpha) / gamma(1 / alpha))
        feats.extend([alpha, mean, beta_l, beta_r])
    return feats


def _aggd_fit(block: np.ndarray) -> tuple[float, float, float]:
    """(alpha, beta_left, beta_right) of an asymmetric generalised Gaussian, by moment matching
    on the grid _ALPHAS (Lasmar et al. 2009, as in LIVE's and BasicSR's code)."""
    block = block.ravel()
    left_std = np.sqrt(np.mean(block[block < 0] ** 2))
    right_std = np.sqrt(np.mean(block[block > 0] ** 2))
    gamma_hat = left_std / right_std
    r_hat = np.mean(np.abs(block)) ** 2 / np.mean(block**2)
    r_hat_norm = r_hat * (gamma_hat**3 + 1) * (gamma_hat + 1) / (gamma_hat**2 + 1) ** 2
    alpha = _ALPHAS[np.argmin((_RATIOS - r_hat_norm) ** 2)]
    scale = np.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left_std * scale, right_std * scale
