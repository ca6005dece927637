# %% [markdown]
# # RCAN, Table 1: what do the long skip, the short skip and channel attention buy?
#
# Zhang et al., *Image Super-Resolution Using Very Deep Residual Channel Attention Networks*,
# ECCV 2018 ([note](../papers/rcan.md)). RCAN's trunk is a *residual in residual*: G residual
# groups of B residual channel attention blocks (RCABs), a **short skip connection (SSC)** around
# every group and a **long skip connection (LSC)** around the whole trunk; inside each RCAB,
# **channel attention (CA)** reweights the feature channels. Table 1 of the paper switches the
# three off and on, eight combinations, and reports Set5 x2 PSNR: with neither skip the very deep
# trunk trains poorly (37.45 dB), either skip recovers most of it, both together do best, and CA
# adds 0.03-0.08 dB on top of each structure (37.90 dB with everything on).
#
# Here the eight variants are trained under one identical budget, with paired seeds: with seed
# *s*, every variant starts from the same weights (those of the full model; CA's own weights are
# simply absent where CA is off) and sees the same patches in the same order. So "variant minus
# full model, seed *s*" is a paired difference, and its spread over seeds is the noise an effect
# has to beat. An effect is *resolved* when the 95% confidence interval of its mean paired
# difference (Student's t over the seeds, `srlab.evaluate.confidence_interval`) excludes zero;
# with three seeds that asks for a mean about 2.5 times the seed-to-seed std. An ordering of the
# paper's is **reproduced** when it is resolved with the paper's sign, **reversed** when it is
# resolved with the other sign, and **not resolved** otherwise (always, with a single seed).

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
scale: int = 2  # Table 1 is x2
num_group: int | None = None  # G residual groups; None: the profile's value
num_block: int | None = None  # B RCABs per group; None: the profile's value
num_feat: int | None = None  # C feature channels; None: the profile's value
squeeze_factor: int | None = None  # r: CA's bottleneck has C // r channels; None: the profile's
iters: int | None = None  # optimizer steps per variant and seed; None: the profile's value
patch_size: int | None = None  # LR training patch side, pixels; None: the profile's value
batch_size: int | None = None  # patches per step; None: the profile's value
lr: float | None = None  # Adam's learning rate; None: the profile's value
schedule: str | None = None  # cosine | multistep (no milestones: constant lr); None: the profile's
seeds: str | None = None  # comma-separated; results are mean ± std over these; None: the profile's
data_root: str = ""  # empty: bundled images; else a folder with train/ and test/ HR images
degradation: str = "BI"  # how LR images are made from HR ones: BI | BD
test_size: int | None = None  # crop test images to at most this HR side (0: whole); None: profile
threads: int | None = None  # torch.set_num_threads (0: torch's default); None: the profile's value
device: str = ""  # "": the GPU when there is one, else the CPU | cpu | cuda | cuda:<i>
precision: str = ""  # training: "" (bf16/fp16 on a GPU, fp32 on a CPU) | fp32 | bf16 | fp16
out_dir: str = "../figures"  # figures are saved here
results_dir: str = "../results"  # the results JSON is saved here

# %%
from srlab.notebook import resolve_parameters

# What `None` above means, per profile. paper = Table 1's setting: G=10, B=20, C=64, r=16, 48x48
# LR patches, batch 16, Adam lr 1e-4 (halved only every 2e5 iterations, so constant here); the
# 5e4 iterations are a recollection that no stored source confirms (papers/rcan.json:
# table1_training_setting). quick keeps the paper's G=10 groups (the depth the skips bypass) with
# 2 blocks of 16 channels per group and r=4 (a 4-channel CA bottleneck, as the paper's 64/16).
PROFILES = {
    "smoke": dict(
        num_group=2, num_block=2, num_feat=8, squeeze_factor=2, iters=3, patch_size=8,
        batch_size=2, lr=2e-3, schedule="cosine", seeds="0", test_size=32, threads=1,
    ),
    "quick": dict(
        num_group=10, num_block=2, num_feat=16, squeeze_factor=4, iters=500, patch_size=16,
        batch_size=8, lr=2e-3, schedule="cosine", seeds="0,1,2", test_size=0, threads=1,
    ),
    "paper": dict(
        num_group=10, num_block=20, num_feat=64, squeeze_factor=16, iters=50_000,
        patch_size=48, batch_size=16, lr=1e-4, schedule="multistep", seeds="0,1,2",
        test_size=0, threads=0,
    ),
}
P = resolve_parameters(globals(), PROFILES)

