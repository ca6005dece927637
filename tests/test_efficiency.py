"""Every inference variant runs on a tiny RCAN and stays close to float32 eager.

Tolerances, stated per variant as the PSNR of the variant's output against the float32 output
(both clamped to [0, 1]):
- exact variants (channels_last, int8_dynamic, compile, onnxruntime, openvino): the same
  arithmetic in another order or runtime, max |difference| <= 1e-4;
- bf16_autocast: bfloat16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2%), >= 55 dB;
- int8_static_fx, int8_static_pt2e: 8-bit activations (about 1/256 of each tensor's range per
  step), >= 40 dB (fx measured 53 dB; bf16 71 dB)."""

import sys

import pytest
import torch
import torch.nn.functional as F

from srlab import efficiency
from srlab.archs import build
from srlab.metrics import psnr

MIN_PSNR_DB = {"bf16_autocast": 55.0, "int8_static_fx": 40.0, "int8_static_pt2e": 40.0}
EXACT_ATOL = 1e-4


def smooth_images(n: int, size: int, seed: int) -> torch.Tensor:
    """(n, 3, size, size) in [0, 1]: upsampled noise, closer to an image than white noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build("rcan", upscale=2, num_feat=16, num_group=1, num_block=2, squeeze_factor=4)
    return model.eval()


def check_close(variant: str, out: torch.Tensor, ref: torch.Tensor) -> None:
    assert out.shape == ref.shape and out.dtype == torch.float32
    if variant in MIN_PSNR_DB:
        score = psnr(out.clamp(0, 1), ref.clamp(0, 1), crop_border=0, y_channel=False).min()
        assert float(score) >= MIN_PSNR_DB[variant], f"{variant}: {float(score):.1f} dB"
    else:
        assert (out - ref).abs().max() <= EXACT_ATOL, variant


FAST = ["fp32", "channels_last", "bf16_autocast", "int8_dynamic", "int8_static_fx", "onnxruntime"]


@pytest.mark.parametrize("variant", FAST)
def test_variant_matches_fp32_within_its_tolerance(tiny, variant):
    lq = smooth_images(2, 16, seed=1)
    calibration = list(smooth_images(4, 16, seed=2))
    try:
        runner = efficiency.make_runner(tiny, variant, example=lq[:1], calibration=calibration)
    except efficiency.VariantUnavailable as err:
        if variant == "onnxruntime":  # onnx and onnxruntime are in the dev extra: never a skip
            raise
        pytest.skip(f"{variant} unavailable: {err}")
    with torch.inference_mode():
        ref = tiny(lq)
        out = torch.cat([runner.run(lq[i : i + 1]) for i in range(2)])
    check_close(variant, out, ref)
    assert runner.note and runner.setup_s >= 0


@pytest.mark.slow
def test_compile_matches_fp32(tiny):
    lq = smooth_images(1, 16, seed=1)
    runner = efficiency.make_runner(tiny, "compile", example=lq)
    with torch.inference_mode():
        check_close("compile", runner.run(lq), tiny(lq))
    assert "first call" in runner.note


def test_dynamic_quantization_says_it_replaced_nothing_in_a_conv_net(tiny):
    runner = efficiency.make_runner(tiny, "int8_dynamic", example=smooth_images(1, 16, seed=1))
    assert "replaced 0 module(s)" in runner.note and "nn.Conv2d" in runner.note


def test_static_quantization_needs_calibration(tiny):
    with pytest.raises(ValueError, match="calibration"):
        efficiency.make_runner(tiny, "int8_static_fx", example=smooth_images(1, 16, seed=1))


def test_pt2e_without_torchao_is_reported_unavailable_with_the_reason(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao.quantization.pt2e.quantize_pt2e", None)
    lq = smooth_images(1, 16, seed=1)
    runners, unavailable = efficiency.make_runners(
        tiny, ["fp32", "int8_static_pt2e"], example=lq, calibration=[lq]
    )
    assert [r.variant for r in runners] == ["fp32"]
    assert "torchao" in unavailable["int8_static_pt2e"]


@pytest.mark.slow
def test_pt2e_int8_matches_fp32_within_int8_tolerance(tiny):
    pytest.importorskip("torchao")
    lq = smooth_images(1, 16, seed=1)
    calibration = list(smooth_images(4, 16, seed=2))
    runner = efficiency.make_runner(tiny, "int8_static_pt2e", example=lq, calibration=calibration)
    with torch.inference_mode():
        check_close("int8_static_pt2e", runner.run(lq), tiny(lq))
    assert "PT2E" in runner.note and runner.size_bytes < 0.4 * efficiency._state_bytes(tiny)


def test_openvino_matches_fp32(tiny):
    pytest.importorskip("openvino")
    lq = smooth_images(1, 16, seed=1)
    runner = efficiency.make_runner(tiny, "openvino", example=lq)
    with torch.inference_mode():
        check_close("openvino", runner.run(lq), tiny(lq))
    assert "float32 precision hint" in runner.note


def test_unknown_variant_is_refused(tiny):
    with pytest.raises(ValueError, match="variant"):
        efficiency.make_runner(tiny, "fp8", example=smooth_images(1, 16, seed=1))


def test_measure_rows_relative_to_fp32(tiny):
    lq = smooth_images(3, 16, seed=1)
    with torch.inference_mode():
        gt = F.interpolate(lq, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
    runners, _ = efficiency.make_runners(
        tiny, ["fp32", "channels_last", "bf16_autocast"], example=lq[:1]
    )
    rows = efficiency.measure(runners, lq, gt, crop_border=2, y_channel=True, repeats=3)
    by = {row["variant"]: row for row in rows}
    assert set(by) == {"fp32", "channels_last", "bf16_autocast"}
    assert by["fp32"]["speedup"] == 1.0 and by["fp32"]["delta_psnr_db"] == 0.0
    assert by["fp32"]["max_abs_diff"] == 0.0
    assert by["channels_last"]["max_abs_diff"] <= EXACT_ATOL
    assert by["bf16_autocast"]["max_abs_diff"] > 0  # bf16 rounds: the comparison is real
    expected_mb_s = 3 * 32 * 32 / 1e6 / by["fp32"]["median_s"]
    assert by["fp32"]["mb_per_s"] == pytest.approx(expected_mb_s)
    assert all(row["threads"] == torch.get_num_threads() for row in rows)
    with pytest.raises(ValueError, match="reference"):
        efficiency.measure(runners[1:], lq, gt, crop_border=2, y_channel=True, repeats=3)


def test_tiling_throughput_is_exact_for_a_conv_net_with_enough_overlap():
    torch.manual_seed(0)
    edsr = build("edsr", upscale=2, num_feat=8, num_block=1).eval()  # receptive radius 5 LR px
    img = smooth_images(1, 24, seed=3)[0]
    rows = efficiency.tiling_throughput(edsr, img, [None, 16], tile_overlap=6, repeats=2)
    assert [row["tile"] for row in rows] == [None, 16]
    assert rows[0]["max_abs_diff"] == 0.0
    assert rows[1]["max_abs_diff"] <= 1e-5
    assert rows[1]["mb_per_s"] == pytest.approx(3 * 48 * 48 / 1e6 / rows[1]["median_s"])


def test_interleaved_times_rotates_the_order_and_skips_warmup():
    order = []
    calls = {name: (lambda x, name=name: order.append(name)) for name in "abc"}
    times = efficiency.interleaved_times(calls, torch.zeros(1), warmup=1, repeats=2)
    assert {k: len(v) for k, v in times.items()} == {"a": 2, "b": 2, "c": 2}
    assert order == list("abcbcacab")  # round r starts at name r
    with pytest.raises(ValueError, match="repeats"):
        efficiency.interleaved_times(calls, torch.zeros(1), warmup=0, repeats=1)


def test_crop_pairs_centre_crops_and_degrades():
    import numpy as np

    rng = np.random.default_rng(0)
    images = {"big": rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)}
    images["small"] = images["big"][:10, :10]
    lq, gt = efficiency.crop_pairs(images, scale=2, lr_size=8)
    assert lq.shape == (1, 3, 8, 8) and gt.shape == (1, 3, 16, 16)  # "small" is left out
    torch.testing.assert_close(
        gt[0], torch.from_numpy(images["big"][12:28, 17:33]).permute(2, 0, 1) / 255
    )
    with pytest.raises(ValueError, match="lr_size"):
        efficiency.crop_pairs({"small": images["small"]}, scale=2, lr_size=8)


def test_format_rows_lists_every_variant_and_the_unavailable_ones():
    row = dict(variant="fp32", setup_s=0.0, median_s=0.01, iqr_s=0.001, speedup=1.0, mb_per_s=2.0)
    row |= dict(psnr=30.0, delta_psnr_db=0.0, max_abs_diff=0.0, size_mb=1.5)
    text = efficiency.format_rows([row], {"onnxruntime": "not installed"})
    assert "| fp32 | 0.0 | 10.0 | 1.0 | 1.00x | 2.00 | 30.00 | +0.000 | 0.0e+00 | 1.50 |" in text
    assert "onnxruntime | unavailable: not installed" in text


def test_static_int8_weights_take_about_a_quarter_of_fp32():
    torch.manual_seed(0)  # wide enough that the weights, not the per-module metadata, dominate
    model = build("rcan", upscale=2, num_feat=64, num_group=1, num_block=1).eval()
    lq = smooth_images(1, 16, seed=1)
    runners, _ = efficiency.make_runners(
        model, ["fp32", "int8_static_fx"], example=lq, calibration=[lq]
    )
    fp32, int8 = (r.size_bytes for r in runners)
    assert 0.25 < int8 / fp32 < 0.35  # int8 weights plus float biases, scales and zero points
