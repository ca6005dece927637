# %% [markdown]
# # ESRGAN: perception against distortion, network interpolation, and the paper's ablations
#
# Wang et al., *ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks*, ECCV
# Workshops 2018 ([note](../papers/esrgan.md)). ESRGAN trains its RRDBNet generator twice: first
# with L1 only (the *PSNR-oriented* model), then fine-tuned with a perceptual loss on VGG19
# features, a **relativistic** adversarial loss and a small L1 term. Its questions here:
#
# 1. **Perception against distortion** (Blau and Michaeli, CVPR 2018): a GAN makes images that
#    look more natural while moving further from the truth. We score the PSNR-oriented and the GAN
#    models with PSNR and SSIM (distortion: higher is closer to the truth) and NIQE (a no-reference
#    naturalness score, `srlab.niqe`: lower is more like pristine photographs).
# 2. **Network interpolation** (Sec. 3.4): the weights (1 - alpha) PSNR + alpha GAN trace a curve
#    between the two models; alpha is a knob a user turns at test time.
# 3. **Ablations** (Sec. 3.2-3.3, Fig. 7): a relativistic against a standard discriminator, and
#    perceptual features before against after the ReLU. The paper shows these visually; it gives
#    no number. Its third ablation, batch norm in the generator, needs a BN switch that srlab's
#    RRDBNet does not have (BasicSR's has none either): not run here.
# 4. **Which VGG**: ImageNet's VGG19 cannot be downloaded here. Without `vgg_weights` the
#    perceptual loss runs on a *fixed random-weight* VGG19 (random networks as perceptual losses:
#    Liu et al., CVPR 2021), and every number and figure below says so. With `vgg_weights` (your
#    torchvision `vgg19-dcbb9e9d.pth`) the ESRGAN run is repeated with it and compared.
#
# Every GAN variant of seed *s* starts from the same PSNR-oriented model (trained with seed *s*)
# and sees the same patches in the same order, so "variant minus ESRGAN, seed *s*" is a paired
# difference. An effect is *resolved* when the 95% confidence interval of its mean (Student's t
# over the seeds, `srlab.evaluate.effect`) excludes zero; it is **reproduced** when resolved with
# the paper's sign, **reversed** when resolved with the other, **not resolved** otherwise.

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
scale: int = 4  # ESRGAN is x4
num_feat: int | None = None  # RRDBNet channels; None: the profile's value
num_block: int | None = None  # RRDBs; None: the profile's value
num_grow_ch: int | None = None  # dense-block growth channels; None: the profile's value
d_feat: int | None = None  # discriminator base channels; None: the profile's value
psnr_iters: int | None = None  # stage 1 (L1) optimizer steps; None: the profile's value
psnr_patch: int | None = None  # stage 1 LR patch side; None: the profile's value
psnr_lr: float | None = None  # stage 1 Adam lr (cosine to 0); None: the profile's value
gan_iters: int | None = None  # stage 2 (GAN) iterations; None: the profile's value
gan_patch: int | None = None  # stage 2 LR patch side (the discriminator sees scale x this)
gan_lr: float | None = None  # stage 2 Adam lr, generator and discriminator; None: the profile's
batch_size: int | None = None  # patches per step, both stages; None: the profile's value
ema_decay: float | None = None  # stage 2 EMA of the generator (0: none); None: the profile's
alphas: str = "0,0.25,0.5,0.75,1"  # network interpolation weights of the GAN model
ablations: str = "standard_gan,after_activation"  # which of the paper's ablations to train
seeds: str | None = None  # comma-separated; effects are paired over these; None: the profile's
vgg_weights: str = ""  # torchvision's vgg19-dcbb9e9d.pth; empty: a fixed random-weight VGG19
data_root: str = ""  # empty: bundled images; else a folder with train/ and test/ HR images
test_size: int | None = None  # crop test images to at most this HR side (0: whole); None: profile
threads: int | None = None  # torch.set_num_threads (0: torch's default); None: the profile's value
device: str = ""  # "": the GPU when there is one, else the CPU | cpu | cuda | cuda:<i>
precision: str = ""  # training: "" (bf16/fp16 on a GPU, fp32 on a CPU) | fp32 | bf16 | fp16
out_dir: str = "../figures"  # figures are saved here
results_dir: str = "../results"  # the results JSON is saved here

