"""IconVSR: BasicVSR with information-refill and coupled propagation.
Chan, Wang, Yu, Dong and Loy, CVPR 2021 (the BasicVSR paper), arXiv:2012.02181.

Two additions to BasicVSR, each a switch with the paper's default:
  use_refill=True  Information-refill: at keyframes, the propagated features are fused
                   with features an EDVR-style extractor computes from the keyframe's temporal
                   window, so errors accumulated by long propagation (occlusions, flow failures)
                   are corrected.
  coupled=True     Coupled propagation: the forward branch takes the backward branch's
                   features as input, so it sees the whole clip; without it the branches run
                   independently and are fused at the end, as in BasicVSR.
With use_refill=False and coupled=False, IconVSR is BasicVSR (same keys, same outputs).
Names follow BasicSR's `IconVSR`, so its released checkpoints load with strict=True."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from srlab import checkpoints
from srlab.archs.basicvsr import (
    ConvResidualBlocks,
    Flows,
    estimate_flows,
    unpack_flows,
    upsample_x4,
)
from srlab.archs.blocks import flow_warp
from srlab.archs.edvr import EDVRFeatureExtractor
from srlab.archs.spynet import SpyNet
from srlab.checks import check_int, check_video


def keyframe_indices(num_frames: int, stride: int) -> list[int]:
    """Frames 0, stride, 2*stride, ... and always the last frame (BasicSR's rule).
    stride=0 means no keyframes: the refill is switched off at inference."""
    check_int(stride, "keyframe_stride", low=0)
    if stride == 0:
        return []
    return sorted({*range(0, num_frames, stride), num_frames - 1})


class IconVSR(nn.Module):
    """IconVSR, x4. forward(lqs (b, t, 3, h, w) in [0, 1]) -> (b, t, 3, 4h, 4w).

    num_feat, num_block (per branch), keyframe_stride, temporal_padding (the refill extractor sees
    2 * temporal_padding + 1 frames; 2 for REDS, 3 for Vimeo-90K), spynet_path, edvr_path (a local
    checkpoint of the extractor alone, BasicSR's EDVR_*_pretrained_for_IconVSR): as BasicSR.
    use_refill, coupled: the paper's ablation (False, False is BasicVSR with IconVSR's names).
    num_feat_hr: channels of the HR reconstruction, as in BasicVSR (64, BasicSR's, by default).
    The keyframe stride can be changed after training: set `model.keyframe_stride` or pass
    forward(..., keyframe_stride=N)."""

    def __init__(
        self,
        num_feat: int = 64,
        num_block: int = 15,
        keyframe_stride: int = 5,
        temporal_padding: int = 2,
        spynet_path: str | None = None,
        edvr_path: str | None = None,
        use_refill: bool = True,
        coupled: bool = True,
        num_feat_hr: int = 64,
    ):
        super().__init__()
        keyframe_indices(1, keyframe_stride)  # validates the stride
        if edvr_path and not use_refill:
            raise ValueError("edvr_path was given, but use_refill=False builds no EDVR extractor")
        self.num_feat = num_feat
        self.keyframe_stride = keyframe_stride
        self.temporal_padding = temporal_padding
        self.use_refill = use_refill
        self.coupled = coupled

        # refill: EDVR's alignment and fusion over each keyframe's temporal window
        if use_refill:
            self.edvr = EDVRFeatureExtractor(num_feat=num_feat, num_frame=2 * temporal_padding + 1)
            if edvr_path:
                # weights_only, strict, named mismatches; "params" first, as BasicSR reads it
                checkpoints.load(self.edvr, edvr_path, prefer_ema=False)
        # alignment
        self.spynet = SpyNet(spynet_path)

        # propagation
        if use_refill:
            self.backward_fusion = nn.Conv2d(2 * num_feat, num_feat, 3, 1, 1)
        self.backward_trunk = ConvResidualBlocks(num_feat + 3, num_feat, num_block)
        if use_refill:
            self.forward_fusion = nn.Conv2d(2 * num_feat, num_feat, 3, 1, 1)
        num_in = (2 * num_feat if coupled else num_feat) + 3  # coupled: + the backward features
        self.forward_trunk = ConvResidualBlocks(num_in, num_feat, num_block)
        if not coupled:  # BasicVSR's fusion of the two branches
            self.fusion = nn.Conv2d(2 * num_feat, num_feat, 1, 1, 0)

        # reconstruction (see srlab.archs.blocks.pixel_shuffle_x4; num_feat_hr is 64 in BasicSR)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat_hr * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat_hr, num_feat_hr, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat_hr, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(
        self, lqs: Tensor, flows: Flows | None = None, *, keyframe_stride: int | None = None
    ) -> Tensor:
        """lqs: (b, t, 3, h, w), t >= 2 (t >= 2 * temporal_padding + 1 when there are keyframes),
        RGB in [0, 1]. Returns (b, t, 3, 4h, 4w).

        flows: oracle flows instead of SPyNet, as in BasicVSR (srlab.archs.basicvsr.unpack_flows).
        keyframe_stride: overrides self.keyframe_stride for this call (0: no keyframes)."""
        check_video(lqs, "lqs", min_frames=2)
        b, t, _, h_in, w_in = lqs.shape
        stride = self.keyframe_stride if keyframe_stride is None else keyframe_stride
        keyframes = keyframe_indices(t, stride) if self.use_refill else []
        window = 2 * self.temporal_padding + 1
        if keyframes and t < window:
            raise ValueError(
                f"lqs must have at least 2 * temporal_padding + 1 = {window} frames for the "
                f"refill at keyframes, got {t} (or pass keyframe_stride=0)"
            )
        if flows is not None:
            flows_forward, flows_backward = unpack_flows(flows, lqs)

        # EDVR's pyramid halves the size twice: pad to multiples of 4 and crop the output back.
        pad = (0, -w_in % 4, 0, -h_in % 4) if self.use_refill else (0, 0, 0, 0)
        if pad[1] >= w_in or pad[3] >= h_in:
            raise ValueError(
                f"lqs is too small for reflect padding to multiples of 4: {h_in}x{w_in}"
            )
        lqs = _pad_frames(lqs, pad, "reflect")
        if flows is None:
            flows_forward, flows_backward = estimate_flows(self.spynet, lqs)
        else:  # the oracle has no flow for the padding: repeat the border's
            flows_forward = _pad_frames(flows_forward, pad, "replicate")
            flows_backward = _pad_frames(flows_backward, pad, "replicate")
        refill = self.refill_features(lqs, keyframes)

        feats_backward = []
        feat = lqs.new_zeros(b, self.num_feat, *lqs.shape[-2:])
        for i in range(t - 1, -1, -1):
            if i < t - 1:
                feat = flow_warp(feat, flows_backward[:, i])
            if i in refill:
                feat = self.backward_fusion(torch.cat([feat, refill[i]], dim=1))
            feat = self.backward_trunk(torch.cat([lqs[:, i], feat], dim=1))
            feats_backward.insert(0, feat)

        outs = []
        feat = torch.zeros_like(feat)
        for i in range(t):
            if i > 0:
                feat = flow_warp(feat, flows_forward[:, i - 1])
            if i in refill:
                feat = self.forward_fusion(torch.cat([feat, refill[i]], dim=1))
            inputs = [lqs[:, i], feats_backward[i]] if self.coupled else [lqs[:, i]]
            feat = self.forward_trunk(torch.cat([*inputs, feat], dim=1))  # (b, num_feat, h, w)
            out = feat
            if not self.coupled:
                out = self.lrelu(self.fusion(torch.cat([feats_backward[i], feat], dim=1)))
            outs.append(upsample_x4(self, out, lqs[:, i]))
        return torch.stack(outs, dim=1)[..., : 4 * h_in, : 4 * w_in]  # (b, t, 3, 4h, 4w)

    def refill_features(self, lqs: Tensor, keyframes: list[int]) -> dict[int, Tensor]:
        """EDVR features (b, num_feat, h, w) of each keyframe from its window of
        2 * temporal_padding + 1 frames. At the clip ends the window is completed with mirrored
        frames that skip the keyframe's nearest neighbours (BasicSR's rule: frame 0 sees frames
        4, 3, 0, 1, 2 for temporal_padding=2), so no frame appears twice in a window."""
        if not keyframes:
            return {}
        t, p = lqs.shape[1], self.temporal_padding
        before = list(range(2 * p, p, -1))  # [4, 3] for p = 2
        after = list(range(t - p - 2, t - 2 * p - 2, -1))  # [t-4, t-5] for p = 2
        padded = torch.cat([lqs[:, before], lqs, lqs[:, after]], dim=1)  # (b, t + 2p, 3, h, w)
        return {i: self.edvr(padded[:, i : i + 2 * p + 1]) for i in keyframes}


def _pad_frames(x: Tensor, pad: tuple[int, int, int, int], mode: str) -> Tensor:
    """F.pad on the last two dims of a (b, t, c, h, w) tensor."""
    if not any(pad):
        return x
    b = x.shape[0]
    x = F.pad(rearrange(x, "b t c h w -> (b t) c h w"), pad, mode=mode)
    return rearrange(x, "(b t) c h w -> b t c h w", b=b)
