"""Streaming video SR: BasicVSR and IconVSR over an unbounded stream of frames, frame by frame.

    for out in stream(model, frames, interval=8):     # frames: any iterable of (3, h, w) tensors
        show(out.sr)                                  # (3, 4h, 4w), as soon as it is final
        out.latency_s                                 # from the frame's arrival to its output

A bidirectional model needs the future: frame i's backward features come from frames i+1, i+2, ...
of the clip. A live stream has no end, so the frames are read in chunks of `interval` and the
backward branch restarts at the end of every chunk (it sees at most interval-1 frames ahead); the
forward branch is causal, so its state is carried from chunk to chunk. The output for a chunk's
frames is the same as `model(lqs, interval=interval)` on the whole clip (BasicVSR: tested), but
only one chunk is ever held in memory, so memory stays flat however long the stream runs.
BasicSR's inference script (inference_basicvsr.py) reads the same chunks but resets both branches
at every chunk; carrying the forward state is free (it adds no delay) and keeps the past.

Latency: frame k of a chunk waits for the interval-1-k frames after it to arrive, then for its
chunk's backward pass and its own forward step. At a live source's frame rate f that is
(interval-1-k)/f plus compute; `paced` replays frames at a given rate to measure it.

The recurrence is written here from the model's own modules (spynet, backward_trunk,
forward_trunk, fusion, the reconstruction convs), which are its BasicSR names, so that a chunk's
forward state can be taken in and handed on; the models' forward has no such argument.

`prefetch` and `drain` move decoding and encoding to threads, so that they overlap with the
model (PyTorch's kernels and much of the codecs' work run without holding the GIL)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from srlab.archs.basicvsr import BasicVSR, upsample_x4
from srlab.archs.blocks import flow_warp
from srlab.archs.iconvsr import IconVSR, keyframe_indices
from srlab.checks import check_image
from srlab.infer import resolve_dtype


@dataclass
class StreamFrame:
    """One output frame. sr: (3, 4h, 4w) float32 in [0, 1] on the CPU (clamped, not rounded).
    index: its position in the stream. latency_s: from the moment the frame iterator handed over
    the LR frame to the moment its SR frame was ready."""

    index: int
    sr: Tensor
    latency_s: float


def stream(
    model: nn.Module,
    frames: Iterable[Tensor],
    *,
    interval: int,
    dtype: torch.dtype | None = None,
    emulated: str = "warn",
) -> Iterator[StreamFrame]:
    """Super-resolve a stream of LR frames with BasicVSR or IconVSR, chunk by chunk.

    model: a BasicVSR (feature alignment; bidirectional or unidirectional) or an IconVSR, x4.
    frames: an iterable of (3, h, w) float tensors in [0, 1], all of one size; it may be endless.
    interval: frames per chunk (>= 2: the backward branch looks at most interval-1 frames ahead).
        A unidirectional BasicVSR has no backward branch: its frames are output one by one,
        whatever the interval. IconVSR's keyframes are counted within each chunk (BasicSR's
        rule, with the chunk as the clip); a last chunk shorter than the refill window
        (2 * temporal_padding + 1 frames) gets no refill.
    dtype, emulated: None/float32, or bfloat16 autocast (see srlab.infer.resolve_dtype, which
        warns or falls back to float32 on a CPU that emulates bf16).

    Yields a StreamFrame per input frame, in order, as soon as it is final. The model runs in
    eval mode under torch.inference_mode(); a model in training mode is put back afterwards."""
    if not isinstance(model, BasicVSR | IconVSR):
        raise TypeError(f"stream runs BasicVSR or IconVSR, got {type(model).__name__}")
    if isinstance(model, BasicVSR) and model.alignment != "feature":
        raise ValueError(
            f"stream runs BasicVSR with alignment='feature' (the paper's), got {model.alignment!r}"
        )
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 2:
        raise ValueError(f"interval must be an int >= 2, got {interval!r}")
    device = next(model.parameters()).device
    dtype = resolve_dtype(dtype, device, emulated=emulated)
    autocast = dtype is not None and dtype != torch.float32
    causal = isinstance(model, BasicVSR) and model.propagation == "unidirectional"
    step = _iconvsr_chunk if isinstance(model, IconVSR) else _basicvsr_chunk
    was_training = model.training
    model.eval()
    carry: dict = {}  # the forward branch's state and the last frame it saw
    index = 0
    try:
        for chunk, arrivals in _chunks(frames, 1 if causal else interval):
            with torch.inference_mode(), torch.autocast(device.type, dtype, enabled=autocast):
                lqs = chunk.to(device)[None]  # (1, n, 3, h, w)
                for k, sr in enumerate(step(model, lqs, carry)):
                    sr = sr[0].float().clamp(0, 1).cpu()  # (3, 4h, 4w)
                    yield StreamFrame(index, sr, time.perf_counter() - arrivals[k])
                    index += 1
    finally:
        model.train(was_training)


def _chunks(frames: Iterable[Tensor], size: int) -> Iterator[tuple[Tensor, list[float]]]:
    """Groups of `size` frames (the last may be shorter), stacked to (n, 3, h, w), with the time
    each frame arrived. Every frame is checked; all must have the first frame's size."""
    chunk, arrivals, shape = [], [], None
    for i, frame in enumerate(frames):
        arrivals.append(time.perf_counter())
        check_image(frame, f"frame {i}")
        if frame.dim() != 3:
            raise ValueError(f"frame {i} must be one frame (3, h, w), got {tuple(frame.shape)}")
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise ValueError(
                f"frame {i} is {tuple(frame.shape)} but the stream started at {tuple(shape)}: "
                "frames cannot change size mid-stream"
            )
        chunk.append(frame)
        if len(chunk) == size:
            yield torch.stack(chunk), arrivals
            chunk, arrivals = [], []
    if chunk:
        yield torch.stack(chunk), arrivals


