"""srlab.explorer: the static figure, and the widget built and driven without a frontend."""

import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from srlab import explorer
from srlab.io import to_uint8


class NearestSR(nn.Module):
    """Nearest-neighbour x2 plus a small learned-free tweak: a cheap stand-in for an SR model."""

    scale = 2

    def forward(self, x):
        return (F.interpolate(x, scale_factor=2, mode="nearest") * 0.9 + 0.05).clamp(0, 1)


def hr_images():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.rand(3, 21, 26, generator=g), "b": torch.rand(3, 16, 16, generator=g)}


def test_static_figure_shows_bicubic_left_and_sr_right_of_the_divider():
    model, hr = NearestSR(), hr_images()["a"]
    fig = explorer.static_figure(model, hr, divider=0.25)
    assert len(fig.axes) == 3
    shown = np.asarray(fig.axes[1].images[0].get_array())  # (20, 26, 3): cropped to x2
    result = explorer._run(model, hr, "BI", "SR", None)
    assert shown.shape == (20, 26, 3)
    column = round(0.25 * 26)
    np.testing.assert_array_equal(shown[:, :column], to_uint8(result.bicubic)[:, :column])
    np.testing.assert_array_equal(shown[:, column:], to_uint8(result.sr)[:, column:])
    assert "dB" in fig.axes[1].get_title()


def test_explore_static_returns_a_figure():
    fig = explorer.explore({"tiny": NearestSR()}, images=hr_images(), presets=False, static=True)
    assert len(fig.axes) == 3


def widget_by_description(box, description):
    for child in box.children:
        if getattr(child, "description", None) == description:
            return child
        if hasattr(child, "children"):
            found = widget_by_description(child, description)
            if found is not None:
                return found
    return None


def test_explore_builds_widgets_and_caches_runs(monkeypatch):
    runs, draws = [], []
    run, draw = explorer._run, explorer._draw
    monkeypatch.setattr(explorer, "_run", lambda *a: runs.append(a[2:4]) or run(*a))
    monkeypatch.setattr(explorer, "_draw", lambda *a: draws.append(a[1:]) or draw(*a))
    box = explorer.explore({"tiny": NearestSR()}, images=hr_images(), presets=False)
    assert runs == [("BI", "tiny")] and draws == [(0.5, 1, (0.5, 0.5))]
    widget_by_description(box, "bicubic | SR").value = 0.8
    widget_by_description(box, "zoom").value = 4
    widget_by_description(box, "view x").value = 0.2
    assert len(runs) == 1 and draws[-1] == (0.8, 4, (0.5, 0.2))  # moving the view only redraws
    widget_by_description(box, "degradation").value = "BD"
    widget_by_description(box, "image").value = "b"
    assert runs[1:] == [("BD", "tiny"), ("BD", "tiny")]


def test_explore_offers_image_presets_filtered_by_scale():
    box = explorer.explore({"tiny": NearestSR()}, images={"b": hr_images()["b"]}, pretrained=False)
    models = widget_by_description(box, "model")
    assert models.options[0] == "tiny"
    assert all("_x2" in label for label in models.options[1:])
    widget_by_description(box, "scale").value = 4  # builds and runs edsr_baseline_x4 on 16x16
    assert models.value == "edsr_baseline_x4 (random weights)"
    assert "esrgan_x4 (random weights)" in models.options
    labels = " ".join(models.options)
    assert "discriminator" not in labels and "basicvsr" not in labels


def test_explore_without_ipywidgets_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    with pytest.raises(ImportError, match=r"srlab\[notebooks\]"):
        explorer.explore(NearestSR(), images=hr_images(), presets=False)


def test_explore_rejects_a_model_without_scale():
    with pytest.raises(ValueError, match="scale"):
        explorer.explore({"plain": nn.Identity()}, images=hr_images(), presets=False)


def test_view_box_is_inside_the_image_and_on_the_lr_grid():
    assert explorer.view_box(96, 128, 4, 1, (0.5, 0.5)) == (0, 0, 96, 128)
    assert explorer.view_box(96, 128, 4, 4, (0.5, 0.5)) == (36, 48, 24, 32)
    assert explorer.view_box(96, 128, 4, 4, (0.0, 1.0)) == (0, 96, 24, 32)  # kept inside
    for zoom in explorer.ZOOMS:
        for center in ((0.13, 0.77), (0.99, 0.01)):
            top, left, h, w = explorer.view_box(90, 120, 3, zoom, center)
            assert all(v % 3 == 0 for v in (top, left, h, w))
            assert 0 <= top and top + h <= 90 and 0 <= left and left + w <= 120
    with pytest.raises(ValueError, match="zoom"):
        explorer.view_box(96, 128, 4, 3, (0.5, 0.5))


def test_zoomed_view_shows_the_region_and_scores_it():
    """At zoom 1 the scores are the SR tables' (whole image, border cropped); zoomed, they are
    those of the region shown, which the panels crop to."""
    from srlab.metrics import psnr, ssim

    model, hr = NearestSR(), torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(1))
    result = explorer._run(model, hr, "BI", "SR", None)
    whole = psnr(result.sr, result.hr, crop_border=2, y_channel=True).item()
    whole_ssim = ssim(result.sr, result.hr, crop_border=2, y_channel=True).item()
    assert f"SR {whole:.2f} dB {whole_ssim:.4f}" in explorer._draw(result, 0.5).axes[1].get_title()
    fig = explorer._draw(result, 0.5, 2, (0.25, 0.75))
    top, left, h, w = explorer.view_box(64, 64, 2, 2, (0.25, 0.75))
    assert np.asarray(fig.axes[2].images[0].get_array()).shape == (h, w, 3)
    region = (slice(None), slice(max(top, 2), top + h), slice(left, min(left + w, 62)))
    zoomed = psnr(result.sr[region], result.hr[region], crop_border=0, y_channel=True).item()
    assert f"SR {zoomed:.2f} dB" in fig.axes[1].get_title() and zoomed != pytest.approx(whole)


def test_explore_offers_the_shipped_trained_models_first():
    from srlab import archs

    box = explorer.explore(images={"b": hr_images()["b"]}, presets=False)
    models = widget_by_description(box, "model")
    image_models = [n for n in archs.pretrained_names() if not n.startswith("basicvsr")]
    assert image_models, "srlab ships trained image models"
    scale = widget_by_description(box, "scale")
    offered = []
    for s in scale.options:
        scale.value = s
        offered += [label.removesuffix(" (trained here)") for label in models.options]
    assert sorted(offered) == sorted(image_models)