# %%
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from tqdm.auto import tqdm

from srlab import data, papers, plot
from srlab.archs import build
from srlab.checkpoints import load_shared
from srlab.complexity import count_params
from srlab.degradations import degrade, imresize
from srlab.device import choose_device, choose_precision, describe_device
from srlab.evaluate import (CpuTimer, count_verdicts, evaluate_bicubic, evaluate_images,
                            markdown_table, mean_std, paired_differences, paired_effect)
from srlab.io import mod_crop, quantize, to_tensor, write_json
from srlab.notebook import Provenance, parse_seeds
from srlab.train import TrainConfig, train

if P.profile == "paper" and not P.data_root:
    raise ValueError(
        "profile='paper' trains Table 1's 10x20-block RCAN for 5e4 iterations: it needs real data "
        "(data_root with train/ = DIV2K HR images and test/ = Set5 HR images) and a GPU"
    )
if P.threads:
    torch.set_num_threads(P.threads)
device = choose_device(P.device)
precision = choose_precision(P.precision, device)
provenance = Provenance(P, device=device, precision=precision)
cpu = CpuTimer()  # CPU time, beside the wall time: the machine may be shared
seeds = parse_seeds(P.seeds)
crop_border = scale  # the protocol of the SR tables: crop `scale` pixels, PSNR on Y
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)

paper_rows = papers.table("rcan", "table1_ablation")
# The eight variants in the paper's order; a variant is (lsc, ssc, ca).
variants = [(row["lsc"], row["ssc"], row["ca"]) for row in paper_rows]
paper_psnr = {(row["lsc"], row["ssc"], row["ca"]): row["psnr"] for row in paper_rows}
labels = {
    v: "+".join(name for name, on in zip(("LSC", "SSC", "CA"), v, strict=True) if on) or "none"
    for v in variants
}
full = (True, True, True)
arch = dict(
    upscale=scale,
    num_group=P.num_group,
    num_block=P.num_block,
    num_feat=P.num_feat,
    squeeze_factor=P.squeeze_factor,
)
print(f"profile {P.profile}: RCAN {arch}, {P.iters} iterations x {P.batch_size} patches of "
      f"{P.patch_size}x{P.patch_size}, lr {P.lr} ({P.schedule}), seeds {seeds}, "
      f"{torch.get_num_threads()} thread(s), {describe_device(device)}, training in {precision}")

# %% [markdown]
# ## Data
#
# Training patches are cut from HR images, and each LR patch is made from its HR patch with the
# benchmark degradation (BI: MATLAB's bicubic downsampling, rounded to 8 bits). The test images are
# disjoint from the training images. Every score below uses the protocol of the SR tables: PSNR on
# the Y channel, `scale` pixels cropped from every edge, outputs rounded to 8 bits.

# %%
if P.data_root:
    root = Path(P.data_root)
    train_source = data.PairedImageFolder(root / "train", scale=scale, degradation=P.degradation)
    test_gt = {
        item["name"]: item["gt"]
        for item in data.PairedImageFolder(root / "test", scale=scale, degradation=P.degradation)
    }
else:
    train_source = data.bundled_images("train")
    test_gt = {name: to_tensor(img) for name, img in data.bundled_images("test").items()}
train_set = data.ImagePatches(
    train_source, scale=scale, patch_size=P.patch_size, degradation=P.degradation
)
test_pairs = {}
for name, gt in test_gt.items():
    if P.test_size:
        gt = gt[..., : P.test_size, : P.test_size]
    gt = mod_crop(gt, scale)  # (3, H, W), H and W multiples of scale
    test_pairs[name] = (degrade(gt, scale, P.degradation), gt)
print(f"{len(train_source)} training images; test images:")
for name, (lq, gt) in test_pairs.items():
    print(f"  {name}: LR {tuple(lq.shape[-2:])} -> HR {tuple(gt.shape[-2:])}")

# %% [markdown]
# ## The floor: bicubic upsampling
#
# A model that does not beat bicubic interpolation has learned nothing worth comparing.

