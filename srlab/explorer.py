"""An interactive explorer for JupyterLab: choose an image, a model, a scale and a degradation, and
move a divider between the bicubic baseline (left of it) and the model's output (right of it).
Zoom into a region, as SR papers compare zoomed crops: PSNR and SSIM are those of the region shown.
The models offered are yours, the models srlab ships trained (srlab.archs.pretrained) and, with
random weights, every image SR preset.

ipywidgets is an optional dependency (the `notebooks` extra); explore() imports it when called.
A notebook executed headlessly (papermill, CI) has no frontend to draw widgets, so it passes
static=True and gets the same comparison as a plain matplotlib figure (see static_figure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from srlab import archs, data
from srlab.checks import check_image
from srlab.degradations import degrade, imresize
from srlab.infer import upscale
from srlab.io import mod_crop, to_tensor, to_uint8
from srlab.metrics import psnr, ssim

ZOOMS = (1, 2, 4, 8)


class _Result(NamedTuple):
    """One run: all (3, H, W) on the HR grid except lr (3, H/s, W/s)."""

    lr: Tensor
    bicubic: Tensor
    sr: Tensor
    hr: Tensor
    scale: int
    degradation: str
    name: str


def static_figure(
    model: nn.Module,
    hr: Tensor | np.ndarray,
    *,
    degradation: str = "BI",
    divider: float = 0.5,
    name: str = "SR",
    tile: int | None = None,
    zoom: int = 1,
    center: tuple[float, float] = (0.5, 0.5),
) -> Figure:
    """The explorer's view as a static figure: LR | bicubic-left-of-divider, SR-right | HR.

    model: an image SR model with a `scale` attribute. hr: the ground truth, (3, H, W) in [0, 1]
    or a uint8 (H, W, 3) array; it is cropped to a multiple of the scale, degraded ("BI" or "BD",
    srlab.degradations.degrade) into the LR input, and upscaled by bicubic (MATLAB imresize) and
    by the model (srlab.infer.upscale, with `tile` if given). divider: where, as a fraction of
    the view's width, bicubic gives way to SR. zoom (one of ZOOMS): show 1/zoom of the height and
    width, around center = (y, x) as fractions of the image. Titles give PSNR and SSIM on Y of the
    region shown, without the `scale` border pixels of the image (at zoom 1: the SR tables'
    numbers)."""
    return _draw(_run(model, hr, degradation, name, tile), divider, zoom, center)


def explore(
    models: nn.Module | dict[str, nn.Module] | None = None,
    *,
    images: dict[str, np.ndarray | Tensor] | None = None,
    presets: bool = True,
    pretrained: bool = True,
    static: bool = False,
    tile: int | None = None,
):
    """A widget (ipywidgets.VBox) to explore SR results; with static=True, a Figure instead.

    models: your trained model(s), by name (a single model is called "model"); each needs a
        `scale` attribute. Load trained weights with srlab.checkpoints.load_model.
    images: name -> HR image, uint8 (H, W, 3) or (3, H, W) in [0, 1]; default: the bundled test
        images (srlab.data.bundled_images("test")).
    pretrained: also offer the image SR models srlab ships trained (srlab.archs.pretrained).
    presets: also offer every image SR preset of srlab.archs. They are built on first use with
        random weights (seed 0), so their outputs show the architecture, not a trained model.
    static: draw the first image with the first model as a static figure (static_figure) and
        return it, for notebooks run without a frontend. Notebooks pass it explicitly: there is
        no reliable way to detect a headless run.

    The scale menu filters the model menu; the SR output is computed once per (image, model,
    degradation) and cached, so moving the divider or the zoomed view only redraws."""
    factories = _model_factories(models, pretrained, presets)
    if not factories:
        raise ValueError("no models to explore: pass models=..., pretrained=True or presets=True")
    hr_images = {
        name: to_tensor(img) if isinstance(img, np.ndarray) else check_image(img, f"images[{name}]")
        for name, img in (images if images is not None else data.bundled_images("test")).items()
    }
    if not hr_images:
        raise ValueError("images is empty")
    built: dict[str, nn.Module] = {}

    def get_model(label: str) -> nn.Module:
        if label not in built:
            built[label] = factories[label][1]()
        return built[label]

    first_label = next(iter(factories))
    first_image = next(iter(hr_images))
    if static:
        return static_figure(
            get_model(first_label), hr_images[first_image], name=first_label, tile=tile
        )

    try:
        import ipywidgets as widgets
        from IPython.display import display
    except ImportError as error:
        raise ImportError(
            "explore() needs ipywidgets: pip install 'srlab[notebooks]' (or pass static=True)"
        ) from error

    def labels_for(scale: int) -> list[str]:
        return [label for label, (s, _) in factories.items() if s == scale]

    first_scale = factories[first_label][0]
    image_menu = widgets.Dropdown(options=list(hr_images), value=first_image, description="image")
    scale_menu = widgets.Dropdown(
        options=sorted({s for s, _ in factories.values()}), value=first_scale, description="scale"
    )
    model_menu = widgets.Dropdown(
        options=labels_for(first_scale), value=first_label, description="model"
    )
    degradation_menu = widgets.ToggleButtons(options=["BI", "BD"], description="degradation")
    # Redraw on release, not on every pixel of the drag: a matplotlib redraw takes ~0.1 s.
    divider = widgets.FloatSlider(
        value=0.5,
        min=0.0,
        max=1.0,
        step=0.01,
        description="bicubic | SR",
        continuous_update=False,
        readout_format=".2f",
    )
    zoom = widgets.ToggleButtons(
        options=list(ZOOMS), description="zoom", style={"button_width": "3em"}
    )
    center = {
        axis: widgets.FloatSlider(
            value=0.5,
            min=0.0,
            max=1.0,
            step=0.01,
            description=f"view {axis}",
            continuous_update=False,
            readout_format=".2f",
        )
        for axis in ("y", "x")
    }
    output = widgets.Output()
    results: dict[tuple[str, str, str], _Result] = {}

    def redraw(_change=None) -> None:
        key = (image_menu.value, model_menu.value, degradation_menu.value)
        with output:  # an exception here is shown in the output widget, not lost in a log
            output.clear_output(wait=True)
            if key not in results:
                model = get_model(model_menu.value)
                results[key] = _run(model, hr_images[key[0]], key[2], key[1], tile)
            view = (center["y"].value, center["x"].value)
            display(_draw(results[key], divider.value, zoom.value, view))

    def on_scale(change) -> None:
        model_menu.options = labels_for(change["new"])  # selects the first: triggers a redraw

    scale_menu.observe(on_scale, names="value")
    for widget in (image_menu, model_menu, degradation_menu, divider, zoom, *center.values()):
        widget.observe(redraw, names="value")
    redraw()
    return widgets.VBox(
        [
            widgets.HBox([image_menu, scale_menu, model_menu]),
            widgets.HBox([degradation_menu, divider]),
            widgets.HBox([zoom, center["y"], center["x"]]),
            output,
        ]
    )


def _model_factories(
    models: nn.Module | dict[str, nn.Module] | None, pretrained: bool, presets: bool
) -> dict[str, tuple[int, Callable[[], nn.Module]]]:
    """label -> (scale, a function that returns the model): user models, then the shipped trained
    ones, then the presets with random weights."""
    if isinstance(models, nn.Module):
        models = {"model": models}
    factories: dict[str, tuple[int, Callable[[], nn.Module]]] = {}
    for label, model in (models or {}).items():
        scale = getattr(model, "scale", None)
        if not isinstance(scale, int):
            raise ValueError(f"models[{label!r}] needs an integer `scale` attribute")
        factories[label] = (scale, lambda model=model: model)
    if pretrained:
        for name in archs.pretrained_names():
            model = archs.pretrained(name)  # a few hundred kB each: loaded now, for its scale
            if isinstance(getattr(model, "scale", None), int):  # image SR, not video
                factory = (model.scale, lambda model=model: model)
                factories.setdefault(f"{name} (trained here)", factory)  # unless passed in models
    if presets:
        for preset, scale in archs.IMAGE_SR_PRESETS.items():
            factories[f"{preset} (random weights)"] = (scale, lambda p=preset: _build(p))
    return factories


def _build(preset: str) -> nn.Module:
    with torch.random.fork_rng():  # reproducible weights without touching the caller's RNG
        torch.manual_seed(0)
        return archs.build(preset).eval()


def _run(
    model: nn.Module, hr: Tensor | np.ndarray, degradation: str, name: str, tile: int | None
) -> _Result:
    scale = getattr(model, "scale", None)
    if not isinstance(scale, int):
        raise ValueError("model needs an integer `scale` attribute (its upscaling factor)")
    hr = to_tensor(hr) if isinstance(hr, np.ndarray) else check_image(hr, "hr")
    if hr.dim() != 3:
        raise ValueError(f"hr must be one image (3, H, W), got {tuple(hr.shape)}")
    hr = mod_crop(hr, scale)  # (3, H, W), H and W multiples of the scale
    lr = degrade(hr, scale, degradation)  # (3, H/s, W/s)
    bicubic = imresize(lr, scale).clamp(0, 1)  # (3, H, W)
    sr = upscale(model, lr, tile=tile)  # (3, H, W)
    return _Result(lr, bicubic, sr, hr, scale, degradation.upper(), name)


def view_box(
    h: int, w: int, scale: int, zoom: int, center: tuple[float, float]
) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the region a zoomed view shows, on the HR grid: 1/zoom of the
    image's height and width around center = (y, x) (fractions), kept inside the image, every
    side a multiple of the scale so that the LR pixels it covers are whole."""
    if zoom not in ZOOMS:
        raise ValueError(f"zoom must be one of {ZOOMS}, got {zoom!r}")
    box = []
    for size, c in ((h, center[0]), (w, center[1])):
        side = max(scale, size // zoom // scale * scale)
        start = round(min(max(c, 0.0), 1.0) * size - side / 2) // scale * scale
        box.append((min(max(start, 0), size - side), side))
    (top, height), (left, width) = box
    return top, left, height, width


def _draw(
    result: _Result, divider: float, zoom: int = 1, center: tuple[float, float] = (0.5, 0.5)
) -> Figure:
    lr, bicubic, sr, hr, scale, degradation, name = result
    top, left, h, w = view_box(*hr.shape[-2:], scale, zoom, center)
    rows, cols = slice(top, top + h), slice(left, left + w)
    bicubic, sr, hr_view = bicubic[:, rows, cols], sr[:, rows, cols], hr[:, rows, cols]
    lr = lr[:, top // scale : (top + h) // scale, left // scale : (left + w) // scale]
    column = round(min(max(divider, 0.0), 1.0) * w)
    composite = torch.cat([bicubic[..., :column], sr[..., column:]], dim=-1)  # (3, h, w)
    # Scores of the region shown, without the image's border pixels (the SR tables' crop).
    H, W = hr.shape[-2:]
    inner = (
        slice(max(top, scale) - top, min(top + h, H - scale) - top),
        slice(max(left, scale) - left, min(left + w, W - scale) - left),
    )
    score = {}
    for label, img in (("bicubic", bicubic), (name, sr)):
        a, b = img[:, inner[0], inner[1]], hr_view[:, inner[0], inner[1]]
        if min(a.shape[-2:]) < 11:  # SSIM's window does not fit: no score for this view
            score[label] = "region too small to score"
            continue
        p = psnr(a, b, crop_border=0, y_channel=True).item()
        s = ssim(a, b, crop_border=0, y_channel=True).item()
        score[label] = f"{p:.2f} dB {s:.4f}"
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.0 * h / w + 0.6))
    hr_grid = (-0.5, w - 0.5, h - 0.5, -0.5)  # the LR is drawn on the HR grid, pixels as blocks
    axes[0].imshow(to_uint8(lr), extent=hr_grid, interpolation="nearest")
    where = "" if zoom == 1 else f", zoom x{zoom} at ({top}, {left})"
    axes[0].set_title(f"LR (x{scale} {degradation}{where})", fontsize=9)
    axes[1].imshow(to_uint8(composite), interpolation="nearest")
    axes[1].axvline(column - 0.5, color="white", lw=1.5)
    axes[1].set_title(
        " | ".join(f"{label} {value}" for label, value in score.items())
        + f"\n(PSNR, SSIM on Y of this view, image border {scale} excluded)",
        fontsize=9,
    )
    axes[2].imshow(to_uint8(hr_view), interpolation="nearest")
    axes[2].set_title("HR", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)  # shown once, by whoever displays the return value (see srlab.plot)
    return fig
