"""Tests for srlab.niqe: BasicSR agreement on recorded outputs, per-image shapes, the shipped
pristine model, and input errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from srlab.io import to_tensor
from srlab.niqe import PARAMS_PATH, niqe, pristine_params

# Recorded with BasicSR 1.4.2 (PyPI): calculate_niqe(bgr, crop_border, input_order="HWC",
# convert_to="y") on six 288x288 crops; see tests/data/README.md.
GOLDEN = Path(__file__).parent / "data" / "niqe_basicsr.npz"
NAMES = ("astronaut", "chelsea", "coffee", "rocket", "astronaut_noise", "astronaut_blurry")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as f:
        return dict(f)


@pytest.mark.slow
@pytest.mark.parametrize("crop_border", [0, 4])
def test_golden_basicsr(golden, crop_border):
    images = torch.stack([to_tensor(golden[f"img_{name}"]) for name in NAMES])  # (6, 3, 288, 288)
    ours = niqe(images, crop_border=crop_border)
    theirs = torch.tensor([float(golden[f"niqe_{name}_crop{crop_border}"]) for name in NAMES])
    assert ours.shape == (len(NAMES),) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, theirs.double(), rtol=0, atol=1e-3)


def test_distortions_score_worse(golden):
    clean, noisy, blurry = (
        float(niqe(to_tensor(golden[f"img_{n}"]), crop_border=0))
        for n in ("astronaut", "astronaut_noise", "astronaut_blurry")
    )
    assert clean < noisy and clean < blurry


def test_single_image_is_a_scalar_and_batches_are_per_image(golden):
    x = to_tensor(golden["img_chelsea"])[:, :100, :200]  # two 96x96 blocks
    one = niqe(x, crop_border=0)
    assert one.shape == ()
    both = niqe(torch.stack([x, x.flip(-1)]), crop_border=0)
    assert both.shape == (2,)
    assert float(both[0]) == float(one)


def test_pristine_model_is_the_shipped_file():
    digest = hashlib.sha256(PARAMS_PATH.read_bytes()).hexdigest()
    readme = (PARAMS_PATH.parent / "README.md").read_text()
    assert digest in readme, "the README's SHA-256 must be the shipped file's"
    assert "Apache" in readme and "BasicSR" in readme  # the attribution sits beside the numbers
    mu, cov, window = pristine_params()
    assert mu.shape == (36,) and cov.shape == (36, 36) and window.shape == (7, 7)
    np.testing.assert_allclose(cov, cov.T)
    assert abs(window.sum() - 1) < 1e-6
    pyproject = (ROOT / "pyproject.toml").read_text()  # installed with srlab, as package data
    assert '"metric_params/*.npz"' in pyproject and '"metric_params/*.md"' in pyproject


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(img=torch.rand(3, 95, 200), crop_border=0), ValueError, "two 96x96 blocks"),
        (dict(img=torch.rand(3, 100, 191), crop_border=0), ValueError, "two 96x96 blocks"),
        (dict(img=torch.rand(3, 100, 200), crop_border=4), ValueError, "leaves 92x192"),
        (dict(img=torch.rand(3, 100, 200), crop_border=-1), ValueError, "crop_border"),
        (dict(img=torch.rand(1, 100, 200), crop_border=0), ValueError, "3 channels"),
        (dict(img=torch.rand(3, 100, 200) * 255, crop_border=0), ValueError, r"\[0, 1\]"),
        (dict(img=np.zeros((100, 200, 3)), crop_border=0), TypeError, "torch.Tensor"),
        (dict(img=torch.ones(3, 100, 200), crop_border=0), ValueError, "only 0 of its 2 96x96"),
    ],
)
def test_bad_input_is_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        niqe(kwargs["img"], crop_border=kwargs["crop_border"])
