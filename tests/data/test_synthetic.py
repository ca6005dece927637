"""srlab.data.synthetic: clips whose flow and occlusion masks are exact.

The central check: warping one frame with the ground-truth flow (srlab.archs.blocks.flow_warp, the
bilinear warp BasicVSR uses) reproduces the other frame on every valid pixel, in both directions."""

import dataclasses
import math

import pytest
import torch

from srlab.archs.blocks import flow_warp
from srlab.data import TEST_IMAGES, bundled_videos, downscale_flow, synthetic, synthetic_video


def masked_psnr(a, b, mask):
    """PSNR in dB over the pixels where mask (n, 1, h, w) is 1; a, b (n, 3, h, w) in [0, 1]."""
    mse = ((a - b) ** 2 * mask).sum() / (mask.sum() * a.shape[1])
    return -10 * math.log10(mse.item())


def warp_psnrs(clip, frames=None):
    frames = clip.frames if frames is None else frames
    backward = flow_warp(frames[1:], clip.flow_backward)  # frame i+1 pulled back onto frame i
    forward = flow_warp(frames[:-1], clip.flow_forward)  # frame i pushed on to frame i+1
    return (
        masked_psnr(backward, frames[:-1], clip.mask_backward),
        masked_psnr(forward, frames[1:], clip.mask_forward),
    )


@pytest.fixture(scope="module")
def clip():
    return synthetic_video(3, num_frames=8)


def test_shapes_dtypes_and_ranges(clip):
    t, (h, w) = 8, (96, 128)
    assert clip.frames.shape == (t, 3, h, w)
    for name in ("flow_forward", "flow_backward"):
        assert getattr(clip, name).shape == (t - 1, 2, h, w)
    for name in ("mask_forward", "mask_backward"):
        mask = getattr(clip, name)
        assert mask.shape == (t - 1, 1, h, w)
        assert set(mask.unique().tolist()) == {0.0, 1.0}
    for value in dataclasses.astuple(clip):
        assert value.dtype == torch.float32 and torch.isfinite(value).all()
    assert clip.frames.min() >= 0 and clip.frames.max() <= 1


def test_same_seed_same_clip_other_seed_other_clip():
    a, b = (synthetic_video(11, num_frames=4, size=(32, 48)) for _ in range(2))
    c = synthetic_video(12, num_frames=4, size=(32, 48))
    for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a.frames, c.frames)


@pytest.mark.parametrize("seed,split", [(0, "train"), (3, "train"), (1, "test")])
def test_ground_truth_flow_warps_visible_pixels_above_40db(seed, split):
    clip = synthetic_video(seed, split=split, num_frames=6)
    backward, forward = warp_psnrs(clip)
    assert backward > 40 and forward > 40, (backward, forward)
    # the check has teeth: without motion compensation the frames are far apart
    still = masked_psnr(clip.frames[1:], clip.frames[:-1], clip.mask_backward)
    assert still < 30, still


def test_motion_is_real(clip):
    assert clip.flow_backward.norm(dim=1).mean() > 0.5
    assert clip.flow_forward.norm(dim=1).mean() > 0.5


def test_masks_are_frame_exits_plus_occlusions():
    """Without objects a pixel is invalid only where its flow leaves the frame. With objects (same
    seed, so the same camera path) some pixels move differently and more are invalid: they
    really occlude."""
    empty = synthetic_video(4, num_frames=5, num_objects=0)
    full = synthetic_video(4, num_frames=5)
    h, w = empty.frames.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for flow, mask in (
        (empty.flow_backward, empty.mask_backward),
        (empty.flow_forward, empty.mask_forward),
    ):
        qx, qy = xs + flow[:, 0], ys + flow[:, 1]
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        assert torch.equal(mask[:, 0].bool(), inside)
    # objects follow their own paths: their pixels move unlike the camera's
    assert ((full.flow_backward - empty.flow_backward).norm(dim=1) > 1).any()
    occluded = full.mask_backward.numel() - full.mask_backward.sum()
    exits = empty.mask_backward.numel() - empty.mask_backward.sum()
    assert occluded > exits + 100, (occluded, exits)
    assert full.mask_backward.mean() > 0.5  # ... but most pixels stay valid


