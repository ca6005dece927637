# %% [markdown]
# # Pruning RCAN along B, G and channels: do the seed notes' rules of thumb hold?
#
# The project's seed notes (blog posts, see [`papers/pruning.md`](../papers/pruning.md)) give a
# table for shrinking RCAN (seed 002, sec. 2.6): halving the RCABs per group (B) costs about
# 0.05 dB for a 1.2x speed-up, halving the groups (G) about 0.1 dB for 1.5x, both about 0.15 dB
# for 2x; pruning 25 / 50 / 75 % of the channels gives a "slight" / "clear" / "severe" drop for
# 1.2 / 1.5 / 2x; prune B first, G next, channels last; fine-tune after pruning. No experiment
# stands behind these numbers, and its "G 20 -> 10" does not describe RCAN, whose G is 10: we read
# every claim in its relative terms (halving, a fraction of the channels).
#
# Here we measure them: train an RCAN (or load yours with `weights=`), prune it with
# `srlab.prune` along each axis, and for every pruned model count parameters and FLOPs, time it on
# the CPU, and score it before and after a short fine-tuning, over several seeds. The pruning
# criterion is the L1 norm of each piece's last conv (see `srlab/prune.py`).
#
# Scale: the quick profile trains a small RCAN (C32, G4, B4, x2) for a few hundred iterations on
# the bundled images, so its absolute PSNR is far from the paper's; the questions are relative.
# The paper profile is the seed notes' setting (G10, B20, C64 on DIV2K), for a GPU: training
# runs on the GPU when there is one (`device`), in mixed precision (`precision`); latency is
# always timed on the CPU.

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
weights: str = ""  # an srlab RCAN checkpoint to prune; empty: train one here for each seed
data_root: str = ""  # a folder of HR training images (e.g. DIV2K_train_HR); empty: bundled
test_root: str = ""  # a folder of HR test images (e.g. Set5/HR); empty: bundled test images
scale: int | None = None  # upscaling factor
num_feat: int | None = None  # the base RCAN's channels C (when weights is empty)
num_group: int | None = None  # its residual groups G
num_block: int | None = None  # its RCABs per group B
squeeze_factor: int | None = None  # channel attention's reduction r
train_iters: int | None = None  # training of the base model
finetune_iters: int | None = None  # fine-tuning of every pruned model (and of the reference)
batch_size: int | None = None
patch_size: int | None = None  # LR patch side
lr: float | None = None  # base training learning rate (cosine schedule)
finetune_lr: float | None = None  # fine-tuning learning rate (cosine schedule)
blocks: str | None = None  # B values to prune to, e.g. "3,2,1"
groups: str | None = None  # G values to prune to
feats: str | None = None  # channel counts to prune to
seeds: str | None = None  # results are mean ± std over these
eval_size: int | None = None  # LR side of the centre crop of each test image that is scored
threads: int | None = None  # torch threads for everything (latency is timed with these)
latency_size: int | None = None  # LR side of the timed input
repeats: int | None = None  # timed rounds per model
device: str = ""  # training: "" the GPU when there is one, else the CPU | cpu | cuda | cuda:<i>
precision: str = ""  # training: "" (bf16/fp16 on a GPU, fp32 on a CPU) | fp32 | bf16 | fp16
out_dir: str = "../figures"  # where figures are saved
results_dir: str = "../results"  # where the results file is saved

# %%
import copy
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from tqdm.auto import tqdm

import srlab
from srlab import data, papers, plot, prune
from srlab.archs import build
from srlab.archs import load_model
from srlab.complexity import count_params, flops
from srlab.device import choose_device, choose_precision, describe_device
from srlab.efficiency import crop_pairs, interleaved_times
from srlab.evaluate import (CpuTimer, confidence_interval, evaluate_images, markdown_table,
                            mean_std, paired_differences, verdict)
from srlab.io import read_images, write_json
from srlab.notebook import Provenance, parse_seeds, resolve_parameters
from srlab.train import TrainConfig, train

