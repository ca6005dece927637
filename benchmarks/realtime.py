"""Real-time video SR targets (issue 13), as ratios measured side by side in one run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/realtime.py [--basicsr-src /tmp/basicsr-1.4.2] \
        [--weights run/basicvsr.pth] [--lr-size 32] [--frames 6] [--interval 3] [--threads 1]

1. srlab's BasicVSR, float32 eager forward, against BasicSR 1.4.2's on identical weights (target:
   ratio <= 1, no slower). BasicSR is not a dependency: pass --basicsr-src, an unpacked BasicSR
   source tree (`pip download basicsr==1.4.2 --no-binary :all: --no-deps --no-build-isolation`);
   its basicvsr_arch.py and spynet_arch.py are loaded as they are, with the helpers they import
   (flow_warp, make_layer, ResidualBlockNoBN) taken from its arch_util.py, whose other imports
   (torchvision, compiled ops) the BasicVSR class does not use.
2. The best srlab.efficiency video variant against float32 eager (target: >= 2x at a PSNR cost of
   at most 0.05 dB), every variant streamed over one bundled test clip (BD x4). Without
   --weights the model has random weights: the speed-ups mean what they say, the PSNR changes
   only agreement with float32.
3. srlab.stream's overhead (chunking, carrying the forward state, frame by frame) against the
   model's own forward over the same clip with the same interval (target: under 5 %).
Every line states the CPU capability; timings on a shared machine carry the load average."""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import statistics
import sys
import time
import types
from pathlib import Path

import torch
from torch import nn

from srlab import efficiency
from srlab.archs import build
from srlab.checkpoints import load_model
from srlab.data import bundled_videos
from srlab.degradations import degrade
from srlab.infer import cpu_capability
from srlab.io import write_json
from srlab.stream import stream


