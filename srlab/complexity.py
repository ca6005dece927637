"""How big and how fast a model is: parameters, FLOPs, latency, peak memory, and the machine's
dense-matmul speed to compare them with.

FLOPs come from PyTorch's own `torch.utils.flop_counter.FlopCounterMode`, not a third-party counter.
Its conventions, which every number here inherits:
- a multiply-accumulate is 2 FLOPs: a convolution costs 2 * c_in/groups * c_out * k_h * k_w per
  output pixel, a matmul (m, k) @ (k, n) costs 2 * m * k * n. We report MACs = FLOPs / 2, the unit
  most SR papers' tables use (they often print it under the name "FLOPs"; check before comparing).
- only matmuls, convolutions and attention kernels are counted. Bias additions, elementwise ops,
  activations, normalisation, pooling, pixel_shuffle, interpolate and grid_sample count zero. For
  conv nets these are a small share of the arithmetic, but not of the time (they are memory-bound).
"""

from __future__ import annotations

import ctypes
import statistics
import threading
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from srlab.device import synchronize


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (buffers such as an RGB mean are not parameters). Shared parameters
    are counted once, as `model.parameters()` yields them once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _forward_on_meta(model: nn.Module, inputs: tuple[Tensor, ...]) -> None:
    """Run model(*inputs) with every parameter, buffer and input on the meta device: shapes and
    dtypes propagate, no arithmetic is done and no memory is allocated. The model is not modified
    (functional_call swaps the tensors in for this call only)."""
    tensors = dict(model.named_parameters(remove_duplicate=False))
    tensors |= dict(model.named_buffers(remove_duplicate=False))
    state = {name: torch.empty_like(t, device="meta") for name, t in tensors.items()}
    torch.func.functional_call(model, state, tuple(x.to("meta") for x in inputs))


def flops(model: nn.Module, *inputs: Tensor, meta: bool = True) -> dict:
    """FLOPs and MACs of one forward pass model(*inputs), under torch.no_grad().

    With meta=True the pass runs on the meta device (no arithmetic, so a 4K input costs nothing);
    a model whose forward needs real values (`.item()`, a value check, data-dependent branches,
    tensors created without `device=x.device`) falls back to a real pass on the inputs' device,
    and the result says which was used. The count is the same either way: it depends on shapes.

    Returns {"flops": int, "macs": int (= flops // 2), "gflops": float, "by_op": {op: flops},
    "device": "meta" | the inputs' device}."""
    if not inputs:
        raise ValueError("flops needs the example input(s) of the forward pass, e.g. flops(m, x)")
    counter, device = None, "meta"
    with torch.no_grad():
        if meta:
            try:
                with FlopCounterMode(display=False) as counter:
                    _forward_on_meta(model, inputs)
            except (RuntimeError, ValueError, TypeError):  # meta tensors have no values
                counter = None
        if counter is None:
            device = str(inputs[0].device)
            with FlopCounterMode(display=False) as counter:
                model(*inputs)
    total = counter.get_total_flops()
    by_op = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    return {
        "flops": total,
        "macs": total // 2,
        "gflops": total / 1e9,
        "by_op": by_op,
        "device": device,
    }


