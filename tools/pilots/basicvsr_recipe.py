"""Pilot for notebooks/basicvsr_ablation's quick recipe: how much does a tiny BasicVSR lean on
propagation after a short training run? (papers/basicvsr.md, "looking for a quick recipe".)

Trains BasicVSR variants with the true LR flow on the bundled synthetic clips rendered with the
given motion, and measures on the 4 test clips: the model minus bicubic, K = 2, 4 and every-frame
segments minus K = 1 (inside the bidirectional model, at inference), and each other variant minus
the bidirectional model of the same seed.

    python tools/pilots/basicvsr_recipe.py --deg BD --speed 3 --frames 15 --hr 16 --iters 400 \
        --seeds 0,1,2 --variants bi,uni,none,img --out pilot.json

Gaussian noise (--noise, sigma in [0, 1] units) is added to every LR training window and, with a
fixed generator, to the test clips' LR frames. --shared-init starts every variant from the
bidirectional model's initial weights where the shapes agree (as the notebook does)."""

from __future__ import annotations

import argparse
import time

import torch

from srlab.archs import build
from srlab.checkpoints import load_shared
from srlab.data import VideoPatches, bundled_videos
from srlab.evaluate import effect, paired_differences
from srlab.io import write_json
from srlab.train import TrainConfig, train
from srlab.video import clip_inputs, evaluate_clips, frame_mean

VARIANTS = {  # name -> BasicVSR arguments
    "bi": dict(propagation="bidirectional", alignment="feature"),
    "uni": dict(propagation="unidirectional", alignment="feature"),
    "none": dict(propagation="bidirectional", alignment="none"),
    "img": dict(propagation="bidirectional", alignment="image"),
    # unidirectional at the depth of one bidirectional branch (half its blocks, half the compute)
    "uni_half": dict(propagation="unidirectional", alignment="feature", half_blocks=True),
}