def _forward_start(model: nn.Module, lqs: Tensor, carry: dict) -> Tensor:
    """The forward branch's state entering the chunk's first frame: zeros at the stream's start,
    else the last state warped onto this frame (flow from the last frame seen to this one)."""
    b, _, _, h, w = lqs.shape
    if "feat" not in carry:
        return lqs.new_zeros(b, model.num_feat, h, w)
    flow = model.spynet(lqs[:, 0], carry["last"])  # warps the last frame onto this one
    return flow_warp(carry["feat"], flow)


def _basicvsr_chunk(model: BasicVSR, lqs: Tensor, carry: dict) -> Iterator[Tensor]:
    """BasicVSR on one chunk lqs (b, n, 3, h, w), the forward branch continuing from `carry`.
    Yields each frame's (b, 3, 4h, 4w) output as soon as its forward step is done."""
    n = lqs.shape[1]
    bidirectional = model.propagation == "bidirectional"
    earlier, later = lqs[:, :-1].flatten(0, 1), lqs[:, 1:].flatten(0, 1)  # (b*(n-1), 3, h, w)
    feats_backward = [None] * n
    if bidirectional:  # restarts at the chunk's last frame: sees at most n-1 frames ahead
        flows_backward = model.spynet(earlier, later).unflatten(0, (-1, n - 1)) if n > 1 else None
        feat = lqs.new_zeros(lqs.shape[0], model.num_feat, *lqs.shape[-2:])
        for i in range(n - 1, -1, -1):
            if i < n - 1:  # flows_backward[:, i] warps frame i+1 onto frame i
                feat = flow_warp(feat, flows_backward[:, i])
            feat = model.backward_trunk(torch.cat([lqs[:, i], feat], dim=1))
            feats_backward[i] = feat
    flows_forward = model.spynet(later, earlier).unflatten(0, (-1, n - 1)) if n > 1 else None
    feat = _forward_start(model, lqs, carry)
    for i in range(n):
        if i > 0:  # flows_forward[:, i-1] warps frame i-1 onto frame i
            feat = flow_warp(feat, flows_forward[:, i - 1])
        feat = model.forward_trunk(torch.cat([lqs[:, i], feat], dim=1))  # (b, num_feat, h, w)
        out = feat
        if bidirectional:
            out = model.lrelu(model.fusion(torch.cat([feats_backward[i], feat], dim=1)))
        yield upsample_x4(model, out, lqs[:, i])  # (b, 3, 4h, 4w)
    carry["feat"], carry["last"] = feat, lqs[:, -1]


