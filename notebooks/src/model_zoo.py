# %% [markdown]
# # The model zoo of the BasicSR survey, side by side
#
# The project's survey note (seed 000, sections 2.1-2.3) lists eleven BasicSR systems: five image
# SR models, four video SR models and two "special-purpose" ones. This notebook puts all eleven in
# one table: the task, parameters, FLOPs per output frame at one stated size, CPU latency in
# float32 and bfloat16, the temporal window, what the note says each is for, and, with
# `weights_dir=` pointing at a folder of official BasicSR checkpoints, which files load into which
# preset and how each scores on the same frames.
#
# Nothing is downloaded. Without `weights_dir` the notebook says so and shows architecture and
# cost only: a randomly initialised network has a cost but no quality worth scoring. The PSNR
# that is always reported is the bicubic floor on the frames the models would be scored on.
#
# Two corrections to the note, both visible below: **TOF** is TOFlow, *task-oriented flow* for
# video SR (Xue et al., IJCV 2019), not time-of-flight depth sensing; and **MSRGAN**'s generator
# is MSRResNet itself (the GAN changes the training, not the network), so its checkpoint loads
# into the same preset as SRResNet's.

# %% tags=["parameters"]
profile: str = "quick"  # smoke | quick | paper
weights_dir: str = ""  # a folder of official BasicSR checkpoints (*.pth); empty: cost only
data_root: str = ""  # clips in the Vid4/REDS layout (root/clip/frame.png); empty: bundled clips
systems: str | None = None  # comma-separated subset of the systems below
lr_size: int | None = None  # the stated size: LR frames lr_size x lr_size, HR 4x that
clip_frames: int | None = None  # frames in the input of a recurrent model when timing it
repeats: int | None = None  # timed passes per model and dtype (after one warm-up pass)
threads: int | None = None  # torch threads
score_clips: int | None = None  # clips scored with weights_dir
score_frames: int | None = None  # frames scored per clip
out_dir: str = "../figures"  # where figures are saved
results_dir: str = "../results"  # where the results file is saved

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

import srlab
from srlab import checkpoints, complexity, papers, plot
from srlab.archs import PRESETS, build
from srlab.data import VideoFolder, bundled_videos
from srlab.degradations import bi_degrade, duf_degrade, imresize
from srlab.io import quantize, write_json
from srlab.metrics import psnr
from srlab.notebook import Provenance, resolve_parameters

# One row per system of the survey. kind: how it is fed; window: frames it sees per output frame;
# candidates: the presets an official checkpoint of it may fit; note: seed 000's "suitable for"
# (line), then an English gloss.
SYSTEMS = {
    "EDSR": dict(preset="edsr_x4", kind="image", task="image SR", window="1 frame",
                 candidates=["edsr_baseline_x2", "edsr_baseline_x3", "edsr_baseline_x4",
                             "edsr_x2", "edsr_x3", "edsr_x4"],
                 note="医学图像、遥感图像 (17): medical and remote-sensing images"),
    "ESRGAN": dict(preset="esrgan_x4", kind="image", task="image SR (GAN)", window="1 frame",
                   candidates=["esrgan_x4"],
                   note="自然图像、艺术作品修复 (18): natural images, restoring artwork"),
    "RCAN": dict(preset="rcan_x4", kind="image", task="image SR", window="1 frame",
                 candidates=["rcan_x2", "rcan_x3", "rcan_x4", "rcan_x8"],
                 note="低分辨率纹理重建 (19): texture reconstruction from low resolution"),
    "SRResNet": dict(preset="msrresnet_x4", kind="image", task="image SR", window="1 frame",
                     candidates=["msrresnet_x2", "msrresnet_x3", "msrresnet_x4"],
                     note="实时预览、移动端应用 (20): real-time preview, mobile apps"),
    "MSRGAN": dict(preset="msrresnet_x4", kind="image", task="image SR (GAN)", window="1 frame",
                   candidates=["msrresnet_x4"],
                   note="老照片锐化、细节增强 (21): sharpening old photos, detail enhancement"),
    "BasicVSR": dict(preset="basicvsr", kind="recurrent", task="video SR",
                     window="whole clip, both directions", candidates=["basicvsr"],
                     note="监控视频、匀速运动视频 (27): surveillance, uniform motion"),
    "IconVSR": dict(preset="iconvsr_reds", kind="recurrent", task="video SR",
                    window="whole clip, both directions", candidates=["iconvsr_reds",
                                                                      "iconvsr_vimeo"],
                    note="复杂运动视频（如体育赛事） (28): complex motion, e.g. sports"),
    "EDVR": dict(preset="edvr_l", kind="window", task="video SR", window="5 frames",
                 candidates=["edvr_m", "edvr_l"],
                 note="电影修复、动态模糊视频 (29): film restoration, motion-blurred video"),
    "DUF": dict(preset="duf_52l_x4", kind="window", task="video SR", window="7 frames",
                candidates=["duf_16l_x2", "duf_16l_x3", "duf_16l_x4", "duf_28l_x4",
                            "duf_52l_x4"],
                note="专业视频后期（如影视制作） (30): professional post-production (film, TV)"),
    "HiFaceGAN": dict(preset="hifacegan", kind="face", task="face restoration (GAN)",
                      window="1 image", candidates=["hifacegan"],
                      note="人脸修复 (36): face restoration; eyes, hair and other facial detail"),
    "TOF": dict(preset="tof", kind="window", task="video SR (TOFlow)", window="7 frames",
                candidates=["tof"],
                note="深度辅助 (37): 'time-of-flight depth for stereo restoration, needs "
                     "hardware': wrong, TOF here is TOFlow (task-oriented flow) video SR"),
}  # fmt: skip
SCALE = 4  # every system's main preset is x4 (HiFaceGAN restores a x4-degraded face at HR size)

