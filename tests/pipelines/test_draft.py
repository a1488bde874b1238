"""The draft pipeline: storyboard panels and animatic camera moves, as a user sees them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

from pipelines.draft import DraftPipeline
from pipelines.requests import CAMERA_MOVES, SHOT_SIZES, Cancelled, RenderRequest

W, H = 128, 72


def _request(**changes: object) -> RenderRequest:
    fields: dict[str, object] = {
        "prompt": "A lone rider crosses the salt flats at dusk",
        "seed": 7,
        "width": W,
        "height": H,
        "duration": 1.0,
        "fps": 12,
    }
    fields.update(changes)
    return RenderRequest(**fields)  # type: ignore[arg-type]


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


def _gray(frame: np.ndarray) -> np.ndarray:
    return frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _shift(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(dy, dx) such that b ≈ a moved down by dy and right by dx (phase correlation)."""
    ga, gb = _gray(a), _gray(b)
    window = np.outer(np.hanning(ga.shape[0]), np.hanning(ga.shape[1]))
    fa, fb = np.fft.fft2((ga - ga.mean()) * window), np.fft.fft2((gb - gb.mean()) * window)
    cross = fb * np.conj(fa)
    peak = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    dy, dx = np.unravel_index(int(np.argmax(peak)), peak.shape)
    height, width = peak.shape
    return (
        int(dy - height if dy > height // 2 else dy),
        int(dx - width if dx > width // 2 else dx),
    )


def _magnified(frame: np.ndarray, zoom: float) -> np.ndarray:
    """The centre of `frame` blown up by `zoom` to the full frame size."""
    height, width = frame.shape[:2]
    w, h = width / zoom, height / zoom
    box = ((width - w) / 2, (height - h) / 2, (width + w) / 2, (height + h) / 2)
    image = Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(image)


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


# -- panels -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(64, 64), (128, 72), (101, 333), (1920, 1080)])
def test_panel_has_the_requested_size(size: tuple[int, int]) -> None:
    panel = DraftPipeline().render_frame(_request(width=size[0], height=size[1]))
    assert panel.size == size
    assert panel.mode == "RGB"


def test_same_request_gives_identical_pixels() -> None:
    pipeline = DraftPipeline()
    first = pipeline.render_frame(_request(shot_size="wide", camera_move="pan-left"))
    second = pipeline.render_frame(_request(shot_size="wide", camera_move="pan-left"))
    assert first.tobytes() == second.tobytes()


def test_different_seeds_give_different_pictures() -> None:
    pipeline = DraftPipeline()
    panels = [_pixels(pipeline.render_frame(_request(seed=seed))) for seed in range(4)]
    for i in range(len(panels)):
        for j in range(i + 1, len(panels)):
            assert _mse(panels[i], panels[j]) > 100


@pytest.mark.parametrize(
    "prompt",
    ["", "x" * 2000, "word " * 400, "café — 世界 🎬 \u0000\t\n\ud800 naïve “quotes”"],
)
def test_any_prompt_draws(prompt: str) -> None:
    panel = DraftPipeline().render_frame(_request(prompt=prompt, width=96, height=64))
    assert panel.size == (96, 64)


def test_long_prompt_is_cut_not_spilled() -> None:
    """A 2,000-character prompt only fills the caption bar: the sky above is untouched."""
    pipeline = DraftPipeline()
    short = _pixels(pipeline.render_frame(_request(prompt="short", width=320, height=180)))
    long = _pixels(pipeline.render_frame(_request(prompt="long " * 400, width=320, height=180)))
    assert np.array_equal(short[:90], long[:90])
    assert not np.array_equal(short[150:], long[150:])


def test_subject_grows_with_shot_size() -> None:
    """Wider shots show small figures; closer shots fill the frame with the silhouette."""
    pipeline = DraftPipeline()

    def dark_share(shot_size: str) -> float:
        shares = []
        for seed in range(3):
            panel = _pixels(pipeline.render_frame(_request(seed=seed, shot_size=shot_size)))
            middle = _gray(panel[int(H * 0.2) : int(H * 0.8)])  # below badges, above caption
            shares.append(float(np.mean(middle < 45)))
        return float(np.mean(shares))

    shares = [dark_share(size) for size in SHOT_SIZES]  # extreme-wide … extreme-close-up
    assert shares == sorted(shares)
    assert shares[0] < 0.03
    assert shares[3] > 0.2


def test_camera_move_is_marked_on_the_panel() -> None:
    pipeline = DraftPipeline()
    panels = {
        move: _pixels(pipeline.render_frame(_request(camera_move=move)))
        for move in ("static", "pan-left", "pan-right", "dolly-in")
    }
    assert _mse(panels["static"], panels["pan-right"]) > 1
    assert _mse(panels["pan-left"], panels["pan-right"]) > 1
    assert _mse(panels["dolly-in"], panels["pan-right"]) > 1


def test_unknown_shot_size_or_move_is_refused() -> None:
    with pytest.raises(ValueError, match="shot size"):
        DraftPipeline().render_frame(_request(shot_size="cowboy"))
    with pytest.raises(ValueError, match="camera move"):
        list(DraftPipeline().render_clip(_request(camera_move="crane-up")))


def test_render_frame_reports_progress() -> None:
    calls: list[tuple[int, int]] = []
    DraftPipeline().render_frame(_request(), on_progress=lambda i, n: calls.append((i, n)))
    assert calls and calls[-1][0] == calls[-1][1]


# -- clips --------------------------------------------------------------------------------


@pytest.mark.parametrize(("duration", "fps"), [(1.0, 12), (0.5, 24), (2.0, 8)])
def test_clip_has_duration_times_fps_frames(duration: float, fps: int) -> None:
    frames = list(DraftPipeline().render_clip(_request(duration=duration, fps=fps)))
    assert len(frames) == round(duration * fps)
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)


@pytest.mark.parametrize("move", CAMERA_MOVES)
@pytest.mark.parametrize("shot_size", SHOT_SIZES)
def test_every_shot_size_and_move_renders(shot_size: str, move: str) -> None:
    request = _request(shot_size=shot_size, camera_move=move, duration=0.25, width=96, height=64)
    frames = list(DraftPipeline().render_clip(request))
    assert len(frames) == 3


@pytest.mark.parametrize(
    ("move", "direction"),
    [("pan-right", (0, -1)), ("pan-left", (0, 1)), ("tilt-up", (1, 0)), ("tilt-down", (-1, 0))],
)
def test_pans_and_tilts_move_the_picture(move: str, direction: tuple[int, int]) -> None:
    """Panning right slides the scene left on screen; tilting up slides it down."""
    frames = list(DraftPipeline().render_clip(_request(camera_move=move)))
    dy, dx = _shift(frames[0], frames[-1])
    expected = (round(direction[0] * H * 0.2), round(direction[1] * W * 0.2))
    assert abs(dy - expected[0]) <= 3
    assert abs(dx - expected[1]) <= 3


@pytest.mark.parametrize("move", ["dolly-in", "zoom-in"])
def test_moving_in_magnifies(move: str) -> None:
    frames = list(DraftPipeline().render_clip(_request(camera_move=move)))
    first, last = frames[0], frames[-1]
    assert _mse(last, _magnified(first, 1.25)) < 0.3 * _mse(last, first)


@pytest.mark.parametrize("move", ["dolly-out", "zoom-out"])
def test_moving_out_widens(move: str) -> None:
    frames = list(DraftPipeline().render_clip(_request(camera_move=move)))
    first, last = frames[0], frames[-1]
    assert _mse(first, _magnified(last, 1.25)) < 0.3 * _mse(first, last)


def test_motion_is_eased() -> None:
    """Moves start and end gently: the first and last steps are smaller than the middle one."""
    frames = list(DraftPipeline().render_clip(_request(camera_move="pan-right", fps=24)))
    steps = [_mse(a, b) for a, b in itertools.pairwise(frames)]
    middle = steps[len(steps) // 2]
    assert steps[0] < middle and steps[-1] < middle


def test_static_clip_holds_still() -> None:
    frames = list(DraftPipeline().render_clip(_request(camera_move="static")))
    assert all(np.array_equal(frames[0], f) for f in frames)


def test_clip_starts_from_the_given_image_resized() -> None:
    image = Image.new("RGB", (50, 40), (200, 30, 40))
    frames = list(DraftPipeline().render_clip(_request(camera_move="pan-left"), image=image))
    assert frames[0].shape == (H, W, 3)
    assert np.abs(frames[-1].astype(int) - (200, 30, 40)).max() <= 1


def test_clip_frames_are_independent_arrays() -> None:
    frames = list(DraftPipeline().render_clip(_request(camera_move="static", duration=0.25)))
    frames[0][:] = 0
    assert frames[1].any()


def test_clip_reports_progress_per_frame() -> None:
    calls: list[tuple[int, int]] = []
    request = _request(duration=0.5)
    list(DraftPipeline().render_clip(request, on_progress=lambda i, n: calls.append((i, n))))
    assert calls == [(i, 6) for i in range(1, 7)]


def test_cancel_stops_the_clip() -> None:
    asked = 0

    def should_cancel() -> bool:
        nonlocal asked
        asked += 1
        return asked > 2

    produced = []
    with pytest.raises(Cancelled):
        for frame in DraftPipeline().render_clip(_request(fps=24), should_cancel=should_cancel):
            produced.append(frame)
    assert 0 < len(produced) < 24


def test_a_cast_member_is_drawn_in_its_own_colour_in_every_panel() -> None:
    from pipelines.draft_scene import cast_color

    pipe = DraftPipeline()

    def pixels_of(color: tuple[int, int, int], image: Image.Image) -> int:
        return int((np.asarray(image) == np.array(color, dtype=np.uint8)).all(axis=-1).sum())

    mara = cast_color("Mara")
    panels = [
        pipe.render_frame(
            RenderRequest(prompt="p", seed=seed, shot_size=size, extra={"cast": ["Mara"]})
        )
        for seed, size in ((1, "medium"), (7, "wide"), (42, "close-up"))
    ]
    assert all(pixels_of(mara, panel) > 200 for panel in panels)  # her figure, every time
    other = pipe.render_frame(
        RenderRequest(prompt="p", seed=1, shot_size="medium", extra={"cast": ["Tomas"]})
    )
    assert pixels_of(mara, other) == 0 and pixels_of(cast_color("Tomas"), other) > 200
    plain = pipe.render_frame(RenderRequest(prompt="p", seed=1, shot_size="medium"))
    assert plain.tobytes() != panels[0].tobytes()
    # Two members in a wide shot: both figures, each in its colour.
    both = pipe.render_frame(
        RenderRequest(prompt="p", seed=3, shot_size="wide", extra={"cast": ["Mara", "Tomas"]})
    )
    assert pixels_of(mara, both) > 20 and pixels_of(cast_color("Tomas"), both) > 20


def test_a_reference_picture_colours_its_member_and_sits_by_the_name() -> None:
    from pipelines.draft_scene import reference_color
    from pipelines.requests import Reference

    pipe = DraftPipeline()
    teal = Image.new("RGB", (60, 60), (20, 150, 140))
    base = RenderRequest(prompt="p", seed=1, shot_size="medium", extra={"cast": ["Mara"]})
    with_ref = RenderRequest(
        prompt="p",
        seed=1,
        shot_size="medium",
        extra={"cast": ["Mara"]},
        references=(Reference("Mara", teal, 0.6, "d1"),),
    )
    drawn = pipe.render_frame(with_ref)
    assert drawn.tobytes() == pipe.render_frame(with_ref).tobytes()  # reproducible
    assert drawn.tobytes() != pipe.render_frame(base).tobytes()
    pixels = np.asarray(drawn)
    tone = np.array(reference_color(teal), dtype=np.uint8)
    assert (pixels == tone).all(axis=-1).sum() > 200  # her figure, in the picture's tone
    assert (pixels == np.array((20, 150, 140), dtype=np.uint8)).all(axis=-1).sum() > 20  # thumb
    # Strength 0, or a picture of someone not in the shot: the panel without a reference.
    off = RenderRequest(
        prompt="p",
        seed=1,
        shot_size="medium",
        extra={"cast": ["Mara"]},
        references=(Reference("Mara", teal, 0.0, "d1"), Reference("Tomas", teal, 0.6, "d2")),
    )
    assert pipe.render_frame(off).tobytes() == pipe.render_frame(base).tobytes()


def test_a_character_sheet_shows_one_figure_three_ways() -> None:
    from pipelines.draft_scene import cast_color

    pipe = DraftPipeline()
    request = RenderRequest(prompt="p", seed=4, width=480, height=270, extra={"sheet": "Mara"})
    sheet = pipe.render_frame(request)
    assert sheet.size == (480, 270)
    assert sheet.tobytes() == pipe.render_frame(request).tobytes()
    pixels = np.asarray(sheet)
    body = (pixels == np.array(cast_color("Mara"), dtype=np.uint8)).all(axis=-1)
    thirds = [body[:, i * 160 : (i + 1) * 160].sum() for i in range(3)]
    # Front, three-quarter, profile: the same figure, narrower each time.
    assert thirds[0] > thirds[1] > thirds[2] > 0
    assert (pixels[0, 0] == (226, 226, 222)).all()  # a plain background
