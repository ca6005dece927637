"""EDVR: Video Restoration with Enhanced Deformable Convolutional Networks.
Wang, Chan, Yu, Dong and Loy, CVPRW 2019 (NTIRE 2019 winner), arXiv:1905.02716.

A sliding-window model: 2N+1 LR frames in, the centre frame out. Every frame's features are
aligned to the centre frame's by PCD (Pyramid, Cascading, Deformable convolution, Sec. 3.2):
offsets predicted from both frames' features drive a modulated deformable convolution, coarse to
fine over a 3-level pyramid, then once more at full resolution. TSA fusion (Sec. 3.3) weights
each aligned frame by its similarity to the centre frame (temporal attention) and the fused
features by a spatial attention map. Names follow BasicSR's `EDVR`, so its checkpoints load with
strict=True.

The modulated deformable convolution itself (DCNv2Pack) is an operator, not one of the paper's
modules: it lives in srlab.archs.dcn."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from srlab.archs.blocks import ResidualBlockNoBN, make_layer, pixel_shuffle_x4
from srlab.archs.dcn import DCNv2Pack
from srlab.checks import check_video


class PCDAlignment(nn.Module):
    """Pyramid, Cascading and Deformable alignment (EDVR, Sec. 3.2). Offsets are found at
    1/4 resolution (L3) first, then refined at L2 and L1 from the upsampled coarser offsets (x2 in
    size and value), so large motions are handled where they are small; a last deformable conv at
    L1 (the cascade) refines the result once more."""

    def __init__(self, num_feat: int = 64, deformable_groups: int = 8):
        super().__init__()
        self.offset_conv1 = nn.ModuleDict()
        self.offset_conv2 = nn.ModuleDict()
        self.offset_conv3 = nn.ModuleDict()
        self.dcn_pack = nn.ModuleDict()
        self.feat_conv = nn.ModuleDict()
        for i in (3, 2, 1):  # L3: 1/4 size, L2: 1/2, L1: full
            level = f"l{i}"
            self.offset_conv1[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
            if i == 3:
                self.offset_conv2[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            else:  # also sees the upsampled offset features of the coarser level
                self.offset_conv2[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
                self.offset_conv3[level] = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.dcn_pack[level] = DCNv2Pack(
                num_feat, num_feat, 3, padding=1, deformable_groups=deformable_groups
            )
            if i < 3:  # merges the aligned features with the upsampled coarser ones
                self.feat_conv[level] = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.cas_offset_conv1 = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.cas_offset_conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.cas_dcnpack = DCNv2Pack(
            num_feat, num_feat, 3, padding=1, deformable_groups=deformable_groups
        )
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, nbr_feat_l: list[Tensor], ref_feat_l: list[Tensor]) -> Tensor:
        """nbr_feat_l, ref_feat_l: [L1 (b, c, h, w), L2 (b, c, h/2, w/2), L3 (b, c, h/4, w/4)] of
        the neighbouring and the reference frame. Returns the aligned neighbour (b, c, h, w)."""
        up_offset = up_feat = None
        for i in (3, 2, 1):
            level = f"l{i}"
            nbr, ref = nbr_feat_l[i - 1], ref_feat_l[i - 1]
            offset = self.lrelu(self.offset_conv1[level](torch.cat([nbr, ref], dim=1)))
            if i == 3:
                offset = self.lrelu(self.offset_conv2[level](offset))
            else:
                offset = self.lrelu(self.offset_conv2[level](torch.cat([offset, up_offset], dim=1)))
                offset = self.lrelu(self.offset_conv3[level](offset))
            feat = self.dcn_pack[level](nbr, offset)
            if i < 3:
                feat = self.feat_conv[level](torch.cat([feat, up_feat], dim=1))
            if i > 1:
                feat = self.lrelu(feat)
                # x2 in size, x2 in displacement (BasicSR scales the offset features feeding
                # the next level's offset convs, not the offsets themselves)
                up_offset = _upsample2(offset) * 2
                up_feat = _upsample2(feat)

        offset = torch.cat([feat, ref_feat_l[0]], dim=1)
        offset = self.lrelu(self.cas_offset_conv2(self.lrelu(self.cas_offset_conv1(offset))))
        return self.lrelu(self.cas_dcnpack(feat, offset))


def _upsample2(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class TSAFusion(nn.Module):
    """Temporal and Spatial Attention fusion (EDVR, Sec. 3.3).

    Temporal: each aligned frame is weighted per pixel by sigmoid(<emb(frame), emb(centre)>), so
    badly aligned or occluded frames count less. Spatial: the fused features are modulated by an
    attention map (and shifted by an additive map) computed over a 3-level pyramid, as in SFT."""

    def __init__(self, num_feat: int = 64, num_frame: int = 5, center_frame_idx: int = 2):
        super().__init__()
        self.center_frame_idx = center_frame_idx
        self.temporal_attn1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.temporal_attn2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.feat_fusion = nn.Conv2d(num_frame * num_feat, num_feat, 1, 1)

        self.max_pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avg_pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.spatial_attn1 = nn.Conv2d(num_frame * num_feat, num_feat, 1)
        self.spatial_attn2 = nn.Conv2d(num_feat * 2, num_feat, 1)
        self.spatial_attn3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn4 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn5 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn_l1 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn_l2 = nn.Conv2d(num_feat * 2, num_feat, 3, 1, 1)
        self.spatial_attn_l3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.spatial_attn_add1 = nn.Conv2d(num_feat, num_feat, 1)
        self.spatial_attn_add2 = nn.Conv2d(num_feat, num_feat, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, aligned_feat: Tensor) -> Tensor:
        """aligned_feat: (b, t, c, h, w), h and w multiples of 4. Returns (b, c, h, w)."""
        b, t, c, h, w = aligned_feat.shape
        emb_ref = self.temporal_attn1(aligned_feat[:, self.center_frame_idx])  # (b, c, h, w)
        emb = self.temporal_attn2(rearrange(aligned_feat, "b t c h w -> (b t) c h w"))
        emb = rearrange(emb, "(b t) c h w -> b t c h w", b=b)
        corr_prob = torch.sigmoid(torch.einsum("btchw,bchw->bthw", emb, emb_ref))  # (b, t, h, w)
        aligned_feat = rearrange(aligned_feat * corr_prob[:, :, None], "b t c h w -> b (t c) h w")

        feat = self.lrelu(self.feat_fusion(aligned_feat))  # (b, c, h, w)

        attn = self.lrelu(self.spatial_attn1(aligned_feat))
        attn = self.lrelu(
            self.spatial_attn2(torch.cat([self.max_pool(attn), self.avg_pool(attn)], dim=1))
        )  # (b, c, h/2, w/2)
        attn_level = self.lrelu(self.spatial_attn_l1(attn))
        attn_level = torch.cat([self.max_pool(attn_level), self.avg_pool(attn_level)], dim=1)
        attn_level = self.lrelu(self.spatial_attn_l2(attn_level))  # (b, c, h/4, w/4)
        attn_level = _upsample2(self.lrelu(self.spatial_attn_l3(attn_level)))  # (b, c, h/2, w/2)
        attn = self.lrelu(self.spatial_attn3(attn)) + attn_level
        attn = _upsample2(self.lrelu(self.spatial_attn4(attn)))  # (b, c, h, w)
        attn = self.spatial_attn5(attn)
        attn_add = self.spatial_attn_add2(self.lrelu(self.spatial_attn_add1(attn)))
        # sigmoid(~0) * 2 ~= 1 at initialisation: the attention starts close to the identity
        return feat * torch.sigmoid(attn) * 2 + attn_add


class PredeblurModule(nn.Module):
    """EDVR's pre-deblurring module for the deblurring track: a small pyramid net
    that produces the L1 features. With hr_in, two stride-2 convs first take an HR input down x4."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, hr_in: bool = False):
        super().__init__()
        self.hr_in = hr_in
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        if hr_in:
            self.stride_conv_hr1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
            self.stride_conv_hr2 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.stride_conv_l2 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.stride_conv_l3 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.resblock_l3 = ResidualBlockNoBN(num_feat=num_feat)
        self.resblock_l2_1 = ResidualBlockNoBN(num_feat=num_feat)
        self.resblock_l2_2 = ResidualBlockNoBN(num_feat=num_feat)
        self.resblock_l1 = nn.ModuleList(ResidualBlockNoBN(num_feat=num_feat) for _ in range(5))
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: Tensor) -> Tensor:  # (n, 3, h, w) -> (n, num_feat, h, w) (h/4 if hr_in)
        feat_l1 = self.lrelu(self.conv_first(x))
        if self.hr_in:
            feat_l1 = self.lrelu(self.stride_conv_hr2(self.lrelu(self.stride_conv_hr1(feat_l1))))
        feat_l2 = self.lrelu(self.stride_conv_l2(feat_l1))
        feat_l3 = self.lrelu(self.stride_conv_l3(feat_l2))

        feat_l3 = _upsample2(self.resblock_l3(feat_l3))
        feat_l2 = _upsample2(self.resblock_l2_2(self.resblock_l2_1(feat_l2) + feat_l3))
        for i, block in enumerate(self.resblock_l1):
            feat_l1 = block(feat_l1)
            if i == 1:  # the coarser levels join after the second block
                feat_l1 = feat_l1 + feat_l2
        return feat_l1


