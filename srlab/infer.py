"""Running an image SR model on a real image: any size (tiling), the x8 self-ensemble, autocast.

Tiling, and why it is exact. A conv net's output pixel depends only on the input pixels within
its receptive field: radius r LR pixels for a stack of r 3x3 convs at LR resolution. `upscale`
cuts the LR image into windows of `tile` x `tile` pixels that overlap by 2 * `tile_overlap`, runs
each window on its own, and keeps only each window's core: the output pixels at least
`tile_overlap` LR pixels away from every window edge that is not an image edge (the "centre crop"
way; nothing is averaged). If tile_overlap >= r, every kept pixel saw exactly the input it sees in
a whole-image pass, zero padding included at the image edges, so tiled == whole-image output up
to float rounding (1e-5). Averaging overlapping outputs instead (a linear or Gaussian blend) hides
seams but is never exact.

How to choose tile_overlap: `receptive_field(model)` estimates the receptive field width 2r + 1
from the model's convolutions; pass tile_overlap >= (width - 1) // 2 for exact results. Deep nets
have huge theoretical fields (RRDBNet's is hundreds of pixels) yet an effective field of a few
pixels, so a smaller overlap (Real-ESRGAN uses 10) is close but not exact; measure it. Operations
that pool over the whole image (RCAN's channel attention) make any tiling inexact: each tile
averages its own statistics.

Normalisation: the models subtract their RGB mean per pixel inside forward, which tiles
commute with. `upscale` itself normalises nothing, so there is no per-tile statistic anywhere.
Memory is bounded by one window: tiles run one at a time and are written into a preallocated
float32 output on the CPU, so a 4K image upscales on a laptop.

Lower precision pays only where the CPU has the instructions for it. bfloat16 autocast was 2.1x
faster than float32 on a CPU with AMX (the efficiency notebook), and 67x slower on an AVX2-only
one, where oneDNN emulates bf16 (issue 13). `cpu_capability()` says what this CPU runs
natively; `upscale(dtype=bf16)` warns (or, with emulated="fallback", runs float32 and says so) on
a CPU without native bf16."""

from __future__ import annotations

import contextlib
import itertools
import math
import warnings
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from srlab.checks import check_image, check_int

EMULATED = ("warn", "fallback", "run")  # what to do when asked for a dtype this CPU emulates


class EmulatedDtypeWarning(UserWarning):
    """A reduced-precision dtype was asked for on a CPU that emulates it (slower, not faster)."""


def cpu_capability() -> dict:
    """What this CPU runs natively, as PyTorch sees it.

    Returns {"isa": torch.backends.cpu.get_cpu_capability() ("AVX512", "AVX2", "DEFAULT", ...),
    "avx512_bf16", "amx", "vnni": bool, "bf16_native": AVX512-BF16 or AMX (oneDNN runs bf16
    convolutions in hardware), "int8_native": VNNI (AVX512-VNNI or AVX-VNNI: int8 dot products in
    one instruction, without which INT8 convolutions gain little), "summary": one line for a
    verdict, e.g. "AVX512 + AMX + VNNI: bf16 native, int8 native"}."""
    cpu = torch.cpu

    def has(name: str) -> bool:  # torch.cpu's feature probes are private: absent means unknown
        probe = getattr(cpu, name, None)
        return bool(probe()) if probe is not None else False

    isa = torch.backends.cpu.get_cpu_capability()
    features = {
        "avx512_bf16": has("_is_avx512_bf16_supported"),
        "amx": has("_is_amx_tile_supported"),
        "vnni": has("_is_vnni_supported"),
    }
    bf16 = features["avx512_bf16"] or features["amx"]
    int8 = features["vnni"]
    extras = [name.upper() for name in ("amx", "avx512_bf16", "vnni") if features[name]]
    summary = " + ".join([isa, *extras]) + (
        f": bf16 {'native' if bf16 else 'emulated'}, int8 {'native' if int8 else 'emulated'}"
    )
    return {"isa": isa, **features, "bf16_native": bf16, "int8_native": int8, "summary": summary}


def resolve_dtype(
    dtype: torch.dtype | None, device: torch.device | str = "cpu", *, emulated: str = "warn"
) -> torch.dtype | None:
    """The dtype to run in, given what this CPU can do natively.

    dtype: None or float32 (always native), bfloat16, float16 (CUDA only; refused on a CPU).
    emulated: what to do with bfloat16 on a CPU without AVX512-BF16 or AMX: "warn" (run it and
    issue an EmulatedDtypeWarning), "fallback" (warn, and return float32) or "run" (run it,
    silently). A GPU's dtypes are taken as native."""
    if emulated not in EMULATED:
        raise ValueError(f"emulated must be one of {EMULATED}, got {emulated!r}")
    device = torch.device(device)
    if dtype is None or dtype == torch.float32 or device.type != "cpu":
        return dtype
    if dtype != torch.bfloat16:
        raise ValueError(
            f"dtype={dtype} is not supported on cpu; use torch.float32 or torch.bfloat16 "
            "(float16 autocast is for CUDA)"
        )
    capability = cpu_capability()
    if capability["bf16_native"] or emulated == "run":
        return dtype
    fallback = emulated == "fallback"
    warnings.warn(
        f"dtype=bfloat16 is emulated on this CPU ({capability['summary']}): it needs AVX512-BF16 "
        "or AMX to pay, and runs many times slower than float32 without them (67x measured on "
        "an AVX2 CPU)"
        + ("; running in float32 instead" if fallback else "; pass float32 to run fast"),
        EmulatedDtypeWarning,
        stacklevel=3,
    )
    return torch.float32 if fallback else dtype


