"""srlab.complexity: exact parameter and FLOP counts of tiny nets, and the shape of the timing and
memory reports (not their values, which depend on the machine)."""

import json
import subprocess
import sys
import time

import pytest
import torch
from torch import nn

from srlab import complexity
from srlab.complexity import count_params, flops, latency, matmul_gflops, peak_memory


def tiny_net() -> nn.Sequential:
    # 3*8*9 + 8 = 224 parameters, then 8*12*9 + 12 = 876: 1100 in total.
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.PixelShuffle(2)
    )


def test_count_params_exact_and_trainable_only():
    net = tiny_net()
    assert count_params(net) == 1100
    net[0].requires_grad_(False)
    assert count_params(net, trainable_only=True) == 876
    assert count_params(net) == 1100


def test_count_params_ignores_buffers_and_counts_shared_once():
    net = tiny_net()
    net.register_buffer("mean", torch.zeros(1, 3, 1, 1))
    shared = nn.Sequential(net, net)
    assert count_params(shared) == 1100


@pytest.mark.parametrize("groups", [1, 2])
def test_flops_of_one_conv_is_2_cin_cout_k2_hw(groups):
    c_in, c_out, k, h, w = 4, 6, 3, 10, 7
    conv = nn.Conv2d(c_in, c_out, k, padding=1, groups=groups)
    result = flops(conv, torch.rand(1, c_in, h, w))
    expected = 2 * (c_in // groups) * c_out * k * k * h * w  # bias and padding not counted
    assert result["flops"] == expected
    assert result["macs"] == expected // 2
    assert result["device"] == "meta"


def test_flops_scale_with_batch_and_pixels_and_ignore_elementwise():
    net = tiny_net()
    one = flops(net, torch.rand(1, 3, 8, 8))["flops"]
    assert flops(net, torch.rand(2, 3, 16, 8))["flops"] == 4 * one
    assert one == 2 * (3 * 8 + 8 * 12) * 9 * 64  # ReLU and pixel shuffle count zero


def test_flops_linear_counts_2mnk():
    assert flops(nn.Linear(5, 7, bias=False), torch.rand(3, 5))["flops"] == 2 * 3 * 5 * 7


def test_flops_falls_back_to_a_real_pass_when_meta_cannot_run():
    class NeedsValues(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x):
            if x.max().item() > 1:  # .item() has no value on the meta device
                raise ValueError("out of range")
            return self.conv(x)

    x = torch.rand(1, 3, 4, 5)
    result = flops(NeedsValues(), x)
    assert result["device"] == "cpu"
    assert result["flops"] == 2 * 3 * 3 * 20
    assert flops(tiny_net(), x, meta=False)["device"] == "cpu"


def test_flops_leaves_the_model_on_its_device():
    net = tiny_net()
    flops(net, torch.rand(1, 3, 8, 8))
    assert all(p.device.type == "cpu" for p in net.parameters())


@pytest.mark.parametrize("dtype", [None, torch.bfloat16])
def test_latency_reports_median_iqr_and_threads(dtype):
    result = latency(tiny_net(), torch.rand(1, 3, 8, 8), warmup=1, repeats=4, dtype=dtype)
    assert len(result["times_s"]) == 4
    assert min(result["times_s"]) <= result["median_s"] <= max(result["times_s"])
    assert result["iqr_s"] >= 0
    assert result["threads"] == torch.get_num_threads()
    assert result["dtype"] == ("bfloat16" if dtype else "float32")


def test_latency_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        latency(tiny_net(), torch.rand(1, 3, 8, 8), repeats=0)


def allocate(size_mb: int, hold_s: float = 0.0) -> float:
    """Fill size_mb of fresh tensor memory, keep it alive hold_s seconds, free it."""
    x = torch.ones(size_mb * 2**20 // 4)
    time.sleep(hold_s)  # releases the GIL: a sampling thread gets to look
    return float(x.sum())


def test_peak_memory_sees_a_short_lived_torch_allocation():
    # After peak_memory's malloc_trim the tensor must get pages the process does not hold yet,
    # so the RSS must rise by its size even if it lives for only a few milliseconds.
    result = peak_memory(lambda: allocate(64))
    if not result["method"].startswith("Linux"):
        pytest.skip(f"a sampler may miss a spike this short ({result['method']})")
    assert 0.9 * 64 <= result["peak_mb"] < 64 + 32, result


FRAGMENTED = """
import json, torch
from srlab.complexity import peak_memory
results = []
for size_mb in (1, 4, 16):
    for _ in range(3):  # freeing mmapped blocks raises glibc's mmap threshold to their size
        x = torch.ones(size_mb * 2**18)
        del x
    blocks = [torch.ones(size_mb * 2**18) for _ in range(160 // size_mb)]  # then on the heap
    pins = [torch.ones(1000) for _ in range(100)]  # small live blocks after them
    del blocks  # 160 MB free in malloc's lists, still resident
    results.append(peak_memory(lambda: float(torch.ones(64 * 2**18).sum())))
print(json.dumps(results))
"""


def test_peak_memory_sees_an_allocation_that_reuses_freed_memory():
    # In a fresh process, so that glibc's heap is in a known state: the 64 MB tensor can be
    # carved from freed memory that is still resident, and RSS would not rise (without
    # peak_memory's malloc_trim this measured 0 MB at 4 MB blocks).
    run = subprocess.run([sys.executable, "-c", FRAGMENTED], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    for size_mb, result in zip((1, 4, 16), json.loads(run.stdout), strict=True):
        if not result["method"].startswith("Linux"):
            pytest.skip(f"a sampler may miss a spike this short ({result['method']})")
        assert 0.9 * 64 <= result["peak_mb"] < 64 + 32, (size_mb, result)


def test_peak_memory_is_near_zero_when_nothing_is_allocated():
    result = peak_memory(lambda: None)
    assert result["peak_mb"] < 8, result


def test_rss_sampler_sees_a_held_allocation():
    complexity._trim_malloc()  # see peak_memory: freed memory would be reused unseen
    start = complexity._rss_bytes()
    peak_mb = complexity._sampled_rss_peak(lambda: allocate(64, hold_s=0.2), start) / 2**20
    assert peak_mb >= 0.75 * 64, peak_mb


def test_linux_rss_peak_is_exact_for_a_short_allocation():
    complexity._trim_malloc()  # see peak_memory: freed memory would be reused unseen
    peak = complexity._linux_rss_peak(lambda: allocate(48))
    if peak is None:
        pytest.skip("no resettable VmHWM here (needs Linux 4.0+ and a writable clear_refs)")
    assert 0.9 * 48 <= peak / 2**20 < 48 + 32, peak / 2**20


def test_matmul_gflops_is_positive():
    assert matmul_gflops(128, repeats=2) > 0
