"""Film assembly, remux vs re-encode, measured side by side in one run.

Renders N draft clips (DraftPipeline + encode_video) into a temp folder, then assembles them
twice: by remuxing (the fast path when clips share codec parameters) and by a forced
re-encode (what a crossfade or mixed sizes cost). Each assembly is timed best of 3.

Then "100 clips with trims": --many-clips short clips, every third trimmed and every tenth
dissolving into the next, assembled by the studio (only the touched clips re-encoded, the
rest copied: method "mixed") and by a forced re-encode, beside `ffmpeg -f concat -safe 0
-c copy` over the same clips untrimmed (the floor: packet copying only), when an `ffmpeg`
binary is on PATH.

    python benchmarks/assemble.py [--clips N] [--seconds S] [--width W] [--height H] [--fps F]
                                  [--many-clips M] [--many-seconds S]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script from anywhere: make the repository root importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipelines.draft import DraftPipeline
from pipelines.requests import CAMERA_MOVES, RenderRequest
from studio.film.assembly import Edit, FilmResult, FilmSpec, assemble
from studio.film.video import encode_video


def _best_of(runs: int, action: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def _make_clips(
    folder: Path, args: argparse.Namespace, count: int, seconds: float
) -> tuple[list[Path], float, float]:
    """The clips, and the seconds spent rendering frames and encoding them."""
    pipeline = DraftPipeline()
    clips, render_s, encode_s = [], 0.0, 0.0
    for index in range(count):
        request = RenderRequest(
            prompt=f"Shot {index + 1}: a rider crosses the salt flats",
            seed=index,
            shot_number=index + 1,
            width=args.width,
            height=args.height,
            duration=seconds,
            fps=args.fps,
            camera_move=CAMERA_MOVES[index % len(CAMERA_MOVES)],
        )
        started = time.perf_counter()
        frames = list(pipeline.render_clip(request))
        render_s += time.perf_counter() - started
        path = folder / f"shot{index + 1:03d}.mp4"
        started = time.perf_counter()
        encode_video(frames, path, args.fps)
        encode_s += time.perf_counter() - started
        clips.append(path)
    return clips, render_s, encode_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3, help="best of this many (default 3)")
    parser.add_argument("--many-clips", type=int, default=100, help="clips in the trims case")
    parser.add_argument("--many-seconds", type=float, default=1.0, help="each of those")
    args = parser.parse_args(argv)
    _whole_clips(args)
    print()
    _many_clips_with_trims(args)


def _whole_clips(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp:
        folder = Path(tmp)
        clips, render_s, encode_s = _make_clips(folder, args, args.clips, args.seconds)
        results: dict[str, FilmResult] = {}

        def run(name: str, force: bool) -> None:
            spec = FilmSpec(clips, folder / f"{name}.mp4", force_reencode=force)
            results[name] = assemble(spec)

        remux_s = _best_of(args.runs, lambda: run("remux", False))
        reencode_s = _best_of(args.runs, lambda: run("reencode", True))

    frames = results["remux"].info.frames
    assert results["remux"].method == "remux" and results["reencode"].method == "reencode"
    print(
        f"{args.clips} clips × {args.seconds:g} s, {args.width}×{args.height} @ {args.fps} fps "
        f"({frames} frames, film {results['remux'].info.duration:g} s), best of {args.runs}"
    )
    rows = [
        ("render draft clips (all)", render_s),
        ("encode clips (all)", encode_s),
        ("assemble: remux", remux_s),
        ("assemble: re-encode", reencode_s),
    ]
    print(f"{'step':<28}{'seconds':>10}{'ms/frame':>10}")
    for name, seconds in rows:
        print(f"{name:<28}{seconds:>10.3f}{seconds / frames * 1000:>10.3f}")
    print(f"{'ratio re-encode / remux':<28}{reencode_s / remux_s:>10.1f}×")


def _edits(count: int, seconds: float) -> list[Edit]:
    """Every third clip trimmed by a quarter at each end; every tenth dissolving (0.25 s)."""
    edits = []
    for index in range(count):
        trimmed = index % 3 == 1
        dissolve = index % 10 == 5 and index < count - 1
        edits.append(
            Edit(
                trim_in=seconds / 4 if trimmed else 0.0,
                trim_out=seconds * 3 / 4 if trimmed else None,
                transition="dissolve" if dissolve else "cut",
                transition_seconds=0.25 if dissolve else 0.0,
            )
        )
    return edits


def _ffmpeg_concat(clips: list[Path], folder: Path) -> Callable[[], object]:
    """`ffmpeg -f concat -safe 0 -c copy` over `clips`: packet copying, nothing else."""
    listing = folder / "concat.txt"
    listing.write_text("".join(f"file '{clip}'\n" for clip in clips))
    out = folder / "ffmpeg.mp4"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    command += ["-c", "copy", str(out)]
    return lambda: subprocess.run(command, check=True)


def _many_clips_with_trims(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-assemble-") as tmp:
        folder = Path(tmp)
        clips, _, _ = _make_clips(folder, args, args.many_clips, args.many_seconds)
        edits = _edits(len(clips), args.many_seconds)
        results: dict[str, FilmResult] = {}

        def run(name: str, **options: object) -> None:
            spec = FilmSpec(clips, folder / f"{name}.mp4", **options)  # type: ignore[arg-type]
            results[name] = assemble(spec)

        times = {
            "remux": _best_of(args.runs, lambda: run("remux")),
            "mixed": _best_of(args.runs, lambda: run("mixed", edits=edits)),
            "all": _best_of(args.runs, lambda: run("all", edits=edits, force_reencode=True)),
        }
        ffmpeg = shutil.which("ffmpeg") is not None
        if ffmpeg:
            times["ffmpeg"] = _best_of(args.runs, _ffmpeg_concat(clips, folder))

    mixed = results["mixed"]
    assert results["remux"].method == "remux" and mixed.method == "mixed"
    assert results["all"].info.frames == mixed.info.frames
    print(
        f"{len(clips)} clips × {args.many_seconds:g} s, {args.width}×{args.height} @ "
        f"{args.fps} fps, {sum(e.trim_in > 0 for e in edits)} trimmed, "
        f"{sum(e.transition == 'dissolve' for e in edits)} dissolves: {mixed.reencoded_clips} "
        f"clips re-encoded ({mixed.info.frames} frames, film {mixed.info.duration:g} s), "
        f"best of {args.runs}"
    )
    labels = {
        "remux": "studio: remux, no trims",
        "mixed": "studio: trims (mixed)",
        "all": "studio: trims, all re-encoded",
        "ffmpeg": "ffmpeg concat -c copy, no trims",
    }
    print(f"{'step':<34}{'seconds':>10}{'ms/frame':>10}")
    for key, seconds in times.items():
        frames = results.get(key, results["remux"]).info.frames
        print(f"{labels[key]:<34}{seconds:>10.3f}{seconds / frames * 1000:>10.3f}")
    print(f"{'ratio all re-encoded / mixed':<34}{times['all'] / times['mixed']:>10.1f}×")
    if not ffmpeg:
        print("ffmpeg not installed: skipped")
        return
    print(f"{'ratio remux / ffmpeg':<34}{times['remux'] / times['ffmpeg']:>10.1f}×")
    print(f"{'ratio mixed / ffmpeg':<34}{times['mixed'] / times['ffmpeg']:>10.1f}×")


if __name__ == "__main__":
    main()
