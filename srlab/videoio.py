"""Video files in and out, as uint8 RGB frames (h, w, 3), with PyAV (FFmpeg's libraries).

    video = read_video("clip.mp4")              # opens and checks it; nothing decoded yet
    video.fps, video.num_frames, video.size     # Fraction(30000, 1001), 300, (h, w)
    with write_video("out.mp4", fps=video.fps) as out:
        for frame in video:                     # uint8 (h, w, 3), RGB
            out.write(frame)

PyAV is an optional dependency: `pip install 'srlab[video]'`. Without it, these functions raise an
ImportError that says so; the rest of srlab does not need it. Folders of frames (the REDS/Vid4
layout) are read by srlab.data.VideoFolder, single images by srlab.io.

Writing is atomic, like srlab.io's writers: frames go to a temporary file next to the output,
which is renamed to the output's name only when the last frame is written and the file is closed.
An error or a Ctrl-C on the way removes the temporary file, so no half-written video ever sits
under the final name. The frame rate is kept exactly (a fraction), and so is the frame count.

Codecs by extension (override with codec=): .mp4 and .mkv H.264 (libx264, yuv420p, CRF 18:
visually lossless, not bit-exact), .avi MPEG-4 part 2. codec="ffv1" in .mkv or .avi is lossless.
yuv420p halves the chroma resolution, so H.264 and MPEG-4 need even widths and heights."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".avi")
CODECS = {".mp4": "libx264", ".mkv": "libx264", ".avi": "mpeg4"}  # the default per container
_LOSSLESS = {"ffv1": "bgr0", "png": "rgb24"}  # codec -> pixel format that keeps RGB exactly


def _import_av():
    try:
        import av
    except ImportError as err:
        raise ImportError(
            "reading and writing video files needs PyAV, which is not installed: "
            "pip install 'srlab[video]' (or pip install av)"
        ) from err
    return av


class VideoReader:
    """An opened video file: fps (Fraction), num_frames (as the container declares it; None if it
    does not), size (h, w), codec (str), and iteration over its frames as uint8 RGB (h, w, 3).

    Each iteration decodes from the start. Raises ValueError naming the file for what cannot be
    decoded (a truncated or corrupt file; a frame whose size differs from the first: video SR
    needs one size). A greyscale video is converted to RGB (three equal channels), with a
    warning, as srlab.io.imread converts greyscale images."""

    def __init__(self, path: str | os.PathLike):
        av = _import_av()
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no video file at {self.path}")
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise ValueError(f"{self.path} has no video stream")
                stream = container.streams.video[0]
                self.codec = stream.codec_context.name
                self.pix_fmt = stream.codec_context.pix_fmt
                rate = stream.average_rate or stream.guessed_rate or stream.base_rate
                self.fps = Fraction(rate) if rate else None
                self.num_frames = stream.frames or None
                # Matroska declares no frame count, but a duration: the count it implies (give
                # or take a frame) is how a truncated file is recognised.
                seconds = container.duration / av.time_base if container.duration else None
                self._expected = self.num_frames or (
                    round(seconds * rate) - 1 if seconds and rate else None
                )
                self.size = (stream.codec_context.height, stream.codec_context.width)
        except av.error.FFmpegError as err:
            raise ValueError(f"cannot read {self.path} as a video: {err}") from err
        if self.fps is None or self.fps <= 0:
            raise ValueError(f"{self.path} declares no frame rate")
        if not all(self.size):
            raise ValueError(f"{self.path} declares a frame size of {self.size}: corrupt header?")
        if self.pix_fmt and self.pix_fmt.startswith("gray"):
            warnings.warn(
                f"{self.path} is greyscale ({self.pix_fmt}): its frames are read as RGB with three "
                "equal channels",
                stacklevel=2,
            )

    def __len__(self) -> int:
        if self.num_frames is None:
            raise TypeError(f"{self.path} does not declare its number of frames")
        return self.num_frames

    def __iter__(self) -> Iterator[np.ndarray]:
        av = _import_av()
        count = 0
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"  # FFmpeg's own decoding threads
                for frame in container.decode(stream):
                    rgb = frame.to_ndarray(format="rgb24")  # (h, w, 3) uint8
                    if rgb.shape[:2] != self.size:
                        raise ValueError(
                            f"{self.path}: frame {count} is {rgb.shape[1]}x{rgb.shape[0]} but the "
                            f"video is {self.size[1]}x{self.size[0]}: frames change size "
                            "mid-stream, which video SR cannot follow"
                        )
                    count += 1
                    yield rgb
        except av.error.FFmpegError as err:
            raise ValueError(
                f"{self.path} is corrupt or truncated: decoding failed after {count} frame(s) "
                f"({err})"
            ) from err
        if self._expected is not None and count < self._expected:
            raise ValueError(
                f"{self.path} is truncated: it declares {self._expected} frames (or its duration "
                f"implies them), {count} decoded"
            )
        if count == 0:
            raise ValueError(f"{self.path} holds no decodable frame")


def read_video(path: str | os.PathLike) -> VideoReader:
    """Open a video file (checked now, decoded when iterated). See VideoReader."""
    return VideoReader(path)


class VideoWriter:
    """Writes uint8 RGB frames (h, w, 3) to a video file, atomically (see the module docstring).
    Use as a context manager: the file appears under `path` only if the block ends without an
    exception. All frames must have the first frame's size."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: Fraction | float,
        codec: str | None = None,
        crf: int = 18,
    ):
        av = _import_av()
        self.path = Path(path)
        ext = self.path.suffix.lower()
        if ext not in VIDEO_EXTENSIONS:
            raise ValueError(f"{self.path}: video output must end in one of {VIDEO_EXTENSIONS}")
        if not fps or fps <= 0:
            raise ValueError(f"fps must be positive, got {fps!r}")
        self.fps = Fraction(fps).limit_denominator(1_000_000)
        self.codec = codec or CODECS[ext]
        try:
            av.codec.Codec(self.codec, "w")
        except Exception as err:  # noqa: BLE001 (PyAV raises several types for an unknown codec)
            raise ValueError(
                f"codec {self.codec!r} cannot encode here ({err}); for {self.path} use one of "
                f"{sorted({*CODECS.values(), *_LOSSLESS})}"
            ) from err
        self.crf = crf
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.stem}.",
                                        suffix=f".tmp{ext}")  # fmt: skip
        os.close(fd)
        self._container = None
        self._stream = None
        self.frames = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 RGB frame (h, w, 3)."""
        av = _import_av()
        if not (isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
                and frame.shape[2] == 3):  # fmt: skip
            got = frame.shape if isinstance(frame, np.ndarray) else type(frame).__name__
            raise ValueError(f"a video frame must be uint8 RGB (h, w, 3), got {got}")
        h, w = frame.shape[:2]
        if self._stream is None:
            pix_fmt = _LOSSLESS.get(self.codec, "yuv420p")
            if pix_fmt == "yuv420p" and (h % 2 or w % 2):
                raise ValueError(
                    f"{self.path}: {self.codec} with yuv420p needs an even width and height, got "
                    f"{w}x{h}; crop the input or use codec='ffv1' (lossless, .mkv or .avi)"
                )
            self._container = av.open(self.tmp, "w")
            self._stream = self._container.add_stream(self.codec, rate=self.fps)
            self._stream.width, self._stream.height, self._stream.pix_fmt = w, h, pix_fmt
            if self.codec == "libx264":
                self._stream.options = {"crf": str(self.crf)}
        elif (h, w) != (self._stream.height, self._stream.width):
            raise ValueError(
                f"{self.path}: frame {self.frames} is {w}x{h}, the video is "
                f"{self._stream.width}x{self._stream.height}: frames cannot change size"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        self._container.mux(self._stream.encode(video_frame))
        self.frames += 1

    def close(self) -> Path:
        """Flush the encoder, close the file and rename it to `path`. Returns the path."""
        if self._container is None:
            self.abort()
            raise ValueError(f"{self.path}: no frame was written, so no video was made")
        try:
            self._container.mux(self._stream.encode())  # flush the encoder's delayed frames
            self._container.close()
            self._container = None
            os.chmod(self.tmp, 0o644)
            os.replace(self.tmp, self.path)
        except BaseException:
            self.abort()
            raise
        return self.path

    def abort(self) -> None:
        """Drop the temporary file; nothing appears under `path`."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001 (the file is deleted anyway)
                pass
            self._container = None
        if os.path.exists(self.tmp):
            os.remove(self.tmp)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(
    path: str | os.PathLike, *, fps: Fraction | float, codec: str | None = None, crf: int = 18
) -> VideoWriter:
    """A VideoWriter for `path` (use it in a `with` block). See VideoWriter."""
    return VideoWriter(path, fps=fps, codec=codec, crf=crf)