PROFILES = {
    "smoke": dict(systems="SRResNet,DUF,TOF,HiFaceGAN", lr_size=16, clip_frames=3, repeats=1,
                  threads=1, score_clips=1, score_frames=2),
    "quick": dict(systems=",".join(SYSTEMS), lr_size=32, clip_frames=7, repeats=3, threads=1,
                  score_clips=4, score_frames=10),
    # REDS-sized LR frames (close to 180 x 320, sides multiples of 8 for TOFlow and HiFaceGAN)
    "paper": dict(systems=",".join(SYSTEMS), lr_size=176, clip_frames=15, repeats=5,
                  threads=torch.get_num_threads(), score_clips=4, score_frames=30),
}  # fmt: skip
P = resolve_parameters(globals(), PROFILES)
prov = Provenance(P)
torch.set_num_threads(P.threads)
out_dir, results_dir = Path(P.out_dir), Path(P.results_dir)
out_dir.mkdir(parents=True, exist_ok=True)
chosen = [s.strip() for s in P.systems.split(",")]
unknown = [s for s in chosen if s not in SYSTEMS]
if unknown:
    raise ValueError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
capability = torch.backends.cpu.get_cpu_capability()  # the vector ISA PyTorch dispatches to
cpuinfo = Path("/proc/cpuinfo")  # Linux: the instructions that run bfloat16 natively
bf16_flags = sorted(set(cpuinfo.read_text().split()) & {"avx512_bf16", "amx_bf16"}
                    if cpuinfo.exists() else [])
listed = ", ".join(bf16_flags) or "none" if cpuinfo.exists() else "unknown (no /proc/cpuinfo)"
print(f"srlab {srlab.__version__}, torch {torch.__version__}, {torch.get_num_threads()} "
      f"thread(s), CPU capability {capability}; native bfloat16 instructions: {listed}")
print(P)

# %% [markdown]
# ## Architecture and cost
#
# For each system, its main preset (BasicSR's released configuration) on one stated input:
# LR frames of `lr_size` x `lr_size`, output 4x that. Each model gets what it takes: an image
# SR model one LR frame; BasicVSR and IconVSR a clip of `clip_frames` LR frames (their cost is
# divided by the frames they output); EDVR 5 and DUF 7 LR frames for one output frame; TOFlow 7
# frames already bicubic-upsampled to the HR size; HiFaceGAN one degraded image at the HR size.
# FLOPs are counted on the meta device (shapes only). Latency is the median of `repeats` passes
# after one warm-up, per output frame, in float32 and under bfloat16 autocast.
#
# bfloat16 runs natively only on CPUs with AVX512-BF16 or AMX; elsewhere PyTorch converts to and
# from float32 around each kernel and bfloat16 can be slower than float32. PyTorch's CPU
# capability (the vector ISA it dispatches its own kernels to) and the bfloat16 instructions the
# CPU lists are printed above and stored with the results: the bf16 column says what this CPU
# does, not what another would.

