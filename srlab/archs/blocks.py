"""Blocks shared by two or more architectures (and nothing else).

Attribute names follow BasicSR (`conv1`, `conv2`, the indices inside `Upsample`), because they
become state_dict keys that released checkpoints must match."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlab.checks import check_image


@torch.no_grad()
def default_init_weights(modules, scale: float = 1.0, bias_fill: float = 0.0) -> None:
    """Kaiming-normal init, then multiply by `scale`. A small scale (0.1) on the convs of a residual
    branch starts each block close to the identity, which is what lets deep SR trunks train.
    Meta tensors (a model built under torch.device("meta") to count parameters or FLOPs) have no
    values and are skipped; the first meta normal_() in a process otherwise costs seconds."""
    if isinstance(modules, nn.Module):
        modules = [modules]
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)) and not m.weight.is_meta:
                nn.init.kaiming_normal_(m.weight)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)


def make_layer(block: type[nn.Module], num_block: int, /, **kwargs) -> nn.Sequential:
    """`num_block` copies of `block(**kwargs)` in an nn.Sequential (keys `0.`, `1.`, ...).
    The first two arguments are positional-only, so a block may itself take `num_block`."""
    return nn.Sequential(*(block(**kwargs) for _ in range(num_block)))


class ResidualBlockNoBN(nn.Module):
    """conv-ReLU-conv with an identity shortcut and no batch norm (EDSR, Sec. 3.1: BN removes the
    range flexibility SR needs). `res_scale` < 1 stabilises very wide trunks (EDSR-L uses 0.1)."""

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class Upsample(nn.Sequential):
    """Sub-pixel upsampling (ESPCN): a conv to r^2 * C channels, then pixel shuffle by r.
    Scales 2^n repeat a x2 step n times; scale 3 is one x3 step."""

    def __init__(self, scale: int, num_feat: int):
        layers: list[nn.Module] = []
        if scale > 0 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"Upsample supports scales 2^n and 3, got {scale}")
        super().__init__(*layers)


def pixel_shuffle_x4(net: nn.Module, feat: Tensor) -> Tensor:
    """The x4 reconstruction head of EDVR, BasicVSR and IconVSR, whose convs sit at the top level
    of their state_dicts (net.upconv1, upconv2, conv_hr, conv_last, lrelu) as in BasicSR: two x2
    pixel-shuffle steps, then two convs at HR (64 channels in BasicSR; BasicVSR and IconVSR take
    the width as num_feat_hr). feat: (b, num_feat, h, w). Returns (b, num_out_ch, 4h, 4w), before
    any global residual."""
    out = net.lrelu(F.pixel_shuffle(net.upconv1(feat), 2))  # (b, num_feat, 2h, 2w)
    out = net.lrelu(F.pixel_shuffle(net.upconv2(out), 2))  # (b, 64 or num_feat_hr, 4h, 4w)
    return net.conv_last(net.lrelu(net.conv_hr(out)))


def flow_warp(
    x: Tensor,
    flow: Tensor,
    interp_mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: bool = True,
) -> Tensor:
    """Backward-warp x with an optical flow: out[p] = x[p + flow[p]], sampled bilinearly.

    x: (b, c, h, w); flow: (b, 2, h, w) in pixels, channel 0 horizontal (x), channel 1 vertical (y).
    Numerically BasicSR's `flow_warp`, which takes the flow channels-last, (b, h, w, 2).
    Samples that fall outside x read zeros (padding_mode="zeros")."""
    if x.dim() != 4 or flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            f"flow_warp needs x (b, c, h, w) and flow (b, 2, h, w), got {tuple(x.shape)} and "
            f"{tuple(flow.shape)}"
        )
    if x.shape[0] != flow.shape[0] or x.shape[-2:] != flow.shape[-2:]:
        raise ValueError(
            f"x {tuple(x.shape)} and flow {tuple(flow.shape)} must agree in batch, height and width"
        )
    b, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=flow.dtype, device=flow.device),
        torch.arange(w, dtype=flow.dtype, device=flow.device),
        indexing="ij",
    )
    grid_x = xs + flow[:, 0]  # (b, h, w): where each output pixel reads from
    grid_y = ys + flow[:, 1]
    # grid_sample wants positions in [-1, 1]; with align_corners=True, -1 and 1 are pixel centres.
    grid = torch.stack(
        (2.0 * grid_x / max(w - 1, 1) - 1.0, 2.0 * grid_y / max(h - 1, 1) - 1.0), dim=-1
    )
    return F.grid_sample(
        x,
        grid.to(x.dtype),
        mode=interp_mode,
        padding_mode=padding_mode,
        align_corners=align_corners,
    )


def check_model_input(x: Tensor, channels: int, *, multiple: int = 1) -> Tensor:
    """The guard at the start of every image SR model's forward: x must be a batch (b, channels,
    h, w), float in [0, 1] without NaN (srlab.checks.check_image), with h and w multiples of
    `multiple` (models that pixel-unshuffle their input need that). Costs a few reductions over the
    input, which is small next to any network here."""
    if isinstance(x, Tensor) and x.dim() != 4:
        raise ValueError(f"x must be an image batch (b, c, h, w), got shape {tuple(x.shape)}")
    check_image(x, "x", channels=channels)
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"x height and width must be multiples of {multiple} for this model, got {h}x{w}"
        )
    return x
