"""How the SR benchmarks make their low-resolution inputs from high-resolution images.

BI: MATLAB's bicubic `imresize(hr, 1/scale)` (EDSR, RCAN, BasicVSR's BIx4). BD: a Gaussian blur of
sigma 1.6 followed by subsampling (RCAN's BD x3, BasicVSR's BDx4). Both end in an 8-bit file, so
both quantise by default. Every function takes any leading dims (..., c, h, w): an image, a batch
or a video (b, t, 3, h, w) works as is. Pure functions; imresize is differentiable."""

from __future__ import annotations

import io as _bytes_io
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from srlab.checks import check_finite, check_float01, check_int, check_scale, check_tensor
from srlab.io import quantize as quantize_8bit
from srlab.io import to_tensor, to_uint8

BD_VARIANTS = ("basicvsr", "rcan")

# imresize refuses a scale whose output (or resize matrix) would exceed this many values: 2**31
# float32 values are 8 GiB, never an SR image, and torch's allocator error would not say why.
MAX_RESIZE_ELEMENTS = 2**31


# --- MATLAB's bicubic imresize -----------------------------------------------------------------


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic'); zero for |x| > 2."""
    ax = x.abs()
    near = 1.5 * ax**3 - 2.5 * ax**2 + 1.0  # |x| <= 1
    far = -0.5 * ax**3 + 2.5 * ax**2 - 4.0 * ax + 2.0  # 1 < |x| <= 2
    return torch.where(ax <= 1, near, torch.where(ax <= 2, far, torch.zeros_like(ax)))


def _resize_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool) -> Tensor:
    """The (out_len, in_len) float64 matrix W with out = W @ in along one axis, as MATLAB builds it
    (imresize's `contributions`): each row holds the normalised cubic weights of one output pixel,
    and taps that fall outside the image are folded back by symmetric (half-sample) mirroring."""
    shrink = scale < 1 and antialiasing
    # When shrinking, the kernel is stretched by 1/scale: a low-pass filter against aliasing.
    kernel_width = 4.0 / scale if shrink else 4.0
    out_pos = torch.arange(1, out_len + 1, dtype=torch.float64)  # 1-based, as in MATLAB
    # Centre of each output pixel in input coordinates: pixel edges map to pixel edges.
    centre = out_pos / scale + 0.5 * (1 - 1 / scale)  # (out_len,)
    left = torch.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    index = left[:, None] + torch.arange(taps, dtype=torch.float64)  # (out_len, taps), 1-based
    distance = centre[:, None] - index
    weight = scale * _cubic(scale * distance) if shrink else _cubic(distance)
    weight = weight / weight.sum(dim=1, keepdim=True)  # rows sum to 1: flat stays flat
    # Symmetric boundary: ..., 2, 1 | 1, 2, ..., n | n, n-1, ... (MATLAB's aux = [1:n, n:-1:1]).
    index = (index.long() - 1) % (2 * in_len)  # 0-based, one mirror period
    index = torch.where(index < in_len, index, 2 * in_len - 1 - index)
    return torch.zeros(out_len, in_len, dtype=torch.float64).scatter_add_(1, index, weight)


