"""srlab.io: the one place where images change representation, and atomic writes."""

import json
import math

import numpy as np
import pytest
import torch

from srlab import io


def test_uint8_round_trip_is_exact():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(7, 9, 3), dtype=np.uint8)
    x = io.to_tensor(img)
    assert x.shape == (3, 7, 9) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    assert np.array_equal(io.to_uint8(x), img)


def test_batched_round_trip_and_channel_order():
    img = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    img[..., 0] = 255  # pure red
    x = io.to_tensor(img)
    assert x.shape == (2, 3, 4, 5)
    assert torch.all(x[:, 0] == 1) and torch.all(x[:, 1:] == 0)
    assert np.array_equal(io.to_uint8(x), img)


def test_to_uint8_clamps_and_rounds_like_basicsr():
    x = torch.tensor([-0.2, 0.5 / 255, 1.49 / 255, 1.51 / 255, 1.3]).view(1, 1, 5).expand(3, 1, 5)
    out = io.to_uint8(x.contiguous())
    assert out[0, :, 0].tolist() == [0, 0, 1, 2, 255]  # 0.5 rounds half to even, as torch.round


def test_float_array_is_checked():
    assert io.to_tensor(np.full((2, 2, 3), 0.5)).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        io.to_tensor(np.full((2, 2, 3), 3.0))


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4), np.uint8), "RGB"),
        (np.zeros((4, 4, 4), np.uint8), "RGB"),
        (np.zeros((4, 4, 3), np.int32), "dtype"),
    ],
)
def test_to_tensor_errors(bad, match):
    with pytest.raises((ValueError, TypeError), match=match):
        io.to_tensor(bad)


def test_to_uint8_errors():
    with pytest.raises(TypeError):
        io.to_uint8(torch.zeros(3, 2, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN"):
        io.to_uint8(torch.full((3, 2, 2), float("nan")))


def test_quantize_gives_256_levels():
    x = torch.rand(3, 8, 8)
    q = io.quantize(x)
    assert torch.allclose(q * 255, (q * 255).round(), atol=1e-4)
    assert (q - x).abs().max() <= 0.5 / 255 + 1e-7


def test_mod_crop_numpy_and_tensor():
    a = np.zeros((13, 10, 3))
    assert io.mod_crop(a, 4).shape == (12, 8, 3)
    t = torch.zeros(2, 3, 13, 10)
    assert io.mod_crop(t, 3).shape == (2, 3, 12, 9)
    with pytest.raises(TypeError):
        io.mod_crop([1, 2], 2)


def test_imwrite_imread_round_trip(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
    path = io.imwrite(tmp_path / "sub" / "a.png", img)
    assert np.array_equal(io.imread(path), img)
    io.imwrite(tmp_path / "b.png", io.to_tensor(img))
    assert np.array_equal(io.imread(tmp_path / "b.png"), img)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.png", "b.png", "sub"]  # no temp files


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    path = io.write_json(tmp_path / "r.json", {"a": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        io.write_json(path, {"a": Boom()})  # json fails mid-write
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert path.stat().st_mode & 0o777 == 0o644  # readable by others, like any ordinary file


def test_torch_save_loads_with_weights_only(tmp_path):
    path = io.torch_save(tmp_path / "c.pth", {"w": torch.arange(3), "it": 5})
    obj = torch.load(path, weights_only=True)
    assert obj["it"] == 5 and torch.equal(obj["w"], torch.arange(3))


def test_write_json_writes_nan_as_null(tmp_path):
    # A single seed's std is NaN ("undefined"); JSON has no NaN, so it becomes null.
    obj = {"mean": 1.5, "std": math.nan, "rows": [(1.0, np.float64("nan")), {"x": [math.nan]}]}
    path = io.write_json(tmp_path / "r.json", obj)
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == {"mean": 1.5, "std": None, "rows": [[1.0, None], {"x": [None]}]}
    assert math.isnan(obj["std"])  # the caller's object is left as it was


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_write_json_refuses_infinity_and_names_where_it_is(tmp_path, value):
    path = io.write_json(tmp_path / "r.json", {"a": 1})
    bad = {"variants": [{"psnr": 30.0}, {"psnr": value}]}
    with pytest.raises(ValueError, match=r"""obj\['variants'\]\[1\]\['psnr'\] is -?inf"""):
        io.write_json(path, bad)
    assert json.loads(path.read_text()) == {"a": 1}  # the old file is kept


def test_read_images_reads_a_folder_in_sorted_order(tmp_path):
    from PIL import Image

    for name, value in (("b", 20), ("a", 10), ("c", 30)):
        Image.fromarray(np.full((4, 6, 3), value, np.uint8)).save(tmp_path / f"{name}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = io.read_images(tmp_path)
    assert list(images) == ["a", "b", "c"]
    assert images["b"].shape == (4, 6, 3) and images["b"].dtype == np.uint8
    assert int(images["b"][0, 0, 0]) == 20


def test_mod_crop_crops_tensors_and_arrays_alike():
    x = torch.rand(2, 3, 10, 13)
    assert io.mod_crop(x, 4).shape == (2, 3, 8, 12)
    assert io.mod_crop(np.zeros((10, 13, 3)), 4).shape == (8, 12, 3)
    assert io.mod_crop(np.zeros((10, 13)), 3).shape == (9, 12)
    assert io.mod_crop(x, np.int64(2)).shape == (2, 3, 10, 12)  # numpy integers are integers


def test_to_uint8_still_clamps_a_slight_overshoot():
    x = torch.full((3, 2, 2), 1.2)
    x[0, 0, 0] = -0.1
    y = io.to_uint8(x)
    assert y[0, 0, 0] == 0 and y.max() == 255
