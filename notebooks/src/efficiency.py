# %% [markdown]
# # Efficient inference on a CPU: what bf16, INT8, compilation and ONNX Runtime buy, and cost
#
# The seed notes promise large gains from lower precision: "FP16 makes IconVSR about 40 %
# faster" (seed 000, line 151), "8-bit quantisation: 75 % smaller, about 30 % faster" (seed 001,
# line 37), and a hypothetical TensorRT table (seed 002, sec. 2.7) that starts from "Python
# inference at 1.01 MB/s". None of them says on which hardware or at what PSNR cost
# ([`papers/pruning.md`](../papers/pruning.md)).
#
# Here every variant runs the same trained model on the same input as float32 eager, in one run,
# on this machine's CPU: `channels_last`, bfloat16 autocast (FP16 autocast is a CUDA feature),
# dynamic and static INT8 quantisation with PyTorch's own (deprecated) `torch.ao.quantization`
# and with torchao's PT2E, `torch.compile`, an ONNX export run by ONNX Runtime, and OpenVINO
# (variants whose package is missing are listed as unavailable). For each: speed-up, throughput
# in MB/s of output (the notes' unit), size of the weights, and the PSNR cost. The measuring code is
# `srlab/efficiency.py` (its docstring says what each variant is and is not);
# `benchmarks/efficiency.py` prints the same table from the command line.
#
# A CPU says nothing about a GPU or TensorRT, which are out of scope here; and one CPU says
# little about another: the verdicts state this CPU's capability (`srlab.infer.cpu_capability`).

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
weights: str = ""  # an srlab checkpoint of an image SR model; empty: train a small RCAN here
data_root: str = ""  # a folder of HR training/calibration images; empty: bundled train images
test_root: str = ""  # a folder of HR test images; empty: bundled test images
scale: int | None = None  # upscaling factor of the model trained here
num_feat: int | None = None  # channels of the RCAN trained here
num_group: int | None = None  # its residual groups
num_block: int | None = None  # its RCABs per group
train_iters: int | None = None  # its training iterations
batch_size: int | None = None
patch_size: int | None = None  # LR training patch side
lr: float | None = None  # learning rate (cosine schedule)
lr_size: int | None = None  # LR side of the test crops and of the timed input
variants: str | None = None  # comma-separated subset of srlab.efficiency.VARIANTS
threads: int | None = None  # torch (and ONNX Runtime) threads
repeats: int | None = None  # interleaved timing rounds
tiles: str | None = None  # tile sizes (LR pixels) for the tiling throughput, e.g. "64,32"
tile_overlap: int | None = None  # LR pixels of context on each inner side of a tile
out_dir: str = "../figures"  # where figures are saved
results_dir: str = "../results"  # where the results file is saved

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

import srlab
from srlab import data, efficiency, papers, plot
from srlab.archs import build
from srlab.checkpoints import load_model
from srlab.complexity import count_params, flops
from srlab.infer import cpu_capability
from srlab.io import read_images, write_json
from srlab.notebook import Provenance, resolve_parameters
from srlab.train import TrainConfig, train

PROFILES = {
    "smoke": dict(
        scale=2, num_feat=16, num_group=1, num_block=1, train_iters=2, batch_size=2,
        patch_size=12, lr=5e-4, lr_size=16, threads=1, repeats=2, tiles="12", tile_overlap=2,
        # seconds, not minutes: no compilation (compile, and PT2E INT8, which compiles)
        variants=",".join(v for v in efficiency.VARIANTS
                          if v not in ("compile", "int8_static_pt2e")),
    ),
    "quick": dict(
        scale=2, num_feat=64, num_group=2, num_block=4, train_iters=200, batch_size=8,
        patch_size=24, lr=5e-4, lr_size=96, threads=1, repeats=10, tiles="64,48", tile_overlap=8,
        variants=",".join(efficiency.VARIANTS),
    ),
    # The seed notes' model, RCAN G10 B20 C64: bring trained weights (weights=, e.g. rcan_x2).
    "paper": dict(
        scale=2, num_feat=64, num_group=10, num_block=20, train_iters=300_000, batch_size=16,
        patch_size=48, lr=1e-4, lr_size=128, threads=torch.get_num_threads(), repeats=10,
        tiles="128,64", tile_overlap=16, variants=",".join(efficiency.VARIANTS),
    ),
}
P = resolve_parameters(globals(), PROFILES)
if P.profile == "paper" and not P.weights:
    raise ValueError("the paper profile measures a trained RCAN G10 B20 C64: pass weights=")
