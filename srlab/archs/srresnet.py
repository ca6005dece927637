"""MSRResNet: SRResNet from "Photo-Realistic Single Image Super-Resolution Using a Generative
Adversarial Network" (Ledig et al., CVPR 2017, arXiv:1609.04802), modified as in BasicSR.

BasicSR's `MSRResNet` (basicsr/archs/srresnet_arch.py) drops SRResNet's batch norm (as EDSR does),
uses leaky ReLU (slope 0.1) and adds a bilinear upsampling of the input to the output, so the
network learns only the residual. Names follow it, so its released checkpoints load with
strict=True, and the forward pass does the same operations in the same order."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from srlab.archs.blocks import (
    ResidualBlockNoBN,
    check_model_input,
    default_init_weights,
    make_layer,
)


class MSRResNet(nn.Module):
    """SRResNet without batch norm: `num_block` residual blocks, then one x2/x3 or two x2 sub-pixel
    steps, a conv, and the bilinear-upsampled input added at the end.

    x: (b, num_in_ch, h, w) in [0, 1] -> (b, num_out_ch, h * upscale, w * upscale)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        upscale: int = 4,
    ):
        super().__init__()
        if upscale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports upscale 2, 3 or 4, got {upscale!r}")
        self.num_in_ch = num_in_ch
        self.upscale = upscale

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = make_layer(ResidualBlockNoBN, num_block, num_feat=num_feat)
        # x2 and x3: one conv + pixel shuffle; x4: two x2 steps (keys upconv1, upconv2).
        step = 2 if upscale == 4 else upscale
        self.upconv1 = nn.Conv2d(num_feat, num_feat * step * step, 3, 1, 1)
        if upscale == 4:
            self.upconv2 = nn.Conv2d(num_feat, num_feat * step * step, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(step)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

        # Kaiming init scaled by 0.1 (BasicSR; the residual blocks do the same inside).
        upconvs = [self.upconv1, self.upconv2] if upscale == 4 else [self.upconv1]
        default_init_weights([self.conv_first, *upconvs, self.conv_hr, self.conv_last], 0.1)

    @property
    def scale(self) -> int:
        """The upscaling factor (the same name on every srlab image SR model)."""
        return self.upscale

    def forward(self, x: Tensor) -> Tensor:
        check_model_input(x, self.num_in_ch)
        feat = self.body(self.lrelu(self.conv_first(x)))  # (b, num_feat, h, w)
        feat = self.lrelu(self.pixel_shuffle(self.upconv1(feat)))  # (b, num_feat, 2h, 2w) or 3h
        if self.upscale == 4:
            feat = self.lrelu(self.pixel_shuffle(self.upconv2(feat)))  # (b, num_feat, 4h, 4w)
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))  # (b, num_out_ch, h * s, w * s)
        # The network predicts a residual over a cheap bilinear upsampling of the input.
        base = F.interpolate(x, scale_factor=self.upscale, mode="bilinear", align_corners=False)
        return out + base