def receptive_field(model: nn.Module, *, size: int = 16) -> int:
    """Estimated receptive field width (2r + 1) of an image SR model, in LR pixels.

    Runs the model once on a (1, 3, size, size) input with a forward hook on every nn.Conv2d. A
    conv with a k x k kernel (dilation d) reaches r = d * (k - 1) / 2 pixels at its own
    resolution; after a x4 upsampling that is r / 4 LR pixels (rounded up). The estimate sums
    these over all convs, as if they formed one chain: exact for plain chains and residual
    stacks (EDSR, MSRResNet), an upper bound when some convs sit on parallel branches. It does
    not see functional convs (F.conv2d) or interpolation on a skip path (bilinear adds 1 pixel,
    already covered by any conv trunk), and warns if a global pooling makes the true field the
    whole image (RCAN's channel attention)."""
    radius = 0.0
    lr_height = size

    def hook(conv: nn.Conv2d, args: tuple[Tensor, ...], _output: Tensor) -> None:
        nonlocal radius
        factor = args[0].shape[-2] / lr_height  # the conv's resolution relative to the LR input
        reach = max(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation, strict=True))
        radius += math.ceil(reach / factor)

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    handles = [conv.register_forward_hook(hook) for conv in convs]
    try:
        with torch.inference_mode():
            model(torch.full((1, 3, size, size), 0.5, device=_device_of(model)))
    finally:
        for handle in handles:
            handle.remove()
    if any(isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) for m in model.modules()):
        warnings.warn(
            f"{type(model).__name__} pools globally (e.g. channel attention): its output depends "
            "on the whole image, so tiled inference is only approximately equal to whole-image "
            "inference; receptive_field reports the convolutions' part only",
            stacklevel=2,
        )
    return 1 + 2 * int(radius)


def upscale(
    model: nn.Module,
    img: Tensor,
    *,
    scale: int | None = None,
    tile: int | None = None,
    tile_overlap: int = 16,
    dtype: torch.dtype | None = None,
    self_ensemble: bool = False,
    channels_last: bool = False,
    progress: bool = False,
    emulated: str = "warn",
) -> Tensor:
    """Super-resolve img with an image SR model. img: (3, h, w) or (b, 3, h, w), RGB in [0, 1].
    Returns (3, h*s, w*s) or (b, 3, h*s, w*s), float32 on the CPU, clamped to [0, 1].

    The clamp is for display and for saving; srlab.io.to_uint8 clamps the same way, so PSNR on
    8-bit outputs is unchanged by it. Use model(x) directly to see the raw overshoot.

    scale: optional; if given it must be the model's own (`model.scale`), since a model built
        for x4 cannot produce x2.
    tile: None runs the whole image at once; an int runs tile x tile LR windows one at a time,
        each keeping its core and discarding `tile_overlap` pixels of context on each inner side
        (see the module docstring: exact when tile_overlap >= the receptive field radius). Needs
        tile > 2 * tile_overlap. The batch is processed together inside each window.
    dtype: None or torch.float32 runs in float32; torch.bfloat16 (CPU or CUDA) or torch.float16
        (CUDA) runs convolutions under torch.autocast. The output is float32 either way.
    self_ensemble: the x8 geometric self-ensemble of EDSR (Lim et al. 2017, Sec. 4), behind the
        papers' "+" results (EDSR+, RCAN+): average the outputs for the 8 flips and transposes
        of the input, each transformed back. 8x the compute.
    channels_last: feed the model channels-last (NHWC) inputs, which oneDNN often runs faster
        on CPU; convert the weights too with model.to(memory_format=torch.channels_last).
    progress: a tqdm bar over the tiles.
    emulated: what to do when dtype is bfloat16 and this CPU emulates it (see resolve_dtype):
        "warn" (the default), "fallback" (warn and run float32) or "run".

    The model runs in eval mode under torch.no_grad(); a model in training mode is put in
    eval mode for the call and back afterwards."""
    check_image(img, "img")
    x = img if img.dim() == 4 else img[None]  # (b, 3, h, w)
    b, _, h, w = x.shape
    built_for = getattr(model, "scale", None)
    if scale is not None and built_for is not None and scale != built_for:
        raise ValueError(f"model was built for x{built_for}, asked x{scale}")
    rows, cols = _tile_spans(h, w, tile, tile_overlap)
    device = _device_of(model)
    dtype = resolve_dtype(dtype, device, emulated=emulated)

    def run(patch: Tensor) -> Tensor:
        if channels_last:
            patch = patch.contiguous(memory_format=torch.channels_last)
        return model(patch).float()

    out = None
    s = None
    was_training = model.training
    model.eval()
    tiles = list(itertools.product(rows, cols))
    try:
        with torch.no_grad(), _autocast(device, dtype):
            for row, col in tqdm(tiles, desc="tiles", disable=not progress or len(tiles) == 1):
                patch = x[..., row.window(), col.window()].to(device)  # (b, 3, th, tw)
                y = _self_ensemble(run, patch) if self_ensemble else run(patch)
                if s is None:  # the first window tells the scale; allocate the output once
                    s = _output_scale(y, patch, built_for, scale)
                    out = torch.empty(b, y.shape[1], h * s, w * s)
                if y.shape[-2:] != (patch.shape[-2] * s, patch.shape[-1] * s):
                    raise ValueError(
                        f"model output {tuple(y.shape)} for a {tuple(patch.shape)} window is not "
                        f"x{s} in height and width"
                    )
                # Keep the window's core: (b, 3, th*s, tw*s) -> its block of the output.
                core = y[..., row.core_in_window(s), col.core_in_window(s)]
                out[..., row.core(s), col.core(s)] = core.cpu()
    finally:
        model.train(was_training)
    out = out.clamp_(0, 1)
    return out if img.dim() == 4 else out[0]


