"""The `srlab` command: upscale runs on a video it wrote itself and on an image folder, giving
what the library gives; refuses to overwrite; leaves nothing behind on an error or Ctrl-C;
falls back from an emulated bf16; info names BasicSR's checkpoints."""

import sys

import numpy as np
import pytest
import torch

from srlab import checkpoints, cli, infer
from srlab.archs import build
from srlab.infer import upscale
from srlab.io import imread, imwrite, to_tensor, to_uint8
from srlab.stream import stream


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    vsr = build("basicvsr", num_feat=4, num_block=1, num_feat_hr=4).eval()
    sr = build("edsr", upscale=2, num_feat=4, num_block=1).eval()
    checkpoints.save(folder / "vsr.pth", vsr)
    checkpoints.save(folder / "sr.pth", sr)
    return {"vsr": (vsr, folder / "vsr.pth"), "sr": (sr, folder / "sr.pth")}


def clip(n=5, h=8, w=12, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def srlab(*args):
    return cli.main([str(a) for a in args])


def test_upscale_a_video_it_wrote_itself(tmp_path, models):
    pytest.importorskip("av")
    from srlab.videoio import read_video, write_video

    model, weights = models["vsr"]
    frames = clip()
    with write_video(tmp_path / "in.mkv", fps=24, codec="ffv1") as out:
        for frame in frames:
            out.write(frame)
    common = ("--weights", weights, "--interval", 3, "--codec", "ffv1", "--quiet")
    assert srlab("upscale", tmp_path / "in.mkv", tmp_path / "x4.mkv", *common) == 0
    # ... and the video the command wrote, once more (sequentially this time)
    again = ("upscale", tmp_path / "x4.mkv", tmp_path / "x16.mkv", *common, "--no-pipeline")
    assert srlab(*again) == 0
    x4, x16 = read_video(tmp_path / "x4.mkv"), read_video(tmp_path / "x16.mkv")
    assert (x4.fps, x16.fps) == (24, 24)
    assert (x4.size, x16.size) == ((32, 48), (128, 192))
    got = list(x4)
    assert len(got) == len(frames) == len(list(x16))
    expected = [to_uint8(o.sr) for o in stream(model, map(to_tensor, frames), interval=3)]
    assert all(np.array_equal(g, e) for g, e in zip(got, expected, strict=True))  # lossless


def test_upscale_an_image_folder(tmp_path, models):
    model, weights = models["sr"]
    (tmp_path / "in").mkdir()
    for i, frame in enumerate(clip(3, 10, 14)):
        imwrite(tmp_path / "in" / f"f{i}.png", frame)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert srlab("upscale", tmp_path / "in", out, "--weights", weights, "--tile", 6,
                 "--tile-overlap", 2, "--quiet") == 0  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["f0.png", "f1.png", "f2.png"]
    for i in range(3):
        lr = to_tensor(imread(tmp_path / "in" / f"f{i}.png"))
        expected = to_uint8(upscale(model, lr, tile=6, tile_overlap=2))
        assert np.array_equal(imread(out / f"f{i}.png"), expected)


def test_refuses_to_overwrite_without_force(tmp_path, models, capsys):
    _, weights = models["sr"]
    imwrite(tmp_path / "a.png", clip(1)[0])
    imwrite(tmp_path / "b.png", clip(1, 4, 4)[0])
    before = (tmp_path / "b.png").read_bytes()
    assert srlab("upscale", tmp_path / "a.png", tmp_path / "b.png", "--weights", weights) == 2
    assert "b.png exists; pass --force" in capsys.readouterr().err
    assert (tmp_path / "b.png").read_bytes() == before
    args = ("upscale", tmp_path / "a.png", tmp_path / "b.png", "--weights", weights, "--force")
    assert srlab(*args, "--quiet") == 0
    assert imread(tmp_path / "b.png").shape == (16, 24, 3)


@pytest.mark.parametrize("kind", ["folder", "video"])
def test_ctrl_c_leaves_no_output(tmp_path, models, monkeypatch, capsys, kind):
    _, weights = models["sr"]
    if kind == "video":
        pytest.importorskip("av")
        from srlab.videoio import write_video

        src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
        with write_video(src, fps=25) as out:
            for frame in clip(4):
                out.write(frame)
    else:
        src, dst = tmp_path / "in", tmp_path / "out"
        src.mkdir()
        for i, frame in enumerate(clip(4)):
            imwrite(src / f"{i}.png", frame)
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return upscale(*args, **kwargs)

    monkeypatch.setattr(cli, "upscale", interrupted)
    assert srlab("upscale", src, dst, "--weights", weights, "--quiet") == 130
    assert "interrupted" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_bad_inputs_name_the_file(tmp_path, models, monkeypatch, capsys):
    _, vsr = models["vsr"]
    _, sr = models["sr"]
    (tmp_path / "junk.mp4").write_bytes(b"junk" * 100)
    (tmp_path / "frames").mkdir()
    imwrite(tmp_path / "frames" / "0.png", clip(1)[0])
    imwrite(tmp_path / "frames" / "1.png", clip(1, 10, 12)[0])
    imwrite(tmp_path / "img.png", clip(1)[0])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    torch.save({"params": build("edsr", num_feat=4, num_block=1).state_dict()},
               tmp_path / "basicsr.pth")  # fmt: skip
    cases = [
        (("junk.mp4", "o.mp4", "--weights", vsr), "junk.mp4"),
        (("frames", "o", "--weights", vsr), "1.png is 12x10 but 0.png is 12x8"),
        (("img.png", "o.png", "--weights", vsr), "video model"),
        (("img.png", "o.mp4", "--weights", sr), "must be a image too"),
        (("img.png", "o.png", "--weights", "basicsr.pth"), "pass --model PRESET"),
        (("img.png", "o.png", "--weights", "basicsr.pth", "--model", "edsr_x4"), "does not fit"),
        (("img.png", "o.png", "--weights", "none.pth"), "--weights: no file"),
        (("img.png", "o.png", "--weights", "junk.pth"), "junk.pth is not a readable checkpoint"),
        (("img.png", "o.txt", "--weights", sr), "o.txt: not a folder, an image"),
        (("frames", "o", "--weights", vsr, "--tile", 8), "--tile applies to image models"),
    ]
    monkeypatch.chdir(tmp_path)
    for args, message in cases:
        assert srlab("upscale", *args) == 2, args
        assert message in capsys.readouterr().err, args
    if "av" not in sys.modules:
        pytest.importorskip("av")
    monkeypatch.setitem(sys.modules, "av", None)
    assert srlab("upscale", "junk.mp4", "o.mp4", "--weights", vsr) == 2
    assert "srlab[video]" in capsys.readouterr().err
    left = {"junk.mp4", "frames", "img.png", "basicsr.pth", "junk.pth"}
    assert {p.name for p in tmp_path.iterdir()} == left


def test_bf16_on_an_emulating_cpu_falls_back_with_a_message(tmp_path, models, monkeypatch, capsys):
    model, weights = models["sr"]
    emulated = {**infer.cpu_capability(), "bf16_native": False, "summary": "AVX2: bf16 emulated"}
    monkeypatch.setattr(infer, "cpu_capability", lambda: emulated)
    imwrite(tmp_path / "a.png", clip(1)[0])
    args = ("upscale", tmp_path / "a.png", tmp_path / "b.png", "--weights", weights, "--quiet")
    assert srlab(*args, "--dtype", "bf16") == 0
    assert "AVX2: bf16 emulated" in capsys.readouterr().err
    expected = to_uint8(upscale(model, to_tensor(imread(tmp_path / "a.png"))))
    assert np.array_equal(imread(tmp_path / "b.png"), expected)  # float32 ran


def test_info_lists_params_flops_and_checkpoints(capsys):
    assert srlab("info", "edsr_baseline_x4", "--size", 16) == 0
    out = capsys.readouterr().out
    assert "parameters: 1,517,571" in out and "GMACs" in out
    assert "EDSR_Mx4_f64b16_DIV2K_official-0c287733.pth" in out and "this CPU:" in out
    assert srlab("info", "nonesuch") == 2
    assert set(cli.BASICSR_CHECKPOINTS) <= set(cli.PRESETS)
