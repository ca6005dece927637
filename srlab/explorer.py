"""An interactive explorer for JupyterLab: choose an image, a model, a scale and a degradation, and
move a divider between the bicubic baseline (left of it) and the model's output (right of it).

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
from srlab.metrics import psnr


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
) -> Figure:
    """The explorer's view as a static figure: LR | bicubic-left-of-divider, SR-right | HR.

    model: an image SR model with a `scale` attribute. hr: the ground truth, (3, H, W) in [0, 1]
    or a uint8 (H, W, 3) array; it is cropped to a multiple of the scale, degraded ("BI" or "BD",
    srlab.degradations.degrade) into the LR input, and upscaled by bicubic (MATLAB imresize) and
    by the model (srlab.infer.upscale, with `tile` if given). divider: where, as a fraction of
    the width, bicubic gives way to SR. Titles give PSNR on Y with a border of `scale` pixels."""
    return _draw(_run(model, hr, degradation, name, tile), divider)


def explore(
    models: nn.Module | dict[str, nn.Module] | None = None,
    *,
    images: dict[str, np.ndarray | Tensor] | None = None,
    presets: bool = True,
    static: bool = False,
    tile: int | None = None,
):
    """A widget (ipywidgets.VBox) to explore SR results; with static=True, a Figure instead.

    models: your trained model(s), by name (a single model is called "model"); each needs a
        `scale` attribute. Load trained weights with srlab.checkpoints.load_model.
    images: name -> HR image, uint8 (H, W, 3) or (3, H, W) in [0, 1]; default: the bundled test
        images (srlab.data.bundled_images("test")).
    presets: also offer every image SR preset of srlab.archs. They are built on first use with
        random weights (seed 0), so their outputs show the architecture, not a trained model.
    static: draw the first image with the first model as a static figure (static_figure) and
        return it, for notebooks run without a frontend. Notebooks pass it explicitly: there is
        no reliable way to detect a headless run.

    The scale menu filters the model menu; the SR output is computed once per (image, model,
    degradation) and cached, so moving the divider only redraws."""
    factories = _model_factories(models, presets)
    if not factories:
        raise ValueError("no models to explore: pass models=... or presets=True")
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
    output = widgets.Output()
    results: dict[tuple[str, str, str], _Result] = {}

    def redraw(_change=None) -> None:
        key = (image_menu.value, model_menu.value, degradation_menu.value)
        with output:  # an exception here is shown in the output widget, not lost in a log
            output.clear_output(wait=True)
            if key not in results:
                model = get_model(model_menu.value)
                results[key] = _run(model, hr_images[key[0]], key[2], key[1], tile)
            display(_draw(results[key], divider.value))

    def on_scale(change) -> None:
        model_menu.options = labels_for(change["new"])  # selects the first: triggers a redraw

    scale_menu.observe(on_scale, names="value")
    for widget in (image_menu, model_menu, degradation_menu, divider):
        widget.observe(redraw, names="value")
    redraw()
    return widgets.VBox(
        [
            widgets.HBox([image_menu, scale_menu, model_menu]),
            widgets.HBox([degradation_menu, divider]),
            output,
        ]
    )


def _model_factories(
    models: nn.Module | dict[str, nn.Module] | None, presets: bool
) -> dict[str, tuple[int, Callable[[], nn.Module]]]:
    """label -> (scale, a function that returns the model), user models first."""
    if isinstance(models, nn.Module):
        models = {"model": models}
    factories: dict[str, tuple[int, Callable[[], nn.Module]]] = {}
    for label, model in (models or {}).items():
        scale = getattr(model, "scale", None)
        if not isinstance(scale, int):
            raise ValueError(f"models[{label!r}] needs an integer `scale` attribute")
        factories[label] = (scale, lambda model=model: model)
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


def _draw(result: _Result, divider: float) -> Figure:
    lr, bicubic, sr, hr, scale, degradation, name = result
    h, w = hr.shape[-2:]
    column = round(min(max(divider, 0.0), 1.0) * w)
    composite = torch.cat([bicubic[..., :column], sr[..., column:]], dim=-1)  # (3, H, W)
    score = {
        label: psnr(img, hr, crop_border=scale, y_channel=True).item()
        for label, img in (("bicubic", bicubic), (name, sr))
    }
    fig, axes = plt.subplots(1, 3, figsize=(12.0, 4.0 * h / w + 0.6))
    hr_grid = (-0.5, w - 0.5, h - 0.5, -0.5)  # the LR is drawn on the HR grid, pixels as blocks
    axes[0].imshow(to_uint8(lr), extent=hr_grid, interpolation="nearest")
    axes[0].set_title(f"LR (x{scale} {degradation})", fontsize=9)
    axes[1].imshow(to_uint8(composite), interpolation="nearest")
    axes[1].axvline(column - 0.5, color="white", lw=1.5)
    axes[1].set_title(
        " | ".join(f"{label} {value:.2f} dB" for label, value in score.items())
        + f"\n(PSNR on Y, border {scale})",
        fontsize=9,
    )
    axes[2].imshow(to_uint8(hr), interpolation="nearest")
    axes[2].set_title("HR", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.tight_layout()
    plt.close(fig)  # shown once, by whoever displays the return value (see srlab.plot)
    return fig