class EDVRFeatureExtractor(nn.Module):
    """EDVR up to the fused features: per-frame features at three pyramid levels, PCD alignment of
    every frame to the centre frame, fusion (TSA, or a 1x1 conv with with_tsa=False).
    EDVR adds reconstruction on top; IconVSR uses this part alone (its `edvr.` keys) to refill
    features at keyframes. forward(x (b, num_frame, c, h, w)) -> (b, num_feat, h, w), h and w
    multiples of 4 (of 16 with hr_in, where the output is h/4 x w/4)."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_feat: int = 64,
        num_frame: int = 5,
        deformable_groups: int = 8,
        num_extract_block: int = 5,
        center_frame_idx: int | None = None,
        hr_in: bool = False,
        with_predeblur: bool = False,
        with_tsa: bool = True,
    ):
        super().__init__()
        self.num_in_ch, self.num_frame = num_in_ch, num_frame
        self.center_frame_idx = num_frame // 2 if center_frame_idx is None else center_frame_idx
        if not 0 <= self.center_frame_idx < num_frame:
            raise ValueError(
                f"center_frame_idx must be in [0, {num_frame}), got {center_frame_idx}"
            )
        if hr_in and not with_predeblur:
            raise ValueError("hr_in=True needs with_predeblur=True (it downsamples the HR input)")
        self.hr_in = hr_in
        self.with_predeblur = with_predeblur
        self.with_tsa = with_tsa

        if with_predeblur:
            self.predeblur = PredeblurModule(num_in_ch, num_feat, hr_in)
            self.conv_1x1 = nn.Conv2d(num_feat, num_feat, 1, 1)
        else:
            self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.feature_extraction = make_layer(
            ResidualBlockNoBN, num_extract_block, num_feat=num_feat
        )
        self.conv_l2_1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.conv_l2_2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_l3_1 = nn.Conv2d(num_feat, num_feat, 3, 2, 1)
        self.conv_l3_2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)

        self.pcd_align = PCDAlignment(num_feat, deformable_groups)
        if with_tsa:
            self.fusion = TSAFusion(num_feat, num_frame, self.center_frame_idx)
        else:
            self.fusion = nn.Conv2d(num_frame * num_feat, num_feat, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    @property
    def size_multiple(self) -> int:
        """h and w must be multiples of this: two stride-2 pyramid levels (x4 more with hr_in)."""
        return 16 if self.hr_in else 4

    def forward(self, x: Tensor) -> Tensor:
        b, t, c, h, w = x.shape
        if t != self.num_frame or h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f"x must be (b, {self.num_frame}, c, h, w) with h, w multiples of "
                f"{self.size_multiple}, got {tuple(x.shape)}"
            )
        frames = rearrange(x, "b t c h w -> (b t) c h w")
        if self.with_predeblur:
            feat_l1 = self.conv_1x1(self.predeblur(frames))
        else:
            feat_l1 = self.lrelu(self.conv_first(frames))
        feat_l1 = self.feature_extraction(feat_l1)  # (b t, c, h, w), h/4 x w/4 with hr_in
        feat_l2 = self.lrelu(self.conv_l2_2(self.lrelu(self.conv_l2_1(feat_l1))))  # 1/2 size
        feat_l3 = self.lrelu(self.conv_l3_2(self.lrelu(self.conv_l3_1(feat_l2))))  # 1/4 size
        pyramid = [
            rearrange(f, "(b t) c h w -> b t c h w", b=b) for f in (feat_l1, feat_l2, feat_l3)
        ]

        ref = [level[:, self.center_frame_idx] for level in pyramid]
        aligned = torch.stack(
            [self.pcd_align([level[:, i] for level in pyramid], ref) for i in range(t)], dim=1
        )  # (b, t, c, h, w)
        if not self.with_tsa:
            aligned = rearrange(aligned, "b t c h w -> b (t c) h w")
        return self.fusion(aligned)  # (b, c, h, w)


class EDVR(EDVRFeatureExtractor):
    """EDVR, x4 (or same-size restoration with hr_in=True).
    forward(x (b, num_frame, 3, h, w) in [0, 1]) -> the centre frame (b, 3, 4h, 4w).

    Arguments as BasicSR's EDVR; the paper's models are EDVR-M (num_feat=64,
    num_reconstruct_block=10) and EDVR-L (128, 40), both with 5 extraction blocks and 8 deformable
    groups. Unlike BasicSR, any h and w work: frames are reflect-padded to multiples of 4 (16 with
    hr_in) and the output is cropped back."""

    def __init__(
        self,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_frame: int = 5,
        deformable_groups: int = 8,
        num_extract_block: int = 5,
        num_reconstruct_block: int = 10,
        center_frame_idx: int | None = None,
        hr_in: bool = False,
        with_predeblur: bool = False,
        with_tsa: bool = True,
    ):
        super().__init__(
            num_in_ch,
            num_feat,
            num_frame,
            deformable_groups,
            num_extract_block,
            center_frame_idx,
            hr_in,
            with_predeblur,
            with_tsa,
        )
        self.reconstruction = make_layer(
            ResidualBlockNoBN, num_reconstruct_block, num_feat=num_feat
        )
        # two x2 pixel-shuffle steps (the 64s are fixed in BasicSR)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.upconv2 = nn.Conv2d(num_feat, 64 * 4, 3, 1, 1)
        self.conv_hr = nn.Conv2d(64, 64, 3, 1, 1)
        self.conv_last = nn.Conv2d(64, num_out_ch, 3, 1, 1)

    def forward(self, x: Tensor) -> Tensor:
        check_video(x, "x", channels=self.num_in_ch)
        b, t, c, h, w = x.shape
        if t != self.num_frame:
            raise ValueError(f"x must have num_frame={self.num_frame} frames, got {t}")
        m = self.size_multiple
        pad_h, pad_w = -h % m, -w % m
        if pad_h >= h or pad_w >= w:
            raise ValueError(f"x is too small for reflect padding to multiples of {m}: {h}x{w}")
        x = rearrange(x, "b t c h w -> (b t) c h w")
        x = F.pad(x, [0, pad_w, 0, pad_h], mode="reflect")
        x = rearrange(x, "(b t) c h w -> b t c h w", b=b)

        feat = self.reconstruction(super().forward(x))  # (b, num_feat, h, w)
        out = pixel_shuffle_x4(self, feat)  # (b, 3, 4h, 4w) padded
        center = x[:, self.center_frame_idx]
        if not self.hr_in:  # the network predicts a residual over the upsampled centre frame
            center = F.interpolate(center, scale_factor=4, mode="bilinear", align_corners=False)
        scale = 1 if self.hr_in else 4
        return (out + center)[..., : scale * h, : scale * w]