def imresize(
    x: Tensor | np.ndarray, scale: float, antialiasing: bool = True
) -> Tensor | np.ndarray:
    """MATLAB's `imresize(x, scale, 'bicubic')`, as BasicSR reproduces it (to 1e-5 on its golden
    outputs at 1/2, 1/3, 1/4, 2, 3, 4; see tests/test_degradations.py).

    x: a float tensor (..., c, h, w) (image, batch or video) or a float numpy array (h, w, c).
    Returns the same kind and dtype, (..., c, ceil(h * scale), ceil(w * scale)) or (h', w', c).
    Refused: NaN or Inf in x (the resize would spread one over its whole row and column), a
    tensor that looks like HWC (..., h, w, 3) (it would be resized along the wrong axes), and a
    scale whose output would hold more than MAX_RESIZE_ELEMENTS values.
    Values are not clipped or range-checked (the operation is linear, and upscaling overshoots at
    edges as MATLAB's does); differentiable with respect to a tensor x. The weights are computed
    in float64 (MATLAB's double) and applied in x's dtype (at least float32)."""
    if isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(
                f"x must be a float array, got dtype {x.dtype} (uint8? use srlab.io.to_tensor)"
            )
        if x.ndim != 3:
            raise ValueError(f"a numpy x must be an HWC image (h, w, c), got shape {x.shape}")
        out = imresize(
            torch.from_numpy(np.ascontiguousarray(x)).movedim(-1, -3), scale, antialiasing
        )
        return np.ascontiguousarray(out.movedim(-3, -1).numpy())  # (c, h', w') -> (h', w', c)

    check_tensor(x, "x")
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a float tensor, got dtype {x.dtype} (uint8 image? use srlab.io.to_tensor)"
        )
    if x.dim() < 3 or x.numel() == 0:
        raise ValueError(f"x must be a non-empty (..., c, h, w) tensor, got shape {tuple(x.shape)}")
    if x.shape[-1] in (1, 3, 4) and x.shape[-3] > 4 and x.shape[-2] > 4:
        raise ValueError(
            f"x of shape {tuple(x.shape)} looks like HWC (..., h, w, c): imresize resizes the last "
            "two dims, (..., c, h, w); convert with srlab.io.to_tensor or x.movedim(-1, -3)"
        )
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not 0 < scale < math.inf:
        raise ValueError(f"scale must be a positive finite number, got {scale!r}")
    check_finite(x, "x")

    h, w = x.shape[-2:]
    out_h, out_w = math.ceil(h * scale), math.ceil(w * scale)  # MATLAB's output size
    lead = x.numel() // (h * w)
    if max(lead * out_h * out_w, out_h * h, out_w * w) > MAX_RESIZE_ELEMENTS:
        raise ValueError(
            f"scale={scale!r} would resize x of shape {tuple(x.shape)} to {out_h}x{out_w} "
            f"({lead * out_h * out_w:,} values), more than MAX_RESIZE_ELEMENTS = "
            f"{MAX_RESIZE_ELEMENTS:,}: a scale meant as 1/{scale:g}?"
        )
    dtype = torch.promote_types(x.dtype, torch.float32)
    rows = _resize_matrix(h, out_h, scale, antialiasing).to(x.device, dtype)  # (out_h, h)
    cols = _resize_matrix(w, out_w, scale, antialiasing).to(x.device, dtype)  # (out_w, w)
    # Separable: resize along h, then along w; each is one matmul with a banded matrix.
    out = rows @ x.to(dtype) @ cols.T  # (..., c, h, w) -> (..., c, out_h, out_w)
    return out.to(x.dtype)


# --- BI and BD degradations --------------------------------------------------------------------


def _check_hr(hr: Tensor, scale: int) -> None:
    check_tensor(hr, "hr")
    if hr.dim() < 3 or hr.shape[-3] != 3:
        raise ValueError(
            f"hr must be RGB (..., 3, h, w): an image, batch or video; got shape {tuple(hr.shape)}"
        )
    check_float01(hr, "hr")
    check_scale(scale)
    h, w = hr.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(
            f"hr height and width must be divisible by scale={scale}, got {h}x{w}; "
            f"crop first with srlab.io.mod_crop(hr, {scale})"
        )


def _finish(lr: Tensor, quantize: bool) -> Tensor:
    """Real LR inputs are 8-bit files: round to 256 levels (which also clamps to [0, 1]). Without
    quantisation, still clamp: bicubic overshoot at an edge would leave the library's range."""
    return quantize_8bit(lr) if quantize else lr.clamp(0, 1)


def bi_degrade(hr: Tensor, scale: int, *, quantize: bool = True) -> Tensor:
    """BI: MATLAB bicubic downsampling by 1/scale. hr: (..., 3, H, W) in [0, 1] with H, W divisible
    by scale. Returns (..., 3, H/scale, W/scale) in [0, 1], on 256 levels if quantize."""
    _check_hr(hr, scale)
    return _finish(imresize(hr, 1 / scale), quantize)


