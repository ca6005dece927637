"""srlab.data.folders: benchmark folders on disk (written here with tiny random images), and
VideoFolderPatches, the training windows cut from them."""

import itertools

import numpy as np
import pytest
import torch

import srlab.data.folders
from srlab.data import PairedImageFolder, VideoFolder, VideoFolderPatches, augment, reds_split
from srlab.degradations import degrade
from srlab.io import imread, imwrite, to_tensor


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
    imwrite(tmp_path / "hr" / "a.png", random_image(25, 26))
    item = PairedImageFolder(tmp_path / "hr", scale=2, degradation=kind)[0]
    gt = to_tensor(random_image(25, 26))[:, :24, :26]
    assert torch.equal(item["gt"], gt)
    assert torch.equal(item["lq"], degrade(gt, 2, kind))


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
    write_clips(tmp_path / "hr", {"walk": 2}, (16, 20))
    item = VideoFolder(tmp_path / "hr", scale=4, degradation="BD")[0]
    assert torch.equal(item["lq"], degrade(item["gt"], 4, "BD"))
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


def test_video_folder_read_is_a_window_of_the_whole_clip(tmp_path):
    write_clips(tmp_path / "hr", {"walk": 5}, (16, 20))
    write_clips(tmp_path / "lr", {"walk": 5}, (4, 5), seed=7)
    for lr_root in (tmp_path / "lr", None):
        data = VideoFolder(tmp_path / "hr", lr_root, scale=4)
        whole = data[0]
        lq, gt = data.read("walk", 1, 4)
        assert torch.equal(lq, whole["lq"][1:4]) and torch.equal(gt, whole["gt"][1:4])
    assert torch.equal(lq, degrade(gt, 4, "BI"))  # without lr_root: made from gt
    with pytest.raises(ValueError, match=r"frames \[3, 6\) are not a window of clip 'walk'"):
        data.read("walk", 3, 6)
    with pytest.raises(KeyError, match="no clip 'run'"):
        data.read("run", 0, 1)


def write_reds(root, clips, frames=5, lr=True):
    """root/train_sharp/<clip>/ (HR 16x20) and, if lr, root/train_sharp_bicubic/X4/<clip>/."""
    write_clips(root / "train_sharp", dict.fromkeys(clips, frames), (16, 20))
    if lr:
        write_clips(root / "train_sharp_bicubic" / "X4", dict.fromkeys(clips, frames), (4, 5), 7)


def test_reds_split_tests_on_reds4_and_trains_on_the_rest(tmp_path):
    write_reds(tmp_path, ["000", "001", "011", "120"])
    split = reds_split(tmp_path, test_frames=3)
    assert list(split.test) == ["000", "011"]  # the REDS4 clips present, in REDS4's order
    assert split.train_names == ["001", "120"]
    assert split.folder.lr_clips is not None  # read from train_sharp_bicubic/X4
    whole = split.folder[split.folder.names.index("011")]
    assert torch.equal(split.test["011"]["gt"], whole["gt"][:3])
    assert torch.equal(split.test["011"]["lq"], whole["lq"][:3])  # the LR files
    assert split.test["000"]["lq"].shape == (3, 3, 4, 5)
    first = reds_split(tmp_path, test_clips=1)
    assert list(first.test) == ["000"] and first.train_names == ["001", "120"]  # 011: neither


def test_reds_split_all_frames_and_crop(tmp_path):
    write_reds(tmp_path, ["015", "002"], lr=False)  # no LR folder: made with the degradation
    split = reds_split(tmp_path, degradation="BD", test_size=(8, 12))
    whole = split.folder[split.folder.names.index("015")]
    assert split.folder.lr_clips is None
    assert torch.equal(split.test["015"]["gt"], whole["gt"][..., :8, :12])
    assert torch.equal(split.test["015"]["lq"], whole["lq"][..., :2, :3])  # a crop of whole LR
    assert split.test["015"]["gt"].shape[0] == 5  # test_frames None: every frame
    odd = reds_split(tmp_path, degradation="BD", test_size=(10, 14))  # down to whole LR pixels
    assert odd.test["015"]["gt"].shape[-2:] == (8, 12)
    assert odd.test["015"]["lq"].shape[-2:] == (2, 3)


