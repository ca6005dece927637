"""Pilot for srlab.flow.train_spynet's recipe (issue 10, item 4): what gets a SpyNet trained from
scratch on synthetic clips to half of zero flow's end-point error? (papers/basicvsr.md, "SpyNet
for BD".) One run of train_spynet with the levers as options, scored on the bundled test clips
at one or more motion speeds:

- --init scaled | pytorch: scale_coarse_levels, or PyTorch's default initialisation (which sits
  on a zero-flow plateau for 300-1600 steps first);
- --aug / --no-aug: random flips and transposes of every batch (flip_transpose);
- --photometric / --no-photometric: a random change of colour and tone per pair
  (photometric_jitter; train_spynet's default since session 10);
- --extra-images coins,moon,...: more scikit-image pictures (outside both of srlab's splits) for
  the training clips' backgrounds and object textures, for this run only (the training split is
  widened in memory; the test clips are unchanged).

    python tools/pilots/spynet_recipe.py --init scaled --aug --iters 3000 --seed 0 --out s0.json
"""

from __future__ import annotations

import argparse
import time

import torch

import srlab.data.bundled
import srlab.data.synthetic
from srlab import checkpoints
from srlab.data import bundled_videos
from srlab.flow import cache_path, evaluate_flow, train_spynet
from srlab.io import write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--init", default="scaled", choices=["scaled", "pytorch"])
    ap.add_argument("--aug", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--photometric", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--iters", type=int, default=3000)
    ap.add_argument("--clips", type=int, default=512)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--speed", type=float, default=3.0, help="max_speed of training clips")
    ap.add_argument("--test_speed", default="3", help="comma-separated max_speed of test clips")
    ap.add_argument("--deg", default="BD")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default="", help="save the trained SpyNet's state_dict here")
    ap.add_argument("--extra-images", default="", help="comma-separated skimage.data names")
    ap.add_argument("--out", default="")
    ap.add_argument(
        "--cache-dir",
        default="",
        help="also write the run as pretrained_spynet's cache file there (shippable)",
    )
    a = ap.parse_args()
    extra = tuple(name for name in a.extra_images.split(",") if name)
    for module in (srlab.data.bundled, srlab.data.synthetic):  # both hold the split's names
        module.TRAIN_IMAGES = module.TRAIN_IMAGES + extra
    start = time.perf_counter()
    # train_spynet's arguments that change the weights: also pretrained_spynet's cache key
    settings = dict(iters=a.iters, seed=a.seed, size=a.size, num_clips=a.clips, num_frames=5,
                    batch_size=a.batch, lr=a.lr, scale=4, degradation=a.deg, max_speed=a.speed,
                    threads=1, init=a.init, augment=a.aug,
                    photometric=a.photometric)  # fmt: skip
    model, history = train_spynet(**settings, progress=False)
    if a.cache_dir:  # the file pretrained_spynet(**settings, cache_dir=...) would write and read
        if extra:
            raise SystemExit("--cache-dir: the extra pictures are not part of the cache key")
        checkpoints.save(cache_path(a.cache_dir, **settings), model, arch="spynet", kwargs={},
                         extra={"pretrain": {**settings, **history}})  # fmt: skip
    losses = history["loss"]
    for it in range(500, len(losses) + 1, 500):
        print(f"it {it} train EPE (last 100) {sum(losses[it - 100 : it]) / 100:.3f}")
    tests = {}
    for speed in (float(s) for s in a.test_speed.split(",")):
        clips = bundled_videos("test", num_frames=16, max_speed=speed)
        r = evaluate_flow(model, clips, scale=4, degradation=a.deg)
        ratio = r["epe"] / r["epe_zero"]
        tests[str(speed)] = {"epe": r["epe"], "epe_zero": r["epe_zero"], "ratio": ratio}
        print(f"test max_speed {speed}: EPE {r['epe']:.3f}, zero flow {r['epe_zero']:.3f}, "
              f"ratio {ratio:.2f}", flush=True)  # fmt: skip
    wall = time.perf_counter() - start
    print(f"# {vars(a)} wall {wall:.0f} s")
    if a.save:
        torch.save(model.state_dict(), a.save)
    if a.out:
        summary = {"train_loss_last100": sum(losses[-100:]) / 100, "wall_s": wall}
        write_json(a.out, {"args": vars(a), "test": tests} | summary)


if __name__ == "__main__":
    main()
