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
    monkeypatch.setattr(explorer, "_draw", lambda r, d: draws.append(d) or draw(r, d))
    box = explorer.explore({"tiny": NearestSR()}, images=hr_images(), presets=False)
    assert runs == [("BI", "tiny")] and draws == [0.5]
    widget_by_description(box, "bicubic | SR").value = 0.8
    assert len(runs) == 1 and draws[-1] == 0.8  # moving the divider only redraws
    widget_by_description(box, "degradation").value = "BD"
    widget_by_description(box, "image").value = "b"
    assert runs[1:] == [("BD", "tiny"), ("BD", "tiny")]


def test_explore_offers_image_presets_filtered_by_scale():
    box = explorer.explore({"tiny": NearestSR()}, images={"b": hr_images()["b"]})
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