def test_reds_split_errors(tmp_path):
    write_reds(tmp_path / "a", ["000", "001"])
    with pytest.raises(ValueError, match="bicubic LR clips: degradation must be 'BI'"):
        reds_split(tmp_path / "a", degradation="BD")
    with pytest.raises(ValueError, match="test_frames must be"):
        reds_split(tmp_path / "a", test_frames=0)
    with pytest.raises(ValueError, match="test_clips must be"):
        reds_split(tmp_path / "a", test_clips=0)
    with pytest.raises(ValueError, match="smaller than one LR pixel"):
        reds_split(tmp_path / "a", test_size=(3, 8))
    write_reds(tmp_path / "b", ["001", "002"])
    with pytest.raises(ValueError, match=r"none of REDS4's test clips.*001, 002"):
        reds_split(tmp_path / "b")
    write_reds(tmp_path / "c", ["000", "020"])
    with pytest.raises(ValueError, match="no training clips"):
        reds_split(tmp_path / "c")
    with pytest.raises(FileNotFoundError, match="train_sharp is not a folder"):
        reds_split(tmp_path / "d")
    write_reds(tmp_path / "e", ["000", "001"])
    write_reds(tmp_path / "e", ["011"], frames=3)
    with pytest.raises(ValueError, match=r"different numbers of frames \{'000': 5, '011': 3\}"):
        reds_split(tmp_path / "e")
    assert reds_split(tmp_path / "e", test_frames=3).test["000"]["gt"].shape[0] == 3


def write_plain_clips(root, clips, size, scale=1):
    """clips: {clip: frames}; frame k of clip c is filled with the value 10 * c + k + 1 (/ 255), so
    a window's values name its clip and frames. scale divides size (for LR folders)."""
    h, w = size[0] // scale, size[1] // scale
    for c, (clip, frames) in enumerate(clips.items()):
        for k in range(frames):
            imwrite(root / clip / f"{k:08d}.png", np.full((h, w, 3), 10 * c + k + 1, np.uint8))


def frame_values(x):
    """(n, 3, h, w) of constant frames -> the value of each frame, checking it is constant."""
    values = (x * 255).round().flatten(1)
    assert (values == values[:, :1]).all()
    return values[:, 0].int().tolist()


def folder_patches(tmp_path, lr=True, **kwargs):
    """2 clips (a, b) of 6 frames of 16x24, x2; LR files or LR degraded on the fly."""
    write_plain_clips(tmp_path / "hr", {"a": 6, "b": 6}, (16, 24))
    if lr:
        write_plain_clips(tmp_path / "lr", {"a": 6, "b": 6}, (16, 24), scale=2)
    folder = VideoFolder(tmp_path / "hr", tmp_path / "lr" if lr else None, scale=2)
    return VideoFolderPatches(folder, **{"patch_size": 4, "num_frames": 3, **kwargs})


def test_folder_patches_are_windows_of_one_clip(tmp_path):
    data = folder_patches(tmp_path, repeat=3, generator=torch.Generator().manual_seed(0))
    assert len(data) == 6
    starts = {0: set(), 1: set()}
    for i in range(60):
        item = data[i % len(data)]
        assert item.keys() == {"lq", "gt"}
        assert item["lq"].shape == (3, 3, 4, 4) and item["gt"].shape == (3, 3, 8, 8)
        values = frame_values(item["gt"])
        clip, start = divmod(values[0] - 1, 10)
        assert clip == (i % len(data)) % 2  # item i: clip i % 2
        assert values == [10 * clip + start + k + 1 for k in range(3)]  # 3 consecutive frames
        assert frame_values(item["lq"]) == values  # LR files of the same frames
        starts[clip].add(start)
    assert starts == {0: {0, 1, 2, 3}, 1: {0, 1, 2, 3}}  # every start of 6 - 3 + 1 is drawn


def test_folder_patches_of_chosen_clips(tmp_path):
    """names: windows come from those clips only (here b; clip a is held out, as REDS4 is)."""
    data = folder_patches(tmp_path, names=["b"], repeat=2)
    assert len(data) == 2
    for i in range(20):
        clip, _ = divmod(frame_values(data[i % 2]["gt"])[0] - 1, 10)
        assert clip == 1  # b
    with pytest.raises(ValueError, match=r"not found: \['c'\]"):
        folder_patches(tmp_path, names=["b", "c"])
    with pytest.raises(ValueError, match="none given"):
        folder_patches(tmp_path, names=[])


def random_clips(root, clips, size, seed=0):
    for c, (clip, frames) in enumerate(clips.items()):
        for k in range(frames):
            imwrite(root / clip / f"{k:08d}.png", random_image(*size, seed + 10 * c + k))


