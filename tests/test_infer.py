"""srlab.infer: tiled inference equals whole-image inference when the overlap covers the
receptive field, the x8 self-ensemble, and the errors."""

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlab.infer import receptive_field, upscale


class TinySR(nn.Module):
    """Three 3x3 convs at LR, pixel shuffle x2, one 3x3 conv at HR: receptive field radius
    3 + ceil(1 / 2) = 4 LR pixels, width 9."""

    scale = 2

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 12, 3, padding=1),
            nn.PixelShuffle(2),
            nn.Conv2d(3, 3, 3, padding=1),
        )

    def forward(self, x):
        return self.body(x) + F.interpolate(x, scale_factor=2, mode="nearest")


class SymmetricSR(nn.Module):
    """Nearest x2, then a depthwise 3x3 conv whose kernel is symmetric under flips and
    transposes, then a 1x1 channel mix: commutes with all 8 symmetries of the square."""

    scale = 2

    def __init__(self):
        super().__init__()
        a, b, c = 0.05, 0.1, 0.4
        kernel = torch.tensor([[a, b, a], [b, c, b], [a, b, a]])
        self.blur = nn.Conv2d(3, 3, 3, padding=1, groups=3, bias=False)
        self.mix = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.blur.weight.copy_(kernel.expand(3, 1, 3, 3))
            self.mix.weight.copy_(torch.eye(3).view(3, 3, 1, 1) * 0.8 + 0.05)
            self.mix.bias.fill_(0.02)

    def forward(self, x):
        return self.mix(self.blur(F.interpolate(x, scale_factor=2, mode="nearest")))


def image(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_receptive_field_of_tiny_net():
    assert receptive_field(TinySR()) == 9


@pytest.mark.parametrize("tile", [9, 12, 17, 40])
@pytest.mark.parametrize("shape", [(3, 23, 31), (2, 3, 20, 16)])
def test_tiled_equals_whole_when_overlap_covers_receptive_field(tile, shape):
    model, x = TinySR(), image(*shape)
    whole = upscale(model, x)
    tiled = upscale(model, x, tile=tile, tile_overlap=4)
    assert tiled.shape == whole.shape == (*shape[:-2], shape[-2] * 2, shape[-1] * 2)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_tiled_differs_when_overlap_is_too_small():
    model, x = TinySR(), image(3, 23, 31)
    whole = upscale(model, x)
    tiled = upscale(model, x, tile=12, tile_overlap=2)
    assert (tiled - whole).abs().max() > 1e-4


def test_tiled_equals_whole_for_edsr():
    from srlab.archs import build

    torch.manual_seed(0)
    model = build("edsr", num_feat=8, num_block=2, upscale=2)
    # 7 convs at LR (first, 2 blocks of 2, after body, upsample) and conv_last at HR: radius 8.
    assert receptive_field(model) == 17
    overlap = 8
    x = image(1, 3, 30, 37)
    torch.testing.assert_close(
        upscale(model, x, tile=24, tile_overlap=overlap), upscale(model, x), atol=1e-5, rtol=0
    )


def test_output_is_clamped_float32_cpu_and_matches_model():
    model, x = TinySR(), image(3, 10, 12)
    out = upscale(model, x)
    assert out.dtype == torch.float32 and 0 <= out.min() and out.max() <= 1
    with torch.no_grad():
        torch.testing.assert_close(out, model(x[None])[0].clamp(0, 1))


def test_self_ensemble_of_equivariant_model_equals_plain_output():
    model, x = SymmetricSR(), image(1, 3, 11, 14)
    torch.testing.assert_close(upscale(model, x, self_ensemble=True), upscale(model, x))


def test_self_ensemble_changes_output_of_non_equivariant_model():
    model, x = TinySR(), image(1, 3, 11, 14)
    assert (upscale(model, x, self_ensemble=True) - upscale(model, x)).abs().max() > 1e-3


def test_self_ensemble_with_tiles_equals_whole():
    model, x = TinySR(), image(3, 21, 18)
    whole = upscale(model, x, self_ensemble=True)
    tiled = upscale(model, x, self_ensemble=True, tile=13, tile_overlap=4, progress=True)
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


def test_bfloat16_channels_last_and_training_mode_restored():
    model, x = TinySR(), image(3, 16, 16)
    model.train()
    ref = upscale(model, x)
    assert model.training
    torch.testing.assert_close(upscale(model, x, channels_last=True), ref, atol=1e-5, rtol=0)
    low = upscale(model, x, dtype=torch.bfloat16)
    assert low.dtype == torch.float32 and (low - ref).abs().max() < 0.05
    with pytest.raises(ValueError, match="float16 autocast is for CUDA"):
        upscale(model, x, dtype=torch.float16)


def test_errors_name_the_problem():
    model, x = TinySR(), image(3, 16, 16)
    with pytest.raises(ValueError, match="NaN"):
        upscale(model, torch.where(x > 0.5, float("nan"), x))
    with pytest.raises(ValueError, match="3 channels"):
        upscale(model, image(1, 16, 16))
    with pytest.raises(ValueError, match="model was built for x2, asked x4"):
        upscale(model, x, scale=4)
    with pytest.raises(ValueError, match="tile=8 is too small for tile_overlap=4"):
        upscale(model, x, tile=8, tile_overlap=4)
    plain = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))  # no .scale
    with pytest.raises(ValueError, match="model upscales x2, asked x3"):
        upscale(plain, x, scale=3)


def test_receptive_field_warns_about_global_pooling():
    from srlab.archs import build

    common = dict(num_feat=16, num_group=1, num_block=1, upscale=2, squeeze_factor=4)
    with pytest.warns(UserWarning, match="pools globally"):
        receptive_field(build("rcan", **common))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        receptive_field(build("rcan", use_ca=False, **common))