def bd_kernel(scale: int, *, sigma: float = 1.6, variant: str = "basicvsr") -> Tensor:
    """The BD blur, MATLAB's `fspecial('gaussian', size, sigma)`, normalised to sum 1: (size, size)
    float64. BasicVSR (and RCAN at even scales): size ceil(3 sigma) * 2 + 2, even (12 at 1.6), so
    its centre falls between pixels (taps at -5.5 ... 5.5). RCAN at odd scales: size
    ceil(3 sigma) * 2 + 1, but 7 for x3 at sigma 1.6 (RCAN's Prepare_TestData_HR_LR.m,
    function imresize_BD)."""
    if variant not in BD_VARIANTS:
        raise ValueError(f"variant must be one of {BD_VARIANTS}, got {variant!r}")
    check_scale(scale)
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0 < sigma < math.inf:
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if scale % 2 == 0:
        size = math.ceil(3 * sigma) * 2 + 2
    elif variant == "rcan":
        size = 7 if (scale, sigma) == (3, 1.6) else math.ceil(3 * sigma) * 2 + 1
    else:
        # MATLAB's scale/2:scale:end-scale/2 is not an index range for odd scales.
        raise ValueError(
            f"the BasicVSR BD recipe is for even scales; for x{scale} use variant='rcan'"
        )
    coord = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coord**2) / (2 * sigma**2))
    kernel = g[:, None] * g[None, :]  # isotropic Gaussian = outer product of two 1-D ones
    # fspecial drops taps below eps * max (only reached for a tiny sigma), then normalises.
    kernel = torch.where(kernel < torch.finfo(torch.float64).eps * kernel.max(), 0.0, kernel)
    return kernel / kernel.sum()


