"""Training the video notebooks' models side by side (srlab.device.run_jobs), in one run.

    .venv/bin/python benchmarks/parallel_jobs.py [--steps 100] [--jobs 4] [--workers 2]

The quick profiles of basicvsr_ablation (BasicVSR, 16 channels, 2 blocks, a 16-channel HR
reconstruction, 10-frame windows of 16x16 LR) and iconvsr_keyframes (IconVSR, 16 channels, 2
blocks, BasicSR's 64-channel reconstruction, 5-frame windows) train many small independent
models. For each, `--jobs` models of `--steps` steps are trained three ways, one after the other,
after an untimed warm-up:

1. in this process, one after the other, on all of torch's threads (the notebooks before
   run_jobs);
2. in this process, one after the other, on 1 thread;
3. run_jobs: `--workers` forked processes side by side, 1 thread each (the notebooks now).

It prints each way's wall time per training step and the speed-up of 3 over 1 (target on a
2-core machine: at least 1.4x), and checks that 2 and 3 gave the same weights: the numbers do not
depend on the number of workers. Run it on an idle machine; the load average is printed."""

from __future__ import annotations

import argparse
import os
import time

import torch

from srlab.archs import build
from srlab.data import VideoPatches, bundled_videos
from srlab.device import fork_available, run_jobs
from srlab.infer import cpu_capability
from srlab.train import TrainConfig, forward_with_flows, train

SETTINGS = {  # the notebooks' quick profiles, as far as one training step goes
    "basicvsr": dict(
        arch=dict(num_feat=16, num_block=2, num_feat_hr=16), num_frames=10, noise=0.08
    ),
    "iconvsr": dict(
        arch=dict(num_feat=16, num_block=2, num_feat_hr=64, temporal_padding=2),
        num_frames=5,
        noise=0.0,
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="training steps per model")
    parser.add_argument("--jobs", type=int, default=4, help="models per way (even: 2 workers)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = parser.parse_args()
    if not fork_available(torch.device("cpu")):
        raise SystemExit("run_jobs forks on Linux only: elsewhere it runs the jobs one by one")
    all_threads = torch.get_num_threads()
    print(
        f"{args.jobs} models x {args.steps} steps per way; torch {torch.__version__}, "
        f"{all_threads} thread(s) by default, CPU {cpu_capability()['summary']}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    clips = bundled_videos("train", num_frames=20, max_speed=3.0)
    for name in args.models:
        s = SETTINGS[name]
        windows = VideoPatches(clips, noise=s["noise"], patch_size=16, num_frames=s["num_frames"],
                               degradation="BD", scale=4)  # fmt: skip

        def one(seed: int, name=name, s=s, windows=windows) -> dict:
            torch.manual_seed(seed)
            model = build(name, **s["arch"])
            model.spynet.requires_grad_(False)
            model = model.to(memory_format=torch.channels_last)
            cfg = TrainConfig(iters=args.steps, batch_size=1, lr=2e-3, loss="charbonnier",
                              seed=seed, progress=False)  # fmt: skip
            train(model, windows, cfg, forward=forward_with_flows)
            return model.state_dict()

        seeds = list(range(args.jobs))
        ways = {
            f"in turn, {all_threads} threads": dict(workers=1, threads=all_threads),
            "in turn, 1 thread": dict(workers=1, threads=1),
            f"run_jobs, {args.workers} workers x 1 thread": dict(workers=args.workers, threads=1),
        }
        for threads in (all_threads, 1):  # warm-up: oneDNN builds its kernels on first use
            run_jobs(one, seeds[:1], threads=threads, progress=False)
        ms, weights = {}, {}
        for way, kw in ways.items():
            start = time.perf_counter()
            weights[way] = run_jobs(one, seeds, progress=False, **kw)
            ms[way] = 1000 * (time.perf_counter() - start) / (args.jobs * args.steps)
            print(f"{name:9s} {way:34s} {ms[way]:6.1f} ms per training step")
        first, serial_1, forked = ms.values()
        same = all(
            torch.equal(a[k], b[k])
            for a, b in zip(*list(weights.values())[1:], strict=True)
            for k in a
        )
        print(
            f"{name:9s} speed-up of run_jobs over one process on {all_threads} threads: "
            f"{first / forked:.2f}x (target >= 1.4x); 1-thread weights the same in and out of "
            f"workers: {'yes' if same else 'NO'}"
        )
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
