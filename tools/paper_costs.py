"""What each training notebook's paper profile asks of a GPU: estimates, not measurements.

    python tools/paper_costs.py            # the table in the README ("Paper profiles on GPUs")

For every paper profile: the model(s) it trains, one training sample's forward MACs (counted on the
meta device, srlab.complexity.flops), the number of training samples over all runs
(iterations x batch x models x seeds), and from these the GPU-hours at an assumed sustained rate
(a training step ~ 3 forward passes; `--tflops` of useful work per second: the default 100 is
about a third of an A100's bf16 peak). Memory: the peak resident-set rise of one float32 training
step at batch 1 on this CPU (srlab.complexity.peak_memory), times the per-GPU batch, plus weights,
gradients and Adam's two moments (16 bytes per parameter): an upper bound for a GPU in float32,
about halved by bf16 activations. Nothing here ran on a GPU."""

from __future__ import annotations

import argparse

import torch

from srlab.archs import build
from srlab.complexity import count_params, flops, peak_memory
from srlab.train import pixel_loss

# notebook -> (arch, kwargs, one sample's LR input shape, iterations per run, batch, runs, GPUs,
#              what the runs are), from each notebook's "paper" profile
PROFILES = {
    "rcan_ablation": ("rcan", dict(upscale=2, num_group=10, num_block=20, num_feat=64,
                                   squeeze_factor=16), (3, 48, 48), 50_000, 16, 8 * 3, 1,
                      "8 variants x 3 seeds"),
    "pruning_curves": ("rcan", dict(upscale=2, num_group=10, num_block=20, num_feat=64,
                                    squeeze_factor=16), (3, 48, 48), 300_000 + 11 * 20_000, 16, 3,
                       1, "3 seeds x (300k base + 11 points x 20k fine-tuning)"),
    "esrgan_perception": ("rrdbnet", dict(num_feat=64, num_block=23, num_grow_ch=32, scale=4),
                          (3, 32, 32), 1_000_000 + 3 * 400_000, 16, 3, 1,
                          "3 seeds x (1M L1 + 3 GAN runs x 400k; the discriminator not counted)"),
    "basicvsr_ablation": ("basicvsr", dict(num_feat=64, num_block=30), (15, 3, 64, 64), 300_000,
                          32, 4, 8, "4 variants (bi, uni, no / image alignment) x 1 seed"),
    "iconvsr_keyframes": ("iconvsr", dict(num_feat=64, num_block=30), (15, 3, 64, 64), 300_000,
                          32, 3, 8, "3 variants x 1 seed"),
    "realtime_video": ("basicvsr", dict(num_feat=64, num_block=30), (15, 3, 64, 64), 300_000, 1,
                       1, 1, "1 model (batch 1, as the notebook trains)"),
}  # fmt: skip


def step_memory_mb(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Peak RSS rise of one float32 forward + backward at batch 1 on the CPU, in MB."""
    x = torch.rand(1, *shape)

    def step() -> None:
        pred = model(x)
        pixel_loss(pred, torch.zeros_like(pred), "l1").backward()

    return peak_memory(step)["peak_mb"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tflops", type=float, default=100.0, help="sustained useful TFLOP/s per GPU")
    ap.add_argument("--no-memory", action="store_true", help="skip the CPU memory measurement")
    args = ap.parse_args()
    print("| notebook | trains | params | fwd GMACs/sample | GPUs | GPU-hours (est.) | "
          "memory/GPU (est., fp32) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, (arch, kwargs, shape, iters, batch, runs, gpus, what) in PROFILES.items():
        torch.manual_seed(0)
        model = build(arch, **kwargs)
        x = torch.rand(1, *shape)
        macs = flops(model, x)["macs"]
        samples = iters * batch * runs
        hours = 3 * 2 * macs * samples / (args.tflops * 1e12) / 3600  # all GPUs together
        params = count_params(model)
        memory = "-"
        if not args.no_memory:
            per_gpu = max(batch // gpus, 1)
            mb = step_memory_mb(model, shape) * per_gpu + 16 * params / 2**20
            memory = f"~{mb / 1024:.1f} GB ({per_gpu}/GPU)"
        print(f"| `{name}` | {what} | {params / 1e6:.1f} M | {macs / 1e9:.1f} | {gpus} | "
              f"~{hours:,.0f} | {memory} |")  # fmt: skip


if __name__ == "__main__":
    main()
