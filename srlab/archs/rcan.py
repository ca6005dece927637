"""RCAN: Image Super-Resolution Using Very Deep Residual Channel Attention Networks.
Zhang et al., ECCV 2018, arXiv:1807.02758.

Names follow BasicSR's `RCAN` (basicsr/archs/rcan_arch.py), so its released checkpoints load with
strict=True, and with every switch on the forward pass does the same operations in the same order.

The paper's Table 1 ablation is three constructor switches, each removing exactly one piece:
  use_ca=False   RCABs without channel attention (Sec. 3.3): the attention module and its
                 parameters are gone; the keys of everything else are unchanged.
  use_ssc=False  residual groups without the short skip connection (Sec. 3.2).
  use_lsc=False  the residual-in-residual trunk without the long skip connection (Sec. 3.2).
Sec. 3.2 writes the trunk as F_DF = F_0 + W_LSC F_G, with W_LSC the conv at the tail of the
RIR, and each residual group in the same form with a tail conv of its own. We take a skip
connection to be the identity path ("F_0 +") only and keep the tail convs: they are layers of the
trunk and of the group, so switching a skip off changes the information path but neither the
depth nor the parameter count, and the same weights load into both variants. The skips have no
parameters, so use_ssc and use_lsc leave the state_dict unchanged."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from srlab.archs.blocks import Upsample, check_model_input, make_layer


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation over channels (Sec. 3.3): global average pooling gives one number
    per channel, a bottleneck of 1x1 convs (num_feat -> num_feat // squeeze_factor -> num_feat)
    and a sigmoid turn it into a per-channel gain in (0, 1). x: (b, c, h, w) -> same shape."""

    def __init__(self, num_feat: int, squeeze_factor: int = 16):
        super().__init__()
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),  # (b, c, 1, 1): the channel statistic
            nn.Conv2d(num_feat, num_feat // squeeze_factor, 1, padding=0),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat // squeeze_factor, num_feat, 1, padding=0),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x * self.attention(x)  # (b, c, h, w) * (b, c, 1, 1)


class RCAB(nn.Module):
    """Residual channel attention block (Sec. 3.4): conv-ReLU-conv, rescaled per channel by
    channel attention, plus an identity shortcut. Keys `rcab.0`, `rcab.2`, `rcab.3.attention.*`
    as in BasicSR; with use_ca=False the block is conv-ReLU-conv and `rcab.3` does not exist."""

    def __init__(
        self,
        num_feat: int,
        squeeze_factor: int = 16,
        res_scale: float = 1.0,
        use_ca: bool = True,
    ):
        super().__init__()
        self.res_scale = res_scale
        layers = [
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(num_feat, num_feat, 3, 1, 1),
        ]
        if use_ca:
            layers.append(ChannelAttention(num_feat, squeeze_factor))
        self.rcab = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.rcab(x) * self.res_scale


class ResidualGroup(nn.Module):
    """A residual group (Sec. 3.2): `num_block` RCABs and a conv, with a short skip connection
    (SSC) around them, so each group too only learns a residual. use_ssc=False drops the skip
    addition and keeps the conv."""

    def __init__(
        self,
        num_feat: int,
        num_block: int,
        squeeze_factor: int = 16,
        res_scale: float = 1.0,
        use_ca: bool = True,
        use_ssc: bool = True,
    ):
        super().__init__()
        self.use_ssc = use_ssc
        self.residual_group = make_layer(
            RCAB,
            num_block,
            num_feat=num_feat,
            squeeze_factor=squeeze_factor,
            res_scale=res_scale,
            use_ca=use_ca,
        )
        self.conv = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        res = self.conv(self.residual_group(x))
        return x + res if self.use_ssc else res


class RCAN(nn.Module):
    """RCAN: residual-in-residual trunk of `num_group` residual groups of `num_block` RCABs, a long
    skip over the trunk, and sub-pixel upsampling. The paper's model is G=10, B=20, C=64, r=16
    (its implementation details), which is our default; BasicSR's default num_block is 16, but
    its released configs pass 20. `squeeze_factor` is the paper's reduction ratio r (BasicSR's
    name, kept so that BasicSR option files work unchanged).

    x: (b, num_in_ch, h, w) RGB in [0, 1] -> (b, num_out_ch, h * upscale, w * upscale)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_group: int = 10,
        num_block: int = 20,
        squeeze_factor: int = 16,
        upscale: int = 4,
        res_scale: float = 1.0,
        img_range: float = 255.0,
        rgb_mean: tuple[float, ...] = (0.4488, 0.4371, 0.4040),
        use_lsc: bool = True,
        use_ssc: bool = True,
        use_ca: bool = True,
    ):
        super().__init__()
        self.num_in_ch = num_in_ch
        self.upscale = upscale
        self.img_range = img_range
        self.use_lsc = use_lsc
        # Non-persistent: follows .to(device), stays out of the state_dict (BasicSR: an attribute).
        self.register_buffer("mean", torch.tensor(rgb_mean).view(1, -1, 1, 1), persistent=False)

        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = make_layer(
            ResidualGroup,
            num_group,
            num_feat=num_feat,
            num_block=num_block,
            squeeze_factor=squeeze_factor,
            res_scale=res_scale,
            use_ca=use_ca,
            use_ssc=use_ssc,
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
        res = self.conv_after_body(self.body(feat))
        # Long skip (LSC): the low-frequency content of the shallow features bypasses the trunk.
        feat = feat + res if self.use_lsc else res
        out = self.conv_last(self.upsample(feat))  # (b, num_out_ch, h * s, w * s)
        return out / self.img_range + self.mean
