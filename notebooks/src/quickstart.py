# %% [markdown]
# # srlab quickstart: the embedded data, BI vs BD, and the bicubic floor
#
# This notebook tours what every other notebook builds on:
#
# 1. the **embedded data**: colour photographs that scikit-image ships, and synthetic video with
#    exactly known optical flow (nothing is downloaded, ever);
# 2. the two benchmark **degradations**: BI (MATLAB bicubic downsampling, as in EDSR, RCAN and
#    BasicVSR's BIx4) and BD (Gaussian blur, sigma 1.6, then subsampling, as in RCAN's BD and
#    BasicVSR's BDx4);
# 3. the **bicubic floor**: PSNR/SSIM of bicubic upsampling under the standard SR protocol
#    (Y channel of BT.601 YCbCr, `scale` border pixels cropped), the row every SR table starts with;
# 4. a **trained model** that srlab ships (a tiny EDSR trained here on the embedded data, see
#    `srlab/weights/README.md`) against that floor, the **model zoo** (parameters, FLOPs and CPU
#    latency next to the published parameter counts) and the explorer.
#
# Run headlessly: `papermill notebooks/quickstart.ipynb out.ipynb -p scale 2`

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
scale: int = 4  # upscaling factor: 2 or 4 (shipped models); 3 needs a weights file
num_images: int | None = None  # test images scored; None: the profile's value
max_side: int | None = None  # centre-crop test images to at most this side; 0: whole images
bundled_video: bool | None = None  # show a bundled test clip (False: render a tiny one)
zoo_flops: bool | None = None  # count FLOPs of every preset at 320x180 (takes about a minute)
zoo_latency: bool | None = None  # time every preset on the CPU (takes a minute or two)
zoo_lr_size: int | None = None  # LR side (pixels) of the latency input
trained: str = ""  # the shipped model shown in section 4; empty: edsr_tiny_x<scale>
preset: str = "edsr_baseline_x4"  # with weights: the preset to load them into instead
weights: str = ""  # a BasicSR or srlab checkpoint for that preset (e.g. the official EDSR)
interactive: bool = False  # True in JupyterLab: the explorer widget; False: a static figure
data_root: str = ""  # a folder of HR images (e.g. Set5/HR) to score instead of the bundled set
out_dir: str = "../figures"  # where figures are saved
results_dir: str = "../results"  # where the results file is saved

# %%
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

import srlab
from srlab import archs, checkpoints, complexity, data, degradations, evaluate, explorer, papers
from srlab import plot
from srlab.archs.blocks import flow_warp
from srlab.infer import upscale
from srlab.io import mod_crop, quantize, to_tensor, write_json
from srlab.metrics import psnr, ssim
from srlab.notebook import Provenance, resolve_parameters

