"""Architectures by name: ARCHS (name -> class), PRESETS (the papers' settings) and build().

    model = build("rcan_x4")                   # a preset: the published configuration
    model = build("rcan_x4", use_ca=False)     # the same, with one ablation switch flipped
    model = build("edsr", num_block=4)         # an arch name: its constructor defaults + overrides

Constructor arguments and state_dict keys are BasicSR's, so its checkpoints load with
srlab.checkpoints.load(model, path)."""

from __future__ import annotations

import inspect

from torch import nn

from srlab.archs.discriminator import VGGStyleDiscriminator
from srlab.archs.edsr import EDSR
from srlab.archs.rcan import RCAN
from srlab.archs.rrdbnet import RRDBNet
from srlab.archs.srresnet import MSRResNet

ARCHS: dict[str, type[nn.Module]] = {
    "edsr": EDSR,
    "rcan": RCAN,
    "msrresnet": MSRResNet,
    "rrdbnet": RRDBNet,
    "vgg_discriminator": VGGStyleDiscriminator,
}

# The papers' settings live here, next to the code, not in config files.
PRESETS: dict[str, tuple[str, dict]] = {
    # EDSR paper, model specifications: baseline f64 b16; EDSR f256 b32 with residual scaling 0.1.
    "edsr_baseline_x2": ("edsr", dict(upscale=2, num_feat=64, num_block=16)),
    "edsr_baseline_x3": ("edsr", dict(upscale=3, num_feat=64, num_block=16)),
    "edsr_baseline_x4": ("edsr", dict(upscale=4, num_feat=64, num_block=16)),
    "edsr_x2": ("edsr", dict(upscale=2, num_feat=256, num_block=32, res_scale=0.1)),
    "edsr_x3": ("edsr", dict(upscale=3, num_feat=256, num_block=32, res_scale=0.1)),
    "edsr_x4": ("edsr", dict(upscale=4, num_feat=256, num_block=32, res_scale=0.1)),
    # RCAN paper: G=10 residual groups of B=20 RCABs, C=64, reduction 16.
    "rcan_x2": ("rcan", dict(upscale=2, num_feat=64, num_group=10, num_block=20)),
    "rcan_x3": ("rcan", dict(upscale=3, num_feat=64, num_group=10, num_block=20)),
    "rcan_x4": ("rcan", dict(upscale=4, num_feat=64, num_group=10, num_block=20)),
    "rcan_x8": ("rcan", dict(upscale=8, num_feat=64, num_group=10, num_block=20)),
    # BasicSR's MSRResNet: 64 channels, 16 blocks.
    "msrresnet_x2": ("msrresnet", dict(upscale=2, num_feat=64, num_block=16)),
    "msrresnet_x3": ("msrresnet", dict(upscale=3, num_feat=64, num_block=16)),
    "msrresnet_x4": ("msrresnet", dict(upscale=4, num_feat=64, num_block=16)),
    # ESRGAN paper: 23 RRDBs, 64 channels, growth 32.
    "esrgan_x4": ("rrdbnet", dict(scale=4, num_feat=64, num_block=23, num_grow_ch=32)),
    # SRGAN/ESRGAN discriminator for 128x128 GT patches.
    "vgg_discriminator_128": ("vgg_discriminator", dict(num_feat=64, input_size=128)),
}


def build(name: str, **overrides) -> nn.Module:
    """Build a preset or an arch by name; `overrides` replace or add constructor arguments.

    The result carries model.srlab_config = {"arch": arch name, "kwargs": every argument given},
    which srlab.checkpoints.save stores so that load_model can rebuild the same model."""
    if name in PRESETS:
        arch, preset_kwargs = PRESETS[name]
        kwargs = {**preset_kwargs, **overrides}
    elif name in ARCHS:
        arch, kwargs = name, dict(overrides)
    else:
        raise ValueError(
            f"unknown model {name!r}; presets: {', '.join(PRESETS)}; archs: {', '.join(ARCHS)}"
        )
    cls = ARCHS[arch]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = [k for k in kwargs if k not in accepted]
    if unknown:
        raise TypeError(
            f"{cls.__name__} ({name!r}) got unknown argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted)}"
        )
    model = cls(**kwargs)
    model.srlab_config = {"arch": arch, "kwargs": kwargs}
    return model