def bd_degrade(
    hr: Tensor, scale: int, *, sigma: float = 1.6, variant: str = "basicvsr", quantize: bool = True
) -> Tensor:
    """BD: Gaussian blur (MATLAB `imfilter(hr, bd_kernel(...), 'replicate')`), then keep one pixel
    per scale x scale block. hr: (..., 3, H, W) in [0, 1], H, W divisible by scale.
    Returns (..., 3, H/scale, W/scale) in [0, 1], on 256 levels if quantize.

    variant "basicvsr" (BasicVSR's BDx4 script; even scales): 12x12 kernel, rows and columns
    `scale/2:scale:end-scale/2` (1-based), i.e. 0-based offset scale/2 - 1. variant "rcan" (RCAN's
    imresize_BD): the same at even scales; at x3 a 7x7 kernel and `imresize(., 1/3, 'nearest')`,
    whose sample for output k (1-based) is input 3k - 1 (centre 3k + 0.5(1 - 3) = 3k - 1), i.e. the
    centre of each 3x3 block, 0-based offset 1."""
    _check_hr(hr, scale)
    kernel = bd_kernel(scale, sigma=sigma, variant=variant).to(hr)
    size = kernel.shape[0]
    offset = scale // 2 - 1 if scale % 2 == 0 else scale // 2
    # imfilter is a correlation anchored at floor((size + 1) / 2), 1-based: 0-based (size - 1) // 2,
    # i.e. tap 5 of 12, so 5 replicated pixels before and 6 after. MMagic's BD script (bd_downsample
    # in tools/dataset_converters/vimeo90k/preprocess_vimeo90k_dataset.py) passes this anchor to
    # cv2.filter2D explicitly: its default, size // 2 = 6, would shift the LR image by an HR pixel.
    before = (size - 1) // 2
    after = size - 1 - before
    # The even kernel's centre sits half a pixel after the anchor, and the offset half a pixel
    # before each block's centre: together each LR pixel is centred on its HR block (tested).
    lead, (h, w) = hr.shape[:-2], hr.shape[-2:]
    x = hr.reshape(-1, 1, h, w)  # (..., 3, H, W) -> (n, 1, H, W): one depthwise filter for all
    x = F.pad(x, (before, after, before, after), mode="replicate")
    x = x[..., offset:, offset:]
    # Blurring every pixel and keeping every scale-th is a strided correlation started at offset;
    # computing only the kept pixels is scale**2 times cheaper.
    lr = F.conv2d(x, kernel[None, None], stride=scale)  # (n, 1, H/scale, W/scale)
    return _finish(lr.reshape(*lead, h // scale, w // scale), quantize)


DEGRADATIONS = ("BI", "BD")


def check_degradation(kind: object, name: str = "degradation") -> str:
    """The canonical name of a benchmark degradation, "BI" or "BD" (any case accepted)."""
    canonical = kind.upper() if isinstance(kind, str) else kind
    if canonical not in DEGRADATIONS:
        raise ValueError(f"{name} must be 'BI' or 'BD', got {kind!r}")
    return canonical


def degrade(hr: Tensor, scale: int, kind: str = "BI", *, quantize: bool = True) -> Tensor:
    """The benchmark degradation by name: kind "BI" (bicubic) or "BD" (blur-downsample), any case.
    BD uses RCAN's recipe, which is BasicVSR's at even scales and also defines x3."""
    if check_degradation(kind, "kind") == "BI":
        return bi_degrade(hr, scale, quantize=quantize)
    return bd_degrade(hr, scale, variant="rcan", quantize=quantize)


# --- Other degradations ------------------------------------------------------------------------


def add_gaussian_noise(
    x: Tensor, sigma: float, *, generator: torch.Generator | None = None
) -> Tensor:
    """x + N(0, sigma^2) per pixel, clamped to [0, 1]. sigma is in [0, 1] units (25/255 for the
    DN benchmarks' sigma 25). x: (..., c, h, w) in [0, 1]; same shape and dtype out."""
    check_float01(x, "x")
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not 0 <= sigma <= 1:
        raise ValueError(f"sigma must be a number in [0, 1] (not 0-255 units), got {sigma!r}")
    noise = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (x + sigma * noise).clamp(0, 1)


def jpeg_compress(x: Tensor, quality: int) -> Tensor:
    """A JPEG round trip through PIL at `quality` (1-100, PIL's default 4:2:0 chroma subsampling),
    one image at a time. x: (..., 3, h, w) in [0, 1]; same shape and dtype out, on 256 levels.
    Not differentiable (it goes through uint8 files)."""
    check_tensor(x, "x")
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ValueError(f"x must be RGB (..., 3, h, w), got shape {tuple(x.shape)}")
    check_float01(x, "x")
    check_int(quality, "quality", low=1, high=100)
    images = to_uint8(x.reshape(-1, *x.shape[-3:]))  # (n, h, w, 3) uint8
    decoded = []
    for img in images:
        buffer = _bytes_io.BytesIO()
        Image.fromarray(img).save(buffer, format="JPEG", quality=quality)
        with Image.open(buffer) as jpeg:
            decoded.append(np.asarray(jpeg.convert("RGB")))
    out = to_tensor(np.stack(decoded))  # (n, 3, h, w) float32
    # Re-quantise after the cast, so a float64 result holds the 256 levels exactly.
    return quantize_8bit(out.reshape(x.shape).to(dtype=x.dtype, device=x.device))


# --- DUF's downsampling ------------------------------------------------------------------------

DUF_KERNEL_SIZE = 13


def duf_kernel(scale: int) -> Tensor:
    """DUF's blur: a Gaussian of sigma 0.4 * scale on a 13x13 grid, (13, 13) float64, sum 1. The
    official code (and BasicSR's generate_gaussian_kernel) makes it with scipy's gaussian_filter
    of a centred impulse: 1-D Gaussians cut at 4 sigma (radius int(4 sigma + 0.5): 3, 5, 6 taps
    for x2, x3, x4), each normalised, multiplied; zero beyond the radius."""
    check_scale(scale, (2, 3, 4))
    sigma = 0.4 * scale
    radius = int(4 * sigma + 0.5)
    coord = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * coord**2 / sigma**2)
    g = F.pad(g / g.sum(), (DUF_KERNEL_SIZE // 2 - radius,) * 2)  # (13,)
    return g[:, None] * g[None, :]


def duf_degrade(hr: Tensor, scale: int, *, quantize: bool = False) -> Tensor:
    """The DUF test data's degradation (Jo et al., CVPR 2018; BasicSR's duf_downsample, used with
    `use_duf_downsampling: true` for the official DUF checkpoints): blur with duf_kernel(scale),
    reflecting the border, and keep every scale-th pixel. hr: (..., 3, H, W) in [0, 1], H and W
    divisible by scale and more than 6. Returns (..., 3, H/scale, W/scale).

    quantize defaults to False, unlike BI and BD: DUF's LR frames are made on the fly in float
    from the 8-bit HR frames and never written to a file."""
    check_scale(scale, (2, 3, 4))
    _check_hr(hr, scale)
    lead, (h, w) = hr.shape[:-2], hr.shape[-2:]
    # Output pixel k is the blur centred on HR pixel k * scale (BasicSR pads 6 + 2 * scale and
    # then drops 2 outputs per side: the same samples as this pad of 6).
    pad = DUF_KERNEL_SIZE // 2
    if min(h, w) <= pad:
        raise ValueError(f"hr must be larger than {pad} pixels per side, got {h}x{w}")
    x = hr.reshape(-1, 1, h, w)  # one depthwise filter for every channel and frame
    x = F.pad(x, (pad,) * 4, mode="reflect")
    lr = F.conv2d(x, duf_kernel(scale).to(x)[None, None], stride=scale)  # (n, 1, H/s, W/s)
    return _finish(lr.reshape(*lead, h // scale, w // scale), quantize)
