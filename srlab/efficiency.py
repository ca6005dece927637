"""Efficient inference on a CPU, measured side by side: every variant runs the same model on the
same input as float32 eager, and is scored by its speed-up and by its PSNR cost.

    runners, unavailable = make_runners(model, VARIANTS, example=lq[:1], calibration=calib)
    rows = measure(runners, lq, gt, crop_border=4, y_channel=True, repeats=10)

The variants, and what each one is on this CPU with PyTorch 2.13:
  fp32            eager float32, the reference.
  channels_last   weights and input in NHWC memory layout, which oneDNN's conv kernels prefer.
  bf16_autocast   torch.autocast("cpu", torch.bfloat16): convolutions in bfloat16, the rest in
                  float32. Only fast on CPUs with native bf16 instructions (AVX512-BF16 / AMX);
                  elsewhere it is emulated and slower. FP16 autocast is a CUDA feature.
  int8_dynamic    torch.ao.quantization.quantize_dynamic: weights in int8, activations quantised
                  on the fly. It only covers nn.Linear and recurrent layers (LSTM, GRU, RNN cells),
                  not nn.Conv2d, so for a conv net it replaces nothing; the runner's note counts
                  the replaced modules, so the table says so instead of reporting a fake gain.
  int8_static_fx  post-training static quantisation with FX graph mode (prepare_fx, calibration
                  on real images, convert_fx) and the "x86" backend's default qconfig (per-channel
                  int8 weights, uint8 activations). srlab's models check their input in forward
                  (values in [0, 1], no NaN), which symbolic tracing cannot run, so each top-level
                  child with parameters (conv_first, body, conv_after_body, upsample, conv_last)
                  is traced and quantised on its own; the check and the mean shift stay float32,
                  and the activations are (de)quantised at those few boundaries.
                  torch.ao.quantization is deprecated in PyTorch 2.13 (its warning points to
                  torchao), whose PT2E path is the maintained one:
  int8_static_pt2e torchao's PT2E quantisation: torch.export, prepare_pt2e with the
                  X86InductorQuantizer (per-channel int8 weights, uint8 activations), calibration,
                  convert_pt2e, then torch.compile, which lowers the quantise/dequantise pattern
                  to oneDNN's int8 convolutions (without compile it runs the reference float
                  ops, slower than float32). Pays with VNNI (srlab.infer.cpu_capability). Needs
                  torchao (pip install 'srlab[efficiency]').
  compile         torch.compile (TorchInductor, which writes C++ and builds it with the system C
                  compiler). The first call compiles; that time is `setup_s`, apart from the
                  latency. Each new input shape recompiles, so measure on one shape.
  onnxruntime     torch.onnx.export, then onnxruntime's CPUExecutionProvider with as many threads
                  as torch uses. The torch.export-based exporter (dynamo=True) cannot trace the
                  input check (a data-dependent `if`); we then fall back to the TorchScript
                  exporter (dynamo=False), and the note says which one ran.
  openvino        openvino.convert_model, compiled for the CPU with as many threads as torch
                  uses and the float32 precision hint (OpenVINO would otherwise pick bf16 on a
                  CPU with AMX, a different PSNR). Needs openvino (srlab[efficiency]).

Video models (BasicVSR, IconVSR): `make_video_runner` applies a variant to the whole model
(fp32, channels_last, bf16_autocast) or, for the compiled and quantised ones, to its two
propagation trunks, which hold most of its compute, and `measure_stream` runs each through
srlab.stream on the same clip.

Timing on a shared machine: `measure` interleaves the variants (round r times every variant once,
in an order rotated each round), so a change in load hits all of them alike, and reports the
median and the interquartile range. The thread count is stated in every row."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from srlab.checks import check_image, check_scale
from srlab.degradations import bi_degrade
from srlab.infer import cpu_capability, upscale
from srlab.io import quantize, to_tensor
from srlab.metrics import psnr

VARIANTS = (
    "fp32",
    "channels_last",
    "bf16_autocast",
    "int8_dynamic",
    "int8_static_fx",
    "int8_static_pt2e",
    "compile",
    "onnxruntime",
    "openvino",
)
# Variants of a video model: whole-model ones, and the image variants applied to its trunks.
VIDEO_VARIANTS = (
    "fp32",
    "channels_last",
    "bf16_autocast",
    "int8_static_pt2e",
    "compile",
    "onnxruntime",
    "openvino",
)
TRUNKS = ("backward_trunk", "forward_trunk")


class VariantUnavailable(RuntimeError):
    """A variant that cannot run here (a missing package, an API PyTorch removed); the message
    says why."""


@dataclass
class Runner:
    """One way of running a model. run: (b, 3, h, w) -> (b, 3, h*s, w*s) float32, called under
    torch.inference_mode(). setup_s: the one-off cost (conversion, calibration, export or
    compilation). note: what was done, and anything the numbers do not show. size_bytes: what the
    weights take on disk (torch.save of the state_dict; the .onnx file)."""

    variant: str
    run: Callable[[Tensor], Tensor]
    setup_s: float
    note: str
    size_bytes: int | None = None  # the saved weights (or .onnx file); None: not a file


def make_runner(
    model: nn.Module,
    variant: str,
    *,
    example: Tensor,
    calibration: Sequence[Tensor] = (),
) -> Runner:
    """A Runner for `variant` (one of VARIANTS) of an image SR model in eval mode. The model is
    not modified (variants that convert work on a copy).

    example: (1, 3, h, w) input: export and compilation trace with it (the shape to measure on).
    calibration: LR images (1, 3, h, w) or (3, h, w) that static quantisation observes to set its
    activation ranges (int8_static_* only; required there).
    Raises VariantUnavailable when the variant cannot run here, ValueError for an unknown one."""
    check_image(example, "example")
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    model = model.eval()
    start = time.perf_counter()
    run, note, size_bytes = _BUILDERS[variant](model, example, calibration)
    return Runner(variant, run, time.perf_counter() - start, note, size_bytes)


def make_runners(
    model: nn.Module,
    variants: Sequence[str] = VARIANTS,
    *,
    example: Tensor,
    calibration: Sequence[Tensor] = (),
) -> tuple[list[Runner], dict[str, str]]:
    """make_runner for each variant: (the runners that could be made, {variant: why not} for
    the ones that raised VariantUnavailable)."""
    runners, unavailable = [], {}
    for variant in variants:
        try:
            runners.append(make_runner(model, variant, example=example, calibration=calibration))
        except VariantUnavailable as err:
            unavailable[variant] = str(err)
    return runners, unavailable


def measure(
    runners: Sequence[Runner],
    lq: Tensor,
    gt: Tensor,
    *,
    crop_border: int,
    y_channel: bool,
    warmup: int = 1,
    repeats: int = 10,
    reference: str = "fp32",
) -> list[dict]:
    """Latency, throughput and PSNR of each runner, relative to the `reference` runner.

    lq: (n, 3, h, w), gt: (n, 3, h*s, w*s), RGB in [0, 1]. Each image runs alone, as (1, 3, h, w),
    so every runner sees one shape; latency is timed on lq[:1]. Outputs are clamped and rounded to
    8 bits before scoring, as saved images are.

    Returns one row per runner: {"variant", "setup_s", "median_s", "iqr_s", "threads",
    "speedup" (reference median / this median), "mb_per_s" (megabytes of 8-bit RGB output per
    second, the seed notes' throughput unit), "psnr" (mean over the images),
    "delta_psnr_db" (minus the reference's), "max_abs_diff" (largest |output - reference output|
    before rounding), "size_mb" (weights on disk, None if not a file), "note"}."""
    check_image(lq, "lq")
    check_image(gt, "gt")
    names = [r.variant for r in runners]
    if reference not in names:
        raise ValueError(f"the reference runner {reference!r} is not among {names}")
    outputs = {r.variant: _outputs(r, lq) for r in runners}  # also the warm-up of each runner
    calls = {r.variant: r.run for r in runners}
    times = interleaved_times(calls, lq[:1], warmup=warmup, repeats=repeats)
    ref_out, ref_median = outputs[reference], statistics.median(times[reference])
    rows = []
    for runner in runners:
        sr = outputs[runner.variant]
        if sr.shape[0] != gt.shape[0] or sr.shape[-2:] != gt.shape[-2:]:
            raise ValueError(f"outputs {tuple(sr.shape)} do not match gt {tuple(gt.shape)}")
        scores = psnr(quantize(sr.clamp(0, 1)), gt, crop_border=crop_border, y_channel=y_channel)
        median = statistics.median(times[runner.variant])
        q25, _, q75 = statistics.quantiles(times[runner.variant], n=4, method="inclusive")
        rows.append(
            {
                "variant": runner.variant,
                "setup_s": runner.setup_s,
                "median_s": median,
                "iqr_s": q75 - q25,
                "threads": torch.get_num_threads(),
                "speedup": ref_median / median,
                "mb_per_s": sr[:1].numel() / 1e6 / median,  # one byte per 8-bit channel value
                "psnr": float(scores.mean()),
                "max_abs_diff": float((sr - ref_out).abs().max()),
                "size_mb": None if runner.size_bytes is None else runner.size_bytes / 1e6,
                "note": runner.note,
            }
        )
    ref_psnr = next(row["psnr"] for row in rows if row["variant"] == reference)
    for row in rows:
        row["delta_psnr_db"] = row["psnr"] - ref_psnr
    return rows


def tiling_throughput(
    model: nn.Module,
    img: Tensor,
    tiles: Sequence[int | None],
    *,
    tile_overlap: int,
    repeats: int = 3,
    dtype: torch.dtype | None = None,
) -> list[dict]:
    """Throughput of srlab.infer.upscale on one image (3, h, w) for each tile size (None: the
    whole image at once), in megabytes of 8-bit RGB output per second.

    Returns rows {"tile", "tile_overlap", "median_s", "mb_per_s", "max_abs_diff"}, the last
    against the whole-image output: 0 up to rounding for pure conv nets with tile_overlap at least
    the receptive-field radius; not for RCAN, whose channel attention pools over each tile."""
    check_image(img, "img")
    if img.dim() != 3:
        raise ValueError(f"img must be one image (3, h, w), got shape {tuple(img.shape)}")
    whole = upscale(model, img, dtype=dtype)
    rows = []
    for tile in tiles:
        overlap = tile_overlap if tile is not None else 0
        times, out = [], None
        for _ in range(repeats):
            start = time.perf_counter()
            out = upscale(model, img, tile=tile, tile_overlap=overlap, dtype=dtype)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        rows.append(
            {
                "tile": tile,
                "tile_overlap": overlap,
                "median_s": median,
                "mb_per_s": out.numel() / 1e6 / median,
                "max_abs_diff": float((out - whole).abs().max()),
            }
        )
    return rows


def crop_pairs(
    images: Mapping[str, np.ndarray], *, scale: int, lr_size: int
) -> tuple[Tensor, Tensor]:
    """Same-size (lq, gt) batches for `measure`: the centre (lr_size * scale)^2 crop of each HR
    image (uint8 HWC RGB, as srlab.data.bundled_images gives them) and its BI degradation
    (MATLAB bicubic, rounded to 8 bits). Images smaller than the crop are left out.
    Returns lq (n, 3, lr_size, lr_size) and gt (n, 3, lr_size * scale, lr_size * scale)."""
    check_scale(scale)
    side = lr_size * scale
    crops = []
    for img in images.values():
        h, w = img.shape[:2]
        if h >= side and w >= side:
            top, left = (h - side) // 2, (w - side) // 2
            crops.append(to_tensor(img[top : top + side, left : left + side]))
    if not crops:
        raise ValueError(f"no image is at least {side}x{side} pixels; use a smaller lr_size")
    gt = torch.stack(crops)  # (n, 3, side, side)
    return bi_degrade(gt, scale), gt


def format_rows(rows: Sequence[dict], unavailable: Mapping[str, str] | None = None) -> str:
    """`measure`'s rows (and the unavailable variants with their reasons) as a Markdown table."""
    lines = [
        "| variant | setup (s) | median (ms) | IQR (ms) | speed-up | MB/s | PSNR (dB) "
        "| ΔPSNR (dB) | max abs diff | size (MB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['setup_s']:.1f} | {1e3 * r['median_s']:.1f} "
            f"| {1e3 * r['iqr_s']:.1f} | {r['speedup']:.2f}x | {r['mb_per_s']:.2f} "
            f"| {r['psnr']:.2f} | {r['delta_psnr_db']:+.3f} | {r['max_abs_diff']:.1e} "
            f"| {'-' if r['size_mb'] is None else format(r['size_mb'], '.2f')} |"
        )
    for variant, reason in (unavailable or {}).items():
        lines.append(f"| {variant} | unavailable: {reason} | | | | | | | | |")
    return "\n".join(lines)


def _outputs(runner: Runner, lq: Tensor) -> Tensor:
    """runner.run on each image of lq alone, stacked: (n, 3, h*s, w*s) float32."""
    with torch.inference_mode():
        return torch.cat([runner.run(lq[i : i + 1]).float() for i in range(lq.shape[0])])


def interleaved_times(
    calls: Mapping[str, Callable[[Tensor], object]], x: Tensor, *, warmup: int, repeats: int
) -> dict[str, list[float]]:
    """Seconds per call of each callable on x, under torch.inference_mode(), measured round by
    round: every round calls each one once, starting one further along than the round before,
    so a change in the machine's load hits all of them alike. The first `warmup` rounds are not
    timed. Returns {name: [seconds per call] * repeats}."""
    if repeats < 2 or warmup < 0:
        raise ValueError(f"need repeats >= 2 and warmup >= 0, got {repeats=}, {warmup=}")
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.inference_mode():
        for round_ in range(warmup + repeats):
            for k in range(len(names)):
                name = names[(round_ + k) % len(names)]
                start = time.perf_counter()
                calls[name](x)
                if round_ >= warmup:
                    times[name].append(time.perf_counter() - start)
    return times


def _fp32(model, example, calibration):
    return model, "float32 eager", _state_bytes(model)


def _channels_last(model, example, calibration):
    converted = copy.deepcopy(model).to(memory_format=torch.channels_last)

    def run(x: Tensor) -> Tensor:
        return converted(x.contiguous(memory_format=torch.channels_last)).contiguous()

    return run, "weights and input in channels-last (NHWC) memory layout", _state_bytes(converted)


def _bf16_autocast(model, example, calibration):
    def run(x: Tensor) -> Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x).float()

    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    support = "this CPU has native bf16 support" if native else "no native bf16 (emulated)"
    # The weights stay float32 (autocast converts them at each call), so the size is fp32's.
    return run, f"torch.autocast('cpu', bfloat16): convs in bf16; {support}", _state_bytes(model)