prov = Provenance(P)
torch.set_num_threads(P.threads)
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)
out_dir.mkdir(parents=True, exist_ok=True)
CPU = cpu_capability()  # which number formats this CPU runs natively: every verdict depends on it
print(f"srlab {srlab.__version__}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
      f"CPU capability {CPU['summary']}")
print(P)

# %% [markdown]
# ## The model and the data
#
# Without `weights`, a small RCAN at the paper's width (C64, r=16; G and B cut so it trains on a
# CPU in minutes) is trained on the bundled images: quantisation error depends on the weights
# a model has learned, so a randomly initialised model would say little about the PSNR cost.
# Test set: the centre `lr_size` x `lr_size` LR crop of each test image (BI degradation), scored
# on Y with `scale` border pixels cropped. Calibration for static INT8: the same crops of the
# training images.

# %%
# folders: every .png, by name (an empty or missing folder is an error)
train_images = read_images(P.data_root) if P.data_root else data.bundled_images("train")
test_images = read_images(P.test_root) if P.test_root else data.bundled_images("test")

if P.weights:
    model = load_model(P.weights)
else:
    torch.manual_seed(0)
    model = build("rcan", upscale=P.scale, num_feat=P.num_feat, num_group=P.num_group,
                  num_block=P.num_block)
    train_set = data.ImagePatches(train_images, scale=P.scale, patch_size=P.patch_size)
    train(model, train_set, TrainConfig(iters=P.train_iters, batch_size=P.batch_size, lr=P.lr))
model.eval()
s = model.scale
lq, gt = efficiency.crop_pairs(test_images, scale=s, lr_size=P.lr_size)
calibration, _ = efficiency.crop_pairs(train_images, scale=s, lr_size=P.lr_size)
print(f"{type(model).__name__} x{s}: {count_params(model) / 1e6:.3f} M parameters, "
      f"{flops(model, lq[:1])['macs'] / 1e9:.2f} GMACs per {P.lr_size}x{P.lr_size} input; "
      f"{lq.shape[0]} test crops, {calibration.shape[0]} calibration crops")

# %% [markdown]
# ## Every variant, side by side
#
# `make_runners` prepares each variant (its `setup` time: conversion, calibration, export or
# compilation); `measure` runs each on every test crop for the PSNR and times them in
# interleaved rounds on one crop. Variants that cannot run here are listed with the reason.

# %%
runners, unavailable = efficiency.make_runners(
    model, P.variants.split(","), example=lq[:1], calibration=list(calibration)
)
rows = efficiency.measure(runners, lq, gt, crop_border=s, y_channel=True, repeats=P.repeats)
display(Markdown(efficiency.format_rows(rows, unavailable)))
for row in rows:
    print(f"{row['variant']:>16}: {row['note']}")
print(f"latency: median of {P.repeats} interleaved rounds on (1, 3, {P.lr_size}, {P.lr_size}), "
      f"{torch.get_num_threads()} thread(s)")

# %% [markdown]
# ## Speed against quality, next to the notes' claims
#
# Left: each variant's speed-up over float32 and its PSNR change. The notes give speed-ups
# without a PSNR cost, for video models on other hardware (seed 000's FP16 claim is about GPU
# inference; seed 001 does not say): dashed vertical lines. Right: the size of the weights
# relative to float32, with seed 001's "75 % smaller".