def _iconvsr_chunk(model: IconVSR, lqs: Tensor, carry: dict) -> Iterator[Tensor]:
    """IconVSR on one chunk lqs (b, n, 3, h, w), as IconVSR.forward on that chunk, except that
    the forward branch continues from `carry`. Yields (b, 3, 4h, 4w) per frame."""
    b, n, _, h_in, w_in = lqs.shape
    window = 2 * model.temporal_padding + 1
    keyframes = keyframe_indices(n, model.keyframe_stride) if model.use_refill else []
    keyframes = keyframes if n >= window else []  # a short last chunk: no refill
    if model.use_refill:  # EDVR's pyramid: pad to multiples of 4, crop the output back
        pad = (0, -w_in % 4, 0, -h_in % 4)
        lqs = F.pad(lqs.flatten(0, 1), pad, mode="reflect").unflatten(0, (b, n))
    refill = model.refill_features(lqs, keyframes)
    earlier, later = lqs[:, :-1].flatten(0, 1), lqs[:, 1:].flatten(0, 1)
    flows_backward = model.spynet(earlier, later).unflatten(0, (b, n - 1)) if n > 1 else None
    flows_forward = model.spynet(later, earlier).unflatten(0, (b, n - 1)) if n > 1 else None

    feats_backward = [None] * n
    feat = lqs.new_zeros(b, model.num_feat, *lqs.shape[-2:])
    for i in range(n - 1, -1, -1):
        if i < n - 1:
            feat = flow_warp(feat, flows_backward[:, i])
        if i in refill:
            feat = model.backward_fusion(torch.cat([feat, refill[i]], dim=1))
        feat = model.backward_trunk(torch.cat([lqs[:, i], feat], dim=1))
        feats_backward[i] = feat

    feat = _forward_start(model, lqs, carry)
    for i in range(n):
        if i > 0:
            feat = flow_warp(feat, flows_forward[:, i - 1])
        if i in refill:
            feat = model.forward_fusion(torch.cat([feat, refill[i]], dim=1))
        inputs = [lqs[:, i], feats_backward[i]] if model.coupled else [lqs[:, i]]
        feat = model.forward_trunk(torch.cat([*inputs, feat], dim=1))  # (b, num_feat, h, w)
        out = feat
        if not model.coupled:
            out = model.lrelu(model.fusion(torch.cat([feats_backward[i], feat], dim=1)))
        yield upsample_x4(model, out, lqs[:, i])[..., : 4 * h_in, : 4 * w_in]
    carry["feat"], carry["last"] = feat, lqs[:, -1]


def paced(frames: Iterable[Tensor], fps: float) -> Iterator[Tensor]:
    """Hand over frames no faster than a live source at `fps` frames per second would: frame i
    is released at start + i / fps (later if the consumer is late). For latency measurements."""
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        wait = start + i / fps - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        yield frame


_DONE = object()


def prefetch(items: Iterable, depth: int = 8) -> Iterator:
    """Iterate `items` on a background thread, `depth` items ahead (e.g. decoding while the
    model runs). An exception in the thread is raised here, at the item where it happened.
    Closing the returned generator (or an exception in the consumer) stops the thread."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as err:  # noqa: BLE001 (handed to the consumer, raised there)
            slots.put((_DONE, err))

    thread = threading.Thread(target=produce, name="srlab-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = slots.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()


def drain(items: Iterable, consume: Callable[[object], None], depth: int = 8) -> int:
    """consume(item) for every item, on a background thread that runs `depth` items behind
    (e.g. encoding while the model runs the next frame). Returns the number of items. An
    exception in consume stops the iteration and is raised here; so is one in `items`, after
    the thread has stopped."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    failed: list[BaseException] = []

    def work() -> None:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if not failed:
                try:
                    consume(item)
                except BaseException as err:  # noqa: BLE001 (raised in the caller)
                    failed.append(err)

    thread = threading.Thread(target=work, name="srlab-drain", daemon=True)
    thread.start()
    count = 0
    try:
        for item in items:
            if failed:
                break
            slots.put(item)
            count += 1
    finally:
        slots.put(_DONE)
        thread.join()
    if failed:
        raise failed[0]
    return count