def _int8_dynamic(model, example, calibration):
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        converted = quantize_dynamic(copy.deepcopy(model), dtype=torch.qint8)
    before = {name: type(m) for name, m in model.named_modules()}
    replaced = sum(type(m) is not before.get(name) for name, m in converted.named_modules())
    note = f"quantize_dynamic replaced {replaced} module(s)"
    if replaced == 0:
        note += (
            ": it covers nn.Linear and recurrent layers only, not nn.Conv2d, so this conv net "
            "runs in float32 exactly as before"
        )
    return converted, note + _deprecation(caught), _state_bytes(converted)


def _int8_static_fx(model, example, calibration):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    if not calibration:
        raise ValueError("int8_static_fx needs calibration images")
    qconfig = get_default_qconfig_mapping("x86")
    converted = copy.deepcopy(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # Trace each child with weights on its own: the model's forward checks its input, which a
        # symbolic trace cannot evaluate. The example input only fixes the rank (4-d).
        traced = [name for name, child in converted.named_children() if _has_params(child)]
        for name in traced:
            child = getattr(converted, name)
            setattr(converted, name, prepare_fx(child, qconfig, (example,)))
        with torch.inference_mode():
            for img in calibration:
                converted(img if img.dim() == 4 else img[None])  # observers record ranges
        for name in traced:
            setattr(converted, name, convert_fx(getattr(converted, name)))
    note = (
        f"FX graph mode, qconfig 'x86', {len(calibration)} calibration image(s); "
        f"quantised children: {', '.join(traced)}"
    )
    return converted, note + _deprecation(caught), _state_bytes(converted)


def _int8_static_pt2e(model, example, calibration):
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except ImportError as err:
        raise VariantUnavailable(
            f"PT2E quantisation lives in torchao, which is not installed ({err}); "
            "pip install 'srlab[efficiency]'"
        ) from err
    if not calibration:
        raise ValueError("int8_static_pt2e needs calibration images")
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    try:
        with _quiet():
            exported = torch.export.export(copy.deepcopy(model), (example,)).module()
    except Exception as err:  # noqa: BLE001 (any failure to trace: the variant is unavailable)
        raise VariantUnavailable(f"torch.export cannot trace the model: {_reason(err)}") from err
    with _quiet():
        prepared = prepare_pt2e(exported, quantizer)
        with torch.no_grad():
            for img in calibration:
                prepared(img if img.dim() == 4 else img[None])  # observers record ranges
        converted = convert_pt2e(prepared)
        compiled = torch.compile(converted)
        start = time.perf_counter()
        with torch.no_grad():
            compiled(example)  # the first call compiles: q/dq patterns become int8 kernels
    note = (
        f"torchao PT2E, X86InductorQuantizer, {len(calibration)} calibration input(s), then "
        f"torch.compile (first call {time.perf_counter() - start:.1f} s); size: int8 conv "
        f"weights (the PT2E graph stores float32 ones, which compile folds); "
        f"{cpu_capability()['summary']}"
    )
    return compiled, note, _int8_bytes(model)


def _int8_bytes(model: nn.Module) -> int:
    """What an int8 deployment stores: conv and linear weights at one byte each, plus a float32
    scale and an int64 zero point per output channel; biases and other parameters as they are."""
    total = 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if name == "weight" and isinstance(module, nn.Conv2d | nn.Linear):
                total += p.numel() + p.shape[0] * (4 + 8)
            else:
                total += p.numel() * p.element_size()
    return total


def _reason(err: BaseException) -> str:
    """The innermost cause of an exception, in one line."""
    while err.__cause__ is not None:
        err = err.__cause__
    return f"{type(err).__name__}: {str(err).strip().splitlines()[0][:160] if str(err) else ''}"


def _compile(model, example, calibration):
    compiled = torch.compile(copy.deepcopy(model))
    start = time.perf_counter()
    with torch.inference_mode(), _quiet():  # dynamo logs the graph break at the input check
        compiled(example)  # the first call compiles
    return (
        compiled,
        (
            f"torch.compile (inductor), first call {time.perf_counter() - start:.1f} s; the input "
            "check runs eagerly (a graph break)"
        ),
        None,
    )


def _onnxruntime(model, example, calibration):
    try:
        import onnxruntime
    except ImportError as err:
        raise VariantUnavailable(
            f"onnxruntime is not installed ({err}); pip install 'srlab[efficiency]'"
        ) from err
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        exporter = _export_onnx(model, example, path)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        size = path.stat().st_size

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(session.run(None, {"lq": x.contiguous().numpy()})[0])

    return (
        run,
        (
            f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider, "
            f"{torch.get_num_threads()} intra-op thread(s); {exporter}"
        ),
        size,
    )


def _openvino(model, example, calibration):
    try:
        import openvino
    except ImportError as err:
        raise VariantUnavailable(
            f"openvino is not installed ({err}); pip install 'srlab[efficiency]'"
        ) from err
    try:
        with _quiet():
            converted = openvino.convert_model(copy.deepcopy(model), example_input=example)
    except Exception as err:  # noqa: BLE001 (any conversion failure: unavailable, with why)
        raise VariantUnavailable(f"openvino.convert_model failed: {_reason(err)}") from err
    config = {"INFERENCE_NUM_THREADS": torch.get_num_threads(), "INFERENCE_PRECISION_HINT": "f32"}
    compiled = openvino.Core().compile_model(converted, "CPU", config)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.xml"
        openvino.save_model(converted, path, compress_to_fp16=False)
        size = path.stat().st_size + path.with_suffix(".bin").stat().st_size

    def run(x: Tensor) -> Tensor:
        return torch.from_numpy(compiled(x.contiguous().numpy())[0])

    return (
        run,
        f"openvino {openvino.__version__} CPU plugin, float32 precision hint, "
        f"{torch.get_num_threads()} thread(s)",
        size,
    )


def _export_onnx(model: nn.Module, example: Tensor, path: Path) -> str:
    """Export with torch.export (dynamo=True), else the TorchScript exporter; returns which ran."""
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)

        with _quiet():  # a failed torch.export prints its whole graph
            torch.onnx.export(
                model, (example,), path, dynamo=True, input_names=["lq"], output_names=["sr"]
            )
        return "exporter: torch.export (dynamo=True)"
    except Exception as err:  # noqa: BLE001 (any failure of the new exporter: try the old one)
        while err.__cause__ is not None:  # the exporter wraps the error that stopped it
            err = err.__cause__
        reason = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:160]}"
    with _quiet():
        torch.onnx.export(
            model,
            (example,),
            path,
            dynamo=False,
            input_names=["lq"],
            output_names=["sr"],
            dynamic_axes={"lq": {0: "b", 2: "h", 3: "w"}, "sr": {0: "b", 2: "hs", 3: "ws"}},
        )
    return f"exporter: TorchScript (dynamo=False); dynamo=True failed with {reason}"


