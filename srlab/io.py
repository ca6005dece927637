"""The one place where images change representation, and where files are written.

Inside srlab an image is a float tensor, RGB, in [0, 1]: (3, h, w) or (b, 3, h, w). Outside it is a
uint8 array, HWC, RGB (what image files, scikit-image and matplotlib use). Files are written
atomically (a temporary file, then a rename), so an interrupted run never leaves half a file."""

from __future__ import annotations

import glob
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from srlab.checks import check_float01, check_int


def to_tensor(img: np.ndarray) -> Tensor:
    """uint8 RGB (h, w, 3) or (b, h, w, 3) -> float32 tensor (3, h, w) or (b, 3, h, w) in [0, 1].

    A float array is taken as already in [0, 1] and checked."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"img must be a numpy array, got {type(img).__name__}")
    if img.ndim not in (3, 4) or img.shape[-1] != 3:
        raise ValueError(f"img must be RGB (h, w, 3) or (b, h, w, 3), got shape {img.shape}")
    if img.size == 0:
        raise ValueError(f"img is empty (shape {img.shape})")
    if img.dtype == np.uint8:
        x = torch.from_numpy(np.ascontiguousarray(img)).float() / 255.0
    elif np.issubdtype(img.dtype, np.floating):
        x = check_float01(torch.from_numpy(np.ascontiguousarray(img)).float(), "img")
    else:
        raise TypeError(f"img must be uint8 (0-255) or float (0-1), got dtype {img.dtype}")
    return x.movedim(-1, -3).contiguous()  # (..., h, w, c) -> (..., c, h, w)


def to_uint8(x: Tensor) -> np.ndarray:
    """Float tensor (3, h, w) or (b, 3, h, w) -> uint8 array (h, w, 3) or (b, h, w, 3).

    Values are clamped to [0, 1] and rounded to nearest, as BasicSR's tensor2img does, so a model's
    slight overshoot is saved the way every SR benchmark saves it. Values far outside [0, 1]
    (beyond [-0.5, 1.5]) are refused rather than clamped: a 0-255 image would come out white."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError("x must be a float tensor in [0, 1]")
    if x.dim() not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"x must be (3, h, w) or (b, 3, h, w), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)})")
    if not torch.isfinite(x).all():
        raise ValueError("x contains NaN or Inf")
    lo, hi = (v.item() for v in torch.aminmax(x.detach()))
    if lo < -0.5 or hi > 1.5:
        raise ValueError(
            f"x must lie in [0, 1] (a slight overshoot is clamped), got values in "
            f"[{lo:.4g}, {hi:.4g}]" + (": a 0-255 image? divide by 255" if hi > 1.5 else "")
        )
    y = (x.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return y.movedim(-3, -1).cpu().numpy()


def quantize(x: Tensor) -> Tensor:
    """Round a [0, 1] tensor to the 256 levels an 8-bit file can hold (same shape and dtype)."""
    return (x.clamp(0, 1) * 255.0).round() / 255.0


def mod_crop(img, scale: int):
    """Crop height and width down to multiples of `scale` (bottom and right edges), as the SR
    benchmarks do before downsampling. numpy HWC arrays (h, w) or (h, w, c) and (..., c, h, w)
    tensors alike. Refused: a scale that is not an integer >= 1, an image smaller than scale
    (nothing would be left), a tensor that looks HWC or an array that looks CHW (the wrong
    axes would be cropped)."""
    check_int(scale, "scale", low=1)
    if isinstance(img, Tensor):
        if img.dim() < 2:
            raise ValueError(f"img must be a (..., h, w) tensor, got shape {tuple(img.shape)}")
        if img.dim() >= 3 and img.shape[-1] in (1, 3, 4) and img.shape[-3] > 4:
            raise ValueError(
                f"img of shape {tuple(img.shape)} looks like HWC: a tensor is (..., c, h, w); "
                "convert with srlab.io.to_tensor"
            )
        h, w = img.shape[-2:]
    elif isinstance(img, np.ndarray) and img.ndim in (2, 3):
        if img.ndim == 3 and img.shape[0] in (1, 3, 4) and img.shape[-1] > 4:
            raise ValueError(
                f"img of shape {img.shape} looks like CHW: a numpy image is HWC (h, w, c); "
                "transpose it (img.transpose(1, 2, 0))"
            )
        h, w = img.shape[:2]
    else:
        raise TypeError(
            f"img must be a numpy HWC array (h, w[, c]) or a tensor (..., h, w), got "
            f"{type(img).__name__} {getattr(img, 'shape', '')}"
        )
    if h < scale or w < scale:
        raise ValueError(f"img is {h}x{w}, smaller than scale={scale}: nothing would be left")
    if isinstance(img, Tensor):
        return img[..., : h - h % scale, : w - w % scale]
    return img[: h - h % scale, : w - w % scale, ...]


def imread(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as uint8 RGB (h, w, 3); grey and RGBA files are converted to RGB.
    A missing, truncated, empty or non-image file is an error that names it."""
    try:
        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image file {path} does not exist") from None
    except (OSError, SyntaxError, ValueError) as err:  # PIL: truncated, unknown format, ...
        raise ValueError(
            f"cannot read image {path}: {err} (a truncated or damaged file? copy it again)"
        ) from err
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"image {path} is empty ({img.shape[0]}x{img.shape[1]} pixels)")
    return img


def read_images(folder: str | os.PathLike, pattern: str = "*.png") -> dict[str, np.ndarray]:
    """Every image in `folder` whose name matches `pattern`, as {file stem: uint8 RGB (h, w, 3)},
    in sorted order (imread; an unreadable file is named). A folder that does not exist or
    holds no match is an error: an empty benchmark would otherwise score as nothing at all."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist (or is not a folder)")
    paths = sorted(folder.glob(pattern))
    if not paths:
        raise ValueError(f"image folder {folder} holds no file matching {pattern!r}")
    return {p.stem: imread(p) for p in paths}


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(tmp), then rename tmp to path: readers see the old file or the new one.

    tmp is `.<name>.<pid>.<random>.tmp` beside path. A write killed outright (SIGKILL, power
    loss) cannot remove its tmp; the next write of the same path removes every such file whose
    process no longer runs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes the file owner-only; results are meant to be shared
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Remove path's temporaries (see atomic_write) left by processes that no longer run."""
    if os.name != "posix":  # os.kill(pid, 0) only probes a process on POSIX
        return
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        pid = tmp.name[len(prefix) :].split(".")[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def imwrite(path: str | os.PathLike, img: np.ndarray | Tensor) -> Path:
    """Write an RGB image (uint8 HWC array, or a float tensor (3, h, w) in [0, 1]) atomically.
    The format follows the file's extension (.png is lossless)."""
    if isinstance(img, Tensor):
        img = to_uint8(img)
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3):
        raise ValueError("img must be a uint8 (h, w, 3) array or a float tensor (3, h, w)")
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown image extension for {path}")
    return atomic_write(path, lambda tmp: Image.fromarray(img).save(tmp, format=fmt))


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write obj as indented JSON, atomically, with no non-finite number in it.

    JSON has no NaN or infinity (Python's json would write bare `NaN`, which strict readers
    reject). This is the one place where srlab decides what becomes of them:
    - NaN is written as null. In srlab's results a NaN means "undefined", e.g. the spread of a
      single seed (srlab.evaluate.mean_std), and null says exactly that.
    - An infinity is refused with a ValueError that names where it sits (e.g.
      `obj["variants"][2]["psnr"]`): no result should be infinite, and silently writing null would
      hide a broken run. Nothing is written then; an existing file is kept."""
    obj = _nan_to_null(obj, "obj")

    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False, allow_nan=False)
            f.write("\n")

    return atomic_write(path, write)


def _nan_to_null(obj, where: str):
    """A copy of obj (dicts, lists and tuples, recursively) with every float NaN replaced by None;
    an infinite float raises a ValueError naming its place, `where` being obj's own name."""
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            raise ValueError(
                f"{where} is {obj}: JSON has no infinity, and srlab writes no infinite result; "
                "fix the value (or write it as a string) before write_json"
            )
        return obj
    if isinstance(obj, dict):
        return {k: _nan_to_null(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_nan_to_null(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return obj


def torch_save(path: str | os.PathLike, obj) -> Path:
    """torch.save, atomically. Load it back with torch.load(path, weights_only=True)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