PROFILES = {
    "smoke": dict(
        scale=2, num_feat=8, num_group=2, num_block=2, squeeze_factor=4, train_iters=2,
        finetune_iters=1, batch_size=2, patch_size=12, lr=5e-4, finetune_lr=1e-4, blocks="1",
        groups="1", feats="4", seeds="0", eval_size=16, threads=1, latency_size=16, repeats=2,
    ),
    "quick": dict(
        scale=2, num_feat=32, num_group=4, num_block=4, squeeze_factor=8, train_iters=200,
        finetune_iters=40, batch_size=8, patch_size=24, lr=5e-4, finetune_lr=1e-4, blocks="2,1",
        groups="2,1", feats="24,16,8", seeds="0,1,2", eval_size=64, threads=1,
        latency_size=64, repeats=15,
    ),
    # The seed notes' model (RCAN G10 B20 C64, r=16) and BasicSR's RCAN schedule; for a GPU.
    "paper": dict(
        scale=2, num_feat=64, num_group=10, num_block=20, squeeze_factor=16, train_iters=300_000,
        finetune_iters=20_000, batch_size=16, patch_size=48, lr=1e-4, finetune_lr=1e-4,
        blocks="15,10,5", groups="8,5,3", feats="48,32,16", seeds="0,1,2", eval_size=128,
        threads=torch.get_num_threads(), latency_size=128, repeats=10,
    ),
}
P = resolve_parameters(globals(), PROFILES)
if P.profile == "paper" and not (P.data_root or P.weights):
    raise ValueError("the paper profile trains on DIV2K: pass data_root= (or weights=)")
device = choose_device(P.device)
precision = choose_precision(P.precision, device)
provenance = Provenance(P, device=device, precision=precision)
cpu = CpuTimer()  # CPU time, beside the wall time: the machine may be shared
torch.set_num_threads(P.threads)
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)
out_dir.mkdir(parents=True, exist_ok=True)
seeds = parse_seeds(P.seeds)
print(f"srlab {srlab.__version__}, torch {torch.__version__}, {torch.get_num_threads()} thread(s); "
      f"training on {describe_device(device)} in {precision}, latency timed on the CPU")
print(P)

# %% [markdown]
# ## Data
#
# Training pairs are random LR patches of the training images (BI degradation: MATLAB bicubic);
# the test set is the centre crop of each test image, `eval_size` LR pixels square, scored on
# the Y channel with `scale` pixels cropped at the border (the SR papers' protocol).

# %%
train_images = read_images(P.data_root) if P.data_root else data.bundled_images("train")
test_images = read_images(P.test_root) if P.test_root else data.bundled_images("test")
train_set = data.ImagePatches(train_images, scale=P.scale, patch_size=P.patch_size)
lq, gt = crop_pairs(test_images, scale=P.scale, lr_size=P.eval_size)
test_pairs = {f"img{i}": (lq[i], gt[i]) for i in range(lq.shape[0])}
print(f"{len(train_images)} training images, {len(train_set)} patches per epoch; "
      f"{len(test_pairs)} test crops of {P.eval_size}x{P.eval_size} LR")

# %% [markdown]
# ## The pruning points
#
# One line per strategy, each starting from the unpruned model: fewer RCABs per group (B), fewer
# groups (G), fewer channels (C), and, for the seed's third row, B and G both halved. The
# architecture of each point does not depend on the seed (only its weights do), so parameters,
# FLOPs and latency are measured once per point.

# %%
base_kwargs = dict(
    upscale=P.scale, num_feat=P.num_feat, num_group=P.num_group, num_block=P.num_block,
    squeeze_factor=P.squeeze_factor,
)
if P.weights:
    base_kwargs = dict(load_model(P.weights).srlab_config["kwargs"])