@contextlib.contextmanager
def _quiet():
    """Silence stdout, stderr, warnings and torch's own loggers for the duration (the exporters
    print progress, graphs and warnings about optional packages)."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR)
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
    finally:
        logger.setLevel(level)


def _state_bytes(module: nn.Module) -> int:
    """Bytes of torch.save(module.state_dict()): int8 modules store packed int8 weights."""
    buffer = io.BytesIO()
    torch.save(module.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _deprecation(caught: list[warnings.WarningMessage]) -> str:
    """'; deprecated: <first line of the warning>' if a DeprecationWarning was raised."""
    for w in caught:
        if issubclass(w.category, DeprecationWarning):
            return f"; deprecated: {str(w.message).strip().splitlines()[0]}"
    return ""


_BUILDERS = {
    "fp32": _fp32,
    "channels_last": _channels_last,
    "bf16_autocast": _bf16_autocast,
    "int8_dynamic": _int8_dynamic,
    "int8_static_fx": _int8_static_fx,
    "int8_static_pt2e": _int8_static_pt2e,
    "compile": _compile,
    "onnxruntime": _onnxruntime,
    "openvino": _openvino,
}


@dataclass
class VideoRunner:
    """A video model prepared for one variant, to run with srlab.stream.stream(model, ...,
    dtype=dtype). setup_s and note as Runner's."""

    variant: str
    model: nn.Module
    dtype: torch.dtype | None
    setup_s: float
    note: str
    trunk_bytes: int | None = None  # the two trunks' weights on disk (None: not a file)