def latency(
    model: nn.Module,
    *inputs: Tensor,
    warmup: int = 1,
    repeats: int = 5,
    dtype: torch.dtype | None = None,
) -> dict:
    """Wall-clock time of model(*inputs) under torch.inference_mode(), in seconds.

    `warmup` untimed calls first (allocator, oneDNN kernel selection), then `repeats` timed calls.
    dtype=None runs as is (float32); torch.bfloat16 (CPU) or torch.float16 (CUDA) runs under
    torch.autocast, so convolutions and matmuls run in that dtype and the rest in float32.
    The thread count matters as much as the model on a CPU, so the result states it.

    Returns {"median_s", "iqr_s" (75th - 25th percentile), "q25_s", "q75_s", "times_s" (list),
    "repeats", "warmup", "threads", "dtype", "device"}."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats=}, {warmup=}")
    if not inputs:
        raise ValueError("latency needs the example input(s) of the forward pass")
    device = inputs[0].device
    autocast = dtype is not None and dtype != torch.float32
    times = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=autocast):
        for i in range(warmup + repeats):
            synchronize(device)
            start = time.perf_counter()
            model(*inputs)
            synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    if len(times) >= 2:
        q25, _, q75 = statistics.quantiles(times, n=4, method="inclusive")
    else:
        q25 = q75 = times[0]
    return {
        "median_s": statistics.median(times),
        "iqr_s": q75 - q25,
        "q25_s": q25,
        "q75_s": q75,
        "times_s": times,
        "repeats": repeats,
        "warmup": warmup,
        "threads": torch.get_num_threads(),
        "dtype": str(dtype or torch.float32).removeprefix("torch."),
        "device": str(device),
    }


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def peak_memory(fn: Callable[[], object], *, device: str | torch.device = "cpu") -> dict:
    """Run fn() once and report how far memory rose above its level before the call.

    What is measured, honestly:
    - CUDA: torch.cuda.max_memory_allocated() minus the allocation before the call: exactly the
      peak of live tensors on that device (not the cache the allocator keeps reserved).
    - CPU on Linux: the process's peak resident set size (RSS) during the call, exactly. The kernel
      keeps that peak (VmHWM in /proc/self/status) and resets it to the current RSS when "5" is
      written to /proc/self/clear_refs; we reset, run fn, and report VmHWM minus the RSS before.
      It counts everything the process touches (tensors, the allocator's free lists, other
      threads). Side effects: the process's lifetime VmHWM (and so getrusage's ru_maxrss) is
      reset too, and a peak_memory call inside fn, or in another thread at the same time, resets
      it under this one: measure one thing at a time.
    - On every CPU path, glibc's malloc_trim(0) runs first (where glibc is the C library). Memory
      that earlier tensors freed stays in malloc's free lists, resident; fn's tensors may reuse
      it, and RSS would not rise at all (we saw a 64 MB tensor measured as 0 after a test suite
      had freed many 4 MB ones). Trimmed, those pages go back to the kernel, and fn's tensors
      show up when they touch them.
    - CPU elsewhere, with psutil: RSS sampled every millisecond in a background thread, peak minus
      start. A spike shorter than a sampling gap (or than the sampler's wait for the GIL) is
      missed, so this is a lower bound. tracemalloc would see nothing: torch allocates outside
      Python's allocator.
    - CPU without psutil: the growth of getrusage's ru_maxrss, the process's lifetime peak RSS.
      This is a lower bound: it is 0 if fn stays below a peak reached earlier in the process.

    Returns {"peak_bytes": int, "peak_mb": float, "method": str}."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - start
        method = "torch.cuda.max_memory_allocated"
    else:
        _trim_malloc()
        peak = _linux_rss_peak(fn)
        method = "Linux peak RSS (VmHWM, reset through /proc/self/clear_refs)"
        if peak is None:
            try:
                start = _rss_bytes()
            except ImportError:
                peak, method = _maxrss_growth(fn), "getrusage ru_maxrss growth (lower bound)"
            else:
                peak = _sampled_rss_peak(fn, start)
                method = "psutil RSS sampled every 1 ms (lower bound)"
    return {"peak_bytes": int(peak), "peak_mb": peak / 2**20, "method": method}


def _trim_malloc() -> None:
    """glibc's malloc_trim(0): give the free pages of malloc's heaps back to the kernel. A no-op
    where the C library is not glibc (macOS, musl, Windows)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError, TypeError):  # TypeError: Windows has no CDLL(None)
        pass


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])  # "VmHWM:   123456 kB"
    raise OSError(f"{field} not in /proc/self/status")


def _linux_rss_peak(fn: Callable[[], object]) -> int | None:
    """Exact peak RSS growth during fn(), or None (without running fn) where the kernel
    interface is missing or not writable: not Linux, or Linux older than 4.0."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # reset VmHWM to the current RSS
        start = _proc_status_kib("VmRSS")
        if _proc_status_kib("VmHWM") > start + 1024:  # the reset did not take (or RSS fell
            return None  # by over 1 MiB meanwhile): the sampler measures instead
    except OSError:
        return None
    fn()
    return max(_proc_status_kib("VmHWM") - start, 0) * 1024


def _sampled_rss_peak(fn: Callable[[], object], start: int) -> int:
    highest = start
    done = threading.Event()

    def sample() -> None:
        nonlocal highest
        while not done.is_set():
            highest = max(highest, _rss_bytes())
            done.wait(0.001)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        fn()
        highest = max(highest, _rss_bytes())
    finally:
        done.set()
        sampler.join()
    return max(highest - start, 0)


def _maxrss_growth(fn: Callable[[], object]) -> int:
    import resource
    import sys

    unit = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * unit


def matmul_gflops(
    n: int = 1024,
    dtype: torch.dtype = torch.float32,
    *,
    repeats: int = 5,
    device: str | torch.device = "cpu",
) -> float:
    """The machine's measured dense matmul speed in GFLOP/s: 2 n^3 / median time of an
    (n, n) @ (n, n) product, with the current torch.get_num_threads(). A practical ceiling for
    conv nets, which oneDNN runs as matmul-like kernels: a model's FLOPs / latency divided by this
    says how close it gets to what the hardware does on the friendliest workload."""
    device = torch.device(device)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=generator, device=device).to(dtype)
    b = torch.randn(n, n, generator=generator, device=device).to(dtype)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 1):  # the first product is a warm-up
            synchronize(device)
            start = time.perf_counter()
            a @ b
            synchronize(device)
            if i > 0:
                times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9