# %%
L, H = P.lr_size, SCALE * P.lr_size
INPUTS = {  # kind -> (input shape, output frames per pass)
    "image": ((1, 3, L, L), 1),
    "recurrent": ((1, P.clip_frames, 3, L, L), P.clip_frames),
    "face": ((1, 3, H, H), 1),
}
rows = []
for name in chosen:
    spec = SYSTEMS[name]
    model = build(spec["preset"]).eval()
    arch = PRESETS[spec["preset"]][0]
    if spec["kind"] == "window":
        frames = 5 if arch == "edvr" else 7
        side = H if arch == "tof" else L
        shape, out_frames = (1, frames, 3, side, side), 1
    else:
        shape, out_frames = INPUTS[spec["kind"]]
    torch.manual_seed(0)
    x = torch.rand(shape)
    count = complexity.flops(model, x)
    fp32 = complexity.latency(model, x, warmup=1, repeats=P.repeats)
    bf16 = complexity.latency(model, x, warmup=1, repeats=P.repeats, dtype=torch.bfloat16)
    rows.append(dict(
        system=name, preset=spec["preset"], task=spec["task"], window=spec["window"],
        params=complexity.count_params(model), input_shape=list(shape),
        gflops_per_frame=count["gflops"] / out_frames,
        latency_fp32_ms_per_frame=fp32["median_s"] * 1e3 / out_frames,
        latency_bf16_ms_per_frame=bf16["median_s"] * 1e3 / out_frames,
        note=spec["note"],
    ))  # fmt: skip
    del model
    print(f"{name:>10}: {rows[-1]['params']:>11,} params, "
          f"{rows[-1]['gflops_per_frame']:8.2f} GFLOPs/frame, "
          f"fp32 {rows[-1]['latency_fp32_ms_per_frame']:9.1f} ms/frame, "
          f"bf16 {rows[-1]['latency_bf16_ms_per_frame']:9.1f} ms/frame")

ratios = [r["latency_fp32_ms_per_frame"] / r["latency_bf16_ms_per_frame"] for r in rows]
lines = ["| system | task | preset | params (M) | GFLOPs / frame | fp32 ms / frame | "
         "bf16 ms / frame | window | the note says it is for (seed 000, line) |",
         "|---|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(
        f"| {r['system']} | {r['task']} | `{r['preset']}` | {r['params'] / 1e6:.2f} | "
        f"{r['gflops_per_frame']:.2f} | {r['latency_fp32_ms_per_frame']:.1f} | "
        f"{r['latency_bf16_ms_per_frame']:.1f} | {r['window']} | {r['note']} |"
    )
display(Markdown("\n".join(lines + [
    "",
    f"Output frames {H} x {H} (LR {L} x {L}); {torch.get_num_threads()} thread(s); CPU "
    f"capability {capability}, native bfloat16 instructions: {listed}; "
    f"1-minute load average at the start "
    f"{prov.load_at_start} on {prov.record()['cpu_count']} CPUs (timings on a busy machine are "
    "inflated, ratios between rows less so).",
    "",
    f"bfloat16 autocast against float32 here: {min(ratios):.2f}x to {max(ratios):.2f}x as fast "
    f"(median {sorted(ratios)[len(ratios) // 2]:.2f}x). Fewest GFLOPs per frame: "
    f"{min(rows, key=lambda r: r['gflops_per_frame'])['system']}; most: "
    f"{max(rows, key=lambda r: r['gflops_per_frame'])['system']}. Parameters and FLOPs do not "
    "rank the systems the same way: TOFlow has the fewest parameters but runs at the HR size, "
    "HiFaceGAN the most, but most of them sit in its blocks at 1/32 and 1/16 of the output size.",
])))

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
ax = axes[0]
labels = {}  # preset -> the systems that use it (SRResNet and MSRGAN share one)
for r in rows:
    labels.setdefault(r["preset"], []).append(r["system"])
