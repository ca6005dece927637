"""Real benchmarks from folders of image files: image pairs (Set5, Set14, B100, Urban100, Manga109,
DIV2K) and video clips (Vid4, REDS4, Vimeo-90K-T). Nothing is downloaded: point these at folders
you already have.

Images are paired by file stem. An LR file pairs with an HR file if its stem is the HR stem, or the
HR stem followed by "x{scale}", the DIV2K naming (HR 0801.png, LR 0801x4.png). Without an LR
folder, LR inputs are made on the fly with `srlab.degradations.degrade` ("BI" or "BD"). Either way
the HR image is first cropped to a multiple of the scale (srlab.io.mod_crop, as the benchmarks
do), and then LR x scale must be exactly the HR size.

Videos follow the REDS/Vid4 layout: root/clip/frame.png, frames in sorted file-name order, with the
same clip and frame names under the HR and the LR root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from srlab.checks import check_scale
from srlab.degradations import check_degradation
from srlab.io import imread, mod_crop, to_tensor

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _images(folder: Path) -> list[Path]:
    """The image files directly inside folder, sorted by name."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def _size(path: Path) -> tuple[int, int]:
    """(height, width) of an image file, from its header (nothing is decoded)."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read image {path}: {err} (damaged? copy it again)") from err


def _listing(names, limit: int = 10) -> str:
    names = sorted(names)
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_sizes(hr: Path, lr: Path, scale: int) -> None:
    """LR x scale must equal the HR size after mod_crop."""
    (h, w), (lh, lw) = _size(hr), _size(lr)
    if (lh * scale, lw * scale) != (h - h % scale, w - w % scale):
        raise ValueError(
            f"size mismatch: {lr} is {lh}x{lw}, so x{scale} gives {lh * scale}x{lw * scale}, but "
            f"{hr} is {h}x{w} ({h - h % scale}x{w - w % scale} after mod_crop)"
        )


def _read(paths: list[Path], scale: int | None = None) -> Tensor:
    """Image files -> (n, 3, h, w) float tensor; mod-cropped to `scale` if given (HR frames)."""
    imgs = []
    for p in paths:
        img = imread(p)  # its errors name the file
        if scale is not None:
            try:
                img = mod_crop(img, scale)
            except ValueError as err:
                raise ValueError(f"{p}: {err}") from err
        imgs.append(img)
    return torch.stack([to_tensor(img) for img in imgs])


def _lq_gt(hr: list[Path], lr: list[Path] | None, scale: int, degradation: str):
    """(lq (n, 3, h, w), gt (n, 3, h*scale, w*scale)) from HR files and their LR files, or with
    LR made by `degradation` when lr is None."""
    gt = _read(hr, scale)
    if lr is not None:
        return _read(lr), gt
    from srlab.degradations import degrade  # imported here: only on-the-fly LR needs it

    return degrade(gt, scale, degradation), gt  # on 256 levels, like an LR file


class PairedImageFolder(Dataset):
    """HR images in hr_dir, paired with LR images in lr_dir or degraded on the fly.

    Items: {"name": file stem, "lq": (3, h, w), "gt": (3, h*scale, w*scale)}, float in [0, 1], in
    sorted file-name order. Every pairing and size check runs when the dataset is made (image sizes
    come from the file headers), so a broken folder fails at once, not in the middle of a run.
    degradation ("BI" or "BD") is used only without lr_dir."""

    def __init__(
        self,
        hr_dir: str | os.PathLike,
        lr_dir: str | os.PathLike | None = None,
        *,
        scale: int,
        degradation: str = "BI",
    ):
        self.scale = check_scale(scale)
        self.degradation = check_degradation(degradation)
        self.hr_paths = _images(Path(hr_dir))
        if not self.hr_paths:
            raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {hr_dir}")
        self.lr_paths = None if lr_dir is None else self._pair_by_name(Path(lr_dir))

    def _pair_by_name(self, lr_dir: Path) -> list[Path]:
        """The LR file of each HR file, in the same order."""
        hr_stems = {p.stem for p in self.hr_paths}
        by_stem: dict[str, Path] = {}
        for path in _images(lr_dir):
            stem = path.stem if path.stem in hr_stems else path.stem.removesuffix(f"x{self.scale}")
            if stem in by_stem:
                raise ValueError(
                    f"two LR files for {stem!r} in {lr_dir}: {by_stem[stem].name}, {path.name}"
                )
            by_stem[stem] = path
        missing, extra = hr_stems - by_stem.keys(), by_stem.keys() - hr_stems
        if missing or extra:
            raise ValueError(
                f"HR and LR images do not pair by name (LR may add 'x{self.scale}' to the stem): "
                f"HR without LR: [{_listing(missing)}]; LR without HR: [{_listing(extra)}]"
            )
        pairs = [by_stem[hr.stem] for hr in self.hr_paths]
        for hr, lr in zip(self.hr_paths, pairs, strict=True):
            _check_sizes(hr, lr, self.scale)
        return pairs

    def __len__(self) -> int:
        return len(self.hr_paths)

    def __getitem__(self, index: int) -> dict:
        hr = self.hr_paths[index]
        lr = None if self.lr_paths is None else [self.lr_paths[index]]
        lq, gt = _lq_gt([hr], lr, self.scale, self.degradation)
        return {"name": hr.stem, "lq": lq[0], "gt": gt[0]}  # (3, h, w), (3, h*s, w*s)


class VideoFolder(Dataset):
    """Clips in the REDS/Vid4 layout: hr_root/clip/frame.png (and lr_root/clip/frame.png, with the
    same clip and frame names), or LR degraded on the fly without lr_root.

    Items: {"name": clip folder name, "lq": (t, 3, h, w), "gt": (t, 3, h*scale, w*scale)}, frames in
    sorted file-name order, clips in sorted order. Checked when the dataset is made: every clip has
    frames, all frames of a clip have one size, the HR and LR clips and frames pair by name, and
    LR x scale is the HR size after mod_crop. degradation is used only without lr_root."""

    def __init__(
        self,
        hr_root: str | os.PathLike,
        lr_root: str | os.PathLike | None = None,
        *,
        scale: int,
        degradation: str = "BI",
    ):
        self.scale = check_scale(scale)
        self.degradation = check_degradation(degradation)
        self.clips = self._clips(Path(hr_root))
        self.lr_clips: dict[str, list[Path]] | None = None
        if lr_root is not None:
            self.lr_clips = self._clips(Path(lr_root))
            self._pair_by_name()
        self.names = sorted(self.clips)

    @staticmethod
    def _clips(root: Path) -> dict[str, list[Path]]:
        if not root.is_dir():
            raise FileNotFoundError(f"{root} is not a folder")
        clips = {d.name: _images(d) for d in sorted(root.iterdir()) if d.is_dir()}
        if not clips:
            raise ValueError(f"no clip folders in {root} (expected root/clip/frame.png)")
        empty = [name for name, frames in clips.items() if not frames]
        if empty:
            raise ValueError(f"clip folders without frames in {root}: [{_listing(empty)}]")
        for name, frames in clips.items():
            sizes = {_size(p) for p in frames}
            if len(sizes) > 1:
                raise ValueError(f"frames of different sizes in {root / name}: {sorted(sizes)}")
        return clips

    def _pair_by_name(self) -> None:
        hr, lr = self.clips, self.lr_clips
        if hr.keys() != lr.keys():
            raise ValueError(
                f"HR and LR clips differ: HR only [{_listing(hr.keys() - lr.keys())}]; "
                f"LR only [{_listing(lr.keys() - hr.keys())}]"
            )
        for name in hr:
            hr_frames, lr_frames = [p.name for p in hr[name]], [p.name for p in lr[name]]
            if hr_frames != lr_frames:
                raise ValueError(
                    f"clip {name!r}: {len(hr_frames)} HR frames and {len(lr_frames)} LR frames "
                    f"with different names: HR only [{_listing(set(hr_frames) - set(lr_frames))}]; "
                    f"LR only [{_listing(set(lr_frames) - set(hr_frames))}]"
                )
            _check_sizes(hr[name][0], lr[name][0], self.scale)  # one size per clip: one check

    def __len__(self) -> int:
        return len(self.names)

    def read(self, name: str, start: int = 0, stop: int | None = None) -> tuple[Tensor, Tensor]:
        """(lq (n, 3, h, w), gt (n, 3, h*scale, w*scale)) of frames [start, stop) of clip `name`
        (stop None: to the end), reading only those n = stop - start frames' files. Without lr_root
        each LR frame is made from its whole HR frame, so a crop of the result is a crop of the
        degraded frame, as a benchmark's LR files are (not a degraded crop)."""
        if name not in self.clips:
            raise KeyError(f"no clip {name!r}; clips: [{_listing(self.names)}]")
        hr = self.clips[name]
        stop = len(hr) if stop is None else stop
        if not 0 <= start < stop <= len(hr):
            raise ValueError(
                f"frames [{start}, {stop}) are not a window of clip {name!r} ({len(hr)} frames)"
            )
        lr = None if self.lr_clips is None else self.lr_clips[name][start:stop]
        return _lq_gt(hr[start:stop], lr, self.scale, self.degradation)

    def __getitem__(self, index: int) -> dict:
        name = self.names[index]
        lq, gt = self.read(name)
        return {"name": name, "lq": lq, "gt": gt}  # (t, 3, h, w), (t, 3, h*s, w*s)