# %%
bicubic_scores = evaluate_bicubic(
    test_pairs, scale=scale, crop_border=crop_border, y_channel=True
)
bicubic = statistics.fmean(bicubic_scores.values())
print(f"bicubic: {bicubic:.2f} dB (mean over {len(test_pairs)} test images)")

# %% [markdown]
# ## The eight variants and their sizes
#
# The skips are identity paths, so LSC and SSC add no parameters: switching them off changes the
# route of the information, not the model's size. CA adds two 1x1 convs per RCAB.

# %%
params = {v: count_params(build("rcan", **arch, use_lsc=v[0], use_ssc=v[1], use_ca=v[2]))
          for v in variants}
for v in variants:
    print(f"{labels[v]:>12}: {params[v]:>10,} parameters")

# %% [markdown]
# ## Training: one budget, paired seeds
#
# For each seed, the full model is built once and its initial weights are loaded into every
# variant (`strict=False` only leaves out CA's weights where CA is off); `train` draws the patches
# and their order from the seed alone. L1 loss and Adam, as in the paper. The short profiles decay
# the learning rate to zero along a cosine, so that a run ends in a settled model rather than at a
# random point of a noisy trajectory; `paper` keeps the paper's constant 1e-4.

# %%
config = dict(
    iters=P.iters,
    batch_size=P.batch_size,
    lr=P.lr,
    betas=(0.9, 0.999),  # the paper's Adam (BasicSR's configs use 0.99)
    schedule=P.schedule,
    eta_min=0.0,
    loss="l1",
    progress=False,
)
scores = {v: {} for v in variants}  # variant -> seed -> {test image: PSNR}
losses = {v: {} for v in variants}  # variant -> seed -> training loss per iteration
first = next(iter(test_pairs))  # the image of the visual comparison below
outputs = {}  # variant -> super-resolved `first`, from the first seed's models
runs = tqdm(total=len(seeds) * len(variants), desc="runs")
for seed in seeds:
    torch.manual_seed(seed)
    init = build("rcan", **arch).state_dict()  # the full model's initial weights
    for v in variants:
        model = build("rcan", **arch, use_lsc=v[0], use_ssc=v[1], use_ca=v[2]).to(device)
        own = load_shared(model, init)  # the keys that keep their own values: none
        assert not own, own
        history = train(model, train_set, TrainConfig(**config, seed=seed, precision=precision))
        losses[v][seed] = history["loss"]
        scores[v][seed] = evaluate_images(
            model, test_pairs, scale=scale, crop_border=crop_border, y_channel=True
        )
        if seed == seeds[0]:
            with torch.no_grad():
                sr = model.eval()(test_pairs[first][0][None].to(device))[0].cpu()
            outputs[v] = quantize(sr.clamp(0, 1))
        runs.update(1)
        runs.set_postfix(last=f"{labels[v]} {statistics.fmean(scores[v][seed].values()):.2f} dB")
runs.close()

# %% [markdown]
# ## Ours next to the paper's
#
# Mean ± std over seeds of the mean test PSNR, and each variant's paired difference from the full
# model (mean ± std over seeds), next to the paper's Set5 numbers. Absolute values are not
# comparable (other images, a tiny model, minutes of training); differences and orderings are.

# %%
psnr = {v: [statistics.fmean(scores[v][s].values()) for s in seeds] for v in variants}
diffs = {v: paired_differences(psnr[v], psnr[full]) for v in variants}
rows = []
for v in variants:
    (m, s), (dm, ds) = mean_std(psnr[v]), mean_std(diffs[v])
    rows.append([labels[v], f"{params[v]:,}", f"{m:.2f} ± {s:.2f}", f"{dm:+.2f} ± {ds:.2f}",
                 f"{paper_psnr[v]:.2f}", f"{paper_psnr[v] - paper_psnr[full]:+.2f}"])
rows.append(["bicubic", 0, f"{bicubic:.2f}", f"{bicubic - mean_std(psnr[full])[0]:+.2f}", "", ""])
header = ["variant", "params", "ours (dB)", "ours - full (dB)", "paper (dB)", "paper - full (dB)"]
display(Markdown(markdown_table(header, rows, align="lrrrrr")))

# %%
x = np.arange(len(variants))
fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
means = [mean_std(psnr[v])[0] for v in variants]
stds = [mean_std(psnr[v])[1] if len(seeds) > 1 else 0.0 for v in variants]
axes[0].bar(x, means, yerr=stds, capsize=3, color=["C1" if v[2] else "C0" for v in variants])
for i, v in enumerate(variants):
    axes[0].plot([i] * len(seeds), psnr[v], "k.", ms=4)
