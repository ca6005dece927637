"""srlab.stream: chunked streaming equals the model's own interval= forward, yields each frame as
soon as its chunk is in, keeps memory flat in the stream's length, and fails clearly."""

import gc
import itertools
import time

import pytest
import torch

from srlab import infer
from srlab.archs import build
from srlab.complexity import peak_memory
from srlab.stream import drain, paced, prefetch, stream


def tiny(arch="basicvsr", num_feat=4, **kwargs):
    torch.manual_seed(0)
    return build(arch, num_feat=num_feat, num_block=1, num_feat_hr=4, **kwargs).eval()


def run(model, lqs, **kwargs):
    return torch.stack([out.sr for out in stream(model, iter(lqs[0]), **kwargs)])


@pytest.fixture(scope="module")
def lqs():
    torch.manual_seed(1)
    return torch.rand(1, 9, 3, 12, 16)


@pytest.mark.parametrize("interval", [2, 4, 9, 20])
def test_basicvsr_stream_equals_forward_with_interval(lqs, interval):
    model = tiny()
    with torch.inference_mode():
        expected = model(lqs, interval=interval)[0].clamp(0, 1)
    torch.testing.assert_close(run(model, lqs, interval=interval), expected, atol=1e-5, rtol=0)


def test_unidirectional_stream_equals_forward(lqs):
    model = tiny(propagation="unidirectional")
    with torch.inference_mode():
        expected = model(lqs)[0].clamp(0, 1)
    torch.testing.assert_close(run(model, lqs, interval=3), expected, atol=1e-5, rtol=0)


def test_iconvsr_stream_chunks(lqs):
    model = tiny("iconvsr", num_feat=8, keyframe_stride=2, temporal_padding=1)  # EDVR: 8 groups
    with torch.inference_mode():
        whole = model(lqs)[0].clamp(0, 1)
        first = model(lqs[:, :4])[0].clamp(0, 1)
        second = model(lqs[:, 4:8])[0].clamp(0, 1)
    torch.testing.assert_close(run(model, lqs, interval=9), whole, atol=1e-5, rtol=0)
    chunked = run(model, lqs, interval=4)  # chunks of 4, 4, 1 (the last one without refill)
    assert chunked.shape == whole.shape
    torch.testing.assert_close(chunked[:4], first, atol=1e-5, rtol=0)
    # the second chunk starts from the carried forward state, not from zeros
    assert (chunked[4:8] - second).abs().max() > 1e-4


def test_frames_are_yielded_as_soon_as_their_chunk_is_in(lqs):
    pulled = []

    def source():
        for i, frame in enumerate(lqs[0]):
            pulled.append(i)
            yield frame

    seen = [len(pulled) for _ in stream(tiny(), source(), interval=4)]
    assert seen == [4, 4, 4, 4, 8, 8, 8, 8, 9]


def test_latency_includes_waiting_for_the_chunk(lqs):
    fps, interval = 50.0, 4
    outs = list(stream(tiny(), paced(iter(lqs[0, :interval]), fps), interval=interval))
    assert [o.index for o in outs] == [0, 1, 2, 3]
    # frame 0 arrived (interval - 1) frame periods before the chunk was complete
    assert outs[0].latency_s >= (interval - 1) / fps
    assert all(o.latency_s > 0 for o in outs)


class ZeroFlow(torch.nn.Module):
    """SpyNet's interface, no motion: keeps the memory test about the stream, and fast."""

    def forward(self, ref, supp):
        return ref.new_zeros(ref.shape[0], 2, *ref.shape[-2:])


@pytest.mark.slow
def test_memory_is_flat_in_the_stream_length():
    model = tiny()
    model.spynet = ZeroFlow()
    frame = torch.rand(3, 16, 16)
    live = {}

    def consume(n, count_at=()):
        for out in stream(model, itertools.repeat(frame, n), interval=5):
            if out.index in count_at:  # tensors alive in the process, mid-stream
                gc.collect()
                live[out.index] = sum(issubclass(type(o), torch.Tensor) for o in gc.get_objects())

    # Nothing accumulates: no more tensors are alive at frame 1000 than at frame 200 (exact).
    consume(1001, count_at=(200, 1000))
    assert live[1000] <= live[200], live
    # The process's peak RSS (Linux VmHWM): the least of two interleaved runs each. It varies by
    # up to ~1 MB between runs of the same length (allocator pools; after warm-up the peak is
    # 2.0 MB for 100, 1000 and 5000 frames alike), and by 3.6 MB once in a full-suite run beside
    # other workers, so the bound is a few percent plus 8 MiB; keeping every output would add
    # 900 * 3 * 64 * 64 * 4 bytes = 44 MB for 1000 frames, far above it.
    runs = [(n, peak_memory(lambda n=n: consume(n))["peak_bytes"]) for _ in range(2)
            for n in (100, 1000)]  # fmt: skip
    peaks = {n: min(p for m, p in runs if m == n) for n in (100, 1000)}
    assert peaks[1000] <= 1.05 * peaks[100] + 8 * 2**20, peaks


def test_bad_streams(lqs):
    model = tiny()
    frames = [lqs[0, 0], lqs[0, 1], torch.rand(3, 12, 20)]
    with pytest.raises(ValueError, match="frame 2 .* change size mid-stream"):
        list(stream(model, frames, interval=2))
    with pytest.raises(ValueError, match="interval must be an int >= 2"):
        list(stream(model, frames, interval=1))
    with pytest.raises(ValueError, match="frame 0 must lie in"):
        list(stream(model, [lqs[0, 0] * 255], interval=2))
    with pytest.raises(TypeError, match="BasicVSR or IconVSR"):
        list(stream(build("edsr", num_feat=4, num_block=1), frames, interval=2))
    with pytest.raises(ValueError, match="alignment='feature'"):
        list(stream(tiny(alignment="none"), frames, interval=2))


def test_bf16_on_a_cpu_that_emulates_it_falls_back(lqs, monkeypatch):
    emulated = {**infer.cpu_capability(), "bf16_native": False, "summary": "AVX2: bf16 emulated"}
    monkeypatch.setattr(infer, "cpu_capability", lambda: emulated)
    model = tiny()
    with pytest.warns(infer.EmulatedDtypeWarning, match="AVX2: bf16 emulated.*float32 instead"):
        out = run(model, lqs, interval=4, dtype=torch.bfloat16, emulated="fallback")
    torch.testing.assert_close(out, run(model, lqs, interval=4), atol=0, rtol=0)


def test_prefetch_and_drain_keep_order_and_raise():
    assert list(prefetch(range(50), depth=3)) == list(range(50))
    got = []
    assert drain(prefetch(range(20)), got.append, depth=2) == 20
    assert got == list(range(20))

    def broken():
        yield 1
        raise OSError("decoder failed")

    with pytest.raises(OSError, match="decoder failed"):
        list(prefetch(broken()))

    def fail(item):
        if item == 3:
            raise ValueError("encoder failed")

    with pytest.raises(ValueError, match="encoder failed"):
        drain(range(10), fail)


def test_prefetch_overlaps_with_the_consumer():
    def slow(n):
        for i in range(n):
            time.sleep(0.02)
            yield i

    start = time.perf_counter()
    for _ in prefetch(slow(10)):
        time.sleep(0.02)
    assert time.perf_counter() - start < 0.02 * 20 * 0.9  # in turn it would take 0.4 s
