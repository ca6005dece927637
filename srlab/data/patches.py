"""Training patches: aligned random LR/HR crops, flips and transposes, and the torch Datasets that
cut them from images (ImagePatches), from synthetic clips with known flow (VideoPatches) and from
real clips on disk (VideoFolderPatches).

Randomness. Every random choice (image, window, crop, flips) is drawn from `generator` if one is
given, else from torch's global RNG. srlab.train seeds the global RNG with each sample's own seed
before reading it, so there each patch is a function of (run seed, sample number) alone, whatever
the number of workers. Used on its own with DataLoader(num_workers=0), a dataset is deterministic
after torch.manual_seed(s) (or with a seeded `generator`): the same seed gives the same patches in
the same order. With num_workers > 0 the DataLoader seeds each worker's global RNG from its own
generator, so results are repeatable too, but they change with num_workers; do not pass
`generator` then, as every worker would get a copy of it and repeat the others' patches."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from srlab.checks import check_int, check_scale
from srlab.data.folders import VideoFolder, _size
from srlab.data.synthetic import SyntheticClip, _bundled_videos, downscale_flow
from srlab.degradations import add_gaussian_noise, check_degradation
from srlab.io import mod_crop, to_tensor


def _randint(high: int, generator: torch.Generator | None) -> int:
    """A random integer in [0, high)."""
    return int(torch.randint(high, (1,), generator=generator))


def random_crop_box(
    height: int, width: int, patch_size: int, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """(top, left) of a random patch_size x patch_size window inside a height x width image."""
    if patch_size > height or patch_size > width:
        raise ValueError(f"patch_size {patch_size} does not fit in an image of {height}x{width}")
    return _randint(height - patch_size + 1, generator), _randint(width - patch_size + 1, generator)


def _crop(x: Tensor, top: int, left: int, size: int) -> Tensor:
    return x[..., top : top + size, left : left + size]


def random_crop_pair(
    lq: Tensor,
    gt: Tensor,
    patch_size: int,
    scale: int,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The same random window of an LR/HR pair: lq (..., c, h, w) and gt (..., c, h*s, w*s), e.g.
    images (c, h, w) or clips (t, c, h, w). patch_size is in LR pixels. Returns
    (lq (..., c, p, p), gt (..., c, p*s, p*s)); LR pixel (i, j) of the patch covers HR pixels
    [i*s, (i+1)*s) x [j*s, (j+1)*s) of the HR patch, as in the full images."""
    check_scale(scale)
    h, w = lq.shape[-2:]
    if lq.shape[:-2] != gt.shape[:-2] or gt.shape[-2:] != (h * scale, w * scale):
        raise ValueError(
            f"gt must be lq upscaled x{scale}: lq {tuple(lq.shape)} needs gt "
            f"{(*lq.shape[:-2], h * scale, w * scale)}, got {tuple(gt.shape)}"
        )
    top, left = random_crop_box(h, w, patch_size, generator)
    return _crop(lq, top, left, patch_size), _crop(
        gt, top * scale, left * scale, patch_size * scale
    )


def augment(
    *tensors: Tensor, hflip: bool, vflip: bool, rot90: bool, flows: Sequence[Tensor] = ()
) -> tuple[Tensor, ...]:
    """Apply one flip/transpose to every tensor (..., h, w): a horizontal flip, then a vertical
    flip, then a transpose of h and w (BasicSR's `rot90`; the three together give all 8 rotations
    and reflections of a square). Returns the tensors, then the flows, in the order given.

    flows (..., 2, h, w), channel 0 x and channel 1 y, move with their pixels and have their vectors
    turned the same way: a horizontal flip negates x, a vertical flip negates y, a transpose swaps
    x and y. So warping the augmented frame with the augmented flow gives the augmented warp."""

    def move(x: Tensor) -> Tensor:
        if hflip:
            x = x.flip(-1)
        if vflip:
            x = x.flip(-2)
        return x.transpose(-2, -1) if rot90 else x

    def move_flow(flow: Tensor) -> Tensor:
        if flow.dim() < 3 or flow.shape[-3] != 2:
            raise ValueError(f"a flow must be (..., 2, h, w), got shape {tuple(flow.shape)}")
        x, y = move(flow).unbind(-3)
        x, y = (-x if hflip else x), (-y if vflip else y)
        return torch.stack((y, x) if rot90 else (x, y), -3)

    return tuple(move(x) for x in tensors) + tuple(move_flow(f) for f in flows)


