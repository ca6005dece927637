"""srlab.archs: the registry, one forward test over every preset, and input guards.

Full-size weight compatibility is in test_archs_manifest.py; here presets are built shallower
(SHALLOW) so that every one runs a forward pass on CPU in well under a second."""

import pytest
import torch

from srlab.archs import ARCHS, IMAGE_SR_PRESETS, PRESETS, build

# Per arch, depth overrides that keep a preset's width and scale but make it fast.
SHALLOW = {
    "edsr": dict(num_block=2),
    "rcan": dict(num_group=2, num_block=2),
    "msrresnet": dict(num_block=2),
    "rrdbnet": dict(num_block=2),
    "basicvsr": dict(num_block=1),
    "iconvsr": dict(num_block=1),
    "edvr": dict(num_extract_block=1, num_reconstruct_block=1),
    "hifacegan": dict(num_feat=4),
    "hifacegan_discriminator": dict(num_feat=8),
}


def image_sr(model):
    """(input shape, expected output shape) for an image SR model."""
    return (1, 3, 8, 8), (1, 3, 8 * model.scale, 8 * model.scale)


def discriminator(model):
    return (1, 3, model.input_size, model.input_size), (1, 1)


def recurrent_video_sr(model):
    """x4 on every frame; 7 frames, enough for IconVSR's refill window (up to 7 on Vimeo)."""
    return (1, 7, 3, 8, 8), (1, 7, 3, 32, 32)


def sliding_window_video_sr(model):
    """x4 on the centre frame of a window of num_frame frames."""
    return (1, model.num_frame, 3, 8, 8), (1, 3, 32, 32)


def dynamic_filter_video_sr(model):
    """DUF: x scale on the centre frame of exactly 7 frames."""
    return (1, 7, 3, 8, 8), (1, 3, 8 * model.scale, 8 * model.scale)


def pre_upsampled_video_sr(model):
    """TOFlow: 7 frames already at the HR size (sides multiples of 16), the centre frame out."""
    return (1, 7, 3, 16, 16), (1, 3, 16, 16)


def face_restoration(model):
    """HiFaceGAN: same size in and out, sides multiples of 32 (and 2 pixels at 1/32)."""
    return (1, 3, 32, 64), (1, 3, 32, 64)


def multiscale_discriminator(model):
    """(degraded, restored) pairs on channels in; per scale, the last stage's patch logits."""
    return (1, 6, 32, 32), [(1, 1, 7, 7), (1, 1, 5, 5)]


def optical_flow(model):
    """Two frames in (a list of input shapes), the flow between them out."""
    return [(1, 3, 16, 16), (1, 3, 16, 16)], (1, 2, 16, 16)


# Per arch, how to probe it: a function model -> (input shape, expected output shape); a list of
# input shapes for a model that takes several inputs.
# A new arch (e.g. a video model) needs an entry here, and in SHALLOW if its presets are big.
PROBES = {
    "edsr": image_sr,
    "rcan": image_sr,
    "msrresnet": image_sr,
    "rrdbnet": image_sr,
    "vgg_discriminator": discriminator,
    "spynet": optical_flow,
    "basicvsr": recurrent_video_sr,
    "iconvsr": recurrent_video_sr,
    "edvr": sliding_window_video_sr,
    "duf": dynamic_filter_video_sr,
    "tof": pre_upsampled_video_sr,
    "hifacegan": face_restoration,
    "hifacegan_discriminator": multiscale_discriminator,
}
IMAGE_SR_ARCHS = [a for a, probe in PROBES.items() if probe is image_sr]


