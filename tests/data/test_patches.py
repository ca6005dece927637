"""srlab.data.patches: aligned crops, flips that keep flows right, and the patch datasets."""

import itertools
import math

import numpy as np
import pytest
import torch

from srlab.archs.blocks import flow_warp
from srlab.data import (
    ImagePatches,
    PairedImageFolder,
    VideoPatches,
    augment,
    downscale_flow,
    random_crop_pair,
    synthetic_video,
)
from srlab.degradations import degrade
from srlab.io import imwrite, mod_crop, to_tensor

FLIPS = list(itertools.product([False, True], repeat=3))  # (hflip, vflip, rot90): all 8


def masked_psnr(a, b, mask):
    mse = ((a - b) ** 2 * mask).sum() / (mask.sum() * a.shape[-3])
    return -10 * math.log10(mse.item())


def index_pair(lead, h, w, s):
    """lq (*lead, 1, h, w) holding each LR pixel's index, and gt (*lead, 1, h*s, w*s) holding at
    every HR pixel the index of the LR pixel that covers it."""
    lq = torch.arange(h * w, dtype=torch.float32).view(h, w)
    gt = lq.repeat_interleave(s, 0).repeat_interleave(s, 1)
    return lq.expand(*lead, 1, h, w), gt.expand(*lead, 1, h * s, w * s)