def _random_augment(*tensors, flows=(), generator=None) -> tuple[Tensor, ...]:
    """augment with each of hflip, vflip, rot90 drawn with probability 1/2."""
    hflip, vflip, rot90 = (torch.rand(3, generator=generator) < 0.5).tolist()
    return augment(*tensors, hflip=hflip, vflip=vflip, rot90=rot90, flows=flows)


def _check_sampler_args(
    scale: int, patch_size: int, degradation: str, repeat: int, num_frames: int | None = None
):
    """The arguments the patch samplers share, checked once: (scale, degradation).
    num_frames: the video samplers' window length (None for images)."""
    # num_frames >= 2: a video window joins neighbouring frames
    for name, value, least in (("patch_size", patch_size, 1), ("repeat", repeat, 1),
                               ("num_frames", num_frames, 2)):  # fmt: skip
        if value is None and name == "num_frames":
            continue
        check_int(value, name, low=least)
    return check_scale(scale), check_degradation(degradation)


class ImagePatches(Dataset):
    """Random aligned LR/HR patches for image SR: {"lq": (3, p, p), "gt": (3, p*s, p*s)}.

    source: a mapping name -> uint8 RGB image (h, w, 3), e.g. bundled_images("train"), whose LR
    images are made with `degradation` ("BI" or "BD"), once per image, the first time it is used
    (from the whole image, after mod_crop, as a benchmark's LR files are; then cropped); or a
    dataset of {"lq", "gt"} pairs such as a PairedImageFolder, read afresh for every patch (its own
    LR files or degradation apply).
    Item i is a patch of image i % n (n images; len = n * repeat), at a random position, randomly
    flipped and transposed if augment. See the module docstring for how randomness is seeded."""

    def __init__(
        self,
        source: Mapping[str, np.ndarray] | Dataset,
        *,
        scale: int,
        patch_size: int,
        degradation: str = "BI",
        augment: bool = True,
        repeat: int = 1,
        generator: torch.Generator | None = None,
    ):
        self.scale, degradation = _check_sampler_args(scale, patch_size, degradation, repeat)
        self.patch_size, self.degradation = patch_size, degradation
        self.augment, self.repeat, self.generator = augment, repeat, generator
        self.source = source
        if isinstance(source, Mapping):
            self.names = list(source)
            for name, img in source.items():
                h, w = img.shape[0] // scale, img.shape[1] // scale
                if min(h, w) < patch_size:
                    raise ValueError(
                        f"image {name!r} is {h}x{w} at LR, smaller than patch_size {patch_size}"
                    )
            self._pairs: dict[int, tuple[Tensor, Tensor]] = {}  # index -> (lq, gt), made once
        if len(source) == 0:
            raise ValueError("source has no images")

    def _pair(self, index: int) -> tuple[Tensor, Tensor]:
        """(lq (3, h, w), gt (3, h*s, w*s)) of image `index`."""
        if not isinstance(self.source, Mapping):
            item = self.source[index]
            return item["lq"], item["gt"]
        if index not in self._pairs:
            from srlab.degradations import degrade  # imported here, as in srlab.data.folders

            gt = to_tensor(mod_crop(self.source[self.names[index]], self.scale))
            self._pairs[index] = degrade(gt, self.scale, self.degradation), gt
        return self._pairs[index]

    def __len__(self) -> int:
        return len(self.source) * self.repeat

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        lq, gt = self._pair(index % len(self.source))
        lq, gt = random_crop_pair(lq, gt, self.patch_size, self.scale, self.generator)
        if self.augment:
            lq, gt = _random_augment(lq, gt, generator=self.generator)
        return {"lq": lq.clone(), "gt": gt.clone()}  # clones: never views of the cached images


