"""srlab.videoio: frame rate, frame count and (lossless) pixels survive a round trip; writes are
atomic (an error or Ctrl-C leaves nothing under the final name); bad files fail naming the file."""

import sys
import warnings
from fractions import Fraction

import numpy as np
import pytest

av = pytest.importorskip("av")

from srlab.videoio import read_video, write_video  # noqa: E402


def frames(n=5, h=16, w=24, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def write(path, clip, **kwargs):
    with write_video(path, **{"fps": Fraction(30000, 1001), **kwargs}) as out:
        for frame in clip:
            out.write(frame)
    return path


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("name,codec", [("a.mp4", None), ("a.avi", None), ("a.mkv", "ffv1")])
def test_round_trip_keeps_fps_and_frame_count(tmp_path, name, codec):
    clip = frames()
    video = read_video(write(tmp_path / name, clip, codec=codec))
    got = list(video)
    assert video.fps == Fraction(30000, 1001)
    assert len(got) == len(clip) and video.size == (16, 24)
    assert all(g.dtype == np.uint8 and g.shape == (16, 24, 3) for g in got)
    if codec == "ffv1":  # lossless
        assert all(np.array_equal(g, c) for g, c in zip(got, clip, strict=True))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_interrupted_write_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with write_video(tmp_path / "out.mp4", fps=25) as out:
            out.write(frames(1)[0])
            raise error("stopped")
    assert list(tmp_path.iterdir()) == []


def test_existing_file_is_replaced_only_when_complete(tmp_path):
    path = write(tmp_path / "out.mkv", frames(3), codec="ffv1")
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with write_video(path, fps=25, codec="ffv1") as out:
            out.write(frames(1, seed=1)[0])
            raise RuntimeError("stopped")
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_truncated_and_corrupt_files_are_named(tmp_path):
    mp4 = write(tmp_path / "a.mp4", frames(8))
    data = mp4.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.mp4"):
        list(read_video(tmp_path / "cut.mp4"))
    mkv = write(tmp_path / "a.mkv", frames(8), codec="ffv1")
    data = mkv.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.mkv is truncated"):
        list(read_video(tmp_path / "cut.mkv"))
    (tmp_path / "junk.avi").write_bytes(b"not a video" * 50)
    with pytest.raises(ValueError, match="junk.avi"):
        read_video(tmp_path / "junk.avi")
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")


def test_greyscale_video_is_read_as_rgb(tmp_path):
    path = tmp_path / "grey.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 16, 8, "gray"
        for frame in frames(3, 8, 16):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame[..., 0], format="gray")))
        container.mux(stream.encode())
    with pytest.warns(UserWarning, match="grey.mkv is greyscale"):
        video = read_video(path)
    got = list(video)
    assert len(got) == 3 and got[0].shape == (8, 16, 3)
    assert np.array_equal(got[0][..., 0], got[0][..., 2])


def test_bad_frames_and_codecs(tmp_path):
    with pytest.raises(ValueError, match="even width and height"):
        write(tmp_path / "odd.mp4", frames(2, 15, 24))
    with pytest.raises(ValueError, match="frames cannot change size"):
        write(tmp_path / "grow.mkv", [*frames(2), *frames(1, 32, 24)], codec="ffv1")
    with pytest.raises(ValueError, match="uint8 RGB"):
        write(tmp_path / "float.mkv", [np.zeros((8, 8, 3))], codec="ffv1")
    with pytest.raises(ValueError, match="codec 'nonesuch' cannot encode"):
        write_video(tmp_path / "x.mp4", fps=25, codec="nonesuch")
    with pytest.raises(ValueError, match="must end in one of"):
        write_video(tmp_path / "x.gif", fps=25)
    assert leftovers(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_missing_pyav_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(ImportError, match=r"srlab\[video\]"):
        read_video(tmp_path / "a.mp4")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImportError, match=r"srlab\[video\]"):
            write_video(tmp_path / "a.mp4", fps=25)
