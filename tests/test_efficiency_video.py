"""srlab.efficiency's video variants: each streams like the float32 model (within its
tolerance), and the trunk variants really replace the trunks."""

import pytest
import torch

from srlab import efficiency
from srlab.archs import build
from srlab.stream import stream


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = build("basicvsr", num_feat=8, num_block=1, num_feat_hr=8).eval()
    lqs = torch.rand(1, 5, 3, 16, 16)
    gt = torch.rand(1, 5, 3, 64, 64)
    return model, lqs, gt


def frames(runner, lqs):
    outs = stream(runner.model, iter(lqs[0]), interval=3, dtype=runner.dtype)
    return torch.stack([o.sr for o in outs])


@pytest.mark.parametrize(
    "variant", ["channels_last", "bf16_autocast", "onnxruntime", "int8_static_pt2e"]
)
def test_video_variant_streams_like_fp32(setup, variant):
    model, lqs, _ = setup
    runner = efficiency.make_video_runner(model, variant, calibration=lqs)
    reference = frames(efficiency.make_video_runner(model, "fp32", calibration=lqs), lqs)
    # bf16: 8 significant bits; INT8: 8-bit weights and activations in the trunks
    tolerance = {"bf16_autocast": 2e-2, "int8_static_pt2e": 1e-2}.get(variant, 1e-4)
    assert (frames(runner, lqs) - reference).abs().max() <= tolerance
    # (an exported PT2E model refuses .eval(), which stream calls: this failed before _Runs.train)
    if variant in ("onnxruntime", "int8_static_pt2e"):  # trunk variants
        assert all(
            isinstance(getattr(runner.model, t), efficiency._Runs) for t in efficiency.TRUNKS
        )
        assert not isinstance(model.forward_trunk, efficiency._Runs)  # the model is untouched


def test_measure_stream_rows(setup):
    model, lqs, gt = setup
    runners = [efficiency.make_video_runner(model, v, calibration=lqs)
               for v in ("fp32", "channels_last")]  # fmt: skip
    rows = efficiency.measure_stream(runners, lqs, gt, interval=3, crop_border=0,
                                     y_channel=False, repeats=2)  # fmt: skip
    assert [r["variant"] for r in rows] == ["fp32", "channels_last"]
    assert rows[0]["speedup"] == 1.0 and rows[0]["delta_psnr_db"] == 0.0
    assert all(r["ms_per_frame"] > 0 and r["fps"] > 0 for r in rows)
    assert rows[0]["trunk_mb"] > 0
    with pytest.raises(ValueError, match="variant must be one of"):
        efficiency.make_video_runner(model, "fp8", calibration=lqs)