class VideoPatches(Dataset):
    """Random aligned LR/HR windows of synthetic clips, with the true LR flows:
    {"lq": (n, 3, p, p), "gt": (n, 3, p*s, p*s), "flow_forward", "flow_backward": (n-1, 2, p, p)}
    (n = num_frames, p = patch_size in LR pixels; flows in LR pixels, BasicVSR's convention, see
    srlab.data.synthetic). Flows are the clip's HR flows brought to the LR grid by downscale_flow.

    clips: name -> SyntheticClip, by default bundled_videos("train"). Each clip's LR frames are
    made once, from the whole frames, with `degradation` ("BI" or "BD"). Item i is a window of clip
    i % (number of clips) (len = clips * repeat): n consecutive frames from a random start, a
    random crop, and, if augment, a random flip/transpose applied to frames and flows alike.
    noise: sigma of Gaussian noise added to every LR window, fresh for each (in [0, 1] units; the
    frames are then clamped to [0, 1]): sensor noise, which neighbouring frames average out. See
    the module docstring for how randomness is seeded."""

    def __init__(
        self,
        clips: Mapping[str, SyntheticClip] | None = None,
        *,
        scale: int = 4,
        patch_size: int = 16,
        num_frames: int = 7,
        degradation: str = "BI",
        augment: bool = True,
        repeat: int = 1,
        generator: torch.Generator | None = None,
        noise: float = 0.0,
    ):
        self.scale, degradation = _check_sampler_args(
            scale, patch_size, degradation, repeat, num_frames
        )
        if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise <= 1:
            raise ValueError(f"noise must be a sigma in [0, 1] (not 0-255 units), got {noise!r}")
        self.noise = float(noise)
        # The bundled clips are shared with every other user in the process: only ever read here.
        self.clips = list((_bundled_videos("train") if clips is None else clips).values())
        if not self.clips:
            raise ValueError("clips is empty")
        for clip in self.clips:
            t, _, h, w = clip.frames.shape
            if t < num_frames or min(h, w) < patch_size * scale:
                raise ValueError(
                    f"a clip of {t} frames of {h}x{w} is too small for windows of {num_frames} "
                    f"frames of {patch_size}x{patch_size} LR pixels at x{scale}"
                )
        self.patch_size, self.num_frames, self.degradation = patch_size, num_frames, degradation
        self.augment, self.repeat, self.generator = augment, repeat, generator
        self._lr: dict[int, dict[str, Tensor]] = {}  # clip index -> LR frames and flows, made once

    def _lr_clip(self, index: int) -> dict[str, Tensor]:
        if index not in self._lr:
            from srlab.degradations import degrade  # imported here, as in srlab.data.folders

            clip = self.clips[index]
            self._lr[index] = {
                "lq": degrade(clip.frames, self.scale, self.degradation),  # (t, 3, h, w)
                "flow_forward": downscale_flow(clip.flow_forward, self.scale),  # (t-1, 2, h, w)
                "flow_backward": downscale_flow(clip.flow_backward, self.scale),
            }
        return self._lr[index]

    def __len__(self) -> int:
        return len(self.clips) * self.repeat

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        index %= len(self.clips)
        lr, gt = self._lr_clip(index), self.clips[index].frames
        n, p, s = self.num_frames, self.patch_size, self.scale
        start = _randint(len(gt) - n + 1, self.generator)
        frames, pairs = slice(start, start + n), slice(start, start + n - 1)  # n frames, n-1 flows
        top, left = random_crop_box(*lr["lq"].shape[-2:], p, self.generator)
        lq = _crop(lr["lq"][frames], top, left, p)  # (n, 3, p, p)
        gt = _crop(gt[frames], top * s, left * s, p * s)  # (n, 3, p*s, p*s)
        flows = [_crop(lr[key][pairs], top, left, p) for key in ("flow_forward", "flow_backward")]
        if self.augment:
            lq, gt, *flows = _random_augment(lq, gt, flows=flows, generator=self.generator)
        if self.noise:  # a new tensor, drawn after the crop and flips from the same RNG
            lq = add_gaussian_noise(lq, self.noise, generator=self.generator)
        return {  # clones: never views of the cached clips
            "lq": lq.clone(),
            "gt": gt.clone(),
            "flow_forward": flows[0].clone(),
            "flow_backward": flows[1].clone(),
        }