def with_true_flow(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return model(batch["lq"], flows=(batch["flow_forward"], batch["flow_backward"]))


def per_frame(result: dict):
    """PSNR per frame position, averaged over the test clips: (t,) numpy."""
    return sum(result["psnr"].values()) / len(result["psnr"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deg", default="BI", help="BI | BD")
    ap.add_argument("--speed", type=float, default=3.0, help="max_speed of the clips")
    ap.add_argument("--blur", type=float, default=1.0, help="render blur of the clips")
    ap.add_argument("--noise", type=float, default=0.0, help="LR noise sigma in [0, 1] units")
    ap.add_argument("--frames", type=int, default=15, help="frames per training window")
    ap.add_argument("--hr", type=int, default=16, help="num_feat_hr")
    ap.add_argument("--feat", type=int, default=16)
    ap.add_argument("--block", type=int, default=2)
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--patch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--variants", default="bi,uni", help=f"from {list(VARIANTS)}; bi first")
    ap.add_argument("--test_frames", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--shared-init",
        action="store_true",
        help="every variant starts from bi's initial weights where shapes agree",
    )
    ap.add_argument("--out", default="", help="write every score to this JSON file")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    seeds = [int(s) for s in a.seeds.split(",")]
    variants = a.variants.split(",")
    if variants[0] != "bi":
        raise SystemExit("--variants must start with bi, the reference")
    render = dict(max_speed=a.speed, blur=a.blur)
    train_clips = bundled_videos("train", **render)
    test = bundled_videos("test", num_frames=a.test_frames, **render)
    gen = torch.Generator().manual_seed(1234)
    test_clips = {}
    for name, clip in test.items():
        x = clip_inputs(clip, scale=4, degradation=a.deg)
        x["lq"] = (x["lq"] + a.noise * torch.randn(x["lq"].shape, generator=gen)).clamp(0, 1)
        test_clips[name] = x
    # Fresh noise on every window: VideoPatches(noise=). Until session 8 this pilot added its own
    # noise on top of VideoPatches' (a subclass whose `noise` attribute VideoPatches read as its
    # own, once it had one), so its noisy pilots trained at sigma x 1.41 (papers/basicvsr.md).
    windows = VideoPatches(train_clips, patch_size=a.patch, num_frames=a.frames,
                           degradation=a.deg, scale=4, noise=a.noise)  # fmt: skip
    protocol = dict(scale=4, degradation=a.deg, y_channel=False, crop_border=0, flow="oracle")
    ks = (2, 4, a.test_frames)
    scores, profiles, start = {}, {}, time.perf_counter()
    for variant in variants:
        for seed in seeds:
            arch = dict(num_feat=a.feat, num_block=a.block, num_feat_hr=a.hr)
            if a.shared_init:  # bi's initial weights for this seed
                torch.manual_seed(seed)
                init = build("basicvsr", **arch, **VARIANTS["bi"]).state_dict()
            torch.manual_seed(seed)
            kwargs = dict(VARIANTS[variant])
            if kwargs.pop("half_blocks", False):
                arch["num_block"] = max(1, a.block // 2)
            model = build("basicvsr", **arch, **kwargs)
            if a.shared_init:
                load_shared(model, init)
            if model.spynet is not None:
                model.spynet.requires_grad_(False)
            model = model.to(memory_format=torch.channels_last)
            cfg = TrainConfig(iters=a.iters, batch_size=a.batch, lr=a.lr, loss="charbonnier",
                              seed=seed, progress=False)  # fmt: skip
            train(model, windows, cfg, forward=with_true_flow)
            result = evaluate_clips(model, test_clips, **protocol)
            scores[variant, seed, 1] = frame_mean(result)
            profiles[variant, seed] = per_frame(result)
            bicubic = frame_mean(result, "bicubic_psnr")
            for k in ks if variant == "bi" else ():
                scores[variant, seed, k] = frame_mean(evaluate_clips(model, test_clips, **protocol,
                                                                     segments=k))  # fmt: skip
            if variant == "bi":
                ahead = evaluate_clips(model, test_clips, **protocol, interval=1)
                scores[variant, seed, "interval=1"] = frame_mean(ahead)
                profiles[variant, seed, "interval=1"] = per_frame(ahead)
    print(f"# {vars(a)}")
    report = {"bi - bicubic": [scores["bi", s, 1] - bicubic for s in seeds]}
    report |= {f"K = {k} - K = 1": paired_differences([scores["bi", s, k] for s in seeds],
                                                       [scores["bi", s, 1] for s in seeds])
               for k in ks}  # fmt: skip
    report |= {f"{v} - bi": paired_differences([scores[v, s, 1] for s in seeds],
                                               [scores["bi", s, 1] for s in seeds])
               for v in variants[1:]}  # fmt: skip
    early, late = slice(0, a.test_frames // 4), slice(-(a.test_frames // 4), None)
    lookahead = [profiles["bi", s, "interval=1"] - profiles["bi", s] for s in seeds]
    report["interval=1 - bi"] = [float(d.mean()) for d in lookahead]
    report["interval=1 - bi, early frames"] = [float(d[early].mean()) for d in lookahead]
    for v in variants[1:]:
        gaps = [profiles[v, s] - profiles["bi", s] for s in seeds]
        report[f"{v} - bi, early frames"] = [float(g[early].mean()) for g in gaps]
        report[f"{v} - bi, early - late"] = [float(g[early].mean() - g[late].mean()) for g in gaps]
    for name, diffs in report.items():
        e = effect(diffs, -1.0) if len(diffs) > 1 else {"text": f"{diffs[0]:+.3f} dB (one seed)"}
        print(f"{name:30s} {e['text'].rsplit(' ->', 1)[0]:40s} per seed "
              + " ".join(f"{d:+.3f}" for d in diffs))  # fmt: skip
    print(f"wall time {time.perf_counter() - start:.0f} s")
    if a.out:
        flat = {"|".join(map(str, k)): v for k, v in scores.items()}
        write_json(a.out, {"args": vars(a), "bicubic": bicubic, "report": report, "scores": flat})


if __name__ == "__main__":
    main()