for r in rows:
    if labels[r["preset"]][0] == r["system"]:
        ax.loglog(r["params"] / 1e6, r["gflops_per_frame"], "o", ms=8)
        ax.annotate(" / ".join(labels[r["preset"]]), (r["params"] / 1e6, r["gflops_per_frame"]),
                    fontsize=8, xytext=(4, 4), textcoords="offset points")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel("parameters (M)")
ax.set_ylabel(f"GFLOPs per {H}x{H} output frame")
ax.grid(alpha=0.3, which="both")
ax = axes[1]
names = [r["system"] for r in rows]
pos = torch.arange(len(rows)).numpy()
ax.barh(pos - 0.2, [r["latency_fp32_ms_per_frame"] for r in rows], 0.4, label="float32")
ax.barh(pos + 0.2, [r["latency_bf16_ms_per_frame"] for r in rows], 0.4, label="bfloat16 autocast")
ax.set_yticks(pos, names)
ax.set_xscale("log")
ax.xaxis.set_minor_formatter(plt.NullFormatter())
ax.set_xlabel(f"CPU ms per output frame ({torch.get_num_threads()} thread(s), {capability})")
ax.legend()
fig.suptitle(f"The survey's systems at LR {L}x{L} -> {H}x{H}")
fig.tight_layout()
plot.save(fig, out_dir / "model_zoo_cost.png")

# %% [markdown]
# ## Which official checkpoint files load
#
# Every `*.pth` file in `weights_dir` is compared, key by key and shape by shape, with every
# candidate preset of every system (on the meta device: no memory). A file that fits loads with
# `strict=True` into that preset. Shapes cannot tell everything apart: DUF's official and
# from-scratch batch-norm settings have the same shapes (the presets here are the official
# ones), and MSRGAN's generator is MSRResNet.

# %%
weight_files = sorted(Path(P.weights_dir).glob("*.pth")) if P.weights_dir else []
if P.weights_dir and not Path(P.weights_dir).is_dir():
    raise FileNotFoundError(f"weights_dir {P.weights_dir!r} is not a folder")
shapes = {}
for preset in sorted({c for s in chosen for c in SYSTEMS[s]["candidates"]}):
    with torch.device("meta"):
        shapes[preset] = {k: tuple(v.shape) for k, v in build(preset).state_dict().items()}
matches = []  # (system, preset, file)
for path in weight_files:
    state = checkpoints.state_dict_of(checkpoints.read(path))
    found = {k: tuple(v.shape) for k, v in state.items()}
    fits = [p for p, s in shapes.items() if s == found]
    for system in chosen:
        for preset in fits:
            if preset in SYSTEMS[system]["candidates"]:
                matches.append((system, preset, path))
    print(f"{path.name}: " + (", ".join(fits) if fits else "fits no preset of these systems"))
if not P.weights_dir:
    display(Markdown("**No `weights_dir`:** no checkpoint was loaded, so the models are not "
                     "scored; the table above is architecture and cost only."))

# %% [markdown]
# ## Scores on the same frames
#
# The test frames: the first `score_frames` frames of `score_clips` clips (the bundled synthetic
# test clips, or the clips under `data_root`), cropped to 128 x 192 HR (sides divisible by 32,
# HiFaceGAN's rule) unless `data_root` is given (then cropped to multiples of 32). LR frames:
# bicubic (BI) x4 for every system but DUF, whose official weights expect its own Gaussian
# downsampling (`srlab.degradations.duf_degrade`); TOFlow and HiFaceGAN get the LR frames
# bicubic-upsampled back to the HR size. Sliding-window models see the frames around each one,
# mirrored at the clip's ends. PSNR on Y, 4 border pixels cropped, outputs rounded to 8 bits.
# The bicubic floor is computed always. Numbers on the bundled clips are not comparable with the
# papers' (Vid4, REDS4), only with each other.

# %%
if P.data_root:
    folder = VideoFolder(P.data_root, scale=SCALE)
    clip_frames_hr = {folder.names[i]: folder[i]["gt"] for i in range(len(folder))}
else:
    clip_frames_hr = {k: c.frames for k, c in bundled_videos("test").items()}
