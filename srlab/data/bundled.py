"""Images that ship inside scikit-image's package, so srlab has data without downloading any.

Only pictures whose files are in the installed package are used (scikit-image fetches the others
with pooch, which needs the network). Two disjoint splits, chosen for variety of content:

test (5 colour photographs, centre-cropped to at most 384 x 384, the size of Set5/Set14 images):
    astronaut             portrait: skin, hair, a flag, flat suit regions with sharp edges
    chelsea               a cat's face: fine fur and whiskers, smooth eyes
    coffee                food on wood: smooth shading, specular highlights, wood grain
    rocket                a night scene: thin lattice towers, lights, a smooth sky
    immunohistochemistry  microscopy: dense cell texture in two stains
train (3 colour photographs and 4 greyscale ones, converted to RGB by repeating the channel):
    motorcycle_left, motorcycle_right  a garage scene (a stereo pair; both views stay in the train
                                       split, so no view of the scene can leak into the test set)
    retina                the inside of the fundus photograph (vessels on smooth tissue); the black
                          surround is cropped away because it is not image content
    brick, grass, gravel  natural textures, the hardest content for SR
    camera                the cameraman: a classic test image, here used for training

Left out: hubble_deep_field (almost all black sky), colorwheel and logo (synthetic graphics), and
the other greyscale images (text, page, coins, ...: document scans and small objects).

Every image is cropped to multiples of 12 in height and width, so x2, x3 and x4 all divide it and
an LR image times the scale is exactly the HR image. Images are loaded on first use and kept in
memory; callers always get their own copies."""

from __future__ import annotations

import functools

import numpy as np
import skimage.data
from skimage.color import gray2rgb

from srlab.io import mod_crop

SPLITS = ("test", "train")
TEST_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
TRAIN_IMAGES = (
    "motorcycle_left",
    "motorcycle_right",
    "retina",
    "brick",
    "grass",
    "gravel",
    "camera",
)

# (top, left, height, width) of the test crops: each keeps the picture's subject in view.
_TEST_CROPS = {
    "astronaut": (0, 0, 384, 384),
    "chelsea": (0, 36, 300, 384),
    "coffee": (0, 96, 384, 384),
    "rocket": (24, 120, 384, 384),
    "immunohistochemistry": (0, 0, 384, 384),
}
# The retina photograph is a disc on black: keep a square inside the disc (and away from its
# corner mark).
_RETINA_CROP = (300, 300, 816, 816)


def _crop(img: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    top, left, height, width = box
    return img[top : top + height, left : left + width]


def _check_split(split: str) -> tuple[str, ...]:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return TEST_IMAGES if split == "test" else TRAIN_IMAGES


@functools.cache
def _load(name: str) -> np.ndarray:
    if name == "motorcycle_left":
        img = skimage.data.stereo_motorcycle()[0]
    elif name == "motorcycle_right":
        img = skimage.data.stereo_motorcycle()[1]
    else:
        img = getattr(skimage.data, name)()
    if img.ndim == 2:
        img = gray2rgb(img)  # (h, w) -> (h, w, 3), the grey value in every channel
    if name == "retina":
        img = _crop(img, _RETINA_CROP)
    img = mod_crop(np.ascontiguousarray(img, dtype=np.uint8), 12)
    img.flags.writeable = False  # the cached array is shared: nobody may change it
    return img


def source_image(name: str) -> np.ndarray:
    """The whole picture behind a bundled image, before the test split's centre crop: uint8 RGB
    (h, w, 3), h and w multiples of 12. The canvas that `synthetic_video`'s camera moves over."""
    if name not in TEST_IMAGES + TRAIN_IMAGES:
        raise ValueError(
            f"unknown bundled image {name!r}; choose from {TEST_IMAGES + TRAIN_IMAGES}"
        )
    return _load(name).copy()


def bundled_images(split: str) -> dict[str, np.ndarray]:
    """The bundled images of one split ("test" or "train"): name -> uint8 RGB array (h, w, 3), with
    h and w multiples of 12. The splits share no picture (see the module docstring)."""
    names = _check_split(split)
    if split == "train":
        return {name: _load(name).copy() for name in names}
    return {name: _crop(_load(name), _TEST_CROPS[name]).copy() for name in names}
