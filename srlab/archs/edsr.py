"""EDSR: Enhanced Deep Residual Networks for Single Image Super-Resolution.
Lim et al., CVPRW 2017, arXiv:1707.02921.

Names follow BasicSR's `EDSR` (basicsr/archs/edsr_arch.py), so its released checkpoints load with
strict=True, and the forward pass does the same operations in the same order."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from srlab.archs.blocks import ResidualBlockNoBN, Upsample, check_model_input, make_layer


class EDSR(nn.Module):
    """EDSR: a trunk of `num_block` residual blocks without batch norm (Sec. 3.1), a long skip
    over the trunk, and sub-pixel upsampling. EDSR-baseline is f64 b16; EDSR is f256 b32 with
    res_scale 0.1 (Sec. 3.2: scaling the residuals keeps the wide model trainable).

    x: (b, num_in_ch, h, w) RGB in [0, 1] -> (b, num_out_ch, h * upscale, w * upscale)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        upscale: int = 4,
        res_scale: float = 1.0,
        img_range: float = 255.0,
        rgb_mean: tuple[float, ...] = (0.4488, 0.4371, 0.4040),
    ):
        super().__init__()
        self.num_in_ch = num_in_ch
        self.upscale = upscale
        self.img_range = img_range
        # The DIV2K mean, subtracted in the 0-255 range as in the authors' code. A non-persistent
        # buffer: it follows .to(device) but stays out of the state_dict, like BasicSR's attribute.
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, -1, 1, 1), persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        # PyTorch's default init here, as in BasicSR's EDSR (it passes pytorch_init=True).
        self.body = make_layer(
            ResidualBlockNoBN, num_block, num_feat=num_feat, res_scale=res_scale, pytorch_init=True
        )
        self.conv_after_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.upsample = Upsample(upscale, num_feat)  # conv + pixel shuffle, log2(scale) times
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)

    @property
    def scale(self) -> int:
        """The upscaling factor (the same name on every srlab image SR model)."""
        return self.upscale

    def forward(self, x: Tensor) -> Tensor:
        check_model_input(x, self.num_in_ch)
        feat = self.conv_first((x - self.mean) * self.img_range)  # (b, num_feat, h, w)
        # Long skip: the trunk only has to learn a residual on top of the shallow features.
        feat = feat + self.conv_after_body(self.body(feat))
        out = self.conv_last(self.upsample(feat))  # (b, num_out_ch, h * s, w * s)
        return out / self.img_range + self.mean
