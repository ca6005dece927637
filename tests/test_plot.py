"""srlab.plot: figures build, crops line up across resolutions, and save writes a PNG."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from srlab.plot import compare, crop_on_hr_grid, error_map, save


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == []  # returned figures are closed in pyplot: no double display


def images(scale=4, h=8, w=12):
    g = torch.Generator().manual_seed(0)
    lr = torch.rand(3, h, w, generator=g)
    hr = torch.rand(3, h * scale, w * scale, generator=g)
    return {"LR": lr, "SR": (hr + 0.05).clamp(0, 1), "HR": hr}


def test_crop_on_hr_grid_enlarges_lr_by_nearest():
    lr = torch.arange(12.0).view(1, 3, 4).expand(3, 3, 4) / 12
    out = crop_on_hr_grid(lr, 2, (1, 3, 3, 4))  # HR rows 1-3, cols 3-6
    assert out.shape == (3, 3, 4)
    # HR pixel (r, c) shows LR pixel (r // 2, c // 2).
    expected = torch.tensor([[lr[0, r // 2, c // 2] for c in range(3, 7)] for r in range(1, 4)])
    torch.testing.assert_close(out[0], expected)
    hr = torch.rand(3, 10, 10)
    torch.testing.assert_close(crop_on_hr_grid(hr, 1, (2, 3, 4, 5)), hr[:, 2:6, 3:8])


def test_compare_draws_every_image_and_the_same_crop():
    fig = compare(images(), crop=(5, 7, 10, 14))
    axes = fig.axes
    assert len(axes) == 6  # 3 full images, 3 crops
    for ax in axes[3:]:
        assert ax.images[0].get_array().shape == (10, 14, 3)
    assert compare(images()).axes.__len__() == 3


def test_compare_titles_psnr_against_reference():
    fig = compare(images(), reference="HR", crop_border=4, y_channel=True)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "LR" and "dB" in titles[1] and "border 4" in titles[2]
    with pytest.raises(ValueError, match="state the PSNR protocol"):
        compare(images(), reference="HR")


def test_compare_rejects_bad_sizes_and_crops():
    bad = images()
    bad["LR"] = torch.rand(3, 7, 12)
    with pytest.raises(ValueError, match="divided by an integer"):
        compare(bad)
    with pytest.raises(ValueError, match="must lie inside"):
        compare(images(), crop=(30, 0, 8, 8))


def test_error_map_has_colourbar_and_8bit_units():
    hr = torch.full((3, 6, 9), 0.5)
    sr = hr + 10 / 255
    fig = error_map(sr, hr)
    assert len(fig.axes) == 2  # the map and its colour bar
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(shown), 10.0, atol=1e-4)
    with pytest.raises(ValueError, match="same shape"):
        error_map(sr[:, :5], hr)


def test_save_writes_png_atomically(tmp_path):
    fig = compare(images(), crop=(0, 0, 8, 8))
    path = save(fig, tmp_path / "figures" / "compare")
    assert path.name == "compare.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.size[0] > 100
    assert [p.name for p in path.parent.iterdir()] == ["compare.png"]  # no temporary left
