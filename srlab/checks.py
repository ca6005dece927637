"""Input validation shared by the whole library.

Every public function checks its tensors here, so a wrong shape, dtype or range fails at the call
that made the mistake, with a message that names the argument and what was expected."""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor


def check_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_float01(x: Tensor, name: str) -> Tensor:
    """A float tensor with every value in [0, 1] (the library's image convention)."""
    check_tensor(x, name)
    if not x.is_floating_point():
        hint = (
            " (uint8 image? convert it with srlab.io.to_tensor)" if x.dtype == torch.uint8 else ""
        )
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}{hint}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    if x.is_meta or torch.jit.is_tracing() or torch.compiler.is_compiling():
        # A meta tensor (counting FLOPs) has no values, and while a model is traced or compiled
        # (ONNX export, torch.compile) reading values would break the graph: shapes are checked.
        return x
    # One pass: NaN propagates into the min/max and Inf lies outside [0, 1], so this catches all.
    lo, hi = (v.item() for v in torch.aminmax(x.detach()))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or Inf")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]"
            + (" (a 0-255 image? divide by 255)" if hi > 1.5 else "")
        )
    return x


def check_finite(x: Tensor, name: str) -> Tensor:
    """A tensor without NaN or Inf (any range): refused where it enters, since one NaN pixel
    spreads through every later conv or resize. Values are not read on meta tensors or while a
    model is traced or compiled (as check_float01)."""
    check_tensor(x, name)
    if x.is_meta or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return x
    if x.is_floating_point() and not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} contains NaN or Inf ({bad} of {x.numel()} values)")
    return x


def check_image(x: Tensor, name: str = "x", *, channels: int | None = 3) -> Tensor:
    """An image batch (b, c, h, w) or a single image (c, h, w), float in [0, 1]."""
    check_tensor(x, name)
    if x.dim() not in (3, 4):
        raise ValueError(
            f"{name} must be an image (c, h, w) or a batch (b, c, h, w), got shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[-3] != channels:
        raise ValueError(
            f"{name} must have {channels} channels (RGB) in dim -3, got shape {tuple(x.shape)}"
        )
    return check_float01(x, name)


def check_video(x: Tensor, name: str = "x", *, channels: int | None = 3, min_frames: int = 1):
    """A video batch (b, t, c, h, w), float in [0, 1]."""
    check_tensor(x, name)
    if x.dim() != 5:
        raise ValueError(
            f"{name} must be a video batch (b, t, c, h, w), got shape {tuple(x.shape)}"
        )
    if channels is not None and x.shape[2] != channels:
        raise ValueError(
            f"{name} must have {channels} channels in dim 2, got shape {tuple(x.shape)}"
        )
    if x.shape[1] < min_frames:
        raise ValueError(f"{name} must have at least {min_frames} frames, got {x.shape[1]}")
    return check_float01(x, name)


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )


def check_scale(scale: object, allowed: tuple[int, ...] = (2, 3, 4, 8)) -> int:
    """An integer upscaling factor from `allowed`."""
    if not _is_int(scale) or scale not in allowed:
        raise ValueError(f"scale must be one of {allowed}, got {scale!r}")
    return int(scale)


def check_int(value: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound may be None), returned as a Python int.

    bool is refused (True is an int to Python, never a sensible count), so are floats such as
    2.0; numpy integers pass. The error names the argument and the range:
    "num_feat must be an integer >= 1, got -4"."""
    too_low = low is not None and _is_int(value) and value < low
    too_high = high is not None and _is_int(value) and value > high
    if not _is_int(value) or too_low or too_high:
        if low is not None and high is not None:
            bounds = f" in [{low}, {high}]"
        else:
            bounds = f" >= {low}" if low is not None else f" <= {high}" if high is not None else ""
        raise ValueError(f"{name} must be an integer{bounds}, got {value!r}")
    return int(value)


def check_float(
    value: object, name: str, *, low: float | None = None, low_open: bool = False
) -> float:
    """A finite real number (not a bool), at least `low` (more than `low` with low_open=True).
    NaN and infinities are refused: an infinite learning rate or sigma is never meant."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    return float(value)


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
