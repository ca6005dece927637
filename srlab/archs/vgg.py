"""VGG19's convolutional part, as a feature extractor for perceptual losses: Simonyan and Zisserman,
"Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015, arXiv:1409.1556.

Keys follow torchvision's `vgg19().features` ("features.0.weight", ... "features.34.bias"), so the
ImageNet file a user already has, torchvision's `vgg19-dcbb9e9d.pth` (the one BasicSR's
PerceptualLoss reads), loads with torch.load(weights_only=True) and strict key and shape checks;
its classifier weights are not needed for features and are skipped. srlab never downloads it.
Layers are named as in BasicSR's VGGFeatureExtractor: conv{block}_{i}, relu{block}_{i}, pool{block}.

Without a weights file, `VGG19Features(weights=None)` draws fixed random weights from its own
seeded generator (Kaiming normal, zero biases): the same network on every machine and every call.
Random-weight networks are usable perceptual losses (Liu et al., "Generic Perceptual Loss for
Modeling Structured Output Dependencies", CVPR 2021), but they are not ImageNet's VGG19, and every
result made with one must say so: `VGG19Features.source` is the sentence to print."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn.utils import skip_init

from srlab.checkpoints import read
from srlab.checks import check_tensor

# torchvision's configuration "E" (VGG19): channels per conv, "M" a 2x2 max pool.
_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512,
        512, 512, "M")  # fmt: skip


def _layer_names() -> list[str]:
    """BasicSR's names of the 37 modules of vgg19().features, in order: conv1_1, relu1_1, ...,
    pool5."""
    names, block, i = [], 1, 1
    for item in _CFG:
        if item == "M":
            names.append(f"pool{block}")
            block, i = block + 1, 1
        else:
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            i += 1
    return names


LAYER_NAMES: tuple[str, ...] = tuple(_layer_names())
RANDOM_SEED = 0  # the seed of the fixed random-weight VGG19


class VGG19Features(nn.Module):
    """The 16 convs (3x3, ReLU) and 5 max pools of VGG19, cut after the deepest requested layer.

    layers: names from LAYER_NAMES whose outputs forward() returns ("conv5_4": before its ReLU,
        "relu5_4": after it).
    weights: a torchvision VGG19 state_dict file (e.g. vgg19-dcbb9e9d.pth) or None for the fixed
        random-weight network. The parameters are frozen (requires_grad=False).
    x: (b, 3, h, w) RGB in [0, 1] -> {name: (b, c, h / 2^k, w / 2^k)}; ImageNet's mean and std
    are applied first, as torchvision's weights expect."""

    def __init__(
        self, layers: tuple[str, ...] = ("conv5_4",), weights: str | os.PathLike | None = None
    ):
        super().__init__()
        layers = tuple(layers)
        unknown = [name for name in layers if name not in LAYER_NAMES]
        if unknown or not layers:
            raise ValueError(
                f"unknown VGG19 layer(s) {unknown or layers!r}; "
                f"choose from {', '.join(LAYER_NAMES)}"
            )
        self.layers = layers
        depth = max(LAYER_NAMES.index(name) for name in layers) + 1
        modules, c_in = [], 3
        for item in _CFG:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                # skip_init: no default init, which would draw from (and advance) the global RNG;
                # every weight is set below, from the file or from the private generator.
                modules += [skip_init(nn.Conv2d, c_in, item, 3, 1, 1), nn.ReLU()]
                c_in = item
        self.features = nn.Sequential(*modules[:depth])  # torchvision's indices: features.0, ...
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), False)

        if weights is None:
            self._init_random()
            self.source = (
                f"random-weight VGG19 (fixed, seed {RANDOM_SEED}; no ImageNet weights given: "
                "not comparable with results that use ImageNet VGG19)"
            )
        else:
            digest = self.load_torchvision(weights)
            self.source = f"ImageNet VGG19 from {Path(weights).name} (sha256 {digest[:12]})"
        self.pretrained = weights is not None
        self.requires_grad_(False).eval()

    def _init_random(self) -> None:
        """Kaiming normal (fan_out, as torchvision initialises VGG) from a private generator, so
        the weights do not depend on, or change, the global RNG."""
        g = torch.Generator().manual_seed(RANDOM_SEED)
        with torch.no_grad():
            for m in self.features:
                if isinstance(m, nn.Conv2d):
                    fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (2 / fan_out) ** 0.5)
                    m.bias.zero_()

    def load_torchvision(self, path: str | os.PathLike) -> str:
        """Load torchvision VGG19 weights (its "features.*" keys; "classifier.*" is ignored) and
        return the file's SHA-256. A file that is not VGG19 (VGG16, a BN variant, an SR
        checkpoint) is a ValueError naming what differs."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vgg_weights: no file {path}")
        state = read(path)
        if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
            raise ValueError(f"vgg_weights {path} is not a state_dict")
        full = self._full_vgg19_shapes()
        features = {k: v for k, v in state.items() if k.startswith("features.")}
        missing = [k for k in full if k not in features]
        unexpected = [k for k in features if k not in full]
        mismatched = [
            f"{k} {tuple(v.shape)} (VGG19: {full[k]})"
            for k, v in features.items()
            if k in full and tuple(v.shape) != full[k]
        ]
        if missing or unexpected or mismatched:
            raise ValueError(
                f"vgg_weights {path} is not torchvision's VGG19 (vgg19-dcbb9e9d.pth): "
                f"{len(missing)} VGG19 keys missing {missing[:4]}, {len(unexpected)} unexpected "
                f"{unexpected[:4]}, {len(mismatched)} of another shape {mismatched[:4]}"
            )
        own = self.state_dict()
        self.load_state_dict({k: features[k] for k in own}, strict=True)
        return hashlib.sha256(path.read_bytes()).hexdigest()

    @staticmethod
    def _full_vgg19_shapes() -> dict[str, tuple[int, ...]]:
        """Key -> shape of all 32 tensors of torchvision's vgg19().features."""
        shapes, index, c_in = {}, 0, 3
        for item in _CFG:
            if item == "M":
                index += 1
                continue
            shapes[f"features.{index}.weight"] = (item, c_in, 3, 3)
            shapes[f"features.{index}.bias"] = (item,)
            index, c_in = index + 2, item
        return shapes

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        check_tensor(x, "x")
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be (b, 3, h, w) RGB, got shape {tuple(x.shape)}")
        x = (x - self.mean) / self.std
        out = {}
        for name, module in zip(LAYER_NAMES, self.features, strict=False):
            x = module(x)  # ReLU is not in place: a conv's output stays the pre-activation one
            if name in self.layers:
                out[name] = x
        return out

    def extra_repr(self) -> str:
        return f"layers={self.layers}, source={self.source!r}"
