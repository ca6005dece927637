"""Data without downloads, and loaders for the real benchmarks.

    bundled_images("test")          5 colour photographs shipped with scikit-image (train: 7 more)
    synthetic_video(seed)           a clip with exact optical flow and occlusion masks
    bundled_videos("test")          4 fixed synthetic clips over the test photographs
    PairedImageFolder, VideoFolder  Set5/DIV2K-style image pairs, Vid4/REDS-style clips on disk
    reds_split                      REDS on disk, split as BasicSR's REDS4 protocol (train / test)
    ImagePatches, VideoPatches      random aligned training patches (+ flips, + true LR flows)
    VideoFolderPatches              random training windows of real clips (REDS) on disk

Conventions: images are float tensors (3, h, w) in [0, 1] (uint8 HWC only at the edges, as
bundled_images returns them); flows are (..., 2, h, w) in pixels, channel 0 x, channel 1 y."""

from srlab.data.bundled import TEST_IMAGES, TRAIN_IMAGES, bundled_images, source_image
from srlab.data.folders import REDS4, PairedImageFolder, RedsSplit, VideoFolder, reds_split
from srlab.data.patches import (
    ImagePatches,
    VideoFolderPatches,
    VideoPatches,
    augment,
    random_crop_box,
    random_crop_pair,
)
from srlab.data.synthetic import SyntheticClip, bundled_videos, downscale_flow, synthetic_video

__all__ = [
    "TEST_IMAGES",
    "TRAIN_IMAGES",
    "ImagePatches",
    "PairedImageFolder",
    "REDS4",
    "RedsSplit",
    "SyntheticClip",
    "VideoFolder",
    "VideoFolderPatches",
    "VideoPatches",
    "augment",
    "bundled_images",
    "bundled_videos",
    "downscale_flow",
    "random_crop_box",
    "random_crop_pair",
    "reds_split",
    "source_image",
    "synthetic_video",
]
