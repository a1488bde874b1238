"""Video files: encode → probe → read round trips, odd sizes, no partial files."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from studio.film.video import encode_video, probe, read_frames, read_metadata


def _frames(count: int, width: int = 96, height: int = 64) -> list[np.ndarray]:
    """Smooth moving gradients: they survive lossy compression recognisably."""
    ys, xs = np.mgrid[0:height, 0:width]
    return [
        np.stack(
            [(xs * 2 + i * 8) % 256, (ys * 3) % 256, np.full_like(xs, (i * 20) % 256)], axis=2
        ).astype(np.uint8)
        for i in range(count)
    ]


def test_round_trip_keeps_frames_rate_duration_and_size(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    frames = _frames(12)
    info = encode_video(frames, path, fps=12)
    assert info == probe(path)
    assert (info.width, info.height) == (96, 64)
    assert info.fps == Fraction(12)
    assert info.frames == 12
    assert info.duration == pytest.approx(1.0)
    assert (info.codec, info.pix_fmt, info.has_audio) == ("h264", "yuv420p", False)
    decoded = list(read_frames(path))
    assert len(decoded) == 12
    assert decoded[0].shape == (64, 96, 3) and decoded[0].dtype == np.uint8
    for original, copy in zip(frames, decoded, strict=True):
        assert np.mean(np.abs(original.astype(int) - copy.astype(int))) < 8


def test_metadata_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    tags = {"prompt": "A rider — café 世界", "seed": "42", "studio_pipeline": "draft@draft-1"}
    encode_video(_frames(3), path, fps=24, metadata=tags)
    assert read_metadata(path) == tags


def test_pil_images_are_accepted(tmp_path: Path) -> None:
    images = [Image.fromarray(frame).convert("RGBA") for frame in _frames(4)]
    info = encode_video(images, tmp_path / "clip.mp4", fps=8)
    assert (info.frames, info.width, info.height) == (4, 96, 64)


def test_odd_sizes_are_cropped_to_even(tmp_path: Path) -> None:
    info = encode_video(_frames(5, width=97, height=65), tmp_path / "odd.mp4", fps=10)
    assert (info.width, info.height, info.frames) == (96, 64, 5)
    assert next(read_frames(tmp_path / "odd.mp4")).shape == (64, 96, 3)


def test_failing_frame_source_leaves_no_file(tmp_path: Path) -> None:
    def frames() -> Iterator[np.ndarray]:
        yield from _frames(3)
        raise RuntimeError("renderer crashed")

    path = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError, match="renderer crashed"):
        encode_video(frames(), path, fps=12)
    assert list(tmp_path.iterdir()) == []


def test_failed_encode_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    encode_video(_frames(4), path, fps=12)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="frame 2"):
        encode_video([*_frames(2), _frames(1, width=64)[0]], path, fps=12)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_no_frames_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no frames"):
        encode_video([], tmp_path / "clip.mp4", fps=12)
    assert not (tmp_path / "clip.mp4").exists()


def test_probe_counts_frames_when_the_container_has_no_count(tmp_path: Path) -> None:
    path = tmp_path / "clip.mkv"  # Matroska stores no frame count
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for index, frame in enumerate(_frames(7)):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts = index
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    assert probe(path).frames == 7


def test_probe_refuses_a_file_without_video(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a video")
    with pytest.raises((ValueError, av.error.FFmpegError)):
        probe(path)
