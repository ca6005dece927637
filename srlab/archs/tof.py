"""TOFlow: Video Enhancement with Task-Oriented Flow.
Xue, Chen, Wu, Wei and Freeman, IJCV 2019 (arXiv:1711.09078; official code:
github.com/anchen1011/toflow, PyTorch port github.com/Coldog2333/pytoflow).

"TOF" is task-oriented *flow*, not time-of-flight depth. A sliding-window model: the 6 neighbours
of the centre frame are warped onto it with flow from a small SPyNet (4 levels, with batch norm),
trained end to end with the SR loss so that the flow is whatever helps the task rather than the
true motion; then 4 convolutions fuse the 7 aligned frames into a residual over the
centre frame. TOFlow does not upsample: its input frames are already bicubic-upsampled to the HR
size (srlab.degradations.imresize(lq, scale)), and its output has the input's size.

Names follow BasicSR's `TOFlow`, so its official checkpoint (converted from the Torch release)
loads with strict=True, with adapt_official_weights=True: the official network expects the
reference frame first in its input stack."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlab.archs.blocks import flow_warp
from srlab.checks import check_video

NUM_FRAMES = 7
NUM_LEVELS = 4  # SPyNet pyramid levels; the coarsest flow is 1/16 of the input
MULTIPLE = 2**NUM_LEVELS  # input sides must be multiples of 16


class BasicModule(nn.Module):
    """One pyramid level of TOFlow's SPyNet: five 7x7 convs, batch norm after the first four
    (unlike srlab.archs.spynet's), predicting a flow residual from [ref, warped supp, flow]."""

    def __init__(self):
        super().__init__()
        channels = [8, 32, 64, 32, 16]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 7, 1, 3, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        self.basic_module = nn.Sequential(*layers, nn.Conv2d(16, 2, 7, 1, 3))  # keys 0..12

    def forward(self, x: Tensor) -> Tensor:  # (b, 8, h, w) -> flow residual (b, 2, h, w)
        return self.basic_module(x)


class SPyNetTOF(nn.Module):
    """Coarse-to-fine flow on normalised frames (the normalisation is TOFlow's): the flow that
    warps `supp` onto `ref`, (b, 2, h, w) in pixels, x then y (srlab.archs.blocks.flow_warp)."""

    def __init__(self):
        super().__init__()
        self.basic_module = nn.ModuleList(BasicModule() for _ in range(NUM_LEVELS))

    def forward(self, ref: Tensor, supp: Tensor) -> Tensor:  # (b, 3, h, w) each -> (b, 2, h, w)
        refs, supps = [ref], [supp]
        for _ in range(NUM_LEVELS - 1):  # pyramids, coarsest first: h/8, h/4, h/2, h
            refs.insert(0, F.avg_pool2d(refs[0], 2, 2, count_include_pad=False))
            supps.insert(0, F.avg_pool2d(supps[0], 2, 2, count_include_pad=False))
        b, _, h, w = ref.shape
        flow = ref.new_zeros(b, 2, h // MULTIPLE, w // MULTIPLE)
        for level, (r, s) in enumerate(zip(refs, supps, strict=True)):
            up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
            flow = up + self.basic_module[level](torch.cat((r, flow_warp(s, up), up), 1))
        return flow


class TOFlow(nn.Module):
    """TOFlow for SR. Input (b, 7, 3, h, w): 7 frames already upsampled to the HR size, RGB in
    [0, 1], h and w multiples of 16; output the centre frame (b, 3, h, w) (not clamped).

    adapt_official_weights: the official checkpoint's frame order (reference first, then frames
    0, 1, 2, 4, 5, 6); False keeps the natural order with the reference at index 3."""

    def __init__(self, adapt_official_weights=False):
        super().__init__()
        self.adapt_official_weights = adapt_official_weights
        self.ref_idx = 0 if adapt_official_weights else NUM_FRAMES // 2
        # ImageNet statistics. Persistent (unlike our other constants) because BasicSR's are:
        # its TOFlow checkpoints carry `mean` and `std`, and strict loading needs the keys.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.spynet = SPyNetTOF()
        self.conv_1 = nn.Conv2d(3 * NUM_FRAMES, 64, 9, 1, 4)
        self.conv_2 = nn.Conv2d(64, 64, 9, 1, 4)
        self.conv_3 = nn.Conv2d(64, 64, 1)
        self.conv_4 = nn.Conv2d(64, 3, 1)

    def forward(self, lrs: Tensor) -> Tensor:  # lrs: (b, 7, 3, h, w), upsampled, RGB in [0, 1]
        check_video(lrs, "lrs", channels=3)
        b, t, _, h, w = lrs.shape
        if t != NUM_FRAMES:
            raise ValueError(
                f"TOFlow needs exactly {NUM_FRAMES} frames (its first conv takes 7 x 3 channels), "
                f"got lrs of shape {tuple(lrs.shape)}"
            )
        if h % MULTIPLE or w % MULTIPLE:
            raise ValueError(
                f"TOFlow needs height and width that are multiples of {MULTIPLE} (its SPyNet "
                f"starts from a flow at 1/16 size), got {h}x{w}; pad or crop the frames"
            )
        if self.adapt_official_weights:
            lrs = lrs[:, [3, 0, 1, 2, 4, 5, 6]]  # the official order: reference first
        lrs = (lrs - self.mean) / self.std  # (b, 7, 3, h, w), ImageNet-normalised
        ref = lrs[:, self.ref_idx]  # (b, 3, h, w)
        aligned = [
            ref if i == self.ref_idx else flow_warp(lrs[:, i], self.spynet(ref, lrs[:, i]))
            for i in range(NUM_FRAMES)
        ]
        hr = torch.cat(aligned, 1)  # (b, 7 * 3, h, w), frame-major
        hr = F.relu(self.conv_1(hr))
        hr = F.relu(self.conv_2(hr))
        hr = F.relu(self.conv_3(hr))
        hr = self.conv_4(hr) + ref  # a residual over the (normalised) reference frame
        return hr * self.std + self.mean  # (b, 3, h, w), back to RGB
