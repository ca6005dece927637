"""srlab.video: whole-clip inference (segments, oracle flows, bfloat16, latency, memory) and
per-frame scoring."""

import copy

import numpy as np
import pytest
import torch
from einops import rearrange
from torch import nn

from srlab.archs import build
from srlab.data import downscale_flow, synthetic_video
from srlab.degradations import imresize
from srlab.video import evaluate_clips, frame_mean, run_clip


class Bicubic(nn.Module):
    """A 'video model' that upsamples every frame with MATLAB bicubic, and records its kwargs."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.calls = []

    def forward(self, lqs, **kwargs):  # (b, t, 3, h, w) -> (b, t, 3, 4h, 4w)
        self.calls.append(kwargs)
        b = lqs.shape[0]
        up = imresize(rearrange(lqs, "b t c h w -> (b t) c h w"), 4)
        return rearrange(up, "(b t) c h w -> b t c h w", b=b) + self.dummy


@pytest.fixture(scope="module")
def tiny_basicvsr():
    torch.manual_seed(0)
    return build("basicvsr", num_feat=4, num_block=1).eval()


def test_run_clip_shapes_and_measurements(tiny_basicvsr):
    lqs = torch.rand(4, 3, 8, 8)
    out = run_clip(tiny_basicvsr, lqs)
    assert out["sr"].shape == (4, 3, 32, 32) and out["sr"].dtype == torch.float32
    assert 0 <= out["sr"].min() and out["sr"].max() <= 1
    assert out["latency_s_per_frame"] > 0 and out["peak_mb"] >= 0 and out["dtype"] == "float32"
    batched = run_clip(tiny_basicvsr, lqs[None])["sr"]
    assert torch.equal(batched, out["sr"])
    with pytest.raises(ValueError, match="one clip"):
        run_clip(tiny_basicvsr, torch.rand(2, 4, 3, 8, 8))


def test_run_clip_segments_are_independent_clips(tiny_basicvsr):
    lqs = torch.rand(4, 3, 8, 8)
    whole = run_clip(tiny_basicvsr, lqs)["sr"]
    split = run_clip(tiny_basicvsr, lqs, segments=2)["sr"]
    halves = torch.cat([run_clip(tiny_basicvsr, half)["sr"] for half in (lqs[:2], lqs[2:])])
    assert torch.allclose(split, halves, atol=1e-5)
    assert not torch.allclose(split, whole, atol=1e-5)


def test_run_clip_passes_oracle_flows(tiny_basicvsr):
    lqs = torch.rand(3, 3, 8, 8)
    flows = (torch.zeros(2, 2, 8, 8), torch.zeros(2, 2, 8, 8))
    ours = run_clip(tiny_basicvsr, lqs, flows=flows)["sr"]
    with torch.no_grad():
        direct = tiny_basicvsr(lqs[None], flows=tuple(f[None] for f in flows))[0].clamp(0, 1)
    assert torch.allclose(ours, direct)
    assert not torch.allclose(ours, run_clip(tiny_basicvsr, lqs)["sr"])


def test_run_clip_bfloat16_is_close_to_float32(tiny_basicvsr):
    lqs = torch.rand(3, 3, 8, 8)
    full = run_clip(tiny_basicvsr, lqs)["sr"]
    half = run_clip(tiny_basicvsr, lqs, dtype=torch.bfloat16)
    assert half["sr"].dtype == torch.float32 and half["dtype"] == "bfloat16"
    assert (half["sr"] - full).abs().mean() < 0.02
    assert not torch.equal(half["sr"], full)


class TrainingShows(Bicubic):
    """Bicubic in eval mode; in train mode, dropout on the output (and a batch norm that updates
    its running statistics): run in train mode, a clip comes out different."""

    def __init__(self):
        super().__init__()
        self.norm, self.drop = nn.BatchNorm3d(3), nn.Dropout(0.5)

    def forward(self, lqs, **kwargs):
        if not self.training:
            return super().forward(lqs, **kwargs)
        x = self.norm(lqs.transpose(1, 2)).transpose(1, 2)  # (b, t, 3, h, w), batch statistics
        return self.drop(super().forward(x, **kwargs))


def test_run_clip_runs_the_model_in_eval_mode():
    model = TrainingShows().train()
    before = copy.deepcopy(model.norm.state_dict())
    lqs = torch.rand(3, 3, 8, 8)
    out = run_clip(model, lqs)["sr"]
    assert torch.equal(out, run_clip(Bicubic(), lqs)["sr"])  # what eval mode gives
    assert all(torch.equal(v, before[k]) for k, v in model.norm.state_dict().items())
    assert model.training  # the caller's mode is restored
    with torch.no_grad():
        assert not torch.allclose(model(lqs[None])[0].clamp(0, 1), out)


def test_run_clip_passes_only_what_is_asked():
    model = Bicubic()
    run_clip(model, torch.rand(3, 3, 8, 8))
    run_clip(model, torch.rand(3, 3, 8, 8), keyframe_stride=0)
    assert model.calls == [{}, {"keyframe_stride": 0}]
    assert model.training, "the model's mode is restored"


def test_evaluate_clips_per_frame_scores_and_bicubic():
    clips = {"a": synthetic_video(0, num_frames=3, size=(32, 32))}
    model = Bicubic()
    res = evaluate_clips(model, clips, scale=4, degradation="BI", y_channel=True, crop_border=4)
    assert res["psnr"]["a"].shape == (3,) and res["ssim"]["a"].shape == (3,)
    # A model that is bicubic upsampling scores exactly the bicubic baseline.
    np.testing.assert_allclose(res["psnr"]["a"], res["bicubic_psnr"]["a"])
    np.testing.assert_allclose(res["ssim"]["a"], res["bicubic_ssim"]["a"])
    assert np.isfinite(res["psnr"]["a"]).all() and (res["ssim"]["a"] <= 1).all()
    assert res["protocol"]["channel"] == "Y" and res["protocol"]["flow"] == "spynet"
    assert frame_mean(res) == pytest.approx(res["psnr"]["a"].mean())
    rgb = evaluate_clips(model, clips, scale=4, degradation="BI", y_channel=False, crop_border=4)
    assert not np.allclose(rgb["psnr"]["a"], res["psnr"]["a"])


def test_evaluate_clips_without_ssim_gives_the_same_psnr_and_no_ssim_keys():
    clips = {"a": synthetic_video(0, num_frames=3, size=(32, 32))}
    model = Bicubic()
    protocol = dict(scale=4, degradation="BI", y_channel=True, crop_border=4)
    full = evaluate_clips(model, clips, **protocol)
    fast = evaluate_clips(model, clips, **protocol, ssim=False)
    assert "ssim" not in fast and "bicubic_ssim" not in fast
    np.testing.assert_array_equal(fast["psnr"]["a"], full["psnr"]["a"])
    np.testing.assert_array_equal(fast["bicubic_psnr"]["a"], full["bicubic_psnr"]["a"])


def test_evaluate_clips_oracle_flow_is_the_true_lr_flow():
    clip = synthetic_video(1, num_frames=3, size=(32, 32))
    model = Bicubic()
    evaluate_clips(model, {"a": clip}, scale=4, degradation="BI", y_channel=False, crop_border=0,
                   flow="oracle")  # fmt: skip
    flows_forward, flows_backward = model.calls[-1]["flows"]
    assert torch.equal(flows_forward[0], downscale_flow(clip.flow_forward, 4))
    assert torch.equal(flows_backward[0], downscale_flow(clip.flow_backward, 4))


def test_evaluate_clips_rejects_oracle_without_flow():
    clips = {"real": {"gt": torch.rand(3, 3, 32, 32)}}
    with pytest.raises(ValueError, match="oracle"):
        evaluate_clips(Bicubic(), clips, scale=4, degradation="BI", y_channel=False,
                       crop_border=0, flow="oracle")  # fmt: skip
    with pytest.raises(ValueError, match="flow"):
        evaluate_clips(Bicubic(), clips, scale=4, degradation="BI", y_channel=False,
                       crop_border=0, flow="farneback")  # fmt: skip


def test_evaluate_clips_noise_is_the_same_for_every_call_and_scored_against_clean_frames():
    clips = {"a": synthetic_video(0, num_frames=3, size=(32, 32))}
    kwargs = dict(scale=4, degradation="BD", y_channel=False, crop_border=0)
    clean = evaluate_clips(Bicubic(), clips, **kwargs)
    noisy = evaluate_clips(Bicubic(), clips, **kwargs, noise=0.05)
    again = evaluate_clips(Bicubic(), clips, **kwargs, noise=0.05)
    np.testing.assert_array_equal(noisy["psnr"]["a"], again["psnr"]["a"])
    # the noise is on the input only: the ground truth stays clean, so bicubic scores lower
    assert (noisy["bicubic_psnr"]["a"] < clean["bicubic_psnr"]["a"] - 1).all()
    assert noisy["protocol"]["noise"] == 0.05 and clean["protocol"]["noise"] == 0.0


def test_clip_inputs_noise_draws_from_its_seed_and_leaves_given_lr_alone():
    from srlab.video import clip_inputs

    clip = synthetic_video(2, num_frames=2, size=(32, 32))
    clean = clip_inputs(clip, scale=4, degradation="BI")["lq"]
    a = clip_inputs(clip, scale=4, degradation="BI", noise=0.1, noise_seed=3)["lq"]
    b = clip_inputs(clip, scale=4, degradation="BI", noise=0.1, noise_seed=4)["lq"]
    assert not torch.equal(a, b) and 0.05 < (a - clean).std() < 0.15
    assert a.min() >= 0 and a.max() <= 1
    given = {"gt": clip.frames, "lq": clean}
    assert torch.equal(clip_inputs(given, scale=4, degradation="BI", noise=0.1)["lq"], clean)


def test_synthetic_clip_crop_keeps_flows_and_masks_aligned():
    from srlab.data import synthetic_video

    clip = synthetic_video(0, num_frames=5, size=(32, 48))
    cut = clip.crop(3, 16, 24)
    assert cut.frames.shape == (3, 3, 16, 24)
    for name in ("flow_forward", "flow_backward", "mask_forward", "mask_backward"):
        assert getattr(cut, name).shape[0] == 2 and getattr(cut, name).shape[-2:] == (16, 24)
        assert torch.equal(getattr(cut, name), getattr(clip, name)[:2, :, :16, :24])
    assert torch.equal(cut.frames, clip.frames[:3, :, :16, :24])
    cut.frames.zero_()  # a copy: the clip is untouched
    assert clip.frames.abs().sum() > 0
    with pytest.raises(ValueError, match=r"crop\(6, 16, 24\) does not fit a clip of 5 frames"):
        clip.crop(6, 16, 24)
    with pytest.raises(ValueError, match="does not fit"):
        clip.crop(3, 33, 24)