# %%
from srlab.notebook import resolve_parameters

# What `None` above means, per profile. paper = BasicSR's train_ESRGAN_x4.yml (srlab.gan.RECIPES
# ["esrgan_x4"]): RRDBNet 64 channels, 23 RRDBs, 128x128 GT patches, batch 16, 400k GAN
# iterations, EMA 0.999, after 1M L1 iterations (lr 2e-4 in BasicSR's PSNR config). quick keeps
# the recipe's losses, weights and GAN learning rate, with a small RRDBNet, 32x32 GT patches (the
# smallest discriminator) and 60 GAN iterations; the EMA is off (at 0.999 it would barely move
# in 60 steps).
PROFILES = {
    "smoke": dict(
        num_feat=8, num_block=1, num_grow_ch=4, d_feat=4, psnr_iters=3, psnr_patch=8,
        psnr_lr=2e-3, gan_iters=2, gan_patch=8, gan_lr=1e-4, batch_size=2, ema_decay=0.0,
        seeds="0", test_size=0, threads=1,
    ),
    "quick": dict(
        num_feat=32, num_block=2, num_grow_ch=16, d_feat=16, psnr_iters=200, psnr_patch=16,
        psnr_lr=2e-3, gan_iters=60, gan_patch=8, gan_lr=1e-4, batch_size=4, ema_decay=0.0,
        seeds="0,1,2", test_size=0, threads=1,
    ),
    "paper": dict(
        num_feat=64, num_block=23, num_grow_ch=32, d_feat=64, psnr_iters=1_000_000,
        psnr_patch=32, psnr_lr=2e-4, gan_iters=400_000, gan_patch=32, gan_lr=1e-4, batch_size=16,
        ema_decay=0.999, seeds="0,1,2", test_size=0, threads=0,
    ),
}
P = resolve_parameters(globals(), PROFILES)

# %%
import copy
import dataclasses
import statistics
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from tqdm.auto import tqdm

from srlab import data, papers, plot
from srlab.archs import build
from srlab.degradations import degrade, imresize
from srlab.device import choose_device, choose_precision, describe_device
from srlab.evaluate import confidence_interval, effect, mean_std
from srlab.gan import interpolate_networks, recipe, train_gan
from srlab.io import mod_crop, quantize, to_tensor, write_json
from srlab.losses import PerceptualLoss
from srlab.metrics import psnr, ssim
from srlab.niqe import niqe
from srlab.notebook import Provenance, parse_seeds
from srlab.train import TrainConfig, train

if P.profile == "paper" and not P.data_root:
    raise ValueError(
        "profile='paper' is BasicSR's ESRGAN recipe (1.4M iterations of a 16.7M-parameter "
        "RRDBNet): it needs real data (data_root with train/ = DIV2K HR, test/ = Set5 HR) and a GPU"
    )
if P.threads:
    torch.set_num_threads(P.threads)
device = choose_device(P.device)
precision = choose_precision(P.precision, device)  # both stages
provenance = Provenance(P, device=device, precision=precision)
print(f"training on {describe_device(device)} in {precision}")
cpu_start = time.process_time()  # CPU time, beside the wall time: the machine may be shared
seeds = parse_seeds(P.seeds)
alphas = [float(a) for a in P.alphas.split(",")]
ablations = [a for a in P.ablations.split(",") if a]
crop_border = scale  # the SR tables' protocol: crop `scale` pixels
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)
if not (alphas[0] == 0 and alphas[-1] == 1 and alphas == sorted(alphas)):
    raise ValueError(f"alphas must rise from 0 to 1, got {P.alphas!r}")
unknown = sorted(set(ablations) - {"standard_gan", "after_activation"})
if unknown:
    raise ValueError(f"unknown ablation(s) {unknown}; choose from standard_gan, after_activation")

