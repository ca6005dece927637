"""The `srlab` command: super-resolve your own images, folders of images and videos.

    srlab upscale photo.png photo_x4.png --model edsr_baseline_x4 --weights EDSR_Mx4.pth
    srlab upscale frames/ frames_x4/ --model basicvsr --weights BasicVSR_REDS4-543c8261.pth
    srlab upscale clip.mp4 clip_x4.mp4 --weights runs/basicvsr/model.pth --interval 8
    srlab info basicvsr

The input decides the output: an image gives an image, a folder of images a folder (the same file
names, as PNG), a video (.mp4, .mkv, .avi; `pip install 'srlab[video]'`) a video with the same
frame rate and frame count. An image model (EDSR, RCAN, ...) runs on every image or frame alone,
tiled with --tile; BasicVSR and IconVSR run on a folder (the frames of one clip, in name order) or
a video as a stream, in chunks of --interval frames (srlab.stream).

--weights takes an official BasicSR checkpoint (then --model names the preset it was trained
with; `srlab info PRESET` lists the ones that load) or a checkpoint srlab saved (it names its own
model). Outputs are written under a temporary name and renamed when complete: an error or Ctrl-C
leaves nothing under the output's name. An existing output is kept unless --force is given.
--dtype bf16 runs bfloat16 autocast; on a CPU without native bf16 (AVX512-BF16 or AMX) it is
emulated and many times slower, so the command runs float32 instead and says why (unless
--allow-emulated)."""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from srlab import checkpoints
from srlab.archs import IMAGE_SR_PRESETS, PRESETS, build
from srlab.archs.basicvsr import BasicVSR
from srlab.archs.iconvsr import IconVSR
from srlab.complexity import count_params, flops
from srlab.infer import cpu_capability, upscale
from srlab.io import imread, imwrite, to_tensor, to_uint8
from srlab.stream import drain, prefetch, stream
from srlab.videoio import VIDEO_EXTENSIONS

