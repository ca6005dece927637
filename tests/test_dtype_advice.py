"""Hardware-aware dtypes (srlab.infer): what this CPU runs natively, and upscale's warning or
fallback when asked for a dtype it emulates (tested by substituting the capability check)."""

import warnings

import pytest
import torch

from srlab import infer
from srlab.archs import build
from srlab.infer import EmulatedDtypeWarning, cpu_capability, resolve_dtype, upscale

AVX2 = {"isa": "AVX2", "avx512_bf16": False, "amx": False, "vnni": False, "bf16_native": False,
        "int8_native": False, "summary": "AVX2: bf16 emulated, int8 emulated"}  # fmt: skip


def test_cpu_capability_is_consistent():
    cap = cpu_capability()
    assert cap["isa"] == torch.backends.cpu.get_cpu_capability()
    assert cap["bf16_native"] == (cap["avx512_bf16"] or cap["amx"])
    assert cap["int8_native"] == cap["vnni"]
    assert cap["summary"].startswith(cap["isa"])
    assert ("bf16 native" in cap["summary"]) == cap["bf16_native"]


def test_resolve_dtype_on_an_emulating_cpu(monkeypatch):
    monkeypatch.setattr(infer, "cpu_capability", lambda: AVX2)
    with pytest.warns(EmulatedDtypeWarning, match="AVX2.*pass float32"):
        assert resolve_dtype(torch.bfloat16) is torch.bfloat16
    with pytest.warns(EmulatedDtypeWarning, match="running in float32 instead"):
        assert resolve_dtype(torch.bfloat16, emulated="fallback") is torch.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_dtype(torch.bfloat16, emulated="run") is torch.bfloat16
        assert resolve_dtype(torch.float32) is torch.float32
        assert resolve_dtype(None) is None
    with pytest.raises(ValueError, match="float16 autocast is for CUDA"):
        resolve_dtype(torch.float16)
    with pytest.raises(ValueError, match="emulated must be one of"):
        resolve_dtype(torch.bfloat16, emulated="maybe")


def test_resolve_dtype_on_a_native_cpu_is_silent(monkeypatch):
    monkeypatch.setattr(infer, "cpu_capability", lambda: {**AVX2, "bf16_native": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_dtype(torch.bfloat16, emulated="fallback") is torch.bfloat16


def test_upscale_falls_back_to_float32(monkeypatch):
    monkeypatch.setattr(infer, "cpu_capability", lambda: AVX2)
    torch.manual_seed(0)
    model = build("edsr", upscale=2, num_feat=8, num_block=1).eval()
    img = torch.rand(3, 12, 12)
    with pytest.warns(EmulatedDtypeWarning):
        out = upscale(model, img, dtype=torch.bfloat16, emulated="fallback")
    torch.testing.assert_close(out, upscale(model, img), atol=0, rtol=0)
    with pytest.warns(EmulatedDtypeWarning):
        bf16 = upscale(model, img, dtype=torch.bfloat16)  # warned, but run as asked
    assert (bf16 - out).abs().max() > 0