# %%
claims = {c["to"]: c for c in papers.table("pruning", "seed_claims")
          if c["axis"] == "precision" and c["model"] in ("IconVSR", "BasicVSR")
          and c["to"] in ("fp16", "int8")}
fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw=dict(width_ratios=[3, 2]))
ax = axes[0]
for row, marker in zip(rows, "osD^vPX*"):  # a legend, not labels: several variants coincide
    ax.plot(row["speedup"], row["delta_psnr_db"], marker, ms=9, alpha=0.8, ls="none",
            label=row["variant"])
for key, color in (("fp16", "tab:red"), ("int8", "tab:purple")):
    if key in claims:
        c = claims[key]
        ax.axvline(c["speedup"], color=color, ls="--", alpha=0.7,
                   label=f"seed claim: {key.upper()} {c['speedup']:.1f}x ({c['model']})")
ax.axhline(0, color="k", lw=0.8)
ax.axvline(1, color="k", lw=0.8)
ax.set_xlabel(f"speed-up over float32 eager (CPU, {torch.get_num_threads()} thread(s))")
ax.set_ylabel("ΔPSNR vs float32 (dB, Y)")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
ax = axes[1]
sized = [r for r in rows if r["size_mb"] is not None]
fp32_mb = next(r["size_mb"] for r in rows if r["variant"] == "fp32")
ax.barh([r["variant"] for r in sized], [r["size_mb"] / fp32_mb for r in sized], color="tab:gray")
ax.axvline(0.25, color="tab:purple", ls="--", label="seed claim: INT8 75 % smaller")
ax.set_xlabel("weights on disk / float32")
ax.legend(fontsize=8)
fig.suptitle(f"{type(model).__name__} x{s}, input {P.lr_size}x{P.lr_size} LR")
fig.tight_layout()
plot.save(fig, out_dir / "efficiency_tradeoff.png")

# %% [markdown]
# ## Tiling throughput
#
# `srlab.infer.upscale` cuts a large image into tiles that run one at a time (memory bounded by
# one tile). Throughput in MB/s of 8-bit RGB output, the notes' unit, on the centre crop
# (2 x `lr_size` LR pixels square) of the first test image;
# the last column is the largest difference to the whole-image output (RCAN's channel attention
# pools over each tile, so tiling it is never exact).

# %%
img = efficiency.crop_pairs(test_images, scale=s, lr_size=2 * P.lr_size)[0][0]  # (3, h, w)
tile_sizes = [None] + [int(t) for t in P.tiles.split(",")]
tiling = efficiency.tiling_throughput(model, img, tile_sizes, tile_overlap=P.tile_overlap,
                                      repeats=3)
for row in tiling:
    print(f"tile {str(row['tile']):>5} (overlap {row['tile_overlap']}): {row['median_s']:.2f} s, "
          f"{row['mb_per_s']:.3f} MB/s, max |tiled - whole| {row['max_abs_diff']:.1e}")
print(f"LR input {tuple(img.shape[-2:])}, float32, {torch.get_num_threads()} thread(s); "
      "seed 002's hypothetical Python baseline: 1.01 MB/s")

# %% [markdown]
# ## Ours next to the notes
#
# Generated from the numbers above. A speed-up "held" if it is within 10 % of the claim, a size
# within 5 percentage points. The notes' claims are about other models on other hardware (a
# GPU for seed 000), so a miss says what this CPU does with this model, not that a note is
# wrong for its own setting. Every verdict holds for this CPU's capability only
# (`srlab.infer.cpu_capability`): bf16 pays only with AVX512-BF16 or AMX, INT8 only with VNNI.
# On an AVX2-only CPU of this project, bf16 autocast ran this kind of RCAN 67x *slower* than
# float32 (issue 13); `upscale` warns, and `srlab upscale` falls back to float32, there.

