"""Figures for SR results: side-by-side comparisons with a zoomed crop, error maps, and saving.

Plain functions that build and return a matplotlib Figure; nothing here calls plt.show. Each
figure is made with pyplot (which sets up a notebook's inline display) and closed in pyplot before
it is returned, so pyplot does not show it again at the end of the cell and open figures do not
pile up: a notebook shows it once, where the cell ends with `fig` or calls display(fig).

Images are (3, h, w) tensors in [0, 1], converted for display with
srlab.io.to_uint8, so what is shown is what an 8-bit file of the output would hold."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from srlab.checks import check_image, check_int, check_same_shape
from srlab.io import atomic_write, to_uint8
from srlab.metrics import psnr


def compare(
    images: dict[str, Tensor],
    *,
    crop: tuple[int, int, int, int] | None = None,
    reference: str | None = None,
    crop_border: int | None = None,
    y_channel: bool | None = None,
    panel_inches: float = 3.0,
) -> Figure:
    """Images side by side (in the dict's order), each with the same zoomed crop below it.

    images: name -> (3, h, w) in [0, 1], e.g. {"LR": lr, "bicubic": up, "EDSR": sr, "HR": hr}.
        The largest image sets the HR grid. A smaller one (the LR input) must divide it by an
        integer factor s; it is drawn on the HR grid, each LR pixel an s x s block (nearest
        neighbour), so the same crop shows the same part of the scene in every panel.
    crop: (y, x, h, w) in HR pixels. The full images get a rectangle around it and a second row
        shows the crop, enlarged without smoothing. None: the full images only.
    reference: the name of the ground truth. Titles then give every other image of the same size
        its PSNR against it, over the whole image, with the protocol stated by `crop_border` and
        `y_channel` (required with a reference; see srlab.metrics.psnr)."""
    if not images:
        raise ValueError("images is empty")
    for name, img in images.items():
        check_image(img, f"images[{name!r}]")
        if img.dim() != 3:
            raise ValueError(
                f"images[{name!r}] must be one image (3, h, w), got {tuple(img.shape)}"
            )
    big_h, big_w = max((img.shape[-2], img.shape[-1]) for img in images.values())
    factors = {name: _factor(name, img, big_h, big_w) for name, img in images.items()}
    titles = _titles(images, reference, crop_border, y_channel)
    if crop is not None:
        _check_crop(crop, big_h, big_w)

    rows = 1 if crop is None else 2
    fig, axes = plt.subplots(
        rows, len(images), figsize=(panel_inches * len(images), panel_inches * rows), squeeze=False
    )
    for col, (name, img) in enumerate(images.items()):
        top = axes[0, col]
        # extent puts a smaller image on the HR grid: the axes' units are HR pixels in every panel.
        top.imshow(
            to_uint8(img), extent=(-0.5, big_w - 0.5, big_h - 0.5, -0.5), interpolation="nearest"
        )
        top.set_title(titles[name], fontsize=9)
        if crop is not None:
            y, x, h, w = crop
            top.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="yellow", lw=1))
            zoomed = crop_on_hr_grid(img, factors[name], crop)  # (3, h, w)
            axes[1, col].imshow(to_uint8(zoomed), interpolation="nearest")
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)  # shown by whoever displays the return value, once
    return fig


def crop_on_hr_grid(img: Tensor, factor: int, crop: tuple[int, int, int, int]) -> Tensor:
    """The crop (y, x, h, w), given in HR pixels, of an image that is `factor` times smaller than
    the HR grid, enlarged by nearest neighbour. img: (3, h', w') -> (3, h, w). factor 1 is a plain
    crop."""
    y, x, h, w = crop
    top, left = y // factor, x // factor
    bottom, right = -(-(y + h) // factor), -(-(x + w) // factor)  # ceil division
    patch = img[:, top:bottom, left:right]
    patch = patch.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
    dy, dx = y - top * factor, x - left * factor
    return patch[:, dy : dy + h, dx : dx + w]


def error_map(sr: Tensor, hr: Tensor, *, vmax: float | None = None, title: str = "") -> Figure:
    """Per-pixel absolute error |sr - hr|, averaged over RGB, in 8-bit levels (0-255), as a heat
    map with a colour bar. sr, hr: (3, h, w) in [0, 1]. vmax fixes the colour scale, so that maps
    of several methods can be compared; by default it is the map's own maximum."""
    check_image(sr, "sr")
    check_image(hr, "hr")
    check_same_shape(sr, hr, "sr", "hr")
    if sr.dim() != 3:
        raise ValueError(f"sr and hr must be one image (3, h, w), got {tuple(sr.shape)}")
    error = (sr.detach().float() - hr.detach().float()).abs().mean(dim=0).cpu() * 255.0  # (h, w)
    h, w = error.shape
    fig, ax = plt.subplots(figsize=(6.0, 6.0 * h / w + 0.5))
    shown = ax.imshow(error.numpy(), cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="|SR - HR|, mean over RGB (8-bit levels)", shrink=0.8)
    ax.set_title(f"{title} mean {error.mean():.2f}, max {error.max():.1f}".strip(), fontsize=9)
    ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)  # shown by whoever displays the return value, once
    return fig


def save(fig: Figure, path: str | os.PathLike, *, dpi: int = 120) -> Path:
    """Save fig atomically (a temporary file, then a rename), as PNG unless path says otherwise.
    The house convention is figures/<notebook>_<what>.png. Returns the path."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(".png")
    fmt = path.suffix.lstrip(".").lower()
    return atomic_write(
        path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    )


def _factor(name: str, img: Tensor, big_h: int, big_w: int) -> int:
    h, w = img.shape[-2:]
    factor = big_h // h
    if factor * h != big_h or factor * w != big_w:
        raise ValueError(
            f"images[{name!r}] is {h}x{w}: it must be the largest size {big_h}x{big_w} divided by "
            "an integer (the LR input) or equal to it"
        )
    return factor


def _check_crop(crop: tuple[int, int, int, int], big_h: int, big_w: int) -> None:
    if len(crop) != 4:
        raise ValueError(f"crop must be four ints (y, x, h, w) in HR pixels, got {crop!r}")
    for axis, v in zip("yxhw", crop, strict=True):
        check_int(v, f"crop's {axis}")
    y, x, h, w = crop
    if y < 0 or x < 0 or h < 1 or w < 1 or y + h > big_h or x + w > big_w:
        raise ValueError(f"crop {crop} (y, x, h, w) must lie inside the {big_h}x{big_w} HR image")


def _titles(
    images: dict[str, Tensor],
    reference: str | None,
    crop_border: int | None,
    y_channel: bool | None,
) -> dict[str, str]:
    titles = {name: name for name in images}
    if reference is None:
        return titles
    if reference not in images:
        raise ValueError(f"reference {reference!r} is not one of the images {list(images)}")
    if crop_border is None or y_channel is None:
        raise ValueError(
            "with a reference, state the PSNR protocol: crop_border=..., y_channel=..."
        )
    ref = images[reference]
    for name, img in images.items():
        if name != reference and img.shape == ref.shape:
            value = psnr(img, ref, crop_border=crop_border, y_channel=y_channel).item()
            titles[name] = f"{name}\n{value:.2f} dB"
    channel = "Y" if y_channel else "RGB"
    titles[reference] = f"{reference}\n(PSNR on {channel}, border {crop_border})"
    return titles
