"""srlab.data.folders: benchmark folders on disk (written here with tiny random images)."""

import numpy as np
import pytest
import torch

from srlab.data import PairedImageFolder, VideoFolder
from srlab.io import imwrite, to_tensor


def random_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_pairs_by_identical_names(tmp_path):
    for k, name in enumerate(["b", "a"]):
        imwrite(tmp_path / "hr" / f"{name}.png", random_image(24, 36, k))
        imwrite(tmp_path / "lr" / f"{name}.png", random_image(6, 9, k + 10))
    data = PairedImageFolder(tmp_path / "hr", tmp_path / "lr", scale=4)
    assert len(data) == 2
    item = data[0]
    assert item["name"] == "a"  # sorted by file name
    assert item["lq"].shape == (3, 6, 9) and item["gt"].shape == (3, 24, 36)
    assert torch.equal(item["gt"], to_tensor(random_image(24, 36, 1)))
    assert torch.equal(item["lq"], to_tensor(random_image(6, 9, 11)))


def test_div2k_names_and_mod_crop(tmp_path):
    imwrite(tmp_path / "hr" / "0801.png", random_image(26, 39))  # not a multiple of 4: mod_crop
    imwrite(tmp_path / "lr" / "0801x4.png", random_image(6, 9))
    item = PairedImageFolder(tmp_path / "hr", tmp_path / "lr", scale=4)[0]
    assert item["name"] == "0801"
    assert item["gt"].shape == (3, 24, 36)
    assert torch.equal(item["gt"], to_tensor(random_image(26, 39))[:, :24, :36])


def test_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        PairedImageFolder(tmp_path / "empty", scale=2)
    with pytest.raises(FileNotFoundError):
        PairedImageFolder(tmp_path / "missing", scale=2)
    for name in ("a", "b", "c"):
        imwrite(tmp_path / "hr" / f"{name}.png", random_image(8, 8))
    for name in ("a", "bx2", "d"):
        imwrite(tmp_path / "lr" / f"{name}.png", random_image(4, 4))
    with pytest.raises(ValueError, match=r"HR without LR: \[c\]; LR without HR: \[d\]"):
        PairedImageFolder(tmp_path / "hr", tmp_path / "lr", scale=2)
    imwrite(tmp_path / "lr" / "c.png", random_image(5, 4))
    (tmp_path / "lr" / "d.png").unlink()
    with pytest.raises(ValueError, match="size mismatch.*c.png is 5x4"):
        PairedImageFolder(tmp_path / "hr", tmp_path / "lr", scale=2)
    with pytest.raises(ValueError, match="scale"):
        PairedImageFolder(tmp_path / "hr", scale=5)
    with pytest.raises(ValueError, match="degradation"):
        PairedImageFolder(tmp_path / "hr", scale=2, degradation="bicubic")


@pytest.mark.parametrize("kind", ["BI", "BD"])
def test_lr_made_on_the_fly(tmp_path, kind):
    degradations = pytest.importorskip("srlab.degradations")
    imwrite(tmp_path / "hr" / "a.png", random_image(25, 26))
    item = PairedImageFolder(tmp_path / "hr", scale=2, degradation=kind)[0]
    gt = to_tensor(random_image(25, 26))[:, :24, :26]
    assert torch.equal(item["gt"], gt)
    assert torch.equal(item["lq"], degradations.degrade(gt, 2, kind))


def write_clips(root, clips, size, seed=0):
    """clips: {clip: number of frames} -> root/clip/00000000.png ..."""
    for c, (clip, frames) in enumerate(clips.items()):
        for t in range(frames):
            imwrite(root / clip / f"{t:08d}.png", random_image(*size, seed + 100 * c + t))


def test_video_folder_pairs_clips_and_frames(tmp_path):
    write_clips(tmp_path / "hr", {"walk": 3, "city": 2}, (16, 20))
    write_clips(tmp_path / "lr", {"walk": 3, "city": 2}, (4, 5), seed=7)
    data = VideoFolder(tmp_path / "hr", tmp_path / "lr", scale=4)
    assert len(data) == 2
    item = data[1]  # clips in sorted order: city, walk (walk was written first: seeds 0..2)
    assert item["name"] == "walk"
    assert item["lq"].shape == (3, 3, 4, 5) and item["gt"].shape == (3, 3, 16, 20)
    assert torch.equal(item["gt"][2], to_tensor(random_image(16, 20, 2)))
    assert torch.equal(item["lq"][0], to_tensor(random_image(4, 5, 7)))


def test_video_lr_made_on_the_fly(tmp_path):
    degradations = pytest.importorskip("srlab.degradations")
    write_clips(tmp_path / "hr", {"walk": 2}, (16, 20))
    item = VideoFolder(tmp_path / "hr", scale=4, degradation="BD")[0]
    assert torch.equal(item["lq"], degradations.degrade(item["gt"], 4, "BD"))
    assert item["lq"].shape == (2, 3, 4, 5)


def test_video_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no clip folders"):
        VideoFolder(tmp_path / "empty", scale=4)
    write_clips(tmp_path / "hr", {"walk": 3, "city": 2}, (16, 20))
    write_clips(tmp_path / "lr1", {"walk": 3, "town": 2}, (4, 5))
    with pytest.raises(ValueError, match=r"HR only \[city\]; LR only \[town\]"):
        VideoFolder(tmp_path / "hr", tmp_path / "lr1", scale=4)
    write_clips(tmp_path / "lr2", {"walk": 2, "city": 2}, (4, 5))
    with pytest.raises(ValueError, match=r"'walk': 3 HR frames and 2 LR frames.*00000002"):
        VideoFolder(tmp_path / "hr", tmp_path / "lr2", scale=4)
    write_clips(tmp_path / "lr3", {"walk": 3, "city": 2}, (4, 6))
    with pytest.raises(ValueError, match="size mismatch"):
        VideoFolder(tmp_path / "hr", tmp_path / "lr3", scale=4)
    imwrite(tmp_path / "hr" / "city" / "00000009.png", random_image(20, 16))
    with pytest.raises(ValueError, match="frames of different sizes"):
        VideoFolder(tmp_path / "hr", scale=4)