REDS4 = ("000", "011", "015", "020")  # the REDS clips BasicSR holds out for testing ("REDS4")


@dataclass(frozen=True)
class RedsSplit:
    """REDS split as BasicSR's REDS4 protocol: see reds_split."""

    folder: VideoFolder  # every clip, HR with its LR
    train_names: list[str]  # the clips to train on: all but REDS4
    test: dict[str, dict[str, Tensor]]  # REDS4 clip -> {"lq": (n, 3, h, w), "gt": (n, 3, H, W)}


def reds_split(
    root: str | os.PathLike,
    *,
    scale: int = 4,
    degradation: str = "BI",
    test_clips: int | None = None,
    test_frames: int | None = None,
    test_size: tuple[int, int] | None = None,
) -> RedsSplit:
    """REDS in BasicSR's layout, split as BasicSR's REDS4 protocol does.

    root/train_sharp/<clip>/<frame>.png holds the HR clips, root/train_sharp_bicubic/X{scale}/
    <clip>/ the bicubic LR clips (if that folder is missing, LR is made with `degradation`). The
    REDS4 clips present are the test clips (at least one must be; test_clips: only the first that
    many of them), every other clip is for training (REDS4 clips left out of the test are not
    trained on either). The test clips are read now, and only the frames kept: the first
    test_frames frames (None: all; the 4 REDS4 clips hold 4.4 GB of float HR), cropped to the
    top-left test_size = (H, W) of HR, rounded down to a multiple of the scale (None: whole
    frames), and the matching LR; they must all have the same number of frames."""
    root = Path(root)
    lr_root = root / "train_sharp_bicubic" / f"X{scale}"
    if lr_root.is_dir() and degradation != "BI":
        raise ValueError(
            f"{lr_root} holds bicubic LR clips: degradation must be 'BI', got {degradation!r}"
        )
    if test_clips is not None and test_clips < 1:
        raise ValueError(f"test_clips must be None (all) or >= 1, got {test_clips}")
    if test_frames is not None and test_frames < 1:
        raise ValueError(f"test_frames must be None (all) or >= 1, got {test_frames}")
    folder = VideoFolder(
        root / "train_sharp", lr_root if lr_root.is_dir() else None, scale=scale,
        degradation=degradation,
    )  # fmt: skip
    test_names = [name for name in REDS4 if name in folder.clips][:test_clips]
    if not test_names:
        raise ValueError(
            f"none of REDS4's test clips {REDS4} is in {root / 'train_sharp'}; "
            f"clips there: [{_listing(folder.names)}]"
        )
    train_names = [name for name in folder.names if name not in REDS4]
    if not train_names:
        raise ValueError(f"no training clips in {root / 'train_sharp'}, only REDS4's")
    lr_h = lr_w = h = w = None  # no crop
    if test_size is not None:  # whole LR pixels: the HR crop is a multiple of the scale
        lr_h, lr_w = (side // scale for side in test_size)
        h, w = lr_h * scale, lr_w * scale
        if min(lr_h, lr_w) < 1:
            raise ValueError(f"test_size {test_size} is smaller than one LR pixel at x{scale}")
    test = {}
    for name in test_names:  # only the frames kept are read
        frames = len(folder.clips[name])
        lq, gt = folder.read(name, 0, min(test_frames or frames, frames))
        test[name] = {"lq": lq[..., :lr_h, :lr_w], "gt": gt[..., :h, :w]}
    lengths = {name: clip["gt"].shape[0] for name, clip in test.items()}
    if len(set(lengths.values())) > 1:  # REDS4's have 100 each; per-frame results need one length
        raise ValueError(f"the REDS4 test clips have different numbers of frames {lengths}: pass "
                         f"a test_frames they all have")  # fmt: skip
    return RedsSplit(folder, train_names, test)