clips = {}
for clip_name in list(clip_frames_hr)[: P.score_clips]:
    gt = clip_frames_hr[clip_name][: P.score_frames]
    h, w = gt.shape[-2:]
    ch, cw = (128, 192) if not P.data_root else (h // 32 * 32, w // 32 * 32)
    clips[clip_name] = gt[..., :ch, :cw]  # (t, 3, ch, cw)
protocol = dict(crop_border=SCALE, y_channel=True)
floor = {}
for deg, fn in (("BI", bi_degrade), ("DUF", duf_degrade)):
    values = [psnr(quantize(imresize(fn(gt, SCALE), SCALE).clamp(0, 1)), gt, **protocol)
              for gt in clips.values()]  # per frame
    floor[deg] = float(torch.cat(values).mean())
print(f"{len(clips)} clip(s) x {P.score_frames} frames of {next(iter(clips.values())).shape[-2:]}:"
      f" bicubic floor {floor['BI']:.2f} dB (BI), {floor['DUF']:.2f} dB (DUF degradation)")

scores = []
for system, preset, path in matches:
    model = checkpoints.load(build(preset), path).eval()
    arch, s = PRESETS[preset][0], getattr(model, "scale", SCALE)
    kind = SYSTEMS[system]["kind"]
    values = []
    for gt in clips.values():
        gt = gt[..., : gt.shape[-2] // s * s, : gt.shape[-1] // s * s]
        lq = duf_degrade(gt, s) if arch == "duf" else bi_degrade(gt, s)  # (t, 3, h, w)
        up = imresize(lq, s).clamp(0, 1)  # (t, 3, H, W): TOFlow's and HiFaceGAN's input
        t = lq.shape[0]
        with torch.inference_mode():
            if kind == "image":
                sr = torch.cat([model(f[None]) for f in lq])
            elif kind == "face":
                sr = torch.cat([model(f[None]) for f in up])
            elif kind == "recurrent":
                sr = model(lq[None])[0]
            else:  # a window of n frames around each frame, mirrored at the ends
                n = 5 if arch == "edvr" else 7
                frames_in = up if arch == "tof" else lq
                sr = torch.cat([
                    model(frames_in[[(t - 1) - abs((t - 1) - abs(j))
                                     for j in range(i - n // 2, i + n // 2 + 1)]][None])
                    for i in range(t)
                ])  # fmt: skip
        values.append(psnr(quantize(sr.clamp(0, 1)), gt, **protocol))
    scores.append(dict(system=system, preset=preset, file=path.name, scale=s,
                       degradation="DUF" if arch == "duf" else "BI",
                       psnr_y=float(torch.cat(values).mean())))
    print(f"{system:>10} {preset:>14} {path.name}: {scores[-1]['psnr_y']:.2f} dB")
if not matches:
    print("nothing scored: no checkpoint in weights_dir fits a preset of the chosen systems"
          if P.weights_dir else "nothing scored: no weights_dir")

# %% [markdown]
# ## Published numbers, for reference
#
# The BasicSR model zoo's official DUF and TOF weights on Vid4 (Y channel), and MMagic's TOF;
# from `papers/duf.json` and `papers/tof.json` with their confidence. Not comparable with scores
# on the bundled clips.

# %%
published = [dict(r, paper=p) for p in ("duf", "tof") for r in papers.table(p, "vid4")]
for r in published:
    print(f"{r['paper']:>4} {r['model']:<32} {r['channel']:>3}: {r['psnr']} / {r['ssim']} "
          f"({r['source_short']}, confidence {r['confidence']})")

write_json(results_dir / f"model_zoo_{P.profile}.json", dict(
    stated_size=dict(lr=[L, L], hr=[H, H]), cpu_capability=capability,
    bf16_instructions=bf16_flags, rows=rows,
    weights_dir_given=bool(P.weights_dir), weight_files=[p.name for p in weight_files],
    matches=[dict(system=s, preset=p, file=f.name) for s, p, f in matches], scores=scores,
    bicubic_floor_psnr_y=floor, scored_frames=dict(clips=len(clips), frames=P.score_frames),
    provenance=prov.record(),
))  # fmt: skip
print("wrote", results_dir / f"model_zoo_{P.profile}.json")