axes[0].axhline(bicubic, color="gray", ls="--", label=f"bicubic {bicubic:.2f} dB")
low = min(min(min(psnr[v]) for v in variants), bicubic)
axes[0].set_ylim(low - 0.5, max(max(psnr[v]) for v in variants) + 0.3)
axes[0].set_title(f"ours: test PSNR (Y), mean ± std over {len(seeds)} seed(s)")
axes[0].set_ylabel("PSNR (dB)")
axes[0].legend(loc="lower right")
axes[1].bar(x, [paper_psnr[v] for v in variants], color=["C1" if v[2] else "C0" for v in variants])
axes[1].set_ylim(37.3, 38.0)
axes[1].set_title("paper: Set5 x2 PSNR (Table 1)")
axes[2].axhline(0, color="k", lw=0.8)
axes[2].errorbar(x - 0.1, [mean_std(diffs[v])[0] for v in variants],
                 yerr=[mean_std(diffs[v])[1] if len(seeds) > 1 else 0.0 for v in variants],
                 fmt="o", capsize=3, label="ours (mean ± std of paired differences)")
axes[2].plot(x + 0.1, [paper_psnr[v] - paper_psnr[full] for v in variants], "rs",
             label="paper")
axes[2].set_yscale("symlog", linthresh=0.1)
axes[2].set_title("variant - full model (dB)")
axes[2].legend(loc="lower right")
for ax in axes:
    ax.set_xticks(x, [labels[v] for v in variants], rotation=35, ha="right")
fig.tight_layout()
plot.save(fig, out_dir / "rcan_ablation.png")
plt.show()

# %% [markdown]
# ## Training curves
#
# The L1 training loss (a running mean over 25 iterations, then the mean over seeds). Without
# either skip, every signal must pass the G + 1 convs at the ends of the groups and the trunk.

# %%
window = min(25, P.iters)
fig, ax = plt.subplots(figsize=(8, 4.5))
for i, v in enumerate(variants):
    curve = np.mean([np.convolve(losses[v][s], np.ones(window) / window, "valid") for s in seeds],
                    axis=0)
    ax.plot(np.arange(window, P.iters + 1), curve, color=f"C{i % 4}",
            ls="-" if v[2] else "--", label=labels[v])
ax.set_yscale("log")
ax.set_xlabel("iteration")
ax.set_ylabel("L1 loss")
ax.set_title("training loss, mean over seeds (dashed: without CA)")
ax.legend(ncol=2)
fig.tight_layout()
plot.save(fig, out_dir / "rcan_ablation_curves.png")
plt.show()

# %% [markdown]
# ## What the outputs look like
#
# The first seed's models on the first test image, with a zoomed crop from the centre (a fixed
# place, not chosen for the look).

