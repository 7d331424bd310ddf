"""Video I/O: H.264 (libx264) in .mp4, yuv420p, through the ffmpeg bundled with imageio-ffmpeg.

yuv420p needs even sizes: odd heights or widths are padded by repeating the last row or column.
Lossless arrays (metric depth, instance ids) go to ``.npz`` through ``pam.fileio.save_arrays``.

Every file is written through ``pam.fileio.atomic_path``: a crash leaves no partial file.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import imageio_ffmpeg
import numpy as np

from pam.fileio import atomic_path


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class VideoError(IOError):
    """A video cannot be read or written; the message names the file."""


@dataclass
class VideoInfo:
    """What ffmpeg reports about a video: frame rate, frame size and codec."""

    fps: float
    height: int
    width: int
    codec: str


class VideoWriter:
    """Streaming H.264 mp4 writer: ``with VideoWriter(path, fps) as video: video.write(frame)``.

    Frames are (H, W, 3) uint8 RGB of one size, piped to ffmpeg as they come. ``crf`` is x264's
    constant rate factor (0 = lossless luma, 18 = visually lossless, 51 = worst); ``preset`` trades
    encoding speed for size; ``threads`` caps x264's threads (1 suits several encoders running at
    once). The file appears at ``path`` only when the block ends without error.
    """

    def __init__(
        self, path: str | Path, fps: float = 15.0, crf: int = 18, preset: str = "veryfast", threads: int | None = None
    ) -> None:
        self.path = Path(path)
        if not np.isfinite(fps) or fps <= 0:
            raise VideoError(f"{self.path}: fps must be positive, got {fps}")
        self.fps, self.crf, self.preset = fps, int(crf), preset
        self._threads = [] if threads is None else ["-threads", str(int(threads))]
        self.num_frames = 0
        self._shape: tuple[int, ...] | None = None
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._pipe = None

    def __enter__(self) -> "VideoWriter":
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame (odd sizes are padded to even, repeating the edge)."""
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
            raise VideoError(f"{self.path}: expected (H, W, 3) uint8 frames, got {frame.dtype} {frame.shape}")
        if self._shape is None:
            self._shape = frame.shape
            self._start(frame.shape[0] + frame.shape[0] % 2, frame.shape[1] + frame.shape[1] % 2)
        elif frame.shape != self._shape:
            raise VideoError(f"{self.path}: frame {self.num_frames} is {frame.shape}, earlier frames {self._shape}")
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), mode="edge")
        self._pipe.send(np.ascontiguousarray(frame))
        self.num_frames += 1

    def _start(self, height: int, width: int) -> None:
        self._pipe = imageio_ffmpeg.write_frames(
            str(self._tmp),
            (width, height),
            fps=self.fps,
            codec="libx264",
            pix_fmt_out="yuv420p",
            quality=None,
            macro_block_size=1,
            output_params=["-crf", str(self.crf), "-preset", self.preset, *self._threads],
        )
        self._pipe.send(None)
        self._stack.callback(self._pipe.close)  # runs before atomic_path renames or removes the file

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and self.num_frames == 0:
            exc = VideoError(f"{self.path}: no frames were written")
            self._stack.__exit__(type(exc), exc, None)
            raise exc
        self._stack.__exit__(exc_type, exc, tb)


def write_video(
    path: str | Path, frames: np.ndarray, fps: float = 15.0, crf: int = 18, preset: str = "veryfast"
) -> Path:
    """Write (T, H, W, 3) uint8 RGB frames as an H.264 mp4 at ``fps``; returns the path (see ``VideoWriter``)."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or len(frames) == 0:
        raise VideoError(f"{path}: expected non-empty (T, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
    with VideoWriter(path, fps=fps, crf=crf, preset=preset) as video:
        for frame in frames:
            video.write(frame)
    return video.path


def write_videos(videos: Mapping[str | Path, Iterable[np.ndarray]], fps: float = 15.0, crf: int = 18) -> list[Path]:
    """Write several videos at once: one ffmpeg each, fed one frame of every video in turn.

    ``videos`` maps output paths to (H, W, 3) uint8 frames: a (T, H, W, 3) array, or an iterator
    that produces frames lazily (then encoding the next frame overlaps with ffmpeg compressing the
    previous ones, and no whole clip has to sit in memory). Either all files are written or, on
    an error, none is left behind. Returns the paths in the order given.
    """
    if not videos:
        raise VideoError("write_videos: no videos given")
    with contextlib.ExitStack() as stack:
        streams = [
            (stack.enter_context(VideoWriter(path, fps=fps, crf=crf, threads=1)), iter(frames))
            for path, frames in videos.items()
        ]
        while streams:
            for stream in list(streams):
                writer, frames = stream
                frame = next(frames, None)
                if frame is None:
                    streams.remove(stream)
                else:
                    writer.write(frame)
    return [Path(path) for path in videos]


def _open(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(reader)
    except Exception as exc:
        reader.close()
        raise VideoError(f"{path}: not a readable video ({str(exc).strip().splitlines()[-1]})") from exc
    return reader, meta


def probe_video(path: str | Path) -> VideoInfo:
    """Frame rate, size and codec of a video file."""
    reader, meta = _open(path)
    reader.close()
    width, height = meta["size"]
    return VideoInfo(fps=float(meta["fps"]), height=int(height), width=int(width), codec=str(meta.get("codec", "")))


def read_video(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Frames of a video as (T, H, W, 3) uint8 RGB (the first ``max_frames`` when given).

    Raises ``VideoError`` naming the file when it is missing or cannot be decoded.
    """
    reader, meta = _open(path)
    width, height = meta["size"]
    frames = []
    try:
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except Exception as exc:
        raise VideoError(f"{path}: decoding failed ({exc})") from exc
    finally:
        reader.close()
    if not frames:
        raise VideoError(f"{path}: the video has no decodable frames")
    return np.stack(frames)


def read_frame(path: str | Path, index: int = 0) -> np.ndarray:
    """Frame ``index`` of a video, or an image file itself, as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such file")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            return np.asarray(Image.open(path).convert("RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise VideoError(f"{path}: not a readable image ({err})") from err
    frames = read_video(path, max_frames=index + 1)
    if len(frames) <= index:
        raise VideoError(f"{path}: has {len(frames)} frames, frame {index} asked for")
    return frames[index]
