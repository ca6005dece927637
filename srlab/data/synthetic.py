"""Synthetic video clips whose optical flow and occlusions are known exactly.

A clip is a camera moving smoothly over a large photograph (translation, a little rotation and
zoom), with textured objects (a disc, a rectangle, ...) cut from other photographs moving and
spinning in front of it, each on its own path. Every layer is drawn by sampling its photograph at
positions given by an affine map per frame, frame pixel p -> source point M_t p + b_t. So the flow
is an exact formula, not an estimate: the point of a layer seen at p in frame i is seen in frame j
at

    q = M_j^-1 (M_i p + b_i - b_j),   flow = q - p,

and which layer is on top at each pixel is known from the object shapes.

Conventions (BasicVSR's, on the HR frames, in pixels, channel 0 horizontal, channel 1 vertical):
    flow_warp(frames[i + 1], flow_backward[i]) ~= frames[i]      where mask_backward[i] == 1
    flow_warp(frames[i], flow_forward[i])      ~= frames[i + 1]  where mask_forward[i] == 1
A mask is 1 where the pixel shows the same layer in both frames and stays inside the frame.

Sub-pixel accuracy. Warping interpolates bilinearly between the pixels of the other frame, which is
only exact for content that is smooth at the pixel scale: on a sharp edge, the interpolated value
sits between two very different pixels. So the frames are rendered band-limited: each photograph
is Gaussian-blurred with sigma = `blur` frame pixels and then sampled with `source_scale` source
pixels per frame pixel (by default 2: frames come from a twice larger source, with the blur as an
antialiasing filter, so they look like camera footage rather than an upsampled photo; large frames
get less, to fit the photograph). With the
defaults (blur=1.0) the ground-truth warp reproduces the visible pixels at 42 to 59 dB PSNR (about
100 clips of 32 x 32 to 256 x 256 measured, median 47 dB over training photographs and 51 dB over
test ones). A smaller blur gives sharper frames and a less exact warp: at 96 x 128, 41 to 53 dB
at blur 0.8, 37 to 49 dB at 0.6. Texture-rich photographs (motorcycle, gravel) sit at the low end.

Occlusion boundaries. Object edges are antialiased (a one-pixel ramp), and an edge pixel mixes two
layers, which no single flow can move. A pixel counts as valid only if it shows one layer alone and
the four pixels that bilinear warping reads in the other frame all show that same layer alone: the
occlusion boundary, eroded by about one pixel.

Motion. Camera and object positions follow sinusoids with random phases and periods (30 to 60
frames), so long clips stay over the photograph; `max_speed` is the top speed per axis in frame
pixels per frame (Vid4 and REDS move a few pixels per frame). Where the photograph is too small for
that sweep the sweep is shortened, so large frames over small photographs move more slowly."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skimage.filters import gaussian
from torch import Tensor

from srlab.checks import check_scale, check_tensor
from srlab.data.bundled import SPLITS, TEST_IMAGES, TRAIN_IMAGES, source_image
from srlab.io import to_tensor

_PERIODS = (30.0, 60.0)  # frames per cycle of every sinusoidal path


@dataclass
class SyntheticClip:
    """A rendered clip and its exact motion. t frames of h x w pixels:

    frames (t, 3, h, w) float32 in [0, 1];
    flow_forward, flow_backward (t-1, 2, h, w) float32, in pixels (channel 0 x, channel 1 y);
    mask_forward, mask_backward (t-1, 1, h, w) float32 in {0, 1}.
    flow_backward[i] and mask_backward[i] live on frame i's grid and point into frame i+1;
    flow_forward[i] and mask_forward[i] live on frame i+1's grid and point into frame i."""

    frames: Tensor
    flow_forward: Tensor
    flow_backward: Tensor
    mask_forward: Tensor
    mask_backward: Tensor

    def clone(self) -> SyntheticClip:
        return SyntheticClip(*(t.clone() for t in dataclasses.astuple(self)))

    def crop(self, num_frames: int, height: int, width: int) -> SyntheticClip:
        """The first num_frames frames, cut to their top-left height x width pixels; the flows
        and masks alike (a crop moves no pixel, so the flows stay exact)."""
        t, _, h, w = self.frames.shape
        if not (2 <= num_frames <= t and 1 <= height <= h and 1 <= width <= w):
            raise ValueError(
                f"crop({num_frames}, {height}, {width}) does not fit a clip of {t} frames of "
                f"{h}x{w} (at least 2 frames)"
            )
        pairs = slice(num_frames - 1)
        return SyntheticClip(
            self.frames[:num_frames, :, :height, :width].clone(),
            *(
                m[pairs, :, :height, :width].clone()
                for m in (
                    self.flow_forward,
                    self.flow_backward,
                    self.mask_forward,
                    self.mask_backward,
                )
            ),
        )

    def mean_motion(self) -> float:
        """How far the scene moves: the mean length of the forward flow over all pixels and
        frames, in HR pixels per frame (divide by the SR scale for LR pixels)."""
        return self.flow_forward.norm(dim=1).mean().item()