class _Runs(nn.Module):
    """A module whose forward is a Runner's run: how a trunk variant takes the trunk's place."""

    def __init__(self, run: Callable[[Tensor], Tensor]):
        super().__init__()
        self.run = run

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)

    def train(self, mode: bool = True) -> _Runs:
        """Only this flag changes: the runner is fixed (exported, quantised, compiled or another
        runtime's), and an exported PT2E model refuses .train()/.eval() outright, which
        srlab.stream calls on the whole model."""
        self.training = mode
        return self


def make_video_runner(model: nn.Module, variant: str, *, calibration: Tensor) -> VideoRunner:
    """A VideoRunner for `variant` (one of VIDEO_VARIANTS) of a BasicVSR or IconVSR in eval mode;
    the model is not modified.

    calibration: an LR clip (1, t, 3, h, w) at the frame size the variant will run on. fp32,
    channels_last (the weights in NHWC, so oneDNN runs every convolution in NHWC) and
    bf16_autocast apply to the whole model. The others replace the two propagation trunks
    (2 x num_block residual blocks at LR: most of the compute) by the image variant of the same
    name, built and (INT8) calibrated on the trunks' own inputs recorded while the model runs the
    calibration clip; SpyNet and the reconstruction stay float32 eager.
    Raises VariantUnavailable as make_runner does."""
    if variant not in VIDEO_VARIANTS:
        raise ValueError(f"variant must be one of {VIDEO_VARIANTS}, got {variant!r}")
    model = model.eval()
    start = time.perf_counter()
    if variant in ("fp32", "bf16_autocast"):
        dtype = torch.bfloat16 if variant == "bf16_autocast" else None
        note = "whole model, " + ("eager float32" if dtype is None else "torch.autocast bfloat16")
        size = sum(_state_bytes(getattr(model, name)) for name in TRUNKS) if dtype is None else None
        return VideoRunner(variant, model, dtype, time.perf_counter() - start, note, size)
    if variant == "channels_last":
        converted = copy.deepcopy(model).to(memory_format=torch.channels_last)
        note = "whole model, weights channels-last (NHWC)"
        return VideoRunner(variant, converted, None, time.perf_counter() - start, note)
    inputs = _trunk_inputs(model, calibration)
    converted = copy.deepcopy(model)
    notes, sizes = [], []
    for name in TRUNKS:
        trunk = getattr(model, name)
        run, note, size = _BUILDERS[variant](trunk, inputs[name][0], inputs[name])
        setattr(converted, name, _Runs(run))
        notes.append(note)
        sizes.append(size)
    note = f"{' and '.join(TRUNKS)} replaced ({len(inputs[TRUNKS[0]])} recorded inputs); {notes[0]}"
    size = None if None in sizes else sum(sizes)
    return VideoRunner(variant, converted, None, time.perf_counter() - start, note, size)