# %%
by = {r["variant"]: r for r in rows}
lines = ["| claim (source) | our variant | claimed | ours | PSNR cost (dB) | verdict |",
         "|---|---|---|---|---|---|"]
verdicts = []
checks = [
    ("fp16", "bf16_autocast", "speedup", "FP16 about 40 % faster (seed 000, IconVSR, GPU)"),
    ("int8", "int8_static_fx", "speedup", "INT8 about 30 % faster (seed 001, BasicVSR)"),
    ("int8", "int8_static_pt2e", "speedup", "INT8 about 30 % faster (seed 001, BasicVSR)"),
    ("int8", "int8_dynamic", "speedup", "INT8 about 30 % faster (seed 001, BasicVSR)"),
    ("int8", "int8_static_fx", "size", "INT8: model 75 % smaller (seed 001)"),
]
native = {"bf16_autocast": "bf16 native" if CPU["bf16_native"] else "bf16 EMULATED",
          "int8_static_fx": "VNNI" if CPU["vnni"] else "no VNNI",
          "int8_static_pt2e": "VNNI" if CPU["vnni"] else "no VNNI"}  # fmt: skip
lines[0] = lines[0].replace("| verdict |", "| verdict | on this CPU |")
lines[1] += "---|"
for key, variant, what, text in checks:
    if key not in claims:
        continue
    if variant not in by:
        why = unavailable.get(variant, "not among this run's variants")
        lines.append(f"| {text} | {variant} | | unavailable: {why} | | | |")
        continue
    r = by[variant]
    if what == "speedup":
        claimed, ours = claims[key]["speedup"], r["speedup"]
        ratio = ours / claimed
        v = "held" if abs(ratio - 1) <= 0.1 else ("faster" if ratio > 1 else "slower")
        v += "" if v == "held" else " than claimed"
        shown = (f"{claimed:.2f}x", f"{ours:.2f}x")
    else:
        claimed, ours = 0.25, r["size_mb"] / fp32_mb
        off = 100 * (ours - claimed)
        v = "held" if abs(off) <= 5 else f"off by {off:+.0f} points"
        shown = ("0.25 of fp32", f"{ours:.2f} of fp32")
    lines.append(f"| {text} | {variant} | {shown[0]} | {shown[1]} | {r['delta_psnr_db']:+.3f} "
                 f"| **{v}** | {CPU['isa']}, {native.get(variant, '-')} |")
    verdicts.append(dict(claim=text, variant=variant, claimed=claimed, ours=ours, verdict=v,
                         delta_psnr_db=r["delta_psnr_db"], cpu=CPU["summary"]))
fastest = max(rows, key=lambda r: r["speedup"])
display(Markdown("\n".join(lines + [
    "",
    f"Fastest here: **{fastest['variant']}**, {fastest['speedup']:.2f}x float32 eager "
    f"({fastest['mb_per_s']:.2f} MB/s), PSNR change {fastest['delta_psnr_db']:+.3f} dB. "
    f"float32 eager runs at {by['fp32']['mb_per_s']:.2f} MB/s on a {P.lr_size}x{P.lr_size} input "
    f"(seed 002's hypothetical Python baseline: 1.01 MB/s, for a different model and machine).",
    "",
    f"Measured on: {CPU['summary']}, {torch.get_num_threads()} thread(s). These verdicts hold "
    "for this CPU only: where bf16 or INT8 is emulated, the same variants are slower, not faster.",
])))

write_json(results_dir / "efficiency.json", dict(
    model=dict(getattr(model, "srlab_config", {}), params=count_params(model)), cpu=CPU,
    rows=rows, unavailable=unavailable, tiling=tiling, verdicts=verdicts,
    input=dict(lr_size=P.lr_size, test_crops=lq.shape[0], calibration_crops=calibration.shape[0]),
    provenance=prov.record(),
))
print("wrote", results_dir / "efficiency.json")