@dataclass
class _Layer:
    """One layer: the photograph it samples, the affine map of every frame, and its shape."""

    source: Tensor  # (3, hs, ws), blurred
    matrix: Tensor  # (t, 2, 2) float64: frame pixel (x, y) -> source point, linear part
    offset: Tensor  # (t, 2) float64: translation part
    shape: str = "background"  # "background" | "disc" | "rect"
    scale: float = 1.0  # objects: source pixels per frame pixel (the camera's zoom varies)
    centre: Tensor | None = None  # (2,) object centre in the source (x, y)
    half_size: tuple[float, float] = (0.0, 0.0)  # disc: (radius, radius); rect: half width, height


def _rotation(angle: np.ndarray) -> np.ndarray:
    """(t,) radians -> (t, 2, 2) rotation matrices."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _sway(rng: np.random.Generator, speed: float, limit: float, num_frames: int) -> np.ndarray:
    """A sinusoid over num_frames frames with top speed `speed` per frame and random period and
    phase; its amplitude is capped at `limit`, which lowers the speed when the room is short."""
    period = rng.uniform(*_PERIODS)
    amplitude = min(speed * period / (2 * math.pi), max(limit, 0.0))
    return amplitude * np.sin(
        2 * math.pi * np.arange(num_frames) / period + rng.uniform(0, 2 * math.pi)
    )


@functools.lru_cache(maxsize=16)
def _blurred_source(name: str, sigma: float) -> Tensor:
    """A bundled photograph, Gaussian-blurred with `sigma` source pixels: (3, hs, ws) float32.
    Cached and shared, so it is only ever read."""
    img = source_image(name).astype(np.float32) / 255.0
    if sigma > 0:
        img = gaussian(img, sigma=sigma, channel_axis=-1, mode="reflect", truncate=4.0)
    return to_tensor(img.clip(0, 1))


def _pixel_grid(h: int, w: int) -> Tensor:
    """(h, w, 2) frame pixel positions (x, y), float32."""
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    return torch.stack([xs, ys], -1)


def _map(matrix: Tensor, offset: Tensor, grid: Tensor) -> Tensor:
    """n affine maps applied to every pixel: matrix (n, 2, 2) and offset (n, 2), float64, grid
    (h, w, 2) -> (n, h, w, 2) float32. Maps are composed in float64; per pixel float32 suffices."""
    return torch.einsum("nij,hwj->nhwi", matrix.float(), grid) + offset.float()[:, None, None, :]


def _sample(source: Tensor, points: Tensor) -> Tensor:
    """Bilinear samples of source (3, hs, ws) at points (t, h, w, 2) in its pixels: (t, 3, h, w)."""
    hs, ws = source.shape[-2:]
    # grid_sample wants [-1, 1]; with align_corners=True, -1 and 1 are the edge pixels' centres
    grid = points / points.new_tensor([ws - 1, hs - 1]) * 2 - 1
    batch = source.unsqueeze(0).expand(len(points), -1, -1, -1)
    return F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _alpha(layer: _Layer, points: Tensor) -> Tensor:
    """Coverage of an object at each frame pixel, (t, h, w) in [0, 1]: 1 inside, 0 outside, a
    one-pixel linear ramp across the edge (antialiasing). points: its source points (t, h, w, 2)."""
    local = (points - layer.centre.float()) / layer.scale  # (t, h, w, 2) R(-phi_t)(p - o_t)
    if layer.shape == "disc":
        distance = torch.hypot(local[..., 0], local[..., 1]) - layer.half_size[0]
    else:  # signed distance to a rectangle, exact inside, a good enough ramp outside
        distance = (local.abs() - local.new_tensor(layer.half_size)).amax(-1)
    return (0.5 - distance).clamp(0.0, 1.0)


def _flow(layer: _Layer, grid: Tensor, src: slice, dst: slice) -> Tensor:
    """Flow of one layer from frames `src` to frames `dst` (pairwise), on the src frames' grids:
    q = M_dst^-1 (M_src p + b_src - b_dst), flow = q - p. Returns (n, h, w, 2) in pixels.
    flow = (C - I) p + d with C = M_dst^-1 M_src, d = M_dst^-1 (b_src - b_dst), composed in
    float64, so the small difference q - p is never taken between two large numbers."""
    inverse = torch.linalg.inv(layer.matrix[dst])
    compose = inverse @ layer.matrix[src] - torch.eye(2, dtype=torch.float64)
    shift = (inverse @ (layer.offset[src] - layer.offset[dst])[..., None])[..., 0]
    return _map(compose, shift, grid)


def _valid(labels: Tensor, flow: Tensor, src: slice, dst: slice) -> Tensor:
    """Mask (n, h, w) of the pixels of frames `src` that bilinear warping from frames `dst`
    restores: the pixel shows one layer alone (label >= 0), p + flow is inside the frame, and the
    four pixels around p + flow in frame dst show that same layer alone."""
    h, w = labels.shape[1:]
    label, target = labels[src], labels[dst].flatten(1)  # target: (n, h*w)
    qx, qy = (_pixel_grid(h, w) + flow).unbind(-1)
    valid = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1) & (label >= 0)
    x0 = qx.floor().long().clamp(0, w - 1)
    y0 = qy.floor().long().clamp(0, h - 1)
    x1, y1 = (x0 + 1).clamp(max=w - 1), (y0 + 1).clamp(max=h - 1)
    for ys, xs in ((y0, x0), (y0, x1), (y1, x0), (y1, x1)):
        read = target.gather(1, (ys * w + xs).flatten(1)).view_as(label)
        valid &= read == label
    return valid


def _camera(
    rng: np.random.Generator,
    source: Tensor,
    size: tuple[int, int],
    num_frames: int,
    *,
    scale: float,
    max_speed: float,
    max_rotation: float,
    max_zoom: float,
) -> _Layer:
    """The background's per-frame map: source point = c_t + z_t R(theta_t) (p - frame centre).
    The path is chosen so that every frame stays inside the source."""
    h, w = size
    hs, ws = source.shape[-2:]
    angle = _sway(rng, math.radians(max_rotation), math.inf, num_frames)
    zoom = scale * np.exp(_sway(rng, max_zoom, math.inf, num_frames))
    # Half extent in the source of each (rotated, zoomed) frame, and the room left for the sweep.
    half_x = zoom * ((w - 1) / 2 * np.abs(np.cos(angle)) + (h - 1) / 2 * np.abs(np.sin(angle)))
    half_y = zoom * ((w - 1) / 2 * np.abs(np.sin(angle)) + (h - 1) / 2 * np.abs(np.cos(angle)))
    room_x, room_y = ws - 1 - 2 * half_x.max(), hs - 1 - 2 * half_y.max()
    if room_x < 0 or room_y < 0:
        raise ValueError(
            f"frames of {h}x{w} at source_scale={scale} do not fit in the {hs}x{ws} source image; "
            "use smaller frames or a smaller source_scale"
        )
    speed = max_speed * scale  # frame pixels per frame -> source pixels per frame
    sweep_x = _sway(rng, speed * rng.uniform(0.5, 1.0), room_x / 2, num_frames)
    sweep_y = _sway(rng, speed * rng.uniform(0.5, 1.0), room_y / 2, num_frames)
    # Place the sweep anywhere it fits: lo <= c_t - half_t and c_t + half_t <= size - 1.
    cx = rng.uniform(np.max(half_x - sweep_x), np.min(ws - 1 - half_x - sweep_x)) + sweep_x
    cy = rng.uniform(np.max(half_y - sweep_y), np.min(hs - 1 - half_y - sweep_y)) + sweep_y
    matrix = zoom[:, None, None] * _rotation(angle)
    centre = np.array([(w - 1) / 2, (h - 1) / 2])
    offset = np.stack([cx, cy], -1) - matrix @ centre
    return _Layer(source, torch.from_numpy(matrix), torch.from_numpy(offset))


def _object(
    rng: np.random.Generator,
    source: Tensor,
    shape: str,
    size: tuple[int, int],
    num_frames: int,
    band: tuple[float, float],
    *,
    scale: float,
    max_speed: float,
    max_rotation: float,
) -> _Layer:
    """A disc or rectangle of texture that drifts across the frame and spins:
    source point = centre + scale R(-phi_t) (p - o_t), o_t its position in the frame.
    band: the horizontal strip of the frame (fractions of its width) that the path centres on."""
    h, w = size
    side = min(h, w)
    if shape == "disc":
        radius = rng.uniform(0.12, 0.2) * side
        half_size = (radius, radius)
    else:
        half_size = (rng.uniform(0.1, 0.22) * side, rng.uniform(0.1, 0.22) * side)
    # Paths sway around a point of the object's own strip, so objects start apart, mostly stay in
    # view, and still pass in front of each other now and then.
    lo, hi = band
    ox = rng.uniform(0.8 * lo + 0.2 * hi, 0.2 * lo + 0.8 * hi) * w
    oy = rng.uniform(0.3, 0.7) * h
    ox = ox + _sway(rng, max_speed * rng.uniform(0.5, 1), 0.25 * w, num_frames)
    oy = oy + _sway(rng, max_speed * rng.uniform(0.5, 1), 0.25 * h, num_frames)
    # Objects spin faster than the camera turns: tumbling objects are what flow estimators find hard
    spin = rng.uniform(-3, 3) * math.radians(max_rotation)
    angle = rng.uniform(0, 2 * math.pi) + spin * np.arange(num_frames)
    reach = (math.hypot(*half_size) + 2) * scale  # the object's extent in the source
    hs, ws = source.shape[-2:]
    if 2 * reach > min(hs, ws) - 1:
        raise ValueError(
            f"an object of {2 * reach:.0f} source pixels does not fit in a {hs}x{ws} texture; "
            "use smaller frames or a smaller source_scale"
        )
    centre = np.array([rng.uniform(reach, ws - 1 - reach), rng.uniform(reach, hs - 1 - reach)])
    matrix = scale * _rotation(-angle)
    offset = centre - np.einsum("tij,tj->ti", matrix, np.stack([ox, oy], -1))
    return _Layer(
        source,
        torch.from_numpy(matrix),
        torch.from_numpy(offset),
        shape,
        scale,
        torch.from_numpy(centre),
        half_size,
    )


def synthetic_video(
    seed: int,
    *,
    num_frames: int = 15,
    size: tuple[int, int] = (96, 128),
    split: str = "train",
    background: str | None = None,
    num_objects: int = 2,
    max_speed: float = 3.0,
    max_rotation: float = 0.5,
    max_zoom: float = 0.01,
    source_scale: float | None = None,
    blur: float = 1.0,
) -> SyntheticClip:
    """Render a synthetic clip with exact flows and occlusion masks (see the module docstring).

    seed: everything random (paths, objects, textures) follows from it; same seed, same clip.
    size: (h, w) of the HR frames; make it divisible by the SR scale (96 x 128 -> 24 x 32 at x4).
    split: which bundled photographs to use: "train" (default; keeps the test photographs unseen)
        or "test". background: one of them by name; by default the seed picks one. The objects'
        textures come from the split's other photographs.
    max_speed: top speed per axis in frame pixels per frame, of the camera and of each object.
    max_rotation: top camera rotation in degrees per frame (objects spin at up to 3x that).
    max_zoom: top zoom rate, relative change per frame.
    source_scale: source pixels per frame pixel; by default 2, or less (down to 1) for frames too
        large for the photograph to leave 30% of it for the camera's sweep.
    blur: Gaussian sigma in frame pixels (the sharpness vs warp-accuracy trade-off, see above).
    Returns a SyntheticClip: frames (t, 3, h, w), flows (t-1, 2, h, w), masks (t-1, 1, h, w)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    names = TEST_IMAGES if split == "test" else TRAIN_IMAGES
    if background is None:
        background = names[seed % len(names)]
    elif background not in names:
        raise ValueError(f"background must be a {split} image, one of {names}; got {background!r}")
    if num_frames < 2:
        raise ValueError(f"num_frames must be at least 2, got {num_frames}")
    h, w = size
    if min(h, w) < 8:
        raise ValueError(f"size must be at least 8 x 8, got {size}")
    if num_objects < 0:
        raise ValueError(f"num_objects must be >= 0, got {num_objects}")

    rng = np.random.default_rng(seed)
    if source_scale is None:
        hs, ws = source_image(background).shape[:2]
        source_scale = max(1.0, min(2.0, 0.7 * hs / h, 0.7 * ws / w))
    sigma = blur * source_scale  # frame pixels -> source pixels
    motion = dict(max_speed=max_speed, max_rotation=max_rotation)
    back = _blurred_source(background, sigma)
    layers = [_camera(rng, back, size, num_frames, scale=source_scale, max_zoom=max_zoom, **motion)]
    others = [name for name in names if name != background]
    for k in range(num_objects):
        texture = _blurred_source(others[rng.integers(len(others))], sigma)
        shape = ("disc", "rect")[k % 2]
        band = (k / num_objects, (k + 1) / num_objects)
        layers.append(
            _object(rng, texture, shape, size, num_frames, band, scale=source_scale, **motion)
        )

    # Composite back to front. labels: the layer a pixel shows alone, or -1 where an antialiased
    # edge mixes layers; owner: the layer that covers at least half the pixel (whose flow it gets).
    grid = _pixel_grid(h, w)
    points = _map(layers[0].matrix, layers[0].offset, grid)
    frames = _sample(layers[0].source, points)  # (t, 3, h, w)
    labels = torch.zeros(num_frames, h, w, dtype=torch.int64)
    owner = torch.zeros(num_frames, h, w, dtype=torch.int64)
    for k, layer in enumerate(layers[1:], start=1):
        points = _map(layer.matrix, layer.offset, grid)
        alpha = _alpha(layer, points)  # (t, h, w)
        a = alpha.unsqueeze(1)  # (t, 1, h, w)
        frames = frames * (1 - a) + _sample(layer.source, points) * a
        labels = torch.where(alpha == 1, k, torch.where(alpha > 0, -1, labels))
        owner = torch.where(alpha >= 0.5, k, owner)

    first, rest = slice(0, num_frames - 1), slice(1, num_frames)
    result = {}
    for direction, src, dst in (("backward", first, rest), ("forward", rest, first)):
        flow = _flow(layers[0], grid, src, dst)  # (t-1, h, w, 2)
        for k, layer in enumerate(layers[1:], start=1):  # each pixel moves with its owner
            flow = torch.where(owner[src, ..., None] == k, _flow(layer, grid, src, dst), flow)
        mask = _valid(labels, flow, src, dst)
        result[f"flow_{direction}"] = flow.permute(0, 3, 1, 2).contiguous()
        result[f"mask_{direction}"] = mask.float().unsqueeze(1)
    return SyntheticClip(frames=frames.clamp(0, 1).contiguous(), **result)