# BasicSR's released checkpoints (scripts/download_pretrained_models.py of BasicSR 1.4.2) by the
# preset whose keys and shapes they carry (tests/test_archs_manifest.py checks those against
# BasicSR's classes), so `--model PRESET --weights FILE` loads them with strict=True.
BASICSR_CHECKPOINTS: dict[str, tuple[str, ...]] = {
    "edsr_baseline_x2": ("EDSR_Mx2_f64b16_DIV2K_official-3ba7b086.pth",),
    "edsr_baseline_x3": ("EDSR_Mx3_f64b16_DIV2K_official-6908f88a.pth",),
    "edsr_baseline_x4": ("EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth",),
    "edsr_x2": ("EDSR_Lx2_f256b32_DIV2K_official-be38e77d.pth",),
    "edsr_x3": ("EDSR_Lx3_f256b32_DIV2K_official-3660f70d.pth",),
    "edsr_x4": ("EDSR_Lx4_f256b32_DIV2K_official-76ee1c8f.pth",),
    "esrgan_x4": (
        "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
        "ESRGAN_PSNR_SRx4_DF2K_official-150ff491.pth",
    ),
    "spynet": ("spynet_sintel_final-3d2a1287.pth",),
    "basicvsr": (
        "BasicVSR_REDS4-543c8261.pth",
        "BasicVSR_Vimeo90K_BDx4-e9bf46eb.pth",
        "BasicVSR_Vimeo90K_BIx4-2a29695a.pth",
    ),
    "iconvsr_reds": ("IconVSR_REDS-aaa5367f.pth",),
    "iconvsr_vimeo": (
        "IconVSR_Vimeo90K_BDx4-cfcb7e00.pth",
        "IconVSR_Vimeo90K_BIx4-35fec07c.pth",
    ),
    "edvr_m": ("EDVR_M_x4_SR_REDS_official-32075921.pth",),
    "edvr_l": ("EDVR_L_x4_SR_REDS_official-9f5f5039.pth",),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
IMAGE_EXTENSIONS = tuple(ext for ext, fmt in Image.registered_extensions().items()
                         if fmt in Image.SAVE)  # fmt: skip


class UsageError(ValueError):
    """A bad argument or input file; the command prints it and exits with status 2."""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `srlab` command ([project.scripts]). Returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            return info(args.preset, size=args.size)
        return upscale_path(args)
    except (UsageError, ValueError, FileNotFoundError, ImportError, TypeError) as err:
        print(f"srlab: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("srlab: interrupted; no output was written", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="srlab", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("upscale", help="super-resolve an image, a folder or a video")
    up.add_argument("input", type=Path, help="an image, a folder of images, or a video")
    up.add_argument("output", type=Path, help="the same kind as the input")
    up.add_argument("--model", help=f"a preset ({', '.join(PRESETS)}); needed for BasicSR files")
    up.add_argument("--weights", required=True, type=Path, help="a BasicSR or srlab checkpoint")
    up.add_argument("--tile", type=int, help="image models: run tile x tile LR windows")
    up.add_argument("--tile-overlap", type=int, default=16, help="context pixels per tile side")
    up.add_argument("--interval", type=int, default=15, help="video models: frames per chunk")
    up.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    up.add_argument("--allow-emulated", action="store_true",
                    help="run --dtype bf16 even where this CPU emulates it (slow)")  # fmt: skip
    up.add_argument("--force", action="store_true", help="overwrite an existing output")
    up.add_argument("--no-pipeline", action="store_true",
                    help="decode, infer and encode in turn, not in three threads")  # fmt: skip
    up.add_argument("--codec", help="video output codec (default: by extension, see videoio)")
    up.add_argument("--quiet", action="store_true", help="no progress bar")
    inf = commands.add_parser("info", help="parameters, FLOPs and BasicSR checkpoints of a preset")
    inf.add_argument("preset", help=f"one of {', '.join(PRESETS)}")
    inf.add_argument("--size", type=int, default=64, help="LR side for the FLOP count")
    return parser


def info(preset: str, *, size: int = 64) -> int:
    """Print a preset's settings, parameters, FLOPs per LR frame of size x size, and the BasicSR
    checkpoints that load into it."""
    if preset not in PRESETS:
        raise UsageError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    arch, kwargs = PRESETS[preset]
    model = build(preset).eval()
    print(f"{preset}: {type(model).__name__} ({arch}) {kwargs}")
    print(f"parameters: {count_params(model):,} ({count_params(model) / 1e6:.2f} M)")
    if isinstance(model, BasicVSR | IconVSR):  # one more frame: the cost per frame of a stream
        clip = torch.rand(1, 3, 3, size, size)
        macs = flops(model, clip)["macs"] - flops(model, clip[:, :2])["macs"]
        where = f"per frame (a 3-frame clip minus a 2-frame one) at {size}x{size} LR"
    elif preset in IMAGE_SR_PRESETS:
        macs = flops(model, torch.rand(1, 3, size, size))["macs"]
        where = f"per {size}x{size} LR image"
    else:
        macs, where = None, ""
    if macs is not None:
        print(f"FLOPs: {macs / 1e9:.2f} GMACs ({2 * macs / 1e9:.2f} GFLOPs) {where}")
    names = BASICSR_CHECKPOINTS.get(preset, ())
    print("BasicSR checkpoints that load: " + (", ".join(names) if names else "none released"))
    print(f"this CPU: {cpu_capability()['summary']}")
    return 0


def load_weights(weights: Path, preset: str | None) -> nn.Module:
    """The model for --weights (and --model), in eval mode."""
    if not weights.is_file():
        raise UsageError(f"--weights: no file at {weights}")
    try:
        checkpoint = checkpoints.read(weights)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise UsageError(f"--weights {weights} is not a readable checkpoint: {err}") from err
    if preset is None:
        if "srlab" not in checkpoint:
            raise UsageError(
                f"--weights {weights} is not an srlab checkpoint, so it does not say which model "
                f"it holds: pass --model PRESET (`srlab info PRESET` lists BasicSR's files)"
            )
        return checkpoints.load_model(weights)
    if preset not in PRESETS:
        raise UsageError(f"--model: unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    try:
        return checkpoints.load(build(preset), checkpoint).eval()
    except checkpoints.CheckpointMismatchError as err:
        raise UsageError(f"--weights {weights} does not fit --model {preset}: {err}") from err


def _kind(path: Path, name: str) -> str:
    if path.is_dir():
        return "folder"
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if not path.suffix and name == "output":
        return "folder"
    raise UsageError(
        f"{name} {path}: not a folder, an image ({', '.join(sorted(IMAGE_EXTENSIONS)[:6])}, ...) "
        f"or a video ({', '.join(VIDEO_EXTENSIONS)})"
    )


def upscale_path(args: argparse.Namespace) -> int:
    """`srlab upscale`: check the paths, load the model, run, write atomically."""
    src, dst = args.input, args.output
    if not src.exists():
        raise UsageError(f"input {src} does not exist")
    kind = _kind(src, "input")
    out_kind = "folder" if kind == "folder" and not dst.exists() else _kind(dst, "output")
    if out_kind != kind:
        raise UsageError(f"input {src} is a {kind}, so output {dst} must be a {kind} too")
    if src.resolve() == dst.resolve():
        raise UsageError("input and output are the same path")
    if dst.exists() and not args.force:
        raise UsageError(f"output {dst} exists; pass --force to overwrite it")
    for name in ("interval", "tile"):
        value = getattr(args, name)
        if value is not None and value < (2 if name == "interval" else 1):
            raise UsageError(f"--{name} must be >= {2 if name == 'interval' else 1}, got {value}")
    model = load_weights(args.weights, args.model)
    video_model = isinstance(model, BasicVSR | IconVSR)
    if not video_model and not hasattr(model, "scale"):
        raise UsageError(
            f"{type(model).__name__} is not a model `srlab upscale` runs: use an image SR model "
            "(EDSR, RCAN, MSRResNet, RRDBNet) or BasicVSR / IconVSR"
        )
    if video_model and kind == "image":
        raise UsageError(f"{type(model).__name__} is a video model: give it a video or a folder")
    if video_model and args.tile is not None:
        raise UsageError("--tile applies to image models; BasicVSR and IconVSR run whole frames")
    dtype = DTYPES[args.dtype]
    emulated = "run" if args.allow_emulated else "fallback"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _print_warning

        frames, count, meta = _read(src, kind, one_size=video_model)
        if not args.no_pipeline:
            frames = prefetch(frames)  # decode in a thread, ahead of the model
        lqs = (to_tensor(f) for f in frames)  # (3, h, w) each
        if video_model:
            run = (out.sr for out in stream(model, lqs, interval=args.interval, dtype=dtype,
                                            emulated=emulated))  # fmt: skip
        else:
            run = (upscale(model, x, tile=args.tile, tile_overlap=args.tile_overlap, dtype=dtype,
                           emulated=emulated) for x in lqs)  # fmt: skip
        bar = tqdm(total=count, unit="frame", desc=src.name, disable=args.quiet)
        start = time.perf_counter()
        try:
            written = _write(dst, kind, run, meta, args, bar)
        except ValueError as err:
            raise UsageError(f"input {src}: {err}") from err
        finally:
            bar.close()
    seconds = time.perf_counter() - start
    print(f"wrote {dst}: {written} frame(s) in {seconds:.1f} s ({written / seconds:.2f} frame/s)")
    return 0


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"srlab: warning: {message}", file=sys.stderr)


def _read(src: Path, kind: str, *, one_size: bool) -> tuple[Iterator, int | None, dict]:
    """(uint8 RGB frames, how many, what the writer needs: names or fps). one_size: the images
    of a folder must all have the first one's size (the frames of one clip)."""
    if kind == "image":
        return iter([_imread(src)]), 1, {}
    if kind == "folder":
        files = sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise UsageError(f"input folder {src} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
        return _folder(files, one_size), len(files), {"names": [p.stem for p in files]}
    from srlab.videoio import read_video

    video = read_video(src)
    return iter(video), video.num_frames, {"fps": video.fps}


def _folder(files: list[Path], one_size: bool) -> Iterator:
    first = None
    for path in files:
        img = _imread(path)
        if one_size and first is not None and img.shape != first[1].shape:
            raise UsageError(
                f"{path} is {img.shape[1]}x{img.shape[0]} but {first[0].name} is "
                f"{first[1].shape[1]}x{first[1].shape[0]}: the frames of a clip share one size"
            )
        first = first or (path, img)
        yield img


def _imread(path: Path):
    try:
        return imread(path)
    except OSError as err:
        raise UsageError(f"cannot read image {path}: {err}") from err


def _write(dst: Path, kind: str, outputs: Iterator, meta: dict, args, bar) -> int:
    """Write the SR frames as `kind`; nothing appears under dst unless all of them were written."""
    pipelined = not args.no_pipeline

    def frames() -> Iterator:
        for sr in outputs:
            bar.update(1)
            yield to_uint8(sr)

    if kind == "image":
        (img,) = list(frames())
        imwrite(dst, img)  # atomic
        return 1
    if kind == "video":
        from srlab.videoio import write_video

        with write_video(dst, fps=meta["fps"], codec=args.codec) as writer:
            if pipelined:
                return drain(frames(), writer.write)
            count = 0
            for img in frames():
                writer.write(img)
                count += 1
            return count
    with _atomic_folder(dst) as tmp:
        names = iter(meta["names"])

        def save(img) -> None:
            Image.fromarray(img).save(tmp / f"{next(names)}.png")

        if pipelined:
            return drain(frames(), save)
        count = 0
        for img in frames():
            save(img)
            count += 1
        return count


@contextlib.contextmanager
def _atomic_folder(dst: Path):
    """A temporary folder next to dst, renamed to dst when the block ends without an exception
    (an existing dst is replaced: --force was checked before), deleted otherwise."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o755)
        if dst.exists():
            old = dst.parent / f"{tmp.name}.old"
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old) if old.is_dir() else old.unlink()
        else:
            os.replace(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
