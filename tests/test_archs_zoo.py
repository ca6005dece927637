"""DUF, TOFlow and HiFaceGAN (+ its discriminator) against BasicSR 1.4.2's own outputs, DUF's
downsampling against BasicSR's duf_downsample, and the three models' input guards.

Source: tests/data/forward_basicsr_zoo.npz + .json, written by
tests/data/make_forward_basicsr_zoo.py from BasicSR 1.4.2's source files (PyPI sdist): per
configuration the BasicSR class, kwargs, mode (eval, or train: batch statistics and a
spectral-norm power iteration), input and outputs. The weights are drawn again here by the
script's reference_state (seeded, in state_dict order); the json's per-tensor sums show that the
draw is the same one."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from srlab.archs import build
from srlab.checkpoints import CheckpointMismatchError, load
from srlab.degradations import duf_degrade, duf_kernel

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "forward_basicsr_zoo.json").read_text())
CONFIGS = [name for name in REFERENCE if name != "duf_downsample"]
# HiFaceGAN's first forward pass costs seconds (one-time kernel setup for its many conv shapes).
PARAMS = [
    pytest.param(name, marks=pytest.mark.slow) if name.startswith("hifacegan") else name
    for name in CONFIGS
]
ARCH = {
    "DUF": "duf",
    "TOFlow": "tof",
    "HiFaceGAN": "hifacegan",
    "HiFaceGANDiscriminator": "hifacegan_discriminator",
}


def _maker():
    spec = importlib.util.spec_from_file_location("maker", DATA / "make_forward_basicsr_zoo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(DATA / "forward_basicsr_zoo.npz") as f:
        return dict(f)


def test_every_basicsr_class_and_mode_is_compared():
    entries = [REFERENCE[c] for c in CONFIGS]
    assert {e["basicsr_class"] for e in entries} == set(ARCH)
    assert {e["kwargs"]["num_layer"] for e in entries if e["basicsr_class"] == "DUF"} == {
        16,
        28,
        52,
    }
    assert {e["mode"] for e in entries} == {"eval", "train"}


@pytest.mark.parametrize("name", PARAMS)
def test_output_matches_basicsr(golden, name):
    """Bit-equal was measured (max |difference| 0.0 on every output); the tolerance only allows
    for another summation order on another CPU."""
    entry = REFERENCE[name]
    model = build(ARCH[entry["basicsr_class"]], **entry["kwargs"])
    state = MAKER.reference_state(model, MAKER.SEED)
    sums = {k: float(v.double().sum()) for k, v in state.items()}
    assert sums == pytest.approx(entry["state_sums"], rel=1e-9, abs=1e-9), "not the same weights"
    load(model, {"params": state}, strict=True)
    model.train(entry["mode"] == "train")
    x = torch.from_numpy(golden[f"{name}/input"])
    with torch.no_grad():
        raw = model.generate(x) if entry["basicsr_class"] == "HiFaceGAN" else model(x)
    outputs = MAKER.flatten(raw)
    assert list(outputs) == entry["outputs"]
    for key, out in outputs.items():
        expected = torch.from_numpy(golden[f"{name}/{key}"])
        torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_hifacegan_forward_is_the_tanh_output_clipped_to_the_image_range():
    torch.manual_seed(0)
    model = build("hifacegan", num_feat=4).eval()
    x = torch.rand(1, 3, 32, 64)
    with torch.no_grad():
        raw, out = model.generate(x), model(x)
    assert raw.min() < 0 <= out.min()  # the random net's tanh output goes negative
    torch.testing.assert_close(out, raw.clamp(0, 1))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_duf_degrade_matches_basicsr_duf_downsample(golden, scale):
    frames = torch.from_numpy(golden["duf_downsample/input"])  # (1, 2, 3, 36, 48)
    expected = torch.from_numpy(golden[f"duf_downsample/x{scale}"])
    torch.testing.assert_close(duf_degrade(frames, scale), expected, rtol=0, atol=1e-7)
    kernel = duf_kernel(scale)
    assert kernel.shape == (13, 13) and float(kernel.sum()) == pytest.approx(1.0, abs=1e-12)


def test_duf_degrade_errors():
    with pytest.raises(ValueError, match="scale must be one of"):
        duf_degrade(torch.rand(3, 32, 32), 8)
    with pytest.raises(ValueError, match="divisible by scale=3"):
        duf_degrade(torch.rand(3, 32, 32), 3)
    with pytest.raises(ValueError, match="larger than 6 pixels"):
        duf_degrade(torch.rand(3, 4, 8), 2)


@pytest.mark.parametrize("arch", ["duf", "tof"])
def test_video_models_need_exactly_seven_frames(arch):
    kwargs = dict(num_layer=16, scale=2) if arch == "duf" else {}
    model = build(arch, **kwargs).eval()
    with pytest.raises(ValueError, match="exactly 7 frames.*shape \\(1, 5, 3, 16, 16\\)"):
        model(torch.rand(1, 5, 3, 16, 16))


def test_tof_and_hifacegan_name_their_divisibility_rule():
    with pytest.raises(ValueError, match="multiples of 16.*got 24x32"):
        build("tof")(torch.rand(1, 7, 3, 24, 32))
    hifacegan = build("hifacegan", num_feat=4)
    for shape in [(1, 3, 48, 32), (1, 3, 32, 32)]:
        with pytest.raises(ValueError, match=f"multiples of 32.*{shape[2]}, {shape[3]}\\)"):
            hifacegan(torch.rand(shape))
    with pytest.raises(ValueError, match="norm_g must look like"):
        build("hifacegan", num_feat=4, norm_g="spectralspadegroup3x3")
    with pytest.raises(ValueError, match="norm_d must be"):
        build("hifacegan_discriminator", norm_d="spectralgroup")
    with pytest.raises(ValueError, match="6 channels"):
        build("hifacegan_discriminator", num_feat=8)(torch.rand(1, 3, 32, 32))


def test_duf_arguments_are_checked():
    with pytest.raises(ValueError, match="num_layer must be one of \\(16, 28, 52\\)"):
        build("duf", num_layer=18)
    with pytest.raises(ValueError, match="scale must be one of \\(2, 3, 4\\)"):
        build("duf", scale=8)


def test_a_checkpoint_of_another_duf_depth_or_scale_says_which_it_is():
    with torch.device("meta"):
        small = build("duf_16l_x2")
    state = {k: torch.zeros(v.shape, dtype=v.dtype) for k, v in small.state_dict().items()}
    with pytest.raises(
        CheckpointMismatchError, match="checkpoint is DUF 16L x2.*model is DUF 52L x4"
    ):
        load(build("duf_52l_x4"), {"params": state})
    with pytest.raises(
        CheckpointMismatchError, match="checkpoint is DUF 16L x2.*model is DUF 16L x4"
    ):
        load(build("duf_16l_x4"), {"params": state})
