"""Video files with PyAV: encode frames to H.264 MP4, probe, read frames and metadata tags.

Torch-free. Odd frame sizes are cropped by one pixel on the right/bottom edge, because
yuv420p needs even dimensions; the returned `VideoInfo` reports the size actually written.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Final

import av
import av.container
import numpy as np
from PIL import Image

__all__ = [
    "VideoInfo",
    "add_video_stream",
    "encode_video",
    "open_output",
    "probe",
    "read_frames",
    "read_metadata",
    "to_rgb_array",
]

CODEC: Final = "libx264"
PIX_FMT = "yuv420p"
X264_OPTIONS = {"preset": "veryfast", "crf": "20"}
# `use_metadata_tags` keeps arbitrary keys (the mp4 muxer drops unknown ones otherwise);
# `faststart` moves the index to the front so browsers start playing before the download ends.
MP4_OPTIONS = {"movflags": "+faststart+use_metadata_tags"}
# Tags the mp4 muxer writes on its own; read_metadata hides them so a round trip is exact.
_MUXER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` sees in a video file (its first video stream)."""

    width: int
    height: int
    fps: Fraction
    frames: int
    duration: float
    codec: str
    pix_fmt: str
    has_audio: bool


@contextlib.contextmanager
def open_output(
    path: Path, metadata: Mapping[str, str] | None = None
) -> Iterator[av.container.OutputContainer]:
    """An MP4 output container writing to a temp file beside `path`, moved into place on success.

    On any exception the temp file is removed, so `path` never holds a partial file.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    container = av.open(str(tmp), mode="w", format="mp4", options=dict(MP4_OPTIONS))
    try:
        for key, value in (metadata or {}).items():
            container.metadata[str(key)] = str(value)
        yield container
        container.close()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(Exception):
            container.close()
        tmp.unlink(missing_ok=True)
        raise


def to_rgb_array(frame: np.ndarray | Image.Image) -> np.ndarray:
    """An H×W×3 uint8 RGB array from a PIL image or an array (gray, RGB or RGBA)."""
    if isinstance(frame, Image.Image):
        return np.asarray(frame.convert("RGB"))
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 arrays, got {array.dtype}")
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return array[:, :, :3]
    raise ValueError(f"frames must be H×W, H×W×3 or H×W×4, got shape {array.shape}")


def _even_size(width: int, height: int) -> tuple[int, int]:
    if width < 2 or height < 2:
        raise ValueError(f"frames must be at least 2×2 pixels, got {width}×{height}")
    return width - width % 2, height - height % 2


def add_video_stream(
    container: av.container.OutputContainer, width: int, height: int, fps: int | Fraction
) -> av.VideoStream:
    """Add the studio's H.264 stream (libx264, yuv420p, veryfast, crf 20) to `container`."""
    stream = container.add_stream(CODEC, rate=fps, options=dict(X264_OPTIONS))
    stream.width, stream.height, stream.pix_fmt = width, height, PIX_FMT
    return stream


def encode_video(
    frames: Iterable[np.ndarray | Image.Image],
    path: Path,
    fps: int | Fraction,
    metadata: Mapping[str, str] | None = None,
) -> VideoInfo:
    """Encode RGB frames to an H.264 yuv420p MP4 at `fps`; size comes from the first frame.

    Odd widths/heights are cropped by one pixel. Raises ValueError for no frames or a frame
    whose size differs from the first.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError("no frames to encode")
    first_rgb = to_rgb_array(first)
    source_size = (first_rgb.shape[1], first_rgb.shape[0])
    width, height = _even_size(*source_size)
    with open_output(Path(path), metadata) as container:
        stream = add_video_stream(container, width, height, fps)
        for index, frame in enumerate(_chain(first_rgb, iterator)):
            rgb = to_rgb_array(frame)
            if (rgb.shape[1], rgb.shape[0]) != source_size:
                raise ValueError(
                    f"frame {index} is {rgb.shape[1]}×{rgb.shape[0]}, "
                    f"the first was {source_size[0]}×{source_size[1]}"
                )
            video_frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(rgb[:height, :width]), format="rgb24"
            )
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return probe(Path(path))


def _chain(
    first: np.ndarray, rest: Iterator[np.ndarray | Image.Image]
) -> Iterator[np.ndarray | Image.Image]:
    yield first
    yield from rest


def probe(path: Path) -> VideoInfo:
    """Size, rate, frame count and duration of the first video stream in `path`."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = container.streams.video[0]
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps:
            raise ValueError(f"{path}: cannot tell the frame rate")
        frames = stream.frames or _count_packets(container, stream)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = frames / float(fps)
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            fps=Fraction(fps),
            frames=frames,
            duration=duration,
            codec=stream.codec_context.name,
            pix_fmt=stream.codec_context.pix_fmt or "",
            has_audio=bool(container.streams.audio),
        )


def _count_packets(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    # Containers without a frame index (e.g. some WebM/MKV): count real packets; the demuxer
    # ends with an empty flush packet that is not a frame.
    return sum(1 for packet in container.demux(stream) if packet.size > 0)


def read_metadata(path: Path) -> dict[str, str]:
    """The container's tags as written (muxer-added tags such as `encoder` left out)."""
    with av.open(str(path)) as container:
        return {k: v for k, v in container.metadata.items() if k not in _MUXER_TAGS}


def read_frames(path: Path) -> Generator[np.ndarray, None, None]:
    """Decode the first video stream as H×W×3 uint8 RGB arrays (close() releases the file)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="rgb24")
