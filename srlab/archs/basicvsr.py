"""BasicVSR: The Search for Essential Components in Video Super-Resolution and Beyond.
Chan, Wang, Yu, Dong and Loy, CVPR 2021, arXiv:2012.02181.

A bidirectional recurrent network: a backward branch carries information from the end of the clip
to the start, a forward branch from the start to the end, and each frame is reconstructed from
both. Each step aligns the propagated features to the current frame with SPyNet flow.
Names follow BasicSR's `BasicVSR`, so its released checkpoints load with strict=True.

The paper's component study is exposed as switches with the paper's defaults (section numbers
are left out: the paper text was not available to check them, see papers.md):
  propagation="bidirectional" | "unidirectional"   (the propagation study)
  alignment="feature" | "image" | "none"           (the alignment study)
  forward(..., segments=K)  local propagation: K independent segments (the propagation study)
  forward(..., interval=N)  streaming: the backward branch only looks N frames ahead
  forward(..., flows=...)   oracle flow instead of SPyNet, to separate flow errors from alignment
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from srlab.archs.blocks import ResidualBlockNoBN, flow_warp, make_layer, pixel_shuffle_x4
from srlab.archs.spynet import SpyNet
from srlab.checks import check_int, check_tensor, check_video

PROPAGATIONS = ("bidirectional", "unidirectional")
ALIGNMENTS = ("feature", "image", "none")

Flows = Mapping[str, Tensor] | Sequence[Tensor]


class ConvResidualBlocks(nn.Module):
    """conv (num_in_ch -> num_out_ch) + LeakyReLU(0.1), then `num_block` ResidualBlockNoBN: one
    propagation branch of BasicVSR and IconVSR (keys `main.0.*`, `main.2.<i>.*` as BasicSR)."""

    def __init__(self, num_in_ch: int = 3, num_out_ch: int = 64, num_block: int = 15):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(num_in_ch, num_out_ch, 3, 1, 1),
            nn.LeakyReLU(negative_slope=0.1, inplace=True),
            make_layer(ResidualBlockNoBN, num_block, num_feat=num_out_ch),
        )

    def forward(self, x: Tensor) -> Tensor:  # (b, num_in_ch, h, w) -> (b, num_out_ch, h, w)
        return self.main(x)


def estimate_flows(
    spynet: SpyNet, lqs: Tensor, *, backward: bool = True
) -> tuple[Tensor, Tensor | None]:
    """SPyNet flow between neighbours, in BasicVSR's convention. lqs: (b, t, 3, h, w).
    Returns (flows_forward, flows_backward), each (b, t-1, 2, h, w):
    flows_backward[:, i] warps frame i+1 onto frame i; flows_forward[:, i] warps frame i onto
    frame i+1. backward=False skips flows_backward (None): the forward branch never uses it."""
    b = lqs.shape[0]
    earlier = rearrange(lqs[:, :-1], "b t c h w -> (b t) c h w")
    later = rearrange(lqs[:, 1:], "b t c h w -> (b t) c h w")
    flows_forward = rearrange(spynet(later, earlier), "(b t) c h w -> b t c h w", b=b)
    if not backward:
        return flows_forward, None
    flows_backward = rearrange(spynet(earlier, later), "(b t) c h w -> b t c h w", b=b)
    return flows_forward, flows_backward


def unpack_flows(flows: Flows, lqs: Tensor) -> tuple[Tensor, Tensor]:
    """Oracle flows given to a forward: a dict with "flow_forward" and "flow_backward" (the keys
    of srlab.data's video batches) or a pair (flows_forward, flows_backward), each
    (b, t-1, 2, h, w) in LR pixels, BasicVSR's convention (see estimate_flows)."""
    if isinstance(flows, Mapping):
        missing = {"flow_forward", "flow_backward"} - set(flows)
        if missing:
            raise ValueError(f"flows dict is missing {sorted(missing)}")
        pair = (flows["flow_forward"], flows["flow_backward"])
    elif isinstance(flows, Sequence) and len(flows) == 2:
        pair = tuple(flows)
    else:
        raise TypeError(
            "flows must be a dict with 'flow_forward' and 'flow_backward' or a pair "
            f"(flows_forward, flows_backward), got {type(flows).__name__}"
        )
    b, t, _, h, w = lqs.shape
    for name, flow in zip(("flows_forward", "flows_backward"), pair, strict=True):
        check_tensor(flow, name)
        if tuple(flow.shape) != (b, t - 1, 2, h, w):
            raise ValueError(
                f"{name} must have shape (b, t-1, 2, h, w) = {(b, t - 1, 2, h, w)} for lqs of "
                f"shape {tuple(lqs.shape)}, got {tuple(flow.shape)}"
            )
        if not flow.is_floating_point() or not torch.isfinite(flow).all():
            raise ValueError(f"{name} must be a finite float tensor")
    return pair[0].to(lqs), pair[1].to(lqs)


def cut_links(num_frames: int, segments: int = 1, interval: int | None = None):
    """Where local propagation stops information. Link i joins frames i and i+1.

    segments=K splits the clip into K near-equal independent segments (the paper's study of how
    far information needs to travel): neither branch crosses a segment boundary, exactly as if
    each segment were a separate clip.
    interval=N is low-latency streaming: the clip is read in chunks of N frames and the backward
    branch restarts at the end of every chunk, so a frame can be output as soon as its chunk has
    arrived (at most N-1 frames of delay). The forward branch is causal, so it keeps running
    across chunks at no cost in latency; that is the difference from segments.

    Returns (cut_forward, cut_backward): sets of link indices each branch does not cross."""
    check_int(segments, "segments", low=1)
    if segments > num_frames:
        raise ValueError(f"segments ({segments}) cannot exceed the number of frames ({num_frames})")
    if interval is not None:
        check_int(interval, "interval", low=1)
    sizes = [num_frames // segments + (k < num_frames % segments) for k in range(segments)]
    starts = torch.tensor(sizes).cumsum(0)[:-1].tolist()  # first frame of segments 2..K
    cut_forward = {s - 1 for s in starts}
    chunk_starts = range(interval, num_frames, interval) if interval else []
    return cut_forward, cut_forward | {s - 1 for s in chunk_starts}


def upsample_x4(net: nn.Module, feat: Tensor, lq: Tensor) -> Tensor:
    """The reconstruction of BasicVSR and IconVSR: blocks.pixel_shuffle_x4 (EDVR's head too), plus
    a residual over the bilinearly upsampled LR frame.
    feat: (b, num_feat, h, w); lq: (b, 3, h, w). Returns (b, 3, 4h, 4w)."""
    out = pixel_shuffle_x4(net, feat)  # (b, 3, 4h, 4w)
    return out + F.interpolate(lq, scale_factor=4, mode="bilinear", align_corners=False)


class BasicVSR(nn.Module):
    """BasicVSR, x4. forward(lqs (b, t, 3, h, w) in [0, 1]) -> (b, t, 3, 4h, 4w).

    num_feat, num_block (residual blocks per branch; the paper uses 30), spynet_path: as BasicSR.
    propagation: "bidirectional" (the paper) or "unidirectional": forward branch only. To keep
        the complexity comparable, the forward branch gets the backward branch's budget
        (2 * num_block residual blocks) and there is nothing to fuse, so the 1x1 `fusion` conv and
        one input conv go: 46,912 fewer parameters (-0.75%) at the paper's size, and the same
        number of residual blocks run per frame.
    alignment: "feature" (the paper): warp the propagated features with the flow, then refine.
        "image": warp the neighbouring LR frame with the flow instead; the branch's input is
        [current frame, warped neighbour, unwarped propagated features] (3 more input channels),
        so only image-level information is aligned. At a branch start the warped neighbour is
        zeros, like the propagated features.
        "none": the propagated features enter unwarped; no SpyNet is built.
    num_feat_hr: channels of the reconstruction after the first x2 step (upconv2, conv_hr,
        conv_last). BasicSR fixes it at 64, the default, which keeps its checkpoints loading. A
        tiny model (num_feat=16) with 64 there spends about 95% of its multiply-adds on those
        three convs at 2x and 4x the LR size; num_feat_hr=num_feat lets its compute go to
        propagation, the part the paper studies.
    """

    def __init__(
        self,
        num_feat: int = 64,
        num_block: int = 15,
        spynet_path: str | None = None,
        propagation: str = "bidirectional",
        alignment: str = "feature",
        num_feat_hr: int = 64,
    ):
        super().__init__()
        if propagation not in PROPAGATIONS:
            raise ValueError(f"propagation must be one of {PROPAGATIONS}, got {propagation!r}")
        if alignment not in ALIGNMENTS:
            raise ValueError(f"alignment must be one of {ALIGNMENTS}, got {alignment!r}")
        if alignment == "none" and spynet_path:
            raise ValueError("spynet_path was given, but alignment='none' uses no SpyNet")
        self.num_feat = num_feat
        self.propagation = propagation
        self.alignment = alignment

        # alignment
        self.spynet = SpyNet(spynet_path) if alignment != "none" else None

        # propagation: each branch sees [current frame, (warped neighbour), propagated features]
        num_in = num_feat + (6 if alignment == "image" else 3)
        if propagation == "bidirectional":
            self.backward_trunk = ConvResidualBlocks(num_in, num_feat, num_block)
            self.forward_trunk = ConvResidualBlocks(num_in, num_feat, num_block)
            self.fusion = nn.Conv2d(num_feat * 2, num_feat, 1, 1, 0)
        else:
            self.forward_trunk = ConvResidualBlocks(num_in, num_feat, 2 * num_block)

        # reconstruction: two x2 pixel-shuffle steps (num_feat_hr is 64, fixed, in BasicSR)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, num_feat_hr * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat_hr, num_feat_hr, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat_hr, 3, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(
        self,
        lqs: Tensor,
        flows: Flows | None = None,
        *,
        segments: int = 1,
        interval: int | None = None,
    ) -> Tensor:
        """lqs: (b, t, 3, h, w), t >= 2, RGB in [0, 1]. Returns (b, t, 3, 4h, 4w).

        flows: oracle flows (see unpack_flows) used instead of SPyNet; validated but unused when
            alignment="none", so one call works for every variant.
        segments, interval: local propagation (see cut_links). A unidirectional model is causal
            already, so interval changes nothing there."""
        check_video(lqs, "lqs", min_frames=2)
        b, t, _, h, w = lqs.shape
        bidirectional = self.propagation == "bidirectional"
        cut_forward, cut_backward = cut_links(t, segments, interval)
        if flows is not None:
            flows_forward, flows_backward = unpack_flows(flows, lqs)
        elif self.spynet is not None:  # alignment's flow, each (b, t-1, 2, h, w)
            flows_forward, flows_backward = estimate_flows(self.spynet, lqs, backward=bidirectional)
        else:
            flows_forward = flows_backward = None

        # Backward propagation, from the last frame to the first. A branch starts (zero state) at
        # its first frame and after every cut link (local propagation, see cut_links).
        feats_backward = []
        if bidirectional:
            feat = lqs.new_zeros(b, self.num_feat, h, w)
            for i in range(t - 1, -1, -1):
                if i < t - 1 and i not in cut_backward:  # frame i+1's state reaches frame i
                    arrived = self.align(feat, lqs[:, i + 1], flows_backward, i)
                else:
                    arrived = self.nothing_arrives(feat, lqs[:, i])
                # aggregation: residual blocks over the current frame and what arrived
                feat = self.backward_trunk(torch.cat([lqs[:, i], *arrived], dim=1))
                feats_backward.insert(0, feat)  # (b, num_feat, h, w), in frame order

        # Forward propagation, from the first frame to the last; each frame is then fused with
        # its backward feature and upsampled.
        outs = []
        feat = lqs.new_zeros(b, self.num_feat, h, w)
        for i in range(t):
            if i > 0 and i - 1 not in cut_forward:  # frame i-1's state reaches frame i
                arrived = self.align(feat, lqs[:, i - 1], flows_forward, i - 1)
            else:
                arrived = self.nothing_arrives(feat, lqs[:, i])
            feat = self.forward_trunk(torch.cat([lqs[:, i], *arrived], dim=1))  # aggregation
            out = feat
            if bidirectional:  # fusion: a 1x1 conv over both branches' features
                out = self.lrelu(self.fusion(torch.cat([feats_backward[i], feat], dim=1)))
            outs.append(upsample_x4(self, out, lqs[:, i]))  # upsampling: (b, 3, 4h, 4w)
        return torch.stack(outs, dim=1)  # (b, t, 3, 4h, 4w)

    def align(
        self, feat: Tensor, neighbour: Tensor, flows: Tensor | None, link: int
    ) -> list[Tensor]:
        """Alignment: what reaches the current frame from its neighbour over link `link`
        (flows[:, link] warps the neighbour onto the current frame), as the trunk's inputs after
        the current frame. feature: [the state, warped]; image: [the neighbouring LR frame,
        warped; the state as it is]; none: [the state as it is]."""
        if self.alignment == "feature":
            return [flow_warp(feat, flows[:, link])]
        if self.alignment == "image":
            return [flow_warp(neighbour, flows[:, link]), feat]
        return [feat]

    def nothing_arrives(self, feat: Tensor, lq: Tensor) -> list[Tensor]:
        """The trunk's inputs after the current frame where a branch starts: zeros in place of
        the state (and of the warped neighbour, with alignment="image")."""
        zeros = [torch.zeros_like(feat)]
        return [torch.zeros_like(lq), *zeros] if self.alignment == "image" else zeros