# The GAN settings: BasicSR's ESRGAN recipe, its schedule shortened to this budget.
gan_config = recipe(
    "esrgan_x4", iters=P.gan_iters, batch_size=P.batch_size, lr=P.gan_lr, milestones=(),
    ema_decay=P.ema_decay or None, progress=False, precision=precision,
)
# The variants: ESRGAN, then one change each (paired by seed).
variants = {"esrgan": {}}
if "standard_gan" in ablations:
    variants["standard_gan"] = dict(relativistic=False)  # SRGAN's discriminator
if "after_activation" in ablations:
    variants["after_activation"] = dict(perceptual_layers={"relu5_4": 1.0})  # SRGAN's features
if P.vgg_weights:
    variants["imagenet_vgg"] = dict(vgg_weights=P.vgg_weights)
vgg_source = PerceptualLoss({"conv1_1": 1.0}, vgg_weights=P.vgg_weights or None).source
arch = dict(scale=scale, num_feat=P.num_feat, num_block=P.num_block, num_grow_ch=P.num_grow_ch)
print(f"profile {P.profile}: RRDBNet {arch}, seeds {seeds}, {torch.get_num_threads()} thread(s)")
print(f"stage 1: L1, {P.psnr_iters} steps of {P.batch_size} LR patches {P.psnr_patch}x{P.psnr_patch}")
print(f"stage 2: {P.gan_iters} GAN iterations, GT patches {P.gan_patch * scale}x"
      f"{P.gan_patch * scale}, variants {list(variants)}")
print(f"PERCEPTUAL LOSS: {vgg_source}")

# %% [markdown]
# ## Data
#
# Training patches are cut from HR images, each LR patch made with MATLAB's bicubic downsampling
# (BI). The test images are disjoint from the training images; PSNR and SSIM use the SR tables'
# protocol (Y channel, `scale` pixels cropped, outputs rounded to 8 bits), and NIQE the same crop
# on Y (it needs at least two 96x96 blocks).

# %%
if P.data_root:
    root = Path(P.data_root)
    train_source = data.PairedImageFolder(root / "train", scale=scale, degradation="BI")
    test_gt = {
        item["name"]: item["gt"]
        for item in data.PairedImageFolder(root / "test", scale=scale, degradation="BI")
    }
else:
    train_source = data.bundled_images("train")
    test_gt = {name: to_tensor(img) for name, img in data.bundled_images("test").items()}
psnr_set = data.ImagePatches(train_source, scale=scale, patch_size=P.psnr_patch)
gan_set = data.ImagePatches(train_source, scale=scale, patch_size=P.gan_patch)
test_pairs = {}
for name, gt in test_gt.items():
    if P.test_size:
        gt = gt[..., : P.test_size, : P.test_size]
    gt = mod_crop(gt, scale)  # (3, H, W)
    test_pairs[name] = (degrade(gt, scale, "BI"), gt)
print(f"{len(train_source)} training images; test images:")
for name, (lq, gt) in test_pairs.items():
    print(f"  {name}: LR {tuple(lq.shape[-2:])} -> HR {tuple(gt.shape[-2:])}")

# %% [markdown]
# ## Training: stage 1 (L1), then stage 2 (GAN) for every variant, paired by seed
#
# Stage 1 is `srlab.train.train` with L1 and a cosine schedule. Stage 2 is `srlab.gan.train_gan`
# with BasicSR's ESRGAN losses (L1 x 1e-2, perceptual conv5_4 x 1, relativistic vanilla GAN x
# 5e-3, Adam 1e-4 for both networks) against the SRGAN/ESRGAN VGG-style discriminator.