def test_every_arch_has_a_probe_and_a_preset():
    assert set(PROBES) == set(ARCHS)
    assert {arch for arch, _ in PRESETS.values()} == set(ARCHS)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_forward_shape_dtype_finite(preset):
    arch = PRESETS[preset][0]
    if arch not in PROBES:
        pytest.fail(f"add a probe for arch {arch!r} to PROBES in {__file__}")
    torch.manual_seed(0)
    model = build(preset, **SHALLOW.get(arch, {})).eval()
    in_shape, out_shape = PROBES[arch](model)
    shapes = in_shape if isinstance(in_shape, list) else [in_shape]
    with torch.no_grad():
        out = model(*(torch.rand(shape) for shape in shapes))
    if isinstance(out, list):  # a multi-scale discriminator: per scale, a list of features
        out = [scale[-1] for scale in out]
        assert [o.shape for o in out] == out_shape
        out = torch.cat([o.flatten() for o in out])
    assert isinstance(out_shape, list) or out.shape == out_shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_image_sr_presets_are_exactly_the_image_sr_models():
    expected = {name for name, (arch, _) in PRESETS.items() if arch in IMAGE_SR_ARCHS}
    assert set(IMAGE_SR_PRESETS) == expected
    for name, scale in IMAGE_SR_PRESETS.items():
        assert build(name, **SHALLOW.get(PRESETS[name][0], {})).scale == scale, name


def test_build_preset_overrides_and_config():
    model = build("rcan_x4", num_group=1, num_block=1, use_ca=False)
    assert model.srlab_config == {
        "arch": "rcan",
        "kwargs": dict(upscale=4, num_feat=64, num_group=1, num_block=1, use_ca=False),
    }
    assert len(model.body) == 1 and model.scale == 4
    assert not any(".rcab.3." in k for k in model.state_dict())
    # an arch name: the constructor's defaults plus the overrides
    model = build("edsr", num_block=1, upscale=2)
    assert model.srlab_config == {"arch": "edsr", "kwargs": dict(num_block=1, upscale=2)}
    assert len(model.body) == 1 and model.scale == 2


def test_build_preset_config_is_not_shared_with_presets():
    model = build("edsr_baseline_x2", num_block=1)
    model.srlab_config["kwargs"]["upscale"] = 3
    assert PRESETS["edsr_baseline_x2"][1]["upscale"] == 2


def test_build_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'rcan_x5'") as err:
        build("rcan_x5")
    assert "rcan_x4" in str(err.value) and "msrresnet" in str(err.value)


def test_build_unknown_argument_is_named():
    with pytest.raises(TypeError, match="unknown argument.*num_blocks") as err:
        build("edsr_baseline_x2", num_blocks=4)
    assert "num_block" in str(err.value).split("accepts:")[1]


@pytest.mark.parametrize(
    "arch, kwargs, factor",
    [
        ("edsr", dict(upscale=3), 3),
        ("rcan", dict(upscale=8), 8),
        ("msrresnet", dict(upscale=2), 2),
        ("rrdbnet", dict(scale=1), 1),
        ("rrdbnet", dict(scale=2), 2),
    ],
)
def test_scale_property_is_the_factor(arch, kwargs, factor):
    model = build(arch, num_feat=16, **SHALLOW[arch], **kwargs)
    assert model.scale == factor
    # BasicSR's own attribute names stay: `scale` on RRDBNet, `upscale` on the others
    assert getattr(model, "scale" if arch == "rrdbnet" else "upscale") == factor


