"""Pilot for srlab.flow.train_spynet's recipe (issue 10, item 4): what gets a SpyNet trained from
scratch on synthetic clips to half of zero flow's end-point error? (papers/basicvsr.md, "SpyNet
for BD".) The training loop is train_spynet's, with two levers it does not have:

- --init scaled: each pyramid level's last conv starts scaled by 2^-(levels above the finest), so
  the coarse levels' random flow, upsampled and doubled up to five times, no longer swamps the
  finest level (train_spynet's default initialisation sits on a zero-flow plateau for 300-1600
  steps first);
- --aug: every sampled pair is flipped horizontally and/or vertically and transposed at random,
  its flow transformed to match (8 variants of every pair), against memorising the clips.

    python tools/pilots/spynet_recipe.py --init scaled --aug --iters 3000 --seed 0 --out s0.json
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from srlab.archs.spynet import NUM_LEVELS, SpyNet
from srlab.data import bundled_videos, synthetic_video
from srlab.flow import epe, evaluate_flow, lr_flow_pairs
from srlab.io import write_json


def scale_coarse_levels(model: SpyNet) -> None:
    """Level 0 is the coarsest; its output reaches the finest grid doubled NUM_LEVELS - 1 times."""
    with torch.no_grad():
        for level, module in enumerate(model.basic_module):
            last = module.basic_module[-1]
            factor = 2.0 ** -(NUM_LEVELS - 1 - level)
            last.weight.mul_(factor)
            last.bias.mul_(factor)


def augment(batch: dict, g: torch.Generator) -> dict:
    """Random flips and transpose of (ref, supp, flow, mask), the same for the whole batch.
    flow channel 0 is x (width), channel 1 is y (height)."""
    ref, supp, flow, mask = batch["ref"], batch["supp"], batch["flow"], batch["mask"]
    hflip, vflip, transpose = torch.randint(0, 2, (3,), generator=g).tolist()
    if hflip:
        ref, supp, flow, mask = (x.flip(-1) for x in (ref, supp, flow, mask))
        flow = flow * flow.new_tensor([-1.0, 1.0]).view(1, 2, 1, 1)
    if vflip:
        ref, supp, flow, mask = (x.flip(-2) for x in (ref, supp, flow, mask))
        flow = flow * flow.new_tensor([1.0, -1.0]).view(1, 2, 1, 1)
    if transpose:
        ref, supp, flow, mask = (x.transpose(-1, -2) for x in (ref, supp, flow, mask))
        flow = flow.flip(1)  # x and y swap
    return {"ref": ref, "supp": supp, "flow": flow, "mask": mask}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default="default", choices=["default", "scaled"])
    ap.add_argument("--aug", action="store_true")
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=256)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--speed", type=float, default=3.0, help="max_speed of training clips")
    ap.add_argument("--test_speed", default="3", help="comma-separated max_speed of test clips")
    ap.add_argument("--deg", default="BD")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default="", help="save the trained SpyNet's state_dict here")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    torch.manual_seed(a.seed)
    pairs = [
        lr_flow_pairs(
            synthetic_video(
                a.seed * 10_000 + k, num_frames=5, size=(a.size * 4,) * 2, max_speed=a.speed
            ),  # fmt: skip
            scale=4,
            degradation=a.deg,
        )
        for k in range(a.clips)
    ]
    pool = {key: torch.cat([p[key] for p in pairs]) for key in pairs[0]}
    model = SpyNet()
    if a.init == "scaled":
        scale_coarse_levels(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(a.seed)
    losses = []
    model.train()
    for it in range(a.iters):
        for group in optimizer.param_groups:
            group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * it / a.iters))
        idx = torch.randint(0, len(pool["ref"]), (a.batch,), generator=g)
        batch = {k: v[idx] for k, v in pool.items()}
        if a.aug:
            batch = augment(batch, g)
        loss = epe(model(batch["ref"], batch["supp"]), batch["flow"], batch["mask"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if (it + 1) % 500 == 0:
            print(f"it {it + 1} train EPE (last 100) {sum(losses[-100:]) / 100:.3f}", flush=True)
    model.eval()
    tests = {}
    for speed in (float(s) for s in a.test_speed.split(",")):
        clips = bundled_videos("test", num_frames=16, max_speed=speed)
        r = evaluate_flow(model, clips, scale=4, degradation=a.deg)
        ratio = r["epe"] / r["epe_zero"]
        tests[speed] = {"epe": r["epe"], "epe_zero": r["epe_zero"], "ratio": ratio}
        print(f"test max_speed {speed}: EPE {r['epe']:.3f}, zero flow {r['epe_zero']:.3f}, "
              f"ratio {r['epe'] / r['epe_zero']:.2f}", flush=True)  # fmt: skip
    wall = time.perf_counter() - start
    print(f"# {vars(a)} wall {wall:.0f} s")
    if a.save:
        torch.save(model.state_dict(), a.save)
    if a.out:
        summary = {"train_loss_last100": sum(losses[-100:]) / 100, "wall_s": wall}
        tested = {str(k): v for k, v in tests.items()}
        write_json(a.out, {"args": vars(a), "test": tested} | summary)


if __name__ == "__main__":
    main()