def basicsr_basicvsr(src: Path) -> type[nn.Module]:
    """BasicSR's BasicVSR class from an unpacked source tree, without importing the basicsr
    package (whose __init__ needs torchvision and compiled ops)."""
    archs = src / "basicsr" / "archs"
    if not (archs / "basicvsr_arch.py").is_file():
        raise FileNotFoundError(f"--basicsr-src: no basicsr/archs/basicvsr_arch.py under {src}")
    registry = types.ModuleType("basicsr.utils.registry")
    registry.ARCH_REGISTRY = types.SimpleNamespace(register=lambda: lambda cls: cls)
    util = types.ModuleType("basicsr.archs.arch_util")
    tree = ast.parse((archs / "arch_util.py").read_text())
    wanted = {"default_init_weights", "make_layer", "ResidualBlockNoBN", "flow_warp"}
    body = [n for n in tree.body if getattr(n, "name", None) in wanted]
    header = "import torch\nfrom torch import nn\nfrom torch.nn import functional as F\n"
    header += "from torch.nn import init\nfrom torch.nn.modules.batchnorm import _BatchNorm\n"
    exec(compile(header, "arch_util", "exec"), util.__dict__)  # noqa: S102 (BasicSR's own code)
    exec(compile(ast.Module(body, []), str(archs / "arch_util.py"), "exec"), util.__dict__)  # noqa: S102
    edvr = types.ModuleType("basicsr.archs.edvr_arch")  # used by IconVSR only
    edvr.PCDAlignment = edvr.TSAFusion = None
    package = types.ModuleType("basicsr.archs")
    package.__path__ = [str(archs)]
    stubs = {
        "basicsr": types.ModuleType("basicsr"),
        "basicsr.utils": types.ModuleType("basicsr.utils"),
        "basicsr.utils.registry": registry,
        "basicsr.archs": package,
        "basicsr.archs.arch_util": util,
        "basicsr.archs.edvr_arch": edvr,
    }
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        for name in ("spynet_arch", "basicvsr_arch"):
            spec = importlib.util.spec_from_file_location(
                f"basicsr.archs.{name}", archs / f"{name}.py"
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        return module.BasicVSR
    finally:
        for name in [*stubs, "basicsr.archs.spynet_arch", "basicsr.archs.basicvsr_arch"]:
            if saved.get(name) is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = saved[name]


def interleaved(calls: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each callable, in rounds that rotate the order."""
    times = {name: [] for name in calls}
    names = list(calls)
    with torch.inference_mode():
        for name in names:
            calls[name]()  # warm-up
        for r in range(repeats):
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--basicsr-src", type=Path, help="an unpacked BasicSR 1.4.2 source tree")
    parser.add_argument("--weights", default="", help="an srlab BasicVSR checkpoint")
    parser.add_argument("--num-feat", type=int, default=64, help="without --weights")
    parser.add_argument("--num-block", type=int, default=30, help="without --weights")
    parser.add_argument(
        "--lr-size",
        type=int,
        default=64,
        help="LR side (a centre crop; >= 64 for BasicSR's SpyNet, whose pyramid needs it)",
    )
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--interval", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(efficiency.VIDEO_VARIANTS))
    parser.add_argument("--json", default="", help="also write the numbers to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    cpu = cpu_capability()
    if args.weights:
        model = load_model(args.weights)
    else:
        torch.manual_seed(0)
        model = build("basicvsr", num_feat=args.num_feat, num_block=args.num_block).eval()
    side = 4 * args.lr_size
    render = dict(num_frames=args.frames, size=(side, side))
    gt = next(iter(bundled_videos("test", **render).values())).frames[None]  # (1, t, 3, 4s, 4s)
    lqs = degrade(gt[0], 4, "BD")[None]  # (1, t, 3, s, s)
    load = os.getloadavg()[0]
    print(
        f"BasicVSR C{model.num_feat} ({args.weights or 'random weights'}), clip (1, {args.frames}, "
        f"3, {args.lr_size}, {args.lr_size}) LR, interval {args.interval}, "
        f"{torch.get_num_threads()} thread(s), CPU {cpu['summary']}, load average {load:.1f}"
    )
    out = {"cpu": cpu, "threads": torch.get_num_threads(), "load_average_start": load}

    # 1. srlab vs BasicSR, float32 eager forward, identical weights
    if args.basicsr_src:
        theirs = basicsr_basicvsr(args.basicsr_src)(num_feat=model.num_feat, num_block=len(
            model.forward_trunk.main[2])).eval()  # fmt: skip
        theirs.load_state_dict(model.state_dict(), strict=True)
        with torch.inference_mode():
            diff = float((model(lqs) - theirs(lqs)).abs().max())
        t = interleaved({"srlab": lambda: model(lqs), "basicsr": lambda: theirs(lqs)},
                        args.repeats)  # fmt: skip
        ratio = t["srlab"] / t["basicsr"]
        print(
            f"1. forward, srlab / BasicSR time: {ratio:.3f} (target <= 1: "
            f"{'met' if ratio <= 1 else 'missed'}); {1e3 * t['srlab'] / args.frames:.0f} vs "
            f"{1e3 * t['basicsr'] / args.frames:.0f} ms per frame; max |diff| {diff:.1e}"
        )
        out["vs_basicsr"] = {"time_ratio": ratio, "srlab_s": t["srlab"], "basicsr_s":
                             t["basicsr"], "max_abs_diff": diff}  # fmt: skip
    else:
        print("1. forward vs BasicSR: not measured (pass --basicsr-src, an unpacked BasicSR tree)")

    # 2. the best variant
    runners, unavailable = [], {}
    for variant in args.variants:
        try:
            runners.append(efficiency.make_video_runner(model, variant, calibration=lqs))
        except efficiency.VariantUnavailable as err:
            unavailable[variant] = str(err)
    rows = efficiency.measure_stream(runners, lqs, gt, interval=args.interval, crop_border=0,
                                     y_channel=False, repeats=args.repeats)  # fmt: skip
    for r in rows:
        print(
            f"   {r['variant']:>16}: {r['ms_per_frame']:7.1f} ms/frame, {r['speedup']:.2f}x, "
            f"ΔPSNR {r['delta_psnr_db']:+.3f} dB, setup {r['setup_s']:.1f} s"
        )
    for variant, why in unavailable.items():
        print(f"   {variant:>16}: unavailable: {why}")
    ok = [r for r in rows if r["delta_psnr_db"] >= -0.05]
    best = max(ok, key=lambda r: r["speedup"])
    print(
        f"2. best variant within 0.05 dB: {best['variant']}, {best['speedup']:.2f}x fp32 eager "
        f"(target >= 2x: {'met' if best['speedup'] >= 2 else 'missed'}), "
        f"{best['delta_psnr_db']:+.3f} dB"
    )
    out["variants"], out["unavailable"], out["best_variant"] = rows, unavailable, best["variant"]

    # 3. streaming overhead
    frames = list(lqs[0])
    t = interleaved({
        "forward": lambda: model(lqs, interval=args.interval),
        "stream": lambda: [o.sr for o in stream(model, iter(frames), interval=args.interval)],
    }, args.repeats)  # fmt: skip
    overhead = t["stream"] / t["forward"] - 1
    print(
        f"3. streaming overhead: {100 * overhead:+.1f} % of the forward's time (target < 5 %: "
        f"{'met' if overhead < 0.05 else 'missed'})"
    )
    out["stream_overhead"] = {"ratio": overhead, "stream_s": t["stream"], "forward_s": t["forward"]}
    out["load_average_end"] = os.getloadavg()[0]
    print(
        f"load average at the end {out['load_average_end']:.1f} (2 cores: timings inflated "
        "when it is above 2)"
    )
    if args.json:
        write_json(args.json, out)


if __name__ == "__main__":
    main()
