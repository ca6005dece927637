"""Size and CPU speed of every image SR preset: parameters, FLOPs, latency in float32 and bfloat16.

    .venv/bin/python benchmarks/archs.py                     # 320x180 LR input (x4 -> 1280x720)
    .venv/bin/python benchmarks/archs.py --quick             # 64x64 input, a smoke check
    .venv/bin/python benchmarks/archs.py --presets edsr_x4,rcan_x4 --repeats 5

Per preset, on one random (1, 3, h, w) LR input and random weights (speed does not depend on them):
- params: srlab.complexity.count_params.
- GFLOPs: torch.utils.flop_counter.FlopCounterMode (2 FLOPs per multiply-accumulate, convs and
  matmuls only; MACs = FLOPs / 2, the "Mult-Adds" of the papers' tables). The models check their
  input's values, which the meta device cannot do, so the count is one real forward pass.
- latency: median and interquartile range of --repeats timed passes after --warmup, float32, then
  bfloat16 under torch.autocast (convs in bfloat16, the rest in float32).
- GFLOP/s achieved = GFLOPs / median latency, and as a % of this machine's measured dense matmul
  GFLOP/s in the same dtype (srlab.complexity.matmul_gflops): how close the model gets to the
  hardware's speed on its friendliest workload.
The thread count is printed; set it with OMP_NUM_THREADS.

The large presets are slow on a small CPU (EDSR x4 at 320x180 is ~5.8 TFLOPs per pass). Before
running, each preset's time is estimated from its FLOPs (counted on an 8x8 input and scaled by the
pixel count, exact for these fully convolutional nets up to RCAN's pooled attention) assuming the
model reaches ESTIMATED_EFFICIENCY of the matmul speed. Without --presets, presets are taken
cheapest first while the estimate stays within --budget-min; the rest are listed as skipped.
Discriminators, video and flow models are skipped: this table is for image SR models."""

from __future__ import annotations

import argparse
import time

import torch

from srlab.archs import IMAGE_SR_PRESETS, PRESETS, build
from srlab.complexity import count_params, flops, latency, matmul_gflops
from srlab.infer import cpu_capability

ESTIMATED_EFFICIENCY = 0.3  # measured 0.2-0.8 for these models in float32 on a 2-core Xeon
PROBE = 8  # LR size of the FLOP count that the time estimate scales up


def image_sr_presets(requested: list[str] | None) -> list[str]:
    """The presets to consider, saying why each other one is skipped."""
    names = requested or list(PRESETS)
    chosen = []
    for name in names:
        if name not in PRESETS:
            raise SystemExit(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
        if name in IMAGE_SR_PRESETS:
            chosen.append(name)
        else:
            print(f"skip {name}: not an image SR model (video, optical flow or discriminator)")
    return chosen


def build_seeded(name: str) -> torch.nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return build(name).eval()


def estimate_seconds(name: str, h: int, w: int, passes: int, fp32_gflops: float) -> float:
    probe = flops(build_seeded(name), torch.rand(1, 3, PROBE, PROBE))["gflops"]
    return probe * (h * w) / PROBE**2 * passes / (ESTIMATED_EFFICIENCY * fp32_gflops)


def plan(names: list[str], estimates: dict[str, float], budget_s: float | None) -> list[str]:
    """Cheapest first while the running total stays within the budget (None: no budget)."""
    planned, total = [], 0.0
    for name in sorted(names, key=estimates.__getitem__):
        if budget_s is None or total + estimates[name] <= budget_s:
            planned.append(name)
            total += estimates[name]
    return planned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="320x180", help="LR input WIDTHxHEIGHT")
    parser.add_argument("--quick", action="store_true", help="64x64 input and a 2-minute budget")
    parser.add_argument("--presets", default="", help="comma-separated presets (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per dtype")
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per dtype first")
    parser.add_argument(
        "--budget-min",
        type=float,
        default=None,
        help="estimated-time budget without --presets (default 10, 2 with --quick; 0: no limit)",
    )
    args = parser.parse_args()
    w, h = (64, 64) if args.quick else (int(v) for v in args.size.lower().split("x"))
    budget_min = args.budget_min if args.budget_min is not None else (2 if args.quick else 10)
    requested = [p for p in args.presets.split(",") if p] or None
    budget_s = None if requested or budget_min <= 0 else 60 * budget_min

    start = time.perf_counter()
    threads = torch.get_num_threads()
    mm = {dtype: matmul_gflops(1024, dtype) for dtype in (torch.float32, torch.bfloat16)}
    print(
        f"CPU {cpu_capability()['summary']}; threads {threads}; "
        f"dense 1024^3 matmul: {mm[torch.float32]:.0f} GFLOP/s float32, "
        f"{mm[torch.bfloat16]:.0f} GFLOP/s bfloat16; LR input {w}x{h}, "
        f"{args.warmup} warm-up + {args.repeats} timed passes per dtype"
    )
    names = image_sr_presets(requested)
    passes = 1 + 2 * (args.warmup + args.repeats)  # the FLOP count, then float32 and bfloat16
    estimates = {n: estimate_seconds(n, h, w, passes, mm[torch.float32]) for n in names}
    planned = plan(names, estimates, budget_s)
    for name in names:
        if name not in planned:
            print(
                f"skip {name}: estimated {estimates[name] / 60:.1f} min would exceed the "
                f"{budget_min:g}-min budget (run it with --presets {name}, or --budget-min 0)"
            )
    total_estimate = sum(estimates[n] for n in planned)
    print(
        f"estimated time: {total_estimate / 60:.1f} min for {len(planned)} presets "
        f"(assuming {ESTIMATED_EFFICIENCY:.0%} of the float32 matmul speed)\n"
    )

    header = (
        f"{'preset':<18} {'params':>8} {'GFLOPs':>8} | {'fp32 ms':>9} {'± IQR':>7} {'GFLOP/s':>7}"
        f" {'% mm':>5} | {'bf16 ms':>9} {'± IQR':>7} {'GFLOP/s':>7} {'% mm':>5} | {'bf16 x':>6}"
    )
    print(header)
    print("-" * len(header))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    for name in [n for n in names if n in planned]:  # the registry's order
        model = build_seeded(name)
        gflops = flops(model, x)["gflops"]
        row = f"{name:<18} {count_params(model) / 1e6:>7.2f}M {gflops:>8.1f} |"
        medians = []
        for dtype in (torch.float32, torch.bfloat16):
            timing = latency(model, x, warmup=args.warmup, repeats=args.repeats, dtype=dtype)
            rate = gflops / timing["median_s"]
            medians.append(timing["median_s"])
            row += (
                f" {1e3 * timing['median_s']:>9.1f} {1e3 * timing['iqr_s']:>7.1f} {rate:>7.1f}"
                f" {rate / mm[dtype]:>5.1%} |"
            )
        print(f"{row} {medians[0] / medians[1]:>6.2f}", flush=True)
        del model
    print(
        f"\ntook {(time.perf_counter() - start) / 60:.1f} min in all, estimates included"
        f" (estimated {total_estimate / 60:.1f} for the runs)."
        " GFLOPs count 2 per multiply-accumulate (MACs = GFLOPs / 2); % mm is achieved GFLOP/s"
        " over the dense matmul GFLOP/s in the same dtype; bf16 x is the float32/bfloat16 speed-up."
    )


if __name__ == "__main__":
    main()
