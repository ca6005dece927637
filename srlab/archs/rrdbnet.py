"""RRDBNet, the ESRGAN generator: "ESRGAN: Enhanced Super-Resolution Generative Adversarial
Networks", Wang et al., ECCV Workshops 2018, arXiv:1809.00219.

Names follow BasicSR's `RRDBNet` (basicsr/archs/rrdbnet_arch.py), so its released checkpoints
(ESRGAN, Real-ESRGAN) load with strict=True, and the forward pass does the same operations in the
same order. BasicSR's extension for scale 2 and 1 is kept: the input is pixel-unshuffled first, so
the same x4 trunk and upsampler serve every scale."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlab.archs.blocks import check_model_input, default_init_weights, make_layer


class ResidualDenseBlock(nn.Module):
    """Five densely connected convs (each sees the input and every earlier output, RDN-style),
    leaky ReLU 0.2, and a residual scaled by 0.2 (Sec. 3.1: residual scaling keeps the very deep,
    BN-free generator stable). x: (b, num_feat, h, w) -> same shape."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        # Small init (Sec. 3.1): each block starts close to the identity.
        default_init_weights([self.conv1, self.conv2, self.conv3, self.conv4, self.conv5], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))  # (b, grow, h, w)
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # (b, num_feat, h, w)
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """Residual-in-residual dense block (Sec. 3.1, Fig. 4): three dense blocks in a row, with an
    outer residual also scaled by 0.2. x: (b, num_feat, h, w) -> same shape."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32):
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: Tensor) -> Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """ESRGAN generator: a conv, `num_block` RRDBs and a conv with a long skip, then two x2 steps of
    nearest-neighbour interpolation + conv + leaky ReLU (ESRGAN's upsampler, not pixel shuffle),
    and two convs. The trunk always upsamples x4; for scale 2 (or 1) the input is first
    pixel-unshuffled by 2 (or 4), trading resolution for channels (BasicSR, Real-ESRGAN).

    x: (b, num_in_ch, h, w) in [0, 1] -> (b, num_out_ch, h * scale, w * scale); for scale 2 (1),
    h and w must be multiples of 2 (4)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ):
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"RRDBNet supports scale 1, 2 or 4, got {scale!r}")
        self.num_in_ch = num_in_ch
        self.scale = scale  # BasicSR's name for the factor (EDSR, RCAN, MSRResNet say `upscale`)
        self.unshuffle = 4 // scale  # 1 (no unshuffle), 2 or 4

        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = make_layer(RRDB, num_block, num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        check_model_input(x, self.num_in_ch, multiple=self.unshuffle)
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)  # (b, c * r^2, h / r, w / r)
        feat = self.conv_first(x)  # (b, num_feat, h', w')
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))  # (b, num_out_ch, 4h', 4w')