@pytest.mark.parametrize(
    "arch, kwargs, match",
    [
        ("msrresnet", dict(upscale=8), "upscale 2, 3 or 4"),
        ("rrdbnet", dict(scale=3), "scale 1, 2 or 4"),
        ("edsr", dict(upscale=5), "scales"),
        ("vgg_discriminator", dict(input_size=96), "32, 64, 128 or 256"),
    ],
)
def test_unsupported_configuration_is_refused(arch, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build(arch, **kwargs)


def tiny(arch: str) -> torch.nn.Module:
    return build(arch, num_feat=16, **SHALLOW[arch])


@pytest.mark.parametrize("arch", IMAGE_SR_ARCHS)
@pytest.mark.parametrize(
    "make_x, error, match",
    [
        pytest.param(lambda: torch.rand(1, 1, 8, 8), ValueError, "3 channels", id="grey"),
        pytest.param(lambda: torch.rand(1, 4, 8, 8), ValueError, "3 channels", id="rgba"),
        pytest.param(lambda: torch.rand(3, 8, 8), ValueError, r"\(b, c, h, w\)", id="no-batch"),
        pytest.param(lambda: torch.rand(1, 1, 3, 8, 8), ValueError, r"\(b, c, h, w\)", id="video"),
        pytest.param(lambda: torch.full((1, 3, 8, 8), torch.nan), ValueError, "NaN", id="nan"),
        pytest.param(lambda: torch.rand(1, 3, 8, 8) * 255, ValueError, "divide by 255", id="0-255"),
        pytest.param(lambda: -torch.rand(1, 3, 8, 8), ValueError, r"\[0, 1\]", id="negative"),
        pytest.param(
            lambda: torch.zeros(1, 3, 8, 8, dtype=torch.uint8), TypeError, "to_tensor", id="uint8"
        ),
        pytest.param(lambda: torch.rand(1, 3, 8, 8).numpy(), TypeError, "torch.Tensor", id="numpy"),
    ],
)
def test_image_sr_bad_input_is_refused(arch, make_x, error, match):
    model = tiny(arch)
    with pytest.raises(error, match=match):
        model(make_x())


def test_image_sr_nan_among_valid_values_is_refused():
    x = torch.rand(1, 3, 8, 8)
    x[0, 1, 2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tiny("edsr")(x)


@pytest.mark.parametrize("scale, multiple", [(2, 2), (1, 4)])
def test_rrdbnet_unshuffle_needs_divisible_size(scale, multiple):
    model = build("rrdbnet", scale=scale, num_feat=8, num_block=1, num_grow_ch=4)
    assert model(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8 * scale, 8 * scale)
    with pytest.raises(ValueError, match=f"multiples of {multiple}"):
        model(torch.rand(1, 3, 8, 7))


def test_discriminator_input_guard():
    model = build("vgg_discriminator", num_feat=4).eval()
    # a generator's output may overshoot [0, 1]: the discriminator takes it
    assert model(torch.rand(2, 3, 128, 128) * 1.4 - 0.2).shape == (2, 1)
    with pytest.raises(ValueError, match=r"\(b, 3, 128, 128\)"):
        model(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"\(b, 3, 128, 128\)"):
        model(torch.rand(1, 3, 128, 96))
    with pytest.raises(ValueError, match=r"\(b, 3, 128, 128\)"):
        model(torch.rand(1, 1, 128, 128))
    with pytest.raises(ValueError, match="NaN"):
        model(torch.full((1, 3, 128, 128), float("nan")))


def test_discriminator_256_has_a_sixth_stage():
    d128 = build("vgg_discriminator", num_feat=4)
    d256 = build("vgg_discriminator", num_feat=4, input_size=256)
    extra = set(d256.state_dict()) - set(d128.state_dict())
    assert {k.split(".")[0] for k in extra} == {"conv5_0", "bn5_0", "conv5_1", "bn5_1"}
    assert d256.state_dict()["linear1.weight"].shape == d128.state_dict()["linear1.weight"].shape


@pytest.mark.parametrize("arch", ["edsr", "rcan"])
def test_rgb_mean_is_a_non_persistent_buffer(arch):
    model = tiny(arch)
    assert "mean" not in model.state_dict()
    assert torch.equal(model.mean.flatten(), torch.tensor([0.4488, 0.4371, 0.4040]))
    assert model.double().mean.dtype == torch.float64  # follows .to() like any buffer


def test_build_accepts_the_edge_values_its_rules_allow():
    assert build("rcan", num_feat=16, squeeze_factor=16, num_group=1, num_block=1) is not None
    assert build("edsr", num_block=0, num_feat=4) is not None  # an empty trunk is legal
    assert build("edvr", num_feat=8, deformable_groups=4, num_extract_block=1,
                 num_reconstruct_block=1) is not None  # fmt: skip
    assert build("iconvsr", num_feat=12, num_block=1, use_refill=False) is not None