class VideoFolderPatches(Dataset):
    """Random aligned LR/HR windows of real clips on disk, for training video SR on REDS (a video
    notebook's `data_root`) the way BasicSR's REDSRecurrentDataset does: num_frames consecutive
    frames from a random start, one random crop at the same position in every frame, and, if
    augment, one random flip/transpose of the whole window.
    Items: {"lq": (n, 3, p, p), "gt": (n, 3, p*s, p*s)} (n = num_frames, p = patch_size in LR
    pixels, s = folder.scale). No flows: a real clip has none, and BasicVSR runs its own SpyNet.

    folder: a VideoFolder; its LR files are used, or its degradation on whole frames without
    lr_root (then every window degrades its n whole frames: slow on 1280x720 REDS frames, so
    prefer REDS's own train_sharp_bicubic as lr_root). names: the clips to cut windows from, in
    this order (default: all of folder.names), e.g. every clip but REDS4's test clips. Item i is a
    window of clip i % (number of clips) (len = clips * repeat); only the window's n frames are
    read from disk, never the whole clip. Every clip must have at least n frames of at least p x p
    LR pixels, checked here from the file headers. See the module docstring for how randomness is
    seeded."""

    def __init__(
        self,
        folder: VideoFolder,
        *,
        patch_size: int,
        num_frames: int,
        augment: bool = True,
        repeat: int = 1,
        generator: torch.Generator | None = None,
        names: Sequence[str] | None = None,
    ):
        if not isinstance(folder, VideoFolder):
            raise TypeError(f"folder must be a VideoFolder, got {type(folder).__name__}")
        self.scale, _ = _check_sampler_args(
            folder.scale, patch_size, folder.degradation, repeat, num_frames
        )
        names = list(folder.names if names is None else names)
        unknown = [name for name in names if name not in folder.clips]
        if unknown or not names:
            raise ValueError(f"names must be clips of folder; not found: {unknown or 'none given'}")
        for name in names:
            frames = folder.clips[name]
            h, w = _size(frames[0])  # HR; all frames of a clip have one size (VideoFolder checks)
            h, w = h // self.scale, w // self.scale  # LR, after mod_crop
            if len(frames) < num_frames or min(h, w) < patch_size:
                raise ValueError(
                    f"clip {name!r} ({len(frames)} frames of {h}x{w} LR pixels) is too small for "
                    f"windows of {num_frames} frames of {patch_size}x{patch_size} LR pixels"
                )
        self.folder, self.names = folder, names
        self.patch_size, self.num_frames = patch_size, num_frames
        self.augment, self.repeat, self.generator = augment, repeat, generator

    def __len__(self) -> int:
        return len(self.names) * self.repeat

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        name = self.names[index % len(self.names)]
        n = self.num_frames
        start = _randint(len(self.folder.clips[name]) - n + 1, self.generator)
        lq, gt = self.folder.read(name, start, start + n)  # (n, 3, h, w), (n, 3, h*s, w*s)
        lq, gt = random_crop_pair(lq, gt, self.patch_size, self.scale, self.generator)
        if self.augment:
            lq, gt = _random_augment(lq, gt, generator=self.generator)
        return {"lq": lq.clone(), "gt": gt.clone()}  # clones: a crop must not keep whole frames