# %%
l1_models, gan_models, histories = {}, {v: {} for v in variants}, {v: {} for v in variants}
train_time_s = {"l1": [], **{v: [] for v in variants}}
runs = tqdm(total=len(seeds) * (1 + len(variants)), desc="runs")
for seed in seeds:
    torch.manual_seed(seed)
    model = build("rrdbnet", **arch).to(device)
    t0 = time.perf_counter()
    train(model, psnr_set, TrainConfig(iters=P.psnr_iters, batch_size=P.batch_size,
                                       lr=P.psnr_lr, eta_min=0.0, seed=seed, progress=False,
                                       precision=precision))
    train_time_s["l1"].append(time.perf_counter() - t0)
    l1_models[seed] = model.eval()
    runs.update(1)
    for v, change in variants.items():
        generator = copy.deepcopy(l1_models[seed]).train()
        torch.manual_seed(seed)  # every variant's discriminator starts from the same weights
        discriminator = build("vgg_discriminator", num_feat=P.d_feat,
                              input_size=P.gan_patch * scale).to(device)
        t0 = time.perf_counter()
        history = train_gan(generator, discriminator, gan_set,
                            dataclasses.replace(gan_config, **change, seed=seed))
        train_time_s[v].append(time.perf_counter() - t0)
        gan_models[v][seed] = (history["ema"] or generator).eval()
        histories[v][seed] = history
        runs.update(1)
runs.close()
print(f"mean training time per run: " + ", ".join(
    f"{k} {statistics.fmean(t):.1f} s" for k, t in train_time_s.items()))

# %% [markdown]
# ## Scoring every model
#
# Each model (PSNR-oriented, each GAN variant, and the interpolations between the PSNR-oriented
# and the ESRGAN model) super-resolves every test image; we keep the mean PSNR, SSIM and NIQE
# over the images, and the first image's output for the pictures.

# %%
bicubic_out = {name: quantize(imresize(lq, scale).clamp(0, 1)) for name, (lq, _) in test_pairs.items()}
models = {("l1", s): m for s, m in l1_models.items()}
models |= {(v, s): m for v, per_seed in gan_models.items() for s, m in per_seed.items()}
models |= {(f"alpha={a:g}", s): interpolate_networks(l1_models[s], gan_models["esrgan"][s], a)
           for s in seeds for a in alphas[1:-1]}
first = next(iter(test_pairs))
scores, pictures = {}, {}
for key, model in tqdm({("bicubic", None): None, **models}.items(), desc="scoring"):
    per_image = {"psnr": [], "ssim": [], "niqe": []}
    for name, (lq, gt) in test_pairs.items():
        if model is None:
            sr = bicubic_out[name]
        else:
            with torch.no_grad():
                sr = quantize(model(lq[None].to(device))[0].cpu().clamp(0, 1))  # (3, H, W)
        per_image["psnr"].append(float(psnr(sr, gt, crop_border=crop_border, y_channel=True)))
        per_image["ssim"].append(float(ssim(sr, gt, crop_border=crop_border, y_channel=True)))
        per_image["niqe"].append(float(niqe(sr, crop_border=crop_border)))
        if name == first and key[1] in (None, seeds[0]):
            pictures[key[0]] = sr
    scores[key] = {k: statistics.fmean(v) for k, v in per_image.items()}
gt_niqe = statistics.fmean(float(niqe(gt, crop_border=crop_border)) for _, gt in test_pairs.values())
# model name -> metric -> one value per seed (the mean over the test images)
series = {name: {m: [scores[(name, s)][m] for s in seeds] for m in ("psnr", "ssim", "niqe")}
          for name in dict.fromkeys(name for name, s in models)}
series["alpha=0"], series["alpha=1"] = series["l1"], series["esrgan"]


# %% [markdown]
# ## 1. Perception against distortion
#
# The PSNR-oriented model against ESRGAN (same seed, same architecture): GAN training should
# lower PSNR and SSIM (further from the truth) and lower NIQE (more natural-looking). The
# published reference points are on Set5 with real VGG19 and 400k iterations; ours are on other
# images with a tiny model, a few dozen iterations and, unless `vgg_weights` is given, a random
# VGG19.

# %%
METRICS = {"psnr": "PSNR (dB)", "ssim": "SSIM", "niqe": "NIQE"}
rows = ["| model | PSNR (dB) | SSIM | NIQE (lower: more natural) |", "|---|---:|---:|---:|"]
rows.append("| bicubic | " + " | ".join(f"{scores[('bicubic', None)][m]:.3f}" for m in METRICS)
            + " |")