def _trunk_inputs(model: nn.Module, clip: Tensor) -> dict[str, list[Tensor]]:
    """What each trunk receives while the model runs `clip`: {name: [(1, c, h, w), ...]}."""
    recorded: dict[str, list[Tensor]] = {name: [] for name in TRUNKS}
    hooks = [
        getattr(model, name).register_forward_pre_hook(
            lambda module, args, name=name: recorded[name].append(args[0].detach().clone())
        )
        for name in TRUNKS
    ]
    try:
        with torch.inference_mode():
            model(clip)
    finally:
        for hook in hooks:
            hook.remove()
    return {name: [x.clone() for x in xs] for name, xs in recorded.items()}  # not inference tensors


def measure_stream(
    runners: Sequence[VideoRunner],
    lqs: Tensor,
    gt: Tensor,
    *,
    interval: int,
    crop_border: int,
    y_channel: bool,
    repeats: int = 3,
    reference: str = "fp32",
) -> list[dict]:
    """Each VideoRunner streamed over one clip with srlab.stream (chunks of `interval`), timed in
    interleaved rounds (see interleaved_times) and scored per frame on 8-bit outputs.

    lqs: (1, t, 3, h, w); gt: (1, t, 3, 4h, 4w). Returns one row per runner: {"variant",
    "setup_s", "ms_per_frame" (median over rounds of the clip's wall time / t), "iqr_ms",
    "fps", "speedup" (over the reference), "psnr" (mean over frames), "delta_psnr_db",
    "max_abs_diff" (against the reference's outputs), "threads", "note", "trunk_mb" (the
    trunks' weights on disk, None where not a file)}."""
    from srlab.stream import stream

    names = [r.variant for r in runners]
    if reference not in names:
        raise ValueError(f"the reference runner {reference!r} is not among {names}")
    t = lqs.shape[1]

    def clip(runner: VideoRunner) -> Tensor:
        frames = stream(runner.model, iter(lqs[0]), interval=interval, dtype=runner.dtype)
        return torch.stack([out.sr for out in frames])  # (t, 3, 4h, 4w)

    outputs = {r.variant: clip(r) for r in runners}  # also the warm-up
    calls = {r.variant: (lambda _x, r=r: clip(r)) for r in runners}
    times = interleaved_times(calls, lqs, warmup=0, repeats=repeats)
    ref = statistics.median(times[reference])
    rows = []
    for r in runners:
        sr = outputs[r.variant]
        scores = psnr(quantize(sr), gt[0], crop_border=crop_border, y_channel=y_channel)
        median = statistics.median(times[r.variant])
        q25, _, q75 = statistics.quantiles(times[r.variant], n=4, method="inclusive")
        rows.append({
            "variant": r.variant, "setup_s": r.setup_s, "ms_per_frame": 1e3 * median / t,
            "iqr_ms": 1e3 * (q75 - q25) / t, "fps": t / median, "speedup": ref / median,
            "psnr": float(scores.mean()),
            "max_abs_diff": float((sr - outputs[reference]).abs().max()),
            "threads": torch.get_num_threads(), "note": r.note,
            "trunk_mb": None if r.trunk_bytes is None else r.trunk_bytes / 1e6,
        })  # fmt: skip
    ref_psnr = next(row["psnr"] for row in rows if row["variant"] == reference)
    for row in rows:
        row["delta_psnr_db"] = row["psnr"] - ref_psnr
    return rows
