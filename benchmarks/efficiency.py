"""Efficient-inference variants of one image SR model against float32 eager, in one run.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/efficiency.py --weights run/model.pth \
        [--lr-size 96] [--threads 2] [--repeats 10] [--variants fp32 bf16_autocast ...]

The table of srlab.efficiency.measure (the same one notebooks/efficiency.ipynb shows): setup time,
median and IQR latency on a (1, 3, lr_size, lr_size) input, speed-up over float32, MB/s of 8-bit
output, PSNR on the bundled test images (centre crops, BI degradation, Y channel, `scale` pixels
cropped) and its change against float32; then srlab.infer.upscale's tiling throughput.
Without --weights the model has random weights: the speed columns are still meaningful, the PSNR
columns only as agreement with float32. --data-root scores the HR images of a folder instead."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from srlab import data, efficiency
from srlab.archs import build
from srlab.checkpoints import load_model
from srlab.infer import cpu_capability
from srlab.io import imread, to_tensor, write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="", help="an srlab checkpoint (load_model)")
    parser.add_argument("--preset", default="rcan_x2", help="without --weights: random weights")
    parser.add_argument("--lr-size", type=int, default=96, help="LR side of the timed input")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--variants", nargs="+", default=list(efficiency.VARIANTS))
    parser.add_argument("--tiles", nargs="*", type=int, default=[64, 32])
    parser.add_argument("--tile-overlap", type=int, default=8)
    parser.add_argument("--data-root", default="", help="a folder of HR images to score")
    parser.add_argument("--json", default="", help="also write the rows to this JSON file")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    model = load_model(args.weights) if args.weights else build(args.preset).eval()
    scale = model.scale
    if args.data_root:
        files = sorted(p for p in Path(args.data_root).iterdir() if p.suffix.lower() == ".png")
        test_images = {p.stem: imread(p) for p in files}
    else:
        test_images = data.bundled_images("test")
    lq, gt = efficiency.crop_pairs(test_images, scale=scale, lr_size=args.lr_size)
    calibration, _ = efficiency.crop_pairs(
        data.bundled_images("train"), scale=scale, lr_size=args.lr_size
    )
    print(
        f"{type(model).__name__} x{scale} ({args.weights or 'random weights'}), "
        f"{lq.shape[0]} test crops of {args.lr_size}x{args.lr_size} LR, {len(calibration)} "
        f"calibration crops, {torch.get_num_threads()} thread(s), torch {torch.__version__}, "
        f"CPU {cpu_capability()['summary']} (the verdicts hold for this CPU only)"
    )
    runners, unavailable = efficiency.make_runners(
        model, args.variants, example=lq[:1], calibration=list(calibration)
    )
    rows = efficiency.measure(
        runners, lq, gt, crop_border=scale, y_channel=True, repeats=args.repeats
    )
    print(efficiency.format_rows(rows, unavailable))
    for row in rows:
        print(f"- {row['variant']}: {row['note']}")

    # One whole test image, subsampled: only its size matters for the throughput.
    lr = to_tensor(next(iter(test_images.values())))[:, ::scale, ::scale]  # (3, h / s, w / s)
    tiling = efficiency.tiling_throughput(
        model, lr, [None, *args.tiles], tile_overlap=args.tile_overlap, repeats=3
    )
    print(f"\ntiling, float32, LR {tuple(lr.shape[-2:])}, overlap {args.tile_overlap}:")
    for row in tiling:
        print(
            f"  tile {row['tile']}: {row['median_s']:.2f} s, {row['mb_per_s']:.2f} MB/s, "
            f"max |tiled - whole| {row['max_abs_diff']:.1e}"
        )
    if args.json:
        write_json(args.json, {"rows": rows, "unavailable": unavailable, "tiling": tiling})


if __name__ == "__main__":
    main()