for name in ["l1", *variants]:
    values = [mean_std(series[name][m]) for m in METRICS]
    label = "PSNR-oriented (L1)" if name == "l1" else name
    rows.append(f"| {label} | " + " | ".join(f"{m:.3f} ± {s:.3f}" for m, s in values) + " |")
rows.append(f"| ground truth | | | {gt_niqe:.3f} |")
display(Markdown("\n".join(rows) + f"\n\nPerceptual loss: **{vgg_source}**"))

# Paired effects (GAN minus PSNR-oriented model, per seed) with the sign the papers expect.
tradeoff = {}
expected_sign = {"psnr": -1.0, "ssim": -1.0, "niqe": -1.0}  # GAN: further from truth, more natural
for m in METRICS:
    diffs = [g - p for g, p in zip(series["esrgan"][m], series["l1"][m], strict=True)]
    tradeoff[m] = effect(diffs, expected_sign[m])
    e = tradeoff[m]
    print(f"ESRGAN minus PSNR-oriented, {METRICS[m]}: {e['mean']:+.3f}, 95% CI "
          f"[{e['ci95'][0]:+.3f}, {e['ci95'][1]:+.3f}] -> {e['verdict']}")

# %% [markdown]
# ## 2. Network interpolation
#
# Alpha 0 is the PSNR-oriented model, alpha 1 ESRGAN. Each point is the mean over seeds; the
# perception-distortion plane puts distortion (PSNR, right is better) against NIQE (down is
# better).

# %%
curve = {m: [mean_std(series[f"alpha={a:g}"][m]) for a in alphas] for m in METRICS}
fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
for ax, m in zip(axes[:2], ("psnr", "niqe"), strict=True):
    means = [c[0] for c in curve[m]]
    ax.errorbar(alphas, means, yerr=[c[1] if len(seeds) > 1 else 0 for c in curve[m]], fmt="o-",
                capsize=3)
    ax.axhline(scores[("bicubic", None)][m], color="gray", ls="--", label="bicubic")
    ax.set_xlabel("alpha (0: PSNR-oriented, 1: ESRGAN)")
    ax.set_ylabel(METRICS[m])
    ax.legend()
axes[1].axhline(gt_niqe, color="green", ls=":", label="ground truth")
axes[1].legend()
axes[2].plot([c[0] for c in curve["psnr"]], [c[0] for c in curve["niqe"]], "o-")
for a, x, y in zip(alphas, curve["psnr"], curve["niqe"], strict=True):
    axes[2].annotate(f"{a:g}", (x[0], y[0]), textcoords="offset points", xytext=(4, 4))
axes[2].set_xlabel("PSNR (dB)")
axes[2].set_ylabel("NIQE")
axes[2].invert_xaxis()
axes[2].set_title("perception-distortion plane")
fig.suptitle(f"network interpolation, mean over {len(seeds)} seed(s); perceptual loss: {vgg_source}",
             fontsize=9)
fig.tight_layout()
plot.save(fig, out_dir / "esrgan_interpolation.png")
plt.show()

# %% [markdown]
# The first test image at every alpha, with a zoomed crop from its centre (a fixed place, not
# chosen for the look), first seed.

