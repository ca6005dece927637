"""Modulated deformable convolution (DCNv2: Zhu, Hu, Lin and Dai, Deformable ConvNets v2: More
Deformable, Better Results, CVPR 2019, arXiv:1811.11168), the operator EDVR's PCD alignment is
built on (srlab.archs.edvr; IconVSR's refill uses it through EDVR's feature extractor).

Written in plain PyTorch (bilinear sampling at the offset positions, then one einsum with the
weight); torchvision.ops.deform_conv2d is used instead when torchvision is installed. The two
agree (tests/test_video_archs.py). DCNv2Pack keeps BasicSR's parameter names, so EDVR's
state_dict keys are BasicSR's."""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def _torchvision_deform_conv2d():
    """torchvision's fused kernel if torchvision is installed (optional: the pure-PyTorch version
    below runs everywhere). Looked up on first use, so importing srlab never imports torchvision."""
    try:
        from torchvision.ops import deform_conv2d
    except ImportError:
        return None
    return deform_conv2d


def _pair(v: int | tuple[int, int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def modulated_deform_conv2d(
    x: Tensor,
    offset: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """Modulated deformable convolution (DCNv2, Zhu et al., CVPR 2019), in plain PyTorch.

    Like a conv, output pixel p sums weight[:, :, k] * x[p_k] over the kernel taps k, but each tap
    reads at p_k + offset (bilinear; zeros outside the image) and is scaled by a mask in [0, 1].

    x: (b, c, h, w); weight: (c_out, c / groups, kh, kw); bias: (c_out,) or None.
    offset: (b, 2 * dg * kh * kw, h_out, w_out); mask: (b, dg * kh * kw, h_out, w_out).
    Channels are split into dg deformable groups, each with its own offsets and masks. The offset
    layout is mmcv's / BasicSR's / torchvision's: channel 2 * (g * kh * kw + k) + {0: dy, 1: dx}
    for group g and tap k = i * kw + j, i.e. (dg, kh*kw, 2) with y first; mask channel g*kh*kw + k.
    Returns (b, c_out, h_out, w_out), h_out as for nn.Conv2d."""
    b, c, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    groups, taps = c // c_per_group, kh * kw
    dg = mask.shape[1] // taps
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    h_out = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if offset.shape != (b, 2 * dg * taps, h_out, w_out) or mask.shape != (
        b,
        dg * taps,
        h_out,
        w_out,
    ):
        raise ValueError(
            f"offset {tuple(offset.shape)} and mask {tuple(mask.shape)} do not match "
            f"{dg} deformable groups of {kh}x{kw} taps at output size {h_out}x{w_out}"
        )

    # Where each tap of each output pixel reads in a plain conv: (taps, h_out, 1), (taps, 1, w_out).
    tap_i, tap_j = torch.meshgrid(torch.arange(kh), torch.arange(kw), indexing="ij")
    base_y = (torch.arange(h_out) * sh - ph)[None, :, None] + (tap_i.flatten() * dh)[:, None, None]
    base_x = (torch.arange(w_out) * sw - pw)[None, None, :] + (tap_j.flatten() * dw)[:, None, None]
    offset = rearrange(offset, "b (g k yx) h w -> b g k yx h w", g=dg, yx=2)
    pos_y = base_y.to(offset) + offset[:, :, :, 0]  # (b, dg, taps, h_out, w_out)
    pos_x = base_x.to(offset) + offset[:, :, :, 1]

    # grid_sample with align_corners=False puts pixel p at (2p + 1) / size - 1; its bilinear
    # sampling with zeros outside the image is exactly DCN's (valid for any size, even 1).
    grid = torch.stack([(2 * pos_x + 1) / w - 1, (2 * pos_y + 1) / h - 1], dim=-1)
    grid = rearrange(grid, "b g k h w xy -> (b g) (k h) w xy")
    groups_in = rearrange(x, "b (g c) h w -> (b g) c h w", g=dg)
    sampled = F.grid_sample(groups_in, grid.to(x), mode="bilinear", align_corners=False)
    sampled = rearrange(sampled, "(b g) c (k h) w -> b g c k h w", b=b, k=taps)
    sampled = sampled * rearrange(mask, "b (g k) h w -> b g 1 k h w", g=dg)

    # The deformed im2col, (b, c, taps, h_out, w_out), times the weight: a conv's matmul.
    cols = rearrange(sampled, "b g c k h w -> b (g c) k h w")
    cols = rearrange(cols, "b (n c) k h w -> b n c k h w", n=groups)
    kernel = rearrange(weight, "(n o) c kh kw -> n o c (kh kw)", n=groups)
    out = rearrange(torch.einsum("bnckhw,nock->bnohw", cols, kernel), "b n o h w -> b (n o) h w")
    return out if bias is None else out + bias.view(1, -1, 1, 1)


class DCNv2Pack(nn.Module):
    """Modulated deformable conv whose offsets and masks come from a second input (`feat`), as in
    EDVR's alignment: forward(x, feat) samples x where conv_offset(feat) says.

    Parameters as BasicSR's `DCNv2Pack` (weight, bias, conv_offset.weight, conv_offset.bias).
    conv_offset's 3 * dg * kh * kw channels are chunked as [o1, o2, mask]: cat(o1, o2) is the
    offset in the layout of modulated_deform_conv2d (so o1 is *not* "all dy"), and the mask is
    sigmoid(mask). conv_offset starts at zero: zero offsets and masks of 0.5."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        deformable_groups: int = 1,
        bias: bool = True,
    ):
        super().__init__()
        if in_channels % groups or out_channels % groups or in_channels % deformable_groups:
            raise ValueError(
                f"in_channels ({in_channels}) and out_channels ({out_channels}) must be divisible "
                f"by groups ({groups}), and in_channels by deformable_groups ({deformable_groups})"
            )
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.weight = nn.Parameter(
            torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.conv_offset = nn.Conv2d(
            in_channels,
            deformable_groups * 3 * kernel_size * kernel_size,
            kernel_size,
            stride,
            padding,
            dilation,
        )
        bound = 1 / math.sqrt(in_channels * kernel_size * kernel_size)  # BasicSR's init
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: Tensor, feat: Tensor) -> Tensor:
        """x: (b, in_channels, h, w) to sample; feat: (b, in_channels, h, w) to predict offsets
        and masks from. Returns (b, out_channels, h_out, w_out)."""
        o1, o2, mask = torch.chunk(self.conv_offset(feat), 3, dim=1)
        offset, mask = torch.cat([o1, o2], dim=1), torch.sigmoid(mask)
        if self.training:  # EDVR's known failure: offsets overflow and training collapses.
            # Checked only in training: .item() syncs, and would stop tracing, compile and meta.
            offset_absmean = offset.abs().mean().item()
            if offset_absmean > 50:
                warnings.warn(
                    f"DCNv2Pack offset abs mean is {offset_absmean:.1f} (> 50)", stacklevel=2
                )
        args = (self.weight, self.bias, self.stride, self.padding, self.dilation)
        fused = _torchvision_deform_conv2d()
        if fused is not None:
            return fused(x, offset, *args, mask=mask)
        return modulated_deform_conv2d(x, offset, mask, *args)
