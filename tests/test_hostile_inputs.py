"""Hostile inputs across the public API: no silent wrong result, and every error names its argument
or its file (issue 12). Each case is (call, the exception, a pattern the message must match); the
pattern holds the argument's or the file's name, so an error that does not say where the problem
is fails the test. Tiny tensors and models: the whole module runs in seconds."""

# ruff: noqa: E501  (CASES is a table, one case per line)

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest
import torch
from PIL import Image

from srlab import checkpoints, checks, degradations, evaluate, io, metrics
from srlab.archs import build, load_model
from srlab.data import ImagePatches, PairedImageFolder
from srlab.infer import upscale
from srlab.train import TrainConfig, pixel_loss, train

IMG = torch.rand(3, 16, 16)
NAN_IMG = IMG.clone().index_put_(
    (torch.tensor(0), torch.tensor(3), torch.tensor(5)), torch.tensor(math.nan)
)


def tiny_edsr(**kwargs):
    return build("edsr", num_feat=4, num_block=1, upscale=2, **kwargs)


def write_png(path, size=(12, 12)) -> None:
    Image.fromarray(np.zeros((*size, 3), np.uint8)).save(path)


def truncated_png(path) -> None:
    write_png(path, (64, 64))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def saved_edsr(tmp, **kwargs):
    path = tmp / "edsr.pth"
    checkpoints.save(path, tiny_edsr(**kwargs))
    return path


def raw_file(tmp, name: str, data: bytes):
    (tmp / name).write_bytes(data)
    return tmp / name


class Payload:
    """An object a pickle would rebuild by calling a function: never allowed on load."""

    def __reduce__(self):
        return (print, ("code ran",))


def pickled_checkpoint(tmp):
    torch.save({"params": tiny_edsr().state_dict(), "hook": Payload()}, tmp / "pickled.pth")
    return tmp / "pickled.pth"