PROFILES = {
    "smoke": dict(num_images=2, max_side=96, bundled_video=False, zoo_flops=False,
                  zoo_latency=False, zoo_lr_size=16),
    "quick": dict(num_images=None, max_side=0, bundled_video=True, zoo_flops=True,
                  zoo_latency=True, zoo_lr_size=32),
    "paper": dict(num_images=None, max_side=0, bundled_video=True, zoo_flops=True,
                  zoo_latency=True, zoo_lr_size=180),
}
P = resolve_parameters(globals(), PROFILES)
prov = Provenance(P)
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)
out_dir.mkdir(parents=True, exist_ok=True)
print(f"srlab {srlab.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(P)

# %% [markdown]
# Cells tagged `nbval-check-output` print numbers that do not depend on the machine: the test
# suite re-executes this notebook with nbval and checks they reproduce what is committed here.
#
# ## 1. The embedded data
#
# `bundled_images` returns uint8 RGB arrays; `srlab.io.to_tensor` turns them into float tensors
# in [0, 1], the library's only image convention. The test and train splits are disjoint.

# %% tags=["nbval-check-output"]
test_images = data.bundled_images("test")
train_images = data.bundled_images("train")
print("test :", {k: v.shape for k, v in test_images.items()})
print("train:", {k: v.shape for k, v in train_images.items()})

fig, axes = plt.subplots(1, len(test_images), figsize=(3 * len(test_images), 3))
for ax, (name, img) in zip(np.atleast_1d(axes), test_images.items()):
    ax.imshow(img)
    ax.set_title(f"{name} {img.shape[1]}x{img.shape[0]}")
    ax.axis("off")
fig.suptitle("bundled test images")
plot.save(fig, out_dir / "quickstart_test_images.png")

# %% [markdown]
# ### Synthetic video with exact motion
#
# Video benchmarks (Vid4, REDS) cannot be downloaded here, so srlab renders clips from the bundled
# photographs: a smooth sub-pixel camera path (translation, slight rotation and zoom) plus objects
# that move on their own and occlude the background. Because the motion is known analytically,
# every clip carries its **ground-truth optical flow** and occlusion masks. Warping frame i+1 with
# `flow_backward[i]` must reproduce frame i wherever the pixel is visible in both: we check it.

# %% tags=["nbval-check-output"]
if P.bundled_video:
    clips = data.bundled_videos("test")
else:
    clips = {"tiny": data.synthetic_video(0, num_frames=4, size=(48, 64), split="test")}
name, clip = next(iter(clips.items()))
t = clip.frames.shape[0]
warped = flow_warp(clip.frames[1:], clip.flow_backward)  # frame i+1 pulled back onto frame i
mask = clip.mask_backward.expand_as(warped)
mse = ((warped - clip.frames[:-1]) ** 2 * mask).sum() / mask.sum()
print(f"{len(clips)} test clips; '{name}': {t} frames of {tuple(clip.frames.shape[-2:])}")
print(f"GT-flow warp of visible pixels: {10 * math.log10(1 / mse.item()):.1f} dB PSNR (RGB)")

speed = clip.flow_backward.norm(dim=1)  # (t-1, h, w) pixels per frame
fig, axes = plt.subplots(1, 4, figsize=(16, 3.4))
axes[0].imshow(clip.frames[0].permute(1, 2, 0))
axes[0].set_title("frame 0")
axes[1].imshow(clip.frames[-1].permute(1, 2, 0))
axes[1].set_title(f"frame {t - 1}")
im = axes[2].imshow(speed[0], cmap="viridis")
axes[2].set_title("|flow_backward[0]| (px)")
fig.colorbar(im, ax=axes[2], fraction=0.046)
axes[3].imshow(clip.mask_backward[0, 0], cmap="gray", vmin=0, vmax=1)
axes[3].set_title("mask_backward[0] (white: valid)")
for ax in axes:
    ax.axis("off")
plot.save(fig, out_dir / "quickstart_synthetic_video.png")

# %% [markdown]
# ## 2. BI vs BD
#
# Both degradations start from the same HR image (cropped to a multiple of the scale) and end in
# an 8-bit image, as a benchmark's LR files do. BI is MATLAB's antialiased bicubic `imresize` by
# 1/scale; BD blurs with a Gaussian (sigma 1.6, 12x12 kernel at even scales, 7x7 at x3) and keeps
# every `scale`-th pixel. BD's LR looks softer but aliases less; a model trained on one does
# poorly on the other, which is why the papers report them separately.

# %%
if P.data_root:
    hr_images = srlab.io.read_images(P.data_root)  # every .png, by name; none is an error
else:
    hr_images = test_images
names = list(hr_images)[: P.num_images]
hr = {}
for n in names:
    x = to_tensor(hr_images[n])  # (3, H, W)
    if P.max_side:
        top = max(0, (x.shape[-2] - P.max_side) // 2)
        left = max(0, (x.shape[-1] - P.max_side) // 2)
        x = x[:, top : top + P.max_side, left : left + P.max_side]
    hr[n] = mod_crop(x, P.scale)
lr_bi = {n: degradations.degrade(x, P.scale, "BI") for n, x in hr.items()}
lr_bd = {n: degradations.degrade(x, P.scale, "BD") for n, x in hr.items()}

first = names[0]
H, W = hr[first].shape[-2:]
side = min(H, W) // 3 // P.scale * P.scale  # a crop on the LR grid, so LR pixels stay whole
crop = (H // 2 - side // 2) // P.scale * P.scale, (W // 2 - side // 2) // P.scale * P.scale
fig = plot.compare(
    {"HR": hr[first], f"BI x{P.scale}": lr_bi[first], f"BD x{P.scale}": lr_bd[first]},
    crop=(*crop, side, side),
)
plot.save(fig, out_dir / "quickstart_bi_vs_bd.png")

# %% [markdown]
# ## 3. The bicubic floor
#
# Every SR table starts with bicubic upsampling of the LR input. The protocol is stated at every
# call: PSNR and SSIM on the **Y channel**, **`scale` pixels cropped** from each border, on the
# 0-255 scale, outputs rounded to 8 bits first (as the benchmarks score saved PNGs).

# %% tags=["nbval-check-output"]
rows = []
for kind, lrs in (("BI", lr_bi), ("BD", lr_bd)):
    for n in names:
        up = quantize(degradations.imresize(lrs[n], P.scale).clamp(0, 1))
        rows.append(
            dict(
                image=n,
                degradation=kind,
                psnr=float(psnr(up, hr[n], crop_border=P.scale, y_channel=True)),
                ssim=float(ssim(up, hr[n], crop_border=P.scale, y_channel=True)),
            )
        )
print(f"bicubic x{P.scale}, Y channel, crop {P.scale}")
print(f"{'image':<24}{'BI PSNR':>9}{'BI SSIM':>9}{'BD PSNR':>9}{'BD SSIM':>9}")
for n in names:
    bi = next(r for r in rows if r["image"] == n and r["degradation"] == "BI")
    bd = next(r for r in rows if r["image"] == n and r["degradation"] == "BD")
    print(f"{n:<24}{bi['psnr']:9.2f}{bi['ssim']:9.4f}{bd['psnr']:9.2f}{bd['ssim']:9.4f}")
bicubic_mean = {
    kind: {
        m: float(np.mean([r[m] for r in rows if r["degradation"] == kind])) for m in ("psnr", "ssim")
    }
    for kind in ("BI", "BD")
}
print("mean:", {k: f"PSNR {v['psnr']:.2f} dB, SSIM {v['ssim']:.4f}" for k, v in bicubic_mean.items()})

# %% [markdown]
# ## 4. A trained model, and the model zoo
#
# `archs.pretrained(name)` loads a model that srlab trained itself on the embedded training
# photographs and ships (a few hundred kB each; the model card `srlab/weights/README.md` gives the
# recipe and the command that retrains it). It is tiny and trained for minutes on a CPU, so it
# beats bicubic by far less than the papers' models do, but it is super-resolution, not noise.
# `archs.build(preset)` builds a published configuration with BasicSR's argument names and
# state_dict keys, so an official checkpoint loads with `strict=True`: pass
# `-p weights path/to/EDSR_Mx4_f64b16_DIV2K_official.pth` to see the real thing (the scale must
# match the preset).

# %% tags=["nbval-check-output"]
if P.weights:
    model = archs.build(P.preset).eval()
    checkpoints.load(model, P.weights)
    label = f"{P.preset} (weights: {Path(P.weights).name})"
else:
    name = P.trained or f"edsr_tiny_x{P.scale}"
    model = archs.pretrained(name)  # srlab/weights/<name>.pth, in eval mode
    label = f"{name} (trained here)"
if model.scale != P.scale:
    raise ValueError(f"{label} is x{model.scale}, but scale={P.scale}")
with torch.no_grad():
    sr = upscale(model, lr_bi[first])
fig = plot.compare(
    {"LR (BI)": lr_bi[first], "bicubic": degradations.imresize(lr_bi[first], P.scale).clamp(0, 1),
     label: sr, "HR": hr[first]},
    crop=(*crop, side, side),
    reference="HR",
    crop_border=P.scale,
    y_channel=True,
)
plot.save(fig, out_dir / "quickstart_model.png")
model_scores = evaluate.evaluate_images(
    model, {n: (lr_bi[n], hr[n]) for n in names}, scale=P.scale, crop_border=P.scale, y_channel=True
)
print(f"{label}: mean PSNR {np.mean(list(model_scores.values())):.2f} dB "
      f"(bicubic {bicubic_mean['BI']['psnr']:.2f} dB)")

# %% [markdown]
# ### The model zoo: parameters, FLOPs and CPU latency
#
# Parameters are counted on our modules and compared with the papers' published counts where a
# paper gives one (EDSR's model table; RCAN's "about 16M", read off its Fig. 8) and with BasicSR's
# exact counts. FLOPs come from PyTorch's own `FlopCounterMode` for a 320x180 LR input (2 FLOPs per
# multiply-add of convolutions; activations and pixel shuffle are not counted). Latency is the
# median of three runs on this CPU at a small input, with the thread count stated; it is only as
# good as the machine was quiet (the results file records the load average during the run).

# %%
published_m = {
    f"edsr{'_baseline' if r['model'] == 'EDSR_baseline' else ''}_x{r['scale']}": r["params_paper_m"]
    for r in papers.table("edsr", "model_specs")
    if r["model"] in ("EDSR", "EDSR_baseline")
}
published_m.update(
    {f"rcan_x{r['scale']}": r["params_m"] for r in papers.table("rcan", "params_published")
     if r["model"] == "RCAN"}
)
zoo = []
for name, (arch, kwargs) in archs.PRESETS.items():
    if arch not in ("edsr", "rcan", "msrresnet", "rrdbnet"):
        continue  # video models and the discriminator have their own notebooks
    with torch.device("meta"):
        m = archs.build(name)  # no memory, no init: enough to count parameters and FLOPs
    row = dict(preset=name, params=complexity.count_params(m), published_m=published_m.get(name))
    if P.zoo_flops:
        row["gflops_320x180"] = complexity.flops(m, torch.zeros(1, 3, 180, 320))["gflops"]
    if P.zoo_latency:
        m = archs.build(name).eval()
        x = torch.rand(1, 3, P.zoo_lr_size, P.zoo_lr_size)
        row["latency_ms"] = complexity.latency(m, x, warmup=1, repeats=3)["median_s"] * 1e3
    zoo.append(row)
    del m

print(f"latency input: {P.zoo_lr_size}x{P.zoo_lr_size} LR, {torch.get_num_threads()} threads")
print(f"{'preset':<20}{'params':>12}{'published':>11}{'GFLOPs':>10}{'latency ms':>12}")
for r in zoo:
    pub = f"{r['published_m']:.1f}M" if r["published_m"] else "-"
    lat = f"{r['latency_ms']:.0f}" if "latency_ms" in r else "-"
    gfl = f"{r['gflops_320x180']:.0f}" if "gflops_320x180" in r else "-"
    print(f"{r['preset']:<20}{r['params']:>12,}{pub:>11}{gfl:>10}{lat:>12}")

# %% [markdown]
# ## 5. Explore
#
# In JupyterLab, run with `interactive = True` for a widget: choose an image, a model (ours, the
# other shipped trained models, or any preset with random weights), the scale and the
# degradation; drag the divider between bicubic and SR; zoom into a region, as SR papers compare
# zoomed crops. PSNR and SSIM are those of the region shown. Run headlessly (papermill), the same
# view is drawn as a static figure.

# %%
view = explorer.explore({label: model}, images=hr, static=not P.interactive)
if not P.interactive:
    plot.save(view, out_dir / "quickstart_explorer.png")
view

# %%
write_json(
    results_dir / "quickstart.json",
    dict(bicubic=rows, bicubic_mean=bicubic_mean, model=dict(label=label, psnr=model_scores),
         zoo=zoo, provenance=prov.record()),
)
print("wrote", results_dir / "quickstart.json")
