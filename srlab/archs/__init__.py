"""Architectures by name: ARCHS (name -> class), PRESETS (the papers' settings) and build().

    model = build("rcan_x4")                   # a preset: the published configuration
    model = build("rcan_x4", use_ca=False)     # the same, with one ablation switch flipped
    model = build("edsr", num_block=4)         # an arch name: its constructor defaults + overrides

    model = load_model("runs/rcan/latest.pth") # an srlab checkpoint: rebuilt by name, then loaded

Constructor arguments and state_dict keys are BasicSR's, so its checkpoints load with
srlab.checkpoints.load(model, path)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path

from torch import nn

from srlab import checkpoints
from srlab.archs.basicvsr import BasicVSR
from srlab.archs.discriminator import VGGStyleDiscriminator
from srlab.archs.duf import DUF
from srlab.archs.edsr import EDSR
from srlab.archs.edvr import EDVR
from srlab.archs.hifacegan import HiFaceGAN, HiFaceGANDiscriminator
from srlab.archs.iconvsr import IconVSR
from srlab.archs.rcan import RCAN
from srlab.archs.rrdbnet import RRDBNet
from srlab.archs.spynet import SpyNet
from srlab.archs.srresnet import MSRResNet
from srlab.archs.tof import TOFlow
from srlab.checks import check_int

ARCHS: dict[str, type[nn.Module]] = {
    "edsr": EDSR,
    "rcan": RCAN,
    "msrresnet": MSRResNet,
    "rrdbnet": RRDBNet,
    "vgg_discriminator": VGGStyleDiscriminator,
    "spynet": SpyNet,
    "basicvsr": BasicVSR,
    "iconvsr": IconVSR,
    "edvr": EDVR,
    "duf": DUF,
    "tof": TOFlow,
    "hifacegan": HiFaceGAN,
    "hifacegan_discriminator": HiFaceGANDiscriminator,
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
    # SPyNet as BasicVSR uses it: 6 pyramid levels, 1,440,300 parameters.
    "spynet": ("spynet", dict()),
    # BasicVSR paper (REDS and Vimeo-90K models): 64 channels, 30 residual blocks per branch.
    "basicvsr": ("basicvsr", dict(num_feat=64, num_block=30)),
    # IconVSR: keyframe every 5 frames; the refill extractor sees 5 frames on REDS, 7 on Vimeo.
    "iconvsr_reds": (
        "iconvsr",
        dict(num_feat=64, num_block=30, keyframe_stride=5, temporal_padding=2),
    ),
    "iconvsr_vimeo": (
        "iconvsr",
        dict(num_feat=64, num_block=30, keyframe_stride=5, temporal_padding=3),
    ),
    # EDVR paper: EDVR-M 64 channels, 5 + 10 blocks; EDVR-L 128 channels, 5 + 40 blocks; 5 frames.
    "edvr_m": (
        "edvr",
        dict(num_feat=64, num_frame=5, num_extract_block=5, num_reconstruct_block=10),
    ),
    "edvr_l": (
        "edvr",
        dict(num_feat=128, num_frame=5, num_extract_block=5, num_reconstruct_block=40),
    ),
    # DUF paper: 7 frames; BasicSR's official (TensorFlow-converted) checkpoints are 16L x2/x3/x4,
    # 28L x4 and 52L x4, and need the TensorFlow batch-norm eps (adapt_official_weights=True).
    "duf_16l_x2": ("duf", dict(scale=2, num_layer=16, adapt_official_weights=True)),
    "duf_16l_x3": ("duf", dict(scale=3, num_layer=16, adapt_official_weights=True)),
    "duf_16l_x4": ("duf", dict(scale=4, num_layer=16, adapt_official_weights=True)),
    "duf_28l_x4": ("duf", dict(scale=4, num_layer=28, adapt_official_weights=True)),
    "duf_52l_x4": ("duf", dict(scale=4, num_layer=52, adapt_official_weights=True)),
    # TOFlow: 7 bicubic-upsampled frames; the official checkpoint wants the reference frame first.
    "tof": ("tof", dict(adapt_official_weights=True)),
    # HiFaceGAN as BasicSR's train/test_hifacegan.yml: width 48, SPADE with batch norm, all 4
    # upsampling blocks; its multi-scale discriminator: 2 scales, 4 layers, spectral+instance norm.
    "hifacegan": (
        "hifacegan",
        dict(num_feat=48, norm_g="spectralspadebatch3x3", is_train=False),
    ),
    "hifacegan_discriminator": (
        "hifacegan_discriminator",
        dict(num_d=2, n_layers_d=4, num_feat=64, norm_d="spectralinstance"),
    ),
}

# The image SR presets and their upscaling factor: the presets whose settings name one (BasicSR
# calls it `upscale`, RRDBNet `scale`). Video and flow models and discriminators have none, except
# DUF (a video model with a `scale`).
IMAGE_SR_PRESETS: dict[str, int] = {
    name: kwargs.get("upscale", kwargs.get("scale"))
    for name, (arch, kwargs) in PRESETS.items()
    if ("upscale" in kwargs or "scale" in kwargs) and arch != "duf"
}


# Integer arguments, by name: counts of channels, frames and factors must be at least 1; counts
# of blocks, groups and padding frames may be 0 (an empty trunk is a legal, if useless, model).
AT_LEAST_ONE = (
    "num_in_ch", "num_out_ch", "num_feat", "num_feat_hr", "num_grow_ch", "num_frame",
    "squeeze_factor", "deformable_groups", "upscale", "scale", "input_size",
)  # fmt: skip
AT_LEAST_ZERO = (
    "num_block", "num_group", "num_extract_block", "num_reconstruct_block", "keyframe_stride",
    "temporal_padding", "center_frame_idx",
)  # fmt: skip

# What one argument implies for another, per arch: checked before the constructor runs, so that the
# error names the arguments rather than a layer deep inside. (test, message with the arguments).
RULES: dict[str, list[tuple]] = {
    "rcan": [(
        lambda a: a["num_feat"] // a["squeeze_factor"] >= 1,
        "RCAN's channel attention squeezes num_feat={num_feat} channels to num_feat // "
        "squeeze_factor={squeeze_factor} = 0 channels: num_feat must be at least squeeze_factor",
    )],
    "edvr": [(
        lambda a: a["num_feat"] % a["deformable_groups"] == 0,
        "EDVR's deformable convolutions split num_feat={num_feat} channels into "
        "deformable_groups={deformable_groups} groups: num_feat must be a multiple of "
        "deformable_groups",
    )],
    "iconvsr": [(
        lambda a: not a["use_refill"] or a["num_feat"] % 8 == 0,
        "IconVSR's refill runs EDVR's alignment, whose deformable convolutions split num_feat="
        "{num_feat} channels into 8 groups: num_feat must be a multiple of 8 (or use_refill=False)",
    )],
}  # fmt: skip


def build(name: str, **overrides) -> nn.Module:
    """Build a preset or an arch by name; `overrides` replace or add constructor arguments.

    Integer arguments and the arch's RULES are checked first, by argument name. The result
    carries model.srlab_config = {"arch": arch name, "kwargs": every argument given}, which
    srlab.checkpoints.save stores so that load_model can rebuild the same model."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a preset or an arch name (str), got {name!r}")
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
    params = {k: p for k, p in inspect.signature(cls.__init__).parameters.items() if k != "self"}
    unknown = [k for k in kwargs if k not in params]
    if unknown:
        raise TypeError(
            f"{cls.__name__} ({name!r}) got unknown argument(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(params)}"
        )
    args = {k: p.default for k, p in params.items()} | kwargs  # every argument, as it will be
    for key in AT_LEAST_ONE + AT_LEAST_ZERO:
        if key in args and args[key] is not None:
            check_int(args[key], f"{cls.__name__} {key}", low=1 if key in AT_LEAST_ONE else 0)
    for test, message in RULES.get(arch, []):
        if not test(args):
            raise ValueError(message.format(**args))
    model = cls(**kwargs)
    model.srlab_config = {"arch": arch, "kwargs": kwargs}
    return model