@pytest.mark.parametrize("lr", [True, False], ids=["lr_root", "on_the_fly"])
def test_folder_patches_crop_the_whole_clip(tmp_path, lr):
    """Each patch is the whole clip's item (LR files, or whole frames degraded) cropped at one
    place for every frame: found by trying every window and crop position."""
    random_clips(tmp_path / "hr", {"a": 5}, (16, 24))
    if lr:
        random_clips(tmp_path / "lr", {"a": 5}, (8, 12), seed=50)
    folder = VideoFolder(tmp_path / "hr", tmp_path / "lr" if lr else None, scale=2)
    whole = folder[0]  # lq (5, 3, 8, 12), gt (5, 3, 16, 24)
    data = VideoFolderPatches(
        folder, patch_size=3, num_frames=2, augment=False, generator=torch.Generator()
    )
    for _ in range(5):
        item = data[0]
        found = [
            (t, y, x)
            for t in range(4)
            for y in range(6)
            for x in range(10)
            if torch.equal(item["lq"], whole["lq"][t : t + 2, :, y : y + 3, x : x + 3])
        ]
        assert len(found) == 1
        t, y, x = found[0]
        y, x = 2 * y, 2 * x  # HR
        assert torch.equal(item["gt"], whole["gt"][t : t + 2, :, y : y + 6, x : x + 6])


def test_folder_patches_augment_the_window_as_one(tmp_path):
    random_clips(tmp_path / "hr", {"a": 3}, (8, 8))
    folder = VideoFolder(tmp_path / "hr", scale=2)
    whole = folder[0]
    data = VideoFolderPatches(folder, patch_size=4, num_frames=3, generator=torch.Generator())
    seen = set()
    for _ in range(60):
        item = data[0]  # patch = whole frame, so only the flip/transpose is random
        flips = [
            f
            for f in itertools.product([False, True], repeat=3)
            if torch.equal(item["lq"], augment(whole["lq"], hflip=f[0], vflip=f[1], rot90=f[2])[0])
        ]
        assert len(flips) == 1  # one flip for all frames
        hflip, vflip, rot90 = flips[0]
        _, gt = augment(whole["lq"], whole["gt"], hflip=hflip, vflip=vflip, rot90=rot90)
        assert torch.equal(item["gt"], gt)
        seen.add(flips[0])
    assert len(seen) == 8


def test_folder_patches_read_only_the_window(tmp_path, monkeypatch):
    data = folder_patches(tmp_path, lr=False, num_frames=2)
    read = []

    def counting_imread(path):
        read.append(path)
        return imread(path)

    monkeypatch.setattr(srlab.data.folders, "imread", counting_imread)
    item = data[1]
    assert len(read) == 2  # 2 HR frames of 6 (the LR made from them)
    assert [p.parent.name for p in read] == ["b", "b"]
    assert [int(p.stem) + 11 for p in read] == frame_values(item["gt"])


def test_folder_patches_same_seed_same_items(tmp_path):
    random_clips(tmp_path / "hr", {"a": 6, "b": 6}, (16, 24))
    data = VideoFolderPatches(VideoFolder(tmp_path / "hr", scale=2), patch_size=4, num_frames=3)

    def items(seed, generator):
        if generator:
            data.generator = torch.Generator().manual_seed(seed)
        else:
            data.generator = None
            torch.manual_seed(seed)
        parts = []
        for i in range(4):
            item = data[i]
            parts += [item["lq"].flatten(), item["gt"].flatten()]
        return torch.cat(parts)

    for generator in (True, False):  # a seeded generator, or the global RNG the trainer seeds
        assert torch.equal(items(3, generator), items(3, generator))
        assert not torch.equal(items(3, generator), items(4, generator))


def test_folder_patches_errors(tmp_path):
    write_plain_clips(tmp_path / "hr", {"a": 6, "short": 2}, (16, 24))
    folder = VideoFolder(tmp_path / "hr", scale=2)
    with pytest.raises(ValueError, match=r"clip 'short' \(2 frames of 8x12 LR pixels\)"):
        VideoFolderPatches(folder, patch_size=4, num_frames=3)
    VideoFolderPatches(folder, patch_size=8, num_frames=2)  # fits exactly
    with pytest.raises(ValueError, match="clip 'a' .* windows of 2 frames of 9x9"):
        VideoFolderPatches(folder, patch_size=9, num_frames=2)
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="num_frames"):
            VideoFolderPatches(folder, patch_size=4, num_frames=bad)
    with pytest.raises(ValueError, match="patch_size"):
        VideoFolderPatches(folder, patch_size=0, num_frames=2)
    with pytest.raises(ValueError, match="repeat"):
        VideoFolderPatches(folder, patch_size=4, num_frames=2, repeat=0)
    with pytest.raises(TypeError, match="VideoFolder"):
        VideoFolderPatches(str(tmp_path / "hr"), patch_size=4, num_frames=2)