def downscale_flow(flow: Tensor, scale: int) -> Tensor:
    """HR flow (..., 2, H, W) in HR pixels -> flow on the LR grid (..., 2, H/s, W/s) in LR pixels.

    Each LR pixel is the mean of the flow over the s x s HR block it covers, divided by s. Why this
    is right for BI and BD LR frames: both centre LR pixel j on HR block j (MATLAB's imresize at HR
    position s*j + (s-1)/2; srlab's BD by its kernel anchor and sampling offset), and for a smooth
    (locally affine) motion the mean of the flow over a block is exactly its value at the block
    centre. Dividing by s converts HR pixels to LR pixels. Where a block straddles an occlusion
    boundary the mean blends two motions: bring masks down with a min-pool (an LR pixel is valid
    only if its whole block is), so those LR pixels are left out."""
    check_tensor(flow, "flow")
    check_scale(scale)
    if flow.dim() < 3 or flow.shape[-3] != 2:
        raise ValueError(f"flow must be (..., 2, H, W), got shape {tuple(flow.shape)}")
    h, w = flow.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"flow height and width must be divisible by scale={scale}, got {h}x{w}")
    low = F.avg_pool2d(flow.reshape(-1, 2, h, w), scale) / scale  # (n, 2, H/s, W/s)
    return low.reshape(*flow.shape[:-2], h // scale, w // scale)


# The bundled clips: (background, seed) of each; the seeds are arbitrary but fixed forever.
# Test clips are few and larger, like Vid4 (4 clips); training clips use every training photograph.
_TEST_CLIPS = {"astronaut": 0, "coffee": 1, "rocket": 2, "immunohistochemistry": 3}
_TEST_CLIP_SETTINGS = dict(num_frames=30, size=(144, 192))
_TRAIN_CLIP_SETTINGS = dict(num_frames=20, size=(144, 192))


@functools.lru_cache(maxsize=8)
def _bundled_videos(split: str, **render) -> dict[str, SyntheticClip]:
    if split == "test":
        settings = {**_TEST_CLIP_SETTINGS, **render}
        return {
            name: synthetic_video(seed, split="test", background=name, **settings)
            for name, seed in _TEST_CLIPS.items()
        }
    settings = {**_TRAIN_CLIP_SETTINGS, **render}
    return {
        name: synthetic_video(100 + k, split="train", background=name, **settings)
        for k, name in enumerate(TRAIN_IMAGES)
    }


def bundled_videos(split: str, **render) -> dict[str, SyntheticClip]:
    """Fixed synthetic clips (fixed seeds and photographs), named after the photograph the camera
    moves over. "test": 4 clips of 30 frames of 144 x 192 (LR 36 x 48 at x4) over the test
    photographs, like Vid4's 4 clips. "train": 7 clips of 20 frames of 144 x 192, one over each
    training photograph. Textures of the moving objects come from the same split, so the two sets
    share no photograph. Rendered once per process and setting (under a second per clip, once the
    photographs are loaded); callers get copies.

    render: synthetic_video keyword arguments that replace the defaults, e.g. max_speed=1.5 or
    num_frames=40: the same clips (same seeds, photographs and path shapes) with other motion
    statistics or lengths, so the amount of motion can be studied as a knob."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    fixed = {"seed", "split", "background"} & set(render)
    if fixed:
        raise ValueError(f"bundled clips fix {sorted(fixed)}; use synthetic_video for other ones")
    if "size" in render:
        render["size"] = tuple(render["size"])  # hashable, for the cache
    render = dict(sorted(render.items()))  # one cache entry per setting, whatever the order
    return {name: clip.clone() for name, clip in _bundled_videos(split, **render).items()}
