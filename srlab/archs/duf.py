"""DUF: Deep Video Super-Resolution Network Using Dynamic Upsampling Filters Without Explicit
Motion Compensation. Jo, Oh, Kang and Kim, CVPR 2018 (official code: github.com/yhjo09/VSR-DUF).

A sliding-window model with no flow at all: 7 LR frames go through 3D convolutions (dense blocks),
which see motion implicitly, and the network predicts for every LR pixel
  - a dynamic upsampling filter: scale^2 5x5 filters, softmax over the 25 taps, that
    resample the centre frame's 5x5 neighbourhood into the scale^2 HR pixels of that LR pixel;
  - a residual image that adds the high-frequency detail the filters cannot.
The three published depths (16, 28, 52 layers) differ in the length of the first dense stack and
in the growth rate.

Names follow BasicSR's `DUF`, so its official checkpoints (converted from TensorFlow: 16L x2/x3/x4,
28L x4, 52L x4) load with strict=True; they need adapt_official_weights=True, which sets the batch
norms' eps to TensorFlow's 1e-3. Test data for those checkpoints is made with
srlab.degradations.duf_degrade, not bicubic."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from srlab.checks import check_scale, check_video

NUM_FRAMES = 7  # the three temporal-reduction layers each drop 2 frames: 7 -> 1
FILTER_SIZE = 5  # the dynamic filters are 5x5
# num_layer -> (dense layers before the temporal reduction, growth rate)
DEPTHS = {16: (3, 32), 28: (9, 16), 52: (21, 16)}


def dense_layer(
    c_in: int, growth: int, temporal_padding: int, eps: float, momentum: float
) -> nn.Sequential:
    """BN-ReLU-Conv 1x1x1 then BN-ReLU-Conv 3x3x3: `growth` new channels from c_in.
    temporal_padding=1 keeps the frame count, 0 drops one frame at each end.
    (b, c_in, t, h, w) -> (b, growth, t - 2 + 2 * temporal_padding, h, w)."""
    return nn.Sequential(
        nn.BatchNorm3d(c_in, eps=eps, momentum=momentum),
        nn.ReLU(inplace=True),
        nn.Conv3d(c_in, c_in, 1),
        nn.BatchNorm3d(c_in, eps=eps, momentum=momentum),
        nn.ReLU(inplace=True),
        nn.Conv3d(c_in, growth, 3, padding=(temporal_padding, 1, 1)),
    )


class DenseBlocks(nn.Module):
    """num_block dense layers on all 7 frames: each appends `num_grow_ch` channels."""

    def __init__(self, num_block, num_feat=64, num_grow_ch=16, eps=1e-5, momentum=0.1):
        super().__init__()
        self.dense_blocks = nn.ModuleList(
            dense_layer(num_feat + i * num_grow_ch, num_grow_ch, 1, eps, momentum)
            for i in range(num_block)
        )

    def forward(self, x: Tensor) -> Tensor:  # (b, c, t, h, w) -> (b, c + num_block * grow, t, h, w)
        for layer in self.dense_blocks:
            x = torch.cat((x, layer(x)), 1)  # dense: new channels after the old
        return x


class DenseBlocksTemporalReduce(nn.Module):
    """Three dense layers without temporal padding: 7 frames -> 1. The features carried over are
    cropped to the frames the new ones still cover."""

    def __init__(self, num_feat=64, num_grow_ch=32, eps=1e-5, momentum=0.1):
        super().__init__()
        c = num_feat
        self.temporal_reduce1 = dense_layer(c, num_grow_ch, 0, eps, momentum)
        self.temporal_reduce2 = dense_layer(c + num_grow_ch, num_grow_ch, 0, eps, momentum)
        self.temporal_reduce3 = dense_layer(c + 2 * num_grow_ch, num_grow_ch, 0, eps, momentum)

    def forward(self, x: Tensor) -> Tensor:  # (b, c, 7, h, w) -> (b, c + 3 * grow, 1, h, w)
        for layer in (self.temporal_reduce1, self.temporal_reduce2, self.temporal_reduce3):
            x = torch.cat((x[:, :, 1:-1], layer(x)), 1)  # t -> t - 2
        return x


def dynamic_upsampling(center: Tensor, filters: Tensor) -> Tensor:
    """Apply one 5x5 filter per LR pixel and HR sub-position, the same filter
    for the three colour channels. center: (b, 3, h, w); filters: (b, 25, s*s, h, w), each summing
    to 1 over the 25 taps. Returns (b, 3 * s*s, h, w), ready for pixel_shuffle."""
    b, c, h, w = center.shape
    k = FILTER_SIZE
    patches = F.unfold(center, k, padding=k // 2)  # (b, 3 * 25, h * w): zeros beyond the border
    patches = rearrange(patches, "b (c k) (h w) -> b c k h w", c=c, h=h)
    out = torch.einsum("bckhw,bkshw->bcshw", patches, filters)  # (b, 3, s*s, h, w)
    return rearrange(out, "b c s h w -> b (c s) h w")


class DUF(nn.Module):
    """DUF-16L/28L/52L. Input (b, 7, 3, h, w) RGB in [0, 1]; output the centre frame x scale,
    (b, 3, h * scale, w * scale).

    scale: upscaling factor (2, 3 or 4; the official checkpoints are x2, x3, x4 for 16L, x4 only
    for 28L and 52L). num_layer: 16, 28 or 52. adapt_official_weights: batch norm eps 1e-3 and
    momentum 1e-3 (TensorFlow's), as the converted official weights need; False gives PyTorch's
    defaults for training from scratch."""

    def __init__(self, scale=4, num_layer=52, adapt_official_weights=False):
        super().__init__()
        if num_layer not in DEPTHS:
            raise ValueError(f"num_layer must be one of {tuple(DEPTHS)}, got {num_layer!r}")
        self.scale = check_scale(scale, (2, 3, 4))
        self.num_layer = num_layer
        eps, momentum = (1e-3, 1e-3) if adapt_official_weights else (1e-5, 0.1)
        num_block, grow = DEPTHS[num_layer]

        self.conv3d1 = nn.Conv3d(3, 64, (1, 3, 3), padding=(0, 1, 1))
        self.dense_block1 = DenseBlocks(num_block, 64, grow, eps, momentum)  # t = 7
        channels = 64 + num_block * grow
        self.dense_block2 = DenseBlocksTemporalReduce(channels, grow, eps, momentum)  # t = 1
        channels += 3 * grow
        self.bn3d2 = nn.BatchNorm3d(channels, eps=eps, momentum=momentum)
        self.conv3d2 = nn.Conv3d(channels, 256, (1, 3, 3), padding=(0, 1, 1))
        # residual branch: 3 colours x scale^2 sub-pixels
        self.conv3d_r1 = nn.Conv3d(256, 256, 1)
        self.conv3d_r2 = nn.Conv3d(256, 3 * scale**2, 1)
        # filter branch: 25 taps x scale^2 sub-pixels
        self.conv3d_f1 = nn.Conv3d(256, 512, 1)
        self.conv3d_f2 = nn.Conv3d(512, FILTER_SIZE**2 * scale**2, 1)

    def forward(self, x: Tensor) -> Tensor:  # x: (b, 7, 3, h, w), RGB in [0, 1]
        check_video(x, "x", channels=3)
        b, t, _, h, w = x.shape
        if t != NUM_FRAMES:
            raise ValueError(
                f"DUF needs exactly {NUM_FRAMES} frames (its three temporal-reduction layers take "
                f"7 frames to 1), got x of shape {tuple(x.shape)}"
            )
        s = self.scale
        x = rearrange(x, "b t c h w -> b c t h w")  # Conv3d's layout
        center = x[:, :, t // 2]  # (b, 3, h, w)

        feat = self.dense_block1(self.conv3d1(x))  # (b, 64 + n * grow, 7, h, w)
        feat = self.dense_block2(feat)  # (b, 64 + (n + 3) * grow, 1, h, w)
        feat = F.relu(self.conv3d2(F.relu(self.bn3d2(feat))))  # (b, 256, 1, h, w)

        residual = self.conv3d_r2(F.relu(self.conv3d_r1(feat)))[:, :, 0]  # (b, 3 s^2, h, w)
        filters = self.conv3d_f2(F.relu(self.conv3d_f1(feat)))  # (b, 25 s^2, 1, h, w)
        filters = F.softmax(filters.view(b, FILTER_SIZE**2, s * s, h, w), dim=1)  # over the taps

        out = dynamic_upsampling(center, filters) + residual  # (b, 3 s^2, h, w)
        return F.pixel_shuffle(out, s)  # (b, 3, h s, w s)

    def mismatch_hint(self, state: dict[str, Tensor]) -> str | None:
        """When a checkpoint does not fit: which DUF it is (depth from the number of dense layers,
        scale from the residual branch's channels), if that differs from this model."""
        layers = {k.split(".")[2] for k in state if k.startswith("dense_block1.dense_blocks.")}
        depth = {n: d for d, (n, _) in DEPTHS.items()}.get(len(layers))
        r2 = state.get("conv3d_r2.weight")
        scale = round((r2.shape[0] / 3) ** 0.5) if r2 is not None else None
        if depth is None or scale is None or (depth, scale) == (self.num_layer, self.scale):
            return None
        return (
            f"the checkpoint is DUF {depth}L x{scale} (preset 'duf_{depth}l_x{scale}'), "
            f"the model is DUF {self.num_layer}L x{self.scale}"
        )