# %%
lq, gt = test_pairs[first]
side = min(48, gt.shape[-2] // 2, gt.shape[-1] // 2)
crop = (gt.shape[-2] // 2 - side // 2, gt.shape[-1] // 2 - side // 2, side, side)
panels = {"LR": lq, "bicubic": quantize(imresize(lq, scale).clamp(0, 1))}
panels |= {labels[v]: outputs[v] for v in [(False, False, False), (True, False, True),
                                            (False, True, True), full]}
panels["HR"] = gt
fig = plot.compare(panels, crop=crop, reference="HR", crop_border=crop_border, y_channel=True)
plot.save(fig, out_dir / "rcan_ablation_visual.png")
plt.show()

# %% [markdown]
# ## Which of the paper's orderings hold here?
#
# Table 1 says that switching any one of LSC, SSC and CA on helps, whatever the other two are:
# twelve orderings (the edges of the 2x2x2 cube). Each is checked on the paired per-seed
# differences, with the rule stated at the top.

# %%
orderings = []
for i, switch in enumerate(("LSC", "SSC", "CA")):
    for v in variants:
        if v[i]:
            off = tuple(False if j == i else on for j, on in enumerate(v))
            paper_d = paper_psnr[v] - paper_psnr[off]
            orderings.append(dict(switch=switch, on=labels[v], off=labels[off],
                                  paper_diff=round(paper_d, 4),
                                  **paired_effect(psnr[v], psnr[off], paper_d)))
lines = []
for o in orderings:
    lines.append(
        f"- {o['switch']} on ({o['off']} -> {o['on']}): paper {o['paper_diff']:+.2f} dB, ours "
        f"{o['mean']:+.2f} ± {o['std']:.2f} dB over {len(seeds)} seed(s), 95% CI "
        f"[{o['ci95'][0]:+.2f}, {o['ci95'][1]:+.2f}]: **{o['verdict']}**"
    )
counts = count_verdicts(orderings)
summary = (
    f"Of the paper's {len(orderings)} one-switch orderings, {counts['reproduced']} are reproduced, "
    f"{counts['reversed']} reversed and {counts['not resolved']} not resolved at this scale."
)
for switch in ("LSC", "SSC", "CA"):
    mine = [o["verdict"] for o in orderings if o["switch"] == switch]
    summary += f" {switch}: " + ", ".join(f"{mine.count(k)} {k}" for k in counts if mine.count(k))
    summary += "."
best = max(variants, key=lambda v: mean_std(psnr[v])[0])
gain = mean_std(psnr[full])[0] - bicubic
summary += (
    f" The best variant on average is {labels[best]} ({mean_std(psnr[best])[0]:.2f} dB; the paper's"
    f" best is {labels[full]}). The full model is {abs(gain):.2f} dB "
    f"{'above' if gain > 0 else 'below'} the bicubic floor."
)
display(Markdown("\n".join(lines) + "\n\n" + summary))

# %%
results = dict(
    provenance=provenance.record() | {"cpu_time_s": cpu.seconds()},
    protocol=dict(scale=scale, crop_border=crop_border, y_channel=True, degradation=P.degradation,
                  test_images=list(test_pairs), outputs="clamped and rounded to 8 bits"),
    bicubic=dict(mean=bicubic, per_image=bicubic_scores),
    variants=[
        dict(lsc=v[0], ssc=v[1], ca=v[2], label=labels[v], params=params[v],
             psnr_per_seed=dict(zip(map(str, seeds), psnr[v], strict=True)),
             per_image={str(s): scores[v][s] for s in seeds},
             mean=mean_std(psnr[v])[0], std=mean_std(psnr[v])[1],
             diff_vs_full_per_seed=diffs[v], diff_vs_full_mean=mean_std(diffs[v])[0],
             diff_vs_full_std=mean_std(diffs[v])[1], paper_psnr=paper_psnr[v],
             paper_diff_vs_full=round(paper_psnr[v] - paper_psnr[full], 4),
             final_loss_per_seed=[float(np.mean(losses[v][s][-window:])) for s in seeds])
        for v in variants
    ],
    orderings=orderings,
    summary=summary,
)
write_json(results_dir / "rcan_ablation.json", results)
print(f"wrote {results_dir / 'rcan_ablation.json'}; "
      f"wall time {results['provenance']['wall_time_s']} s, "
      f"CPU time {results['provenance']['cpu_time_s']} s")

# %% [markdown]
# ## What this does and does not show
#
# - **Scale.** The quick profile keeps the paper's 10 residual groups (so the no-skip variants
#   have as many plain convs in series as the paper's) but only 2 blocks of 16 channels per group,
#   about 1% of the paper's parameters (table above; the paper's x2 model has 15.4M), and
#   trains it for hundreds of steps on a CPU instead of 5e4 (unverified) on a GPU. Our
#   differences measure how fast each variant learns in a short run as much as where it would
#   end up.
# - **Data.** Bundled scikit-image photographs, not DIV2K and Set5: our absolute PSNRs are not
#   comparable with the paper's, only the orderings and the signs of the differences are.
#   `data_root` runs the same notebook on real DIV2K/Set5 HR images.
# - **Noise.** An ordering counts only if the 95% confidence interval of its paired difference
#   excludes zero. With three seeds that interval is wide (mean ± 2.5 std) and rests on the
#   differences being roughly normal; an effect that is truly zero still passes one time in
#   twenty, and twelve orderings are read at once. "Not resolved" means this budget cannot tell,
#   not that the paper is wrong.
# - **Protocol.** The paper reports the best PSNR reached during training; we report the model
#   at the end of its run (cosine-decayed learning rate), which needs no choice on the test set.