@pytest.mark.parametrize("lead", [(), (4,)], ids=["image", "video"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_crops_are_aligned_across_scale(lead, scale):
    lq, gt = index_pair(lead, 9, 11, scale)
    g = torch.Generator().manual_seed(0)
    corners = set()
    for _ in range(40):
        lq_patch, gt_patch = random_crop_pair(lq, gt, 5, scale, g)
        assert lq_patch.shape == (*lead, 1, 5, 5) and gt_patch.shape == (
            *lead,
            1,
            5 * scale,
            5 * scale,
        )
        up = lq_patch.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
        assert torch.equal(up, gt_patch)
        corners.add(int(lq_patch.flatten()[0]))
    assert len(corners) > 10  # the window really moves


def test_crop_is_deterministic_given_a_generator_and_checks_shapes():
    lq, gt = index_pair((), 9, 11, 2)
    a = random_crop_pair(lq, gt, 4, 2, torch.Generator().manual_seed(5))
    b = random_crop_pair(lq, gt, 4, 2, torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="upscaled x2"):
        random_crop_pair(lq, gt[..., :-1], 4, 2)
    with pytest.raises(ValueError, match="does not fit"):
        random_crop_pair(lq, gt, 10, 2)


def test_augment_is_the_same_flip_for_every_tensor():
    x = torch.arange(2 * 3 * 4 * 5.0).view(2, 3, 4, 5)
    (out,) = augment(x, hflip=True, vflip=False, rot90=False)
    assert torch.equal(out, x.flip(-1))
    a, b = augment(x, x[0], hflip=True, vflip=True, rot90=True)
    assert a.shape == (2, 3, 5, 4) and torch.equal(a[0], b)
    assert torch.equal(a, x.flip(-1).flip(-2).transpose(-2, -1))
    seen = {
        augment(x, hflip=h, vflip=v, rot90=r)[0][0, 0, :4, :4].flatten().tolist().__str__()
        for h, v, r in FLIPS
    }
    assert len(seen) == 8  # the 8 symmetries of the square are all different


@pytest.fixture(scope="module")
def square_clip():
    return synthetic_video(2, num_frames=3, size=(64, 64))


@pytest.mark.parametrize("hflip,vflip,rot90", FLIPS)
def test_augmented_flows_still_warp_the_augmented_frames(square_clip, hflip, vflip, rot90):
    clip = square_clip
    frames, mask_b, mask_f, flow_b, flow_f = augment(
        clip.frames,
        clip.mask_backward,
        clip.mask_forward,
        hflip=hflip,
        vflip=vflip,
        rot90=rot90,
        flows=(clip.flow_backward, clip.flow_forward),
    )
    backward = flow_warp(frames[1:], flow_b)
    forward = flow_warp(frames[:-1], flow_f)
    assert masked_psnr(backward, frames[:-1], mask_b) > 40
    assert masked_psnr(forward, frames[1:], mask_f) > 40
    if hflip or vflip or rot90:  # moving the flow like an image, without turning its vectors, fails
        (naive,) = augment(clip.flow_backward, hflip=hflip, vflip=vflip, rot90=rot90)
        assert masked_psnr(flow_warp(frames[1:], naive), frames[:-1], mask_b) < 35


def train_images():
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.integers(0, 256, (9, 10, 3)), np.ones((4, 4, 1)))  # 36 x 40 blocks
    return {"a": smooth.astype(np.uint8), "b": rng.integers(0, 256, (30, 27, 3), dtype=np.uint8)}


@pytest.mark.parametrize("kind", ["BI", "BD"])
def test_image_patches_are_crops_of_the_degraded_image(kind):
    """LR is made from the whole image, as a benchmark's LR files are, then cut at the HR patch."""
    images = train_images()
    data = ImagePatches(images, scale=3, patch_size=6, degradation=kind, augment=False, repeat=3)
    assert len(data) == 6
    for i in range(len(data)):
        item = data[i]
        assert item["lq"].shape == (3, 6, 6) and item["gt"].shape == (3, 18, 18)
        hr = to_tensor(mod_crop(images["ab"[i % 2]], 3))  # item i comes from image i % 2
        lr = degrade(hr, 3, kind)
        windows = hr.unfold(1, 18, 1).unfold(2, 18, 1)  # (3, y, x, 18, 18): every HR window
        ((y, x),) = torch.nonzero((windows == item["gt"][:, None, None]).all(-1).all(-1).all(0))
        assert y % 3 == 0 and x % 3 == 0
        assert torch.equal(item["lq"], lr[:, y // 3 : y // 3 + 6, x // 3 : x // 3 + 6])


def test_image_patches_are_deterministic():
    images = train_images()

    def patches(**kw):
        data = ImagePatches(images, scale=2, patch_size=8, **kw)
        return [data[i]["lq"] for i in range(4)]

    a = patches(generator=torch.Generator().manual_seed(1))
    b = patches(generator=torch.Generator().manual_seed(1))
    c = patches(generator=torch.Generator().manual_seed(2))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    torch.manual_seed(3)  # no generator: torch's global RNG, as srlab.train seeds it per sample
    d = patches()
    torch.manual_seed(3)
    assert all(torch.equal(x, y) for x, y in zip(d, patches(), strict=True))


def test_image_patches_from_a_folder(tmp_path):
    for name in ("x", "y"):
        imwrite(tmp_path / "hr" / f"{name}.png", np.zeros((16, 20, 3), np.uint8))
        imwrite(tmp_path / "lr" / f"{name}x4.png", np.zeros((4, 5, 3), np.uint8))
    folder = PairedImageFolder(tmp_path / "hr", tmp_path / "lr", scale=4)
    item = ImagePatches(folder, scale=4, patch_size=3)[1]
    assert item["lq"].shape == (3, 3, 3) and item["gt"].shape == (3, 12, 12)
    with pytest.raises(ValueError, match="smaller than patch_size"):
        ImagePatches(train_images(), scale=4, patch_size=8)


def test_video_patches_carry_flows_that_warp_the_lr_frames():
    clips = {k: synthetic_video(k, num_frames=5, size=(48, 64)) for k in range(2)}
    data = VideoPatches(
        clips,
        scale=4,
        patch_size=10,
        num_frames=3,
        repeat=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(data) == 8
    gains = []
    for i in range(len(data)):
        item = data[i]
        assert item["lq"].shape == (3, 3, 10, 10) and item["gt"].shape == (3, 3, 40, 40)
        assert item["flow_forward"].shape == item["flow_backward"].shape == (2, 2, 10, 10)
        lq = item["lq"]
        inner = torch.zeros_like(lq[:-1, :1])
        inner[..., 2:-2, 2:-2] = 1  # warps near the patch edge read outside it
        warped = masked_psnr(flow_warp(lq[1:], item["flow_backward"]), lq[:-1], inner)
        still = masked_psnr(lq[1:], lq[:-1], inner)
        gains.append(warped - still)
    # LR flows, cropped and flipped with their frames, still align them (occlusions and LR
    # aliasing keep this from being exact, so compare with no motion compensation)
    assert np.median(gains) > 3, gains


def test_video_patches_without_augmentation_are_crops_of_the_clip():
    clip = synthetic_video(0, num_frames=4, size=(32, 32))
    item = VideoPatches({"c": clip}, scale=4, patch_size=8, num_frames=4, augment=False)[0]
    assert torch.equal(item["gt"], clip.frames)  # the only window there is
    assert torch.equal(item["flow_forward"], downscale_flow(clip.flow_forward, 4))
    assert torch.equal(item["flow_backward"], downscale_flow(clip.flow_backward, 4))
    with pytest.raises(ValueError, match="too small"):
        VideoPatches({"c": clip}, scale=4, patch_size=9, num_frames=4)


def test_video_patches_noise_is_fresh_per_window_and_only_on_the_lr_frames():
    clip = synthetic_video(0, num_frames=4, size=(32, 32))
    clean = VideoPatches({"c": clip}, scale=4, patch_size=8, num_frames=4, augment=False)[0]
    noisy = VideoPatches({"c": clip}, scale=4, patch_size=8, num_frames=4, augment=False,
                         noise=0.1, generator=torch.Generator().manual_seed(0))  # fmt: skip
    a, b = noisy[0], noisy[0]
    assert torch.equal(a["gt"], clean["gt"])
    assert torch.equal(a["flow_forward"], clean["flow_forward"])
    assert not torch.equal(a["lq"], b["lq"])  # a new draw for every window
    assert 0.05 < (a["lq"] - clean["lq"]).std() < 0.15
    assert 0 <= a["lq"].min() <= a["lq"].max() <= 1
    for bad in (-0.1, 2.0, True, "0.1"):
        with pytest.raises(ValueError, match="noise must be a sigma in"):
            VideoPatches({"c": clip}, scale=4, patch_size=8, num_frames=4, noise=bad)


@pytest.mark.parametrize("sampler", ["image", "video"])
@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(patch_size=0), "patch_size must be an integer >= 1"),
        (dict(patch_size=2.5), "patch_size must be an integer >= 1"),
        (dict(repeat=0), "repeat must be an integer >= 1"),
        (dict(scale=5), "scale"),
        (dict(degradation="XY"), "degradation"),
    ],
)
def test_patch_samplers_name_their_bad_arguments(sampler, bad, match):
    if sampler == "image":
        args = dict(scale=2, patch_size=4) | bad
        make = lambda: ImagePatches(train_images(), **args)  # noqa: E731
    else:
        clip = synthetic_video(0, num_frames=3, size=(32, 32))
        args = dict(scale=4, patch_size=4, num_frames=3) | bad
        make = lambda: VideoPatches({"c": clip}, **args)  # noqa: E731
    with pytest.raises(ValueError, match=match):
        make()