# %%
lq, gt = test_pairs[first]
side = min(48, gt.shape[-2] // 2, gt.shape[-1] // 2)
crop = (gt.shape[-2] // 2 - side // 2, gt.shape[-1] // 2 - side // 2, side, side)
panels = {"bicubic": pictures["bicubic"]}
panels |= {f"alpha {a:g}": pictures["l1" if a == 0 else "esrgan" if a == 1 else f"alpha={a:g}"]
           for a in alphas}
panels["HR"] = gt
fig = plot.compare(panels, crop=crop, reference="HR", crop_border=crop_border, y_channel=True)
fig.suptitle(f"network interpolation (seed {seeds[0]}); perceptual loss: {vgg_source}", fontsize=9)
plot.save(fig, out_dir / "esrgan_interpolation_crops.png")
fig

# %% [markdown]
# ## 3. The paper's ablations, paired by seed
#
# Each variant changes one thing of ESRGAN. The paper's claim, read from its Fig. 7 (no number):
# each change gives less natural textures, so NIQE should rise (variant minus ESRGAN > 0). PSNR
# differences are listed too; the paper makes no claim about them.

# %%
ablation_effects = {}
lines = []
for v in variants:
    if v == "esrgan":
        continue
    niqe_d = [a - b for a, b in zip(series[v]["niqe"], series["esrgan"]["niqe"], strict=True)]
    psnr_d = [a - b for a, b in zip(series[v]["psnr"], series["esrgan"]["psnr"], strict=True)]
    psnr_ci = confidence_interval(psnr_d)  # no claim in the paper: an interval, no verdict
    ablation_effects[v] = {"niqe_diff": effect(niqe_d, +1.0),
                           "psnr_diff": {"per_seed": psnr_d, "mean": mean_std(psnr_d)[0],
                                         "ci95": list(psnr_ci)}}
    e = ablation_effects[v]["niqe_diff"]
    lines.append(f"| {v} minus esrgan | {e['mean']:+.3f} | [{e['ci95'][0]:+.3f}, "
                 f"{e['ci95'][1]:+.3f}] | {e['verdict']} | {mean_std(psnr_d)[0]:+.3f} dB "
                 f"[{psnr_ci[0]:+.3f}, {psnr_ci[1]:+.3f}] |")
display(Markdown(
    "| NIQE difference | mean | 95% CI | verdict (paper: > 0) | PSNR difference, 95% CI |\n"
    "|---|---:|---:|---|---:|\n" + "\n".join(lines)
    + f"\n\nPerceptual loss: **{vgg_source}**"
))

# %%
panels = {"PSNR-oriented": pictures["l1"]}
panels |= {v: pictures[v] for v in variants}
panels["HR"] = gt
fig = plot.compare(panels, crop=crop, reference="HR", crop_border=crop_border, y_channel=True)
fig.suptitle(f"ESRGAN and its ablations (seed {seeds[0]}); perceptual loss: {vgg_source}",
             fontsize=9)
plot.save(fig, out_dir / "esrgan_ablations.png")
fig

# %% [markdown]
# ## 4. Random-weight VGG19 against your ImageNet VGG19
#
# Run with `-p vgg_weights /path/to/vgg19-dcbb9e9d.pth` (torchvision's file; loaded with
# `weights_only=True`, refused with a clear error if it is not VGG19) to train the ESRGAN
# variant again with ImageNet features and compare it, paired by seed, with the random-weight run.

# %%
vgg_comparison = None
if P.vgg_weights:
    vgg_comparison = {}
    for m in METRICS:
        d = [a - b for a, b in zip(series["imagenet_vgg"][m], series["esrgan"][m], strict=True)]
        # No paper compares the two; the sign asked is "ImageNet features look more natural".
        vgg_comparison[f"{m}_diff"] = effect(d, -1.0 if m == "niqe" else +1.0)
        e = vgg_comparison[f"{m}_diff"]
        print(f"ImageNet minus random VGG19, {METRICS[m]}: {e['mean']:+.3f}, 95% CI "
              f"[{e['ci95'][0]:+.3f}, {e['ci95'][1]:+.3f}]")
else:
    print("no vgg_weights given: every GAN above used the " + vgg_source)

# %% [markdown]
# ## Training curves
#
# The discriminator's loss and its mean logits on real and generated patches (first seed). A
# discriminator that wins outright (loss near 0) gives the generator little to learn from.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for v in variants:
    h = histories[v][seeds[0]]
    axes[0].plot(h["iter"], h["l_d"], label=v)
    axes[1].plot(h["iter"], np.array(h["d_real"]) - np.array(h["d_fake"]), label=v)
axes[0].set_title("discriminator loss")
axes[1].set_title("mean logit: real minus generated")
for ax in axes:
    ax.set_xlabel("GAN iteration")
    ax.legend()
fig.suptitle(f"perceptual loss: {vgg_source}", fontsize=9)
fig.tight_layout()
plot.save(fig, out_dir / "esrgan_training.png")
plt.show()

# %% [markdown]
# ## Ours next to the published numbers
#
# The PSNR cost of GAN training as BasicSR (MSRResNet -> MSRGAN) and MMagic (RRDBNet -> ESRGAN)
# report it on Set5 x4 (RGB, 4 pixels cropped), with their confidence, next to ours (Y channel,
# other images, a tiny model). Only the sign is comparable.

# %%
zoo = papers.table("srresnet", "basicsr_model_zoo")
mm = papers.table("esrgan", "mmagic_reproduction")
published = []
for rows_, psnr_name, gan_name, key, source in (
    (zoo, "001_MSRResNet_x4", "004_MSRGAN_x4", "exp", "BasicSR ModelZoo"),
    (mm, "ESRGAN-PSNR (RRDBNet)", "ESRGAN", "model", "MMagic"),
):
    p = next(r for r in rows_ if r[key].startswith(psnr_name) and r["dataset"] == "Set5")
    g = next(r for r in rows_ if r[key] == gan_name and r["dataset"] == "Set5")
    published.append(dict(source=source, l1_model=psnr_name, gan_model=gan_name,
                          psnr_db=[p["psnr"], g["psnr"]], ssim=[p["ssim"], g["ssim"]],
                          psnr_cost_db=round(g["psnr"] - p["psnr"], 4), confidence=g["confidence"]))
rows = ["| source | PSNR model -> GAN model | Set5 PSNR (dB) | SSIM | GAN minus PSNR (dB) | "
        "confidence |", "|---|---|---|---|---:|---|"]
for r in published:
    rows.append(f"| {r['source']} | {r['l1_model']} -> {r['gan_model']} | "
                f"{r['psnr_db'][0]:.2f} -> {r['psnr_db'][1]:.2f} | {r['ssim'][0]:.4f} -> "
                f"{r['ssim'][1]:.4f} | {r['psnr_cost_db']:+.2f} | {r['confidence']} |")
e = tradeoff["psnr"]
rows.append(f"| ours ({len(seeds)} seeds) | RRDBNet {P.num_feat}ch x{P.num_block} -> GAN | "
            f"{mean_std(series['l1']['psnr'])[0]:.2f} -> "
            f"{mean_std(series['esrgan']['psnr'])[0]:.2f} | | {e['mean']:+.2f} "
            f"[{e['ci95'][0]:+.2f}, {e['ci95'][1]:+.2f}] | measured |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## Results file

# %%
results = {
    "perceptual_loss_vgg": vgg_source,
    "protocol": {"distortion": "PSNR, SSIM: Y, crop scale, 8-bit outputs",
                 "niqe": "Y, crop scale (BasicSR calculate_niqe)",
                 "data": P.data_root or "bundled", "test_images": list(test_pairs)},
    "seeds": seeds,
    "scores": series,  # l1 = the PSNR-oriented model; alpha=0 and alpha=1 repeat l1 and esrgan
    "bicubic": scores[("bicubic", None)],
    "ground_truth_niqe": gt_niqe,
    "alphas": alphas,
    "tradeoff_esrgan_minus_psnr_model": {f"{m}_diff": tradeoff[m] for m in METRICS},
    "ablations": ablation_effects,
    "vgg_comparison": vgg_comparison,
    "published": published,
    "train_time_s": {k: [round(t, 2) for t in v] for k, v in train_time_s.items()},
    "cpu_time_s": round(time.process_time() - cpu_start, 1),
    "provenance": provenance.record(),
}
path = write_json(results_dir / "esrgan_perception.json", results)
print(f"wrote {path}; wall time {results['provenance']['wall_time_s']} s, CPU time "
      f"{results['cpu_time_s']} s, load average {results['provenance']['load_average_1min']}")