def test_downscale_flow_divides_a_constant_flow_by_the_scale():
    flow = torch.tensor([3.0, -2.0]).view(1, 2, 1, 1).expand(5, 2, 24, 36)
    for s in (2, 3, 4):
        low = downscale_flow(flow, s)
        assert low.shape == (5, 2, 24 // s, 36 // s)
        assert torch.allclose(low, flow[..., ::s, ::s] / s)


def test_downscale_flow_of_an_affine_flow_is_its_value_at_the_block_centre():
    h, w, s = 12, 16, 4
    ys, xs = torch.meshgrid(torch.arange(h * 1.0), torch.arange(w * 1.0), indexing="ij")
    flow = torch.stack([0.1 * xs - 0.05 * ys + 1, 0.02 * xs + 0.2 * ys - 3])  # (2, h, w)
    low = downscale_flow(flow, s)
    cy, cx = torch.meshgrid(
        torch.arange(h // s) * s + 1.5, torch.arange(w // s) * s + 1.5, indexing="ij"
    )  # LR pixel centres on the HR grid
    centre = torch.stack([0.1 * cx - 0.05 * cy + 1, 0.02 * cx + 0.2 * cy - 3]) / s
    assert torch.allclose(low, centre, atol=1e-5)


def test_downscale_flow_rejects_bad_input():
    with pytest.raises(ValueError, match="divisible"):
        downscale_flow(torch.zeros(2, 10, 12), 4)
    with pytest.raises(ValueError, match="2, H, W"):
        downscale_flow(torch.zeros(3, 8, 8), 4)


def test_bad_arguments_fail_clearly():
    with pytest.raises(ValueError, match="background"):
        synthetic_video(0, split="train", background="astronaut")  # a test photograph
    with pytest.raises(ValueError, match="num_frames"):
        synthetic_video(0, num_frames=1)
    with pytest.raises(ValueError, match="do not fit"):
        synthetic_video(0, size=(2000, 2000))


def test_bundled_test_videos():
    clips = bundled_videos("test")
    assert len(clips) >= 4 and set(clips) <= set(TEST_IMAGES)
    for clip in clips.values():
        t, _, h, w = clip.frames.shape
        assert t >= 15 and h % 12 == 0 and w % 12 == 0
    name = next(iter(clips))
    clips[name].frames.zero_()  # callers get copies
    assert bundled_videos("test")[name].frames.any()
    with pytest.raises(ValueError, match="split"):
        bundled_videos("val")


def test_bundled_videos_take_other_render_settings():
    slow = bundled_videos("test", max_speed=1.0, num_frames=6, size=[48, 64])
    fast = bundled_videos("test", max_speed=4.0, num_frames=6, size=(48, 64))
    assert set(slow) == set(fast) == set(bundled_videos("test"))
    for name in slow:
        assert slow[name].frames.shape == (6, 3, 48, 64)
        # the same clip, only faster: every flow grows (as much as each path leaves room for)
        assert fast[name].flow_forward.abs().mean() > 1.5 * slow[name].flow_forward.abs().mean()
        expected = synthetic_video(
            synthetic._TEST_CLIPS[name], split="test", background=name, max_speed=1.0,
            num_frames=6, size=(48, 64),
        )  # fmt: skip
        assert torch.equal(slow[name].frames, expected.frames)
    with pytest.raises(ValueError, match="seed"):
        bundled_videos("train", seed=3)


def test_mean_motion_is_the_mean_flow_length_and_grows_with_speed():
    clip = synthetic_video(0, num_frames=4, size=(32, 48), max_speed=2.0)
    lengths = clip.flow_forward.square().sum(1).sqrt()  # (t-1, h, w)
    assert clip.mean_motion() == pytest.approx(lengths.mean().item())
    assert synthetic_video(0, num_frames=4, size=(32, 48), max_speed=0.0).mean_motion() < 0.5 * (
        clip.mean_motion()
    )