def load_model(path: str | os.PathLike) -> nn.Module:
    """Rebuild the model an srlab checkpoint names (srlab.checkpoints.save) and load its weights
    strictly; errors name the file. Returned in eval mode (call .train() to continue training)."""
    checkpoint = checkpoints.read(path)
    info = checkpoint.get("srlab")
    if not isinstance(info, Mapping) or "arch" not in info:
        raise ValueError(
            f"{path} is not an srlab checkpoint (no 'srlab' entry naming the arch); build the "
            "model with srlab.archs.build and call srlab.checkpoints.load(model, path)"
        )
    arch, kwargs = info["arch"], info.get("kwargs", {})
    if arch not in ARCHS and arch not in PRESETS:
        raise ValueError(
            f"{path} holds a {arch!r} model (saved by srlab {info.get('version', '?')}), "
            f"which this srlab does not know; archs: {', '.join(ARCHS)}"
        )
    try:
        model = build(arch, **kwargs)
    except (TypeError, ValueError) as err:
        raise type(err)(f"{path}: cannot rebuild its {arch!r} model: {err}") from err
    return checkpoints.load(model, checkpoint, strict=True, source=path).eval()


def pretrained(name: str) -> nn.Module:
    """A small model that srlab trained on its embedded data and ships in srlab/weights/, by name
    (e.g. "edsr_tiny_x4"; the model card, srlab/weights/README.md, lists them with their data,
    recipe, test PSNR against bicubic and the command that retrains them). Returned in eval mode.

    The file is read by srlab.checkpoints.read (weights_only=True) and loaded strictly. A BasicVSR
    file holds everything but its SpyNet, which is the shipped SpyNet file it names (stored once).
    Official BasicSR weights load as before: build(preset) and srlab.checkpoints.load."""
    weights = Path(__file__).resolve().parents[1] / "weights"
    if name not in pretrained_names():
        raise ValueError(
            f"no shipped model {name!r}; srlab ships: {', '.join(pretrained_names())} "
            "(for official BasicSR weights: build(preset), then srlab.checkpoints.load)"
        )
    checkpoint = checkpoints.read(weights / f"{name}.pth")
    model = build(checkpoint["srlab"]["arch"], **checkpoint["srlab"]["kwargs"])
    params = dict(checkpoint["params"])
    if "spynet_file" in checkpoint:
        spynet = checkpoints.read(weights / checkpoint["spynet_file"])
        params.update({f"spynet.{k}": v for k, v in spynet["params"].items()})
    model.load_state_dict(params, strict=True)
    return model.eval()


def pretrained_names() -> list[str]:
    """The names `pretrained` accepts: the models srlab ships in srlab/weights/, sorted."""
    weights = Path(__file__).resolve().parents[1] / "weights"
    return sorted(p.stem for p in weights.glob("*.pth") if not p.name.startswith("spynet_"))