def truncated_checkpoint(tmp):
    path = saved_edsr(tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


# (id, call(tmp_path), exception, pattern the message must match)
CASES = [
    # --- checks: the shared validators --------------------------------------------------------
    ("int-bool", lambda t: checks.check_int(True, "num_feat"), ValueError, "num_feat must be an integer"),
    ("int-float", lambda t: checks.check_int(2.0, "num_feat"), ValueError, "num_feat"),
    ("int-str", lambda t: checks.check_int("4", "num_feat"), ValueError, "num_feat"),
    ("int-none", lambda t: checks.check_int(None, "iters", low=1), ValueError, "iters"),
    ("int-low", lambda t: checks.check_int(-1, "num_block", low=0), ValueError, r"num_block must be an integer >= 0, got -1"),
    ("int-high", lambda t: checks.check_int(101, "quality", low=1, high=100), ValueError, r"quality must be an integer in \[1, 100\]"),
    ("float-nan", lambda t: checks.check_float(math.nan, "lr"), ValueError, "lr must be a finite number"),
    ("float-inf", lambda t: checks.check_float(math.inf, "lr"), ValueError, "lr must be a finite number"),
    ("float-bool", lambda t: checks.check_float(True, "lr"), ValueError, "lr"),
    ("float-str", lambda t: checks.check_float("1e-3", "lr"), ValueError, "lr"),
    ("float-open-low", lambda t: checks.check_float(0.0, "lr", low=0, low_open=True), ValueError, "lr must be > 0"),
    ("finite-nan", lambda t: checks.check_finite(NAN_IMG, "lq"), ValueError, r"lq contains NaN or Inf \(1 of"),
    ("scale-negative", lambda t: checks.check_scale(-2), ValueError, "scale must be one of"),
    ("image-hwc", lambda t: checks.check_image(torch.rand(16, 16, 3), "lq"), ValueError, "lq must have 3 channels"),
    ("image-empty", lambda t: checks.check_image(torch.rand(3, 0, 4), "lq"), ValueError, "lq is empty"),
    ("image-nan", lambda t: checks.check_image(NAN_IMG, "lq"), ValueError, "lq contains NaN"),
    ("image-255", lambda t: checks.check_image(IMG * 255, "lq"), ValueError, "lq .*0-255"),
    ("image-int", lambda t: checks.check_image(torch.ones(3, 4, 4, dtype=torch.int64), "lq"), TypeError, "lq must be a float"),
    ("video-4d", lambda t: checks.check_video(torch.rand(2, 3, 8, 8), "lqs"), ValueError, r"lqs must be a video batch"),
    # --- io: conversions, files ---------------------------------------------------------------
    ("to_tensor-list", lambda t: io.to_tensor([[0, 1]]), TypeError, "img must be a numpy array"),
    ("to_tensor-chw", lambda t: io.to_tensor(np.zeros((3, 8, 8), np.uint8)), ValueError, r"img must be RGB \(h, w, 3\)"),
    ("to_tensor-empty", lambda t: io.to_tensor(np.zeros((0, 8, 3), np.uint8)), ValueError, "img is empty"),
    ("to_tensor-int32", lambda t: io.to_tensor(np.zeros((8, 8, 3), np.int32)), TypeError, "img must be uint8"),
    ("to_tensor-float255", lambda t: io.to_tensor(np.full((8, 8, 3), 200.0)), ValueError, "img .*0-255"),
    ("to_tensor-nan", lambda t: io.to_tensor(np.full((8, 8, 3), np.nan, np.float32)), ValueError, "img contains NaN"),
    ("to_uint8-0-255", lambda t: io.to_uint8(IMG * 255), ValueError, "x must lie in .*0-255 image"),
    ("to_uint8-negative", lambda t: io.to_uint8(IMG - 1), ValueError, r"x must lie in \[0, 1\]"),
    ("to_uint8-empty", lambda t: io.to_uint8(torch.rand(3, 0, 4)), ValueError, "x is empty"),
    ("to_uint8-nan", lambda t: io.to_uint8(NAN_IMG), ValueError, "x contains NaN"),
    ("to_uint8-uint8", lambda t: io.to_uint8(torch.zeros(3, 4, 4, dtype=torch.uint8)), TypeError, "x must be a float"),
    ("to_uint8-hwc", lambda t: io.to_uint8(torch.rand(8, 8, 3)), ValueError, r"x must be \(3, h, w\)"),
    ("mod_crop-negative", lambda t: io.mod_crop(IMG, -2), ValueError, "scale must be an integer >= 1"),
    ("mod_crop-zero", lambda t: io.mod_crop(IMG, 0), ValueError, "scale must be an integer >= 1"),
    ("mod_crop-float", lambda t: io.mod_crop(IMG, 2.5), ValueError, "scale must be an integer"),
    ("mod_crop-bool", lambda t: io.mod_crop(IMG, True), ValueError, "scale must be an integer"),
    ("mod_crop-too-big", lambda t: io.mod_crop(IMG, 32), ValueError, "img is 16x16, smaller than scale=32"),
    ("mod_crop-hwc-tensor", lambda t: io.mod_crop(torch.rand(16, 16, 3), 2), ValueError, "img .* looks like HWC"),
    ("mod_crop-chw-array", lambda t: io.mod_crop(np.zeros((3, 16, 16)), 2), ValueError, "img .* looks like CHW"),
    ("mod_crop-list", lambda t: io.mod_crop([[1, 2]], 2), TypeError, "img must be a numpy"),
    ("mod_crop-1d", lambda t: io.mod_crop(torch.rand(16), 2), ValueError, r"img must be a \(\.\.\., h, w\)"),
    ("imread-missing", lambda t: io.imread(t / "nope.png"), FileNotFoundError, "nope.png does not exist"),
    ("imread-truncated", lambda t: io.imread(truncated_png(t / "cut.png") or t / "cut.png"), ValueError, "cannot read image .*cut.png"),
    ("imread-not-an-image", lambda t: io.imread(raw_file(t, "text.png", b"hello")), ValueError, "cannot read image .*text.png"),
    ("imread-empty-file", lambda t: io.imread(raw_file(t, "empty.png", b"")), ValueError, "empty.png"),
    ("read_images-missing", lambda t: io.read_images(t / "none"), FileNotFoundError, "image folder .*none does not exist"),
    ("read_images-no-match", lambda t: io.read_images(t), ValueError, r"holds no file matching '\*.png'"),
    ("read_images-truncated", lambda t: (truncated_png(t / "a.png"), io.read_images(t)), ValueError, "cannot read image .*a.png"),
    ("imwrite-extension", lambda t: io.imwrite(t / "a.xyz", IMG), ValueError, "unknown image extension .*a.xyz"),
    ("imwrite-0-255", lambda t: io.imwrite(t / "a.png", IMG * 255), ValueError, "0-255"),
    ("write_json-inf", lambda t: io.write_json(t / "r.json", {"psnr": [1.0, math.inf]}), ValueError, r"obj\['psnr'\]\[1\] is inf"),
    # --- degradations ---------------------------------------------------------------------------
    ("imresize-hwc", lambda t: degradations.imresize(torch.rand(16, 16, 3), 0.5), ValueError, "x .* looks like HWC"),
    ("imresize-batch-hwc", lambda t: degradations.imresize(torch.rand(2, 16, 16, 3), 0.5), ValueError, "looks like HWC"),
    ("imresize-nan", lambda t: degradations.imresize(NAN_IMG, 0.5), ValueError, "x contains NaN or Inf"),
    ("imresize-inf", lambda t: degradations.imresize(IMG.clone().fill_(math.inf), 2), ValueError, "x contains NaN or Inf"),
    ("imresize-huge-scale", lambda t: degradations.imresize(IMG, 1e5), ValueError, r"scale=100000.0 would resize x .* MAX_RESIZE_ELEMENTS"),
    ("imresize-huge-scale-matrix", lambda t: degradations.imresize(torch.rand(1, 1, 4000), 1e6), ValueError, "scale=.* would resize"),
    ("imresize-zero-scale", lambda t: degradations.imresize(IMG, 0), ValueError, "scale must be a positive finite"),
    ("imresize-negative-scale", lambda t: degradations.imresize(IMG, -0.5), ValueError, "scale must be a positive finite"),
    ("imresize-nan-scale", lambda t: degradations.imresize(IMG, math.nan), ValueError, "scale must be a positive finite"),
    ("imresize-inf-scale", lambda t: degradations.imresize(IMG, math.inf), ValueError, "scale must be a positive finite"),
    ("imresize-bool-scale", lambda t: degradations.imresize(IMG, True), ValueError, "scale must be"),
    ("imresize-uint8", lambda t: degradations.imresize(torch.zeros(3, 8, 8, dtype=torch.uint8), 2), TypeError, "x must be a float"),
    ("imresize-empty", lambda t: degradations.imresize(torch.rand(3, 0, 8), 2), ValueError, "x must be a non-empty"),
    ("imresize-2d", lambda t: degradations.imresize(torch.rand(8, 8), 2), ValueError, r"x must be a non-empty \(\.\.\., c, h, w\)"),
    ("imresize-numpy-uint8", lambda t: degradations.imresize(np.zeros((8, 8, 3), np.uint8), 2), TypeError, "x must be a float array"),
    ("imresize-numpy-2d", lambda t: degradations.imresize(np.zeros((8, 8)), 2), ValueError, r"a numpy x must be an HWC"),
    ("degrade-nan", lambda t: degradations.degrade(NAN_IMG, 2), ValueError, "hr contains NaN"),
    ("degrade-kind", lambda t: degradations.degrade(IMG, 2, "bicubic"), ValueError, "kind must be 'BI' or 'BD'"),
    ("degrade-scale-5", lambda t: degradations.degrade(IMG, 5), ValueError, "scale must be one of"),
    ("degrade-indivisible", lambda t: degradations.degrade(torch.rand(3, 15, 16), 2), ValueError, "hr height and width must be divisible by scale=2.*mod_crop"),
    ("degrade-empty", lambda t: degradations.degrade(torch.rand(3, 0, 16), 2), ValueError, "hr is empty"),
    ("bd-sigma-nan", lambda t: degradations.bd_degrade(IMG, 2, sigma=math.nan), ValueError, "sigma"),
    ("bd-sigma-negative", lambda t: degradations.bd_degrade(IMG, 2, sigma=-1.0), ValueError, "sigma"),
    ("noise-sigma-255", lambda t: degradations.add_gaussian_noise(IMG, 25), ValueError, r"sigma must be a number in \[0, 1\] \(not 0-255"),
    ("noise-sigma-nan", lambda t: degradations.add_gaussian_noise(IMG, math.nan), ValueError, "sigma"),
    ("jpeg-quality-0", lambda t: degradations.jpeg_compress(IMG, 0), ValueError, r"quality must be an integer in \[1, 100\]"),
    ("jpeg-quality-float", lambda t: degradations.jpeg_compress(IMG, 90.0), ValueError, "quality must be an integer"),
    ("jpeg-nan", lambda t: degradations.jpeg_compress(NAN_IMG, 90), ValueError, "x contains NaN"),
    # --- metrics --------------------------------------------------------------------------------
    ("psnr-nan", lambda t: metrics.psnr(NAN_IMG, IMG, crop_border=0, y_channel=True), ValueError, "sr contains NaN"),
    ("psnr-shapes", lambda t: metrics.psnr(IMG, IMG[:, :8], crop_border=0, y_channel=True), ValueError, "sr and hr must have the same shape"),
    ("psnr-crop-too-big", lambda t: metrics.psnr(IMG, IMG, crop_border=8, y_channel=True), ValueError, "crop_border"),
    ("psnr-crop-negative", lambda t: metrics.psnr(IMG, IMG, crop_border=-1, y_channel=True), ValueError, "crop_border must be an integer >= 0"),
    ("psnr-y-channel-str", lambda t: metrics.psnr(IMG, IMG, crop_border=0, y_channel="yes"), TypeError, "y_channel must be True or False"),
    ("psnr-255", lambda t: metrics.psnr(IMG * 255, IMG * 255, crop_border=0, y_channel=True), ValueError, "sr .*0-255"),
    ("ssim-hwc", lambda t: metrics.ssim(torch.rand(16, 16, 3), torch.rand(16, 16, 3), crop_border=0, y_channel=True), ValueError, "sr must have 3 channels"),
    # --- archs: build and its rules -------------------------------------------------------------
    ("build-int-name", lambda t: build(123), TypeError, "name must be a preset or an arch name"),
    ("build-none-name", lambda t: build(None), TypeError, "name must be"),
    ("build-unknown", lambda t: build("edsr_x5"), ValueError, "unknown model 'edsr_x5'"),
    ("build-unknown-arg", lambda t: build("edsr", num_feats=4), TypeError, "unknown argument.*num_feats"),
    ("build-negative-num-feat", lambda t: build("edsr", num_feat=-4), ValueError, "EDSR num_feat must be an integer >= 1, got -4"),
    ("build-zero-num-feat", lambda t: build("edsr", num_feat=0), ValueError, "EDSR num_feat must be an integer >= 1"),
    ("build-float-num-block", lambda t: build("edsr", num_block=2.5), ValueError, "EDSR num_block must be an integer >= 0"),
    ("build-negative-num-block", lambda t: build("rcan", num_block=-1), ValueError, "RCAN num_block"),
    ("build-str-upscale", lambda t: build("msrresnet", upscale="4"), ValueError, "MSRResNet upscale must be an integer"),
    ("build-bool-num-feat", lambda t: build("rrdbnet", num_feat=True), ValueError, "RRDBNet num_feat must be an integer"),
    ("build-rcan-ca-no-channels", lambda t: build("rcan", num_feat=8, squeeze_factor=16), ValueError, r"channel attention squeezes num_feat=8 .*squeeze_factor=16"),
    ("build-rcan-squeeze-zero", lambda t: build("rcan", squeeze_factor=0), ValueError, "RCAN squeeze_factor must be an integer >= 1"),
    ("build-edvr-groups", lambda t: build("edvr", num_feat=12), ValueError, r"num_feat=12 .*deformable_groups=8"),
    ("build-edvr-groups-zero", lambda t: build("edvr", deformable_groups=0), ValueError, "EDVR deformable_groups must be an integer >= 1"),
    ("build-edvr-centre", lambda t: build("edvr", num_feat=8, center_frame_idx=7), ValueError, "center_frame_idx"),
    ("build-iconvsr-groups", lambda t: build("iconvsr", num_feat=12, num_block=1), ValueError, r"IconVSR's refill .*num_feat=12"),
    ("build-iconvsr-padding", lambda t: build("iconvsr", temporal_padding=-1), ValueError, "IconVSR temporal_padding must be an integer >= 0"),
    ("build-basicvsr-zero-feat", lambda t: build("basicvsr", num_feat=0), ValueError, "BasicVSR num_feat must be an integer >= 1"),
    ("build-basicvsr-propagation", lambda t: build("basicvsr", propagation="both"), ValueError, "propagation must be one of"),
    ("build-upscale-5", lambda t: build("edsr", upscale=5), ValueError, "5"),
    ("build-discriminator-size", lambda t: build("vgg_discriminator", input_size=100), ValueError, "input_size must be 32, 64, 128 or 256"),
    ("model-hwc-input", lambda t: tiny_edsr()(torch.rand(1, 16, 16, 3)), ValueError, "3 channels"),
    ("model-nan-input", lambda t: tiny_edsr()(NAN_IMG[None]), ValueError, "NaN"),
    ("basicvsr-one-frame", lambda t: build("basicvsr", num_feat=4, num_block=1)(torch.rand(1, 1, 3, 8, 8)), ValueError, "lqs must have at least 2 frames"),
    ("basicvsr-segments", lambda t: build("basicvsr", num_feat=4, num_block=1, alignment="none")(torch.rand(1, 3, 3, 8, 8), segments=0), ValueError, "segments must be an integer >= 1"),
    # --- checkpoints: one reader, errors that name the file -------------------------------------
    ("read-missing", lambda t: checkpoints.read(t / "none.pth"), FileNotFoundError, "checkpoint .*none.pth does not exist"),
    ("read-folder", lambda t: checkpoints.read(t), FileNotFoundError, "is a folder"),
    ("read-empty", lambda t: checkpoints.read(raw_file(t, "empty.pth", b"")), ValueError, "checkpoint .*empty.pth is empty .*Write it again"),
    ("read-truncated", lambda t: checkpoints.read(truncated_checkpoint(t)), ValueError, "cannot read checkpoint .*edsr.pth .*truncated"),
    ("read-garbage", lambda t: checkpoints.read(raw_file(t, "junk.pth", b"hello world" * 10)), ValueError, "cannot read checkpoint .*junk.pth"),
    ("read-head-only", lambda t: checkpoints.read(raw_file(t, "head.pth", saved_edsr(t).read_bytes()[:100])), ValueError, "cannot read checkpoint .*head.pth"),
    ("read-pickled", lambda t: checkpoints.read(pickled_checkpoint(t)), pickle.UnpicklingError, "refusing to load .*pickled.pth.*weights alone"),
    ("read-a-list", lambda t: (torch.save([1, 2], t / "list.pth"), checkpoints.read(t / "list.pth")), ValueError, "checkpoint .*list.pth holds a list, not a dict"),
    ("read-int-path", lambda t: checkpoints.read(3), TypeError, "path must be a file path"),
    ("load-truncated", lambda t: checkpoints.load(tiny_edsr(), truncated_checkpoint(t)), ValueError, "edsr.pth"),
    ("load-pickled", lambda t: checkpoints.load(tiny_edsr(), pickled_checkpoint(t)), pickle.UnpicklingError, "pickled.pth"),
    ("load-other-model", lambda t: checkpoints.load(build("edsr", num_feat=8, num_block=1, upscale=2), saved_edsr(t)), checkpoints.CheckpointMismatchError, r"checkpoint .*edsr.pth does not match EDSR.*conv_first.weight checkpoint \(4, 3, 3, 3\) vs model \(8, 3, 3, 3\)"),
    ("load-missing-key", lambda t: checkpoints.load(tiny_edsr(), {"params": {"x": torch.zeros(1)}}), checkpoints.CheckpointMismatchError, "missing .*conv_first.weight"),
    ("load-param-key", lambda t: checkpoints.load(tiny_edsr(), saved_edsr(t), param_key="params_ema"), KeyError, r"edsr.pth: checkpoint has no 'params_ema'"),
    ("load-not-state-dict", lambda t: checkpoints.load(tiny_edsr(), {"weights": [1, 2]}), ValueError, "not a state_dict"),
    ("load_model-truncated", lambda t: load_model(truncated_checkpoint(t)), ValueError, "cannot read checkpoint .*edsr.pth"),
    ("load_model-pickled", lambda t: load_model(pickled_checkpoint(t)), pickle.UnpicklingError, "pickled.pth"),
    ("load_model-empty", lambda t: load_model(raw_file(t, "e.pth", b"")), ValueError, "e.pth is empty"),
    ("load_model-basicsr", lambda t: (torch.save({"params": tiny_edsr().state_dict()}, t / "b.pth"), load_model(t / "b.pth")), ValueError, "b.pth is not an srlab checkpoint"),
    ("load_model-unknown-arch", lambda t: (torch.save({"params": {}, "srlab": {"arch": "duf9", "kwargs": {}}}, t / "u.pth"), load_model(t / "u.pth")), ValueError, "u.pth holds a 'duf9' model"),
    ("load_model-bad-kwargs", lambda t: (torch.save({"params": {}, "srlab": {"arch": "edsr", "kwargs": {"num_feat": -1}}}, t / "k.pth"), load_model(t / "k.pth")), ValueError, "k.pth: cannot rebuild its 'edsr' model: EDSR num_feat"),
    ("load_model-wrong-weights", lambda t: (torch.save({"params": {}, "srlab": {"arch": "edsr", "kwargs": {}}}, t / "w.pth"), load_model(t / "w.pth")), checkpoints.CheckpointMismatchError, "checkpoint .*w.pth does not match EDSR"),
    ("save-arch-not-str", lambda t: checkpoints.save(t / "a.pth", tiny_edsr(), arch=3), TypeError, "arch must be a model name"),
    ("save-no-arch", lambda t: checkpoints.save(t / "a.pth", torch.nn.Conv2d(3, 3, 1)), ValueError, "save needs arch="),
    # --- training: config, loss, data ------------------------------------------------------------
    ("config-lr-inf", lambda t: TrainConfig(lr=math.inf), ValueError, "lr must be a finite number"),
    ("config-lr-nan", lambda t: TrainConfig(lr=math.nan), ValueError, "lr must be a finite number"),
    ("config-lr-negative", lambda t: TrainConfig(lr=-1e-3), ValueError, "lr must be > 0"),
    ("config-lr-zero", lambda t: TrainConfig(lr=0), ValueError, "lr must be > 0"),
    ("config-lr-str", lambda t: TrainConfig(lr="1e-3"), ValueError, "lr must be a finite number"),
    ("config-eta-min-nan", lambda t: TrainConfig(eta_min=math.nan), ValueError, "eta_min"),
    ("config-gamma-inf", lambda t: TrainConfig(gamma=math.inf), ValueError, "gamma"),
    ("config-weight-decay-negative", lambda t: TrainConfig(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    ("config-lr-mul-inf", lambda t: TrainConfig(lr_mul=(("spynet.", math.inf),)), ValueError, r"lr_mul\['spynet.'\] must be a finite"),
    ("config-lr-mul-zero", lambda t: TrainConfig(lr_mul=(("spynet.", 0.0),)), ValueError, r"lr_mul\['spynet.'\] must be > 0"),
    ("config-eps-nan", lambda t: TrainConfig(charbonnier_eps=math.nan), ValueError, "charbonnier_eps"),
    ("config-iters-bool", lambda t: TrainConfig(iters=True), ValueError, "iters must be an integer >= 1"),
    ("config-seed-negative", lambda t: TrainConfig(seed=-1), ValueError, "seed must be an integer >= 0"),
    ("config-batch-float", lambda t: TrainConfig(batch_size=8.0), ValueError, "batch_size must be an integer"),
    ("pixel-loss-kind", lambda t: pixel_loss(IMG, IMG, "l2"), ValueError, "kind must be one of"),
    ("pixel-loss-shapes", lambda t: pixel_loss(IMG, IMG[:, :8], "l1"), ValueError, "pred and target must have the same shape"),
    # --- data: folders name the offending file ------------------------------------------------
    ("folder-missing", lambda t: PairedImageFolder(t / "none", scale=2), FileNotFoundError, "none is not a folder"),
    ("folder-truncated-png", lambda t: (write_png(t / "a.png"), truncated_png(t / "b.png"), PairedImageFolder(t, scale=2)[1]), ValueError, "cannot read image .*b.png"),
    ("folder-not-an-image", lambda t: (raw_file(t, "a.png", b"text"), PairedImageFolder(t, scale=2)[0]), ValueError, "a.png"),
    ("folder-image-smaller-than-scale", lambda t: (write_png(t / "tiny.png", (2, 2)), PairedImageFolder(t, scale=4)[0]), ValueError, "tiny.png: img is 2x2, smaller than scale=4"),
    ("folder-scale", lambda t: PairedImageFolder(t, scale=0), ValueError, "scale must be one of"),
    ("patches-size-zero", lambda t: ImagePatches({"a": np.zeros((16, 16, 3), np.uint8)}, scale=2, patch_size=0), ValueError, "patch_size must be an integer >= 1"),
    ("patches-degradation", lambda t: ImagePatches({"a": np.zeros((16, 16, 3), np.uint8)}, scale=2, patch_size=4, degradation="x"), ValueError, "degradation must be 'BI' or 'BD'"),
    # --- evaluation and reporting ----------------------------------------------------------------
    ("ci-nan", lambda t: evaluate.confidence_interval([0.1, math.nan]), ValueError, r"differences\[1\] = nan"),
    ("ci-level", lambda t: evaluate.confidence_interval([0.1, 0.2], level=95), ValueError, r"level must lie in \(0, 1\)"),
    ("effect-inf", lambda t: evaluate.effect([math.inf, 0.1], 1.0), ValueError, r"differences\[0\] = inf"),
    ("verdict-paper-zero", lambda t: evaluate.verdict([0.1, 0.2], 0.0), ValueError, "paper_difference must be a non-zero"),
    ("paired-lengths", lambda t: evaluate.paired_differences([1.0, 2.0], [1.0]), ValueError, "one number per seed"),
    ("paired-effect-nan", lambda t: evaluate.paired_effect([1.0, math.nan], [1.0, 1.0], 1.0), ValueError, r"differences\[1\] = nan"),
    ("mean-std-empty", lambda t: evaluate.mean_std([]), ValueError, "values is empty"),
    ("count-verdicts-unknown", lambda t: evaluate.count_verdicts([{"verdict": "held"}]), ValueError, r"rows\[0\] has verdict 'held'"),
    ("table-row-length", lambda t: evaluate.markdown_table(["a", "b"], [[1]]), ValueError, r"rows\[0\] has 1 cells, the header 2"),
    ("table-align", lambda t: evaluate.markdown_table(["a", "b"], [], align="lc"), ValueError, "align must give 'l' or 'r'"),
    ("table-pipe", lambda t: evaluate.markdown_table(["a"], [["x | y"]]), ValueError, r"rows\[0\] has a cell with '\|'"),
    ("evaluate-pair-nan", lambda t: evaluate.evaluate_bicubic({"a": (NAN_IMG[:, :8, :8], IMG)}, scale=2, crop_border=2, y_channel=True), ValueError, r"pairs\['a'\] lq contains NaN"),
    ("evaluate-pair-size", lambda t: evaluate.evaluate_bicubic({"a": (IMG, IMG)}, scale=2, crop_border=2, y_channel=True), ValueError, r"pairs\['a'\]: gt must be lq's size times scale=2"),
    ("upscale-tile-zero", lambda t: upscale(tiny_edsr(), IMG, tile=0), ValueError, "tile must be an integer >= 1"),
    ("upscale-nan", lambda t: upscale(tiny_edsr(), NAN_IMG), ValueError, "NaN"),
]  # fmt: skip


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_with_a_message_that_names_it(call, exc, pattern, tmp_path):
    with pytest.raises(exc) as err:
        call(tmp_path)
    message = str(err.value.args[0]) if err.value.args else str(err.value)
    assert re.search(pattern, message, re.S), f"{type(err.value).__name__}: {message}"


def test_the_cases_have_distinct_names():
    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)) and len(names) >= 100


# --- what a silent wrong result looked like, now stopped ------------------------------------------


class Pairs(torch.utils.data.Dataset):
    """A few fixed {"lq", "gt"} pairs for a x2 EDSR."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.lq = torch.rand(4, 3, 6, 6, generator=g)
        self.gt = torch.rand(4, 3, 12, 12, generator=g)

    def __len__(self):
        return len(self.lq)

    def __getitem__(self, i):
        return {"lq": self.lq[i], "gt": self.gt[i]}


class NanEverywhere(Pairs):
    """Every target holds a NaN."""

    def __init__(self):
        super().__init__()
        self.gt[:, 0, 0, 0] = math.nan


@pytest.mark.parametrize("loss", ["l1", "mse", "charbonnier"])
def test_a_nan_target_stops_training_before_the_step_and_keeps_the_last_checkpoint(tmp_path, loss):
    cfg = dict(iters=4, batch_size=1, lr=1e-3, loss=loss, progress=False, ckpt_every=1)
    torch.manual_seed(0)
    model = tiny_edsr()
    train(model, Pairs(), TrainConfig(**cfg, out_dir=str(tmp_path), seed=0), stop_after=2)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    saved = checkpoints.read(tmp_path / "latest.pth")
    # Every sample has a NaN target now: the third iteration's loss is NaN.
    with pytest.raises(FloatingPointError, match=r"loss is nan at iteration 3.*batch\['gt'\]"):
        train(
            model, NanEverywhere(), TrainConfig(**cfg, out_dir=str(tmp_path), seed=0), resume=True
        )
    for k, v in model.state_dict().items():  # the step never ran
        assert torch.equal(v, good[k]), k
    after = checkpoints.read(tmp_path / "latest.pth")
    assert after["iter"] == saved["iter"] == 2
    for k, v in after["params"].items():
        assert torch.equal(v, saved["params"][k]), k


def test_a_diverging_model_is_named_as_such(tmp_path):
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.tensor(1.0))

        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=2) * self.w * math.inf

    with pytest.raises(FloatingPointError, match="iteration 1: .*inputs are finite.*lower the lr"):
        train(Exploding(), Pairs(), TrainConfig(iters=2, batch_size=1, progress=False))


def test_resuming_a_different_model_names_the_keys_and_the_file(tmp_path):
    cfg = TrainConfig(iters=2, batch_size=1, progress=False, out_dir=str(tmp_path))
    train(tiny_edsr(), Pairs(), cfg, stop_after=1)
    other = build("edsr", num_feat=8, num_block=1, upscale=2)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r"(?s)latest.pth does not match EDSR.*\(4, 3, 3, 3\) vs model \(8, 3, 3, 3\)"):  # fmt: skip
        train(other, Pairs(), cfg, resume=True)


def test_resuming_from_a_pickled_or_truncated_file_says_so(tmp_path):
    cfg = TrainConfig(iters=2, batch_size=1, progress=False, out_dir=str(tmp_path))
    torch.save({"iter": 1, "model": Payload()}, tmp_path / "latest.pth")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load .*latest.pth"):
        train(tiny_edsr(), Pairs(), cfg, resume=True)
    (tmp_path / "latest.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="latest.pth is empty"):
        train(tiny_edsr(), Pairs(), cfg, resume=True)
    torch.save({"params": tiny_edsr().state_dict()}, tmp_path / "latest.pth")
    with pytest.raises(ValueError, match="latest.pth: it is not a training checkpoint"):
        train(tiny_edsr(), Pairs(), cfg, resume=True)


def test_a_stale_temporary_file_of_a_killed_write_is_removed(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)  # fmt: skip
    stale = tmp_path / f".latest.pth.{int(dead.stdout)}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    alive = tmp_path / f".latest.pth.{__import__('os').getpid()}.def456.tmp"  # this process: kept
    alive.write_bytes(b"being written")
    other = tmp_path / ".other.pth.1.x.tmp"  # another file's temporary: not ours to judge
    other.write_bytes(b"")
    io.torch_save(tmp_path / "latest.pth", {"w": torch.zeros(1)})
    assert not stale.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.glob(".latest.pth.*.tmp")) == [alive.name]
