"""Image architectures against BasicSR's own outputs: each srlab arch, given a BasicSR state_dict
with strict=True, reproduces BasicSR's output on the same input.

Source: tests/data/forward_basicsr.npz + .json (see tests/data/README.md), written with BasicSR
1.4.2 from PyPI: tiny EDSR x2/x3/x4, RCAN, MSRResNet x3/x4, RRDBNet x2/x4 and the VGG
discriminator, each with its constructor kwargs, its seeded state_dict (key order too), one input
and BasicSR's float32 output. Keys and shapes alone (test_archs_manifest.py) cannot see a forward
pass that differs, e.g. a residual scaled twice or a mean subtracted in the wrong place."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_archs_manifest import ARCH_OF_BASICSR_CLASS  # BasicSR class -> srlab arch

from srlab.archs import ARCHS, build
from srlab.checkpoints import load

DATA = Path(__file__).parent / "data"
REFERENCE = json.loads((DATA / "forward_basicsr.json").read_text())
VIDEO_AND_FLOW = {"spynet", "basicvsr", "iconvsr", "edvr"}  # pinned in test_video_archs.py
ZOO = {"duf", "tof", "hifacegan", "hifacegan_discriminator"}  # compared in test_archs_zoo.py
# float32, the same convolutions summed in another order: measured at most 1.2e-7 on outputs of
# magnitude up to 1.06 (MSRResNet); an error in the forward pass moves outputs by far more.
RTOL, ATOL = 1e-5, 1e-6


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(DATA / "forward_basicsr.npz") as f:
        return dict(f)


def test_every_image_arch_is_compared_with_basicsr():
    compared = {ARCH_OF_BASICSR_CLASS[e["basicsr_class"]] for e in REFERENCE.values()}
    assert compared == set(ARCHS) - VIDEO_AND_FLOW - ZOO
    assert len(REFERENCE) == 9


@pytest.mark.parametrize("name", REFERENCE)
def test_output_matches_basicsr(golden, name):
    entry = REFERENCE[name]
    model = build(ARCH_OF_BASICSR_CLASS[entry["basicsr_class"]], **entry["kwargs"])
    assert list(model.state_dict()) == entry["keys"]  # BasicSR's order, too
    state = {k: torch.from_numpy(golden[f"{name}/sd/{k}"]) for k in entry["keys"]}
    load(model, {"params": state}, strict=True)
    x, expected = (
        torch.from_numpy(golden[f"{name}/input"]),
        torch.from_numpy(golden[f"{name}/output"]),
    )
    with torch.no_grad():
        out = model.eval()(x)
    assert out.dtype == torch.float32 and out.shape == expected.shape
    torch.testing.assert_close(out, expected, rtol=RTOL, atol=ATOL)
