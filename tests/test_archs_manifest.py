"""Weight compatibility with BasicSR: every published configuration builds here with exactly
BasicSR's state_dict keys (in order), shapes and parameter count, and a state_dict with those keys
loads with strict=True.

Source: tests/data/basicsr_state_dicts.json.gz, a gzip of the project's shared/reference/
basicsr_state_dicts.json, unchanged (tests/data/README.md gives its checksum). It lists, for each
configuration, the BasicSR 1.4.2 (PyPI) class, its constructor kwargs, num_params and the
state_dict keys with shapes, all computed with BasicSR itself."""

import gzip
import json
from pathlib import Path

import pytest
import torch

from srlab.archs import build
from srlab.checkpoints import load

MANIFEST_FILE = Path(__file__).parent / "data" / "basicsr_state_dicts.json.gz"
MANIFEST = json.loads(gzip.decompress(MANIFEST_FILE.read_bytes()))

# BasicSR class -> srlab arch. A manifest entry is tested once its class is listed here.
ARCH_OF_BASICSR_CLASS = {
    "EDSR": "edsr",
    "RCAN": "rcan",
    "MSRResNet": "msrresnet",
    "RRDBNet": "rrdbnet",
    "VGGStyleDiscriminator": "vgg_discriminator",
    "SpyNet": "spynet",
    "BasicVSR": "basicvsr",
    "IconVSR": "iconvsr",
    "EDVR": "edvr",
    "DUF": "duf",
    "TOFlow": "tof",
    "HiFaceGAN": "hifacegan",
    "HiFaceGANDiscriminator": "hifacegan_discriminator",
}
CONFIGS = [c for c, e in MANIFEST.items() if e["basicsr_class"] in ARCH_OF_BASICSR_CLASS]


def build_like_basicsr(config: str, device: str) -> torch.nn.Module:
    entry = MANIFEST[config]
    with torch.device(device):  # "meta": shapes only, no memory, no init time
        return build(ARCH_OF_BASICSR_CLASS[entry["basicsr_class"]], **entry["kwargs"])


def test_image_configs_are_all_covered():
    image = {
        "edsr_baseline_x2",
        "edsr_baseline_x4",
        "edsr_x2",
        "rcan_x2",
        "rcan_x3",
        "msrresnet_x4",
        "rrdbnet_x4",
        "vgg_discriminator_128",
    }
    assert image <= set(CONFIGS)


def test_video_configs_are_all_covered():
    assert {"spynet", "basicvsr", "iconvsr", "edvr_m", "edvr_l"} <= set(CONFIGS)


def test_zoo_configs_are_all_covered():
    duf = {"duf_16l_x2", "duf_16l_x3", "duf_16l_x4", "duf_28l_x4", "duf_52l_x4"}
    official = {"duf_52l_x4_official", "tof", "tof_official"}
    assert duf | official | {"hifacegan", "hifacegan_discriminator"} <= set(CONFIGS)
    assert set(CONFIGS) == set(MANIFEST)  # every BasicSR class in the manifest is implemented


@pytest.mark.parametrize("config", CONFIGS)
def test_keys_shapes_and_param_count_match_basicsr(config):
    entry = MANIFEST[config]
    model = build_like_basicsr(config, "meta")
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = dict(entry["state_dict"])
    assert [k for k in theirs if k not in ours] == [], "missing keys"
    assert [k for k in ours if k not in theirs] == [], "unexpected keys"
    assert {k: (v, theirs[k]) for k, v in ours.items() if v != theirs[k]} == {}, "shapes"
    assert list(ours) == list(theirs)  # same order, too
    assert sum(p.numel() for p in model.parameters()) == entry["num_params"]


@pytest.mark.parametrize("config", CONFIGS)
def test_basicsr_state_dict_loads_strictly(config):
    """A checkpoint shaped like BasicSR's (BasicSR's {"params": ...} layout) loads
    with strict=True through srlab.checkpoints.load, and every value lands in the model."""
    # A different value in every tensor (cheaper than random numbers for 40M parameters).
    state = {
        k: torch.tensor(i) if k.endswith("num_batches_tracked") else torch.full(shape, i / 7)
        for i, (k, shape) in enumerate(MANIFEST[config]["state_dict"])
    }
    # Built on meta, then given uninitialised CPU memory: no time spent on a random init that
    # the load overwrites anyway (the full models have up to 40M parameters).
    model = build_like_basicsr(config, "meta").to_empty(device="cpu")
    load(model, {"params": state}, strict=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