class _Span(NamedTuple):
    """One window along one axis, in LR pixels: it reads [start, end) and keeps [keep_start,
    keep_end). The kept cores of consecutive windows partition the axis."""

    start: int
    end: int
    keep_start: int
    keep_end: int

    def window(self) -> slice:
        return slice(self.start, self.end)

    def core(self, s: int) -> slice:  # in output (HR) pixels
        return slice(self.keep_start * s, self.keep_end * s)

    def core_in_window(self, s: int) -> slice:  # in the window's output
        return slice((self.keep_start - self.start) * s, (self.keep_end - self.start) * s)


def _tile_spans(h: int, w: int, tile: int | None, overlap: int) -> tuple[list[_Span], list[_Span]]:
    """The windows along the height and along the width."""
    if tile is None:
        return [_Span(0, h, 0, h)], [_Span(0, w, 0, w)]
    for name, value, low in (("tile", tile, 1), ("tile_overlap", overlap, 0)):
        check_int(value, name, low=low)
    if tile <= 2 * overlap:
        raise ValueError(
            f"tile={tile} is too small for tile_overlap={overlap}: each window discards "
            f"tile_overlap pixels of context on both sides, so tile must exceed 2 * tile_overlap "
            f"= {2 * overlap}; use a larger tile or a smaller overlap"
        )
    return _spans(h, tile, overlap), _spans(w, tile, overlap)


def _spans(n: int, tile: int, overlap: int) -> list[_Span]:
    if n <= tile:  # one window holds the whole axis: nothing to cut
        return [_Span(0, n, 0, n)]
    core = tile - 2 * overlap  # a window is its core plus `overlap` context on each side
    return [
        _Span(max(start - overlap, 0), min(start + core + overlap, n), start, min(start + core, n))
        for start in range(0, n, core)
    ]


def _output_scale(y: Tensor, patch: Tensor, built_for: int | None, asked: int | None) -> int:
    """The model's upscaling factor, read off its output, checked against what it claims and
    what was asked for."""
    s = y.shape[-2] // patch.shape[-2] if y.dim() == 4 else 0
    if s < 1 or y.shape[0] != patch.shape[0]:
        raise ValueError(
            f"expected an image SR model mapping (b, 3, h, w) to (b, 3, h*s, w*s); it mapped "
            f"{tuple(patch.shape)} to {tuple(y.shape)}"
        )
    if built_for is not None and s != built_for:
        raise ValueError(f"model.scale is {built_for} but its output is x{s}")
    if asked is not None and s != asked:
        raise ValueError(f"model upscales x{s}, asked x{asked}")
    return s


def _self_ensemble(run, x: Tensor) -> Tensor:
    """Mean of T^-1(run(T(x))) over the 8 symmetries T of the square (flips and a transpose)."""
    total = None
    for hflip, vflip, transpose in itertools.product((False, True), repeat=3):
        t = x.flip(-1) if hflip else x
        t = t.flip(-2) if vflip else t
        t = t.transpose(-2, -1) if transpose else t
        y = run(t)
        y = y.transpose(-2, -1) if transpose else y  # undo in reverse order
        y = y.flip(-2) if vflip else y
        y = y.flip(-1) if hflip else y
        total = y if total is None else total + y
    return total / 8


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None or dtype == torch.float32:
        return contextlib.nullcontext()
    allowed = (torch.bfloat16,) if device.type == "cpu" else (torch.bfloat16, torch.float16)
    if dtype not in allowed:
        raise ValueError(
            f"dtype={dtype} is not supported on {device.type}; use one of "
            f"{[str(d) for d in (torch.float32, *allowed)]} (float16 autocast is for CUDA)"
        )
    return torch.autocast(device.type, dtype=dtype)


def _device_of(model: nn.Module) -> torch.device:
    first = next(itertools.chain(model.parameters(), model.buffers()), None)
    return first.device if first is not None else torch.device("cpu")