G0 = base_kwargs.get("num_group", 10)
B0 = base_kwargs.get("num_block", 20)
C0 = base_kwargs.get("num_feat", 64)
# (name, strategy, constructor arguments that change)
points = [("base", "none", {})]
points += [(f"B{b}", "B", dict(num_block=b)) for b in map(int, P.blocks.split(","))]
points += [(f"G{g}", "G", dict(num_group=g)) for g in map(int, P.groups.split(","))]
points += [(f"C{c}", "C", dict(num_feat=c)) for c in map(int, P.feats.split(","))]
if B0 >= 2 and G0 >= 2:
    points += [(f"G{G0 // 2}B{B0 // 2}", "B+G", dict(num_group=G0 // 2, num_block=B0 // 2))]
point_kwargs = {name: {**base_kwargs, **changes} for name, _, changes in points}

x_lat = torch.rand(1, 3, P.latency_size, P.latency_size, generator=torch.Generator().manual_seed(0))
arch_models = {name: build("rcan", **kw).eval() for name, kw in point_kwargs.items()}
complexity = {
    name: dict(params=count_params(m), gmacs=flops(m, x_lat)["macs"] / 1e9)
    for name, m in arch_models.items()
}
# Latency: every model once per round, rounds interleaved, so the machine's load hits all alike.
times = interleaved_times(arch_models, x_lat, warmup=1, repeats=P.repeats)
for name, t in times.items():
    q25, _, q75 = statistics.quantiles(t, n=4, method="inclusive")
    complexity[name].update(latency_ms=1e3 * statistics.median(t), latency_iqr_ms=1e3 * (q75 - q25))
base_c = complexity["base"]
for name, c in complexity.items():
    c["flops_reduction"] = 1 - c["gmacs"] / base_c["gmacs"]
    c["speedup"] = base_c["latency_ms"] / c["latency_ms"]
    print(f"{name:>8}: {c['params'] / 1e3:7.1f} K params, {c['gmacs']:6.3f} GMACs "
          f"(-{100 * c['flops_reduction']:4.1f} %), {c['latency_ms']:7.1f} ms "
          f"(IQR {c['latency_iqr_ms']:.1f}), speed-up {c['speedup']:.2f}x")
print(f"latency: median of {P.repeats} interleaved rounds, input {tuple(x_lat.shape)}, "
      f"{torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## Train, prune, fine-tune
#
# For each seed: train the base model (or load `weights`), then for every point prune it, score
# it as it is ("before"), fine-tune it for `finetune_iters` iterations and score it again
# ("after"), with Adam at `finetune_lr` (quick: 1e-4, RCAN's rate in BasicSR's configs) on a
# cosine schedule. The reference for "after" is the unpruned model fine-tuned for the same
# iterations with the same data order, so a pruned model gets no credit for the extra training.
# With `weights` the base is the same for every seed, and the seeds vary only the fine-tuning.

# %%
scores = {name: {"before": [], "after": []} for name, _, _ in points}
for seed in seeds:
    torch.manual_seed(seed)
    if P.weights:
        base = load_model(P.weights).to(device)
    else:
        base = build("rcan", **base_kwargs).to(device)
        cfg = TrainConfig(iters=P.train_iters, batch_size=P.batch_size, lr=P.lr, seed=seed,
                          precision=precision)
        train(base, train_set, cfg)
    base.eval()
    finetune = TrainConfig(iters=P.finetune_iters, batch_size=P.batch_size, lr=P.finetune_lr,
                           eta_min=0.0, seed=seed, progress=False, precision=precision)
    for name, axis, changes in tqdm(points, desc=f"seed {seed}"):
        # In the seed notes' order: blocks, then groups, then channels.
        model = copy.deepcopy(base)
        if "num_block" in changes:
            model = prune.prune_blocks(model, changes["num_block"])
        if "num_group" in changes:
            model = prune.prune_groups(model, changes["num_group"])
        if "num_feat" in changes:
            model = prune.prune_channels(model, changes["num_feat"])
        model = model.to(device)
        psnrs = evaluate_images(model, test_pairs, scale=P.scale, crop_border=P.scale,
                                y_channel=True)
        scores[name]["before"].append(float(np.mean(list(psnrs.values()))))
        train(model, train_set, finetune)
        psnrs = evaluate_images(model, test_pairs, scale=P.scale, crop_border=P.scale,
                                y_channel=True)
        scores[name]["after"].append(float(np.mean(list(psnrs.values()))))
    print(f"seed {seed}: base {scores['base']['before'][-1]:.3f} dB, "
          f"fine-tuned reference {scores['base']['after'][-1]:.3f} dB")

# Paired differences to the reference, seed by seed: "before" against the base as trained,
# "after" against the base fine-tuned alike.
delta = {
    name: {
        stage: paired_differences(s[stage], scores["base"][stage]) for stage in ("before", "after")
    }
    for name, s in scores.items()
}
for name, _, _ in points:
    (mb, sb), (ma, sa) = mean_std(delta[name]["before"]), mean_std(delta[name]["after"])
    print(f"{name:>8}: before {mb:+.3f} ± {sb:.3f} dB, after fine-tuning {ma:+.3f} ± {sa:.3f} dB")

# %% [markdown]
# ## PSNR against FLOPs and latency
#
# Solid lines: after fine-tuning (mean ± std over seeds); dashed: straight after pruning. Stars:
# the seed notes' claims, placed in the relative terms they state: FLOPs = ours x (1 - claimed
# reduction), latency = ours / claimed speed-up, PSNR = our fine-tuned reference + claimed change.
# The channel claims give no PSNR number ("slight", "clear", "severe"): a dotted vertical line
# at their claimed cost.

# %%
claims = papers.table("pruning", "seed_claims")
claim_axis = {"num_block": "B", "num_group": "G", "num_group+num_block": "B+G",
              "num_feat_fraction": "C"}
colors = {"B": "tab:blue", "G": "tab:orange", "C": "tab:green", "B+G": "tab:purple"}
ref_after = mean_std(scores["base"]["after"])[0]
ref_before = mean_std(scores["base"]["before"])[0]
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
for ax, key, label, claim_x in (
    (axes[0], "gmacs", f"GMACs per {P.latency_size}x{P.latency_size} LR input",
     lambda c: base_c["gmacs"] * (1 - c["flops_reduction"])),
    (axes[1], "latency_ms", f"CPU latency (ms, median, {torch.get_num_threads()} thread(s))",
     lambda c: base_c["latency_ms"] / c["speedup"]),
):
    for axis, color in colors.items():
        names = ["base"] + [n for n, a, _ in points if a == axis]
        if len(names) == 1:
            continue
        xs = [complexity[n][key] for n in names]
        after = [mean_std(scores[n]["after"]) for n in names]
        before = [mean_std(scores[n]["before"])[0] for n in names]
        ax.errorbar(xs, [m for m, _ in after], yerr=[0 if np.isnan(s) else s for _, s in after],
                    color=color, marker="o", capsize=3, label=f"{axis} pruned, fine-tuned")
        ax.plot(xs, before, color=color, ls="--", marker=".", alpha=0.6)
        for n, x_, (m, _) in zip(names[1:], xs[1:], after[1:]):
            ax.annotate(n, (x_, m), textcoords="offset points", xytext=(4, 4), fontsize=8)
    for c in claims:
        axis = claim_axis.get(c["axis"])
        if axis is None or c["model"] != "RCAN":
            continue
        if c["flops_reduction"] is None or (key == "latency_ms" and c["speedup"] is None):
            continue
        if c["delta_db"] is not None:
            ax.plot(claim_x(c), ref_after + c["delta_db"], marker="*", ms=14, ls="none",
                    color=colors[axis], markeredgecolor="k")
        else:
            ax.axvline(claim_x(c), color=colors[axis], ls=":", alpha=0.7)
            ax.annotate(f"claim: {c['psnr_note'].split(' (')[0]}", (claim_x(c), ax.get_ylim()[0]),
                        rotation=90, fontsize=7, color=colors[axis], va="bottom")
    ax.set_xlabel(label)
    ax.set_ylabel("PSNR (dB, Y)")
    ax.grid(alpha=0.3)
axes[0].plot([], [], marker="*", ms=12, ls="none", color="gray", markeredgecolor="k",
             label="seed notes' claim")
axes[0].plot([], [], ls="--", color="gray", label="before fine-tuning")
axes[0].legend(fontsize=8)
fig.suptitle(f"RCAN C{C0} G{G0} B{B0} x{P.scale}: pruning curves ({len(seeds)} seed(s))")
fig.tight_layout()
plot.save(fig, out_dir / "pruning_curves.png")

# %% [markdown]
# The same in the claims' own terms: the change in PSNR against the fine-tuned reference
# (dashed: straight after pruning, against the base), against the FLOPs removed (counted
# exactly) and the speed-up (measured).

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
for ax, key, label in ((axes[0], "flops_reduction", "FLOPs removed (fraction)"),
                       (axes[1], "speedup", "speed-up (x, CPU latency)")):
    for axis, color in colors.items():
        names = ["base"] + [n for n, a, _ in points if a == axis]
        if len(names) == 1:
            continue
        xs = [complexity[n][key] for n in names]
        stats = [mean_std(delta[n]["after"]) for n in names]
        ax.errorbar(xs, [m for m, _ in stats], yerr=[0 if np.isnan(s) else s for _, s in stats],
                    color=color, marker="o", capsize=3, label=f"{axis} (ours)")
        ax.plot(xs, [mean_std(delta[n]["before"])[0] for n in names], color=color, ls="--",
                marker=".", alpha=0.5)
    for c in claims:
        axis = claim_axis.get(c["axis"])
        value = c["flops_reduction"] if key == "flops_reduction" else c["speedup"]
        if axis is None or c["model"] != "RCAN" or value is None:
            continue
        if c["delta_db"] is not None:
            ax.plot(value, c["delta_db"], marker="*", ms=14, ls="none", color=colors[axis],
                    markeredgecolor="k")
        else:
            ax.axvline(value, color=colors[axis], ls=":", alpha=0.7)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel(label)
    ax.set_ylabel("ΔPSNR after fine-tuning (dB)")
    ax.grid(alpha=0.3)
axes[0].plot([], [], marker="*", ms=12, ls="none", color="gray", markeredgecolor="k",
             label="seed notes' claim")
axes[0].plot([], [], ls="--", color="gray", label="before fine-tuning (vs the base)")
axes[0].legend(fontsize=8)
fig.tight_layout()
plot.save(fig, out_dir / "pruning_relative.png")

# %% [markdown]
# ## Results file

# %%
results = dict(
    model=dict(arch="rcan", **base_kwargs),
    points=[
        dict(name=name, axis=axis, kwargs=point_kwargs[name], **complexity[name],
             psnr_before=scores[name]["before"], psnr_after=scores[name]["after"],
             delta_before=delta[name]["before"], delta_after=delta[name]["after"])
        for name, axis, _ in points
    ],
    latency=dict(input=list(x_lat.shape), threads=torch.get_num_threads(), repeats=P.repeats),
    test=dict(crops=len(test_pairs), lr_size=P.eval_size, crop_border=P.scale, y_channel=True),
)

# %% [markdown]
# ## Which claims held at our scale?
#
# Generated from the numbers above, with these rules:
# - **PSNR change**, paired per seed: straight after pruning against the base, and after
#   fine-tuning against the fine-tuned reference (the notes do not say which they mean). "Not
#   resolved" if the 95% confidence interval of the mean change (Student's t over the seeds,
#   `srlab.evaluate.confidence_interval`) contains zero (always, with a single seed); otherwise
#   "held" if the claimed value lies within that interval, else "larger drop" / "smaller drop"
#   than claimed.
# - **FLOPs reduction** (exact count): "held" within 5 percentage points of the claim.
# - **Speed-up** (measured): "held" within 10 % of the claim, else "larger" / "smaller".
# - **Orderings** (seed-paired differences, `srlab.evaluate.verdict`): "held", "reversed" or
#   "not resolved" by the same interval rule.
# The halving claims are matched with our halving points (B0 -> B0/2, G0 -> G0/2, both), the
# channel claims with 75 / 50 / 25 % of C0 channels kept.

# %%
half = {"num_block": f"B{B0 // 2}", "num_group": f"G{G0 // 2}",
        "num_group+num_block": f"G{G0 // 2}B{B0 // 2}"}
for frac in (0.75, 0.5, 0.25):
    half[f"C{frac}"] = f"C{round(C0 * frac)}"
rows, verdicts = [], []
for c in claims:
    key = c["axis"] if c["axis"] != "num_feat_fraction" else f"C{c['to']}"
    name = half.get(key)
    if c["model"] != "RCAN" or name not in complexity:
        continue
    ours = complexity[name]
    psnr_v = {}
    for stage in ("before", "after"):
        m, s = mean_std(delta[name][stage])
        low, high = confidence_interval(delta[name][stage])
        if c["delta_db"] is None:
            v = f"no number claimed ({c['psnr_note'].split(' (')[0]})"
        elif verdict(delta[name][stage], -1.0) == "not resolved":
            v = "not resolved"
        elif low <= c["delta_db"] <= high:
            v = "held"
        else:
            v = "larger drop" if m < c["delta_db"] else "smaller drop"
        psnr_v[stage] = (m, s, v)
    red = ours["flops_reduction"]
    off = red - c["flops_reduction"]
    flops_v = "held" if abs(off) <= 0.05 else f"off by {100 * off:+.0f} points"
    ratio = ours["speedup"] / c["speedup"]
    speed_v = "held" if abs(ratio - 1) <= 0.1 else ("larger" if ratio > 1 else "smaller")
    claimed_db = "?" if c["delta_db"] is None else f"{c['delta_db']:+.2f}"
    psnr_cells = [f"{m:+.3f} ± {s:.3f}: **{v}**" for m, s, v in psnr_v.values()]
    rows.append([c["claim"], name, claimed_db, *psnr_cells,
                 f"{100 * c['flops_reduction']:.0f} / {100 * red:.1f} %: **{flops_v}**",
                 f"{c['speedup']:.1f} / {ours['speedup']:.2f}x: **{speed_v}**"])
    verdicts.append(dict(claim=c["claim"], point=name, claimed_db=c["delta_db"],
                         psnr_before=psnr_v["before"], psnr_after=psnr_v["after"],
                         flops=flops_v, speed=speed_v, flops_reduction=red,
                         speedup=ours["speedup"]))

# Orderings, seed-paired: the 95% interval of the difference of the two drops must exclude zero.
b_half, g_half, c_half = half["num_block"], half["num_group"], half["C0.5"]
orderings = []
if b_half in delta and g_half in delta:
    d = paired_differences(delta[b_half]["after"], delta[g_half]["after"])
    orderings.append((f"halving B costs less than halving G ({b_half} vs {g_half})", d, +1))
if c_half in delta and b_half in delta and g_half in delta:
    d = paired_differences(delta[c_half]["after"], delta[b_half]["after"])
    orderings.append((f"halving C costs more than halving B ({c_half} vs {b_half})", d, -1))
    d = paired_differences(delta[c_half]["after"], delta[g_half]["after"])
    orderings.append((f"halving C costs more than halving G ({c_half} vs {g_half})", d, -1))
feat_names = [half[f"C{f}"] for f in (0.75, 0.5, 0.25) if half[f"C{f}"] in delta]
for wider, narrower in zip(feat_names, feat_names[1:]):
    d = paired_differences(delta[narrower]["after"], delta[wider]["after"])
    orderings.append((f"fewer channels cost more ({narrower} vs {wider})", d, -1))
for name, axis, _ in points:
    if axis != "none":
        d = paired_differences(scores[name]["after"], scores[name]["before"])
        orderings.append((f"fine-tuning helps after pruning ({name})", d, +1))
order_rows = []
for text, d, sign in orderings:
    v = verdict(d, sign).replace("reproduced", "held")
    m, s = mean_std(d)
    order_rows.append([text, f"{m:+.3f} ± {s:.3f} dB", f"**{v}**"])
    verdicts.append(dict(claim=text, mean_db=m, std_db=s, verdict=v))

claims_header = ["claim (seed 002)", "our point", "ΔPSNR claimed (dB)",
                 "ours, straight after pruning", "ours, after fine-tuning",
                 "FLOPs removed claimed / ours", "speed-up claimed / ours"]
display(Markdown(
    f"RCAN C{C0} G{G0} B{B0} x{P.scale}, {len(seeds)} seed(s), fine-tuned "
    f"{P.finetune_iters} iterations; latency at {torch.get_num_threads()} thread(s).\n\n"
    + markdown_table(claims_header, rows) + "\n\n"
    + markdown_table(["ordering", "paired difference (mean ± std)", "verdict"], order_rows)
))

results["verdicts"] = verdicts
results["provenance"] = provenance.record() | {"cpu_time_s": cpu.seconds()}
write_json(results_dir / "pruning_curves.json", results)
print("wrote", results_dir / "pruning_curves.json")
