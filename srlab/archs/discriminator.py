"""The VGG-style discriminator of SRGAN ("Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", Ledig et al., CVPR 2017, arXiv:1609.04802, Fig. 4), as used by
ESRGAN (Wang et al., ECCVW 2018, arXiv:1809.00219).

Names follow BasicSR's `VGGStyleDiscriminator` (basicsr/archs/discriminator_arch.py), so its
released checkpoints load with strict=True, and the forward pass does the same operations."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from srlab.checks import check_tensor


class VGGStyleDiscriminator(nn.Module):
    """Five (six for 256x256) stages of conv3x3 + conv4x4/stride 2, batch norm and leaky ReLU 0.2,
    halving the resolution down to 4x4, then two linear layers to one logit per image.
    input_size 128 and 256 are BasicSR's (its keys and shapes); 32 and 64 keep the same design with
    three and four stages (widths num_feat, 2x, 4x, 8x), for GAN training on CPU-sized patches.

    x: (b, num_in_ch, input_size, input_size) -> (b, 1), a real/fake logit. The input is a real
    image or a generator output, which may overshoot [0, 1], so only NaN/Inf is refused."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, input_size: int = 128):
        super().__init__()
        if input_size not in (32, 64, 128, 256):
            raise ValueError(f"input_size must be 32, 64, 128 or 256, got {input_size!r}")
        self.num_in_ch = num_in_ch
        self.input_size = input_size

        # Stage k: conv{k}_0 (3x3, channels c_in -> c_k) and conv{k}_1 (4x4 stride 2: h -> h / 2).
        # Only conv0_0 has a bias and no batch norm; every other conv is followed by a BN.
        self.conv0_0 = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1, bias=True)
        self.conv0_1 = nn.Conv2d(num_feat, num_feat, 4, 2, 1, bias=False)
        self.bn0_1 = nn.BatchNorm2d(num_feat, affine=True)
        # One stage per halving from input_size down to 4x4: 3, 4, 5 or 6 stages.
        num_stage = {32: 3, 64: 4, 128: 5, 256: 6}[input_size]
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8, num_feat * 8]
        widths = widths[:num_stage]
        for k in range(1, len(widths)):
            c_in, c_out = widths[k - 1], widths[k]
            setattr(self, f"conv{k}_0", nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False))
            setattr(self, f"bn{k}_0", nn.BatchNorm2d(c_out, affine=True))
            setattr(self, f"conv{k}_1", nn.Conv2d(c_out, c_out, 4, 2, 1, bias=False))
            setattr(self, f"bn{k}_1", nn.BatchNorm2d(c_out, affine=True))
        self.num_stage = len(widths)

        self.linear1 = nn.Linear(widths[-1] * 4 * 4, 100)
        self.linear2 = nn.Linear(100, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        check_tensor(x, "x")
        c, s = self.num_in_ch, self.input_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, s, s):
            raise ValueError(f"x must be (b, {c}, {s}, {s}), got shape {tuple(x.shape)}")
        if not torch.isfinite(x).all():
            raise ValueError("x contains NaN or Inf")

        feat = self.lrelu(self.conv0_0(x))
        feat = self.lrelu(self.bn0_1(self.conv0_1(feat)))  # (b, num_feat, s / 2, s / 2)
        for k in range(1, self.num_stage):
            feat = self.lrelu(getattr(self, f"bn{k}_0")(getattr(self, f"conv{k}_0")(feat)))
            feat = self.lrelu(getattr(self, f"bn{k}_1")(getattr(self, f"conv{k}_1")(feat)))
        # (b, widths[-1], 4, 4): 8 * num_feat for 128 and 256
        return self.linear2(self.lrelu(self.linear1(feat.flatten(1))))  # (b, 1)
