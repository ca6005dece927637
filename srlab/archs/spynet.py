"""SPyNet: Optical Flow Estimation using a Spatial Pyramid Network.
Ranjan and Black, CVPR 2017, arXiv:1611.00850.

The 6-level version BasicVSR (and EDVR's successors) use for alignment. Names follow BasicSR's
`SpyNet`, so its released checkpoints (`spynet_sintel_final-3d2a1287.pth`, and the `spynet.` part
of every BasicVSR/IconVSR checkpoint) load with strict=True.

Flow convention (the library's, see srlab.archs.blocks.flow_warp): (b, 2, h, w) in pixels,
channel 0 horizontal (x), channel 1 vertical (y). `SpyNet()(ref, supp)` is the flow that warps
`supp` onto `ref`: flow_warp(supp, flow) ~= ref."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlab import checkpoints
from srlab.archs.blocks import flow_warp
from srlab.checks import check_image, check_same_shape

NUM_LEVELS = 6  # pyramid levels; the coarsest is 1/32 of the (resized) input


class BasicModule(nn.Module):
    """One pyramid level: five 7x7 convs that predict a flow residual from
    [ref (3), supp warped by the upsampled coarse flow (3), that flow (2)] = 8 channels."""

    def __init__(self):
        super().__init__()
        channels = [8, 32, 64, 32, 16, 2]
        layers: list[nn.Module] = []
        for c_in, c_out in zip(channels[:-1], channels[1:], strict=True):
            layers += [nn.Conv2d(c_in, c_out, 7, 1, 3), nn.ReLU()]
        self.basic_module = nn.Sequential(*layers[:-1])  # no ReLU after the last conv; keys 0..8

    def forward(self, x: Tensor) -> Tensor:  # x: (b, 8, h, w) -> flow residual (b, 2, h, w)
        return self.basic_module(x)


class SpyNet(nn.Module):
    """Coarse-to-fine flow: each level upsamples the coarser flow, warps `supp` with it, and adds
    the residual its BasicModule predicts. 1,440,300 parameters.

    load_path: a local checkpoint (BasicSR format, {"params": state_dict} or a bare state_dict),
    read by srlab.checkpoints: weights_only=True, "module." prefixes removed, missing or
    unexpected keys named in the error. Nothing is ever downloaded."""

    def __init__(self, load_path: str | None = None):
        super().__init__()
        self.basic_module = nn.ModuleList(BasicModule() for _ in range(NUM_LEVELS))
        # ImageNet statistics: SPyNet's input normalisation. Persistent (unlike our other
        # constants) because BasicSR's are, so BasicVSR/IconVSR checkpoints carry `spynet.mean`
        # and `spynet.std` and strict loading needs the keys to exist.
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        if load_path:
            # BasicSR's SpyNet reads "params" first: so do we
            state = checkpoints.state_dict_of(checkpoints.read(load_path), prefer_ema=False)
            # The official SpyNet file predates the buffers; they are constants, so fill them in.
            state.setdefault("mean", self.mean)
            state.setdefault("std", self.std)
            checkpoints.load(self, state)  # strict: missing or unexpected keys are named

    def process(self, ref: Tensor, supp: Tensor) -> Tensor:
        """The pyramid itself. ref, supp: (b, 3, h, w) with h and w multiples of 32.
        Returns the flow (b, 2, h, w) warping supp onto ref."""
        refs = [(ref - self.mean) / self.std]
        supps = [(supp - self.mean) / self.std]
        for _ in range(NUM_LEVELS - 1):  # finest first, then halve five times
            refs.append(F.avg_pool2d(refs[-1], kernel_size=2, stride=2))
            supps.append(F.avg_pool2d(supps[-1], kernel_size=2, stride=2))

        b, _, h, w = refs[-1].shape
        flow = ref.new_zeros(b, 2, h, w)  # the coarsest level starts from zero motion
        for level, (ref_l, supp_l) in enumerate(zip(reversed(refs), reversed(supps), strict=True)):
            if level > 0:  # x2 in size means x2 in pixel displacement
                flow = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2
            warped = flow_warp(supp_l, flow, padding_mode="border")
            flow = flow + self.basic_module[level](torch.cat([ref_l, warped, flow], dim=1))
        return flow

    def forward(self, ref: Tensor, supp: Tensor) -> Tensor:
        """ref, supp: (b, 3, h, w) RGB in [0, 1], any h, w. Returns the flow (b, 2, h, w) in pixels
        (channel 0 = x) that warps supp onto ref.

        The pyramid needs sides divisible by 32, so (as BasicSR) the frames are resized bilinearly
        to the next multiples of 32 and the flow is resized back and rescaled per axis."""
        for name, x in (("ref", ref), ("supp", supp)):
            if isinstance(x, Tensor) and x.dim() != 4:
                raise ValueError(f"{name} must be a batch (b, 3, h, w), got {tuple(x.shape)}")
            check_image(x, name)
        check_same_shape(ref, supp, "ref", "supp")
        h, w = ref.shape[-2:]
        h_up, w_up = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
        ref = F.interpolate(ref, size=(h_up, w_up), mode="bilinear", align_corners=False)
        supp = F.interpolate(supp, size=(h_up, w_up), mode="bilinear", align_corners=False)

        flow = self.process(ref, supp)  # (b, 2, h_up, w_up)
        flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
        scale = flow.new_tensor([w / w_up, h / h_up]).view(1, 2, 1, 1)  # x by width, y by height
        return flow * scale
