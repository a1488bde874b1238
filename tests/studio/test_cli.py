"""The real CLI in a subprocess: `python -m studio --help | db upgrade | demo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import opentimelineio as otio
import pysubs2
import pytest

from studio.api import Studio
from studio.core.voices import spoken_line
from studio.film.video import probe

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """\
INT. KITCHEN - NIGHT

MARA (40s, weathered coat) pours coffee into a chipped mug and stares out the window.

MARA
He is not coming back.

EXT. STREET - NIGHT

A taxi pulls up under a flickering streetlight. Tom steps out holding a wet umbrella.
"""

ONE_SHOT = "EXT. FIELD - DAY\n\nA red kite climbs slowly over the quiet green hill.\n"


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_") and k != "PORT"}
    env["STUDIO_DATA_DIR"] = str(data_dir)
    return env


def run_cli(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "studio", *map(str, args)],
        cwd=ROOT,
        env=_env(tmp_path / "env-data"),
        capture_output=True,
        text=True,
        timeout=180,
    )


def assert_clean_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one `error: ...` line on stderr, no traceback; returns that line."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]
    return errors[0]


def _script(tmp_path: Path, text: str = SCRIPT, name: str = "script.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "demo", "db"):
        assert command in result.stdout


def test_db_upgrade_creates_the_database_and_prints_its_url(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    db = tmp_path / "env-data" / "studio.db"
    assert db.is_file() and db.stat().st_size > 0
    assert f"sqlite:///{db}" in result.stdout


def test_demo_renders_a_film(tmp_path: Path) -> None:
    out = tmp_path / "out" / "film.mp4"
    data_dir = tmp_path / "demo-data"
    cut = tmp_path / "out" / "CUT.otio"
    result = run_cli(
        tmp_path,
        "demo",
        "--script",
        _script(tmp_path),
        "--out",
        out,
        "--data-dir",
        data_dir,
        "--otio",
        cut,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert isinstance(summary["shots"], int) and summary["shots"] >= 2
    # The cast: Mara is introduced with her description and is in two shots (her action
    # and her line); Tom never speaks or is introduced, so he is no cast member.
    assert summary["cast"] == [{"name": "MARA", "description": "40s, weathered coat", "shots": 2}]
    assert Path(summary["film"]).is_absolute()
    assert Path(summary["film"]) == out.resolve()
    assert out.is_file()
    info = probe(out)
    assert summary["seconds"] > 0
    assert info.duration == pytest.approx(summary["seconds"], abs=0.2)

    # --data-dir is used (not STUDIO_DATA_DIR), and the film is as long as its shots.
    assert not (tmp_path / "env-data" / "studio.db").exists()
    with Studio.local(data_dir, start_worker=False) as studio:
        shots = studio.shots(summary["project"])
    assert len(shots) == summary["shots"]
    assert summary["seconds"] == pytest.approx(sum(s.duration for s in shots), abs=0.2)

    # Voices by default: every line spoken, an audio and a subtitle track, the SRT beside it.
    spoken = [s for s in shots if spoken_line(s.dialogue)]
    assert summary["lines"] == len(spoken) >= 1
    assert Path(summary["subtitles"]) == out.with_suffix(".srt").resolve()
    cues = pysubs2.load(summary["subtitles"])
    assert [c.plaintext for c in cues] == [spoken_line(s.dialogue).text for s in spoken]  # type: ignore[union-attr]
    assert out.with_suffix(".vtt").is_file()
    with av.open(str(out)) as container:
        assert container.streams.audio and container.streams.subtitles

    # --otio: the cut it assembled, for an editing suite, its takes in media/ beside it.
    assert Path(summary["otio"]) == cut.resolve()
    timeline = otio.adapters.read_from_file(str(cut))
    clips = list(timeline.video_tracks()[0].find_clips())
    assert [c.metadata["studio"]["shot_id"] for c in clips] == [s.id for s in shots]
    assert all((cut.parent / c.media_reference.target_url).is_file() for c in clips)
    assert timeline.duration().to_seconds() == pytest.approx(summary["seconds"], abs=0.1)


# ---- bad input: every case runs once, concurrently (each is a few seconds of start-up) ----
def _bad_cases(tmp: Path) -> dict[str, list[str | Path]]:
    (tmp / "empty.txt").write_bytes(b"")
    (tmp / "blank.txt").write_bytes(b"   \n\t\n  \r\n")
    (tmp / "latin1.txt").write_bytes(b"INT. ROOM - DAY\n\nShe reads \xe9t\xe9 \xff a letter.\n")
    (tmp / "huge.txt").write_bytes(b"word " * 220_000)  # 1.1 MB
    (tmp / "notes.txt").write_text("not a soundtrack\n")
    good = _script(tmp, SCRIPT, "good.txt")
    one = _script(tmp, ONE_SHOT, "one.txt")
    out = tmp / "out" / "film.mp4"
    return {
        "empty": ["--script", tmp / "empty.txt", "--out", out],
        "whitespace": ["--script", tmp / "blank.txt", "--out", out],
        "not-utf8": ["--script", tmp / "latin1.txt", "--out", out],
        "1mb": ["--script", tmp / "huge.txt", "--out", out],
        "missing": ["--script", tmp / "nope.txt", "--out", out],
        "avi": ["--script", good, "--out", tmp / "out" / "film.avi"],
        "crossfade": ["--script", one, "--out", out, "--crossfade", "-1", "--data-dir", tmp / "cf"],
        "audio": ["--script", one, "--out", out, "--audio", tmp / "notes.txt"],
        "otio": ["--script", one, "--out", out, "--otio", tmp / "out" / "cut.xml"],
    }


@pytest.fixture(scope="module")
def bad_runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, subprocess.CompletedProcess[str]]]:
    tmp = tmp_path_factory.mktemp("cli-bad")
    cases = _bad_cases(tmp)
    with ThreadPoolExecutor(max_workers=max(2, min(8, os.cpu_count() or 2))) as pool:
        futures = {name: pool.submit(run_cli, tmp, "demo", *args) for name, args in cases.items()}
        return tmp, {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize(
    ("case", "needles"),
    [
        ("empty", ("empty",)),
        ("whitespace", ("empty",)),
        ("not-utf8", ("UTF-8",)),
        ("1mb", ("limit",)),
        ("missing", ("nope.txt",)),
        ("avi", ("mp4", "film.avi")),
        ("crossfade", ("crossfade",)),
        ("audio", ("audio",)),
        ("otio", ("--otio", "cut.xml")),
    ],
)
def test_demo_refuses_bad_input_with_one_clear_line(
    bad_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
    case: str,
    needles: tuple[str, ...],
) -> None:
    tmp, results = bad_runs
    assert_clean_error(results[case], *needles)
    assert not (tmp / "out" / "film.mp4").exists()
    assert not (tmp / "out" / "film.avi").exists()


def test_demo_checks_options_before_rendering(
    bad_runs: tuple[Path, dict[str, subprocess.CompletedProcess[str]]],
) -> None:
    tmp, results = bad_runs
    assert results["crossfade"].returncode == 2
    with Studio.local(tmp / "cf", start_worker=False) as studio:
        assert studio.jobs() == []
